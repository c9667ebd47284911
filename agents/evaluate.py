"""Goal success of a policy on a fixed set of tasks (a family's held-out split), with optional recordings.

Success of an episode = the player's goal holds on the episode's last step (so "go near the red cube" needs
the agent there at the end, not passing by). Also reported: the share of steps on which the goal held, and
unsafe steps (hazard contact or falls) per episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import jax
import numpy as np

from agents.ppo import PPO, TrainState
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.tasks.game import TaskSpec
from worlds.episodes.recording import Episode
from worlds.episodes.replay import EpisodeTap


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
    act: Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray],
    tasks: list[TaskSpec],
    env_config: EnvConfig,
    reset_policy: Callable[[], None] = lambda: None,
    record: int = 0,
) -> tuple[EvalResult, list[Episode]]:
    """Run one episode of every task, ``env_config.num_envs`` at a time. ``act(obs, done)`` maps flat [N] player
    observations to [N, 5] actions. The first ``record`` tasks are recorded."""
    env = BatchEnv(env_config)
    E, P = env.num_envs, env.num_players
    success, held, unsafe, recordings = [], [], [], []
    for start in range(0, len(tasks), E):
        chunk = list(tasks[start : start + E])
        real = len(chunk)
        chunk += [chunk[-1]] * (E - real)  # pad the last batch; padded envs are not counted
        obs, info = env.load_tasks(chunk)
        reset_policy()
        taps = [EpisodeTap(env, e) for e in range(min(real, max(0, record - start)))]
        for tap in taps:
            tap.start()
        done = np.ones(E * P, dtype=bool)
        finished = np.zeros(E, dtype=bool)
        for _ in range(env_config.max_steps):
            flat = {k: v.reshape((E * P,) + v.shape[2:]) for k, v in obs.items()}
            actions = np.asarray(act(flat, done)).reshape(E, P, -1)
            obs, reward, terminated, truncated, info = env.step(actions)
            for tap in taps:
                tap.after_step(actions, reward, info, info["poses"])
            done = np.repeat(terminated | truncated, P)
            final = info.get("final")
            if final is not None:
                for i, e in enumerate(final["env"]):
                    if e < real and not finished[e]:
                        finished[e] = True
                        active = final["active"][i]
                        success.extend(final["success"][i][active].tolist())
                        held.extend(final["held_fraction"][i][active].tolist())
                        unsafe.extend(final["unsafe"][i][active].tolist())
            if finished[:real].all():
                break
        recordings.extend(ep for tap in taps for ep in tap.episodes)
    result = EvalResult(
        success=float(np.mean(success)) if success else 0.0,
        held_fraction=float(np.mean(held)) if held else 0.0,
        unsafe_per_episode=float(np.mean(unsafe)) if unsafe else 0.0,
        episodes=len(success),
    )
    return result, recordings


def ppo_actor(ppo: PPO, state: TrainState, num_sequences: int, seed: int = 0, greedy: bool = False):
    """An ``act(obs, done)`` for :func:`evaluate_policy` from a PPO learner state, carrying its core state.
    Returns (act, reset)."""
    holder = {"carry": ppo.initial_carry(num_sequences), "key": jax.random.PRNGKey(seed)}

    def reset() -> None:
        holder["carry"] = ppo.initial_carry(num_sequences)

    def act(obs: dict[str, np.ndarray], done: np.ndarray) -> np.ndarray:
        if greedy:
            holder["carry"], action = ppo.act_greedy(state, obs, holder["carry"], done)
        else:
            holder["key"], key = jax.random.split(holder["key"])
            holder["carry"], action, _, _ = ppo.act(state, obs, holder["carry"], done, key)
        return np.asarray(action)

    return act, reset


def random_actor(action_space: gym.Space, seed: int = 0) -> Callable[[dict[str, np.ndarray], np.ndarray], np.ndarray]:
    """An ``act(obs, done)`` for :func:`evaluate_policy` that draws every player's action uniformly from the
    env's per-player action space, from an explicit seed: the reference every success figure is read against."""
    rng = np.random.default_rng(seed)

    def act(obs: dict[str, np.ndarray], done: np.ndarray) -> np.ndarray:
        n = len(done)
        if isinstance(action_space, gym.spaces.MultiDiscrete):
            return rng.integers(0, action_space.nvec, size=(n,) + action_space.nvec.shape)
        if isinstance(action_space, gym.spaces.Box):
            return rng.uniform(action_space.low, action_space.high, size=(n,) + action_space.shape).astype(action_space.dtype)
        raise ValueError(f"random_actor: unsupported action space {action_space}")

    return act
