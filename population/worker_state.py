"""Rollout workers' states on disk, so that a resumed population continues exactly.

A worker keeps, per member it has served, a runner (envs via ``BatchEnv.get_state``, last observation,
episode-start flags, carries, keys, shaping potential) and that member's curriculum
(``population.worker.RolloutWorker.get_state``). The driver writes these at every checkpoint
(:func:`save_worker_states`) and hands them back to fresh workers on ``--resume``; without them a resumed worker
would rebuild its envs from their seeds and the run would no longer reproduce an uninterrupted one.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any


#: Checkpoints of worker states kept on disk (as the members keep two).
KEEP = 2


def worker_states_path(run_dir: Path, iteration: int) -> Path:
    return run_dir / "workers" / f"{iteration}.pkl"


def save_worker_states(run_dir: Path, iteration: int, states: list[dict[int, dict[str, Any]]]) -> None:
    """Write every worker's runner states for ``iteration`` atomically, keeping the newest ``KEEP``."""
    path = worker_states_path(run_dir, iteration)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(states, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(path)
    saved = sorted((int(p.stem) for p in path.parent.glob("*.pkl") if p.stem.isdigit()), reverse=True)
    for old in saved[KEEP:]:
        worker_states_path(run_dir, old).unlink(missing_ok=True)


def load_worker_states(run_dir: Path, iteration: int, workers: int) -> list[dict[int, dict[str, Any]]] | None:
    """The worker states saved at ``iteration``; None when absent or written for another number of workers."""
    path = worker_states_path(run_dir, iteration)
    if not path.exists():
        return None
    states = pickle.loads(path.read_bytes())
    return states if len(states) == workers else None
