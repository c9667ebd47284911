"""The encoder's hand-written layers compute exactly what the plain flax layers compute, from the same
parameters and the same initialisation (real flax, no mocks)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.encoder import MLP, GoalConditionedRayMLP, GoalRayAttention, kernel_init


@pytest.mark.parametrize("orthogonal", [True, False])
def test_goal_ray_attention_is_flax_multi_head_attention(orthogonal):
    rng = np.random.default_rng(0)
    tokens = jnp.asarray(rng.normal(size=(6, 9, 64)), jnp.float32)  # [B, G, D]
    rays = jnp.asarray(rng.normal(size=(6, 87, 32)) * 2.0, jnp.float32)  # [B, R, C]
    ours = GoalRayAttention(num_heads=2, features=64, orthogonal=orthogonal)
    reference = nn.MultiHeadDotProductAttention(num_heads=2, qkv_features=64, out_features=64,
                                                kernel_init=kernel_init(orthogonal, 1.0))  # fmt: skip
    key = jax.random.PRNGKey(7)
    params = ours.init(key, tokens, rays)
    reference_params = reference.init(key, tokens, rays)
    # Same parameter tree, same initial values: a checkpoint of either loads into the other.
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(reference_params)
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(reference_params)):
        np.testing.assert_array_equal(a, b)
    # Non-zero biases, so the algebra that drops the key bias and moves the value bias is exercised.
    params = jax.tree_util.tree_map(lambda p: p + 0.1 * jax.random.normal(jax.random.PRNGKey(1), p.shape), params)
    out = ours.apply(params, tokens, rays)
    expected = reference.apply(params, tokens, rays)
    assert out.shape == (6, 9, 64)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    # ... and so are the gradients the PPO update takes through it.
    def loss(module, p):
        return jnp.sum(jnp.sin(module.apply(p, tokens, rays)))

    grads, expected_grads = jax.grad(lambda p: loss(ours, p))(params), jax.grad(lambda p: loss(reference, p))(params)
    for name in ("query", "value", "out"):
        for leaf in ("kernel", "bias"):
            np.testing.assert_allclose(grads["params"][name][leaf], expected_grads["params"][name][leaf],
                                       rtol=1e-3, atol=1e-4)  # fmt: skip
    np.testing.assert_allclose(grads["params"]["key"]["kernel"], expected_grads["params"]["key"]["kernel"],
                               rtol=1e-3, atol=1e-4)  # fmt: skip
    # The key bias cannot change any attention weight, so its gradient is zero (flax's is zero up to rounding).
    np.testing.assert_allclose(expected_grads["params"]["key"]["bias"], 0.0, atol=1e-3)


@pytest.mark.parametrize("tanh", [True, False])
def test_goal_conditioned_ray_mlp_is_mlp_on_the_concatenation(tanh):
    rng = np.random.default_rng(1)
    rays = jnp.asarray(rng.normal(size=(5, 87, 23)), jnp.float32)
    summary = jnp.asarray(rng.normal(size=(5, 32)), jnp.float32)
    concatenated = jnp.concatenate([rays, jnp.broadcast_to(summary[:, None], (5, 87, 32))], axis=-1)
    ours, reference = GoalConditionedRayMLP((32, 32), tanh), MLP((32, 32), tanh)
    key = jax.random.PRNGKey(3)
    params = ours.init(key, rays, summary)
    reference_params = reference.init(key, concatenated)
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(reference_params)
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(reference_params)):
        np.testing.assert_array_equal(a, b)
    params = jax.tree_util.tree_map(lambda p: p + 0.1 * jax.random.normal(jax.random.PRNGKey(2), p.shape), params)
    np.testing.assert_allclose(ours.apply(params, rays, summary), reference.apply(params, concatenated),
                               rtol=1e-5, atol=1e-5)  # fmt: skip
