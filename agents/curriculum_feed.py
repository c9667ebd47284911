"""Feeding a task curriculum from the rollout runner's finished episodes, with Robust PLR's scores.

A curriculum here is anything with ``observe(task_ids, returns, *, success=None, scores=None)`` and
``state_dict()`` / ``load_state_dict()`` (``curriculum.sampler.CurriculumSampler``; agents never imports it,
the composition roots hand it in). :class:`CurriculumFeed` is an episode hook of a
:class:`~agents.rollout.RolloutRunner`: the episodes that end during a rollout are held until the rollout is
complete, then fed in the order they ended, so that every episode can carry its PLR score.

The score is Robust PLR's *positive value loss*: the mean over the episode's steps of max(GAE advantage, 0).
Ours, where Robust PLR differs: an episode usually spans several rollouts, so the per-step positive advantages
are computed per rollout (GAE bootstrapped from the rollout's last value, as the update does) and summed per
sequence until the episode ends; the rewards are the training rewards (shaped) divided by the running std of
the discounted return as it stood at the start of the rollout (the update rescales them step by step; the
difference is a slowly moving constant) and clipped as the update clips them. In a multi-player env the
episode's score is the mean over its learning slots.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any, Protocol, Sequence

import numpy as np

from agents.rollout import EpisodeRecord
from agents.vecenv import state_from_json, state_to_json


class TaskCurriculum(Protocol):
    """What :class:`CurriculumFeed` needs of a curriculum (``curriculum.sampler.CurriculumSampler`` has it)."""

    def observe(self, task_ids: Sequence[str], returns: Any, *, success: Any = None, scores: Any = None) -> None: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def positive_advantages(rewards: np.ndarray, values: np.ndarray, ends: np.ndarray, last_value: np.ndarray,
                        gamma: float, gae_lambda: float) -> np.ndarray:
    """max(GAE advantage, 0) per step, [T, N]; ``ends[t]`` means the sequence's episode ended after step t
    (the same recursion as ``PPO._gae``, on the host: [T, N] is small)."""
    T = len(rewards)
    nonterm = 1.0 - ends
    next_values = np.concatenate([values[1:], last_value[None]], axis=0)
    deltas = rewards + gamma * next_values * nonterm - values
    adv = np.zeros_like(deltas)
    running = np.zeros(deltas.shape[1], deltas.dtype)
    for t in range(T - 1, -1, -1):  # over time only: each step is one vector op over all sequences
        running = deltas[t] + gamma * gae_lambda * nonterm[t] * running
        adv[t] = running
    return np.maximum(adv, 0.0)


class CurriculumFeed:
    """Episode hook + rollout hook that feeds ``curriculum`` each finished episode (task id, normalised return,
    success and, with ``plr_scores``, the PLR score). ``learn_slots``: the player slots whose figures count
    (the learner's); ``slots_per_env``: learning sequences per env in the rollout (env-major, slot-minor)."""

    def __init__(self, curriculum: TaskCurriculum, num_envs: int, learn_slots: Sequence[int], plr_scores: bool) -> None:
        self.curriculum = curriculum
        self.learn_slots = np.asarray(learn_slots, np.int64)
        self.num_envs = num_envs
        self.plr_scores = plr_scores
        L = len(self.learn_slots)
        self._sum = np.zeros(num_envs * L)  # positive advantages so far of each sequence's running episode
        self._count = np.zeros(num_envs * L, np.int64)
        self._pending: list[EpisodeRecord] = []

    def __call__(self, record: EpisodeRecord) -> None:
        """The runner's episode hook: hold the episode until its rollout is complete."""
        self._pending.append(record)

    def after_rollout(self, rollout: Any = None, reward_scale: float = 1.0, reward_clip: float | None = None,
                      gamma: float = 0.99, gae_lambda: float = 0.95) -> int:
        """Feed the episodes held since the last call (``rollout``: the PPO ``Rollout`` they ended in; needed
        only for PLR scores). Returns how many were fed."""
        pending, self._pending = self._pending, []
        scores = None
        if self.plr_scores:
            if rollout is None:
                raise ValueError("CurriculumFeed.after_rollout: PLR scores need the rollout")
            scores = self._episode_scores(rollout, pending, reward_scale, reward_clip, gamma, gae_lambda)
        if not pending:
            return 0
        slots = self.learn_slots
        returns = np.array([r.held_fraction[slots][r.active[slots]].mean() if r.active[slots].any() else 0.0
                            for r in pending])  # fmt: skip
        success = np.array([bool(r.success[slots][r.active[slots]].mean() >= 0.5) if r.active[slots].any() else False
                            for r in pending])  # fmt: skip
        self.curriculum.observe([r.task_id for r in pending], returns, success=success, scores=scores)
        return len(pending)

    def _episode_scores(self, rollout: Any, pending: list[EpisodeRecord], scale: float, clip: float | None,
                        gamma: float, gae_lambda: float) -> np.ndarray:
        rewards = np.asarray(rollout.rewards, np.float64) / scale
        if clip is not None:
            rewards = np.clip(rewards, -clip, clip)
        dones = np.asarray(rollout.dones, np.float64)
        ends = np.concatenate([dones[1:], np.asarray(rollout.last_done, np.float64)[None]], axis=0)
        pos = positive_advantages(rewards, np.asarray(rollout.values, np.float64), ends,
                                  np.asarray(rollout.last_value, np.float64), gamma, gae_lambda)  # fmt: skip
        T, L = len(pos), len(self.learn_slots)
        finished: dict[int, deque[float]] = defaultdict(deque)  # env -> scores of its episodes, in order
        for t in range(T):
            self._sum += pos[t]
            self._count += 1
            ended = np.flatnonzero(ends[t].reshape(self.num_envs, L).any(axis=1))
            if len(ended):
                seqs = (ended[:, None] * L + np.arange(L)).reshape(-1)
                per_seq = self._sum[seqs] / np.maximum(self._count[seqs], 1)
                for e, s in zip(ended.tolist(), per_seq.reshape(len(ended), L).mean(axis=1).tolist()):
                    finished[e].append(s)
                self._sum[seqs], self._count[seqs] = 0.0, 0
        out = []
        for r in pending:
            if not finished[r.env]:
                raise RuntimeError(f"CurriculumFeed: episode of env {r.env} (task {r.task_id}) ended outside the rollout")
            out.append(finished[r.env].popleft())
        return np.asarray(out)

    # -- checkpoints ----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """JSON-able: the curriculum's state and the running episodes' score sums (exact, floats as repr)."""
        if self._pending:
            raise RuntimeError(f"CurriculumFeed.state_dict: {len(self._pending)} episodes not fed yet (save between rollouts)")
        return state_to_json({"curriculum": self.curriculum.state_dict(), "score_sum": self._sum.copy(),
                              "score_count": self._count.copy()})  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = state_from_json(state)
        if np.shape(state["score_sum"]) != self._sum.shape:
            raise ValueError(f"CurriculumFeed.load_state_dict: score_sum has shape {np.shape(state['score_sum'])}, "
                             f"this feed {self._sum.shape} (another num_envs or player count)")
        self.curriculum.load_state_dict(state["curriculum"])
        self._sum = np.asarray(state["score_sum"], np.float64).copy()
        self._count = np.asarray(state["score_count"], np.int64).copy()
        self._pending = []
