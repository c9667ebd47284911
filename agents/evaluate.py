"""Goal success of a policy on a fixed set of tasks (a family's held-out split), with optional recordings.

Success of an episode = the player's goal holds on the episode's last step (so "go near the red cube" needs
the agent there at the end, not passing by). Also reported: the share of steps on which the goal held, and
unsafe steps (hazard contact or falls) per episode. The episodes are played by a
:class:`~agents.rollout.RolloutRunner` in which no slot learns and the evaluated policy plays every slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from agents.policies import Policy, SlotPolicies
from agents.rollout import EpisodeHook, EpisodeRecord, RolloutRunner
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.episodes.recording import Episode
from worlds.tasks.game import TaskSpec


@dataclass(frozen=True)
class EvalResult:
    """Figures over all evaluated player-episodes."""

    success: float
    """Share of episodes whose goal held on the last step."""
    held_fraction: float
    """Mean share of steps on which the goal held."""
    unsafe_per_episode: float
    """Mean unsafe steps per episode (hidden hazards and falls)."""
    episodes: int
    """Player-episodes evaluated."""


def evaluate_policy(
    policy: Policy,
    tasks: list[TaskSpec],
    env_config: EnvConfig,
    reset_policy: Callable[[], None] | None = None,
    record: int = 0,
    seed: int = 0,
    episode_hooks: Iterable[EpisodeHook] = (),
) -> tuple[EvalResult, list[Episode]]:
    """Run one episode of every task, ``env_config.num_envs`` at a time, ``policy`` playing every player slot.
    The first ``record`` tasks are recorded; ``seed`` seeds the policy's draws; each counted episode also goes
    to ``episode_hooks``. ``reset_policy`` is not needed (the runner starts every episode from a fresh carry)
    and kept for callers that pass one."""
    env = BatchEnv(env_config)
    runner = RolloutRunner(env, learning=(), coplayer=policy, seed=seed, episode_hooks=episode_hooks)
    records = runner.play_tasks(tasks, env_config.max_steps, record)
    def pooled(field: str) -> np.ndarray:  # over every active player of every episode
        return np.concatenate([getattr(r, field)[r.active] for r in records] + [np.zeros(0)])

    success = pooled("success")
    result = EvalResult(
        success=float(success.mean()) if len(success) else 0.0,
        held_fraction=float(pooled("held_fraction").mean()) if len(success) else 0.0,
        unsafe_per_episode=float(pooled("unsafe").mean()) if len(success) else 0.0,
        episodes=len(success),
    )
    return result, [r.recording for r in records if r.recording is not None]


def play_episodes(
    policies: Sequence[Policy], tasks: list[TaskSpec], env: BatchEnv | EnvConfig, seed: int = 0, record: int = 0
) -> list[EpisodeRecord]:
    """One episode of every task with ``policies[p]`` playing player slot ``p`` (evaluation against fixed
    co-players: the evaluated policy on its slot, a scripted opponent or a frozen snapshot on the others).
    Records come back in task order; every figure in them is per slot, so a slot's success is never averaged
    with the slots its opponents played. Pass a ``BatchEnv`` to reuse one across many calls."""
    env = BatchEnv(env) if isinstance(env, EnvConfig) else env
    runner = RolloutRunner(env, learning=(), coplayer=SlotPolicies(list(policies)), seed=seed)
    return runner.play_tasks(tasks, env.config.max_steps, record)


def seat_figures(env: BatchEnv, tasks: list[TaskSpec], agent: Policy, co_player: Policy, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per game kind, ``agent`` against ``co_player`` over every seat: the agent plays one slot, the co-player
    every other, once per slot. Figures are the agent's own slot's: ``win_rate`` (its return beat the
    co-players' mean), ``success`` (goal held on the last step), ``participation`` (any reward), ``episodes``.
    Self-play (``co_player is agent``) is a contest: in a competitive game one seat's success is the other's
    failure, so it is never reported as both."""
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for slot in range(env.num_players):
        policies = [co_player] * env.num_players
        policies[slot] = agent
        for task, rec in zip(tasks, play_episodes(policies, tasks, env, seed=seed + slot)):
            if slot < len(task.world.spawns):
                rows.setdefault(task.game.kind, []).append(
                    (float(rec.outcome(slot) == 1.0), float(rec.success[slot]), float(rec.returns[slot] > 0)))
    out = {}
    for kind, values in sorted(rows.items()):
        win, success, part = np.mean(values, axis=0)
        out[kind] = {"win_rate": float(win), "success": float(success), "participation": float(part),
                     "episodes": float(len(values))}
    return out
