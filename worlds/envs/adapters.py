"""Standard-API adapters over ``BatchEnv``: a PettingZoo ``ParallelEnv`` and a Gymnasium ``Env``.

Both run one world (a ``BatchEnv`` with ``num_envs=1``) and expose one player's slice of the batch arrays.

Episode ends. ``BatchEnv`` resets an ended env inside ``step`` (same-step auto-reset), which is right for
training but wrong for these APIs: PettingZoo and Gymnasium return the *last* observation of the ended episode
and leave the reset to the caller. The adapters therefore drive a ``BatchEnv`` whose in-step auto-reset
is switched off (``EnvConfig.autoreset=False``); the time limit, the instability termination and every
observation feature (including "share of the episode left", which reaches 0 on the last step) stay exactly
``BatchEnv``'s. Explicit ``reset()`` calls work as usual. After the episode ended, ``step`` raises
``RuntimeError`` until ``reset`` is called (PettingZoo: ``agents`` is then empty as well).

Seeding. ``reset(seed=s)`` re-seeds the adapter's ``np_random`` (Gymnasium's ``super().reset(seed=s)``; the same
``gymnasium.utils.seeding.np_random`` for PettingZoo) and every reset, seeded or not, starts the ``BatchEnv``
with a seed drawn from that generator. So ``reset(seed=s)`` followed by seedless resets is one reproducible
sequence of tasks, and a first ``reset()`` without a seed draws from fresh OS entropy.

Options. ``reset(options={"task": task})`` plays the given ``TaskSpec`` (validated; it may have fewer players
than slots) instead of drawing one from the task sampler; other option keys are ignored.

Actions. Each player's action has ``BatchEnv``'s per-player action space. Bad actions (wrong shape or dtype,
NaN, out of range, an unknown or finished agent, a live agent without an action) raise ``ValueError`` naming
the agent or player and the value, using ``BatchEnv.validate_actions``; inactive player slots get a no-op.

Infos. Per agent/player and step: ``truth`` (bool [options, predicates], this player's goal predicates),
``unsafe``, ``hazard``, ``fell`` (bools), ``task_id``; on the last step of an episode also ``episode`` with its
return, length, unsafe count and success share. Reset infos carry ``task_id``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv

from worlds import GOAL_WORLD_ID
from worlds.sim import avatar as av
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.sim.config import PhysicsConfig
from worlds.tasks.game import TaskSpec

__all__ = ["GOAL_WORLD_ID", "GoalWorldEnv", "OpenlandParallelEnv", "gym_env", "parallel_env"]

_RENDER_MODES = ["rgb_array"]


def _control_rate(physics: PhysicsConfig) -> float:
    """Env steps per simulated second: the frame rate at which rendered steps play back in real time."""
    return 1.0 / physics.control_dt


def _make_config(num_players: int, max_steps: int, config: dict[str, Any]) -> EnvConfig:
    if "num_envs" in config and config["num_envs"] != 1:
        raise ValueError(f"num_envs={config['num_envs']!r}: the adapters run exactly one world (num_envs=1)")
    config = {k: v for k, v in config.items() if k != "num_envs"}
    known = {f.name for f in dataclasses.fields(EnvConfig)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"unknown env config option(s) {unknown}; known: {sorted(known - {'num_envs'})}")
    return EnvConfig(num_envs=1, num_players=num_players, max_steps=max_steps, **config)


def _noop(config: EnvConfig) -> np.ndarray:
    if config.action_type == "discrete":
        return np.array([1, 1, 1, 0, 0], dtype=np.int64)  # no move, no turn, no jump, release
    return np.zeros(av.ACTION_DIM, dtype=np.float64)


def _check_one_action(config: EnvConfig, who: str, action: Any) -> np.ndarray:
    """Shape and dtype of one player's action; value checks are ``BatchEnv.validate_actions``'."""
    try:
        a = np.asarray(action)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{who}: action {action!r} is not an array of {av.ACTION_DIM} numbers ({exc})") from None
    if a.shape != (av.ACTION_DIM,):
        raise ValueError(f"{who}: expected an action of shape ({av.ACTION_DIM},), got shape {a.shape}: {action!r}")
    if config.action_type == "discrete" and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{who}: discrete actions must be integers, got dtype {a.dtype}: {action!r}")
    if config.action_type == "continuous" and not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{who}: continuous actions must be floats, got dtype {a.dtype}: {action!r}")
    return a


class _Episode:
    """What both adapters share: the one-world ``BatchEnv``, seeding, task options, action checks, rendering."""

    def __init__(self, config: EnvConfig, task_sampler: Callable[[int], TaskSpec] | None, render_mode: str | None):
        if render_mode is not None and render_mode not in _RENDER_MODES:
            raise ValueError(f"render_mode={render_mode!r} is not supported; use one of {_RENDER_MODES} or None")
        self.config = config
        self.batch = BatchEnv(dataclasses.replace(config, autoreset=False), task_sampler)
        self.noop = _noop(config)
        self.done = True  # no episode yet: step needs a reset first
        self.started = False
        self._renderer: Any = None

    def reset(self, np_random: np.random.Generator, options: dict[str, Any] | None) -> tuple[dict, dict]:
        batch_seed = int(np_random.integers(0, 2**62))
        task = (options or {}).get("task")
        if task is not None:
            if not isinstance(task, TaskSpec):
                raise ValueError(f"options['task'] must be a TaskSpec, got {type(task).__name__}")
            self.batch.reset(seed=batch_seed)  # seeds the task sequence of later samples
            obs, info = self.batch.load_tasks([task])
        else:
            obs, info = self.batch.reset(seed=batch_seed)
        self.done = False
        self.started = True
        return obs, info

    def check_running(self, api: str) -> None:
        if not self.started:
            raise RuntimeError(f"{api}.step called before reset(): call reset() first")
        if self.done:
            raise RuntimeError(
                f"{api}.step called after the episode ended (terminated or truncated): call reset() to start a new one"
            )

    def step(self, actions: np.ndarray) -> tuple[dict, np.ndarray, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.batch.step(actions)
        term, trunc = bool(terminated[0]), bool(truncated[0])
        self.done = term or trunc
        return obs, reward, term, trunc, info

    def validate(self, actions: np.ndarray, names: list[str], players: list[int]) -> None:
        """``BatchEnv.validate_actions`` on the full array; on failure, find the first bad player and re-raise
        naming it."""
        try:
            self.batch.validate_actions(actions)
        except ValueError as exc:
            for name, p in zip(names, players):
                one = np.broadcast_to(self.noop, actions.shape).copy()
                one[0, p] = actions[0, p]
                try:
                    self.batch.validate_actions(one)
                except ValueError as inner:
                    raise ValueError(f"{name}: {inner}") from None
            raise ValueError(str(exc)) from None

    def render(self) -> np.ndarray:
        """RGB uint8 [H, W, 3]: a perspective view of the world's current state."""
        import mujoco

        from worlds.sim import render as wr

        wr.ensure_egl()
        batch = self.batch
        model, data = batch.models[0], batch.world.data(0)
        if self._renderer is None:
            self._renderer = mujoco.Renderer(model, height=240, width=320)
        task = batch.tasks[0]
        ph = self.config.physics
        sx, sy = task.world.terrain.cols * ph.tile_size, task.world.terrain.rows * ph.tile_size
        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        cam.lookat[:] = [sx / 2, sy / 2, ph.level_height]
        cam.distance = 1.15 * max(sx, sy)
        cam.azimuth, cam.elevation = -60.0, -38.0
        self._renderer.update_scene(data, camera=cam)
        return self._renderer.render().copy()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def _player_info(info: dict[str, Any], p: int, task_id: str) -> dict[str, Any]:
    out = {
        "truth": info["truth"][0, p].copy(),
        "unsafe": bool(info["unsafe"][0, p]),
        "hazard": bool(info["hazard"][0, p]),
        "fell": bool(info["fell"][0, p]),
        "task_id": task_id,
    }
    final = info.get("final")
    if final is not None:
        out["episode"] = {
            "return": float(final["return"][0, p]),
            "length": int(final["length"][0]),
            "unsafe": int(final["unsafe"][0, p]),
            "success": bool(final["success"][0, p]),
            "held_fraction": float(final["held_fraction"][0, p]),
        }
    return out


