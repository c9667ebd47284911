"""What a player perceives: an egocentric semantic ray camera, proprioception and its goal as tokens.

The ray camera casts rows of rays (a ring at knee height and a fan pitched down, so that the floor and low
objects are hit) from each avatar, all players of all envs in one batched cast per step (``worlds.sim.world_batch.
WorldBatch``: ``mujoco.batch``'s ray cast, ``mj_ray`` per ray in C), filtered by geom group so parked slots and
decor are never seen. Per ray the observation is: the distance (normalised by the range, 1 = nothing hit), the
category of what was hit (one-hot over ``CATEGORY_NAMES``: none, floor, ramp, wall, object, avatar, hazard), its
colour (one-hot over ``spec.COLOURS``), for objects its shape (one-hot over ``spec.SHAPES``), and the ray's own
direction in the player's frame (so a network that treats rays as a set of tokens knows where each one looks).
Hazard tiles (and ramps on them) are their own category, with their floor colour: the danger is visible, as in
ReQueST, while the goal reward never mentions it (only the per-step ``unsafe`` flag does).

Labelling the hits is a compiled kernel (``worlds.sim.kernels.perception.ray_features``) over per-env tables (geom ->
category/colour/shape).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from worlds.sim import kernels
from worlds.tasks import spec as ws
from worlds.sim.predicates import goal_token_space
from worlds.sim.template import CATEGORY_NAMES

N_CATEGORIES = len(CATEGORY_NAMES)
N_COLOURS = len(ws.COLOURS)
N_SHAPES = len(ws.SHAPES)
#: Features per ray: distance, category one-hot, colour one-hot, shape one-hot, direction (x, y, z) in the
#: player's frame.
RAY_FEATURES = 1 + N_CATEGORIES + N_COLOURS + N_SHAPES + 3
#: Proprioception: forward and left velocity (own frame), vertical velocity, yaw rate, height in levels,
#: grounded, holding, share of the episode left.
PROPRIO_FEATURES = 8


@dataclass(frozen=True)
class RayCameraConfig:
    """The egocentric ray camera: rows of rays cast from one point at knee height, each row a horizontal fan
    with its own pitch, field of view and ray count.

    Knee height because objects are half a metre tall: the level row hits every object, avatar, wall and raised
    level at any distance (rays from eye height would pass over objects beyond a few metres), and a row pitched
    down sees the floor (and its colour) in front of the player. All rows share one origin; every ray of every
    player of every env goes into the step's one batched cast (``worlds.sim.world_batch.WorldBatch``).

    By default the level row looks all around (a lidar-like ring, as Unity ML-Agents' ray sensors and most
    ray-based navigation agents use) while the floor row looks ahead: a player always knows where the objects
    are, so "go to X" is a reactive skill a first agent learns in minutes instead of a search that needs memory.
    What a player *sees* (the ``see`` predicate) is still limited to its forward field of view
    (``see_fov_degrees``): hide and seek keeps its meaning.
    """

    rays_per_row: tuple[int, ...] = (72, 15)
    """Rays in each row, spread evenly over the row's field of view (a row under 360 degrees gets an odd count
    so that one ray looks straight ahead; a 360-degree row gets an even count for the same reason). 5 degrees
    apart in the level row, so a half-metre object is hit up to ~5.5 m away and most of the time beyond."""
    fovs_degrees: tuple[float, ...] = (360.0, 120.0)
    """Horizontal field of view of each row, in degrees (360: all around)."""
    pitches_degrees: tuple[float, ...] = (0.0, -20.0)
    """Pitch of each row, in degrees (negative looks down)."""
    height: float = 0.35
    """Height of the rays' origin above the avatar's feet, in metres."""
    max_distance: float = 24.0
    """Range in metres; beyond it a ray reports nothing."""
    see_fov_degrees: float = 120.0
    """Field of view of the ``see`` predicate: an entity is seen when a ray within this cone ahead hits it."""

    def __post_init__(self) -> None:
        rows = len(self.pitches_degrees)
        if rows == 0 or len(self.rays_per_row) != rows or len(self.fovs_degrees) != rows:
            raise ValueError(
                f"camera: rays_per_row={self.rays_per_row!r}, fovs_degrees={self.fovs_degrees!r} and "
                f"pitches_degrees={self.pitches_degrees!r} must have one entry per row"
            )
        for i, (n, fov) in enumerate(zip(self.rays_per_row, self.fovs_degrees)):
            if n < 1:
                raise ValueError(f"camera.rays_per_row[{i}]={n!r} must be at least 1")
            if not 0.0 < fov <= 360.0:
                raise ValueError(f"camera.fovs_degrees[{i}]={fov!r} must be in (0, 360]")
        if not 0.0 < self.see_fov_degrees <= 360.0:
            raise ValueError(f"camera.see_fov_degrees={self.see_fov_degrees!r} must be in (0, 360]")

    @property
    def num_rays(self) -> int:
        """Rays per player, all rows together."""
        return int(sum(self.rays_per_row))

    def azimuths(self) -> np.ndarray:
        """[num_rays] azimuth of each ray in radians (0 ahead, positive to the left), row by row."""
        out = []
        for n, fov in zip(self.rays_per_row, self.fovs_degrees):
            half = np.radians(fov) / 2
            if fov >= 360.0:  # a ring: no duplicate ray behind, one straight ahead when n is even
                out.append(half - np.arange(n) * (2 * half / n))
            else:
                out.append(np.linspace(half, -half, n) if n > 1 else np.zeros(1))
        return np.concatenate(out)

    def row_starts(self) -> np.ndarray:
        """Index of each row's first ray."""
        return np.concatenate([[0], np.cumsum(self.rays_per_row)[:-1]]).astype(np.int64)

    def see_mask(self) -> np.ndarray:
        """[num_rays] bool: the ray lies within the ``see`` field of view."""
        return np.abs(self.azimuths()) <= np.radians(self.see_fov_degrees) / 2 + 1e-9

    def local_directions(self) -> np.ndarray:
        """[num_rays, 3] unit ray directions in the avatar's frame (x forward, y left, z up), row by row."""
        azimuth = self.azimuths()
        pitch = np.radians(np.repeat(np.asarray(self.pitches_degrees, dtype=np.float64), self.rays_per_row))
        return np.stack([np.cos(azimuth) * np.cos(pitch), np.sin(azimuth) * np.cos(pitch), np.sin(pitch)], 1)


