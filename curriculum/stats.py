"""Per-task statistics from rollouts, array-backed: what the dynamic task filter and PLR read.

One slot per task of a fixed pool (a task's position). Each estimate is a running mean over a task's first
``window`` episodes and an exponential moving average with rate ``1 / window`` after that (ours: it follows an
agent that keeps learning, and weighs about the last ``window`` episodes, as XLand's K rollouts do).
``state_dict``/``load_state_dict`` give plain numpy arrays for a checkpoint.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_FLOAT_FIELDS = ("success", "ret", "any_reward", "beats", "control_return", "score")
_INT_FIELDS = ("count", "control_count", "last_update")


class TaskStats:
    """Statistics of ``num_tasks`` tasks (slots ``0..num_tasks-1``)."""

    def __init__(self, num_tasks: int, window: int = 10):
        if num_tasks < 1:
            raise ValueError(f"TaskStats: num_tasks={num_tasks!r} must be at least 1")
        if window < 1:
            raise ValueError(f"TaskStats: window={window!r} must be at least 1")
        self.window = window
        self.count = np.zeros(num_tasks, np.int64)
        """Episodes of the agent observed per task."""
        self.success = np.zeros(num_tasks)
        """Estimate of P[the agent scores high] (XLand: goal held on at least half the steps)."""
        self.ret = np.zeros(num_tasks)
        """Estimate of the agent's normalised return (share of steps the goal held)."""
        self.any_reward = np.zeros(num_tasks)
        """Estimate of P[the agent gets any reward] (participation)."""
        self.control_count = np.zeros(num_tasks, np.int64)
        """Episodes paired with a control-policy episode per task."""
        self.beats = np.zeros(num_tasks)
        """Estimate of P[agent's return > the control policy's], over paired episodes."""
        self.control_return = np.zeros(num_tasks)
        """Estimate of the control policy's normalised return."""
        self.score = np.zeros(num_tasks)
        """Last PLR score (e.g. positive value loss of the task's last episode)."""
        self.last_update = np.full(num_tasks, -1, np.int64)
        """Step of the last update per task (-1: never)."""

    def __len__(self) -> int:
        return len(self.count)

    @staticmethod
    def _ema(values: np.ndarray, new: np.ndarray, rate: np.ndarray) -> np.ndarray:
        return values + rate * (new - values)

    def update(
        self,
        slots: np.ndarray,
        returns: np.ndarray,
        step: int,
        success: np.ndarray | None = None,
        control_returns: np.ndarray | None = None,
        scores: np.ndarray | None = None,
        high: float = 0.5,
    ) -> None:
        """Add finished episodes: ``slots`` [n] task slots, ``returns`` [n] normalised returns in [0, 1];
        ``success`` [n] (default ``returns >= high``); ``control_returns`` [n] the control policy's return on the
        same task (NaN where none was paired); ``scores`` [n] PLR scores. A slot may repeat: its episodes are
        applied in order."""
        slots = np.asarray(slots, np.int64).reshape(-1)
        n = len(slots)
        returns = np.asarray(returns, float).reshape(-1)
        success = (returns >= high) if success is None else np.asarray(success, bool).reshape(-1)
        control = np.full(n, np.nan) if control_returns is None else np.asarray(control_returns, float).reshape(-1)
        score = None if scores is None else np.asarray(scores, float).reshape(-1)
        for name, arr in (("returns", returns), ("success", success), ("control_returns", control)):
            if len(arr) != n:
                raise ValueError(f"TaskStats.update: {name} has {len(arr)} entries for {n} slots")
        if score is not None and len(score) != n:
            raise ValueError(f"TaskStats.update: scores has {len(score)} entries for {n} slots")
        if n and (slots.min() < 0 or slots.max() >= len(self)):
            raise ValueError(f"TaskStats.update: slot {slots[(slots < 0) | (slots >= len(self))][0]} outside 0..{len(self) - 1}")
        if not np.all(np.isfinite(returns)):
            raise ValueError(f"TaskStats.update: non-finite return {returns[~np.isfinite(returns)][0]} (slot "
                             f"{slots[~np.isfinite(returns)][0]})")
        remaining = np.arange(n)
        while len(remaining):  # one round per repeat of a slot (usually one round): episodes of a slot in order
            _, first = np.unique(slots[remaining], return_index=True)
            idx, remaining = remaining[first], np.delete(remaining, first)
            s = slots[idx]
            self.count[s] += 1
            rate = 1.0 / np.minimum(self.count[s], self.window)
            self.success[s] = self._ema(self.success[s], success[idx], rate)
            self.ret[s] = self._ema(self.ret[s], returns[idx], rate)
            self.any_reward[s] = self._ema(self.any_reward[s], returns[idx] > 0, rate)
            paired = np.isfinite(control[idx])
            if paired.any():
                p, c = s[paired], control[idx][paired]
                self.control_count[p] += 1
                crate = 1.0 / np.minimum(self.control_count[p], self.window)
                self.control_return[p] = self._ema(self.control_return[p], c, crate)
                self.beats[p] = self._ema(self.beats[p], returns[idx][paired] > c, crate)
            if score is not None:
                self.score[s] = score[idx]
            self.last_update[s] = step

    def state_dict(self) -> dict[str, Any]:
        """Plain numpy arrays (copies) and the window: everything needed to continue exactly."""
        out: dict[str, Any] = {name: getattr(self, name).copy() for name in _FLOAT_FIELDS + _INT_FIELDS}
        out["window"] = np.int64(self.window)
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` of stats of the same number of tasks."""
        for name in _FLOAT_FIELDS + _INT_FIELDS + ("window",):
            if name not in state:
                raise ValueError(f"TaskStats.load_state_dict: missing {name!r}")
        for name in _FLOAT_FIELDS + _INT_FIELDS:  # check everything before changing anything
            value = np.asarray(state[name])
            if value.shape != getattr(self, name).shape:
                raise ValueError(f"TaskStats.load_state_dict: {name} has shape {value.shape}, these stats "
                                 f"{getattr(self, name).shape}")
        for name in _FLOAT_FIELDS + _INT_FIELDS:
            getattr(self, name)[:] = np.asarray(state[name])
        self.window = int(state["window"])

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "TaskStats":
        stats = cls(len(np.asarray(state["count"])), int(state["window"]))
        stats.load_state_dict(state)
        return stats
