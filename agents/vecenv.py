"""Vectorised environments as the trainer sees them: the ``VecEnv`` protocol, exact JSON state I/O, and a
Gymnasium ``SyncVectorEnv`` adapter (CartPole checks PPO against the field's reference numbers)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np


@runtime_checkable
class VecEnv(Protocol):
    """A batch of N environments (or env × player slots) stepped together, numpy in and out.

    ``step`` auto-resets finished slots and returns the first observation of the new episode in their place
    (so ``terminated | truncated`` marks the *next* returned observation as an episode start). ``info`` may
    carry ``"episode_return"``/``"episode_length"`` (float [N], NaN where no episode finished this step).
    ``get_state``/``set_state`` capture everything the future depends on (simulator state, step counters,
    RNG state) as JSON-able data, so a resume continues exactly.
    """

    num_envs: int
    single_observation_space: gym.Space
    single_action_space: gym.Space

    def reset(self, seed: int) -> Any: ...

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
    """:class:`VecEnv` over ``gymnasium.vector.SyncVectorEnv`` (same-step autoreset), with exact state I/O.

    State = per sub-env: the unwrapped env's ``state_attrs`` (CartPole: ``state``, ``steps_beyond_terminated``),
    every wrapper's ``_elapsed_steps`` (TimeLimit), the env's ``np_random`` bit-generator state; plus this
    adapter's running episode return/length.
    """

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

    def reset(self, seed: int) -> np.ndarray:
        obs, _ = self.env.reset(seed=seed)
        self._ret[:] = 0
        self._len[:] = 0
        return obs

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, reward, term, trunc, _ = self.env.step(np.asarray(actions))
        self._ret += reward
        self._len += 1
        done = term | trunc
        ep_ret = np.where(done, self._ret, np.nan)
        ep_len = np.where(done, self._len, np.nan)
        self._ret[done] = 0
        self._len[done] = 0
        return obs, reward, term, trunc, {"episode_return": ep_ret, "episode_length": ep_len}

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
                    "attrs": {a: state_to_json(getattr(un, a)) for a in self.state_attrs},
                    "elapsed": [getattr(w, "_elapsed_steps", None) for w in chain],
                    "rng": state_to_json(un.np_random.bit_generator.state),
                }
            )
        return {"subenvs": subs, "ep_return": state_to_json(self._ret), "ep_length": state_to_json(self._len)}

    def set_state(self, state: dict[str, Any]) -> None:
        if len(state["subenvs"]) != self.num_envs:
            raise ValueError(f"env state has {len(state['subenvs'])} sub-envs, this VecEnv has {self.num_envs}")
        for env, sub in zip(self.env.envs, state["subenvs"]):
            chain = self._wrappers(env)
            un = env.unwrapped
            for a, v in sub["attrs"].items():
                setattr(un, a, state_from_json(v))
            for w, e in zip(chain, sub["elapsed"]):
                if e is not None:
                    w._elapsed_steps = e
                if hasattr(w, "_has_reset"):
                    w._has_reset = True
            un.np_random.bit_generator.state = state_from_json(sub["rng"])
        self._ret = state_from_json(state["ep_return"]).copy()
        self._len = state_from_json(state["ep_length"]).copy()
