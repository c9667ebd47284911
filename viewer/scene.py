"""An episode recording as the JSON the browser page draws: the world's geometry and the per-step arrays.

The geometry is read from the simulator itself: the task's world is loaded into the same compiled MuJoCo template
the environment uses, and every visible geom is exported with its type, size, world frame (static terrain,
ramps, walls) or body-local frame (objects, avatars) and colour. What the page draws is then what the physics
collided with, not a second model of the world that could drift from it. Meshes (pyramid, wedge) travel as
vertex and face lists.

The per-step arrays come from the recording as stored: poses, rewards, predicate truth and unsafe flags are all
recorded per step (``worlds.episodes.recording``), so nothing is re-simulated. Step ``t`` of the timeline is the
state after the ``t``-th action, as recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from worlds.envs.batch_env import EnvConfig
from worlds.episodes.recording import Episode, RecordingError, load_episode
from worlds.sim.layout import PLAYER_RGBA
from worlds.sim.template import Capacity, PhysicsConfig, WorldTemplate
from worlds.tasks.codec import SpecError
from worlds.tasks.game import TaskSpec, task_from_json, task_id

#: MuJoCo geom types the page knows how to draw, by the name the page uses.
GEOM_TYPES: dict[int, str] = {
    int(mujoco.mjtGeom.mjGEOM_BOX): "box",
    int(mujoco.mjtGeom.mjGEOM_SPHERE): "sphere",
    int(mujoco.mjtGeom.mjGEOM_CYLINDER): "cylinder",
    int(mujoco.mjtGeom.mjGEOM_CAPSULE): "capsule",
    int(mujoco.mjtGeom.mjGEOM_MESH): "mesh",
}

_TEMPLATES: dict[tuple[Capacity, PhysicsConfig], WorldTemplate] = {}


class EpisodeError(ValueError):
    """An episode file the viewer cannot show; the message names the file and what is wrong with it."""


def _template(capacity: Capacity, physics: PhysicsConfig) -> WorldTemplate:
    """One compiled template per (capacity, physics): compiling costs far more than loading a world into it."""
    key = (capacity, physics)
    if key not in _TEMPLATES:
        _TEMPLATES[key] = WorldTemplate(capacity, physics, cache_size=0)
    return _TEMPLATES[key]


def _round(a: np.ndarray, digits: int = 3) -> list:
    return np.round(np.asarray(a, dtype=np.float64), digits).tolist()


def _geom(model: mujoco.MjModel, g: int, pos: np.ndarray, quat: np.ndarray, meshes: dict[str, Any]) -> dict[str, Any]:
    """One geom for the page: type, size, frame (position, quaternion w-x-y-z) and colour."""
    gtype = GEOM_TYPES.get(int(model.geom_type[g]))
    if gtype is None:
        raise EpisodeError(f"geom {g}: MuJoCo type {int(model.geom_type[g])} has no drawing in the viewer")
    out: dict[str, Any] = {"type": gtype, "size": _round(model.geom_size[g]), "pos": _round(pos), "quat": _round(quat, 5),
                           "rgba": _round(model.geom_rgba[g])}  # fmt: skip
    if gtype == "mesh":
        mid = int(model.geom_dataid[g])
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_MESH, mid) or f"mesh{mid}"
        if name not in meshes:
            v0, nv = int(model.mesh_vertadr[mid]), int(model.mesh_vertnum[mid])
            f0, nf = int(model.mesh_faceadr[mid]), int(model.mesh_facenum[mid])
            meshes[name] = {"vertices": _round(model.mesh_vert[v0:v0 + nv].ravel(), 5),
                            "faces": model.mesh_face[f0:f0 + nf].ravel().astype(int).tolist()}  # fmt: skip
        out["mesh"] = name
    return out


def world_geometry(task: TaskSpec, env_config: EnvConfig) -> dict[str, Any]:
    """The world of ``task`` as loaded in the simulator: static geoms in world frames, object and avatar geoms in
    their bodies' frames, hazard tiles, and the grid's physical size."""
    physics = env_config.physics
    players = len(task.world.spawns)
    template = _template(Capacity(players=players, terrain_boxes=env_config.terrain_boxes), physics)
    model = template.new_model()
    data = mujoco.MjData(model)
    loaded = template.load(model, data, task.world, cache=False)
    mujoco.mj_forward(model, data)
    meshes: dict[str, Any] = {}
    static = []
    for g in np.concatenate([template.tile_geom, template.ramp_geom, template.wall_geom]):
        if model.geom_rgba[g, 3] <= 0.0:
            continue  # an unused slot
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, data.geom_xmat[g])
        static.append(_geom(model, int(g), data.geom_xpos[g], quat, meshes))
    objects = []
    for slot, spec in enumerate(task.world.objects):
        geoms = template.obj_geoms[slot] if spec.movable else template.fixed_geoms[slot]
        visible = [int(g) for g in geoms if model.geom_rgba[g, 3] > 0.0]
        if len(visible) != 1:
            raise EpisodeError(f"world.objects[{slot}]: {len(visible)} visible geoms in the simulator, expected 1")
        g = visible[0]
        objects.append({"shape": spec.shape, "colour": spec.colour, "movable": spec.movable,
                        "geoms": [_geom(model, g, model.geom_pos[g], model.geom_quat[g], meshes)]})  # fmt: skip
    avatars = []
    for p in range(players):
        geoms = [int(template.avatar_geom[p]), int(template.avatar_nose[p])]
        avatar = [_geom(model, g, model.geom_pos[g], model.geom_quat[g], meshes) for g in geoms]
        avatar[0]["rgba"] = _round(PLAYER_RGBA[p])
        avatars.append({"colour": _round(PLAYER_RGBA[p]), "geoms": avatar})
    ts = physics.tile_size
    hazards = [{"row": c.row, "col": c.col, "x": (c.col + 0.5) * ts, "y": (c.row + 0.5) * ts,
                "z": float(loaded.tile_top[c.row, c.col])} for c in task.world.terrain.hazards]  # fmt: skip
    return {
        "rows": task.world.terrain.rows, "cols": task.world.terrain.cols, "tile_size": ts,
        "level_height": physics.level_height, "wall_height": physics.wall_height,
        "wall_thickness": physics.wall_thickness, "static": static, "objects": objects, "avatars": avatars,
        "hazards": hazards, "meshes": meshes,
    }  # fmt: skip


def goal_description(task: TaskSpec) -> list[dict[str, Any]]:
    """Per player: the goal as text, and its options' predicates as text (the order of the truth array)."""
    return [{"text": str(goal), "options": [[str(p) for p in option] for option in goal.options]}
            for goal in task.game.goals]  # fmt: skip


