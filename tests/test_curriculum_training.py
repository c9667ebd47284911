"""The curriculum inside training: the sampler is fed the runner's real episodes (with PLR scores), and a run
with PLR that crashes and resumes continues exactly, curriculum state included."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import jax
import numpy as np
import pytest

from agents.checkpoint import Checkpointer, restore_trainer
from agents.local_train import LocalTrainConfig, build_trainer
from agents.ppo import PPOConfig
from agents.run import CurriculumConfig
from test_local_train import straight_and_resumed
from worlds.envs.batch_env import EnvConfig

TINY_PPO = PPOConfig(num_steps=16, num_minibatches=2, update_epochs=2, core="lstm", core_size=32, hidden_sizes=(32,),
                     embed_dim=32)  # fmt: skip
#: A pool and buffer small enough that PLR replays within a few updates.
SMALL = CurriculumConfig(pool_size=8, plr_buffer_size=4, filter_rollouts=1)


def tiny(tmp_path: Path, name: str, **kw) -> LocalTrainConfig:
    base = LocalTrainConfig(name=name, runs_dir=tmp_path, family="broad", num_envs=4, max_steps=10,
                            total_timesteps=4 * 16 * 4, checkpoint_every=1, eval_every=0, eval_tasks=2,
                            record_episodes=0, progress=False, ppo=TINY_PPO, curriculum="plr",
                            curriculum_config=SMALL)  # fmt: skip
    return dataclasses.replace(base, **kw)


def test_sampler_is_fed_the_runners_episodes(tmp_path):
    trainer, _ = build_trainer(tiny(tmp_path, "fed"))
    sampler = trainer.feed.curriculum
    played: Counter[str] = Counter()
    for _ in range(2):
        trainer.iteration()
        played.update(r.task_id for r in trainer.pop_episodes())
    assert sum(played.values()) == 4 * 3  # 4 envs x 32 steps / 10-step episodes
    slot_of = sampler._slot_of
    counts = np.zeros(len(sampler.pool), np.int64)
    for tid, n in played.items():
        counts[slot_of[tid]] += n
    np.testing.assert_array_equal(sampler.stats.count, counts)  # every episode observed once, on its task's slot
    assert sampler.stats.last_update[counts > 0].min() >= 0 and (sampler.stats.last_update[counts == 0] == -1).all()
    score = sampler.stats.score[counts > 0]
    assert np.all(np.isfinite(score)) and np.all(score >= 0)
    assert score.max() > 0  # mean positive advantage: positive for some episode of an untrained value function
    assert sampler.state.in_buffer.sum() == min(4, (counts > 0).sum())


def test_plr_run_resumes_exactly_with_its_curriculum(tmp_path):
    (straight, resumed), runs = straight_and_resumed(lambda name, **kw: tiny(tmp_path, name, **kw))

    def final(name: str):
        restored = runs[0] if name == "straight" else runs[1]
        return restored.tree["train_state"].params, restored.extra["curriculum"]

    (params_a, cur_a), (params_b, cur_b) = final("straight"), final("crashed")
    for a, b in zip(jax.tree_util.tree_leaves(params_a), jax.tree_util.tree_leaves(params_b)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert cur_a == cur_b  # statistics, buffer, clock, drawn tasks and running score sums, exactly
    state = cur_a["curriculum"]
    assert state["state"]["clock"]["__npscalar__"] > 4  # tasks were drawn beyond the first resets
    assert sum(state["state"]["in_buffer"]["__ndarray__"]) == 4  # the buffer filled (PLR replays once half full)
    assert resumed["eval_success_held_out_world"] == straight["eval_success_held_out_world"]
    assert {"eval_success_held_out_game", "random_eval_success_held_out_game"} <= set(straight)

    # a checkpoint of another curriculum is refused, naming both
    other, _ = build_trainer(tiny(tmp_path, "straight", curriculum="filter"))
    with Checkpointer(tmp_path / "straight" / "checkpoints", create=False) as ckpt, \
            pytest.raises(ValueError, match="curriculum=plr, this sampler curriculum=filter"):
        restore_trainer(ckpt, other)


def test_population_worker_keeps_a_curriculum_per_member_and_resumes_it():
    from population.worker import RolloutWorker

    env_config = EnvConfig(num_envs=4, num_players=1, max_steps=10)
    make = lambda: RolloutWorker(0, env_config, "broad", TINY_PPO, seed=3, curriculum="plr",  # noqa: E731
                                 curriculum_config=SMALL)  # fmt: skip
    worker = make()
    state = worker.ppo.init(0)
    for it in range(2):
        for member in (0, 1):
            worker.rollout(member, it, state, None)
    samplers = [worker.members[m].feed.curriculum for m in (0, 1)]
    assert samplers[0] is not samplers[1] and all(s.stats.count.sum() == 4 * 3 for s in samplers)
    saved = json.loads(json.dumps(worker.get_state()))  # what the driver writes
    other = make()
    other.set_state(saved)
    a, b = worker.rollout(0, 2, state, None), other.rollout(0, 2, state, None)
    for x, y in zip(jax.tree_util.tree_leaves(a["rollout"]), jax.tree_util.tree_leaves(b["rollout"])):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert a["episodes"] == b["episodes"]
    assert worker.get_state() == other.get_state()
