"""BatchEnv on the real MuJoCo: spaces, determinism, rewards from predicates, auto-reset, bad actions, unsafe
flags, instability handling and exact resume."""

from __future__ import annotations

import numpy as np
import pytest

from tests._game_worlds import small_world
from tests.worlds_fixtures import flat_world
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.sim.observations import N_CATEGORIES
from worlds.sim.template import CAT_FLOOR, CAT_HAZARD, CAT_OBJECT
from worlds.tasks.game import GameSpec, Goal, Predicate, TaskSpec, floor_ref, object_ref, player_ref
from worlds.tasks.spec import COLOUR_INDEX, Cell, ObjectSpec, Spawn

NOOP = np.array([1, 1, 1, 0, 0])


def one_goal_task(world, predicate: Predicate) -> TaskSpec:
    goals = tuple(Goal(((predicate,),)) for _ in world.spawns)
    return TaskSpec(world, GameSpec(goals, "single" if len(goals) == 1 else "cooperative"))


def random_actions(env: BatchEnv, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, env.single_action_space.nvec, size=(env.num_envs, env.num_players, 5))


@pytest.fixture(scope="module")
def env2() -> BatchEnv:
    return BatchEnv(EnvConfig(num_envs=3, num_players=2, max_steps=40))


def test_observations_are_in_the_declared_spaces(env2):
    obs, info = env2.reset(seed=1)
    for e in range(env2.num_envs):
        for p in range(env2.num_players):
            assert env2.single_observation_space.contains({k: v[e, p] for k, v in obs.items()})
    assert len(info["task_id"]) == 3 and info["active"].shape == (3, 2)
    # every ray reports something in a walled world: a distance below the range and a category
    rays = obs["rays"][info["active"]]
    assert (rays[..., 0] < 1.0).all() and (rays[..., 1 : 1 + N_CATEGORIES].sum(-1) == 1).all()


def test_same_seed_same_episode_different_seed_different_tasks():
    def run(seed):
        env = BatchEnv(EnvConfig(num_envs=2, num_players=2, max_steps=30))
        obs, info = env.reset(seed=seed)
        rng = np.random.default_rng(7)
        trace = [obs["rays"].copy()]
        for _ in range(35):
            obs, r, term, trunc, _ = env.step(random_actions(env, rng))
            trace += [obs["rays"].copy(), obs["proprio"].copy(), r.copy()]
        return info["task_id"], trace

    ids_a, a = run(3)
    ids_b, b = run(3)
    ids_c, _ = run(4)
    assert ids_a == ids_b and ids_a != ids_c
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_reward_follows_the_goal_predicate():
    world = flat_world(colour="blue")
    env = BatchEnv(EnvConfig(num_envs=2, num_players=1, max_steps=50))
    holds = one_goal_task(world, Predicate("on", player_ref(0), floor_ref("blue")))
    never = one_goal_task(world, Predicate("on", player_ref(0), floor_ref("blue"), negated=True))
    env.load_tasks([holds, never])
    obs, reward, *_ , info = env.step(np.tile(NOOP, (2, 1, 1)))
    for _ in range(10):
        obs, reward, _, _, info = env.step(np.tile(NOOP, (2, 1, 1)))
    assert reward[0, 0] == 1.0 and reward[1, 0] == 0.0
    assert info["truth"][0, 0, 0, 0] and not info["truth"][1, 0, 0, 0]
    # goal tokens: one real predicate row, negated column says so
    assert obs["goal"][0, 0, 0, 0] == 1 and obs["goal"][0, 0, 0, 2] == 2  # option 1, relation 'on'
    assert obs["goal"][0, 0, 0, 1] == 1 and obs["goal"][1, 0, 0, 1] == 2  # positive, negated
    assert (obs["goal"][:, 0, 1:] == 0).all()