def player_observation_space(camera: RayCameraConfig) -> spaces.Dict:
    """One player's observation: rays [R, F], proprio [8], goal tokens [9, 11]."""
    return spaces.Dict(
        {
            "rays": spaces.Box(-1.0, 1.0, shape=(camera.num_rays, RAY_FEATURES), dtype=np.float32),
            "proprio": spaces.Box(-np.inf, np.inf, shape=(PROPRIO_FEATURES,), dtype=np.float32),
            "goal": goal_token_space(),
        }
    )


def ray_features(
    geomid: np.ndarray,
    dist: np.ndarray,
    geom_category: np.ndarray,
    geom_colour: np.ndarray,
    geom_shape: np.ndarray,
    max_distance: float,
    local_directions: np.ndarray,
    active: np.ndarray,
) -> np.ndarray:
    """float32 [E, P, R, RAY_FEATURES] from ray hits, for all envs, players and rays in one compiled call.

    ``geom_category``/``geom_colour``/``geom_shape`` are per-env tables [E, ngeom] (-1 = none); ``geomid`` and
    ``dist`` are [E, P, R] with -1 for a miss; ``local_directions`` [R, 3] are the camera's ray directions;
    an inactive player (``active`` [E, P] false) sees all zeros.
    """
    return kernels.perception.ray_features(
        geomid, dist, geom_category, geom_colour, geom_shape, max_distance, local_directions, active, N_CATEGORIES,
        N_COLOURS, RAY_FEATURES,
    )  # fmt: skip
