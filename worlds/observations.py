"""What a player perceives: an egocentric semantic ray camera, proprioception and its goal as tokens.

The ray camera casts a horizontal fan of rays (slightly pitched down, so that the floor and low objects are
hit) from each avatar's eyes with ``mujoco.mj_multiRay``, filtered by geom group so parked slots and decor are
never seen. Per ray the observation is: the distance (normalised by the range, 1 = nothing hit), the category
of what was hit (one-hot: none, floor, ramp, wall, object, avatar), its colour (one-hot over ``spec.COLOURS``)
and, for objects, its shape (one-hot over ``spec.SHAPES``). Hazard tiles look like any floor of their colour:
agents are never told where hazards are.

Labelling the hits is pure numpy indexing over per-env tables (geom -> category/colour/entity), so only the
C ray cast itself runs per player.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from gymnasium import spaces

from worlds import spec as ws
from worlds.predicates import goal_token_space
from worlds.template import CATEGORY_NAMES

N_CATEGORIES = len(CATEGORY_NAMES)
N_COLOURS = len(ws.COLOURS)
N_SHAPES = len(ws.SHAPES)
#: Features per ray: distance, category one-hot, colour one-hot, shape one-hot.
RAY_FEATURES = 1 + N_CATEGORIES + N_COLOURS + N_SHAPES
#: Proprioception: forward and left velocity (own frame), vertical velocity, yaw rate, height in levels,
#: grounded, holding, share of the episode left.
PROPRIO_FEATURES = 8


@dataclass(frozen=True)
class RayCameraConfig:
    """The egocentric ray camera: rows of rays cast from one point at knee height, each row a horizontal fan
    at its own pitch.

    Knee height because objects are half a metre tall: the level row hits every object, avatar, wall and raised
    level at any distance (rays from eye height would pass over objects beyond a few metres), and a row pitched
    down sees the floor (and its colour) in front of the player. One origin for all rows means one
    ``mj_multiRay`` call per player, whose fixed cost is about that of a dozen rays.
    """

    rays_per_row: int = 31
    """Rays per row, spread evenly over the field of view (odd, so one ray looks straight ahead): 4 degrees
    apart, so a half-metre object is hit up to ~7 m away."""
    height: float = 0.35
    """Height of the rays' origin above the avatar's feet, in metres."""
    pitches_degrees: tuple[float, ...] = (0.0, -20.0)
    """Pitch of each row, in degrees (negative looks down)."""
    fov_degrees: float = 120.0
    """Horizontal field of view."""
    max_distance: float = 24.0
    """Range in metres; beyond it a ray reports nothing."""

    @property
    def num_rays(self) -> int:
        """Rays per player, all rows together."""
        return self.rays_per_row * len(self.pitches_degrees)

    def local_directions(self) -> np.ndarray:
        """[num_rays, 3] unit ray directions in the avatar's frame (x forward, y left, z up), row by row."""
        half = np.radians(self.fov_degrees) / 2
        azimuth = np.linspace(half, -half, self.rays_per_row) if self.rays_per_row > 1 else np.zeros(1)
        out = []
        for pitch_degrees in self.pitches_degrees:
            pitch = np.radians(pitch_degrees)
            out.append(np.stack([np.cos(azimuth) * np.cos(pitch), np.sin(azimuth) * np.cos(pitch),
                                 np.full_like(azimuth, np.sin(pitch))], 1))  # fmt: skip
        return np.concatenate(out)


def player_observation_space(camera: RayCameraConfig) -> spaces.Dict:
    """One player's observation: rays [R, F], proprio [8], goal tokens [9, 11]."""
    return spaces.Dict(
        {
            "rays": spaces.Box(0.0, 1.0, shape=(camera.num_rays, RAY_FEATURES), dtype=np.float32),
            "proprio": spaces.Box(-np.inf, np.inf, shape=(PROPRIO_FEATURES,), dtype=np.float32),
            "goal": goal_token_space(),
        }
    )


def cast_rays(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    origins: np.ndarray,
    directions: np.ndarray,
    exclude_bodies: np.ndarray,
    active: np.ndarray,
    camera: RayCameraConfig,
    geomid_out: np.ndarray,
    dist_out: np.ndarray,
) -> None:
    """Cast each active player's rays. ``origins`` [P, 3], ``directions`` [P, R, 3]; ``geomid_out``/``dist_out``
    [P, R] get -1 where nothing is hit.

    ``mj_multiRay`` takes one origin per call, so this is the one place that iterates over players; all the work
    of each iteration is the C ray cast itself.
    """
    for p in np.flatnonzero(active):
        mujoco.mj_multiRay(
            model, data, origins[p], directions[p].ravel(), _RAY_GEOMGROUP, 1, int(exclude_bodies[p]),
            geomid_out[p], dist_out[p], None, camera.num_rays, camera.max_distance,
        )  # fmt: skip


_RAY_GEOMGROUP = np.array([1, 1, 1, 0, 0, 0], dtype=np.uint8)


def ray_features(
    geomid: np.ndarray,
    dist: np.ndarray,
    geom_category: np.ndarray,
    geom_colour: np.ndarray,
    geom_shape: np.ndarray,
    max_distance: float,
) -> np.ndarray:
    """float32 [E, P, R, RAY_FEATURES] from ray hits, vectorised over envs, players and rays.

    ``geom_category``/``geom_colour``/``geom_shape`` are per-env tables [E, ngeom] (-1 = none); ``geomid`` and
    ``dist`` are [E, P, R] with -1 for a miss.
    """
    E, P, R = geomid.shape
    hit = geomid >= 0
    g = np.where(hit, geomid, 0)
    flat = g + (np.arange(E)[:, None, None] * geom_category.shape[1])
    cat = np.where(hit, geom_category.reshape(-1)[flat], 0)
    colour = np.where(hit, geom_colour.reshape(-1)[flat], -1)
    shape = np.where(hit, geom_shape.reshape(-1)[flat], -1)
    out = np.zeros((E, P, R, RAY_FEATURES), dtype=np.float32)
    out[..., 0] = np.where(hit, np.clip(dist / max_distance, 0.0, 1.0), 1.0)
    e, p, r = np.indices((E, P, R))
    out[e, p, r, 1 + cat] = 1.0
    has_colour = colour >= 0
    out[e[has_colour], p[has_colour], r[has_colour], 1 + N_CATEGORIES + colour[has_colour]] = 1.0
    has_shape = shape >= 0
    out[e[has_shape], p[has_shape], r[has_shape], 1 + N_CATEGORIES + N_COLOURS + shape[has_shape]] = 1.0
    return out
