"""Network shapes, recurrent reset and goal padding mask (real flax, no mocks)."""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.encoder import GoalAttention
from agents.networks import (
    dummy_obs,
    entropy,
    init_params,
    log_prob,
    make_network,
    sample_action,
)
from agents.ppo import PPO, PPOConfig

VOCAB = np.array([3, 1, 4, 5, 6, 5, 6])  # high per goal field (option, negated, relation, kinds/ids)


def goal_obs_space(G: int = 9) -> gym.spaces.Dict:
    return gym.spaces.Dict(
        {
            "rays": gym.spaces.Box(-1, 1, (32, 12), np.float32),
            "proprio": gym.spaces.Box(-1, 1, (10,), np.float32),
            "goal": gym.spaces.Box(0, np.tile(VOCAB, (G, 1)), (G, 7), np.int32),
        }
    )


def random_goal_obs(rng: np.random.Generator, T: int, B: int, G: int = 9, real: int = 3) -> dict:
    goal = np.zeros((T, B, G, 7), np.int32)
    goal[:, :, :real] = rng.integers(1, VOCAB + 1, size=(T, B, real, 7))
    return {
        "rays": rng.normal(size=(T, B, 32, 12)).astype(np.float32),
        "proprio": rng.normal(size=(T, B, 10)).astype(np.float32),
        "goal": goal,
    }


@pytest.mark.parametrize(
    "obs_space,act_space,core,n_out",
    [
        (gym.spaces.Box(-1, 1, (4,), np.float32), gym.spaces.Discrete(2), "none", 2),
        (gym.spaces.Box(-1, 1, (3, 5), np.float32), gym.spaces.Box(-2, 2, (3,), np.float32), "gru", 3),
        (goal_obs_space(), gym.spaces.MultiDiscrete([3, 3, 3, 2, 2]), "lstm", 13),
        (goal_obs_space(), gym.spaces.Discrete(7), "none", 7),
        (goal_obs_space(), gym.spaces.Box(-1, 1, (2,), np.float32), "gru", 2),
    ],
)
def test_shapes(obs_space, act_space, core, n_out):
    net = make_network(obs_space, act_space, core=core, core_size=16)
    params = init_params(net, jax.random.PRNGKey(0))
    T, B = 3, 5
    obs = jax.tree_util.tree_map(lambda x: x + 0, dummy_obs(net.obs_spec, B, T))
    carry, pi, v = jax.jit(net.apply)(params, net.initialize_carry(B), obs, jnp.zeros((T, B), bool))
    assert pi.shape == (T, B, n_out) and v.shape == (T, B)
    assert jax.tree_util.tree_structure(carry) == jax.tree_util.tree_structure(net.initialize_carry(B))
    spec = net.action_spec
    log_std = params["params"]["log_std"] if spec.kind == "box" else jnp.zeros((0,))
    a = sample_action(spec, pi, log_std, jax.random.PRNGKey(1))
    expected_a = {"discrete": (T, B), "multi_discrete": (T, B, 5), "box": (T, B, spec.dim)}[spec.kind]
    assert a.shape == expected_a
    assert log_prob(spec, pi, log_std, a).shape == (T, B)
    assert entropy(spec, pi, log_std).shape == (T, B)
    assert np.all(np.isfinite(np.asarray(log_prob(spec, pi, log_std, a))))
    # Orthogonal 0.01 policy head: the initial policy is near uniform / near zero mean.
    assert float(jnp.abs(pi).max()) < 0.5


def test_ppo_act_shapes_dict_multidiscrete():
    cfg = PPOConfig(num_envs=6, num_minibatches=2, core="lstm", core_size=32)
    ppo = PPO(cfg, goal_obs_space(), gym.spaces.MultiDiscrete([3, 3, 3, 2, 2]))
    state = ppo.init(0)
    obs = jax.tree_util.tree_map(lambda x: x[0], random_goal_obs(np.random.default_rng(0), 1, 6))
    carry, a, logp, v = ppo.act(state, obs, ppo.initial_carry(), np.ones(6, bool), jax.random.PRNGKey(3))
    assert a.shape == (6, 5) and a.dtype == jnp.int32 and logp.shape == (6,) and v.shape == (6,)
    assert np.all(np.asarray(a) < np.array([3, 3, 3, 2, 2])) and np.all(np.asarray(a) >= 0)
    assert carry[0].shape == (6, 32)


