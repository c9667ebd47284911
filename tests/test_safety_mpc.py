"""MPC with a known, hand-written differentiable model reaches a goal, and its cost term makes it go around a
hazard that lies on the straight way (without the cost it walks through); batched planning agrees; the primitive
plans walk off a cost with no gradient, where Adam alone stays."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from safety import mpc
from safety.simulator import action_onehot, action_probs

GOAL = jnp.array([3.0, 3.0])
HAZARD = jnp.array([1.5, 1.5])
PARAMS = {"gain": jnp.float32(0.5), "goal": GOAL, "hazard": HAZARD}


def step(params: dict, z: jax.Array, a: jax.Array) -> jax.Array:
    """Forward (ahead minus back) moves x, strafe (left minus right) moves y, by half a unit."""
    return z + params["gain"] * jnp.stack([a[..., 2] - a[..., 0], a[..., 5] - a[..., 3]], -1)


def reward(params: dict, z: jax.Array) -> jax.Array:
    return -jnp.sqrt(jnp.sum((z - params["goal"]) ** 2, axis=-1) + 1e-6)


def cost(params: dict, z: jax.Array) -> jax.Array:
    """One rule: a smooth bump of radius ~0.5 around the hazard."""
    return jnp.exp(-jnp.sum((z - params["hazard"]) ** 2, axis=-1) / 0.3)[..., None]


def closed_loop(config: mpc.MPCConfig, steps: int = 14) -> np.ndarray:
    z = jnp.zeros(2)
    state = mpc.init_mpc(config, seed=0)
    path = [np.asarray(z)]
    for _ in range(steps):
        action, state, info = mpc.plan(step, PARAMS, reward, cost, PARAMS, z, state, config)
        assert action.shape == (5,) and info["predicted_costs"].shape == (1,)
        z = step(PARAMS, z, action_onehot(action))  # the real (known) model, discrete action
        path.append(np.asarray(z))
    return np.stack(path)


CONFIG = mpc.MPCConfig(horizon=8, iterations=40, learning_rate=0.2, restarts=4, cost_weight=20.0)


def test_mpc_reaches_the_goal_around_the_hazard() -> None:
    path = closed_loop(CONFIG)
    dist_goal = np.linalg.norm(path - np.asarray(GOAL), axis=1)
    dist_hazard = np.linalg.norm(path - np.asarray(HAZARD), axis=1)
    assert dist_goal[-1] < 0.5, path
    assert dist_hazard.min() > 0.45, path  # never on the hazard
    assert (np.argmax(dist_goal < 0.5)) <= 10  # reached within 10 steps (6 diagonal ones is the shortest)


def test_without_the_cost_it_takes_the_straight_way_through_the_hazard() -> None:
    path = closed_loop(mpc.MPCConfig(horizon=8, iterations=40, learning_rate=0.2, restarts=4, cost_weight=0.0), steps=8)
    assert np.linalg.norm(path - np.asarray(GOAL), axis=1)[-1] < 0.5
    assert np.linalg.norm(path - np.asarray(HAZARD), axis=1).min() < 0.1  # the diagonal passes over it


def test_batched_planning_matches_single_plans() -> None:
    z0 = jnp.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    state = mpc.init_mpc(CONFIG, seed=0, batch=3)
    actions, new_state, info = mpc.plan_batch(step, PARAMS, reward, cost, PARAMS, z0, state, CONFIG)
    assert actions.shape == (3, 5) and new_state.plan.shape == (3, CONFIG.horizon, 13)
    for b in range(3):
        single = mpc.MPCState(state.plan[b], state.key[b])
        a, _, _ = mpc.plan(step, PARAMS, reward, cost, PARAMS, z0[b], single, CONFIG)
        np.testing.assert_array_equal(a, actions[b])
    # from (3, 0) the goal is straight up: strafe left; from (0, 3) straight ahead: forward
    assert actions[1, 1] == 2 and actions[2, 0] == 2
    with pytest.raises(ValueError, match="horizon=0"):
        mpc.MPCConfig(horizon=0)


def test_plans_keep_to_allowed_actions_and_per_env_step_params() -> None:
    # forbid strafing left (component 1, value 2): from (3, 0) the goal straight up is no longer reachable by it
    allowed = tuple(i != 5 for i in range(13))
    config = mpc.MPCConfig(horizon=8, iterations=40, learning_rate=0.2, restarts=4, cost_weight=20.0, allowed_actions=allowed)
    z0 = jnp.array([[3.0, 0.0], [3.0, 0.0]])
    # per-env step parameters: the second env's model moves twice as far (vmapped over the gain, shared goal)
    params = {"gain": jnp.array([0.5, 1.0]), "goal": jnp.stack([GOAL, GOAL]), "hazard": jnp.stack([HAZARD, HAZARD])}
    actions, _, info = mpc.plan_batch(step, params, reward, cost, PARAMS, z0, mpc.init_mpc(config, 0, batch=2), config,
                                      step_axes=0)  # fmt: skip
    assert (actions[:, 1] != 2).all()
    assert info["plan"].shape == (2, 8, 13)
    assert mpc.demonstrated_actions(np.array([[2, 1, 1, 0, 0]] * 99 + [[0, 1, 1, 1, 0]]), min_share=0.02) == (
        False, False, True, False, True, False, False, True, False, True, False, True, False)
    assert mpc.demonstrated_actions(np.array([[2, 1, 1, 0, 0]] * 99 + [[0, 1, 1, 1, 0]]), min_share=0.01)[0]
    strafing = np.array([[2, 0, 1, 0, 0], [2, 2, 1, 0, 0], [2, 1, 1, 0, 0]])
    assert mpc.demonstrated_actions(strafing)[3:6] == (False, True, False)  # sideways: not where the camera looks
    assert mpc.demonstrated_actions(strafing, strafe=True)[3:6] == (True, True, True)
    with pytest.raises(ValueError, match="no value of action component 1"):
        mpc.MPCConfig(allowed_actions=(True,) * 3 + (False,) * 3 + (True,) * 7)


def test_cem_plans_reach_the_goal_around_the_hazard() -> None:
    config = mpc.MPCConfig(horizon=8, iterations=4, planner="cem", samples=128, elites=16, cost_weight=20.0)
    path = closed_loop(config)
    assert np.linalg.norm(path - np.asarray(GOAL), axis=1)[-1] < 0.5, path
    assert np.linalg.norm(path - np.asarray(HAZARD), axis=1).min() > 0.45, path
    with pytest.raises(ValueError, match="planner='beam'"):
        mpc.MPCConfig(planner="beam")
    with pytest.raises(ValueError, match="elites=200"):
        mpc.MPCConfig(samples=100, elites=200)


def test_terminal_reward_in_the_predicted_return() -> None:
    logits = jax.random.normal(jax.random.PRNGKey(3), (4, 13))
    terminal = lambda params, z: 7.0 * z[0]  # noqa: E731
    plain, costs = mpc.predicted_return(step, PARAMS, reward, cost, PARAMS, jnp.zeros(2), logits, 20.0, 0.9)
    with_end, _ = mpc.predicted_return(step, PARAMS, reward, cost, PARAMS, jnp.zeros(2), logits, 20.0, 0.9, terminal)
    z = jnp.zeros(2)
    for a in action_probs(logits):
        z = step(PARAMS, z, a)
    np.testing.assert_allclose(with_end, plain + 0.9**4 * 7.0 * z[0], rtol=1e-5)
    assert costs.shape == (1,)


def turning_step(params: None, z: jax.Array, a: jax.Array) -> jax.Array:
    """An avatar (x, y, heading): turn (left minus right) by 0.6 rad, then forward (ahead minus back) half a unit."""
    heading = z[..., 2] + 0.6 * (a[..., 6] - a[..., 8])
    move = 0.5 * (a[..., 2] - a[..., 0])
    return jnp.stack([z[..., 0] + move * jnp.cos(heading), z[..., 1] + move * jnp.sin(heading), heading], -1)


def plateau_cost(params: None, z: jax.Array) -> jax.Array:
    """A hazard covering everything east of x = -0.9: flat (no gradient) wherever it is."""
    return jnp.where(z[..., 0] > -0.9, 1.0, 0.0)[..., None]


def test_primitives_walk_off_a_flat_cost_the_gradient_cannot_see() -> None:
    # one candidate (the warm start), optimised by Adam, with or without the primitives beside it;
    # no walking backwards or strafing (as the demonstrations' values): the way off lies behind, after a turn
    allowed = tuple(i not in (0, 3, 5) for i in range(13))
    no_reward = lambda params, z: jnp.zeros(z.shape[:-1])  # noqa: E731
    on_hazard = {}
    for primitives in (True, False):
        config = mpc.MPCConfig(horizon=10, iterations=10, restarts=1, cost_weight=1.0, allowed_actions=allowed,
                               primitives=primitives)  # fmt: skip
        z, state, path = jnp.zeros(3), mpc.init_mpc(config, seed=0), []
        for _ in range(14):
            action, state, _ = mpc.plan(turning_step, None, no_reward, plateau_cost, None, z, state, config)
            z = turning_step(None, z, action_onehot(action))
            path.append(np.asarray(z))
        on_hazard[primitives] = np.asarray(plateau_cost(None, jnp.asarray(np.stack(path))))[:, 0]
    # walking round in the tightest arc leaves after 5 steps, and it stays off
    assert on_hazard[True][:4].all() and not on_hazard[True][5:].any(), on_hazard
    # the warm start alone: the cost has no gradient, so Adam never moves it, and it turns on the spot forever
    assert on_hazard[False].all(), on_hazard
    assert mpc.primitive_plans(10).shape == (41, 10, 13)
