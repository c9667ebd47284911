"""Rollout workers: each owns ``BatchEnv`` copies and acts with the policies the driver hands it.

A worker keeps one :class:`~agents.rollout.RolloutRunner` per population member it has served (env, last
observation, episode-start flags, core carries), so a member's episodes continue across its rollouts even when
workers are shared. Parameters arrive as Ray object-store references, once per rollout, never per step. Player
slot 0 of every env is the learning member; the other slots (multi-player families) are played by the
co-player the league chose. Results carry (member, iteration) so that a retried task is never counted twice by
the driver.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from agents.policies import PPOPolicy, random_key
from agents.ppo import PPO, PPOConfig, TrainState
from agents.rollout import EpisodeRecord, RolloutRunner
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.tasks.families import FamilySampler

#: The player slot a member learns in; every other slot is the league's co-player.
LEARNING_SLOTS = (0,)


@dataclass
class _Member:
    runner: RolloutRunner
    key: np.ndarray
    episodes: list[dict[str, float]] = field(default_factory=list)


def learner_ppo(ppo: PPOConfig, env_config: EnvConfig) -> PPOConfig:
    """The learner's PPO config: one sequence per env (player slot 0)."""
    return dataclasses.replace(ppo, num_envs=env_config.num_envs * len(LEARNING_SLOTS))


class RolloutWorker:
    """Collects rollouts for any member (a Ray actor in ``openland train``; a plain object in tests)."""

    def __init__(
        self, worker_id: int, env_config: EnvConfig, family: str, ppo: PPOConfig, seed: int, shaping: float = 0.0
    ):
        self.worker_id = worker_id
        self.shaping = shaping  # potential-based shaping of the training reward (agents.shaping)
        self.env_config = env_config
        self.family = family
        self.seed = seed
        probe = BatchEnv(dataclasses.replace(env_config, num_envs=1), FamilySampler(family))
        self.ppo = PPO(learner_ppo(ppo, env_config), probe.single_observation_space, probe.single_action_space)
        self.members: dict[int, _Member] = {}

    def pid(self) -> int:
        return os.getpid()

    def _member(self, member: int) -> _Member:
        m = self.members.get(member)
        if m is None:
            env = BatchEnv(self.env_config, FamilySampler(self.family))
            seed = self.seed + 31 * self.worker_id + member
            m = _Member(runner=None, key=np.asarray(jax.random.fold_in(random_key(seed), 1)))  # type: ignore[arg-type]
            m.runner = RolloutRunner(
                env, self.ppo, learning=LEARNING_SLOTS, coplayer=PPOPolicy(self.ppo, None, name="self"),
                shaping=self.shaping, gamma=self.ppo.cfg.gamma, aux_targets=self.ppo.cfg.aux_coef > 0, seed=seed,
                episode_hooks=[lambda record, m=m: m.episodes.append(_league_row(record))],
            )  # fmt: skip
            m.runner.reset(seed=self.seed + 7919 * self.worker_id + 104729 * member)
            self.members[member] = m
        return m

    def rollout(
        self, member: int, iteration: int, state: TrainState, coplayer: TrainState | None, coplayer_name: str = "self"
    ) -> dict[str, Any]:
        """``num_steps`` steps of every env for ``member``; returns the rollout arrays and finished episodes."""
        m = self._member(member)
        if m.runner.coplayer is not None:  # one-player families have no co-player slots
            m.runner.coplayer.state = state if coplayer is None else coplayer
            m.runner.coplayer.name = coplayer_name
        m.key, key = np.asarray(jax.random.split(m.key))
        T = self.ppo.cfg.num_steps
        rollout = m.runner.collect(state, key, T)
        episodes, m.episodes = m.episodes, []
        return {
            "member": member,
            "iteration": iteration,
            "worker": self.worker_id,
            "coplayer": coplayer_name,
            "rollout": {f.name: jax.tree_util.tree_map(np.asarray, getattr(rollout, f.name))
                        for f in dataclasses.fields(rollout)},  # fmt: skip
            "episodes": episodes,
            "steps": T * self.env_config.num_envs,
        }


def _league_row(record: EpisodeRecord) -> dict[str, float]:
    """What the driver's fitness and the league read of a finished episode: the member's (slot 0) figures."""
    return {"return": float(record.returns[0]), "success": float(record.success[0]),
            "unsafe": float(record.unsafe[0]), "outcome": record.outcome(0)}  # fmt: skip
