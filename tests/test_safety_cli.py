"""``openland safety``: the real entry point through every ReQueST stage on a tiny budget, the files and figures
each stage writes, a second evaluation restoring the orbax checkpoints, labels from a person's file, and bad input
(no demonstrations, an empty or corrupted dataset, a checkpoint of another shape, a label outside the three
classes, an unknown stage, a labeler that is not installed) refused with a message naming it while the run
directory stays byte-identical."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from launch.cli import main
from launch.safety_files import SafetyRun, load_demos, load_reward_model, load_simulator
from safety.labelers import LABELS
from run_dirs import tree_digest

pytestmark = pytest.mark.xdist_group("safety_cli")

TINY = ["--tasks", "4", "--eval-tasks", "2", "--max-steps", "20", "--sim-steps", "60", "--rounds", "1",
        "--query-iterations", "10", "--reward-steps", "20", "--mpc-iterations", "2", "--no-progress"]  # fmt: skip
QUERIED = 1 * 4 * 8  # rounds x acquisition functions x query horizon (the `all` stage's horizon)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    main(["safety", "all", "--name", "tiny", "--runs-dir", str(root), *TINY])
    return root / "tiny"


def _copy(run_dir: Path, tmp_path: Path, name: str = "copy") -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / name))


def _refused(argv: list[str], run: Path, match: str) -> str:
    """Run a command that must fail: its message matches, and nothing under ``run``'s parent changed."""
    before = tree_digest(run.parent)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    message = str(exc.value.code)
    assert message.startswith("openland safety"), message
    assert re.search(match, message), message
    assert tree_digest(run.parent) == before, "a failing command changed the run directory"
    return message


def test_all_stages_write_their_files_and_figures(run_dir: Path) -> None:
    demos = json.loads((run_dir / "demos" / "summary.json").read_text())
    assert demos["episodes"] == 4 and demos["unsafe_transitions"] == 0 and demos["family"] == "safety"
    assert demos["transitions"] == 4 * 20 and (run_dir / "demos" / "demos.npz").stat().st_size > 0

    history = json.loads((run_dir / "simulator" / "history.json").read_text())["history"]
    assert history[0]["step"] == 0 and history[-1]["step"] == 60
    assert history[-1]["held_out_next_obs_mse"] < history[0]["held_out_next_obs_mse"]
    assert [p.name for p in (run_dir / "simulator" / "checkpoints").iterdir() if p.name.isdigit()] == ["60"]

    labels = json.loads((run_dir / "reward_model" / "labels.json").read_text())
    assert len(labels["labels"]) == len(labels["rules"]) == len(labels["source"]) == len(labels["after"]) == QUERIED
    assert set(labels["labels"]) <= set(LABELS)
    assert all(any(r) == (lab == "unsafe") for lab, r in zip(labels["labels"], labels["rules"]))
    assert {s.split("@")[0] for s in labels["source"]} == {"max_reward", "min_reward", "max_uncertainty", "max_novelty"}
    rounds = json.loads((run_dir / "reward_model" / "history.json").read_text())["history"]
    assert len(rounds) == 1 and sum(sum(rounds[0][a]) for a in ("max_reward", "min_reward")) == 16
    assert [p.name for p in (run_dir / "reward_model" / "checkpoints").iterdir() if p.name.isdigit()] == ["1"]

    body = json.loads((run_dir / "evaluation" / "starts.json").read_text())
    assert list(body["policies"]) == ["request", "expert", "careless", "random"] and body["tasks"] == 2
    for name, result in body["policies"].items():
        assert len(result["episodes"]["hazard"]) == 2 and all(n == 20 for n in result["episodes"]["length"]), name
    assert body["policies"]["expert"]["summary"]["unsafe_per_episode"] == 0.0
    # the expert that ignores the hazard band walks over it; the one that avoids it never does
    assert body["policies"]["careless"]["summary"]["hazard_per_episode"] > 0
    page = (run_dir / "evaluation" / "safety.html").read_text()
    for alt in ("simulator held-out error", "labels per round", "evaluation starts"):
        assert f"alt='{alt}'" in page


def test_second_evaluate_restores_the_checkpoints(run_dir: Path, capsys) -> None:
    checkpoints = {d: tree_digest(run_dir / d) for d in ("demos", "simulator", "reward_model")}
    starts = (run_dir / "evaluation" / "starts.json").read_bytes()
    argv = ["safety", "evaluate", "--name", "tiny", "--runs-dir", str(run_dir.parent), "--tasks", "2", "--shifted-starts",
            "--policies", "request", "expert", "--max-steps", "10", "--mpc.iterations", "2", "--mpc.horizon", "8",
            "--no-progress"]  # fmt: skip
    main(argv)
    out = capsys.readouterr().out
    first = (run_dir / "evaluation" / "shifted_starts.json").read_bytes()
    main(argv)
    assert (run_dir / "evaluation" / "shifted_starts.json").read_bytes() == first  # every draw from the seed
    assert "shifted_starts (2 held-out tasks" in out and "request" in out
    body = json.loads((run_dir / "evaluation" / "shifted_starts.json").read_text())
    assert list(body["policies"]) == ["request", "expert"] and body["max_steps"] == 10
    assert (run_dir / "evaluation" / "starts.json").read_bytes() == starts  # the other split is kept
    assert "alt='evaluation shifted_starts'" in (run_dir / "evaluation" / "safety.html").read_text()
    assert {d: tree_digest(run_dir / d) for d in checkpoints} == checkpoints  # evaluation only reads them
    # what was restored is what was trained
    run = SafetyRun(run_dir)
    data, sha = load_demos(run)
    sim, _, _ = load_simulator(run, data.obs_dim, sha)
    model, _, _ = load_reward_model(run, sim)
    from launch.safety_files import params_digest

    assert params_digest(sim.params) == json.loads((run_dir / "simulator" / "summary.json").read_text())["digest"]
    assert params_digest(model.params) == json.loads((run_dir / "reward_model" / "summary.json").read_text())["digest"]


