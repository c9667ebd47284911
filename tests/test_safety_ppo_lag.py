"""PPO-Lag: the cost advantage of a hand-built rollout against a plain loop, the penalised advantage, λ = 0 giving
PPO's update, plain PPO through the same loop bit for bit, and on the real safety family: λ growing while the
episodes cost more than the limit, unsafe steps counted from the env's flags, and an exact resume with λ."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agents.checkpoint import Checkpointer
from agents.ppo import PPO, PPOConfig
from safety.lagrange import LagrangeConfig
from safety.ppo_lag import COST_RULES, PPOLag, PPOLagTrainConfig, PPOLagTrainer, train_ppo_lag
from tests.test_networks import goal_obs_space, random_goal_obs
from tests.test_ppo import _dict_rollout, reference_gae

CFG = PPOConfig(num_envs=4, num_steps=8, num_minibatches=2, update_epochs=2, core="lstm", core_size=16, embed_dim=16,
                hidden_sizes=(16,))  # fmt: skip
ACTIONS = gym.spaces.MultiDiscrete([3, 3, 3, 2, 2])


def _rollout_with_costs(ppo: PPO, state, seed: int = 0):
    ro = _dict_rollout(ppo, state, CFG.num_steps, CFG.num_envs, seed)
    rng = np.random.default_rng(seed + 1)
    costs = (rng.random((CFG.num_steps, CFG.num_envs, len(COST_RULES))) < 0.3).astype(np.float32)
    costs[2, 1] = 1.0  # a step on a hazard *and* falling costs 1, as the env counts it
    last_obs = jax.tree_util.tree_map(lambda x: x[0], random_goal_obs(rng, 1, CFG.num_envs))
    return ro.replace(costs=costs), last_obs


def test_cost_advantage_of_a_hand_built_rollout_and_the_penalised_advantage() -> None:
    lag = PPOLag(CFG, goal_obs_space(), ACTIONS)
    state, lstate = lag.init(3), lag.init_lag(3)
    ro, last_obs = _rollout_with_costs(lag, state)
    adv, ret, values, carry_end = lag.cost_advantages(state, lstate.cost, ro, last_obs)

    # the critic's values are what it says step by step from its carry, as acting would have seen them
    carry, stepwise = lstate.cost.carry, []
    for t in range(CFG.num_steps):
        o = jax.tree_util.tree_map(lambda x: x[t][None], lag.normalize_obs(state.obs_rms, ro.obs))
        carry, _, v = lag.net.apply(lstate.cost.params, carry, o, jnp.asarray(ro.dones[t])[None])
        stepwise.append(np.asarray(v[0]))
    np.testing.assert_allclose(values, np.stack(stepwise), rtol=1e-5, atol=1e-6)
    for a, b in zip(jax.tree_util.tree_leaves(carry_end), jax.tree_util.tree_leaves(carry)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    o = jax.tree_util.tree_map(lambda x: x[None], lag.normalize_obs(state.obs_rms, last_obs))
    last_value = np.asarray(lag.net.apply(lstate.cost.params, carry, o, jnp.asarray(ro.last_done)[None])[2][0])

    # GAE of the 0/1 unsafe flag (any rule), by a plain loop
    unsafe = ro.costs.max(-1)
    assert unsafe[2, 1] == 1.0
    ends = np.concatenate([ro.dones[1:], ro.last_done[None]], 0).astype(np.float32)
    adv_ref, ret_ref = reference_gae(unsafe, np.asarray(values), ends, last_value, CFG.gamma, CFG.gae_lambda)
    np.testing.assert_allclose(adv, adv_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ret, ret_ref, rtol=1e-4, atol=1e-5)

    # (A_R − λ A_C) / (1 + λ) on the standardised reward and centred cost advantages (norm_adv)
    a_r = np.random.default_rng(5).normal(size=adv.shape).astype(np.float32)
    penal = lag._policy_advantages(jnp.asarray(a_r), ro.replace(extras={"cost_advantages": adv, "multiplier": 0.7}))
    a_c = np.asarray(adv)
    expected = ((a_r - a_r.mean()) / (a_r.std() + 1e-8) - 0.7 * (a_c - a_c.mean())) / 1.7
    np.testing.assert_allclose(penal, expected, rtol=1e-4, atol=1e-5)
    assert lag._policy_advantages(jnp.asarray(a_r), ro) is not None  # no extras: the reward advantage as it is
    np.testing.assert_array_equal(lag._policy_advantages(jnp.asarray(a_r), ro), a_r)


def test_lambda_zero_is_ppos_update_and_unconstrained_is_ppo_bit_for_bit() -> None:
    ppo = PPO(CFG, goal_obs_space(), ACTIONS)
    state = ppo.init(4)
    ro, last_obs = _rollout_with_costs(ppo, state, seed=2)
    ref_state, ref_m = ppo.update(state, ro)

    plain = PPOLag(CFG, goal_obs_space(), ACTIONS, constrained=False)
    assert plain != ppo and hash(plain) != hash(ppo)  # never sharing PPO's compiled update by equality
    p_state, p_lag, p_m = plain.lag_update(state, plain.init_lag(4), ro, last_obs)
    for a, b in zip(jax.tree_util.tree_leaves(ref_state), jax.tree_util.tree_leaves(p_state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert float(p_m["loss"]) == float(ref_m["loss"])
    assert p_lag.train_unsafe.tolist() == [*ro.costs.sum((0, 1)).astype(int).tolist(), int(ro.costs.max(-1).sum())]

    lag = PPOLag(CFG, goal_obs_space(), ACTIONS)
    lstate = lag.init_lag(4)
    zero = lstate.replace(lagrange=lstate.lagrange.replace(multiplier=jnp.float32(0.0)))
    z_state, _, z_m = lag.lag_update(state, zero, ro, last_obs)
    # λ = 0: the penalised advantage is the reward advantage, standardised once more (PPO normalises per
    # minibatch anyway), so the update equals PPO's up to rounding
    assert float(z_m["loss"]) == pytest.approx(float(ref_m["loss"]), rel=1e-4, abs=1e-5)
    for a, b in zip(jax.tree_util.tree_leaves(ref_state.params), jax.tree_util.tree_leaves(z_state.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=1e-5)
    big = lstate.replace(lagrange=lstate.lagrange.replace(multiplier=jnp.float32(5.0)))
    b_state, _, _ = lag.lag_update(state, big, ro, last_obs)
    diff = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
               for a, b in zip(jax.tree_util.tree_leaves(ref_state.params), jax.tree_util.tree_leaves(b_state.params)))
    assert diff > 1e-4  # a large λ changes the policy's update


TINY = PPOLagTrainConfig(num_envs=8, max_steps=40, total_timesteps=8 * 20 * 4, checkpoint_every=1,
                         ppo=dataclasses.replace(PPOConfig(), num_steps=20, num_minibatches=2, update_epochs=1,
                                                 core="none", hidden_sizes=(16,), embed_dim=16, norm_obs=False),
                         lagrange=LagrangeConfig(cost_limit=0.0, step_size=0.5, initial=0.0))  # fmt: skip


def test_lambda_grows_on_the_safety_family_while_episodes_cost_more_than_the_limit() -> None:
    trainer = PPOLagTrainer(TINY)
    rows = [trainer.iteration() for _ in range(4)]
    costs = [r["episode_cost"] for r in rows]
    lams = [r["multiplier"] for r in rows]
    assert sum(r["episodes"] for r in rows) == 2 * 8  # 160 steps of 40-step episodes in 8 envs
    assert any(c > 0 for c in costs if np.isfinite(c)), f"no unsafe step in any episode: {costs}"
    # λ ← max(0, λ + η (J_C − d)) per rollout with episodes; unchanged without
    lam = 0.0
    for c, got in zip(costs, lams):
        if np.isfinite(c):
            lam = max(0.0, lam + 0.5 * (c - 0.0))
        assert got == pytest.approx(lam, rel=1e-6)
    assert lams[-1] > 0.0
    # training-time unsafe steps are the env's own flags, every step counted (finished episodes or not)
    counts = trainer.train_unsafe()
    assert counts["unsafe"] >= max(counts["hazard"], counts["fell"]) and counts["unsafe"] >= sum(
        c * 8 for c in costs if np.isfinite(c))
    assert rows[-1]["train_unsafe"] == counts["unsafe"]


def test_resume_continues_exactly_with_lambda_in_the_state(tmp_path) -> None:
    straight, _ = train_ppo_lag(dataclasses.replace(TINY, checkpoint_dir=tmp_path / "straight"))

    class Crash(Exception):
        """The process dying after update 2 (raised by the trainer's callback)."""

    def crash(update: int, row: dict) -> None:
        if update == 2:
            raise Crash

    cfg = dataclasses.replace(TINY, checkpoint_dir=tmp_path / "crashed")
    with pytest.raises(Crash):
        train_ppo_lag(cfg, on_update=crash)
    resumed, history = train_ppo_lag(cfg)
    assert len(history) == 2 and int(resumed.state.updates) == 4
    assert resumed.multiplier == straight.multiplier and resumed.train_unsafe() == straight.train_unsafe()
    for a, b in zip(jax.tree_util.tree_leaves(straight.checkpoint_tree()), jax.tree_util.tree_leaves(resumed.checkpoint_tree())):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other = dataclasses.replace(cfg, lagrange=LagrangeConfig(cost_limit=3.0))
    with Checkpointer(tmp_path / "crashed", create=False) as ckpt, pytest.raises(Exception, match="cost_limit|lagrange"):
        PPOLagTrainer(other).restore(ckpt)
