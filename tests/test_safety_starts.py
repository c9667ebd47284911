"""Shifted starts: player 0 moves to a free tile, reachable from its spawn without crossing a hazard, several tiles
away, facing a drawn heading; the same seed gives the same start, the rest of the task is unchanged, and the env
loads the shifted task with the player standing there."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from safety.starts import shift_start
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.tasks.families import sample_family_task, tile_distances
from worlds.tasks.walkability import WalkGraph


def test_shifted_start_is_free_safe_reachable_and_far() -> None:
    for seed in range(12):
        task = sample_family_task("safety", seed, held_out=True)
        shifted = shift_start(task, seed)
        assert shifted == shift_start(task, seed)  # deterministic
        old, new = task.world.spawns[0], shifted.world.spawns[0]
        graph = WalkGraph(task.world.terrain)
        dist = tile_distances(graph, (old.row, old.col), graph.hazard)
        assert dist[new.row, new.col] >= 3 and not graph.hazard[new.row, new.col] and not graph.ramp[new.row, new.col]
        assert all((o.row, o.col) != (new.row, new.col) for o in task.world.objects)
        assert dataclasses.replace(shifted.world, spawns=task.world.spawns) == task.world and shifted.game == task.game
    with pytest.raises(ValueError, match="min_distance=0"):
        shift_start(task, 0, min_distance=0)


def test_the_env_starts_the_player_on_the_shifted_tile() -> None:
    task = sample_family_task("safety", 3, held_out=True)
    shifted = shift_start(task, 3)
    env = BatchEnv(EnvConfig(num_envs=1, max_steps=5, autoreset=False))
    env.load_tasks([shifted])
    pos = env.poses()["player_pos"][0, 0]
    tile = env.config.physics.tile_size
    spawn = shifted.world.spawns[0]
    assert (int(np.floor(pos[1] / tile)), int(np.floor(pos[0] / tile))) == (spawn.row, spawn.col)
