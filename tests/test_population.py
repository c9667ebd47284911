"""``openland train`` on real Ray (local, on loopback): faults, resume, bad configuration and a real cluster.

All tests here share one xdist group, so at most one Ray runs at a time on the machine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow]


@pytest.fixture(autouse=True)
def _ray_tests_run_one_at_a_time(request: pytest.FixtureRequest) -> None:
    """These tests start and stop Ray on this machine (``ray stop --force`` ends every Ray process here), so
    under xdist they must all run in one worker: ``--dist loadgroup`` marks a grouped test's id with ``@ray``.
    Fail loudly where the installed pytest/xdist pair does not group (pytest 9.2 with xdist 3.8 does not). Only
    an xdist worker sets ``loadgroup``; a run without ``-n`` is one process, and nothing runs beside anything."""
    if getattr(request.config.option, "loadgroup", False):
        assert request.node.nodeid.endswith("@ray"), (
            f"xdist's loadgroup did not group {request.node.nodeid!r}: the Ray tests would run beside each other"
        )

ROOT = Path(__file__).resolve().parents[1]
#: A tiny population: the same shapes in every test, so the persistent JAX cache compiles them once.
TINY = [
    "--envs-per-worker", "4", "--max-steps", "30", "--eval-tasks", "4", "--record-episodes", "1",
    "--ppo.num-steps", "16", "--ppo.num-minibatches", "2", "--ppo.update-epochs", "2", "--ppo.core-size", "32",
    "--ppo.hidden-sizes", "32", "--ppo.embed-dim", "32", "--no-progress",
]  # fmt: skip


def loopback_env() -> dict[str, str]:
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", PYTHONUNBUFFERED="1")
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return env


def tiny_config(tmp_path: Path, name: str, **overrides):
    import tyro

    from population.driver import PopulationConfig

    args = ["--name", name, "--runs-dir", str(tmp_path), *TINY]
    for key, value in overrides.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return tyro.cli(PopulationConfig, args=args)


def test_bad_configuration_fails_before_any_work(tmp_path):
    from population.driver import train_population
    from population.ray_runtime import ClusterError

    with pytest.raises(ValueError, match=r"members=6 and workers=4 need 5 CPUs .* offers 2"):
        train_population(tiny_config(tmp_path, "big", members=6, workers=4))
    assert not (tmp_path / "big").exists()
    with pytest.raises(ValueError, match=r"member hyper-parameter 'momentum' is unknown"):
        train_population(dataclasses.replace(tiny_config(tmp_path, "hp"), hparams=(("momentum", 0.9),)))
    with pytest.raises(ClusterError, match=r"address='127.0.0.1:1'"):
        train_population(tiny_config(tmp_path, "far", address="127.0.0.1:1"))
    assert not (tmp_path / "hp").exists() and not (tmp_path / "far").exists()


def test_a_killed_worker_is_replaced_and_training_goes_on(tmp_path):
    import ray

    from agents.checkpoint import Checkpointer
    from population.driver import train_population

    pids: dict[int, int] = {}

    def kill_worker(iteration, row, actors):
        if iteration == 2:
            pids["before"] = ray.get(actors["workers"][0].pid.remote())
            os.kill(pids["before"], signal.SIGKILL)
        if iteration == 3:
            pids["after"] = ray.get(actors["workers"][0].pid.remote())

    cfg = tiny_config(tmp_path, "kill", iterations=4, checkpoint_every=2)
    summary = train_population(cfg, on_iteration=kill_worker)
    assert summary["iterations"] == 4
    assert pids["after"] != pids["before"]  # Ray restarted the worker: a new process serves it
    state = json.loads((tmp_path / "kill" / "state.json").read_text())
    assert state["iteration"] == 4
    metrics = [json.loads(line) for line in (tmp_path / "kill" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]  # every iteration counted once
    for m in range(2):
        with Checkpointer(tmp_path / "kill" / "members" / f"member{m}", create=False) as ckpt:
            assert ckpt.steps() == [2, 4]
    assert len(list((tmp_path / "kill" / "episodes").glob("*.npz"))) == 2


def _driver(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "launch.cli", "train", *args], cwd=ROOT, env=loopback_env(),
        stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def test_a_killed_driver_resumes_from_its_checkpoints(tmp_path):
    run_dir = tmp_path / "resumable"
    args = ["--name", "resumable", "--runs-dir", str(tmp_path), "--iterations", "4", "--checkpoint-every", "2",
            "--workers", "1", "--pbt.interval", "2", "--pbt.ready-after", "1", *TINY]  # fmt: skip
    driver = _driver(args, tmp_path / "first.log")
    deadline = time.monotonic() + 400
    state_path = run_dir / "state.json"
    while time.monotonic() < deadline and driver.poll() is None:
        if state_path.exists() and json.loads(state_path.read_text())["iteration"] >= 2:
            break
        time.sleep(0.5)
    assert driver.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
    driver.wait()
    before = json.loads(state_path.read_text())
    assert 2 <= before["iteration"] < 4

    resumed = subprocess.run(
        [sys.executable, "-m", "launch.cli", "train", "--resume", str(run_dir), *args],
        cwd=ROOT, env=loopback_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"resumed {run_dir} at iteration {before['iteration']}" in resumed.stdout
    after = json.loads(state_path.read_text())
    assert after["iteration"] == 4
    assert after["pbt"]["history"][: len(before["pbt"]["history"])] == before["pbt"]["history"]
    assert after["league"]["members"] == 2
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 4 and set(range(1, 5)) <= set(steps)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_local_cluster_with_address_and_ray_job_submit(tmp_path):
    env = loopback_env()
    env["RAY_AUTH_MODE"] = "token"
    ray_bin = str(Path(sys.executable).parent / "ray")
    port, dashboard = free_port(), free_port()
    start = subprocess.run(
        [ray_bin, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
         f"--dashboard-port={dashboard}", "--num-cpus=2", "--include-dashboard=true", "--disable-usage-stats"],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    try:
        assert start.returncode == 0, start.stdout + start.stderr
        joined = subprocess.run(
            [sys.executable, "-m", "launch.cli", "train", "--address", f"127.0.0.1:{port}", "--name", "joined",
             "--runs-dir", str(tmp_path), "--iterations", "2", "--members", "1", "--workers", "1", *TINY],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert joined.returncode == 0, joined.stdout[-3000:] + joined.stderr[-3000:]
        assert json.loads((tmp_path / "joined" / "state.json").read_text())["iteration"] == 2
        submitted = subprocess.run(
            [ray_bin, "job", "submit", "--address", f"http://127.0.0.1:{dashboard}", "--working-dir", str(ROOT),
             "--", "python", "-m", "launch.cli", "train", "--name", "job", "--runs-dir", str(tmp_path),
             "--iterations", "2", "--members", "1", "--workers", "1", *TINY],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stdout[-3000:] + submitted.stderr[-3000:]
        assert "succeeded" in submitted.stdout
        assert json.loads((tmp_path / "job" / "state.json").read_text())["iteration"] == 2
    finally:
        subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120)
