"""launch/cluster/submit.sh against a real Ray head started with ``ray start --head`` on loopback: the job runs a
tiny population (`openland train`) with the project's environment, finishes, and leaves its run directory,
whose report then shows the population's plots (PBT, league) in headless Chromium."""

from __future__ import annotations

import contextlib

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture
def ray_head(tmp_path):
    """A Ray head of our own (every port on loopback, its own temp dir and ports), stopped by killing the process
    group we started: never `ray stop`, which stops every Ray on the machine."""
    temp_dir = tempfile.mkdtemp(prefix="rayh", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    # Ray >= 2.5x turns token authentication on for a new cluster and keeps the token in ~/.ray/auth_token, written
    # when first needed: on a fresh machine the job client raced the head for it and found none. This head has a
    # token of its own, which the head and the job client are both given.
    token = Path(temp_dir) / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token",
               RAY_AUTH_TOKEN_PATH=str(token))  # fmt: skip
    gcs, dash, agent, agent_grpc, metrics, rt_env, node_mgr, obj_mgr, client = _free_ports(9)
    cmd = [str(VENV_BIN / "ray"), "start", "--head", "--block", f"--port={gcs}", "--dashboard-host=127.0.0.1",
           f"--dashboard-port={dash}", f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={agent_grpc}",
           f"--metrics-export-port={metrics}", f"--runtime-env-agent-port={rt_env}", f"--node-manager-port={node_mgr}",
           f"--object-manager-port={obj_mgr}", f"--ray-client-server-port={client}", "--num-cpus=2",
           f"--temp-dir={temp_dir}", "--include-dashboard=true", "--disable-usage-stats"]  # fmt: skip
    log = open(tmp_path / "ray_head.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, f"ray start exited: {(tmp_path / 'ray_head.log').read_text()[-3000:]}"
            try:
                socket.create_connection(("127.0.0.1", dash), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the Ray dashboard (job server) did not come up in 90 s"
                time.sleep(0.5)
        yield address, env
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):  # the head's group may already be gone
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        subprocess.run(["rm", "-rf", temp_dir], check=False)


def test_submit_script_runs_a_population_job_that_writes_its_run(ray_head, tmp_path):
    address, env = ray_head
    runs = tmp_path / "runs"
    # the job's environment is the project's (the test's venv stands for the cluster's $HOME/openland/.venv);
    # PATH without it, so nothing can work by finding a python or ray on PATH
    env = dict(env, OPENLAND_VENV=str(Path(sys.prefix)), OPENLAND_CLUSTER_PYTHON=sys.executable,
               PATH="/usr/bin:/bin")  # fmt: skip
    flags = ["--name", "submitted", "--runs-dir", str(runs), "--family", "duo", "--members", "2", "--workers", "1",
             "--envs-per-worker", "2", "--iterations", "2", "--max-steps", "16", "--checkpoint-every", "2",
             "--eval-tasks", "1", "--record-episodes", "1", "--no-progress", "--pbt.interval", "1",
             "--pbt.ready-after", "0", "--league.self-play", "0", "--league.snapshot-play", "0"]  # fmt: skip
    t0 = time.perf_counter()
    out = subprocess.run(["bash", str(ROOT / "launch/cluster/submit.sh"), address, *flags], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=400)  # fmt: skip
    log = out.stdout + out.stderr
    print(f"\nsubmit.sh job finished in {time.perf_counter() - t0:.0f} s")
    assert out.returncode == 0, log[-4000:]
    assert "succeeded" in log, log[-4000:]
    run = runs / "submitted"
    assert run.is_dir(), f"the job wrote no run directory under {runs}: {log[-3000:]}"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["iterations"] == 2 and "member1/eval_success" in summary and "random_eval_success" in summary
    assert json.loads((run / "state.json").read_text())["iteration"] == 2
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert sorted(p.name for p in (run / "episodes").glob("*.npz")) == ["member0_eval_0.npz", "member1_eval_0.npz"]

    # the report of this population run: every plot that a population run can have, in the browser
    from tests.test_report import check_report_page
    from tests.test_viewer import chrome
    from viewer.report import write_report

    write_report(run)
    driver = chrome()
    try:
        check_report_page(driver, run, present=("returns", "success", "pbt", "league", "curriculum"))
    finally:
        driver.quit()


def test_submit_script_refuses_without_the_project_environment(tmp_path):
    env = dict(os.environ, OPENLAND_VENV=str(tmp_path / "no-venv"))
    out = subprocess.run(["bash", str(ROOT / "launch/cluster/submit.sh"), "http://127.0.0.1:1"], env=env,
                         capture_output=True, text=True, timeout=30)  # fmt: skip
    assert out.returncode == 2 and "no-venv/bin/ray not found" in out.stderr
