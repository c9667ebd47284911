"""Curricula: which task of a pool to train on next, from per-task statistics. ``make_curriculum(name)`` for
``uniform``, ``filter`` (XLand's dynamic task filter) and ``plr`` (Robust Prioritised Level Replay).

The decisions are pure functions of arrays, tested without training:

- :func:`filter_admits` / :func:`filter_select`: XLand's three conditions over estimates from K rollouts: (a)
  not too easy, P[agent scores high] < m_s; (b) meaningful, P[agent's return > control's] > m_>; (c) not
  trivial, control's mean normalised return < m_cont (K=10, m_s=0.8, m_>=0.2, m_cont=0.05); candidates are
  drawn uniformly from the pool; after 100 rejections the candidate with the largest (beats - easy) is taken,
  so a draw never stalls. A candidate with fewer than K episodes is taken to be estimated (ours: every episode
  trains, so its estimating rollouts are training episodes).
- :func:`plr_replay_distribution`: P = (1 - rho) P_S + rho P_C with rank prioritisation P_S(i) proportional
  to (1/rank_i)^(1/beta) (rank 1 = highest score, ties by position) and staleness P_C(i) proportional to
  draws since task i was last drawn. Robust PLR (:class:`PLR`): with probability p replay from a bounded
  buffer once it is at least half full, otherwise play a new task; a new task enters the buffer when there is
  room, or replaces the entry with the lowest replay probability if it scores higher. Defaults (dcd/jaxued):
  beta=0.3, rho=0.3, p=0.5, buffer 4000.

Each curriculum keeps its own mutable state (:class:`CurriculumState`: draw clock, last draw per task, the
PLR buffer, the filter's run of stalled draws) beside the shared :class:`~curriculum.stats.TaskStats`; both go
into a checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from curriculum.stats import TaskStats

ChoiceKind = Literal["uniform", "admitted", "evaluating", "fallback", "replay", "new"]


@dataclass
class CurriculumState:
    """Mutable per-run state of a curriculum over a pool of ``num_tasks`` tasks."""

    num_tasks: int
    clock: int = 0
    """Draws so far (the staleness clock)."""
    last_drawn: np.ndarray = field(default=None)  # type: ignore[assignment]
    """Clock value at each task's last draw (or buffer insertion)."""
    in_buffer: np.ndarray = field(default=None)  # type: ignore[assignment]
    """PLR: whether each task is in the replay buffer."""
    stalled: int = 0
    """Filter: consecutive draws that fell back because every candidate was rejected."""

    def __post_init__(self) -> None:
        if self.last_drawn is None:
            self.last_drawn = np.zeros(self.num_tasks, np.int64)
        if self.in_buffer is None:
            self.in_buffer = np.zeros(self.num_tasks, bool)

    def state_dict(self) -> dict[str, Any]:
        return {"num_tasks": np.int64(self.num_tasks), "clock": np.int64(self.clock),
                "last_drawn": self.last_drawn.copy(), "in_buffer": self.in_buffer.copy(),
                "stalled": np.int64(self.stalled)}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if int(state["num_tasks"]) != self.num_tasks:
            raise ValueError(f"CurriculumState: checkpoint has num_tasks={int(state['num_tasks'])}, this pool {self.num_tasks}")
        self.clock, self.stalled = int(state["clock"]), int(state["stalled"])
        self.last_drawn = np.asarray(state["last_drawn"], np.int64).copy()
        self.in_buffer = np.asarray(state["in_buffer"], bool).copy()


@dataclass(frozen=True)
class Choice:
    """A drawn task (its pool slot) and why it was drawn."""

    slot: int
    kind: ChoiceKind


class FilterStalled(RuntimeError):
    """The dynamic filter rejected every candidate for too many draws in a row: its thresholds exclude the
    whole pool for this agent. The message carries the statistics."""


# ------------------------------------------------------------------------------------------------ uniform


@dataclass(frozen=True)
class Uniform:
    """Every task of the pool equally likely: the baseline."""

    name: str = "uniform"

    def choose(self, rng: np.random.Generator, stats: TaskStats, state: CurriculumState) -> Choice:
        slot = int(rng.integers(state.num_tasks))
        state.clock += 1
        state.last_drawn[slot] = state.clock
        return Choice(slot, "uniform")

    def after_update(self, slots: np.ndarray, stats: TaskStats, state: CurriculumState) -> None:
        """Nothing to update: this curriculum keeps no state beyond the task statistics."""


# ------------------------------------------------------------------------------------------------- filter


