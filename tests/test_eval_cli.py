"""``openland eval`` and ``openland probe`` on a real (tiny) 2-player run: the reports are written with every
policy beside the fixed references, a policy's competitive figures depend on its play rather than on
self-play, and bad input (no run, an unknown probe, a corrupted checkpoint) is a clear error that leaves the
run directory unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agents.local_train import LocalTrainConfig, train_local
from launch.cli import main
from launch.eval_run import eval_table, contestants
from launch.run_policies import open_run, restore_policy
from test_local_train import TINY_PPO
from worlds.tasks.families import family_task
from run_dirs import tree_digest

pytestmark = pytest.mark.xdist_group("eval_cli")


@pytest.fixture(scope="module")
def duo_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    cfg = LocalTrainConfig(name="duo", runs_dir=root, family="duo-small", num_envs=4, max_steps=60,
                           total_timesteps=4 * 2 * 16 * 2, checkpoint_every=1, eval_every=0, eval_tasks=2,
                           record_episodes=0, progress=False, ppo=TINY_PPO)  # fmt: skip
    train_local(cfg)
    return root / "duo"


def test_eval_writes_both_splits_with_references(duo_run: Path, capsys) -> None:
    main(["eval", str(duo_run), "--tasks", "2", "--num-envs", "2", "--no-progress"])
    for split in ("held_out_world", "held_out_game"):
        body = json.loads((duo_run / "eval" / f"{split}.json").read_text())
        assert body["agents"] == ["agent", "scripted", "random"] and body["reference"] == body["agents"]
        assert set(body["figures"]["all"]) == {"agent", "scripted", "random"}
        assert np.asarray(body["returns"]).shape == (3, 2, 3)
    assert "percentile curves" in (duo_run / "eval" / "eval.html").read_text()
    assert "held_out_game" in capsys.readouterr().out


def test_competitive_figures_come_from_play_not_self_play(duo_run: Path) -> None:
    """On competitive games the scripted expert against the random policy outscores the random policy against
    the scripted expert; self-play entries of exactly-negated games are a draw (0.5 per step), never a success."""
    tasks, seed = [], 0
    while len(tasks) < 4:
        task = family_task("duo-small", seed, "held_out_world")
        seed += 1
        if task.game.kind == "competitive":
            tasks.append(task)
    run = open_run(duo_run)
    policies, _ = contestants(run, ["scripted", "random"], num_envs=4, step=None)
    table = eval_table(run, tasks, policies, num_envs=4, seed=0, progress=False)
    r = table.returns  # [agent, task, co-player]; agents = co-players = (scripted, random)
    assert r[0, :, 1].mean() > r[1, :, 0].mean()
    np.testing.assert_allclose(r[0, :, 0], 0.5, atol=1e-9)  # a goal and its negation: one holds each step
    np.testing.assert_allclose(r[1, :, 1], 0.5, atol=1e-9)


def test_probe_table_beside_random_and_scripted(duo_run: Path, capsys) -> None:
    main(["probe", str(duo_run), "--probes", "ramp_use", "tag", "--episodes", "2", "--no-progress"])
    body = json.loads((duo_run / "probes" / "probes.json").read_text())
    assert set(body["results"]) == {"ramp_use", "tag"}
    for row in body["results"].values():
        assert set(row) == {"agent", "random", "scripted"}
    assert body["results"]["ramp_use"]["scripted"] == 1.0
    assert "ramp_use" in capsys.readouterr().out


def test_bad_input_is_named_and_changes_nothing(duo_run: Path, tmp_path: Path) -> None:
    before = tree_digest(duo_run)
    with pytest.raises(SystemExit, match="holds no run"):
        main(["eval", str(tmp_path)])
    with pytest.raises(SystemExit, match="unknown probe 'tig'.*tag"):
        main(["probe", str(duo_run), "--probes", "tig"])
    assert tree_digest(duo_run) == before
    # a corrupted checkpoint: every step's array data garbled; the error names the directory
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(duo_run, broken)
    for f in (broken / "checkpoints").rglob("*"):
        if f.is_file() and "state" in f.parts and f.stat().st_size > 64:
            data = bytearray(f.read_bytes())
            data[len(data) // 2] ^= 0xFF
            f.write_bytes(bytes(data))
    snapshot = tree_digest(broken)
    with pytest.raises(SystemExit, match="checkpoints"):
        main(["eval", str(broken), "--tasks", "1", "--num-envs", "1", "--no-progress"])
    assert tree_digest(broken) == snapshot
    with pytest.raises(ValueError, match="no policy 'member7'"):
        restore_policy(open_run(duo_run), "member7", num_envs=1)
