"""``openland train`` on real Ray (local, on loopback): faults, bad configuration and a real cluster.

Every run that starts Ray does so in a driver process of its own (``python -m launch.cli train``), never in the
pytest process: that one has JAX initialised, and Ray would fork it. All tests here share one xdist group, so
at most one Ray runs at a time on the machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from population_fixtures import ROOT, TINY, driver_env, start_driver, stop_driver

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow]


def tiny_config(tmp_path: Path, name: str, **overrides):
    import tyro

    from population.config import PopulationConfig

    args = ["--name", name, "--runs-dir", str(tmp_path), *TINY]
    for key, value in overrides.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return tyro.cli(PopulationConfig, args=args)


def test_bad_configuration_fails_before_any_work(tmp_path):
    import dataclasses

    from population.driver import train_population
    from population.ray_runtime import ClusterError

    # checked before Ray starts, so in this process
    with pytest.raises(ValueError, match=r"member hyper-parameter 'momentum' is unknown"):
        train_population(dataclasses.replace(tiny_config(tmp_path, "hp"), hparams=(("momentum", 0.9),)))
    with pytest.raises(ClusterError, match=r"address='127.0.0.1:1'"):
        train_population(tiny_config(tmp_path, "far", address="127.0.0.1:1"))
    assert not (tmp_path / "hp").exists() and not (tmp_path / "far").exists()
    # more actors than this machine's CPUs (whatever it has): refused once Ray says what it offers
    cpus = os.cpu_count()
    n = cpus + 1  # (n workers + n members) x 0.5 CPU = n CPUs > cpus
    big = subprocess.run(
        [sys.executable, "-m", "launch.cli", "train", "--name", "big", "--runs-dir", str(tmp_path), "--members",
         str(n), "--workers", str(n), *TINY],
        cwd=ROOT, env=driver_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert big.returncode != 0
    assert f"members={n} and workers={n} need {n} CPUs" in big.stderr and f"offers {cpus}" in big.stderr, big.stderr[-2000:]
    assert not (tmp_path / "big").exists()


def rollout_workers(root: psutil.Process) -> set[int]:
    """Pids of the rollout worker actor processes under the driver (Ray names them ``ray::RolloutWorker...``)."""
    out = set()
    for proc in root.children(recursive=True):
        try:
            if any(part.startswith("ray::RolloutWorker") for part in proc.cmdline()):
                out.add(proc.pid)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
    return out


def test_a_killed_worker_is_replaced_and_training_goes_on(tmp_path):
    from agents.checkpoint import Checkpointer

    run_dir, log = tmp_path / "kill", tmp_path / "kill.log"
    args = ["--name", "kill", "--runs-dir", str(tmp_path), "--iterations", "4", "--checkpoint-every", "2", "--members", "1",
            *TINY]  # fmt: skip
    driver = start_driver(args, log)
    root, seen, killed = psutil.Process(driver.pid), set(), None
    try:
        deadline = time.monotonic() + 400
        metrics = run_dir / "metrics.jsonl"
        while driver.poll() is None and time.monotonic() < deadline:
            seen |= rollout_workers(root)
            if killed is None and metrics.exists() and metrics.read_text().count("\n") >= 1 and len(seen) >= 2:
                killed = min(seen)  # mid-run: iteration 1 is done, the next rollouts are on their way
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.1)
        assert driver.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        stop_driver(driver)
    assert killed is not None, log.read_text()[-3000:]
    assert len(seen) >= 3, f"no new worker process replaced the killed one: {seen}"  # 2 workers + a new one
    text = log.read_text()
    assert "restarted by Ray" in text and "no longer reproduces an uninterrupted one exactly" in text, text[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["iterations"] == 4 and summary["worker_restarts"] >= 1 and summary["exact"] is False
    state = json.loads((run_dir / "state.json").read_text())
    assert state["iteration"] == 4 and state["inexact_since"] >= 2
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]  # every iteration counted once
    # each iteration counted the member's rollout once: 4 envs x 16 steps per iteration
    assert [r["agent_steps"] for r in rows] == [64, 128, 192, 256]
    for m in range(1):
        with Checkpointer(run_dir / "members" / f"member{m}", create=False) as ckpt:
            assert ckpt.steps() == [2, 4]
    assert len(list((run_dir / "episodes").glob("*.npz"))) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_local_cluster_with_address_and_ray_job_submit(tmp_path):
    env = driver_env()
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
