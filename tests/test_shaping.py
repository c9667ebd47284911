"""Training-only signals on openland tasks: potential-based shaping of the reward (it telescopes within an
episode and never leaks into the figures that measure agents) and the auxiliary goal-direction target."""

from __future__ import annotations

import numpy as np
import pytest

from agents.shaping import PotentialShaping
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.tasks.families import FamilySampler


class Shaped:
    """A BatchEnv whose step also returns the shaped training reward (as the rollout runner applies it)."""

    def __init__(self, shaping: float, gamma: float = 1.0):
        self.env = BatchEnv(EnvConfig(num_envs=3, num_players=1, max_steps=25), FamilySampler("near"))
        self.shaping = PotentialShaping(self.env, shaping, gamma)

    def reset(self, seed: int) -> None:
        self.env.reset(seed=seed)
        self.shaping.sync()

    def step(self, actions: np.ndarray):
        obs, reward, term, trunc, info = self.env.step(actions[:, None])
        return self.shaping(reward, term | trunc, info)[:, 0], reward[:, 0], term | trunc, info


def make(shaping: float, gamma: float = 1.0) -> Shaped:
    return Shaped(shaping, gamma)


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
        reward, _, done, info = env.step(actions)
        shaped_sum += reward
        if t < 24:
            assert not done.any()
    assert sorted(info["final"]["env"].tolist()) == [0, 1, 2]
    goal_sum = info["final"]["return"][np.argsort(info["final"]["env"]), 0]
    # sum of gamma=1 shaping terms = phi(last state) - phi(first state); the goal return is unshaped
    last = shaped_sum - goal_sum + start
    assert np.all(last <= 1e-6) and np.all(last >= start - 25 * 0.5), "the potential moved by at most a walk"
    assert not np.allclose(shaped_sum, goal_sum)
    # the new episodes' potential was read after the auto-reset
    np.testing.assert_allclose(env.shaping.phi, env.env.goal_potential())


def test_env_potential_is_the_predicate_modules_over_the_env_state_on_broad_goals():
    """The env's per-step potential (one kernel call with the step) is ``goal_potential`` of its entity state and
    floors, covers every relation (on floors and objects, see, negations), and at unit 1 is 0 exactly when the
    goal holds."""
    from worlds.sim.predicates import goal_potential

    env = BatchEnv(EnvConfig(num_envs=8, num_players=1, max_steps=40, shaping_unit=1.0), FamilySampler("broad"))
    env.reset(seed=4)
    rng = np.random.default_rng(2)
    relations, seen_values = set(), []
    for _ in range(30):
        _, reward, *_, info = env.step(rng.integers(0, [3, 3, 3, 2, 2], size=(8, 1, 5)))
        phi = env.goal_potential()
        expected = goal_potential(env.tables, env.entity_state(), env.config.near_distance, env.floor_map(),
                                  env.config.physics.grab_reach, unit=1.0)[:, :1]  # fmt: skip
        np.testing.assert_allclose(phi, expected, rtol=1e-6)
        np.testing.assert_array_equal(phi == 0, reward == 1)
        assert np.all(phi[reward == 0] <= -1.0)
        relations |= set(env.tables.relation[env.tables.valid].tolist())
        seen_values.append(phi)
    assert relations == {0, 1, 2, 3}, relations
    assert len(np.unique(np.round(np.concatenate(seen_values), 3))) > 20  # it moves with the players


def test_no_shaping_gives_the_goal_reward_exactly():
    shaped = make(shaping=0.0)
    shaped.reset(seed=1)
    raw = BatchEnv(EnvConfig(num_envs=3, num_players=1, max_steps=25), FamilySampler("near"))
    raw.reset(seed=1)
    rng = np.random.default_rng(1)
    for _ in range(10):
        actions = rng.integers(0, [3, 3, 3, 2, 2], size=(3, 5))
        r, *_ = shaped.step(actions)
        _, r_raw, *_ = raw.step(actions[:, None])
        np.testing.assert_array_equal(r, r_raw.reshape(-1))
    with pytest.raises(ValueError, match="shaping=-1"):
        make(shaping=-1.0)


def test_auxiliary_goal_direction_is_learned_and_never_reaches_the_policy():
    import dataclasses

    from agents.local_train import LocalTrainConfig, build_trainer

    cfg = LocalTrainConfig(name="aux")  # the run defaults: 64 envs x 16 steps per update
    trainer, runner = build_trainer(cfg)
    assert runner.aux_targets and runner.obs["aux_target"].shape == (cfg.num_envs, 1, 3)
    assert "aux_target" not in runner.env.single_observation_space.spaces  # a training target, not an observation
    losses = [trainer.iteration()["aux_loss"] for _ in range(8)]
    assert np.mean(losses[2:]) < 0.75 * losses[0], losses  # the encoder learns where the goal's object is
    off = dataclasses.replace(cfg, ppo=dataclasses.replace(cfg.ppo, aux_coef=0.0))
    assert not build_trainer(off)[1].aux_targets