def test_walking_to_an_object_makes_near_true():
    world = flat_world(objects=(ObjectSpec("cube", "red", 1, 5),), spawns=(Spawn(1, 1, 0.0),))
    env = BatchEnv(EnvConfig(num_envs=1, num_players=1, max_steps=200))
    env.load_tasks([one_goal_task(world, Predicate("near", player_ref(0), object_ref("cube", "red")))])
    # the auxiliary target: the cube is straight ahead (+x, the spawn's heading), valid
    np.testing.assert_allclose(env.goal_direction()[0, 0], [1.0, 0.0, 1.0], atol=1e-3)
    forward = np.array([[[2, 1, 1, 0, 0]]])
    rewards, seen = [], []
    for _ in range(60):
        obs, r, _, _, info = env.step(forward)
        rewards.append(r[0, 0])
        seen.append(env.entity_state().seen[0, 0, 4])
    assert rewards[0] == 0.0 and max(rewards) == 1.0
    assert seen[0], "the red cube straight ahead is seen by the ray camera"
    # the first observation's centre ray of the knee-high row reports a red object
    centre = env.config.camera.row_starts()[0] + int(np.argmin(np.abs(env.config.camera.azimuths()[: env.config.camera.rays_per_row[0]])))
    colour0 = 1 + N_CATEGORIES
    ray = obs["rays"][0, 0, centre]
    assert ray[1 + CAT_OBJECT] == 1.0 and ray[colour0 + COLOUR_INDEX["red"]] == 1.0


def test_time_limit_auto_resets_with_final_figures(env2):
    env2.reset(seed=5)
    first = list(env2.task_ids)
    rng = np.random.default_rng(0)
    for t in range(40):
        obs, r, term, trunc, info = env2.step(random_actions(env2, rng))
        if t < 39:
            assert not trunc.any() and "final" not in info
    assert trunc.all() and not term.any()
    final = info["final"]
    assert list(final["env"]) == [0, 1, 2] and (final["length"] == 40).all()
    assert final["return"].shape == (3, 2) and ((final["held_fraction"] >= 0) & (final["held_fraction"] <= 1)).all()
    np.testing.assert_array_equal(final["success"], r > 0)
    assert env2.task_ids != first  # new tasks drawn
    assert (obs["proprio"][..., 7][info["active"]] == 1.0).all()  # fresh episodes: all time left


def test_bad_actions_name_env_player_and_value(env2):
    env2.reset(seed=0)
    good = np.tile(NOOP, (3, 2, 1))
    with pytest.raises(ValueError, match=r"expected shape \(3, 2, 5\)"):
        env2.step(good[:, :1])
    with pytest.raises(ValueError, match="must be integers"):
        env2.step(good.astype(np.float32))
    bad = good.copy()
    bad[2, 1, 2] = 3
    with pytest.raises(ValueError, match=r"env 2, player 1, 'turn'\]: 3 is outside 0..2"):
        env2.step(bad)
    cont = BatchEnv(EnvConfig(num_envs=2, num_players=1, action_type="continuous", max_steps=10))
    cont.reset(seed=0)
    a = np.zeros((2, 1, 5), dtype=np.float32)
    a[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"env 1, player 0, 'forward'\]: nan is not finite"):
        cont.step(a)
    a[1, 0, 0] = 1.5
    with pytest.raises(ValueError, match=r"1.5 is outside \[-1, 1\]"):
        cont.step(a)


def test_step_before_reset_is_an_error():
    env = BatchEnv(EnvConfig(num_envs=1, num_players=1))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.tile(NOOP, (1, 1, 1)))


def _ray_hits_xy(env: BatchEnv, obs: dict) -> np.ndarray:
    """[R, 2] where each ray of env 0's player 0 hit, in world x/y (from the observed distance)."""
    cam = env.config.camera
    d = obs["rays"][0, 0, :, 0] * cam.max_distance
    local = cam.local_directions()
    yaw = float(env.avatar_yaw[0, 0])
    c, s = np.cos(yaw), np.sin(yaw)
    world = np.stack([c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1]], 1)
    return env.avatar_pos[0, 0, :2] + d[:, None] * world


