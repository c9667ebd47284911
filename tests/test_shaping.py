"""Training-only signals on openland tasks: potential-based shaping of the reward (it telescopes within an
episode and never leaks into the figures that measure agents) and the auxiliary goal-direction target."""

from __future__ import annotations

import numpy as np
import pytest

from agents.openland_env import PlayerVecEnv
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.tasks.families import FamilySampler


def make(shaping: float, gamma: float = 1.0) -> PlayerVecEnv:
    return PlayerVecEnv(BatchEnv(EnvConfig(num_envs=3, num_players=1, max_steps=25), FamilySampler("near")), shaping, gamma)


def test_shaping_telescopes_within_each_episode_and_figures_stay_unshaped():
    env = make(shaping=1.0)
    env.reset(seed=3)
    start = env.env.goal_potential()[:, 0].copy()
    assert (start < 0).all(), "near tasks start 2-4 tiles from the target: there is distance to close"
    rng = np.random.default_rng(0)
    shaped_sum = np.zeros(3)
    for t in range(25):
        actions = rng.integers(0, [3, 3, 3, 2, 2], size=(3, 5))
        actions[:, 0] = 2  # walk, so the potential changes
        _, reward, term, trunc, info = env.step(actions)
        shaped_sum += reward
        if t < 24:
            assert not (term | trunc).any()
    episodes = env.pop_episodes()
    assert len(episodes) == 3
    goal_sum = np.array([e["return"] for e in episodes])
    # sum of gamma=1 shaping terms = phi(last state) - phi(first state); the goal return is unshaped
    last = shaped_sum - goal_sum + start
    assert np.all(last <= 1e-6) and np.all(last >= start - 25 * 0.5), "the potential moved by at most a walk"
    assert not np.allclose(shaped_sum, goal_sum)
    # the new episodes' potential was read after the auto-reset
    np.testing.assert_allclose(env.shaping.phi, env.env.goal_potential())


def test_no_shaping_gives_the_goal_reward_exactly():
    shaped = make(shaping=0.0)
    shaped.reset(seed=1)
    raw = BatchEnv(EnvConfig(num_envs=3, num_players=1, max_steps=25), FamilySampler("near"))
    raw.reset(seed=1)
    rng = np.random.default_rng(1)
    for _ in range(10):
        actions = rng.integers(0, [3, 3, 3, 2, 2], size=(3, 5))
        _, r, *_ = shaped.step(actions)
        _, r_raw, *_ = raw.step(actions[:, None])
        np.testing.assert_array_equal(r, r_raw.reshape(-1))
    with pytest.raises(ValueError, match="shaping=-1"):
        make(shaping=-1.0)


def test_auxiliary_goal_direction_is_learned_and_never_reaches_the_policy():
    import dataclasses

    from agents.local_train import LocalTrainConfig, build_trainer

    cfg = LocalTrainConfig(name="aux")  # the run defaults: 64 envs x 16 steps per update
    trainer, env = build_trainer(cfg)
    assert env.aux_targets and trainer.obs["aux_target"].shape == (cfg.num_envs, 3)
    assert "aux_target" not in env.single_observation_space.spaces  # a training target, not an observation
    losses = [trainer.iteration()["aux_loss"] for _ in range(8)]
    assert np.mean(losses[2:]) < 0.75 * losses[0], losses  # the encoder learns where the goal's object is
    off = dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, aux_coef=0.0))
    assert not build_trainer(off)[1].aux_targets