def filter_admits(success: np.ndarray, beats: np.ndarray, control_return: np.ndarray, max_success: float = 0.8,
                  min_beats: float = 0.2, max_control: float = 0.05) -> np.ndarray:
    """XLand's three conditions, elementwise: (a) success < m_s, (b) beats > m_>, (c) control < m_cont."""
    return (np.asarray(success) < max_success) & (np.asarray(beats) > min_beats) & (np.asarray(control_return) < max_control)


@dataclass(frozen=True)
class DynamicFilter:
    """XLand's dynamic task filter over a pool (thresholds per agent; PBT may evolve them)."""

    name: str = "filter"
    rollouts: int = 10
    """K: episodes of a task before it is judged."""
    max_success: float = 0.8
    """m_s: admitted only if P[agent scores high] is below this (not too easy)."""
    min_beats: float = 0.2
    """m_>: admitted only if P[agent's return > control's] is above this (meaningful)."""
    max_control: float = 0.05
    """m_cont: admitted only if the control policy's mean normalised return is below this (not trivial)."""
    max_rejections: int = 100
    """Candidates per draw before the best rejected one is taken."""
    max_stalled_draws: int = 500
    """Consecutive draws that all fell back before :class:`FilterStalled` is raised."""

    def __post_init__(self) -> None:
        for name in ("rollouts", "max_rejections", "max_stalled_draws"):
            if getattr(self, name) < 1:
                raise ValueError(f"DynamicFilter.{name}={getattr(self, name)!r} must be at least 1")

    @staticmethod
    def estimates(stats: TaskStats) -> tuple[np.ndarray, np.ndarray]:
        """(beats, control return) per task: the paired-control estimates where a task has paired episodes;
        elsewhere a control that scores 0 (ours): beats = P[agent's return > 0], control = 0."""
        paired = stats.control_count > 0
        return np.where(paired, stats.beats, stats.any_reward), np.where(paired, stats.control_return, 0.0)

    def select(self, candidates: np.ndarray, stats: TaskStats) -> tuple[int, ChoiceKind]:
        """Pure: the position in ``candidates`` (pool slots, in draw order) to train on, and why: the first
        that has fewer than K episodes ("evaluating") or passes the three conditions ("admitted"); if none,
        the one with the largest (beats - success) ("fallback")."""
        beats, control = self.estimates(stats)
        c = np.asarray(candidates)
        ok = (stats.count[c] < self.rollouts) | filter_admits(stats.success[c], beats[c], control[c],
                                                              self.max_success, self.min_beats, self.max_control)
        if ok.any():
            i = int(np.argmax(ok))
            return i, "evaluating" if stats.count[c[i]] < self.rollouts else "admitted"
        return int(np.argmax(beats[c] - stats.success[c])), "fallback"

    def choose(self, rng: np.random.Generator, stats: TaskStats, state: CurriculumState) -> Choice:
        candidates = rng.integers(state.num_tasks, size=self.max_rejections)
        i, kind = self.select(candidates, stats)
        state.stalled = state.stalled + 1 if kind == "fallback" else 0
        if state.stalled >= self.max_stalled_draws:
            raise FilterStalled(self.describe_stall(stats, state))
        slot = int(candidates[i])
        state.clock += 1
        state.last_drawn[slot] = state.clock
        return Choice(slot, kind)

    def describe_stall(self, stats: TaskStats, state: CurriculumState) -> str:
        beats, control = self.estimates(stats)
        judged = stats.count >= self.rollouts
        n = int(judged.sum())
        easy = int((judged & (stats.success >= self.max_success)).sum())
        weak = int((judged & (beats <= self.min_beats)).sum())
        trivial = int((judged & (control >= self.max_control)).sum())
        mean = lambda a: float(a[judged].mean()) if n else float("nan")  # noqa: E731
        return (
            f"dynamic filter rejected every candidate for {state.stalled} draws in a row: of {state.num_tasks} pool "
            f"tasks, {n} judged (>= {self.rollouts} episodes): {easy} too easy (success >= m_s={self.max_success}), "
            f"{weak} not meaningful (beats control <= m_>={self.min_beats}), {trivial} trivial (control return >= "
            f"m_cont={self.max_control}); mean success {mean(stats.success):.3f}, mean beats {mean(beats):.3f}, mean "
            f"control return {mean(control):.3f}. Loosen the thresholds or use a harder/larger pool."
        )

    def after_update(self, slots: np.ndarray, stats: TaskStats, state: CurriculumState) -> None:
        """Nothing to update: this curriculum keeps no state beyond the task statistics."""


# ---------------------------------------------------------------------------------------------------- PLR