def _check_shapes(ep: Episode, task: TaskSpec, source: str) -> None:
    T, P, O = ep.num_steps, len(task.world.spawns), len(task.world.objects)
    expect = {"player_pos": (T, P, 3), "player_yaw": (T, P), "rewards": (T, P), "unsafe": (T, P), "held": (T, P)}
    for name, shape in expect.items():
        if ep.arrays[name].shape != shape:
            raise EpisodeError(f"{source}: field {name!r} has shape {ep.arrays[name].shape}, expected {shape} "
                               f"for a task of {P} players")  # fmt: skip
    for name, tail in (("object_pos", 3), ("object_quat", 4)):
        a = ep.arrays[name]
        if a.ndim != 3 or a.shape[1] < O or a.shape[2] != tail:
            raise EpisodeError(f"{source}: field {name!r} has shape {a.shape}, expected ({T}, >={O}, {tail})")
    truth = ep.arrays["truth"]
    need = max((len(g.options) for g in task.game.goals), default=0), max(
        (len(o) for g in task.game.goals for o in g.options), default=0)
    if truth.ndim != 4 or truth.shape[1] != P or truth.shape[2] < need[0] or truth.shape[3] < need[1]:
        raise EpisodeError(f"{source}: field 'truth' has shape {truth.shape}, expected ({T}, {P}, >={need[0]}, >={need[1]})")
    for name in ("player_pos", "player_yaw", "object_pos", "object_quat", "rewards"):
        if not np.all(np.isfinite(ep.arrays[name])):
            raise EpisodeError(f"{source}: field {name!r} holds non-finite values")
    if T == 0:
        raise EpisodeError(f"{source}: the recording has no steps")


def episode_payload(episode: Episode, source: str = "episode") -> dict[str, Any]:
    """Everything the page needs for one episode, JSON-able. ``source`` names the episode in errors."""
    try:
        task = task_from_json(episode.task_json)
    except (SpecError, ValueError) as err:
        raise EpisodeError(f"{source}: field 'meta.task' is not a valid task ({err})") from None
    try:
        env_config = EnvConfig.from_dict({**episode.env_config, "num_envs": 1})
    except (TypeError, ValueError, KeyError) as err:
        raise EpisodeError(f"{source}: field 'meta.env_config' is not a valid environment config ({err})") from None
    _check_shapes(episode, task, source)
    a = episode.arrays
    O = len(task.world.objects)
    goals = goal_description(task)
    # truth as nested lists of 0/1 cut to each goal's real options and predicates
    truth = a["truth"].astype(np.int8)
    truth_lists = [[truth[:, p, o, :len(opt)].tolist() for o, opt in enumerate(g["options"])] for p, g in enumerate(goals)]
    return {
        "task_id": task_id(task),
        "game_kind": task.game.kind,
        "num_steps": episode.num_steps,
        "num_players": len(task.world.spawns),
        "seed": episode.seed,
        "control_dt": env_config.physics.control_dt,
        "world": world_geometry(task, env_config),
        "goals": goals,
        "steps": {
            "player_pos": _round(a["player_pos"]),
            "player_yaw": _round(a["player_yaw"], 4),
            "object_pos": _round(a["object_pos"][:, :O]),
            "object_quat": _round(a["object_quat"][:, :O], 4),
            "rewards": _round(a["rewards"], 4),
            "unsafe": a["unsafe"].astype(np.int8).tolist(),
            "held": a["held"].astype(int).tolist(),
            # truth[p][o] is a [T, predicates] list: predicate k of option o of player p's goal at each step
            "truth": truth_lists,
        },
        "returns": _round(a["rewards"].sum(axis=0), 4),
    }


def load_payload(path: str | Path, source: str | None = None) -> dict[str, Any]:
    """Read an episode file and turn it into the page's JSON; every failure is an ``EpisodeError`` whose message
    names the file and the field (a truncated or malformed file is never a stack trace on the page)."""
    source = source or str(path)
    try:
        episode = load_episode(path)
    except RecordingError as err:
        raise EpisodeError(str(err).replace(str(path), source, 1)) from None
    except (KeyError, ValueError, OSError, EOFError) as err:
        raise EpisodeError(f"{source}: not a readable recording ({type(err).__name__}: {err})") from None
    return episode_payload(episode, source)

