"""The training loop: rollouts in Python over a ``VecEnv`` with one jitted act per step, then one jitted PPO
update. ``make_train(cfg, env)`` returns a ``Trainer``."""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from agents.ppo import PPO, PPOConfig, Rollout
from agents.vecenv import VecEnv

class Trainer:
    """Rollout + update loop over a :class:`VecEnv`. Holds the learner state and the runner state (the last
    observation, episode-start flags and core carry), which together with the env state are the whole
    training state (see :meth:`checkpoint_tree`)."""

    def __init__(self, cfg: PPOConfig, env: VecEnv) -> None:
        if env.num_envs != cfg.num_envs:
            raise ValueError(f"PPOConfig.num_envs={cfg.num_envs} but the env has num_envs={env.num_envs}")
        self.cfg = cfg
        self.env = env
        self.ppo = PPO(cfg, env.single_observation_space, env.single_action_space)
        self.state = self.ppo.init(cfg.seed)
        self.obs = env.reset(seed=cfg.seed)
        self.done = np.ones(cfg.num_envs, bool)
        self.carry = self.ppo.initial_carry()
        self.episode_returns: list[float] = []
        self.episode_lengths: list[float] = []
        spec = self.ppo.action_spec
        self._clip = (np.asarray(spec.low), np.asarray(spec.high)) if spec.kind == "box" else None

    def collect(self) -> Rollout:
        """Run num_steps steps of all N sequences with one jitted act call per step."""
        T = self.cfg.num_steps
        key, rkey = jax.random.split(self.state.key)
        self.state = self.state.replace(key=key)
        keys = np.asarray(jax.random.split(rkey, T))
        init_carry = self.carry
        obs_buf, done_buf, act_buf, logp_buf, val_buf, rew_buf = [], [], [], [], [], []
        obs, done, carry = self.obs, self.done, self.carry
        for t in range(T):
            carry, action, logp, value = self.ppo.act(self.state, obs, carry, done, keys[t])
            a = np.asarray(action)
            env_a = np.clip(a, *self._clip) if self._clip is not None else a
            next_obs, reward, term, trunc, info = self.env.step(env_a)
            obs_buf.append(obs)
            done_buf.append(done)
            act_buf.append(a)
            logp_buf.append(logp)
            val_buf.append(value)
            rew_buf.append(reward)
            if "episode_return" in info:
                finished = ~np.isnan(info["episode_return"])
                self.episode_returns.extend(info["episode_return"][finished].tolist())
                self.episode_lengths.extend(info["episode_length"][finished].tolist())
            obs, done = next_obs, np.asarray(term | trunc)
        last_value = self.ppo.value(self.state, obs, carry, done)
        self.obs, self.done, self.carry = obs, done, carry
        stack = lambda xs: jax.tree_util.tree_map(lambda *a: np.stack(a), *xs)
        return Rollout(
            obs=stack(obs_buf),
            dones=np.stack(done_buf),
            actions=np.stack(act_buf),
            logprobs=jnp.stack(logp_buf),
            values=jnp.stack(val_buf),
            rewards=np.stack(rew_buf).astype(np.float32),
            init_carry=init_carry,
            last_done=done,
            last_value=last_value,
        )

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
        return {
            "train_state": self.state,
            "runner": {"obs": self.obs, "done": self.done, "carry": self.carry},
        }

    def load_checkpoint_tree(self, tree: dict[str, Any]) -> None:
        """Inverse of :meth:`checkpoint_tree`. Restored arrays come back *committed* to a device, which jit
        treats as a different input signature; re-creating them from host copies keeps the compiled code."""
        tree = jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)), tree)
        self.state = tree["train_state"]
        r = tree["runner"]
        self.obs = jax.tree_util.tree_map(np.asarray, r["obs"])
        self.done = np.asarray(r["done"], bool)
        self.carry = r["carry"]


def make_train(cfg: PPOConfig, env: VecEnv) -> Trainer:
    """Entry point: a :class:`Trainer` ready to ``train()`` (rollout in Python, update in one jit call)."""
    return Trainer(cfg, env)
