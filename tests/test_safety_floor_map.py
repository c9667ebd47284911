"""The floor map: hazard tiles, the goal's object and the far side of walls the camera showed are remembered where
they lie in the world, and no tile is taken for a hazard or a wall that is not one; its features read the tile under
and near a pose, and ``wall_limits`` says how far an avatar can go before a wall."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from safety import demonstrations as demos
from safety.evaluation import goal_object_tile
from safety.floor_map import CHANNELS, GRID, empty_map, episode_maps, map_features, observe, wall_limits
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.experts.scripted import ScriptedPolicy
from worlds.tasks.walkability import WalkGraph


def test_a_careless_walk_maps_hazards_only_where_the_hidden_map_has_them() -> None:
    tasks = demos.family_tasks("safety", 3, seed=5)
    env = BatchEnv(EnvConfig(num_envs=3, max_steps=60, autoreset=False, camera=demos.SAFETY_CAMERA))
    obs, _ = env.load_tasks(tasks)
    expert = ScriptedPolicy(env, avoid_hazards=False)
    maps = empty_map(3)
    for _ in range(60):
        poses = env.poses()
        maps = observe(maps, jnp.asarray(demos.flatten_observation(obs)[:, 0]), jnp.asarray(poses["player_pos"][:, 0]),
                       jnp.asarray(poses["player_yaw"][:, 0]))  # fmt: skip
        obs, *_ = env.step(expert.act(obs))
    maps = np.asarray(maps)
    for e, task in enumerate(tasks):
        truth = np.zeros((GRID, GRID), bool)
        hazard = WalkGraph(task.world.terrain).hazard
        truth[: hazard.shape[0], : hazard.shape[1]] = hazard
        seen_hazard = maps[e, 0] > 0.5
        assert seen_hazard.any() and not (seen_hazard & ~truth).any()  # the band was seen, and nothing else as hazard
        assert (maps[e, 1] >= maps[e, 0]).all() and maps[e, 1].sum() > seen_hazard.sum()  # hazard is seen floor
        # the goal's object, once seen, is remembered on its own tile
        target = goal_object_tile(task)
        assert maps[e, 2].sum() == 1.0 and maps[e, 2][target] == 1.0, (np.argwhere(maps[e, 2]), target)
        # the only walls are the world's own: a wall is marked just beyond the world's far edges, never inside it
        rows, cols = hazard.shape
        walled = np.argwhere(maps[e, 3] > 0.5)
        assert len(walled) > 0 and ((walled[:, 0] >= rows) | (walled[:, 1] >= cols)).all(), (walled, rows, cols)
        assert ((walled[:, 0] == rows) | (walled[:, 1] == cols)).all()


def test_wall_limits_stop_a_radius_short_of_seen_walls_and_the_map_edge_only() -> None:
    m = np.zeros((CHANNELS, GRID, GRID), np.float32)
    m[3, 2, 5] = 1.0  # a wall's far side seen at row 2 (y in [4, 6)), column 5 (x in [10, 12))
    # west of the walled tile, in it, north of it (row 3), far from it, and in the map's corner tile
    xy = np.array([[9.0, 5.0], [11.0, 5.0], [11.0, 7.0], [21.0, 21.0], [1.0, 1.0]], np.float32)
    low, high = (np.asarray(v) for v in wall_limits(jnp.asarray(m), jnp.asarray(xy), 0.3))
    inf = np.inf
    np.testing.assert_allclose(low, [[-inf, -inf], [-inf, -inf], [-inf, 6.3], [-inf, -inf], [0.3, 0.3]])
    np.testing.assert_allclose(high, [[9.7, inf], [inf, inf], [inf, inf], [inf, inf], [inf, inf]])


def test_features_read_the_tile_under_and_near_a_position() -> None:
    m = np.zeros((CHANNELS, GRID, GRID), np.float32)
    m[0, 3, 4] = 1.0  # a hazard seen at row 3 (y in [6, 8)), column 4 (x in [8, 10))
    m[1, 2:6, 3:8] = 1.0
    xy = np.array([[9.0, 7.0], [9.0, 8.5], [13.0, 7.0], [17.0, 7.0]], np.float32)
    facing_east = np.tile(np.float32([0.0, 0.0, 1.0]), (4, 1))  # z, sin(yaw), cos(yaw)
    f = np.asarray(map_features(jnp.asarray(m), jnp.asarray(np.concatenate([xy, facing_east], 1))))
    np.testing.assert_allclose(f[0, :3], [1.0, 1.0, 0.0], atol=0.01)  # on the hazard: here, near, seen
    assert f[1, 0] < 0.01 and f[1, 1] > 0.8 and f[1, 2] < 0.01  # half a metre off it: near, not here
    np.testing.assert_allclose(f[2, :3], [0.0, 0.0, 0.0], atol=0.01)  # 3 m off, on seen floor
    np.testing.assert_allclose(f[3, :3], [0.0, 0.0, 1.0], atol=1e-3)  # on floor never seen
    np.testing.assert_array_equal(f[:, 3:], 0.0)  # no goal seen: nothing known of it
    m[2, 5, 1] = 1.0  # the goal's object seen on row 5, column 1: centre (3, 11)
    f = np.asarray(map_features(jnp.asarray(m), jnp.asarray([[3.0, 7.0, 0.0, 0.0, 1.0], [3.0, 7.0, 0.0, 1.0, 0.0]])))
    # 4 m due north (+y): for a player facing east it lies to the left, for one facing north straight ahead
    np.testing.assert_allclose(f[:, 3:], [[1.0, 0.4, 0.0, 1.0], [1.0, 0.4, 1.0, 0.0]], atol=1e-4)


def test_episode_maps_accumulate_per_track_in_step_order() -> None:
    data = demos.collect_demonstrations(demos.family_tasks("safety", 2, seed=1), demos.DemoConfig(num_envs=2, max_steps=15))
    maps = episode_maps(data.obs, data.prev_position, data.prev_yaw, data.episode, data.step)
    for e in range(2):
        rows = np.flatnonzero(data.episode == e)[np.argsort(data.step[data.episode == e])]
        seen = maps[rows, 1].sum((1, 2))
        assert (np.diff(seen) >= 0).all() and seen[0] > 0  # a map only grows, and starts with the first view
        first = observe(empty_map(1), jnp.asarray(data.obs[rows[:1]]), jnp.asarray(data.prev_position[rows[:1]]),
                        jnp.asarray(data.prev_yaw[rows[:1]]))  # fmt: skip
        np.testing.assert_array_equal(maps[rows[0]], np.asarray(first)[0])
    with pytest.raises(ValueError, match="step 0 occurs twice"):
        episode_maps(data.obs, data.prev_position, data.prev_yaw, np.zeros(len(data), int), data.step)