def test_relabel_from_a_person_s_file_and_a_label_outside_the_classes(run_dir: Path, tmp_path: Path) -> None:
    run = _copy(run_dir, tmp_path)
    body = json.loads((run / "reward_model" / "labels.json").read_text())
    labels = ["good" if lab == "neutral" else lab for lab in body["labels"]]  # a person calls the neutral states good
    person = tmp_path / "person.json"
    person.write_text(json.dumps({"labels": labels, "rules": body["rules"]}))
    old_digest = json.loads((run / "reward_model" / "summary.json").read_text())["digest"]
    main(["safety", "relabel", "--name", "copy", "--runs-dir", str(tmp_path), "--labels", str(person)])
    summary = json.loads((run / "reward_model" / "summary.json").read_text())
    assert summary["per_class"]["good"] == labels.count("good") and summary["per_class"]["neutral"] == 0
    assert summary["digest"] != old_digest and summary["labeler"] == f"file {person}"
    assert json.loads((run / "reward_model" / "labels.json").read_text())["labels"] == labels

    bad = list(labels)
    bad[3] = "dangerous"
    person.write_text(json.dumps(bad))
    _refused(["safety", "relabel", "--name", "copy", "--runs-dir", str(tmp_path), "--labels", str(person)], run,
             r"labels\[3\]='dangerous' is not one of the three classes")  # fmt: skip
    person.write_text(json.dumps(labels[:-1]))
    _refused(["safety", "relabel", "--name", "copy", "--runs-dir", str(tmp_path), "--labels", str(person)], run,
             rf"has {QUERIED - 1} labels; the run's queries have {QUERIED} transitions")  # fmt: skip


def test_bad_input_is_refused_and_leaves_the_run_unchanged(run_dir: Path, tmp_path: Path) -> None:
    runs = str(tmp_path)
    run = _copy(run_dir, tmp_path)
    (tmp_path / "empty").mkdir()
    _refused(["safety", "simulator", "--name", "empty", "--runs-dir", runs], run,
             r"has no demonstrations .*make them with `openland safety demos --name empty --runs-dir")
    _refused(["safety", "evaluate", "--name", "nothing", "--runs-dir", runs], run, r"does not exist")
    _refused(["safety", "train", "--name", "copy"], run, r"unknown stage 'train'; the stages are demos, simulator")
    _refused(["safety", "demos", "--name", "new", "--runs-dir", runs, "--family", "no-such-family"], run, r"no-such-family")
    assert not (tmp_path / "new").exists()

    # a reward model of another latent width than the simulator's (a foreign checkpoint, newest step)
    from safety import checkpoints as ck
    from safety.reward_model import RewardModelConfig, init_reward_model

    config = RewardModelConfig(hidden=32, train_steps=20, skip_features=5, seed=0)  # the `all` stage's, but latent width 7
    ck.save_reward_model(run / "reward_model" / "checkpoints", init_reward_model(7, config), 7, config, step=99)
    _refused(["safety", "evaluate", "--name", "copy", "--runs-dir", runs, "--tasks", "1"], run, r"latent_dim: checkpoint 7, current 37")

    # an empty, then a truncated dataset, then other (valid) demonstrations than the simulator was trained on
    demos = run / "demos" / "demos.npz"
    data = demos.read_bytes()
    from safety import demonstrations

    other = demonstrations.load(demos)
    demonstrations.save(other.select(other.episode != 0), demos)
    _refused(["safety", "request", "--name", "copy", "--runs-dir", runs], run,
             r"simulator was trained on other demonstrations than .*demos.npz holds now; retrain it with "
             r"`openland safety simulator --name copy")  # fmt: skip
    demos.write_bytes(b"")
    _refused(["safety", "simulator", "--name", "copy", "--runs-dir", runs], run, r"demos.npz is empty \(0 bytes\)")
    demos.write_bytes(data[: len(data) // 2])
    _refused(["safety", "request", "--name", "copy", "--runs-dir", runs], run, r"demos.npz \(\d+ bytes\) is corrupted or truncated")
    demos.write_bytes(data)
    assert np.load(demos)["obs"].shape[0] == 80


def test_the_console_command_lists_the_stages_and_names_an_unknown_one(capsys) -> None:
    root = Path(__file__).resolve().parents[1]
    help_ = subprocess.run([sys.executable, "-m", "launch.cli", "safety", "--help"], cwd=root, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
    assert help_.returncode == 0, help_.stderr
    for stage in ("demos", "simulator", "request", "relabel", "evaluate", "all"):
        assert stage in help_.stdout
    bad = subprocess.run([sys.executable, "-m", "launch.cli", "safety", "simulate", "--name", "x"], cwd=root,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 1 and "openland safety simulate: unknown stage 'simulate'" in bad.stderr, bad.stderr
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "openland safety --help" in capsys.readouterr().out
