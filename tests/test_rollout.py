"""The one rollout runner: which slots learn, who plays the others, shaping only in the training reward,
every finished episode to the hooks exactly once, evaluation through the same loop, no recompilation."""

from __future__ import annotations

import numpy as np
import pytest

from agents.policies import PPOPolicy, RandomPolicy, ScriptedExpert
from agents.ppo import PPO, PPOConfig
from agents.rollout import EpisodeRecord, RolloutRunner
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.experts.scripted import ScriptedPolicy
from worlds.tasks.families import FamilySampler
from worlds.tasks.game import task_id

E, T = 4, 16
#: Small shapes (as in test_local_train): one act batch of 4 sequences, so the persistent JAX cache serves them.
TINY = PPOConfig(num_envs=E, num_steps=T, num_minibatches=2, update_epochs=2, core="lstm", core_size=32,
                 hidden_sizes=(32,), embed_dim=32)  # fmt: skip


class WatchedEnv(BatchEnv):
    """A real BatchEnv that also keeps, per step, what was stepped and what came back: the independent account
    the runner's batch and records are checked against."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.log: list[dict] = []

    def step(self, actions):
        obs_before = {k: v.copy() for k, v in self._observation().items()}
        obs, reward, term, trunc, info = super().step(actions)
        self.log.append({"obs": obs_before, "actions": np.array(actions), "reward": reward.copy(), "done": term | trunc,
                         "potential": info["potential"].copy(), "phi_after": self.goal_potential()})  # fmt: skip
        return obs, reward, term, trunc, info


def duo(num_envs: int = E, max_steps: int = 10) -> WatchedEnv:
    return WatchedEnv(EnvConfig(num_envs=num_envs, num_players=2, max_steps=max_steps), FamilySampler("duo"))


def ppo_for(env: BatchEnv, num_envs: int) -> PPO:
    import dataclasses

    return PPO(dataclasses.replace(TINY, num_envs=num_envs), env.single_observation_space, env.single_action_space)


def test_only_the_learning_slots_reach_the_batch_and_the_coplayer_plays_its_slot():
    env = duo()
    ppo = ppo_for(env, E)
    state = ppo.init(0)
    runner = RolloutRunner(env, ppo, learning=(1,), coplayer=ScriptedExpert(), gamma=ppo.cfg.gamma)
    runner.reset(seed=5)
    ro = runner.collect(state, np.asarray(state.key), T)
    assert ro.actions.shape == (T, E, 5) and ro.rewards.shape == (T, E) and ro.dones.shape == (T, E)
    for t, step in enumerate(env.log):
        for k in ("rays", "proprio", "goal"):  # the learner saw slot 1, never slot 0
            np.testing.assert_array_equal(ro.obs[k][t], step["obs"][k][:, 1])
        np.testing.assert_array_equal(ro.actions[t], step["actions"][:, 1])
        np.testing.assert_array_equal(ro.rewards[t], step["reward"][:, 1])
    assert not np.array_equal(ro.obs["proprio"], np.stack([s["obs"]["proprio"][:, 0] for s in env.log]))
    # The scripted expert played slot 0: a twin env stepped with the same actions asks the expert afresh, and
    # it chose exactly what the runner stepped there.
    twin = duo()
    twin.reset(seed=5)
    expert = ScriptedPolicy(twin)
    for step in env.log:
        np.testing.assert_array_equal(expert.act()[:, 0], step["actions"][:, 0])
        twin.step(step["actions"])
    # A bool mask says the same as the index tuple.
    masked = RolloutRunner(duo(), ppo, learning=np.array([False, True]), coplayer=ScriptedExpert())
    assert masked.learn_slots.tolist() == [1] and masked.co_slots.tolist() == [0]


def test_bad_slot_descriptions_are_refused_naming_them():
    env = duo()
    ppo = ppo_for(env, E)
    with pytest.raises(ValueError, match=r"learning=\[2\]"):
        RolloutRunner(env, ppo, learning=(2,), coplayer=RandomPolicy(env.single_action_space))
    with pytest.raises(ValueError, match="one entry per player slot"):
        RolloutRunner(env, ppo, learning=np.array([True]), coplayer=RandomPolicy(env.single_action_space))
    with pytest.raises(ValueError, match=r"slots \[0\] do not learn and coplayer is None"):
        RolloutRunner(env, ppo, learning=(1,))
    with pytest.raises(ValueError, match="PPOConfig.num_envs=4 but the env's 4 envs x 2 learning slots make 8"):
        RolloutRunner(env, ppo, learning=(0, 1))
    with pytest.raises(ValueError, match="ScriptedExpert needs a worlds BatchEnv"):
        ScriptedExpert().bind(object(), np.array([0]))


def test_hooks_get_every_episode_once_with_unshaped_returns_and_shaping_reaches_training_only():
    env = duo(num_envs=2, max_steps=6)
    ppo = ppo_for(env, 4)  # every slot learns: 2 envs x 2 slots
    state = ppo.init(1)
    seen: list[EpisodeRecord] = []
    coef, gamma = 1.0, 0.9
    runner = RolloutRunner(env, ppo, learning=(0, 1), shaping=coef, gamma=gamma, episode_hooks=[seen.append])
    runner.reset(seed=2)
    phi0 = env.goal_potential().copy()
    rollouts = [runner.collect(state, np.asarray(state.key) + i, T) for i in range(2)]  # 32 steps, 5 episodes/env

    # Independent account: goal returns summed per env between episode ends, and the shaped reward recomputed
    # from the potentials the env reported.
    acc = np.zeros((2, 2))
    ended: list[tuple[int, np.ndarray]] = []
    phi = phi0
    shaped = []
    for step in env.log:
        acc += step["reward"]
        shaped.append(step["reward"] + coef * (gamma * step["potential"] - phi))
        phi = np.where(step["done"][:, None], step["phi_after"], step["potential"])
        for e in np.flatnonzero(step["done"]):
            ended.append((int(e), acc[e].copy()))
            acc[e] = 0.0
    assert len(ended) == 2 * (2 * T // 6) == len(seen)  # each finished episode reached the hook once
    for (e, ret), rec in zip(ended, seen):
        assert rec.env == e and rec.length == 6 and rec.coplayer == ""
        np.testing.assert_allclose(rec.returns, ret)  # the goal reward's return, not the shaped one
        assert rec.learning.all() and rec.task_id
    train_reward = np.concatenate([np.asarray(r.rewards) for r in rollouts])  # [2T, 4]
    np.testing.assert_allclose(train_reward, np.stack(shaped).reshape(2 * T, 4), rtol=1e-5, atol=1e-6)
    raw = np.stack([s["reward"] for s in env.log]).reshape(2 * T, 4)
    assert np.abs(train_reward - raw).max() > 1e-3  # shaping did change the training reward


def test_no_recompilation_across_rollouts_and_evaluation_through_the_same_runner():
    env = duo()
    ppo = ppo_for(env, E)
    state = ppo.init(0)
    runner = RolloutRunner(env, ppo, learning=(0,), coplayer=PPOPolicy(ppo, state, name="past"))
    runner.reset(seed=0)
    runner.collect(state, np.asarray(state.key), T)
    sizes = PPO.compile_cache_sizes()
    runner.coplayer.state = ppo.init(7)  # the league swaps the co-player: arrays only
    ro = runner.collect(state, np.asarray(state.key) + 1, T)
    assert PPO.compile_cache_sizes() == sizes, "a second rollout recompiled act or value"
    assert ro.obs["rays"].shape[:2] == (T, E)

    # Evaluation: nobody learns, the policy plays every slot, each task's first episode is counted once.
    sampler = FamilySampler("duo", held_out=True)
    tasks = [sampler(100 + i) for i in range(5)]  # 2 envs: the last batch is padded
    heard: list[EpisodeRecord] = []
    evaluator = RolloutRunner(duo(num_envs=2, max_steps=8), learning=(), coplayer=RandomPolicy(env.single_action_space),
                              episode_hooks=[heard.append])  # fmt: skip
    records = evaluator.play_tasks(tasks, max_steps=8, record=3)
    assert [r.task_id for r in records] == [task_id(t) for t in tasks]
    assert len(heard) == len(records) and all(a is b for a, b in zip(heard, records))
    assert [r.recording is not None for r in records] == [True, True, True, False, False]
    assert records[0].recording.num_steps == records[0].length == 8
    assert all(r.coplayer == "random" and not r.learning.any() for r in records)
    with pytest.raises(ValueError, match="no player slot learns"):
        evaluator.collect(state, np.asarray(state.key), T)
