"""The training loop: a :class:`~agents.rollout.RolloutRunner` collects a rollout (one jitted act per step),
then one jitted PPO update. ``make_train(cfg, env)`` returns a ``Trainer``."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from agents.curriculum_feed import CurriculumFeed, TaskCurriculum
from agents.policies import make_coplayers
from agents.ppo import PPO, PPOConfig, Rollout
from agents.rollout import EpisodeRecord, RolloutRunner
from agents.vecenv import VecEnv


class Trainer:
    """Rollout + update loop in which every player slot of every env learns (self-play with shared
    parameters; one slot per env for Gym envs). Holds the learner state and the runner, which together with
    the env state (and the curriculum's, when the env's tasks come from one) are the whole training state (see
    :meth:`checkpoint_tree` and :meth:`curriculum_state`).

    ``curriculum``: the env's task sampler when it is a curriculum (``curriculum.sampler.CurriculumSampler``):
    it is fed every finished episode after the rollout it ended in, with Robust PLR's score when
    ``plr_scores`` (see :mod:`agents.curriculum_feed`).

    ``coplayers``: ``("self",)`` (the default) is the self-play above. Any other choice of
    :data:`agents.policies.COPLAYER_NAMES` makes player slot 0 the only learning slot (``cfg.num_envs`` is then
    the env count) and the other slots, per env and episode, one of the named co-players drawn uniformly
    (:class:`agents.policies.MixturePolicy`); "self" among them plays with the learner's parameters of the
    rollout, without learning there."""

    def __init__(self, cfg: PPOConfig, env: VecEnv, shaping: float = 0.0, aux_targets: bool = False,
                 curriculum: TaskCurriculum | None = None, plr_scores: bool = False,
                 coplayers: Sequence[str] = ("self",)) -> None:
        self.cfg = cfg
        self.ppo = PPO(cfg, env.single_observation_space, env.single_action_space)
        self.state = self.ppo.init(cfg.seed)
        #: Returns of the learner's player-episodes, in the order they finished.
        self.episode_returns: list[float] = []
        self._finished: list[EpisodeRecord] = []
        coplayer, self._live = None, []
        learning = np.ones(env.num_players, bool)
        if tuple(coplayers) != ("self",):
            if env.num_players < 2:
                raise ValueError(f"coplayers={list(coplayers)!r}: the env has {env.num_players} player slot; co-players "
                                 "need a multi-player family")  # fmt: skip
            coplayer, self._live = make_coplayers(tuple(coplayers), self.ppo, env.single_action_space)
            learning = np.arange(env.num_players) < 1
        learn_slots = np.flatnonzero(learning)
        self.feed = CurriculumFeed(curriculum, env.num_envs, learn_slots, plr_scores) if curriculum else None
        hooks = [self._on_episode] + ([self.feed] if self.feed is not None else [])
        self.runner = RolloutRunner(env, self.ppo, learning=learning, coplayer=coplayer, shaping=shaping,
                                    gamma=cfg.gamma, aux_targets=aux_targets, seed=cfg.seed, episode_hooks=hooks)  # fmt: skip
        self.runner.reset(seed=cfg.seed)

    @property
    def env(self) -> RolloutRunner:
        """The env side of the training state as checkpoints save it (``get_state``/``set_state``: the env's
        exact state as JSON); the env itself is ``runner.env``."""
        return self.runner

    def _on_episode(self, record: EpisodeRecord) -> None:
        self._finished.append(record)
        self.episode_returns.extend(record.returns[record.learner_slots].tolist())

    def pop_episodes(self) -> list[EpisodeRecord]:
        """Episodes finished since the last call (and forget them)."""
        out, self._finished = self._finished, []
        return out

    def collect(self) -> Rollout:
        """Run num_steps steps of all N sequences with one jitted act call per step."""
        key, rkey = jax.random.split(self.state.key)
        self.state = self.state.replace(key=key)
        for policy in self._live:  # "self" co-players play with the parameters of this rollout
            policy.state = self.state
        rollout = self.runner.collect(self.state, rkey, self.cfg.num_steps)
        if self.feed is not None:
            feed_curriculum(self.feed, rollout, self.state, self.cfg)
        return rollout

    def iteration(self) -> dict[str, float]:
        """One rollout and one update; returns metrics as floats (plus recent episode stats)."""
        n_before = len(self.episode_returns)
        rollout = self.collect()
        self.state, metrics = self.ppo.update(self.state, rollout)
        out = {k: float(v) for k, v in metrics.items()}
        new = self.episode_returns[n_before:]
        out["episodes"] = float(len(new))
        out["episode_return"] = float(np.mean(new)) if new else math.nan
        out["env_steps"] = float(int(self.state.env_steps))
        return out

    def train(
        self, num_updates: int | None = None, callback: Callable[[int, dict[str, float]], None] | None = None
    ) -> list[dict[str, float]]:
        """Run ``num_updates`` iterations (default: until cfg.num_updates updates are done in total)."""
        todo = self.cfg.num_updates - int(self.state.updates) if num_updates is None else num_updates
        history = []
        for _ in range(max(0, todo)):
            m = self.iteration()
            history.append(m)
            if callback is not None:
                callback(int(self.state.updates), m)
        return history

    # -- checkpoint support ---------------------------------------------------------------------------------
    def checkpoint_tree(self) -> dict[str, Any]:
        """The array part of the full training state: learner state + runner state."""
        return {"train_state": self.state, "runner": self.runner.checkpoint_tree()}

    def curriculum_state(self) -> dict[str, Any] | None:
        """The curriculum's state as JSON (None without a curriculum): checkpoints keep it beside the env's."""
        return self.feed.state_dict() if self.feed is not None else None

    def load_curriculum_state(self, state: dict[str, Any]) -> None:
        if self.feed is None:
            raise ValueError("load_curriculum_state: this trainer has no curriculum (the checkpoint has one)")
        self.feed.load_state_dict(state)

    def load_checkpoint_tree(self, tree: dict[str, Any]) -> None:
        """Inverse of :meth:`checkpoint_tree`. Restored arrays come back *committed* to a device, which jit
        treats as a different input signature; re-creating them from host copies keeps the compiled code."""
        self.state = jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)), tree["train_state"])
        self.runner.load_checkpoint_tree(tree["runner"])


def feed_curriculum(feed: CurriculumFeed, rollout: Rollout, state: Any, cfg: PPOConfig) -> int:
    """Feed ``feed``'s curriculum the episodes that ended in ``rollout``, scored with the reward scaling and
    GAE settings of the learner ``state`` the rollout was collected with (before its update)."""
    if not feed.plr_scores:
        return feed.after_rollout()
    scale = float(np.sqrt(np.asarray(state.ret_rms.var).reshape(-1)[0] + 1e-8)) if cfg.reward_scaling else 1.0
    return feed.after_rollout(rollout, scale, cfg.reward_clip_value if cfg.reward_clip else None, cfg.gamma,
                              float(np.asarray(state.hparams["gae_lambda"])))  # fmt: skip


def make_train(cfg: PPOConfig, env: VecEnv, shaping: float = 0.0, aux_targets: bool = False) -> Trainer:
    """Entry point: a :class:`Trainer` ready to ``train()`` (rollout in Python, update in one jit call)."""
    return Trainer(cfg, env, shaping, aux_targets)
