"""The PettingZoo and Gymnasium adapters over ``BatchEnv``: official API checkers, episode ends, errors,
seeding and equivalence with the batch core."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils import seeding
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test, parallel_seed_test

import worlds
from worlds.envs.batch_env import BatchEnv, EnvConfig, TrainingTasks
from worlds.sim.config import PhysicsConfig
from worlds.tasks.game import TaskGenConfig, sample_training_task, task_id

# observations.py declares proprio as an unbounded Box; the checker's advice about that is the only warning allowed
_ALLOWED_WARNINGS = ("observation space minimum value is -infinity", "observation space maximum value is infinity")


def _unexpected(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if not any(a in str(w.message) for a in _ALLOWED_WARNINGS)]


def _actions(rng: np.random.Generator, agents: list[str]) -> dict[str, np.ndarray]:
    return {a: rng.integers(0, [3, 3, 3, 2, 2]) for a in agents}


# ----------------------------------------------------------------------------------------------- official checkers
def test_parallel_api_test_passes_without_warnings():
    env = worlds.parallel_env(num_players=2, max_steps=12)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parallel_api_test(env, num_cycles=20)  # more cycles than steps: the episode end is exercised
    assert _unexpected(caught) == []
    env.close()


def test_parallel_seed_test_passes():
    parallel_seed_test(lambda: worlds.parallel_env(num_players=2, max_steps=10), num_cycles=10)


@pytest.mark.parametrize("via_make", [False, True])
def test_gym_check_env_passes(via_make):
    # through gymnasium.make the env has a spec, which turns on check_env's reset/step determinism comparisons
    # and its render-mode checks (rgb_array, offscreen EGL)
    env = gymnasium.make(worlds.GOAL_WORLD_ID, max_steps=10).unwrapped if via_make else worlds.gym_env(max_steps=10)
    if via_make:
        assert env.spec is not None and env.spec.nondeterministic is False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    msgs = _unexpected(caught)
    if not via_make:  # a directly constructed env has no spec, so check_env cannot re-create it to test render modes
        msgs = [m for m in msgs if "not having a spec" not in m]
    assert msgs == []


def test_gymnasium_make_by_id_runs_an_episode():
    env = gymnasium.make("openland/GoalWorld-v0", max_steps=5)
    assert isinstance(env.unwrapped, worlds.GoalWorldEnv)
    obs, info = env.reset(seed=3)
    assert obs in env.observation_space and isinstance(info["task_id"], str)
    env.action_space.seed(3)
    for t in range(1, 6):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert obs in env.observation_space
        assert isinstance(reward, float) and reward in (0.0, 1.0)
        assert info["truth"].dtype == bool and info["truth"].ndim == 2
        assert isinstance(info["unsafe"], bool)
        assert truncated == (t == 5) and terminated is False
    assert info["episode"]["length"] == 5
    assert obs["proprio"][7] == 0.0  # share of the episode left: the ended episode's last observation
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step(env.action_space.sample())
    env.reset()
    env.step(env.action_space.sample())
    env.close()


def test_registration_is_guarded_against_double_registration():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        importlib.reload(worlds)
    assert [str(w.message) for w in caught if "Overrid" in str(w.message)] == []
    assert gymnasium.spec(worlds.GOAL_WORLD_ID).entry_point == "worlds.envs.adapters:GoalWorldEnv"


def test_worlds_import_pulls_in_neither_jax_nor_ray():
    code = (
        "import sys, worlds, worlds.envs.adapters, gymnasium; gymnasium.make('openland/GoalWorld-v0');"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'ray', 'flax'));"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    # the adapters (pettingzoo, the MuJoCo env) load lazily: a plain `import worlds` does not pull them in
    code = "import sys, worlds; assert 'pettingzoo' not in sys.modules and 'worlds.envs.batch_env' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_importing_the_renderer_changes_nothing_until_it_renders():
    """No side effect on import: MUJOCO_GL stays unset and MuJoCo's GL backend untouched; ensure_egl switches
    the backend to EGL, and leaves a backend the user named alone."""
    code = (
        "import os, mujoco; from mujoco.rendering.classic import gl_context; before = gl_context.GLContext;"
        "import worlds.sim.render as wr, worlds.envs.batch_env;"
        "assert 'MUJOCO_GL' not in os.environ and gl_context.GLContext is before;"
        "wr.ensure_egl(); assert gl_context.GLContext.__module__.startswith('mujoco.egl'), gl_context.GLContext"
    )
    env = {k: v for k, v in os.environ.items() if k != "MUJOCO_GL"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    code = (
        "import mujoco; from mujoco.rendering.classic import gl_context; before = gl_context.GLContext;"
        "import worlds.sim.render as wr; wr.ensure_egl(); assert gl_context.GLContext is before, before"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**env, "MUJOCO_GL": "glfw"})


def test_render_fps_is_the_control_rate():
    """A rendered step is one control period: 10 frames per second by default, following the physics config."""
    assert worlds.GoalWorldEnv.metadata["render_fps"] == 1 / PhysicsConfig().control_dt == pytest.approx(10.0)
    env = worlds.gym_env(physics=PhysicsConfig(substeps=4))
    penv = worlds.parallel_env(num_players=2, physics=PhysicsConfig(substeps=5))
    assert env.metadata["render_fps"] == pytest.approx(25.0) and penv.metadata["render_fps"] == pytest.approx(20.0)
    assert worlds.GoalWorldEnv.metadata["render_fps"] == pytest.approx(10.0)  # the class default is untouched
    env.close()
    penv.close()


# ----------------------------------------------------------------------------------------------- episode end
def test_parallel_episode_end_removes_agents_and_needs_reset():
    env = worlds.parallel_env(num_players=2, max_steps=4)
    obs, infos = env.reset(seed=5)
    assert env.agents == env.possible_agents == ["player_0", "player_1"]
    assert set(obs) == set(infos) == set(env.agents)
    rng = np.random.default_rng(0)
    for t in range(1, 5):
        obs, rewards, terms, truncs, infos = env.step(_actions(rng, env.possible_agents))
        assert set(obs) == set(rewards) == set(terms) == set(truncs) == set(infos) == {"player_0", "player_1"}
        assert all(v == (t == 4) for v in truncs.values()) and not any(terms.values())
        for a in ("player_0", "player_1"):
            assert obs[a] in env.observation_space(a)
            assert infos[a]["truth"].shape == (3, 3) and isinstance(infos[a]["unsafe"], bool)
    assert env.agents == []
    for a in ("player_0", "player_1"):
        # the last observation is the ended episode's (no auto-reset behind the user's back)
        assert obs[a]["proprio"][7] == 0.0
        assert infos[a]["episode"]["length"] == 4
    with pytest.raises(RuntimeError, match="call reset"):
        env.step({})
    obs, _ = env.reset()
    assert env.agents == ["player_0", "player_1"] and obs["player_0"]["proprio"][7] == 1.0
    env.step(_actions(rng, env.agents))


def test_parallel_step_before_reset_is_an_error():
    env = worlds.parallel_env(num_players=1, max_steps=4)
    with pytest.raises(RuntimeError, match="before reset"):
        env.step({"player_0": np.array([1, 1, 1, 0, 0])})


def test_task_with_fewer_players_than_slots():
    sampler = TrainingTasks(TaskGenConfig(min_players=1, max_players=1))
    env = worlds.parallel_env(num_players=3, max_steps=3, task_sampler=sampler)
    obs, infos = env.reset(seed=1)
    assert env.possible_agents == ["player_0", "player_1", "player_2"]
    assert env.agents == ["player_0"] and set(obs) == {"player_0"}
    with pytest.raises(ValueError, match="'player_2' is not a live agent"):
        env.step({"player_0": np.array([1, 1, 1, 0, 0]), "player_2": np.array([1, 1, 1, 0, 0])})
    for _ in range(3):
        obs, rewards, terms, truncs, infos = env.step({"player_0": np.array([2, 1, 0, 0, 0])})
        assert set(obs) == {"player_0"}
    assert truncs == {"player_0": True} and env.agents == []


def test_reset_option_task_plays_that_task():
    task = sample_training_task(11, TaskGenConfig(min_players=2, max_players=2))
    env = worlds.parallel_env(num_players=2, max_steps=3)
    _, infos = env.reset(seed=0, options={"task": task})
    assert env.task == task and infos["player_1"]["task_id"] == task_id(task)
    genv = worlds.gym_env(max_steps=3)
    solo = sample_training_task(11, TaskGenConfig(min_players=1, max_players=1))
    _, info = genv.reset(seed=0, options={"task": solo})
    assert info["task_id"] == task_id(solo) and genv.task == solo
    with pytest.raises(ValueError, match="TaskSpec"):
        genv.reset(options={"task": "not a task"})


# ----------------------------------------------------------------------------------------------- bad actions
_GOOD = np.array([1, 1, 1, 0, 0])


@pytest.mark.parametrize(
    "bad, pattern",
    [
        (np.array([1, 1, 1, 0]), r"agent 'player_1'.*shape \(4,\)"),
        (np.array([1.0, 1.0, 1.0, 0.0, 0.0]), r"agent 'player_1'.*integers.*float64"),
        (np.array([1, 1, 7, 0, 0]), r"agent 'player_1'.*player 1, 'turn'\]: 7 is outside 0..2"),
        (np.array([1, 1, 1, -1, 0]), r"agent 'player_1'.*'jump'\]: -1 is outside"),
        ([[1, 2], [3]], r"agent 'player_1'"),
    ],
)
def test_parallel_bad_actions_name_agent_and_value(bad, pattern):
    env = worlds.parallel_env(num_players=2, max_steps=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=pattern):
        env.step({"player_0": _GOOD, "player_1": bad})
    # a rejected action never reached the physics: the episode still has all its steps
    for t in range(3):
        *_, truncs, _ = env.step({"player_0": _GOOD, "player_1": _GOOD})
    assert truncs["player_0"] is True


def test_parallel_continuous_nan_and_out_of_range():
    env = worlds.parallel_env(num_players=2, max_steps=3, action_type="continuous")
    env.reset(seed=0)
    ok = np.zeros(5, dtype=np.float32)
    with pytest.raises(ValueError, match=r"agent 'player_0'.*'strafe'\]: nan is not finite"):
        env.step({"player_0": np.array([0.0, np.nan, 0, 0, 0]), "player_1": ok})
    with pytest.raises(ValueError, match=r"agent 'player_1'.*'forward'\]: 1.5 is outside \[-1, 1\]"):
        env.step({"player_0": ok, "player_1": np.array([1.5, 0, 0, 0, 0])})
    with pytest.raises(ValueError, match=r"agent 'player_1'.*floats.*int64"):
        env.step({"player_0": ok, "player_1": np.array([0, 0, 0, 0, 0])})
    env.step({"player_0": ok, "player_1": np.array([1.0, -1.0, 0.5, 1.0, 1.0])})


def test_parallel_unknown_and_missing_agents():
    env = worlds.parallel_env(num_players=2, max_steps=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="unknown agent 'bob'"):
        env.step({"player_0": _GOOD, "player_1": _GOOD, "bob": _GOOD})
    with pytest.raises(ValueError, match="unknown agent 'player_7'"):
        env.step({"player_0": _GOOD, "player_7": _GOOD})
    with pytest.raises(ValueError, match=r"no action given for live agent\(s\) \['player_1'\]"):
        env.step({"player_0": _GOOD})
    with pytest.raises(ValueError, match="unknown agent 'x'"):
        env.action_space("x")


@pytest.mark.parametrize(
    "bad, pattern",
    [
        (np.array([[1, 1, 1, 0, 0]]), r"player 0.*shape \(1, 5\)"),
        (np.array([0.5, 1, 1, 0, 0]), r"player 0.*integers"),
        (np.array([1, 3, 1, 0, 0]), r"player 0.*'strafe'\]: 3 is outside 0..2"),
    ],
)
def test_gym_bad_actions_name_player_and_value(bad, pattern):
    env = worlds.gym_env(max_steps=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=pattern):
        env.step(bad)


def test_gym_continuous_nan():
    env = worlds.gym_env(max_steps=3, action_type="continuous")
    assert isinstance(env.action_space, gymnasium.spaces.Box)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"player 0.*'grab'\]: nan is not finite"):
        env.step(np.array([0, 0, 0, 0, np.nan]))


def test_bad_configs():
    with pytest.raises(ValueError, match="single-player"):
        worlds.gym_env(num_players=2)
    with pytest.raises(ValueError, match="num_envs=4"):
        worlds.parallel_env(num_envs=4)
    with pytest.raises(ValueError, match="unknown env config option.*'colour'"):
        worlds.parallel_env(colour="red")
    with pytest.raises(ValueError, match="render_mode='human'"):
        worlds.gym_env(render_mode="human")


# ----------------------------------------------------------------------------------------------- determinism
def _parallel_trajectory(seed: int, steps: int) -> list:
    env = worlds.parallel_env(num_players=2, max_steps=6)
    out = []
    obs, infos = env.reset(seed=seed)
    out.append((obs, infos))
    rng = np.random.default_rng(99)
    for _ in range(steps):
        if not env.agents:
            out.append(env.reset())  # seedless reset continues the seeded sequence
        out.append(env.step(_actions(rng, env.agents)))
    return out


def test_parallel_same_seed_same_trajectory():
    a, b = _parallel_trajectory(7, 14), _parallel_trajectory(7, 14)
    assert gymnasium.utils.env_checker.data_equivalence(a, b, exact=True)
    c = _parallel_trajectory(8, 14)
    assert a[0][1]["player_0"]["task_id"] != c[0][1]["player_0"]["task_id"]
    # episodes after the seedless reset are new tasks too
    assert a[0][1]["player_0"]["task_id"] != a[7][1]["player_0"]["task_id"]


def test_gym_same_seed_same_trajectory_across_episodes():
    def run(seed):
        env = worlds.gym_env(max_steps=5)
        rng = np.random.default_rng(1)
        out = [env.reset(seed=seed)]
        for _ in range(12):
            out.append(env.step(rng.integers(0, [3, 3, 3, 2, 2])))
            if out[-1][2] or out[-1][3]:
                out.append(env.reset())
        return out

    assert gymnasium.utils.env_checker.data_equivalence(run(4), run(4), exact=True)
    assert run(4)[0][1]["task_id"] != run(5)[0][1]["task_id"]
    # an unseeded first reset draws fresh entropy
    assert worlds.gym_env().reset()[1]["task_id"] != worlds.gym_env().reset()[1]["task_id"]


def test_parallel_matches_batch_env_exactly():
    """The adapter is a view of BatchEnv: same task, observations, rewards, truth and unsafe flags."""
    seed, steps = 21, 5
    env = worlds.parallel_env(num_players=2, max_steps=steps)
    obs, _ = env.reset(seed=seed)
    batch = BatchEnv(EnvConfig(num_envs=1, num_players=2, max_steps=steps))
    bobs, binfo = batch.reset(seed=int(seeding.np_random(seed)[0].integers(0, 2**62)))
    assert binfo["task_id"][0] == batch.task_ids[0] == task_id(env.task)
    rng = np.random.default_rng(3)
    for t in range(1, steps + 1):
        for p, a in enumerate(env.possible_agents):
            for k in ("rays", "proprio", "goal"):
                np.testing.assert_array_equal(obs[a][k], bobs[k][0, p])
        acts = _actions(rng, env.agents)
        obs, rewards, _, truncs, infos = env.step(acts)
        bobs, breward, _, btrunc, binfo = batch.step(np.stack([acts[a] for a in env.possible_agents])[None])
        assert truncs["player_0"] == bool(btrunc[0]) == (t == steps)
        for p, a in enumerate(env.possible_agents):
            assert rewards[a] == breward[0, p]
            np.testing.assert_array_equal(infos[a]["truth"], binfo["truth"][0, p])
            assert infos[a]["unsafe"] == binfo["unsafe"][0, p]
    # BatchEnv auto-reset into the next task; the adapter kept the ended episode's final observation
    assert obs["player_0"]["proprio"][7] == 0.0 and bobs["proprio"][0, 0, 7] == 1.0
    assert infos["player_1"]["episode"]["return"] == binfo["final"]["return"][0, 1]


def test_render_rgb_array():
    env = worlds.gym_env(max_steps=3, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == (240, 320, 3) and frame.std() > 0
    env.close()
