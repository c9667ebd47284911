"""A killed population driver resumes exactly: a 2-player (duo) run with league snapshots and PBT, killed after
snapshots exist, continues from its checkpoints, reads its frozen snapshot copies back from disk, and ends with
the same members (parameters, optimiser and normaliser state, keys) and driver state as a run never stopped."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from population_fixtures import ROOT, TINY, driver_env, start_driver, stop_driver, wait_for_iteration

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow]

#: Every co-player is a snapshot once one exists, so the resumed run must read snapshot copies; half the
#: episodes are played beside the random policy instead (league.fixed_play), whose draws resume exactly too.
DUO = ["--family", "duo", "--iterations", "4", "--checkpoint-every", "1", "--workers", "1",
       "--league.snapshot-interval", "1", "--league.self-play", "0", "--league.snapshot-play", "1",
       "--league.fixed-play", "0.5", "--league.fixed-coplayers", "random",
       "--pbt.interval", "2", "--pbt.ready-after", "1", *TINY]  # fmt: skip


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def member_digests(run_dir: Path, step: int) -> list[str]:
    """Each member's checkpoint at ``step``: the SHA-256 over every array of its training state, as written."""
    return [json.loads((run_dir / "members" / f"member{m}" / str(step) / "meta" / "metadata").read_text())["sha256"]
            for m in range(2)]  # fmt: skip


def test_a_killed_duo_driver_resumes_exactly_with_its_snapshot_copies(tmp_path, request):
    run_dir, log = tmp_path / "duo", tmp_path / "first.log"
    args = ["--name", "duo", "--runs-dir", str(tmp_path), *DUO]
    # the same run, never stopped, beside it (its own local Ray): the same members and driver state at the end
    straight_dir, straight_log = tmp_path / "straight", tmp_path / "straight.log"
    straight = start_driver(["--name", "straight", "--runs-dir", str(tmp_path), *DUO], straight_log)
    request.addfinalizer(lambda: stop_driver(straight))  # whatever fails below, it does not outlive the test
    driver = start_driver(args, log)
    try:
        wait_for_iteration(driver, run_dir / "state.json", 2, log)
    finally:
        stop_driver(driver)  # killed: the driver and the local Ray it started
    before = json.loads((run_dir / "state.json").read_text())
    assert 2 <= before["iteration"] < 4
    snapshots = before["league"]["snapshots"]
    assert {s["name"] for s in snapshots} >= {"member0@1", "member1@1", "member0@2", "member1@2"}
    for s in snapshots:  # a copy of its own, not the member's rolling checkpoint directory
        assert Path(s["path"]) == run_dir / "snapshots" / s["name"] and Path(s["path"]).is_dir()
    first = tree_digest(run_dir / "snapshots" / "member0@1")

    resumed = subprocess.run(
        [sys.executable, "-m", "launch.cli", "train", "--resume", str(run_dir), *args],
        cwd=ROOT, env=driver_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"resumed {run_dir} at iteration {before['iteration']}" in resumed.stdout
    assert "read from its copy" in resumed.stdout  # the resumed driver played against snapshot copies
    after = json.loads((run_dir / "state.json").read_text())
    assert after["iteration"] == 4
    assert after["pbt"]["history"][: len(before["pbt"]["history"])] == before["pbt"]["history"]
    assert [s["name"] for s in after["league"]["snapshots"]][:4] == ["member0@1", "member1@1", "member0@2", "member1@2"]
    assert {p.name for p in (run_dir / "snapshots").iterdir()} == {s["name"] for s in after["league"]["snapshots"]}
    assert tree_digest(run_dir / "snapshots" / "member0@1") == first  # frozen: never written again
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 4 and set(range(1, 5)) <= set(steps)

    assert straight.wait(timeout=600) == 0, straight_log.read_text()[-3000:]
    resumed_digests = member_digests(run_dir, 4)
    assert resumed_digests == member_digests(straight_dir, 4)
    assert resumed_digests[0] != resumed_digests[1] and resumed_digests != member_digests(run_dir, 3)  # not vacuous
    want = json.loads((straight_dir / "state.json").read_text())
    for key in ("league", "pbt", "fitness_window", "hparams", "rng_state", "agent_steps"):
        got = after[key]
        if key == "league":  # snapshot paths name the run directory
            got = json.loads(json.dumps(got).replace(str(run_dir), str(straight_dir)))
        assert got == want[key], key
    assert after["inexact_since"] is None and json.loads((run_dir / "summary.json").read_text())["exact"] is True
    assert "random" in after["league"]["win_rate"]["member0"]  # episodes beside the fixed co-player were played