def plr_replay_distribution(scores: np.ndarray, staleness: np.ndarray, beta: float, rho: float) -> np.ndarray:
    """P = (1 - rho) P_S + rho P_C over the given tasks: rank prioritisation P_S(i) proportional to
    (1/rank_i)^(1/beta), rank 1 the highest score (ties broken by position), and P_C(i) proportional to
    staleness (uniform when every staleness is 0)."""
    scores, staleness = np.asarray(scores, float), np.asarray(staleness, float)
    if scores.shape != staleness.shape or scores.ndim != 1 or len(scores) == 0:
        raise ValueError(f"plr_replay_distribution: scores {scores.shape} and staleness {staleness.shape} must be "
                         "equal non-empty vectors")
    if beta <= 0 or not 0.0 <= rho <= 1.0:
        raise ValueError(f"plr_replay_distribution: beta={beta!r} must be > 0 and rho={rho!r} in [0, 1]")
    ranks = np.empty(len(scores))
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    h = (1.0 / ranks) ** (1.0 / beta)
    p_s = h / h.sum()
    total = staleness.sum()
    p_c = staleness / total if total > 0 else np.full(len(scores), 1.0 / len(scores))
    return (1.0 - rho) * p_s + rho * p_c


@dataclass(frozen=True)
class PLR:
    """Robust Prioritised Level Replay over a pool (see the module docstring)."""

    name: str = "plr"
    beta: float = 0.3
    """Temperature of rank prioritisation."""
    rho: float = 0.3
    """Weight of staleness in the replay distribution."""
    replay_prob: float = 0.5
    """p: probability of replaying from the buffer (once it is at least ``min_fill`` full)."""
    buffer_size: int = 4000
    """Most tasks in the replay buffer (clipped to the pool size)."""
    min_fill: float = 0.5
    """Share of the buffer that must be filled before replay starts."""

    def __post_init__(self) -> None:
        if self.buffer_size < 1 or not 0.0 <= self.replay_prob <= 1.0 or not 0.0 <= self.min_fill <= 1.0:
            raise ValueError(f"PLR: buffer_size={self.buffer_size!r} >= 1, replay_prob={self.replay_prob!r} and "
                             f"min_fill={self.min_fill!r} in [0, 1] required")

    def capacity(self, state: CurriculumState) -> int:
        return min(self.buffer_size, state.num_tasks)

    def replay_distribution(self, stats: TaskStats, state: CurriculumState) -> tuple[np.ndarray, np.ndarray]:
        """(buffer slots, their replay probabilities)."""
        slots = np.flatnonzero(state.in_buffer)
        return slots, plr_replay_distribution(stats.score[slots], state.clock - state.last_drawn[slots], self.beta, self.rho)

    def choose(self, rng: np.random.Generator, stats: TaskStats, state: CurriculumState) -> Choice:
        filled = int(state.in_buffer.sum())
        capacity = self.capacity(state)
        replay = rng.random() < self.replay_prob
        if filled and (filled == state.num_tasks or (replay and filled >= self.min_fill * capacity)):
            slots, p = self.replay_distribution(stats, state)
            slot, kind = int(slots[rng.choice(len(slots), p=p)]), "replay"
        else:
            outside = np.flatnonzero(~state.in_buffer)
            slot, kind = int(outside[rng.integers(len(outside))]), "new"
        state.clock += 1
        state.last_drawn[slot] = state.clock
        return Choice(slot, kind)  # type: ignore[arg-type]

    def after_update(self, slots: np.ndarray, stats: TaskStats, state: CurriculumState) -> None:
        """Offer the scored tasks that are not in the buffer to it: in while there is room, else in place of the
        entry with the lowest replay probability if they score higher than it."""
        capacity = self.capacity(state)
        filled = int(state.in_buffer.sum())
        worst = -1  # the buffer's lowest-probability entry, recomputed only after the buffer changed
        for slot in dict.fromkeys(np.asarray(slots, np.int64).tolist()):
            if state.in_buffer[slot]:
                continue
            if filled < capacity:
                state.in_buffer[slot], filled, worst = True, filled + 1, -1
                continue
            if worst < 0:
                buffer, p = self.replay_distribution(stats, state)
                worst = int(buffer[np.argmin(p)])
            if stats.score[slot] > stats.score[worst]:
                state.in_buffer[worst], state.in_buffer[slot] = False, True
                state.last_drawn[slot] = state.clock
                worst = -1


Curriculum = Uniform | DynamicFilter | PLR
CURRICULA: dict[str, type] = {"uniform": Uniform, "filter": DynamicFilter, "plr": PLR}


def make_curriculum(name: str, **settings: Any) -> Curriculum:
    """The curriculum ``name`` (uniform, filter, plr) with its defaults, overridden by ``settings``."""
    if name not in CURRICULA:
        raise ValueError(f"curriculum={name!r} is not a known curriculum; known: {list(CURRICULA)}")
    try:
        return CURRICULA[name](**settings)
    except TypeError as err:
        raise ValueError(f"curriculum {name!r}: {err}") from None