def test_hazard_in_front_is_seen_as_hazard_and_floor_is_not():
    """A hazard ahead shows as the hazard category (keeping its floor colour) in exactly the rays that hit a
    hazard tile; the same rays in the same world without hazards see floor. The per-step unsafe flag is kept."""
    world = flat_world(spawns=(Spawn(1, 1, 0.0),), hazards=(Cell(1, 2), Cell(1, 3), Cell(2, 2)))
    safe = flat_world(spawns=(Spawn(1, 1, 0.0),))
    env = BatchEnv(EnvConfig(num_envs=2, num_players=1, max_steps=100))
    goal = Predicate("on", player_ref(0), floor_ref("grey"))
    env.load_tasks([one_goal_task(world, goal), one_goal_task(safe, goal)])
    # one step forward: the down-pitched row (about 1 m ahead) now reaches over the edge of the spawn tile
    obs, _, _, _, info = env.step(np.tile(np.array([2, 1, 1, 0, 0]), (2, 1, 1)))
    assert not info["unsafe"].any()
    cat = obs["rays"][..., 1 : 1 + N_CATEGORIES].argmax(-1)  # [E, P, R]
    cam = env.config.camera
    row1 = cam.row_starts()[1]
    centre = row1 + int(np.argmin(np.abs(cam.azimuths()[row1:])))
    assert cat[0, 0, centre] == CAT_HAZARD and cat[1, 0, centre] == CAT_FLOOR
    assert obs["rays"][0, 0, centre, 1 + N_CATEGORIES + COLOUR_INDEX["grey"]] == 1.0  # its floor colour stays
    # every ray that hit the ground: hazard category exactly where the hit point lies on a hazard tile
    ts = env.config.physics.tile_size
    xy = _ray_hits_xy(env, {"rays": obs["rays"][:1]})
    ground = (cat[0, 0] == CAT_HAZARD) | (cat[0, 0] == CAT_FLOOR)
    frac = xy / ts - np.floor(xy / ts)
    clear = ground & (np.abs(frac - 0.5) < 0.49).all(1)  # not on a tile border
    tiles = {(1, 2), (1, 3), (2, 2)}
    on_hazard = np.array([(int(y // ts), int(x // ts)) in tiles for x, y in xy])
    assert clear.sum() >= 10 and (cat[0, 0] == CAT_HAZARD).sum() >= 3 and (cat[0, 0] == CAT_FLOOR).sum() >= 3
    np.testing.assert_array_equal(cat[0, 0][clear] == CAT_HAZARD, on_hazard[clear])
    assert not (cat[1, 0] == CAT_HAZARD).any()  # no hazard anywhere in the safe world's view
    # walking on over the hazards is flagged unsafe in that world only, as before
    unsafe = np.zeros(2, dtype=int)
    for _ in range(40):
        _, _, _, _, info = env.step(np.tile(np.array([2, 1, 1, 0, 0]), (2, 1, 1)))
        unsafe += info["unsafe"][:, 0]
    assert unsafe[0] > 0 and unsafe[1] == 0


def test_goal_reward_is_unchanged_by_hazards_off_the_path():
    """Hazards stay out of the goal reward: the same task with and without hazard tiles (none on the player's
    path) gives the same rewards and predicate truths for the same actions, and no unsafe step."""
    cube = (ObjectSpec("cube", "red", 1, 5),)
    hazards = tuple(Cell(r, c) for r in (4, 5) for c in range(1, 7)) + (Cell(6, 7),)
    world = flat_world(objects=cube, spawns=(Spawn(1, 1, 0.0),), hazards=hazards)
    safe = flat_world(objects=cube, spawns=(Spawn(1, 1, 0.0),))
    env = BatchEnv(EnvConfig(num_envs=2, num_players=1, max_steps=200))
    goal = Predicate("near", player_ref(0), object_ref("cube", "red"))
    env.load_tasks([one_goal_task(world, goal), one_goal_task(safe, goal)])
    rewards = []
    for t in range(60):
        turn = 0 if 30 <= t < 34 else 1  # forward to the cube, a short turn, on again
        obs, r, term, trunc, info = env.step(np.tile(np.array([2, 1, turn, 0, 0]), (2, 1, 1)))
        assert not info["unsafe"].any()
        rewards.append(r[:, 0].copy())
    rewards = np.array(rewards)
    assert rewards[:, 0].max() == 1.0 and rewards[0, 0] == 0.0
    np.testing.assert_array_equal(rewards[:, 0], rewards[:, 1])


def test_unstable_env_ends_alone():
    env = BatchEnv(EnvConfig(num_envs=2, num_players=1, max_steps=100))
    env.reset(seed=2)
    noop = np.tile(NOOP, (2, 1, 1))
    env.step(noop)
    other_task = env.task_ids[1]
    env.world.qvel[0] = np.nan  # MuJoCo resets such a state silently; the env must notice and end the episode
    obs, r, term, trunc, info = env.step(noop)
    assert term[0] and not term[1] and info["unstable"][0] and r[0, 0] == 0.0
    assert list(info["final"]["env"]) == [0]
    assert env.task_ids[1] == other_task and env.episode_steps[1] == 2 and env.episode_steps[0] == 0
    assert np.isfinite(obs["proprio"]).all() and np.isfinite(env.world.qpos[0]).all()


def test_get_state_set_state_continues_exactly():
    cfg = EnvConfig(num_envs=2, num_players=2, max_steps=25)
    env = BatchEnv(cfg)
    env.reset(seed=11)
    rng = np.random.default_rng(3)
    for _ in range(15):
        env.step(random_actions(env, rng))
    state = env.get_state()
    actions = [random_actions(env, rng) for _ in range(30)]  # crosses an auto-reset
    straight = [env.step(a) for a in actions]
    resumed = BatchEnv(cfg)
    resumed.set_state(state)
    again = [resumed.step(a) for a in actions]
    for (o1, r1, t1, u1, _), (o2, r2, t2, u2, _) in zip(straight, again):
        for k in o1:
            np.testing.assert_array_equal(o1[k], o2[k])
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(u1, u2)
    assert resumed.task_ids == env.task_ids


def test_fewer_players_than_slots_are_inactive():
    env = BatchEnv(EnvConfig(num_envs=1, num_players=3, max_steps=20))
    task = one_goal_task(small_world(n_players=2), Predicate("on", player_ref(0), floor_ref("red")))
    obs, info = env.load_tasks([task])
    assert info["active"].tolist() == [[True, True, False]]
    assert (obs["rays"][0, 2] == 0).all() and (obs["goal"][0, 2] == 0).all()
    _, r, _, _, _ = env.step(np.tile(NOOP, (1, 3, 1)))
    assert r[0, 2] == 0.0


def test_optional_rgb_is_a_first_person_view():
    env = BatchEnv(EnvConfig(num_envs=1, num_players=1, rgb=(48, 64)))
    world = flat_world(objects=(ObjectSpec("cube", "red", 1, 4),), spawns=(Spawn(1, 1, 0.0),))
    obs, _ = env.load_tasks([one_goal_task(world, Predicate("near", player_ref(0), object_ref("cube", "red")))])
    assert env.single_observation_space.contains({k: v[0, 0] for k, v in obs.items()})
    img = obs["rgb"][0, 0].astype(int)
    red = (img[..., 0] > 150) & (img[..., 1] < 80) & (img[..., 2] < 80)
    cols = np.flatnonzero(red.any(axis=0))
    assert red.sum() > 4 and abs(cols.mean() - 32) < 8  # the red cube straight ahead, in the middle
    # turning clockwise moves it to the left of the picture, step by step, while it is still in view
    centres = []
    for _ in range(6):
        obs, *_ = env.step(np.array([[[1, 1, 0, 0, 0]]]))
        red = (obs["rgb"][0, 0, ..., 0] > 150) & (obs["rgb"][0, 0, ..., 1] < 80)
        if not red.any():
            break
        centres.append(np.flatnonzero(red.any(axis=0)).mean())
    # seen after turning (so the comparison is not vacuous), further left each step, and out of view in the end
    assert centres and centres[0] < cols.mean() - 2, (cols.mean(), centres)
    assert all(b < a for a, b in zip(centres, centres[1:])) and len(centres) < 6, centres


def test_read_only_state_is_the_envs_own_and_cannot_be_written(env2):
    """The public state the scripted expert reads: the same values as the poses and infos, views that follow
    the env after a step, and a write through any of them is refused."""
    _, info = env2.reset(seed=5)
    assert (env2.episode_steps == 0).all()
    views = {name: getattr(env2, name) for name in ("avatar_pos", "avatar_yaw", "player_active", "tile_colours",
                                                    "episode_steps")}
    _, _, _, _, info = env2.step(random_actions(env2, np.random.default_rng(0)))
    poses = info["poses"]
    assert np.array_equal(views["avatar_pos"], poses["player_pos"]) and np.array_equal(views["avatar_yaw"], poses["player_yaw"])
    assert np.array_equal(views["player_active"], info["active"]) and (views["episode_steps"] == 1).all()
    for e, task in enumerate(env2.tasks):
        t = task.world.terrain
        want = np.array([[COLOUR_INDEX[c] for c in row] for row in t.floor_colours])
        assert np.array_equal(views["tile_colours"][e, : t.rows, : t.cols], want)
        assert (views["tile_colours"][e, t.rows :] == -1).all() and (views["tile_colours"][e, :, t.cols :] == -1).all()
    for name, view in views.items():
        with pytest.raises(ValueError, match="read-only"):
            view[...] = 0
