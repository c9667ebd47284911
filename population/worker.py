"""Rollout workers: each owns ``BatchEnv`` copies and acts with the policies the driver hands it.

A worker keeps one :class:`~agents.rollout.RolloutRunner` per population member it has served (env, last
observation, episode-start flags, core carries), so a member's episodes continue across its rollouts even when
workers are shared. Parameters arrive as Ray object-store references, once per rollout, never per step. Player
slot 0 of every env is the learning member; the other slots (multi-player families) are played by the
co-player the league chose. Results carry (member, iteration) so that a retried task is never counted twice by
the driver.

With ``curriculum`` set (uniform, filter, plr), each member's env draws its tasks from that member's own
curriculum sampler (XLand: every agent has its own task distribution), fed the member's finished episodes
after each rollout (PLR: with the positive-advantage score of the rollout's learner state). A member served
by several workers has one sampler per worker, each over the member's episodes on that worker.
:meth:`RolloutWorker.get_state` / :meth:`~RolloutWorker.set_state` carry every member's env, runner and
curriculum state, so a resumed driver continues the same episodes and curricula.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from agents.curriculum_feed import CurriculumFeed
from agents.local_train import make_task_sampler
from agents.policies import MixturePolicy, PPOPolicy, make_coplayers, random_key
from agents.ppo import PPO, PPOConfig, TrainState
from agents.rollout import EpisodeRecord, RolloutRunner
from agents.run import CurriculumConfig
from agents.trainer import feed_curriculum
from agents.vecenv import state_from_json, state_to_json
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.tasks.families import FamilySampler

#: The player slot a member learns in; every other slot is the league's co-player.
LEARNING_SLOTS = (0,)


@dataclass
class _Member:
    runner: RolloutRunner
    key: np.ndarray
    episodes: list[dict[str, Any]] = field(default_factory=list)
    feed: CurriculumFeed | None = None
    league_policy: PPOPolicy | None = None
    """The co-player the league chose for this rollout (its parameters and name are set per rollout)."""


def learner_ppo(ppo: PPOConfig, env_config: EnvConfig) -> PPOConfig:
    """The learner's PPO config: one sequence per env (player slot 0)."""
    return dataclasses.replace(ppo, num_envs=env_config.num_envs * len(LEARNING_SLOTS))


