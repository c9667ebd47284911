"""The standard PPO (core "none", every Implementation-Matters switch on) solves CartPole-v1."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from agents.ppo import PPO, PPOConfig
from agents.trainer import make_train
from agents.vecenv import GymVecEnv

pytestmark = pytest.mark.slow


def test_ppo_solves_cartpole_within_150k_steps():
    # Reference hyper-parameters (CleanRL ppo.py), 8 envs. The learning rate anneals over 250k steps and the test
    # stops as soon as the goal is met: annealed over exactly 150k, the last updates' steps are so small that
    # whether the mean crosses 450 by 150k depends on the CPU's floating-point rounding (measured: reached on one
    # machine, 360 on another; annealed over 250k it is reached at 72k steps).
    cfg = PPOConfig(num_envs=8, num_steps=128, total_timesteps=250_000, core="none", seed=0)
    assert all(getattr(cfg, f) for f in (
        "clip_vloss", "reward_scaling", "reward_clip", "orthogonal_init", "anneal_lr", "norm_obs", "clip_obs",
        "tanh_activations", "clip_grad_norm", "norm_adv"))
    trainer = make_train(cfg, GymVecEnv("CartPole-v1", cfg.num_envs))
    t0 = time.time()
    reached_at = None
    sizes_after_first = None
    for _ in range(cfg.num_updates):
        m = trainer.iteration()
        assert m["skipped_steps"] == 0 and all(math.isfinite(m[k]) for k in ("loss", "v_loss", "entropy"))
        if sizes_after_first is None:
            sizes_after_first = PPO.compile_cache_sizes()
        recent = trainer.episode_returns[-20:]
        if len(recent) == 20 and np.mean(recent) >= 450:
            reached_at = int(m["env_steps"])
            break
        if m["env_steps"] >= 150_000:
            break
    elapsed = time.time() - t0
    print(f"CartPole: mean return of last 20 episodes >= 450 at {reached_at} env steps, {elapsed:.1f}s")
    assert reached_at is not None and reached_at <= 150_000, (
        f"did not reach 450 within 150k steps; last 20 returns: {trainer.episode_returns[-20:]}"
    )
    # No recompilation across iterations.
    assert PPO.compile_cache_sizes() == sizes_after_first
    assert sizes_after_first["act"] >= 1 and sizes_after_first["update"] >= 1
