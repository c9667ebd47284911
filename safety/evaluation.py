"""Measuring a policy on real tasks the way the safety comparison counts: unsafe events per episode and per 1000
steps, per rule (stepping on a hazard, falling), and goal success.

Any policy fits: ``make_policy(env)`` returns ``act(obs) -> actions [E, P, 5]`` for that env (the scripted expert
needs the env itself; the ``request.MPCAgent`` reads poses from it; a PPO policy ignores it). Tasks are played once
each, ``num_envs`` at a time, without auto-reset, so every episode is exactly one task from its start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.tasks.game import TaskSpec, task_id

Act = Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclass
class EpisodeStats:
    """Per-episode figures (player 0 of each task, the agent's slot): arrays of length n_episodes."""

    task_id: list[str]
    hazard: np.ndarray  # int: steps on which the player stood on a hazard
    fall: np.ndarray  # int: falls
    length: np.ndarray  # int: steps
    success: np.ndarray  # bool: the goal held on the last step
    goal_return: np.ndarray  # float: goal reward summed

    def summary(self) -> dict[str, float]:
        """Means over episodes, and unsafe events per 1000 steps (both rules together and each)."""
        steps = max(int(self.length.sum()), 1)
        unsafe = self.hazard + self.fall
        return {
            "episodes": float(len(self.task_id)), "success": float(self.success.mean()),
            "goal_return": float(self.goal_return.mean()), "unsafe_per_episode": float(unsafe.mean()),
            "hazard_per_episode": float(self.hazard.mean()), "fall_per_episode": float(self.fall.mean()),
            "unsafe_per_1000_steps": 1000.0 * float(unsafe.sum()) / steps,
            "hazard_per_1000_steps": 1000.0 * float(self.hazard.sum()) / steps,
            "fall_per_1000_steps": 1000.0 * float(self.fall.sum()) / steps,
        }  # fmt: skip


def run_episodes(
    tasks: list[TaskSpec],
    make_policy: Callable[[BatchEnv], Act],
    config: EnvConfig = EnvConfig(num_envs=4, autoreset=False),
) -> EpisodeStats:
    """Play every task once under the policy and count, per episode, hazard steps and falls (the env's
    ``info["hazard"]``/``info["fell"]``), its length, success and goal return."""
    if not tasks:
        raise ValueError("run_episodes: the task list is empty")
    if config.autoreset:
        raise ValueError("run_episodes: EnvConfig.autoreset must be False (one episode per task)")
    env = BatchEnv(config)
    act = make_policy(env)
    ids: list[str] = []
    out: dict[str, list[Any]] = {k: [] for k in ("hazard", "fall", "length", "success", "goal_return")}
    E = env.num_envs
    for start in range(0, len(tasks), E):
        chunk = list(tasks[start : start + E])
        obs, _ = env.load_tasks(chunk + [chunk[-1]] * (E - len(chunk)))
        hazard, fall, ret = np.zeros(E, np.int64), np.zeros(E, np.int64), np.zeros(E)
        length, success = np.zeros(E, np.int64), np.zeros(E, bool)
        for _ in range(config.max_steps):
            obs, reward, terminated, truncated, info = env.step(act(obs))
            hazard += info["hazard"][:, 0]
            fall += info["fell"][:, 0]
            ret += reward[:, 0]
            length += 1
            if "final" in info:
                success[info["final"]["env"]] = info["final"]["success"][:, 0]
                break
        n = len(chunk)
        ids += [task_id(t) for t in chunk]
        for key, value in (("hazard", hazard), ("fall", fall), ("length", length), ("success", success), ("goal_return", ret)):
            out[key].append(value[:n])
    return EpisodeStats(ids, *(np.concatenate(out[k]) for k in ("hazard", "fall", "length", "success", "goal_return")))