class RolloutWorker:
    """Collects rollouts for any member (a Ray actor in ``openland train``; a plain object in tests)."""

    def __init__(
        self, worker_id: int, env_config: EnvConfig, family: str, ppo: PPOConfig, seed: int, shaping: float = 0.0,
        curriculum: str | None = None, curriculum_config: CurriculumConfig | None = None, fixed_play: float = 0.0,
        fixed_coplayers: tuple[str, ...] = ("random", "scripted"),
    ):
        """``curriculum``: None draws tasks from the family's whole training split (as before curricula);
        uniform, filter or plr: from each member's own sampler over ``curriculum_config``'s pool.
        ``fixed_play``: share of episodes (per env, drawn at each episode start) whose co-players are one of
        ``fixed_coplayers`` (``population.league.LeagueConfig``) instead of the league's choice."""
        if not 0.0 <= fixed_play <= 1.0:
            raise ValueError(f"RolloutWorker: fixed_play={fixed_play!r} must be in [0, 1]")
        self.fixed_play, self.fixed_coplayers = float(fixed_play), tuple(fixed_coplayers)
        if curriculum is not None and curriculum not in ("uniform", "filter", "plr"):
            raise ValueError(f"RolloutWorker: curriculum={curriculum!r} is not one of None, 'uniform', 'filter', 'plr'")
        self.curriculum = curriculum
        self.curriculum_config = curriculum_config or CurriculumConfig()
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
            seed = self.seed + 31 * self.worker_id + member
            m = _Member(runner=None, key=np.asarray(jax.random.fold_in(random_key(seed), 1)))  # type: ignore[arg-type]
            hooks = [lambda record, m=m: m.episodes.append(_league_row(record, _coplayer_of(m, record.env)))]
            if self.curriculum is None:
                env = BatchEnv(self.env_config, FamilySampler(self.family))
            else:
                sampler = make_task_sampler(self.family, self.curriculum, self.curriculum_config, seed)
                env = BatchEnv(self.env_config, sampler)
                m.feed = CurriculumFeed(sampler, self.env_config.num_envs, LEARNING_SLOTS, self.curriculum == "plr")
                hooks.append(m.feed)
            m.league_policy = PPOPolicy(self.ppo, None, name="self")
            coplayer: Any = m.league_policy
            if self.fixed_play > 0.0:  # per env and episode: the league's choice or a fixed co-player
                fixed, _ = make_coplayers(self.fixed_coplayers, self.ppo, env.single_action_space)
                share = self.fixed_play / len(fixed.policies)
                coplayer = MixturePolicy([m.league_policy, *fixed.policies],
                                         [1.0 - self.fixed_play] + [share] * len(fixed.policies))  # fmt: skip
            m.runner = RolloutRunner(
                env, self.ppo, learning=LEARNING_SLOTS, coplayer=coplayer,
                shaping=self.shaping, gamma=self.ppo.cfg.gamma, aux_targets=self.ppo.cfg.aux_coef > 0, seed=seed,
                episode_hooks=hooks,
            )  # fmt: skip
            m.runner.reset(seed=self.seed + 7919 * self.worker_id + 104729 * member)
            self.members[member] = m
        return m

    def rollout(
        self, member: int, iteration: int, state: TrainState, coplayer: TrainState | None, coplayer_name: str = "self"
    ) -> dict[str, Any]:
        """``num_steps`` steps of every env for ``member``; returns the rollout arrays and finished episodes."""
        m = self._member(member)
        if m.runner.coplayer is not None and m.league_policy is not None:  # one-player families have no co-players
            m.league_policy.state = state if coplayer is None else coplayer
            m.league_policy.name = coplayer_name
        m.key, key = np.asarray(jax.random.split(m.key))
        T = self.ppo.cfg.num_steps
        rollout = m.runner.collect(state, key, T)
        if m.feed is not None:
            feed_curriculum(m.feed, rollout, state, self.ppo.cfg)
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


    # -- state for the driver's checkpoints -----------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """JSON-able state of every member served so far: its env (exact), its runner's arrays (last
        observation, episode-start flags, carries, shaping potential, keys) and its curriculum (statistics,
        buffer, draw clock, running PLR score sums). Call between rollouts."""
        out = {}
        for member, m in self.members.items():
            leaves = jax.tree_util.tree_leaves(m.runner.checkpoint_tree())
            out[str(member)] = {
                "env": m.runner.get_state(), "runner": state_to_json([np.asarray(x) for x in leaves]),
                "key": state_to_json(np.asarray(m.key)),
                "curriculum": m.feed.state_dict() if m.feed is not None else None,
            }  # fmt: skip
        return {"worker": self.worker_id, "curriculum": self.curriculum, "members": out}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`get_state` of a worker with the same id, config and curriculum (a restarted actor
        or a resumed driver): members are rebuilt and their env, runner and curriculum state restored."""
        if state.get("worker") != self.worker_id or state.get("curriculum") != self.curriculum:
            raise ValueError(f"RolloutWorker.set_state: state of worker {state.get('worker')!r} with curriculum "
                             f"{state.get('curriculum')!r}; this is worker {self.worker_id} with {self.curriculum!r}")
        for key, saved in state["members"].items():
            m = self._member(int(key))
            treedef = jax.tree_util.tree_structure(m.runner.checkpoint_tree())
            leaves = state_from_json(saved["runner"])
            if len(leaves) != treedef.num_leaves:
                raise ValueError(f"RolloutWorker.set_state: member {key} runner state has {len(leaves)} arrays, this "
                                 f"worker's runner {treedef.num_leaves} (another env or network config)")
            m.runner.load_checkpoint_tree(jax.tree_util.tree_unflatten(treedef, leaves))
            m.runner.set_state(saved["env"])
            m.key = state_from_json(saved["key"])
            if (saved["curriculum"] is None) != (m.feed is None):
                raise ValueError(f"RolloutWorker.set_state: member {key} curriculum state "
                                 f"{'absent' if saved['curriculum'] is None else 'present'} but curriculum={self.curriculum!r}")
            if m.feed is not None:
                m.feed.load_state_dict(saved["curriculum"])

    def curriculum_summary(self) -> dict[int, dict[str, float]]:
        """Per member: distinct tasks played and the mean success estimate over them (for the driver's logs)."""
        out = {}
        for member, m in self.members.items():
            if m.feed is not None:
                stats = m.feed.curriculum.stats
                seen = stats.count > 0
                out[member] = {"tasks_played": float(seen.sum()),
                               "task_success": float(stats.success[seen].mean()) if seen.any() else 0.0}  # fmt: skip
        return out


def _coplayer_of(m: _Member, env: int) -> str:
    """Name of the policy that played the co-player slots of ``env``'s episode that just ended (read in the
    episode hook, before the next step redraws a mixture's choice)."""
    coplayer = m.runner.coplayer
    if isinstance(coplayer, MixturePolicy):
        return coplayer.policies[int(m.runner.coplayer_carry["choice"][env])].name
    return coplayer.name if coplayer is not None else ""


def _league_row(record: EpisodeRecord, coplayer: str) -> dict[str, Any]:
    """What the driver's fitness and the league read of a finished episode: the member's (slot 0) figures and
    who played beside it."""
    return {"return": float(record.returns[0]), "success": float(record.success[0]),
            "unsafe": float(record.unsafe[0]), "outcome": record.outcome(0), "coplayer": coplayer,
            "alone": not bool(record.active[1:].any())}  # fmt: skip