@pytest.mark.parametrize("core", ["lstm", "gru"])
def test_recurrent_carry_resets_on_done(core):
    net = make_network(goal_obs_space(), gym.spaces.Discrete(4), core=core, core_size=16)
    params = init_params(net, jax.random.PRNGKey(0))
    T, B = 4, 3
    obs = random_goal_obs(np.random.default_rng(1), T, B)
    dones = np.zeros((T, B), bool)
    dones[2, 1] = True  # sequence 1 starts a new episode at t=2
    carry0 = jax.tree_util.tree_map(lambda c: c + 0.7, net.initialize_carry(B))  # non-zero start
    _, pi, v = jax.jit(net.apply)(params, carry0, obs, dones)
    # The same obs[2:] from a zero carry must give identical outputs for the reset sequence ...
    tail = jax.tree_util.tree_map(lambda x: x[2:], obs)
    _, pi_fresh, v_fresh = jax.jit(net.apply)(params, net.initialize_carry(B), tail, np.zeros((T - 2, B), bool))
    np.testing.assert_allclose(pi[2:, 1], pi_fresh[:, 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v[2:, 1], v_fresh[:, 1], rtol=1e-5, atol=1e-6)
    # ... and different ones for the sequences that were not reset (the carry matters).
    assert not np.allclose(pi[2:, 0], pi_fresh[:, 0], atol=1e-6)
    assert not np.allclose(v[2:, 0], v_fresh[:, 0], atol=1e-6)


def test_goal_padding_mask():
    net = make_network(goal_obs_space(), gym.spaces.Discrete(4), core="none")
    params = init_params(net, jax.random.PRNGKey(0))
    rng = np.random.default_rng(2)
    obs = random_goal_obs(rng, 1, 4, G=9, real=2)
    dones = np.zeros((1, 4), bool)
    carry = net.initialize_carry(4)
    _, pi, v = jax.jit(net.apply)(params, carry, obs, dones)

    # Fewer padding rows (G=3 instead of 9, same two real tokens): padding contributes nothing.
    short = dict(obs, goal=obs["goal"][:, :, :3])
    _, pi_s, v_s = jax.jit(net.apply)(params, carry, short, dones)
    np.testing.assert_allclose(pi, pi_s, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v, v_s, rtol=1e-5, atol=1e-6)

    # Changing a real token changes the output.
    changed = dict(obs, goal=obs["goal"].copy())
    changed["goal"][0, :, 0, 2] = changed["goal"][0, :, 0, 2] % VOCAB[2] + 1
    _, pi_c, v_c = jax.jit(net.apply)(params, carry, changed, dones)
    assert not np.allclose(pi, pi_c, atol=1e-6) and not np.allclose(v, v_c, atol=1e-6)

    # Turning a padding row into a real token (non-zero field) also changes it.
    added = dict(obs, goal=obs["goal"].copy())
    added["goal"][0, :, 5] = 1
    _, pi_a, _ = jax.jit(net.apply)(params, carry, added, dones)
    assert not np.allclose(pi, pi_a, atol=1e-6)


def test_goal_attention_ignores_masked_tokens():
    att = GoalAttention(embed_dim=16, num_heads=2)
    rng = np.random.default_rng(3)
    q = jnp.asarray(rng.normal(size=(5, 16)), jnp.float32)
    tok = rng.normal(size=(5, 6, 16)).astype(np.float32)
    mask = np.array([[1, 1, 0, 0, 0, 0]] * 4 + [[0] * 6], bool)  # last row: no real token
    params = att.init(jax.random.PRNGKey(0), q, tok, mask)
    out = att.apply(params, q, tok, mask)
    tok2 = tok.copy()
    tok2[:, 2:] = rng.normal(size=(5, 4, 16)) * 10.0  # garbage in every masked slot
    np.testing.assert_allclose(out, att.apply(params, q, tok2, mask), rtol=1e-5, atol=1e-6)
    tok3 = tok.copy()
    tok3[:4, 0] += 1.0  # a real token
    assert not np.allclose(out[:4], att.apply(params, q, tok3, mask)[:4], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(out[4]), 0.0)  # empty goal -> zero context
    # Without the mask the garbage would matter (the mask is doing the work).
    full = np.ones_like(mask)
    assert not np.allclose(att.apply(params, q, tok, full), att.apply(params, q, tok2, full), atol=1e-6)
