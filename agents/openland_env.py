"""The openland ``BatchEnv`` as the flat ``VecEnv`` PPO trains on: N = envs × players sequences.

Every player slot is one sequence, so one set of parameters acts for every player of every task (self-play
when a task has several players). Reshapes only: no copies of the simulator's work, no Python loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.shaping import PotentialShaping
from agents.vecenv import state_from_json, state_to_json
from worlds.envs.batch_env import BatchEnv


class PlayerVecEnv:
    """``VecEnv`` view of a ``BatchEnv``: observations, rewards and ends flattened to [envs * players]."""

    def __init__(self, env: BatchEnv, shaping: float = 0.0, gamma: float = 0.99, aux_targets: bool = False):
        self.env = env
        #: Add ``obs["aux_target"]`` [N, 3] (``BatchEnv.goal_direction``: the goal's direction in the player's
        #: frame, and a validity flag) for PPO's auxiliary loss; the policy never reads it.
        self.aux_targets = aux_targets
        #: Training reward = goal reward + potential-based shaping (``shaping`` = 0: the goal reward alone);
        #: episode figures always report the goal reward.
        self.shaping = PotentialShaping(env, shaping, gamma)
        self.num_envs = env.num_envs * env.num_players
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space
        #: Per finished episode since the last ``pop_episodes``: return, length, goal success, unsafe steps.
        self.finished: list[dict[str, float]] = []

    def _flat(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.aux_targets:
            obs = dict(obs, aux_target=self.env.goal_direction())
        return {k: v.reshape((self.num_envs,) + v.shape[2:]) for k, v in obs.items()}

    def reset(self, seed: int) -> dict[str, np.ndarray]:
        obs, _ = self.env.reset(seed=seed)
        self.shaping.sync()
        return self._flat(obs)

    def step(self, actions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        E, P = self.env.num_envs, self.env.num_players
        actions = np.asarray(actions).reshape(E, P, -1)
        obs, reward, terminated, truncated, info = self.env.step(actions)
        reward = self.shaping(reward, terminated | truncated, info)
        ep_return = np.full((E, P), np.nan)
        ep_length = np.full((E, P), np.nan)
        final = info.get("final")
        if final is not None:
            envs = final["env"]
            active = final["active"]
            ep_return[envs] = np.where(active, final["return"], np.nan)
            ep_length[envs] = np.where(active, final["length"][:, None], np.nan)
            for i, e in enumerate(envs):
                for p in np.flatnonzero(active[i]):
                    self.finished.append(
                        {
                            "return": float(final["return"][i, p]),
                            "length": float(final["length"][i]),
                            "success": float(final["success"][i, p]),
                            "held_fraction": float(final["held_fraction"][i, p]),
                            "unsafe": float(final["unsafe"][i, p]),
                            "env": int(e),
                        }
                    )
        flat_info = {
            "episode_return": ep_return.reshape(-1),
            "episode_length": ep_length.reshape(-1),
            "unsafe": info["unsafe"].reshape(-1),
        }
        return (
            self._flat(obs),
            reward.reshape(-1),
            np.repeat(terminated, P),
            np.repeat(truncated, P),
            flat_info,
        )

    def pop_episodes(self) -> list[dict[str, float]]:
        """Finished player-episodes since the last call (and forget them)."""
        out, self.finished = self.finished, []
        return out

    def get_state(self) -> dict[str, Any]:
        """JSON-able (checkpoints store env state as JSON; floats round-trip exactly)."""
        # phi is stored, not recomputed: positions read right after mj_step lag the state by one substep, so a
        # potential recomputed after a restore would differ in the last bits and break exact resume
        return {"batch": state_to_json(self.env.get_state()), "shaping_phi": self.shaping.phi.tolist()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.env.set_state(state_from_json(state["batch"]))
        self.shaping.phi = np.asarray(state["shaping_phi"], dtype=np.float32)
