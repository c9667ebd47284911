"""Potential-based reward shaping for training on openland goals (Ng, Harada & Russell, 1999).

The goal reward (1 on each step the goal holds) says nothing until the goal first holds; on "go near the red
cube" a random policy gets there in ~3% of episodes, so PPO would spend most of its budget on rollouts without
signal. Shaping adds ``coef * (gamma * phi(s') - phi(s))`` with ``phi`` the goal's potential
(``worlds.sim.predicates.goal_potential``: for the best option, minus what is left of each unmet literal: the
distance to close for ``near``/``hold``, the way to a tile of the asked colour or over the asked object for
``on``, the turn and the way into camera range for ``see``, the fetch of an object that must be carried, the
distance to open for ``not near``; plus ``EnvConfig.shaping_unit`` per unmet literal, 0 by default). A potential
difference changes no optimal policy, so agents are trained with it and measured without it: episode returns,
goal success and every evaluation read the unshaped goal reward.
"""

from __future__ import annotations

import numpy as np

from worlds.envs.batch_env import BatchEnv


class PotentialShaping:
    """Adds the shaping term to a ``BatchEnv``'s rewards, step by step (``agents.rollout.RolloutRunner`` applies
    it to the training reward only); ``phi`` is the potential of the env's current state as read after the last
    step (or reset), part of the runner state a checkpoint keeps."""

    def __init__(self, env: BatchEnv, coef: float, gamma: float) -> None:
        if coef < 0:
            raise ValueError(f"shaping={coef!r} must be >= 0")
        self.env, self.coef, self.gamma = env, float(coef), float(gamma)
        self.phi = np.zeros((env.num_envs, env.num_players), dtype=np.float32)

    def sync(self) -> None:
        """Read the potential of the env's current state (after ``reset`` or ``load_tasks``); without shaping
        there is nothing to read (and envs without goals, such as Gym's, have no potential)."""
        if self.coef != 0.0:
            self.phi = self.env.goal_potential()

    def __call__(self, reward: np.ndarray, done: np.ndarray, info: dict) -> np.ndarray:
        """float32 [E, P] training reward for a step that returned ``reward``, ``done`` [E] and ``info``.

        The shaping of an episode's last step uses that episode's final state (``info["potential"]``, read
        before the auto-reset), so no term crosses an episode boundary."""
        if self.coef == 0.0:
            return reward
        reached = info["potential"]
        shaped = reward + self.coef * (self.gamma * reached - self.phi)
        self.phi = np.where(done[:, None], self.env.goal_potential(), reached) if done.any() else reached
        return shaped.astype(np.float32)