def _player_obs(obs: dict[str, np.ndarray], p: int) -> dict[str, np.ndarray]:
    return {k: v[0, p].copy() for k, v in obs.items()}


# ----------------------------------------------------------------------------------------------- PettingZoo
class _RenderAndClose:
    """``render``/``close`` of both adapters: an overview of the world (``rgb_array``), then release the GL
    context."""

    render_mode: str | None
    _episode: _Episode

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gymnasium.logger.warn("render() called with render_mode=None; pass render_mode='rgb_array'")
            return None
        return self._episode.render()

    def close(self) -> None:
        self._episode.close()


class OpenlandParallelEnv(_RenderAndClose, ParallelEnv):
    """PettingZoo ``ParallelEnv`` over one openland world. Agents are ``player_0``..``player_{n-1}``; only the
    current task's active players are in ``agents``. See the module docstring for the episode-end, seeding,
    action and info contracts."""

    metadata = {"render_modes": _RENDER_MODES, "name": "openland_v0", "is_parallelizable": True,
                "render_fps": _control_rate(PhysicsConfig())}

    def __init__(
        self,
        num_players: int = 2,
        max_steps: int = EnvConfig.max_steps,
        task_sampler: Callable[[int], TaskSpec] | None = None,
        render_mode: str | None = None,
        **config: Any,
    ):
        self.render_mode = render_mode
        self._episode = _Episode(_make_config(num_players, max_steps, config), task_sampler, render_mode)
        cfg = self._episode.config
        self.metadata = {**type(self).metadata, "render_fps": _control_rate(cfg.physics)}
        self.possible_agents = [f"player_{p}" for p in range(num_players)]
        self._index = {name: p for p, name in enumerate(self.possible_agents)}
        self.agents: list[str] = []
        # one space object per agent (seeding one agent's action space must not touch another's)
        from worlds.sim.observations import player_observation_space

        self.observation_spaces = {a: player_observation_space(cfg.camera) for a in self.possible_agents}
        self.action_spaces = {a: _action_space(cfg) for a in self.possible_agents}
        self._np_random: np.random.Generator | None = None
        self.max_steps = max_steps

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[self._check_name(agent)]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[self._check_name(agent)]

    def _check_name(self, agent: Any) -> str:
        if agent not in self._index:
            raise ValueError(f"unknown agent {agent!r}; possible agents are {self.possible_agents}")
        return agent

    @property
    def task(self) -> TaskSpec | None:
        """The task being played (None before the first reset)."""
        return self._episode.batch.tasks[0]

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        if seed is not None or self._np_random is None:
            self._np_random, _ = seeding.np_random(seed)
        obs, info = self._episode.reset(self._np_random, options)
        active = info["active"][0]
        self.agents = [a for a in self.possible_agents if active[self._index[a]]]
        tid = info["task_id"][0]
        observations = {a: _player_obs(obs, self._index[a]) for a in self.agents}
        infos = {a: {"task_id": tid} for a in self.agents}
        return observations, infos

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        self._episode.check_running(type(self).__name__)
        if not isinstance(actions, dict):
            raise ValueError(f"actions must be a dict agent -> action, got {type(actions).__name__}")
        live = set(self.agents)
        for name in actions:
            self._check_name(name)
            if name not in live:
                raise ValueError(f"{name!r} is not a live agent of this episode (live agents: {self.agents})")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"no action given for live agent(s) {missing}")
        cfg = self._episode.config
        full = np.broadcast_to(self._episode.noop, (1, cfg.num_players, av.ACTION_DIM)).copy()
        for name in self.agents:
            a = _check_one_action(cfg, f"agent {name!r}", actions[name])
            full[0, self._index[name]] = a
        self._episode.validate(full, [f"agent {a!r}" for a in self.agents], [self._index[a] for a in self.agents])

        obs, reward, term, trunc, info = self._episode.step(full)
        tid = self._episode.batch.task_ids[0]
        agents = self.agents
        observations = {a: _player_obs(obs, self._index[a]) for a in agents}
        rewards = {a: float(reward[0, self._index[a]]) for a in agents}
        terminations = {a: term for a in agents}
        truncations = {a: trunc for a in agents}
        infos = {a: _player_info(info, self._index[a], tid) for a in agents}
        if term or trunc:
            self.agents = []
        return observations, rewards, terminations, truncations, infos



