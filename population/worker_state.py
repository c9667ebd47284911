"""Rollout workers whose runner state is checkpointed, so that a resumed population continues exactly.

A worker keeps, per member it has served, a runner: the envs (``BatchEnv.get_state``: tasks, MuJoCo state,
counters, the env's RNG), the last observation, episode-start flags, the member's and the co-players' core
carries, the acting key and the shaping potential. The driver collects these at every checkpoint
(:func:`save_worker_states`) and hands them back to fresh workers on ``--resume``; without them a resumed worker
would rebuild its envs from their seeds and the run would no longer reproduce an uninterrupted one.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import jax
import numpy as np

from population.worker import RolloutWorker

#: Checkpoints of worker states kept on disk (as the members keep two).
KEEP = 2


class CheckpointedWorker(RolloutWorker):
    """A :class:`RolloutWorker` that can hand out and take back its runners' state."""

    def runner_states(self) -> dict[int, dict[str, Any]]:
        """Every member runner's state as host data (between rollouts: no episode is half-reported)."""
        host = lambda tree: jax.tree_util.tree_map(np.asarray, tree)  # noqa: E731
        return {
            member: {"env": m.runner.get_state(), "runner": host(m.runner.checkpoint_tree()), "key": np.asarray(m.key),
                     "episodes": list(m.episodes)}  # fmt: skip
            for member, m in self.members.items()
        }

    def set_runner_states(self, states: dict[int, dict[str, Any]]) -> None:
        """Continue the runners saved by :meth:`runner_states` (in a worker of the same config)."""
        for member, s in states.items():
            m = self._member(member)
            m.runner.set_state(s["env"])
            m.runner.load_checkpoint_tree(s["runner"])
            m.key = np.asarray(s["key"])
            m.episodes = list(s["episodes"])


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
