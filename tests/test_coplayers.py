"""Training beside fixed co-players: the per-env mixture policy, the local trainer's ``coplayers`` option (slot 0
learns, the others are played by self / random / scripted, exact resume) and the population worker's
``fixed_play`` (episodes against fixed co-players, named in the league's win rates)."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

from agents.local_train import LocalTrainConfig, build_trainer
from agents.evaluate import seat_figures
from agents.policies import MixturePolicy, RandomPolicy, ScriptedExpert, parse_coplayers
from agents.ppo import PPOConfig
from launch.run_policies import open_run, restore_policy
from population.league import League, LeagueConfig
from population.worker import RolloutWorker
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.tasks.families import FamilySampler

from tests.test_local_train import TINY_PPO, straight_and_resumed


class Constant:
    """A co-player that always takes one discrete action: which policy acted in an env is read off the action."""

    def __init__(self, action: int, name: str) -> None:
        self.action, self.name = action, name

    def bind(self, env, slots) -> None:
        """Nothing to bind: the action does not depend on the env."""

    def initial_carry(self, num_envs: int, num_slots: int) -> None:
        return None

    def act(self, obs, carry, done, key):
        lead = (done.shape[0], jax.tree_util.tree_leaves(obs)[0].shape[1])
        return None, np.full(lead, self.action, dtype=np.int64)


def test_mixture_draws_per_env_at_episode_starts_and_keeps_the_draw():
    mix = MixturePolicy([Constant(1, "one"), Constant(2, "two"), Constant(3, "never")], weights=[1.0, 1.0, 0.0])
    E = 64
    obs = np.zeros((E, 1, 3), np.float32)
    carry = mix.initial_carry(E, 1)
    keys = np.asarray(jax.random.split(jax.random.PRNGKey(0), 4))
    carry, action = mix.act(obs, carry, np.zeros(E, bool), keys[0])  # first step: every env draws
    first = carry["choice"].copy()
    np.testing.assert_array_equal(action[:, 0], first + 1)  # each env's actions are its drawn policy's
    assert set(first.tolist()) == {0, 1}  # both drawn, the weight-0 policy never
    carry, action = mix.act(obs, carry, np.zeros(E, bool), keys[1])  # mid-episode: the draw is kept
    np.testing.assert_array_equal(carry["choice"], first)
    done = np.arange(E) % 2 == 0
    carry, action = mix.act(obs, carry, done, keys[2])  # episode starts in even envs: only they redraw
    np.testing.assert_array_equal(carry["choice"][~done], first[~done])
    assert (carry["choice"][done] != first[done]).any()
    np.testing.assert_array_equal(action[:, 0], carry["choice"] + 1)
    with pytest.raises(ValueError, match=r"weights=\[1.0, -1.0\] must be 2 non-negative numbers"):
        MixturePolicy([Constant(1, "a"), Constant(2, "b")], weights=[1.0, -1.0])
    with pytest.raises(ValueError, match=r"coplayers='random,bot'.*unknown: \['bot'\]"):
        parse_coplayers("random,bot")


def test_mixture_actions_are_the_chosen_policys():
    """Random and scripted mixed: where an env drew the scripted expert, its slot-1 action is the expert's."""
    env = BatchEnv(EnvConfig(num_envs=16, num_players=2, max_steps=40), FamilySampler("duo-ego"))
    scripted, random = ScriptedExpert(), RandomPolicy(env.single_action_space)
    mix = MixturePolicy([random, scripted])
    mix.bind(env, np.array([1]))
    obs, _ = env.reset(seed=3)
    carry = mix.initial_carry(16, 1)
    done = np.ones(16, bool)
    key = np.asarray(jax.random.PRNGKey(0))
    twin = ScriptedExpert()
    twin.bind(env, np.array([1]))
    _, expected = twin.act(None, None, done, key)
    carry, action = mix.act(jax.tree_util.tree_map(lambda v: v[:, 1:], obs), carry, done, key)
    is_scripted = carry["choice"] == 1
    assert 0 < is_scripted.sum() < 16
    np.testing.assert_array_equal(action[is_scripted], expected[is_scripted])


def tiny_duo(tmp_path, name: str, **kw) -> LocalTrainConfig:
    base = LocalTrainConfig(name=name, runs_dir=tmp_path, family="duo-ego", num_envs=4, max_steps=20,
                            total_timesteps=4 * 16 * 4, checkpoint_every=1, eval_every=2, eval_tasks=2,
                            record_episodes=0, progress=False, ppo=TINY_PPO, coplayers="self,random")  # fmt: skip
    return dataclasses.replace(base, **kw)