def _action_space(config: EnvConfig) -> spaces.Space:
    from worlds.envs.batch_env import DISCRETE_NVEC

    if config.action_type == "discrete":
        return spaces.MultiDiscrete(DISCRETE_NVEC)
    return spaces.Box(-1.0, 1.0, shape=(av.ACTION_DIM,), dtype=np.float32)


def parallel_env(
    num_players: int = 2,
    max_steps: int = EnvConfig.max_steps,
    task_sampler: Callable[[int], TaskSpec] | None = None,
    render_mode: str | None = None,
    **config: Any,
) -> OpenlandParallelEnv:
    """A PettingZoo ``ParallelEnv`` over one world with ``num_players`` player slots. ``task_sampler`` maps a
    seed to a ``TaskSpec`` (default: generated training tasks with exactly ``num_players`` players); other
    keyword arguments are ``EnvConfig`` fields (``action_type``, ``near_distance``, ``camera``, ``physics``)."""
    return OpenlandParallelEnv(num_players, max_steps, task_sampler, render_mode, **config)


# ----------------------------------------------------------------------------------------------- Gymnasium
class GoalWorldEnv(_RenderAndClose, gymnasium.Env):
    """Gymnasium ``Env`` for one player (``num_players=1``), registered as ``openland/GoalWorld-v0``.
    Observation: the per-player Dict space (rays, proprio, goal); action: the per-player action space. See the
    module docstring for the episode-end, seeding, action and info contracts."""

    metadata = {"render_modes": _RENDER_MODES, "render_fps": _control_rate(PhysicsConfig())}

    def __init__(
        self,
        max_steps: int = EnvConfig.max_steps,
        task_sampler: Callable[[int], TaskSpec] | None = None,
        render_mode: str | None = None,
        **config: Any,
    ):
        players = config.pop("num_players", 1)
        if players != 1:
            raise ValueError(f"num_players={players!r}: GoalWorldEnv is single-player; use parallel_env for more")
        self.render_mode = render_mode
        self._episode = _Episode(_make_config(1, max_steps, config), task_sampler, render_mode)
        self.metadata = {**type(self).metadata, "render_fps": _control_rate(self._episode.config.physics)}
        self.observation_space = self._episode.batch.single_observation_space
        self.action_space = _action_space(self._episode.config)
        self.max_steps = max_steps

    @property
    def task(self) -> TaskSpec | None:
        """The task being played (None before the first reset)."""
        return self._episode.batch.tasks[0]

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        obs, info = self._episode.reset(self.np_random, options)
        return _player_obs(obs, 0), {"task_id": info["task_id"][0]}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        self._episode.check_running(type(self).__name__)
        cfg = self._episode.config
        a = _check_one_action(cfg, "player 0", action)
        full = a.reshape(1, 1, av.ACTION_DIM)
        self._episode.validate(full, ["player 0"], [0])
        obs, reward, term, trunc, info = self._episode.step(full)
        return (
            _player_obs(obs, 0),
            float(reward[0, 0]),
            term,
            trunc,
            _player_info(info, 0, self._episode.batch.task_ids[0]),
        )



def gym_env(**config: Any) -> GoalWorldEnv:
    """A single-player Gymnasium env (``GoalWorldEnv``); keyword arguments as ``GoalWorldEnv``'s."""
    return GoalWorldEnv(**config)
