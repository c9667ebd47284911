"""What the population tests share: a tiny run's flags and a driver started as its own process.

The driver always runs in a fresh process (``python -m launch.cli train``), never in the pytest process: the
pytest process has JAX initialised, and starting Ray from it would fork a multithreaded JAX process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: A tiny population: the same shapes in every test, so the persistent JAX cache compiles them once.
TINY = [
    "--envs-per-worker", "4", "--max-steps", "30", "--eval-tasks", "4", "--record-episodes", "1",
    "--ppo.num-steps", "16", "--ppo.num-minibatches", "2", "--ppo.update-epochs", "2", "--ppo.core-size", "32",
    "--ppo.hidden-sizes", "32", "--ppo.embed-dim", "32", "--no-progress",
]  # fmt: skip


def driver_env(loopback_from_package: bool = False) -> dict[str, str]:
    """Environment of a driver process. ``loopback_from_package``: leave RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER unset,
    so that only the package's own default can keep Ray on loopback."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    if loopback_from_package:
        env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
    else:
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    return env


def start_driver(args: list[str], log: Path, env: dict[str, str] | None = None, module: str = "launch.cli") -> subprocess.Popen:
    """``openland train ARGS`` (or ``python -m MODULE ARGS``) in its own session, so that killing the process
    group ends the driver and the local Ray it started."""
    argv = [sys.executable, "-m", module, *(["train"] if module == "launch.cli" else []), *args]
    return subprocess.Popen(argv, cwd=ROOT, env=env or driver_env(), stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


def stop_driver(driver: subprocess.Popen) -> None:
    """SIGKILL the driver's process group (the driver and the local Ray it started), if still running."""
    if driver.poll() is None:
        os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()


def wait_for_iteration(driver: subprocess.Popen, state_path: Path, iteration: int, log: Path, timeout: float = 400) -> int:
    """Wait until ``state.json`` says ``iteration`` (or more); returns it. Fails with the log's tail if the driver
    ends or the time runs out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and driver.poll() is None:
        if state_path.exists():
            it = json.loads(state_path.read_text())["iteration"]
            if it >= iteration:
                return it
        time.sleep(0.2)
    raise AssertionError(f"driver ended or timed out before iteration {iteration}:\n" + log.read_text()[-3000:])
