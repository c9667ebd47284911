"""Counting unsafe events and success of a policy on real tasks: the hazard-avoiding expert has none and
succeeds; the counts equal the env's own per-step flags, and the expert that ignores hazards is caught on them."""

from __future__ import annotations

import numpy as np
import pytest

from safety import demonstrations as demos
from safety.evaluation import run_episodes
from worlds.envs.batch_env import EnvConfig
from worlds.experts.scripted import ScriptedPolicy

CONFIG = EnvConfig(num_envs=3, max_steps=40, autoreset=False)


def test_expert_is_safe_and_succeeds() -> None:
    tasks = demos.family_tasks("near", 3, seed=11)
    stats = run_episodes(tasks, lambda env: ScriptedPolicy(env, avoid_hazards=True).act, CONFIG)
    s = stats.summary()
    assert s["episodes"] == 3 and (stats.length == 40).all()
    assert s["unsafe_per_episode"] == 0.0 and s["success"] >= 2 / 3 and s["goal_return"] > 0


def test_counts_are_the_envs_flags_and_tell_the_careless_expert_apart() -> None:
    tasks = demos.family_tasks("safety", 4, seed=0)  # a hazard band across the short way to the goal
    seen = {"hazard": 0, "fell": 0, "steps": 0}

    def careless(env):
        step = env.step

        def counting_step(actions):  # the same env call, tallied independently
            out = step(actions)
            seen["hazard"] += int(out[4]["hazard"][:, 0].sum())
            seen["fell"] += int(out[4]["fell"][:, 0].sum())
            seen["steps"] += env.num_envs
            return out

        env.step = counting_step
        return ScriptedPolicy(env, avoid_hazards=False).act

    config = EnvConfig(num_envs=2, max_steps=60, autoreset=False)
    stats = run_episodes(tasks, careless, config)
    assert len(stats.task_id) == 4 and stats.length.sum() == 4 * 60 == seen["steps"]
    assert stats.hazard.sum() == seen["hazard"] and stats.fall.sum() == seen["fell"]
    assert stats.hazard.sum() > 0, seen  # the expert that ignores hazards walks over one here
    s = stats.summary()
    assert s["unsafe_per_1000_steps"] == pytest.approx(1000 * (stats.hazard.sum() + stats.fall.sum()) / 240)
    careful = run_episodes(tasks, lambda env: ScriptedPolicy(env, avoid_hazards=True).act, config)
    assert careful.summary()["unsafe_per_episode"] == 0.0
    with pytest.raises(ValueError, match="autoreset must be False"):
        run_episodes(tasks, careless, EnvConfig(num_envs=2))


def test_shifted_starts_avoid_demonstrated_tiles_and_keep_a_safe_way() -> None:
    from safety.evaluation import goal_object_tile, shifted_start, visited_tiles
    from worlds.tasks.families import tile_distances
    from worlds.tasks.walkability import WalkGraph

    tasks = demos.family_tasks("safety", 3, seed=4)
    visited = visited_tiles(np.array([[0, 0], [1, 1], [2, 3], [-1, 5], [40, 2]]))  # off-grid tiles ignored
    assert visited.sum() == 3 and visited[2, 3]
    for i, task in enumerate(tasks):
        moved = shifted_start(task, visited, seed=i)
        assert moved is not None and moved == shifted_start(task, visited, seed=i)  # seeded
        s0, s1 = task.world.spawns[0], moved.world.spawns[0]
        assert (s0.row, s0.col) != (s1.row, s1.col) and not visited[s1.row, s1.col]
        assert moved.world.objects == task.world.objects and moved.world.terrain == task.world.terrain
        graph = WalkGraph(moved.world.terrain)
        target = goal_object_tile(moved)
        assert not graph.hazard[s1.row, s1.col] and abs(s1.row - target[0]) + abs(s1.col - target[1]) >= 3
        assert tile_distances(graph, (s1.row, s1.col), graph.hazard)[target] >= 0  # a hazard-free way exists
    every = np.ones((16, 16), bool)  # everything demonstrated: still a start, from the tiles that qualify
    assert shifted_start(tasks[0], every, seed=0) is not None
    stats = run_episodes([shifted_start(t, visited, seed=0) for t in tasks[:2]],
                         lambda env: ScriptedPolicy(env, avoid_hazards=True).act, EnvConfig(num_envs=2, max_steps=5, autoreset=False))
    assert len(stats.task_id) == 2  # the env loads the moved tasks


def test_the_env_starts_the_player_on_the_shifted_tile() -> None:
    from safety.evaluation import shifted_start
    from worlds.envs.batch_env import BatchEnv
    from worlds.tasks.families import sample_family_task

    task = sample_family_task("safety", 3, held_out=True)
    shifted = shifted_start(task, None, 3)
    assert shifted is not None and shifted.world.spawns[0] != task.world.spawns[0]
    env = BatchEnv(EnvConfig(num_envs=1, max_steps=5, autoreset=False))
    env.load_tasks([shifted])
    pos = env.poses()["player_pos"][0, 0]
    tile = env.config.physics.tile_size
    spawn = shifted.world.spawns[0]
    assert (int(np.floor(pos[1] / tile)), int(np.floor(pos[0] / tile))) == (spawn.row, spawn.col)
