"""``CurriculumSampler``: a curriculum as ``BatchEnv``'s task sampler, fed each finished episode, checkpointable.

``BatchEnv`` calls its ``task_sampler(seed)`` once per env reset with a seed drawn from its own Generator. The
sampler draws from a numpy Generator seeded by (its own seed, that seed): a draw is a function of the two seeds
and the curriculum's state (statistics, buffer, clock), so restoring the env's state and the sampler's
``state_dict`` continues the same sequence of tasks exactly. Feed it every finished episode
(:meth:`observe`, or :meth:`observe_final` with ``info["final"]`` of a ``BatchEnv`` step).

The pool is a :class:`~curriculum.taskset.TaskSet` or a :class:`FamilyPool` (a family's split over a seed range,
tasks generated on first draw and cached): curricula keep statistics per pool slot.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, Sequence

import numpy as np

from curriculum.curricula import CURRICULA, Curriculum, CurriculumState, make_curriculum
from curriculum.stats import TaskStats
from curriculum.taskset import TaskSet
from worlds.tasks.codec import content_id
from worlds.tasks.families import FamilyConfig, Split, default_config, family_task
from worlds.tasks.game import TaskSpec, task_id


class TaskPool(Protocol):
    """What a sampler draws from: ``len`` slots, the task of a slot, and a content id."""

    def __len__(self) -> int: ...
    def __getitem__(self, slot: int) -> TaskSpec: ...
    @property
    def id(self) -> str: ...


class FamilyPool:
    """The tasks of ``seeds`` in a family's ``split`` as a pool, generated on first use and cached (a pool of
    thousands costs nothing until drawn). Two seeds that give the same task are two slots."""

    def __init__(self, family: str | FamilyConfig, seeds: Sequence[int] | range, split: Split = "train"):
        self.config = family if isinstance(family, FamilyConfig) else default_config(family)
        self.seeds = np.asarray(list(seeds), np.int64)
        if len(self.seeds) == 0:
            raise ValueError(f"FamilyPool {self.config.name!r}: empty seed range")
        self.split = split
        self._cache: dict[int, TaskSpec] = {}
        self._id = content_id({"family": dataclasses.asdict(self.config), "seeds": self.seeds.tolist(), "split": split})

    @property
    def id(self) -> str:
        return self._id

    def __len__(self) -> int:
        return len(self.seeds)

    def __getitem__(self, slot: int) -> TaskSpec:
        task = self._cache.get(slot)
        if task is None:
            task = self._cache[slot] = family_task(self.config, int(self.seeds[slot]), self.split)
        return task

    def materialise(self) -> TaskSet:
        """The pool as a TaskSet (repeated tasks kept once)."""
        return TaskSet.from_family(self.config, self.seeds.tolist(), self.split)


class CurriculumSampler:
    """A curriculum over a pool, usable as ``BatchEnv(config, task_sampler=sampler)``."""

    def __init__(self, pool: TaskPool, curriculum: str | Curriculum = "uniform", seed: int = 0, window: int = 10,
                 high: float = 0.5):
        self.pool = pool
        self.curriculum: Curriculum = make_curriculum(curriculum) if isinstance(curriculum, str) else curriculum
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"CurriculumSampler: seed must be a non-negative integer, got {seed!r}")
        if not 0.0 < high <= 1.0:
            raise ValueError(f"CurriculumSampler: high={high!r} must be in (0, 1]")
        self.seed = int(seed)
        self.high = high
        """Normalised return at or above which an episode counts as a success (XLand: goal held half the time)."""
        self.stats = TaskStats(len(pool), window)
        self.state = CurriculumState(len(pool))
        self._slot_of: dict[str, int] = {}  # ids of drawn tasks -> their slot (what observe maps back)
        self.last_kind = ""
        """Why the last task was drawn (uniform, admitted, evaluating, fallback, replay, new)."""

    # ---------------------------------------------------------------------------------------------- draw
    def __call__(self, seed: int) -> TaskSpec:
        """BatchEnv's task sampler: the next task to train on, from the curriculum."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(seed)]))
        choice = self.curriculum.choose(rng, self.stats, self.state)
        task = self.pool[choice.slot]
        self._slot_of[task_id(task)] = choice.slot
        self.last_kind = choice.kind
        return task

    # ---------------------------------------------------------------------------------------- feedback
    def observe(self, task_ids: Sequence[str], returns: Sequence[float] | np.ndarray, *,
                success: np.ndarray | None = None, control_returns: np.ndarray | None = None,
                scores: np.ndarray | None = None, step: int | None = None) -> None:
        """Feed finished episodes: the task id each was played on, its normalised return (share of steps the
        goal held), optionally success flags (default: return >= ``high``), the control policy's return on the
        same task (paired episodes; NaN where none) and PLR scores (e.g. the episode's mean positive
        advantage; default: the learnability p(1 - p) of the success estimate, ours). ``step`` (default: the
        draw clock) is recorded as the tasks' last update."""
        unknown = [t for t in task_ids if t not in self._slot_of]
        if unknown:
            raise ValueError(f"CurriculumSampler.observe: task {unknown[0]} was not drawn by this sampler "
                             f"({len(unknown)} unknown of {len(task_ids)})")
        slots = np.array([self._slot_of[t] for t in task_ids], np.int64)
        self.stats.update(slots, np.asarray(returns, float), self.state.clock if step is None else step,
                          success=success, control_returns=control_returns, scores=scores, high=self.high)
        if scores is None:
            p = self.stats.success[slots]
            self.stats.score[slots] = p * (1.0 - p)
        self.curriculum.after_update(slots, self.stats, self.state)

    def observe_final(self, final: dict[str, Any], step: int | None = None) -> None:
        """Feed ``info["final"]`` of a ``BatchEnv`` step: each ended episode's normalised return, averaged over
        the task's active players (self-play: every slot plays the member's own policy)."""
        active = np.asarray(final["active"], bool)
        held = np.asarray(final["held_fraction"], float)
        returns = (held * active).sum(axis=1) / np.maximum(active.sum(axis=1), 1)
        self.observe(list(final["task_id"]), returns, step=step)

    # ------------------------------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """numpy arrays only (orbax- and npz-friendly): statistics, curriculum state, the drawn tasks' ids (as
        uint64) and slots, and identities checked on load (pool id, curriculum, seed)."""
        ids = np.array([int(t, 16) for t in self._slot_of], np.uint64)
        return {
            "pool_id": np.uint64(int(self.pool.id, 16)), "curriculum": np.int64(list(CURRICULA).index(self.curriculum.name)),
            "seed": np.int64(self.seed),
            "stats": self.stats.state_dict(), "state": self.state.state_dict(),
            "drawn_ids": ids, "drawn_slots": np.array(list(self._slot_of.values()), np.int64),
        }  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of a sampler over the same pool with the same curriculum and seed."""
        checks = (("pool_id", int(self.pool.id, 16)), ("curriculum", list(CURRICULA).index(self.curriculum.name)),
                  ("seed", self.seed))  # fmt: skip
        for name, expected in checks:
            if int(state[name]) != expected:
                shown = {"pool_id": lambda v: f"{v:016x}", "curriculum": lambda v: list(CURRICULA)[v]}.get(name, str)
                raise ValueError(f"CurriculumSampler.load_state_dict: checkpoint {name}={shown(int(state[name]))}, "
                                 f"this sampler {name}={shown(expected)}")
        self.stats.load_state_dict(state["stats"])
        self.state.load_state_dict(state["state"])
        ids = [f"{int(v):016x}" for v in np.asarray(state["drawn_ids"], np.uint64)]
        self._slot_of = dict(zip(ids, np.asarray(state["drawn_slots"], np.int64).tolist()))
