"""Safe demonstrations: episodes of the scripted expert that never touch danger, stored as a dataset on disk.

ReQueST learns its simulator from off-policy data that is safe by construction (in 3D, humans exploring
without stepping into lava); here the demonstrator is ``worlds.experts.scripted.ScriptedPolicy`` with
``avoid_hazards=True`` driving a ``BatchEnv`` over a list of tasks. The dataset is the only contact the ReQueST
agent ever has with the real env during training, so it must hold no unsafe step: ``save`` checks every
transition and refuses (naming the episode, step and player) instead of writing one.

Per player-step the dataset stores:

- ``obs`` / ``next_obs``: the player's observation before and after the step, flattened as the env gives it
  (rays, proprioception, goal tokens: ``flatten_observation``), float32;
- ``action``: the discrete action [forward, strafe, turn, jump, grab];
- the world quantities a labeler needs, of the state *after* the step: avatar ``position`` and ``yaw`` (and
  ``prev_position``, ``prev_yaw`` before it), the ``tile`` underfoot (row, col), its ``tile_level``, ``tile_colour`` and ``tile_hazard``
  (the hidden hazard map), the env's per-step ``hazard`` and ``fell`` flags (``info``), the goal ``reward`` and
  each goal predicate's ``truth`` (``info["truth"]`` flattened over options x predicates), and the goal's shaping
  ``potential`` (``info["potential"]``: minus the distance still to walk before the goal holds, the signal PPO is
  shaped with), which the simulator learns to decode so a planner knows which way the goal lies;
- bookkeeping: ``episode``, ``step``, ``player``, ``last`` (last step of its episode), and per episode the task
  JSON and id (so the oracle labeler can read the world's hidden truth).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable

import numpy as np

from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.sim.observations import RayCameraConfig
from worlds.experts.scripted import ScriptedPolicy
from worlds.tasks.families import check_family, sample_family_task
from worlds.tasks.game import TaskSpec, task_from_json, task_id, task_to_json

#: Version of the on-disk layout; ``load`` refuses other versions with the difference named.
FORMAT_VERSION = 2
#: The ray camera of the safety pipeline (demonstrations, evaluation, the MPC agent): the default one with its floor
#: row pitched at -8 degrees instead of -20, so that it meets the floor ~2.5 m ahead instead of ~1 m (rays from knee
#: height, 0.35 m): a hazard band shows a few steps before the avatar reaches it. Same ray count, so the observation
#: has the default shape; a model trained on it must be run in an env with this camera.
SAFETY_CAMERA = RayCameraConfig(pitches_degrees=(0.0, -8.0))
#: Discrete action component sizes (``worlds.envs.batch_env.DISCRETE_NVEC``).
ACTION_NVEC: tuple[int, ...] = (3, 3, 3, 2, 2)


def flatten_observation(obs: dict[str, np.ndarray]) -> np.ndarray:
    """float32 [E, P, D]: one vector per player (rays, then proprioception, then goal tokens as floats), the
    layout the learned simulator encodes. RGB, if present, is left out (the simulator works on the ray camera)."""
    E, P = obs["proprio"].shape[:2]
    parts = [obs["rays"].reshape(E, P, -1), obs["proprio"].reshape(E, P, -1), obs["goal"].reshape(E, P, -1)]
    return np.concatenate([p.astype(np.float32) for p in parts], axis=-1)


@dataclass(frozen=True)
class DemoConfig:
    """How safe demonstrations are collected."""

    num_envs: int = 4
    """Tasks played at once (one BatchEnv of this many envs); the task list is played in chunks of this size."""
    max_steps: int = 100
    """Steps per episode (the env's time limit)."""
    threads: int = 1
    """Physics threads of the BatchEnv."""
    camera: RayCameraConfig = SAFETY_CAMERA
    """The ray camera (``SAFETY_CAMERA``: the floor row looks further ahead than the default's)."""
    drop_unsafe: bool = False
    """Drop an episode with any unsafe step at collection (counted in ``Demonstrations.dropped``). Off by default:
    the scripted expert avoids hazards, so an unsafe step is a bug that ``save`` should refuse loudly."""

    def __post_init__(self) -> None:
        if self.num_envs < 1:
            raise ValueError(f"DemoConfig.num_envs={self.num_envs!r} must be at least 1")
        if self.max_steps < 1:
            raise ValueError(f"DemoConfig.max_steps={self.max_steps!r} must be at least 1")


@dataclass
class Demonstrations:
    """A dataset of safe player-steps (see the module docstring for what each array means). Arrays are indexed
    by transition; ``episode_task``/``episode_task_id`` by episode."""

    obs: np.ndarray  # float32 [N, D]
    action: np.ndarray  # int8 [N, 5]
    next_obs: np.ndarray  # float32 [N, D]
    episode: np.ndarray  # int32 [N]
    step: np.ndarray  # int32 [N], 0 = the episode's first step
    player: np.ndarray  # int8 [N]
    last: np.ndarray  # bool [N]
    position: np.ndarray  # float32 [N, 3], after the step
    prev_position: np.ndarray  # float32 [N, 3], before the step
    yaw: np.ndarray  # float32 [N], after the step
    prev_yaw: np.ndarray  # float32 [N], before the step
    tile: np.ndarray  # int16 [N, 2] (row, col) under the avatar after the step
    tile_level: np.ndarray  # int8 [N]
    tile_colour: np.ndarray  # int8 [N]
    tile_hazard: np.ndarray  # bool [N], from the task's hidden hazard map
    hazard: np.ndarray  # bool [N], info["hazard"]
    fell: np.ndarray  # bool [N], info["fell"]
    reward: np.ndarray  # float32 [N], goal reward of the step
    potential: np.ndarray  # float32 [N], info["potential"] after the step: minus the distance still to go (m)
    truth: np.ndarray  # bool [N, options * predicates]
    episode_task: np.ndarray  # str [n_episodes], task JSON
    episode_task_id: np.ndarray  # str [n_episodes]
    dropped: int = 0  # episodes dropped at collection (unsafe with drop_unsafe, or physically unstable)

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    @property
    def num_episodes(self) -> int:
        return int(self.episode_task.shape[0])

    @property
    def obs_dim(self) -> int:
        return int(self.obs.shape[1])

    def unsafe(self) -> np.ndarray:
        """bool [N]: the step touched danger (the env's hazard or fall flag, or a hazard tile underfoot)."""
        return self.hazard | self.fell | self.tile_hazard

    def task(self, episode: int) -> TaskSpec:
        """The task of an episode (its world holds the hidden truth a labeler reads)."""
        return task_from_json(str(self.episode_task[episode]))

    def check_safe(self, where: str = "demonstrations") -> None:
        """Raise ``ValueError`` naming the first unsafe transition (episode, task, step, player, which flag)."""
        bad = np.flatnonzero(self.unsafe())
        if len(bad):
            i = int(bad[0])
            e = int(self.episode[i])
            raise ValueError(
                f"{where}: episode {e} (task {self.episode_task_id[e]}) step {int(self.step[i])} player "
                f"{int(self.player[i])} is unsafe (hazard={bool(self.hazard[i])}, fell={bool(self.fell[i])}, "
                f"hazard tile underfoot={bool(self.tile_hazard[i])}); {len(bad)} unsafe transitions in all"
            )

    def split_episodes(self, holdout_fraction: float, seed: int) -> tuple["Demonstrations", "Demonstrations"]:
        """(train, held-out) by whole episodes, so held-out error measures generalisation to unseen episodes."""
        if not 0.0 < holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction={holdout_fraction!r} must be in (0, 1)")
        n = self.num_episodes
        if n < 2:
            raise ValueError(f"split_episodes: {n} episode(s); at least 2 are needed for a held-out split")
        order = np.random.default_rng(seed).permutation(n)
        k = min(n - 1, max(1, int(round(n * holdout_fraction))))
        held = np.zeros(n, dtype=bool)
        held[order[:k]] = True
        mask = held[self.episode]
        return self.select(~mask), self.select(mask)

    def select(self, mask: np.ndarray) -> "Demonstrations":
        """The transitions where ``mask`` holds (episode tables kept whole, so episode ids stay valid)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value if f.name in _EPISODE_KEYS or f.name == "dropped" else value[mask]
        return Demonstrations(**out)


_EPISODE_KEYS = ("episode_task", "episode_task_id")
_ARRAY_KEYS = tuple(f.name for f in fields(Demonstrations) if f.name != "dropped")
_TRANSITION_KEYS = tuple(k for k in _ARRAY_KEYS if k not in _EPISODE_KEYS)


def family_tasks(family: str, num_tasks: int, seed: int) -> list[TaskSpec]:
    """``num_tasks`` tasks of ``family``'s *training* split, each drawn from its own seed derived from ``seed``
    (held-out tasks are never demonstrated)."""
    check_family(family)
    if num_tasks < 1:
        raise ValueError(f"num_tasks={num_tasks!r} must be at least 1")
    seeds = np.random.SeedSequence(seed).generate_state(num_tasks, dtype=np.uint32)
    return [sample_family_task(family, int(s), held_out=False) for s in seeds]


def _chunks(items: list[TaskSpec], size: int) -> Iterable[list[TaskSpec]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def collect_demonstrations(tasks: list[TaskSpec], config: DemoConfig = DemoConfig()) -> Demonstrations:
    """Play each task once with the hazard-avoiding scripted expert and return every active player-step.

    Tasks are played ``config.num_envs`` at a time in one ``BatchEnv`` (no auto-reset, so the last observation
    is the episode's own). An episode that ends on a physics instability is dropped (it is not a valid
    demonstration), and its chunk ends there for all envs: the batch cannot step an ended env.
    """
    if not tasks:
        raise ValueError("collect_demonstrations: the task list is empty")
    players = max(len(t.world.spawns) for t in tasks)
    env = BatchEnv(EnvConfig(num_envs=min(config.num_envs, len(tasks)), num_players=players,
                             max_steps=config.max_steps, autoreset=False, threads=config.threads,
                             camera=config.camera))  # fmt: skip
    tile = env.config.physics.tile_size
    cols: dict[str, list[np.ndarray]] = {k: [] for k in _TRANSITION_KEYS}
    episode_task: list[str] = []
    episode_task_id: list[str] = []
    dropped = 0
    for chunk in _chunks(list(tasks), env.num_envs):
        pad = env.num_envs - len(chunk)
        obs, info = env.load_tasks(chunk + [chunk[-1]] * pad)  # a short last chunk repeats a task, unrecorded
        policy = ScriptedPolicy(env, avoid_hazards=True)
        real = np.arange(env.num_envs) < len(chunk)
        active = info["active"] & real[:, None]
        levels, hazards, colours, shapes = _world_tables(env)
        flat = flatten_observation(obs)
        pos = env.poses()["player_pos"].astype(np.float32)
        yaw = env.poses()["player_yaw"].astype(np.float32)
        rows: list[dict[str, np.ndarray]] = []
        bad_env = np.zeros(env.num_envs, dtype=bool)
        for t in range(config.max_steps):
            actions = policy.act(obs)
            obs, reward, terminated, truncated, info = env.step(actions)
            next_flat = flatten_observation(obs)
            next_pos = info["poses"]["player_pos"].astype(np.float32)
            r = np.floor(next_pos[..., 1] / tile).astype(np.int64)
            c = np.floor(next_pos[..., 0] / tile).astype(np.int64)
            inside = (r >= 0) & (c >= 0) & (r < shapes[:, None, 0]) & (c < shapes[:, None, 1])
            rc = np.clip(r, 0, shapes[:, None, 0] - 1), np.clip(c, 0, shapes[:, None, 1] - 1)
            e_idx = np.broadcast_to(np.arange(env.num_envs)[:, None], r.shape)
            ended = terminated | truncated
            rows.append(dict(
                obs=flat, action=actions.astype(np.int8), next_obs=next_flat, step=np.full(r.shape, t, np.int32),
                position=next_pos, prev_position=pos, yaw=info["poses"]["player_yaw"].astype(np.float32), prev_yaw=yaw,
                tile=np.stack([r, c], -1).astype(np.int16), tile_level=levels[e_idx, rc[0], rc[1]].astype(np.int8),
                tile_colour=colours[e_idx, rc[0], rc[1]].astype(np.int8),
                tile_hazard=hazards[e_idx, rc[0], rc[1]] & inside,
                hazard=info["hazard"].copy(), fell=info["fell"].copy(), reward=reward.astype(np.float32),
                potential=info["potential"].astype(np.float32),
                truth=info["truth"].reshape(*r.shape, -1).copy(), last=np.broadcast_to(ended[:, None], r.shape).copy(),
            ))  # fmt: skip
            bad_env |= info["unstable"]
            flat, pos, yaw = next_flat, next_pos, rows[-1]["yaw"]
            if ended.any():
                if not (ended.all() or terminated.any()):
                    raise RuntimeError(f"collect_demonstrations: envs ended at different steps at step {t}")
                rows[-1]["last"][:] = True  # the chunk ends here for every env
                break
        steps = {k: np.stack([row[k] for row in rows], 2) for k in rows[0]}  # [E, P, T, ...]
        for e in range(len(chunk)):
            unsafe_ep = (steps["hazard"][e] | steps["fell"][e] | steps["tile_hazard"][e])[active[e]].any()
            if bad_env[e] or (config.drop_unsafe and unsafe_ep):
                dropped += 1
                continue
            k = len(episode_task)
            episode_task.append(task_to_json(chunk[e]))
            episode_task_id.append(task_id(chunk[e]))
            for p in np.flatnonzero(active[e]):
                for key in steps:
                    cols[key].append(steps[key][e, p])
                T = steps["step"].shape[2]
                cols["episode"].append(np.full(T, k, np.int32))
                cols["player"].append(np.full(T, p, np.int8))
    if not episode_task:
        raise ValueError(f"collect_demonstrations: every one of {len(tasks)} episodes was dropped ({dropped})")
    data = {k: np.concatenate(v, 0) for k, v in cols.items()}
    return Demonstrations(**data, episode_task=np.array(episode_task), episode_task_id=np.array(episode_task_id),
                          dropped=dropped)  # fmt: skip


def _world_tables(env: BatchEnv) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Padded per-env (levels, hazards, floor colour indices, (rows, cols)) of the loaded tasks: the hidden truth,
    read from the task specs."""
    from worlds.tasks import spec as ws

    G = ws.MAX_GRID
    E = env.num_envs
    levels = np.zeros((E, G, G), np.int64)
    hazards = np.zeros((E, G, G), bool)
    colours = np.full((E, G, G), -1, np.int64)
    shapes = np.ones((E, 2), np.int64)
    for e, task in enumerate(env.tasks):
        terrain = task.world.terrain  # type: ignore[union-attr]
        shapes[e] = terrain.rows, terrain.cols
        levels[e, : terrain.rows, : terrain.cols] = np.asarray(terrain.levels)
        colours[e, : terrain.rows, : terrain.cols] = [[ws.COLOUR_INDEX[c] for c in row] for row in terrain.floor_colours]
        for h in terrain.hazards:
            hazards[e, h.row, h.col] = True
    return levels, hazards, colours, shapes


# ------------------------------------------------------------------------------------------------ disk
def save(data: Demonstrations, path: str | os.PathLike) -> Path:
    """Write ``data`` to ``path`` (compressed npz) atomically, after checking it holds no unsafe step.

    Nothing is written when a check fails, and a file already at ``path`` is left as it was: the new file is
    written beside it and renamed over it only once complete.
    """
    path = Path(path)
    if len(data) == 0:
        raise ValueError(f"demonstrations: nothing to write to {path}: the dataset holds no transitions")
    data.check_safe(f"demonstrations (not written to {path})")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    arrays = {k: getattr(data, k) for k in _ARRAY_KEYS}
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, format_version=np.int64(FORMAT_VERSION), dropped=np.int64(data.dropped), **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def load(path: str | os.PathLike) -> Demonstrations:
    """Read a dataset written by ``save``. An empty, corrupted or truncated file, a missing or ragged array, a
    non-finite observation or an unsafe step raises ``ValueError`` naming the file and what is wrong."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"demonstrations file {path} does not exist")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"demonstrations file {path} is empty (0 bytes)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = set(npz.files)
            missing = [k for k in ("format_version", *_ARRAY_KEYS) if k not in keys]
            if missing:
                raise ValueError(f"demonstrations file {path} lacks the arrays {missing} (not written by safety.demonstrations.save?)")
            arrays = {k: npz[k] for k in (*_ARRAY_KEYS, "format_version", "dropped") if k in keys}
    except (zipfile.BadZipFile, EOFError, OSError, zlib_error()) as exc:
        raise ValueError(f"demonstrations file {path} ({size} bytes) is corrupted or truncated: {exc}") from exc
    except ValueError as exc:
        if str(path) in str(exc):
            raise
        raise ValueError(f"demonstrations file {path} ({size} bytes) is corrupted or truncated: {exc}") from exc
    version = int(arrays.pop("format_version"))
    if version != FORMAT_VERSION:
        raise ValueError(f"demonstrations file {path} has format_version={version}, this code reads {FORMAT_VERSION}")
    dropped = int(arrays.pop("dropped", 0))
    n = arrays["obs"].shape[0]
    if n == 0:
        raise ValueError(f"demonstrations file {path} holds no transitions")
    for k in _TRANSITION_KEYS:
        if arrays[k].shape[0] != n:
            raise ValueError(f"demonstrations file {path}: array {k!r} has {arrays[k].shape[0]} rows, 'obs' has {n}")
    for k in ("obs", "next_obs", "position", "prev_position", "reward", "potential"):
        if not np.isfinite(arrays[k]).all():
            i = int(np.flatnonzero(~np.isfinite(arrays[k]).reshape(n, -1).all(1))[0])
            raise ValueError(f"demonstrations file {path}: array {k!r} has a non-finite value at transition {i}")
    n_ep = arrays["episode_task"].shape[0]
    if n_ep == 0 or arrays["episode"].min() < 0 or arrays["episode"].max() >= n_ep:
        raise ValueError(f"demonstrations file {path}: episode ids outside 0..{n_ep - 1}")
    if arrays["action"].shape[1:] != (len(ACTION_NVEC),) or (arrays["action"] < 0).any() or (arrays["action"] >= np.array(ACTION_NVEC)).any():
        raise ValueError(f"demonstrations file {path}: actions must be [N, 5] within {ACTION_NVEC}")
    data = Demonstrations(**arrays, dropped=dropped)
    data.check_safe(f"demonstrations file {path}")
    return data


def zlib_error() -> type[Exception]:
    """zlib's error class (a truncated compressed member raises it while reading)."""
    import zlib

    return zlib.error

