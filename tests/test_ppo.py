"""PPO pieces: GAE against a plain reference, non-finite skip, recurrent update over whole sequences."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import jax
import numpy as np
import pytest

from agents.ppo import PPO, PPOConfig, Rollout
from agents.trainer import make_train
from agents.vecenv import GymVecEnv
from tests.test_networks import goal_obs_space, random_goal_obs


def reference_gae(rewards, values, ends, last_value, gamma, lam):
    T = len(rewards)
    adv = np.zeros_like(values)
    last = np.zeros_like(last_value)
    for t in reversed(range(T)):
        nv = last_value if t == T - 1 else values[t + 1]
        nt = 1.0 - ends[t]
        delta = rewards[t] + gamma * nv * nt - values[t]
        last = delta + gamma * lam * nt * last
        adv[t] = last
    return adv, adv + values


def test_gae_matches_reference_loop():
    ppo = PPO(PPOConfig(num_envs=3, num_minibatches=1, core="none"), gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(2))
    rng = np.random.default_rng(0)
    T, N = 7, 3
    r, v = rng.normal(size=(T, N)).astype(np.float32), rng.normal(size=(T, N)).astype(np.float32)
    ends = (rng.random((T, N)) < 0.3).astype(np.float32)
    lv = rng.normal(size=N).astype(np.float32)
    adv, ret = jax.jit(ppo._gae)(r, v, ends, lv, 0.95)
    adv_ref, ret_ref = reference_gae(r, v, ends, lv, 0.99, 0.95)
    np.testing.assert_allclose(adv, adv_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ret, ret_ref, rtol=1e-5, atol=1e-5)


def _dict_rollout(ppo: PPO, state, T: int, N: int, seed: int = 0) -> Rollout:
    """A rollout collected with the real jitted act on random openland-shaped observations."""
    rng = np.random.default_rng(seed)
    obs = random_goal_obs(rng, T + 1, N)
    dones = rng.random((T + 1, N)) < 0.1
    dones[0] = True
    carry0 = carry = ppo.initial_carry()
    acts, logps, vals = [], [], []
    for t in range(T):
        o = jax.tree_util.tree_map(lambda x: x[t], obs)
        carry, a, lp, v = ppo.act(state, o, carry, dones[t], jax.random.PRNGKey(t))
        acts.append(np.asarray(a)), logps.append(lp), vals.append(v)
    last = jax.tree_util.tree_map(lambda x: x[T], obs)
    return Rollout(
        obs=jax.tree_util.tree_map(lambda x: x[:T], obs),
        dones=dones[:T],
        actions=np.stack(acts),
        logprobs=np.stack(logps),
        values=np.stack(vals),
        rewards=rng.random((T, N)).astype(np.float32),
        init_carry=carry0,
        last_done=dones[T],
        last_value=ppo.value(state, last, carry, dones[T]),
    )


@pytest.mark.parametrize("core", ["lstm", "gru"])
def test_recurrent_update_on_goal_dict_obs(core):
    cfg = PPOConfig(num_envs=4, num_steps=8, num_minibatches=2, update_epochs=2, core=core, core_size=32,
                    embed_dim=32, hidden_sizes=(32,))
    ppo = PPO(cfg, goal_obs_space(), gym.spaces.MultiDiscrete([3, 3, 3, 2, 2]))
    state = ppo.init(1)
    ro = _dict_rollout(ppo, state, cfg.num_steps, cfg.num_envs)
    # First epoch, first minibatch: the re-run from each sequence's stored carry reproduces the acting
    # log-probs exactly (ratio 1), which is what makes the clipped objective correct for a recurrent core.
    new_state, m = ppo.update(state, ro)
    assert m["skipped_steps"] == 0 and np.isfinite(m["loss"])
    assert int(new_state.updates) == 1 and int(new_state.env_steps) == cfg.batch_size
    moved = jax.tree_util.tree_map(lambda a, b: float(np.abs(np.asarray(a) - np.asarray(b)).max()), state.params, new_state.params)
    assert max(jax.tree_util.tree_leaves(moved)) > 0
    # The goal embeddings and attention receive gradient (the goal is actually used).
    enc = moved["params"]["encoder"]
    assert max(jax.tree_util.tree_leaves(enc["goal_attention"])) > 0 and max(jax.tree_util.tree_leaves(enc["goal_field_2"])) > 0
    # Observation statistics were updated from the rollout.
    assert float(new_state.obs_rms["rays"].count) > float(state.obs_rms["rays"].count)
    before = PPO.compile_cache_sizes()
    ppo.update(new_state, _dict_rollout(ppo, new_state, cfg.num_steps, cfg.num_envs, seed=1))
    assert PPO.compile_cache_sizes() == before  # same shapes: no recompilation


def test_recurrent_logprobs_reproduced_in_update():
    cfg = PPOConfig(num_envs=4, num_steps=8, num_minibatches=2, update_epochs=2, core="lstm", core_size=32,
                    embed_dim=32, hidden_sizes=(32,))  # same config as above: compiled act/value are reused
    ppo = PPO(cfg, goal_obs_space(), gym.spaces.MultiDiscrete([3, 3, 3, 2, 2]))
    state = ppo.init(2)
    ro = _dict_rollout(ppo, state, cfg.num_steps, cfg.num_envs, seed=3)
    obs_n = ppo.normalize_obs(state.obs_rms, ro.obs)
    _, pi, v = jax.jit(ppo.net.apply)(state.params, ro.init_carry, obs_n, ro.dones)
    from agents.networks import log_prob
    np.testing.assert_allclose(log_prob(ppo.action_spec, pi, np.zeros(0), ro.actions), ro.logprobs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(v, ro.values, rtol=1e-5, atol=1e-5)


def test_nonfinite_update_is_skipped_and_counted():
    cfg = PPOConfig(num_envs=4, num_steps=32, total_timesteps=4 * 32 * 8, core="none")  # as test_checkpoint
    trainer = make_train(cfg, GymVecEnv("CartPole-v1", cfg.num_envs))
    ro = trainer.collect()
    bad = ro.replace(rewards=np.asarray(ro.rewards).copy())
    bad.rewards[3, 1] = np.nan
    state0 = trainer.state
    state1, m = trainer.ppo.update(state0, bad)
    assert m["skipped_steps"] == cfg.num_minibatches * cfg.update_epochs
    assert int(state1.skipped_updates) == 1 and m["nonfinite_rollout"] == 1
    # Running statistics were not poisoned by the NaN reward.
    for a, b in zip(jax.tree_util.tree_leaves((state0.ret_rms, state0.ret, state0.obs_rms)),
                    jax.tree_util.tree_leaves((state1.ret_rms, state1.ret, state1.obs_rms))):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(jax.tree_util.tree_leaves(state0.params), jax.tree_util.tree_leaves(state1.params)):
        np.testing.assert_array_equal(a, b)
    assert all(np.all(np.isfinite(x)) for x in jax.tree_util.tree_leaves(state1.params))
    # A good rollout afterwards trains normally.
    state2, m2 = trainer.ppo.update(state1, ro)
    assert m2["skipped_steps"] == 0 and int(state2.skipped_updates) == 1
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(state1.params), jax.tree_util.tree_leaves(state2.params)))


def test_box_actions_with_gaussian_policy():
    cfg = PPOConfig(num_envs=4, num_steps=32, num_minibatches=2, core="none")
    trainer = make_train(cfg, GymVecEnv("Pendulum-v1", cfg.num_envs, state_attrs=("state",)))
    ro = trainer.collect()
    assert ro.actions.shape == (32, 4, 1) and ro.actions.dtype == np.float32
    state, m = trainer.ppo.update(trainer.state, ro)
    assert m["skipped_steps"] == 0 and np.isfinite(m["loss"])
    assert "log_std" in state.params["params"]


def test_config_validation_names_field():
    with pytest.raises(ValueError, match="num_minibatches=3 must divide num_envs=8"):
        PPOConfig(num_envs=8, num_minibatches=3, core="lstm").validate()
    with pytest.raises(ValueError, match="core"):
        dataclasses.replace(PPOConfig(), core="transformer").validate()
