"""Rollout workers: each owns ``BatchEnv`` copies and acts with the policies the driver hands it.

A worker keeps one runner per population member it has served (env, last observation, episode-start flags,
core carries), so a member's episodes continue across its rollouts even when workers are shared. Parameters
arrive as Ray object-store references, once per rollout, never per step. Player slot 0 of every env is the
learning member; the other slots (multi-player families) are played by the co-player the league chose.
Results carry (member, iteration) so that a retried task is never counted twice by the driver.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from agents.ppo import PPO, PPOConfig, TrainState
from agents.shaping import PotentialShaping
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.tasks.families import FamilySampler


@dataclass
class _Runner:
    env: BatchEnv
    shaping: PotentialShaping
    obs: dict[str, np.ndarray]
    done: np.ndarray
    carry: Any
    coplayer_carry: Any
    key: jax.Array
    episodes: list[dict[str, float]] = field(default_factory=list)


def learner_ppo(ppo: PPOConfig, env_config: EnvConfig) -> PPOConfig:
    """The learner's PPO config: one sequence per env (player slot 0)."""
    return dataclasses.replace(ppo, num_envs=env_config.num_envs)


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
        obs_space, act_space = probe.single_observation_space, probe.single_action_space
        self.ppo = PPO(learner_ppo(ppo, env_config), obs_space, act_space)
        others = env_config.num_envs * (env_config.num_players - 1)
        self.coplayer_ppo = PPO(dataclasses.replace(ppo, num_envs=others), obs_space, act_space) if others else None
        self.runners: dict[int, _Runner] = {}

    def pid(self) -> int:
        return os.getpid()

    def _runner(self, member: int) -> _Runner:
        runner = self.runners.get(member)
        if runner is None:
            env = BatchEnv(self.env_config, FamilySampler(self.family))
            obs, _ = env.reset(seed=self.seed + 7919 * self.worker_id + 104729 * member)
            E = env.num_envs
            shaping = PotentialShaping(env, self.shaping, self.ppo.cfg.gamma)
            shaping.sync()
            runner = _Runner(
                env=env, shaping=shaping, obs=obs, done=np.ones(E, dtype=bool), carry=self.ppo.initial_carry(),
                coplayer_carry=self.coplayer_ppo.initial_carry() if self.coplayer_ppo else None,
                key=jax.random.PRNGKey(self.seed + 31 * self.worker_id + member),
            )  # fmt: skip
            self.runners[member] = runner
        return runner

    def rollout(
        self, member: int, iteration: int, state: TrainState, coplayer: TrainState | None, coplayer_name: str = "self"
    ) -> dict[str, Any]:
        """``num_steps`` steps of every env for ``member``; returns the rollout arrays and finished episodes."""
        r = self._runner(member)
        env, E, P = r.env, r.env.num_envs, r.env.num_players
        coplayer = state if coplayer is None else coplayer
        T = self.ppo.cfg.num_steps
        init_carry = r.carry
        buf: dict[str, list] = {"obs": [], "dones": [], "actions": [], "logprobs": [], "values": [], "rewards": []}
        for _ in range(T):
            r.key, k0, k1 = jax.random.split(r.key, 3)
            own = {k: v[:, 0] for k, v in r.obs.items()}
            if self.ppo.cfg.aux_coef > 0:  # the auxiliary loss's target for this observation (never acted on)
                own["aux_target"] = env.goal_direction()[:, 0]
            r.carry, action, logp, value = self.ppo.act(state, own, r.carry, r.done, k0)
            actions = np.empty((E, P, 5), dtype=np.int64)
            actions[:, 0] = np.asarray(action)
            if P > 1:
                rest = {k: v[:, 1:].reshape((E * (P - 1),) + v.shape[2:]) for k, v in r.obs.items()}
                r.coplayer_carry, co_action, _, _ = self.coplayer_ppo.act(
                    coplayer, rest, r.coplayer_carry, np.repeat(r.done, P - 1), k1
                )
                actions[:, 1:] = np.asarray(co_action).reshape(E, P - 1, -1)
            obs, reward, terminated, truncated, info = env.step(actions)
            reward = r.shaping(reward, terminated | truncated, info)  # episode figures below stay unshaped
            for name, value_ in (("obs", own), ("dones", r.done), ("actions", actions[:, 0]), ("logprobs", logp),
                                 ("values", value), ("rewards", reward[:, 0])):  # fmt: skip
                buf[name].append(value_)
            final = info.get("final")
            if final is not None:
                for i, e in enumerate(final["env"]):
                    ret = final["return"][i]
                    others = ret[1:][final["active"][i][1:]]
                    outcome = 0.5 if not len(others) else float(ret[0] > others.mean()) + 0.5 * float(ret[0] == others.mean())
                    r.episodes.append({
                        "return": float(ret[0]), "success": float(final["success"][i, 0]),
                        "unsafe": float(final["unsafe"][i, 0]), "outcome": outcome,
                    })  # fmt: skip
            r.obs, r.done = obs, terminated | truncated
        last_value = self.ppo.value(state, {k: v[:, 0] for k, v in r.obs.items()}, r.carry, r.done)
        stack = lambda xs: jax.tree_util.tree_map(lambda *a: np.stack([np.asarray(x) for x in a]), *xs)
        episodes, r.episodes = r.episodes, []
        return {
            "member": member,
            "iteration": iteration,
            "worker": self.worker_id,
            "coplayer": coplayer_name,
            "rollout": {
                "obs": stack(buf["obs"]),
                "dones": np.stack(buf["dones"]),
                "actions": np.stack(buf["actions"]),
                "logprobs": np.stack([np.asarray(x) for x in buf["logprobs"]]),
                "values": np.stack([np.asarray(x) for x in buf["values"]]),
                "rewards": np.stack(buf["rewards"]).astype(np.float32),
                "init_carry": jax.tree_util.tree_map(np.asarray, init_carry),
                "last_done": r.done.copy(),
                "last_value": np.asarray(last_value),
            },
            "episodes": episodes,
            "steps": T * E,
        }
