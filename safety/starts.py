"""Shifted start states: the same task, the player starting somewhere the demonstrations never started.

ReQueST evaluates its agent in a test environment whose initial-state distribution differs from the training one
(the demonstrations, the queries and the reward model only ever saw the training starts), because a reward model
that merely memorised "what the expert did from there" fails exactly then. ``shift_start`` moves player 0 of a
task to another tile of the same world, facing a random heading:

- a free tile (no object, spawn, ramp or hazard: what ``worlds.tasks.spec.validate_world`` allows);
- reachable from the original spawn *without crossing a hazard* (so the safe detour still exists: an unsafe event
  from there is the agent's, not the task's);
- at least ``min_distance`` walking tiles (hazard-free walking) from the original spawn, the farthest such tiles
  first when none is that far.

Deterministic: the tile and heading are drawn from ``seed``. The goal, terrain and objects are unchanged.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from worlds.tasks.families import tile_distances
from worlds.tasks.game import TaskSpec, validate_task
from worlds.tasks.spec import Spawn
from worlds.tasks.walkability import WalkGraph


def shift_start(task: TaskSpec, seed: int, min_distance: int = 3) -> TaskSpec:
    """``task`` with player 0 moved to a free, hazard-free-reachable tile ``min_distance`` or more tiles from its
    spawn (see the module docstring). Raises ``ValueError`` naming the task when the world has no other free
    tile reachable without crossing a hazard."""
    if min_distance < 1:
        raise ValueError(f"shift_start: min_distance={min_distance!r} must be at least 1")
    world = task.world
    graph = WalkGraph(world.terrain)
    spawn = world.spawns[0]
    dist = tile_distances(graph, (spawn.row, spawn.col), graph.hazard)
    free = (dist > 0) & ~graph.hazard & ~graph.ramp
    for other in (*world.objects, *world.spawns):
        free[other.row, other.col] = False
    if not free.any():
        raise ValueError(f"shift_start: the world of task ({len(world.spawns)} players, spawn at ({spawn.row}, "
                         f"{spawn.col})) has no other free tile reachable without crossing a hazard")  # fmt: skip
    far = free & (dist >= min_distance)
    candidates = np.argwhere(far if far.any() else free & (dist == dist[free].max()))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 17]))
    row, col = (int(v) for v in candidates[int(rng.integers(len(candidates)))])
    yaw = float(rng.uniform(-math.pi, math.pi))
    shifted = dataclasses.replace(world, spawns=(Spawn(row, col, yaw), *world.spawns[1:]))
    out = dataclasses.replace(task, world=shifted)
    validate_task(out)
    return out
