"""The env contract the rollout runner steps, exact JSON state I/O, and a Gymnasium ``SyncVectorEnv`` adapter
(CartPole checks PPO against the field's reference numbers through the same runner as openland's worlds)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np


@runtime_checkable
class VecEnv(Protocol):
    """A batch of E environments with P player slots each, stepped together, numpy in and out: the contract of
    ``worlds.envs.batch_env.BatchEnv``, which :class:`agents.rollout.RolloutRunner` is written against.

    ``reset(seed)`` returns ``(obs, info)``; ``step(actions[E, P, ...])`` returns ``(obs [E, P, ...], reward
    [E, P], terminated [E], truncated [E], info)``, auto-resets finished envs (their returned observation is
    the new episode's first) and reports finished episodes in ``info["final"]`` (``env``, ``return``,
    ``length``, ``success``, ``held_fraction``, ``unsafe``, ``active``, ``task_id``, one row per finished env).
    ``get_state``/``set_state`` capture everything the future depends on (simulator state, step counters,
    RNG state), so a resume continues exactly.
    """

    num_envs: int
    num_players: int
    single_observation_space: gym.Space
    single_action_space: gym.Space

    def reset(self, seed: int) -> tuple[Any, dict[str, Any]]: ...

    def step(self, actions: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]: ...

    def get_state(self) -> dict[str, Any]: ...

    def set_state(self, state: dict[str, Any]) -> None: ...


def state_to_json(x: Any) -> Any:
    """numpy → JSON-able, exactly (floats via repr round-trip; dtype kept for arrays)."""
    if isinstance(x, np.ndarray):
        return {"__ndarray__": x.tolist(), "dtype": str(x.dtype), "shape": list(x.shape)}
    if isinstance(x, np.generic):
        return {"__npscalar__": x.item(), "dtype": str(x.dtype)}
    if isinstance(x, dict):
        return {str(k): state_to_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [state_to_json(v) for v in x]
    return x


def state_from_json(x: Any) -> Any:
    if isinstance(x, dict):
        if "__ndarray__" in x:
            return np.asarray(x["__ndarray__"], dtype=x["dtype"]).reshape(x["shape"])
        if "__npscalar__" in x:
            return np.dtype(x["dtype"]).type(x["__npscalar__"])
        return {k: state_from_json(v) for k, v in x.items()}
    if isinstance(x, list):
        return [state_from_json(v) for v in x]
    return x


class GymVecEnv:
    """:class:`VecEnv` over ``gymnasium.vector.SyncVectorEnv`` (same-step autoreset): one player slot per env,
    exact state I/O. Gym tasks have no goal predicate, so success, held fraction and unsafe steps read 0.

    State = per sub-env: the unwrapped env's ``state_attrs`` (CartPole: ``state``, ``steps_beyond_terminated``),
    every wrapper's ``_elapsed_steps`` (TimeLimit), the env's ``np_random`` bit-generator state; plus this
    adapter's running episode return/length. Arrays are returned as numpy (the runner makes them JSON).
    """

    num_players = 1

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        state_attrs: tuple[str, ...] = ("state", "steps_beyond_terminated"),
        **make_kwargs: Any,
    ) -> None:
        self.env = gym.vector.SyncVectorEnv(
            [lambda: gym.make(env_id, **make_kwargs) for _ in range(num_envs)],
            autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
        )
        self.num_envs = num_envs
        self.single_observation_space = self.env.single_observation_space
        self.single_action_space = self.env.single_action_space
        self.state_attrs = state_attrs
        self._ret = np.zeros(num_envs, np.float64)
        self._len = np.zeros(num_envs, np.int64)
        self._active = np.ones((num_envs, 1), dtype=bool)

    def reset(self, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
        obs, _ = self.env.reset(seed=seed)
        self._ret[:] = 0
        self._len[:] = 0
        return obs[:, None], {"active": self._active.copy()}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, reward, term, trunc, _ = self.env.step(np.asarray(actions)[:, 0])
        self._ret += reward
        self._len += 1
        info: dict[str, Any] = {"active": self._active.copy()}
        done = np.flatnonzero(term | trunc)
        if len(done):
            zeros = np.zeros((len(done), 1))
            info["final"] = {
                "env": done, "return": self._ret[done, None].copy(), "length": self._len[done].copy(),
                "success": zeros.astype(bool), "held_fraction": zeros, "unsafe": zeros.astype(np.int64),
                "active": self._active[done], "task_id": [""] * len(done),
            }  # fmt: skip
            self._ret[done] = 0
            self._len[done] = 0
        return obs[:, None], np.asarray(reward, np.float32)[:, None], term, trunc, info
    @staticmethod
    def _wrappers(env: gym.Env) -> list[gym.Env]:
        chain = [env]
        while isinstance(chain[-1], gym.Wrapper):
            chain.append(chain[-1].env)
        return chain

    def get_state(self) -> dict[str, Any]:
        subs = []
        for env in self.env.envs:
            chain = self._wrappers(env)
            un = env.unwrapped
            subs.append(
                {
                    "attrs": {a: getattr(un, a) for a in self.state_attrs},
                    "elapsed": [getattr(w, "_elapsed_steps", None) for w in chain],
                    "rng": un.np_random.bit_generator.state,
                }
            )
        return {"subenvs": subs, "ep_return": self._ret.copy(), "ep_length": self._len.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        if len(state["subenvs"]) != self.num_envs:
            raise ValueError(f"env state has {len(state['subenvs'])} sub-envs, this VecEnv has {self.num_envs}")
        for env, sub in zip(self.env.envs, state["subenvs"]):
            chain = self._wrappers(env)
            un = env.unwrapped
            for a, v in sub["attrs"].items():
                setattr(un, a, np.array(v) if isinstance(v, np.ndarray) else v)
            for w, e in zip(chain, sub["elapsed"]):
                if e is not None:
                    w._elapsed_steps = e
                if hasattr(w, "_has_reset"):
                    w._has_reset = True
            un.np_random.bit_generator.state = sub["rng"]
        self._ret = np.array(state["ep_return"], np.float64)
        self._len = np.array(state["ep_length"], np.int64)