def test_local_trainer_learns_in_slot_zero_beside_coplayers_and_resumes_exactly(tmp_path):
    cfg = tiny_duo(tmp_path, "probe")
    assert cfg.ppo_config().num_envs == 4 and tiny_duo(tmp_path, "x", coplayers="self").ppo_config().num_envs == 8
    trainer, runner = build_trainer(cfg)
    assert runner.learn_slots.tolist() == [0] and runner.coplayer.name == "self|random"
    rollout = trainer.collect()
    assert rollout.rewards.shape == (16, 4)  # one learning sequence per env
    assert set(np.unique(runner.coplayer_carry["choice"])) <= {0, 1}
    # exact resume, the co-player mixture's draws and the "self" co-player's LSTM carry included
    (summary, _), (a, b) = straight_and_resumed(lambda name, **kw: tiny_duo(tmp_path, name, **kw))
    # the summary reads per game kind, agent and random reference, beside both fixed co-players
    per_kind = {k for k in summary if k.count("/") == 3}
    assert per_kind and all(0.0 <= summary[k] <= 1.0 for k in per_kind)
    assert {k.split("/")[0] for k in per_kind} == {"agent", "random"}
    assert {k.split("/")[2] for k in per_kind} == {"vs_random", "vs_scripted"}
    for x, y in zip(jax.tree_util.tree_leaves(a.tree), jax.tree_util.tree_leaves(b.tree)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert "coplayer_carry" in a.tree["runner"]
    # a run trained beside co-players restores for evaluation like any other
    policy, step = restore_policy(open_run(tmp_path / "straight"), "agent", num_envs=2)
    assert step == 4 and policy.state is not None
    run = open_run(tmp_path / "straight")  # a run at the family's episode length (max_steps 0) evaluates at it
    assert dataclasses.replace(run, config=dict(run.config, max_steps=0)).env_config(1).max_steps == 80
    with pytest.raises(ValueError, match=r"coplayers=\['random'\]: the env has 1 player slot"):
        build_trainer(dataclasses.replace(cfg, family="near", coplayers="random"))


def test_worker_fixed_play_names_each_episodes_coplayer():
    env_config = EnvConfig(num_envs=4, num_players=2, max_steps=8)
    ppo = PPOConfig(num_steps=16, num_minibatches=2, update_epochs=1, core="none", hidden_sizes=(16,), embed_dim=16)
    worker = RolloutWorker(0, env_config, "duo-ego", ppo, seed=1, fixed_play=1.0, fixed_coplayers=("random", "scripted"))
    state = worker.ppo.init(0)
    out = worker.rollout(0, 1, state, None, "self")
    names = {e["coplayer"] for e in out["episodes"]}
    assert out["episodes"] and names <= {"random", "scripted"} and len(names) == 2
    plain = RolloutWorker(0, env_config, "duo-ego", ppo, seed=1)
    assert {e["coplayer"] for e in plain.rollout(0, 1, state, None, "member1")["episodes"]} == {"member1"}
    # the worker's state (the mixture's draws) goes through the driver's JSON and back
    saved = json.loads(json.dumps(worker.get_state()))
    again = RolloutWorker(0, env_config, "duo-ego", ppo, seed=1, fixed_play=1.0)
    again.set_state(saved)
    np.testing.assert_array_equal(again.members[0].runner.coplayer_carry["choice"],
                                  worker.members[0].runner.coplayer_carry["choice"])  # fmt: skip
    league = League(1)
    for e in out["episodes"]:
        league.record(0, e["coplayer"], e["outcome"], 0.9)
    assert set(league.win_rate["member0"]) == names
    with pytest.raises(ValueError, match=r"LeagueConfig.fixed_play=1.5 must be in \[0, 1\]"):
        LeagueConfig(fixed_play=1.5)
    with pytest.raises(ValueError, match=r"LeagueConfig.fixed_coplayers=\('random', 'human'\)"):
        LeagueConfig(fixed_coplayers=("random", "human"))


def test_mix_family_trains_and_scores_one_and_two_player_tasks_in_one_batch():
    """``mix`` puts compose's one-player tasks and duo-ego's games in one 2-slot batch: a one-player task leaves
    slot 1 inactive. The worker's episodes say which tasks were played alone (the league skips them: no one to
    beat), and the evaluation scores a one-player task once (seat 0), in its own game kind, beside the 2-player
    kinds (both seats)."""
    env_config = EnvConfig(num_envs=8, num_players=2, max_steps=6)
    ppo = PPOConfig(num_steps=16, num_minibatches=2, update_epochs=1, core="none", hidden_sizes=(16,), embed_dim=16)
    worker = RolloutWorker(0, env_config, "mix", ppo, seed=2, curriculum="uniform", fixed_play=1.0)
    out = worker.rollout(0, 1, worker.ppo.init(0), None, "self")
    assert {e["alone"] for e in out["episodes"]} == {True, False}  # both kinds of task in one rollout
    assert np.isfinite(out["rollout"]["rewards"]).all()
    tasks = [FamilySampler("mix", split="held_out_world")(seed) for seed in range(10)]
    players = [len(t.world.spawns) for t in tasks]
    assert 1 in players and 2 in players
    random = RandomPolicy(BatchEnv(env_config).single_action_space)
    figures = seat_figures(BatchEnv(dataclasses.replace(env_config, num_envs=4)), tasks, random, random, seed=0)
    assert figures["single"]["episodes"] == players.count(1)  # seat 0 only
    two_player = sum(f["episodes"] for kind, f in figures.items() if kind != "single")
    assert two_player == 2 * players.count(2)  # both seats
