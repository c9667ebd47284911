"""ReQueST's four acquisition functions against hand-computed values on a tiny hand-set reward ensemble, and query
synthesis by gradient ascent in a known differentiable model (exact roll-outs and the plausibility regulariser)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from safety import acquisition as acq
from safety.reward_model import RewardModel
from safety.simulator import ACTION_WIDTH, action_probs

REWARDS = np.array([-10.0, 0.0, 1.0])


def hand_model(class_kernels: list[np.ndarray], class_biases: list[np.ndarray]) -> RewardModel:
    """Members with hidden layer relu(z) (identity kernel) and the given class layers; rule heads zero."""
    M = len(class_kernels)
    params = {"params": {
        "Dense_0": {"kernel": jnp.tile(jnp.eye(2)[None], (M, 1, 1)), "bias": jnp.zeros((M, 2))},
        "Dense_1": {"kernel": jnp.asarray(np.stack(class_kernels), jnp.float32), "bias": jnp.asarray(np.stack(class_biases), jnp.float32)},
        "Dense_2": {"kernel": jnp.zeros((M, 2, 2)), "bias": jnp.zeros((M, 2))},
    }}  # fmt: skip
    return RewardModel(params, jnp.asarray(REWARDS, jnp.float32), hidden=2)


W0, B0 = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 0.0]]), np.zeros(3)
W1, B1 = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, -1.0]]), np.array([0.5, 0.0, 0.0])
ZS = np.array([[1.0, 0.5], [-0.5, 2.0]])  # two states; relu zeroes the negative component
REF = np.array([[0.0, 0.0], [1.0, 1.0], [3.0, -1.0]])


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def hand_probs() -> np.ndarray:
    h = np.maximum(ZS, 0.0)
    return np.stack([softmax(h @ W0 + B0), softmax(h @ W1 + B1)])  # [M, T, 3]


def test_literal_values_on_the_simplest_model() -> None:
    flat = hand_model([np.zeros((2, 3))], [np.zeros(3)])
    z = jnp.zeros((1, 2))
    # uniform classes: expected reward (-10 + 0 + 1) / 3 = -3
    assert float(acq.reward_objective(flat, z)) == pytest.approx(-3.0)
    assert float(acq.min_reward_objective(flat, z)) == pytest.approx(3.0)
    assert float(acq.uncertainty_objective(flat, z)) == pytest.approx(0.0, abs=1e-7)  # one member agrees with itself
    # a state on a labelled one: -exp(0) = -1; sqrt(2) away in 2-D: -exp(-1)
    assert float(acq.novelty_objective(z, jnp.zeros((1, 2)))) == pytest.approx(-1.0)
    assert float(acq.novelty_objective(z, jnp.ones((1, 2)))) == pytest.approx(-math.exp(-1.0))
    assert float(acq.novelty_objective(z, jnp.zeros((0, 2)))) == 0.0


def test_each_acquisition_function_matches_hand_computation() -> None:
    model = hand_model([W0, W1], [B0, B1])
    zs = jnp.asarray(ZS, jnp.float32)
    p = hand_probs()
    r = p @ REWARDS  # [M, T]
    assert float(acq.objective("max_reward", model, zs, REF)) == pytest.approx(r.mean(), rel=1e-5)
    assert float(acq.objective("min_reward", model, zs, REF)) == pytest.approx(-r.mean(), rel=1e-5)
    pbar = p.mean(0)
    kl = (p * (np.log(p) - np.log(pbar))).sum(-1)  # [M, T]
    assert kl.mean() > 0.05
    assert float(acq.objective("max_uncertainty", model, zs, REF)) == pytest.approx(kl.mean(), rel=1e-4)
    d = np.linalg.norm(ZS[:, None] - REF[None], axis=-1)
    assert float(acq.objective("max_novelty", model, zs, jnp.asarray(REF))) == pytest.approx(-np.exp(-d / np.sqrt(2)).mean(), rel=1e-5)
    # batched trajectories [B, T, L] give one value each
    assert acq.objective("max_uncertainty", model, jnp.stack([zs, zs]), REF).shape == (2,)
    with pytest.raises(ValueError, match="acquisition='max_fun'"):
        acq.objective("max_fun", model, zs, REF)  # type: ignore[arg-type]


def step(params: dict, z: jax.Array, a: jax.Array) -> jax.Array:
    """A known model: forward (ahead minus back) moves z0, strafe (left minus right) moves z1."""
    return z + params["gain"] * jnp.stack([a[..., 2] - a[..., 0], a[..., 5] - a[..., 3]], -1)


STEP_PARAMS = {"gain": jnp.float32(0.5)}
# good grows with z0, unsafe with z1 (both members); member 1 also calls z0 unsafe: they disagree where z0 > 0
GOAL = hand_model([np.array([[0.0, 0.0, 2.0], [2.0, 0.0, 0.0]])] * 2, [np.zeros(3)] * 2)
SPLIT = hand_model([np.array([[0.0, 0.0, 2.0], [2.0, 0.0, 0.0]]), np.array([[2.0, 0.0, 0.0], [2.0, 0.0, 0.0]])], [np.zeros(3)] * 2)


def _initial_value(model: RewardModel, name: str, config: acq.QueryConfig, key: jax.Array, start: jax.Array, ref: jax.Array) -> float:
    logits = config.init_scale * jax.random.normal(key, (config.horizon, ACTION_WIDTH))
    zs = acq._rollout(step, STEP_PARAMS, start, action_probs(logits))
    return float(acq.objective(name, model, zs[1:], ref))


@pytest.mark.parametrize("name", acq.ACQUISITIONS)
def test_gradient_ascent_improves_each_acquisition_in_a_known_model(name: str) -> None:
    config = acq.QueryConfig(horizon=5, max_iterations=2000)
    key = jax.random.PRNGKey(0)
    start = jnp.ones(2)  # away from the relu kink, where every objective has a gradient
    ref = start[None]
    model = SPLIT if name == "max_uncertainty" else GOAL
    query = acq.synthesise(step, STEP_PARAMS, model, name, start, ref, config, key)
    before = _initial_value(model, name, config, key, start, ref)
    assert float(query.value) > before + 0.1, (name, before, float(query.value))
    assert 0 < int(query.iterations) <= config.max_iterations
    # λ = ∞: the query's states are the model rolled out exactly from the start on its soft actions
    np.testing.assert_allclose(query.latents, acq._rollout(step, STEP_PARAMS, start, action_probs(query.action_logits)), atol=1e-5)
    assert float(query.loss) == pytest.approx(-float(query.value), rel=1e-5)
    actions = query.actions()
    assert actions.shape == (5, 5)
    if name == "max_reward":  # walk forward (z0 up), away from the unsafe side
        assert (actions[:, 0] == 2).all() and query.latents[-1, 0] > 3.0
    if name == "min_reward":  # strafe into the unsafe side
        assert query.latents[-1, 1] > 2.0
    if name == "max_novelty":
        assert np.linalg.norm(query.latents[-1] - start) > 2.0


def test_stops_when_the_relative_change_is_small_and_keeps_the_best_iterate() -> None:
    config = acq.QueryConfig(horizon=5, max_iterations=5000)
    query = acq.synthesise(step, STEP_PARAMS, GOAL, "max_reward", jnp.ones(2), jnp.zeros((0, 2)), config, jax.random.PRNGKey(1))
    assert int(query.iterations) < 5000  # stopped on the 1e-4 relative-change rule, before the cap
    short = acq.synthesise(step, STEP_PARAMS, GOAL, "max_reward", jnp.ones(2), jnp.zeros((0, 2)),
                           acq.QueryConfig(horizon=5, max_iterations=3), jax.random.PRNGKey(1))  # fmt: skip
    assert int(short.iterations) == 3 and float(short.value) <= float(query.value)


def test_plausibility_regulariser_ties_free_states_to_the_dynamics() -> None:
    start = jnp.ones(2)
    residual = {}
    for lam in (0.0, 100.0):
        config = acq.QueryConfig(horizon=5, max_iterations=300, plausibility=lam, tolerance=0.0)
        q = acq.synthesise(step, STEP_PARAMS, GOAL, "max_reward", start, jnp.zeros((0, 2)), config, jax.random.PRNGKey(2))
        residual[lam] = -float(acq.trajectory_log_prob(step, STEP_PARAMS, start, action_probs(q.action_logits), q.latents[1:], 1.0))
        assert int(q.iterations) == 300
    # unconstrained states run off where the reward model is happiest; λ = 100 keeps them (almost) on the model
    assert residual[0.0] > 1.0 and residual[100.0] < 0.01, residual
    with pytest.raises(ValueError, match="needs a LatentPrior"):
        acq.synthesise(step, STEP_PARAMS, GOAL, "max_reward", start, jnp.zeros((0, 2)),
                       acq.QueryConfig(optimise_start=True), jax.random.PRNGKey(0))  # fmt: skip


def test_a_round_gives_one_query_per_function() -> None:
    starts = jnp.asarray(np.random.default_rng(0).normal(size=(6, 2)), jnp.float32)
    queries = acq.synthesise_round(step, STEP_PARAMS, GOAL, starts, starts, acq.QueryConfig(horizon=5, max_iterations=50),
                                   jax.random.PRNGKey(3))  # fmt: skip
    assert set(queries) == set(acq.ACQUISITIONS)
    for q in queries.values():
        assert any(np.allclose(q.start, s) for s in np.asarray(starts))
