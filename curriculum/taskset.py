"""``TaskSet``: an immutable, ordered, content-identified collection of tasks (XLand-MiniGrid's benchmark object
is the model: a fixed set of rulesets that is sampled, split, filtered and shipped as one file).

The set's id is a hash of its members' ids in order, so two sets with the same id hold the same tasks in the
same order, whatever produced them. A set never holds a task twice, so a split (a partition of positions) is
disjoint by construction.

File format (JSON lines, one file): line 1 is a header ``{"format": "openland.taskset", "version": 1, "id":
..., "count": n, "ids": [...], "name": ..., "source": {...}}``; lines 2..n+1 are ``{"id": ..., "task": ...}``.
``load`` recomputes every task's id and the set's id: a changed, reordered, truncated or extended file is an
error naming the line and the id; a file of another format version is refused with both versions named.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from worlds.tasks.codec import SpecError
from worlds.tasks.families import FamilyConfig, Split, default_config, family_task
from worlds.tasks.game import TaskGenConfig, TaskSpec, task_from_json, task_id, task_to_json

FORMAT = "openland.taskset"
FORMAT_VERSION = 1


class TaskSetFileError(ValueError):
    """A task-set file that cannot be trusted: the message names the file, the line and the id."""


def set_id(ids: Sequence[str]) -> str:
    """The content id of an ordered collection of task ids (16 hex digits)."""
    return hashlib.sha256(("openland-taskset:" + "\n".join(ids)).encode()).hexdigest()[:16]


class TaskSet:
    """An immutable ordered collection of distinct tasks with a content id. Build one from a family and a seed
    range (:meth:`from_family`), a list of tasks, or a file (:meth:`load`)."""

    __slots__ = ("_tasks", "_ids", "_index", "_id", "name", "source")

    def __init__(self, tasks: Sequence[TaskSpec], name: str = "", source: dict[str, Any] | None = None):
        if len(tasks) == 0:
            raise ValueError(f"TaskSet {name!r}: a task set needs at least one task, got none")
        self._tasks: tuple[TaskSpec, ...] = tuple(tasks)
        self._ids: tuple[str, ...] = tuple(task_id(t) for t in self._tasks)
        self._index: dict[str, int] = {}
        for i, tid in enumerate(self._ids):
            if tid in self._index:
                raise ValueError(f"TaskSet {name!r}: task {tid} appears twice (positions {self._index[tid]} and {i})")
            self._index[tid] = i
        self._id = set_id(self._ids)
        self.name = name
        """Free-form label (kept in the file, not part of the id)."""
        self.source = dict(source or {})
        """How the set was made (family, split, seeds), for reports; not part of the id."""

    # --------------------------------------------------------------------------------------- construction
    @classmethod
    def from_family(cls, family: str | FamilyConfig, seeds: Sequence[int] | range, split: Split = "train",
                    name: str = "") -> "TaskSet":
        """The tasks of ``seeds`` in ``family``'s ``split`` (seeds that land on a task already drawn are skipped,
        so the set may be shorter than ``seeds``)."""
        config = family if isinstance(family, FamilyConfig) else default_config(family)
        tasks: dict[str, TaskSpec] = {}
        for seed in seeds:
            task = family_task(config, int(seed), split)
            tasks.setdefault(task_id(task), task)
        seed_desc = [seeds.start, seeds.stop, seeds.step] if isinstance(seeds, range) else [int(s) for s in seeds]
        source = {"family": config.name, "split": split, "seeds": seed_desc}
        return cls(list(tasks.values()), name or f"{config.name}/{split}", source)

    @classmethod
    def from_generator(cls, config: TaskGenConfig, seeds: Sequence[int] | range, split: Split = "train",
                       name: str = "generated") -> "TaskSet":
        """The tasks of ``seeds`` drawn by a bare game generator config (a family of fixed player count, with
        the default held-out shares), in ``split``."""
        return cls.from_family(FamilyConfig.from_generator(name, config), seeds, split, name)

    # ------------------------------------------------------------------------------------------- access
    @property
    def id(self) -> str:
        """Content id: a hash of the member ids in order."""
        return self._id

    @property
    def ids(self) -> tuple[str, ...]:
        return self._ids

    @property
    def tasks(self) -> tuple[TaskSpec, ...]:
        return self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[TaskSpec]:
        return iter(self._tasks)

    def __getitem__(self, i: int) -> TaskSpec:
        return self._tasks[i]

    def __contains__(self, tid: object) -> bool:
        return tid in self._index

    def index(self, tid: str) -> int:
        """Position of the task with id ``tid``; KeyError naming it if absent."""
        try:
            return self._index[tid]
        except KeyError:
            raise KeyError(f"task {tid} is not in task set {self._id} ({self.name!r})") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TaskSet) and other._id == self._id

    def __hash__(self) -> int:
        return hash(self._id)

    def __repr__(self) -> str:
        return f"TaskSet(id={self._id}, name={self.name!r}, tasks={len(self)})"

    # ------------------------------------------------------------------------------------------ algebra
    def sample(self, rng: np.random.Generator, n: int, replace: bool = True) -> list[TaskSpec]:
        """``n`` tasks drawn uniformly with ``rng`` (with replacement unless ``replace=False``)."""
        if n < 0 or (not replace and n > len(self)):
            raise ValueError(f"sample: n={n} must be in 0..{len(self) if not replace else 'inf'} for {self!r}")
        return [self._tasks[i] for i in rng.choice(len(self), size=n, replace=replace)]

    def subset(self, positions: Sequence[int], name: str = "") -> "TaskSet":
        """The tasks at ``positions``, in that order."""
        return TaskSet([self._tasks[int(i)] for i in positions], name or self.name, {**self.source, "parent": self._id})

    def split(self, fraction: float, seed: int, names: tuple[str, str] = ("", "")) -> tuple["TaskSet", "TaskSet"]:
        """A random partition (by ``seed``) into a first set of ``round(fraction * len)`` tasks and the rest. The
        two are disjoint by construction: they partition the positions of a set that holds no task twice."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"split: fraction={fraction!r} must be in (0, 1)")
        k = int(round(fraction * len(self)))
        if not 0 < k < len(self):
            raise ValueError(f"split: fraction={fraction} of {len(self)} tasks leaves one side empty")
        order = np.random.default_rng(seed).permutation(len(self))
        first, second = np.sort(order[:k]), np.sort(order[k:])
        return (self.subset(first, names[0] or f"{self.name}[{fraction}]"),
                self.subset(second, names[1] or f"{self.name}[{1 - fraction:g}]"))  # fmt: skip

    def filter(self, predicate: Callable[[TaskSpec], bool], name: str = "") -> "TaskSet":
        """The tasks for which ``predicate`` holds, in order (an empty result is an error: no empty sets)."""
        kept = [i for i, t in enumerate(self._tasks) if predicate(t)]
        if not kept:
            raise ValueError(f"filter: no task of {self!r} satisfies the predicate")
        return self.subset(kept, name)

    def describe(self) -> dict[str, Any]:
        """Counts over the set: game kind, players, options per goal, predicates per option, relations,
        negated literals per goal, world size (rows x cols)."""
        kinds, players, options, predicates, relations, negations, sizes = (Counter() for _ in range(7))
        for task in self._tasks:
            kinds[task.game.kind] += 1
            players[len(task.world.spawns)] += 1
            sizes[f"{task.world.terrain.rows}x{task.world.terrain.cols}"] += 1
            for goal in task.game.goals:
                options[len(goal.options)] += 1
                negations[sum(p.negated for o in goal.options for p in o)] += 1
                for option in goal.options:
                    predicates[len(option)] += 1
                    relations.update(p.relation for p in option)
        as_dict = lambda c: dict(sorted(c.items()))  # noqa: E731
        return {
            "id": self._id, "name": self.name, "tasks": len(self), "game_kind": as_dict(kinds),
            "players": as_dict(players), "options_per_goal": as_dict(options),
            "predicates_per_option": as_dict(predicates), "relations": as_dict(relations),
            "negations_per_goal": as_dict(negations), "world_size": as_dict(sizes),
        }  # fmt: skip

    # ------------------------------------------------------------------------------------------ file io
    def save(self, path: str | Path) -> Path:
        """Write the set as one JSON-lines file (atomically: a temporary file renamed over ``path``)."""
        path = Path(path)
        header = {"format": FORMAT, "version": FORMAT_VERSION, "id": self._id, "count": len(self),
                  "name": self.name, "source": self.source, "ids": list(self._ids)}  # fmt: skip
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(header, sort_keys=True) + "\n")
            for tid, task in zip(self._ids, self._tasks):
                f.write('{"id":"%s","task":%s}\n' % (tid, task_to_json(task)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "TaskSet":
        """Read a file written by :meth:`save`, checking every id (see the module docstring)."""
        path = Path(path)
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()

        def fail(line: int, message: str) -> TaskSetFileError:
            return TaskSetFileError(f"{path}: line {line}: {message}")

        try:
            header = json.loads(lines[0]) if lines else None
        except json.JSONDecodeError as err:
            raise fail(1, f"header is not JSON ({err.msg})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise fail(1, f"not an openland task-set file (expected a header with format {FORMAT!r})")
        if header.get("version") != FORMAT_VERSION:
            raise fail(1, f"task-set format version {header.get('version')!r}; this openland reads version {FORMAT_VERSION}")
        ids = header.get("ids")
        if not isinstance(ids, list) or len(ids) != header.get("count") or not all(isinstance(i, str) for i in ids):
            raise fail(1, f"header's ids do not match its count {header.get('count')!r}")
        tasks = []
        for k, tid in enumerate(ids):
            line = k + 2
            if line > len(lines):
                raise fail(line, f"missing task {tid}: the file is truncated (header lists {len(ids)} tasks, the file "
                                 f"holds {len(lines) - 1})")
            try:
                entry = json.loads(lines[line - 1])
                stored, text = entry["id"], json.dumps(entry["task"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise fail(line, f"task {tid}: not a valid task line (truncated or edited)") from None
            if stored != tid:
                raise fail(line, f"task id {stored!r} where the header lists {tid} (lines reordered or edited)")
            try:
                task = task_from_json(text)
            except SpecError as err:
                raise fail(line, f"task {tid}: {err}") from None
            actual = task_id(task)
            if actual != tid:
                raise fail(line, f"task {tid}: its content hashes to {actual}: the task was changed")
            tasks.append(task)
        if len(lines) > len(ids) + 1:
            raise fail(len(ids) + 2, f"unexpected extra line after the {len(ids)} tasks of set {header.get('id')}")
        result = cls(tasks, str(header.get("name", "")), header.get("source") or {})
        if result.id != header.get("id"):
            raise fail(1, f"set id {header.get('id')!r} in the header, but the tasks hash to {result.id}")
        return result


def held_out_sets(family: str | FamilyConfig, count: int, seed: int = 12345) -> dict[str, TaskSet]:
    """The two evaluation sets of a family, reported separately: ``held_out_world`` (training games in unseen
    worlds) and ``held_out_game`` (game structures training never samples), ``count`` seeds each from ``seed``.
    A family with no held-out game structure (e.g. "hold") gets only the world set."""
    sets = {"held_out_world": TaskSet.from_family(family, range(seed, seed + count), "held_out_world")}
    try:
        sets["held_out_game"] = TaskSet.from_family(family, range(seed, seed + count), "held_out_game")
    except ValueError as err:
        if "has no 'held_out_game' tasks" not in str(err):
            raise
    return sets
