"""Sightings: numbers computed from one observation alone that a small network trained on a few dozen worlds does
not learn to compute, matching the goal's tokens against what each ray hit (``goal_sighting``) and how much of
the floor ahead is hazard (``hazard_sighting``). The learned simulator's latent carries them (``simulator``);
the floor map (``floor_map``) places the goal's sighting in the world.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from worlds.sim.observations import N_CATEGORIES, N_COLOURS, PROPRIO_FEATURES, RAY_FEATURES
from worlds.sim.predicates import GOAL_ROWS, TOKEN_FIELDS, TOKEN_LEN
from worlds.sim.template import CAT_HAZARD

#: Width of ``sighting``: ``goal_sighting`` (seen, distance / range, direction x, direction y in the player's frame)
#: then ``hazard_sighting`` (share of downward rays on a hazard, the same within 20 degrees of ahead, distance / range
#: and direction of the nearest hazard hit).
SIGHT_WIDTH = 9
_TOKEN = {name: i for i, name in enumerate(TOKEN_FIELDS)}
_NEAR, _HOLD, _OBJECT, _POSITIVE = 1, 3, 2, 1  # token values (``worlds.sim.predicates``' table)


def hazard_sighting(obs: jax.Array | np.ndarray) -> jax.Array:
    """float32 [..., 5] from flattened observations [..., D]: the share of downward rays that hit a hazard tile,
    the same share among those within 20 degrees of straight ahead, and the normalised distance and in-plane
    direction of the nearest ray of any row that hits one ((1, 0, 0) when none does). From the observation alone:
    hazards are a floor category of their own."""
    rays = rays_of(jnp.asarray(obs, jnp.float32))
    hazard = rays[..., 1 + CAT_HAZARD] > 0.5
    d = rays[..., RAY_FEATURES - 3 : RAY_FEATURES]
    down = d[..., 2] < -0.05
    ahead = down & (d[..., 0] > jnp.cos(jnp.deg2rad(20.0)) * jnp.linalg.norm(d[..., :2], axis=-1))
    share = lambda m: jnp.sum(hazard & m, -1) / jnp.maximum(jnp.sum(m, -1), 1)  # noqa: E731
    dist = jnp.where(hazard, rays[..., 0], 2.0)
    nearest = jnp.argmin(dist, axis=-1)[..., None]
    seen = hazard.any(-1)
    direction = jnp.take_along_axis(d[..., :2], nearest[..., None], -2)[..., 0, :]
    direction = direction / jnp.maximum(jnp.linalg.norm(direction, axis=-1, keepdims=True), 1e-6)
    return jnp.concatenate([share(down)[..., None], share(ahead)[..., None],
                            jnp.where(seen, jnp.take_along_axis(dist, nearest, -1)[..., 0], 1.0)[..., None],
                            jnp.where(seen[..., None], direction, 0.0)], axis=-1).astype(jnp.float32)  # fmt: skip


def sighting(obs: jax.Array | np.ndarray) -> jax.Array:
    """float32 [..., SIGHT_WIDTH]: ``goal_sighting`` then ``hazard_sighting`` of flattened observations."""
    return jnp.concatenate([goal_sighting(obs), hazard_sighting(obs)], axis=-1)


def goal_match(obs: jax.Array | np.ndarray) -> jax.Array:
    """bool [..., R] from flattened observations [..., D]: which rays hit an object of the shape and colour named
    by the goal's first positive ``near``/``hold`` predicate on an object (none when the goal names no object)."""
    obs = jnp.asarray(obs, jnp.float32)
    goal_width = GOAL_ROWS * TOKEN_LEN
    rays = rays_of(obs)
    tok = jnp.round(obs[..., obs.shape[-1] - goal_width :]).astype(jnp.int32).reshape(*obs.shape[:-1], GOAL_ROWS, TOKEN_LEN)
    rel, neg = tok[..., _TOKEN["relation"]], tok[..., _TOKEN["negated"]]
    b_obj, a_obj = tok[..., _TOKEN["b_kind"]] == _OBJECT, tok[..., _TOKEN["a_kind"]] == _OBJECT
    ok = ((rel == _NEAR) | (rel == _HOLD)) & (neg == _POSITIVE) & (b_obj | a_obj)  # [..., G]
    row = jnp.argmax(ok, axis=-1)
    pick = lambda name: jnp.take_along_axis(tok[..., _TOKEN[name]], row[..., None], -1)[..., 0]  # noqa: E731
    use_b = jnp.take_along_axis(b_obj, row[..., None], -1)[..., 0]
    shape = jnp.where(use_b, pick("b_shape"), pick("a_shape")) - 1  # token values are index + 1
    colour = jnp.where(use_b, pick("b_colour"), pick("a_colour")) - 1
    colour0, shape0 = 1 + N_CATEGORIES, 1 + N_CATEGORIES + N_COLOURS
    hit_colour = jnp.take_along_axis(rays[..., colour0:shape0], jnp.clip(colour, 0)[..., None, None], -1)[..., 0]
    hit_shape = jnp.take_along_axis(rays[..., shape0 : RAY_FEATURES - 3], jnp.clip(shape, 0)[..., None, None], -1)[..., 0]
    return (hit_colour > 0.5) & (hit_shape > 0.5) & ok.any(-1)[..., None]


def goal_sighting(obs: jax.Array | np.ndarray) -> jax.Array:
    """float32 [..., 4] from flattened observations [..., D] (``demonstrations.flatten_observation``): whether a ray
    hits the goal's object (``goal_match``), and the normalised distance and in-plane direction (player's frame)
    of the nearest such ray; (0, 1, 0, 0) when none does. Computed from the observation alone: the ray hits and the
    goal tokens."""
    rays = rays_of(jnp.asarray(obs, jnp.float32))
    match = goal_match(obs)
    dist = jnp.where(match, rays[..., 0], 2.0)
    nearest = jnp.argmin(dist, axis=-1)[..., None]
    seen = match.any(-1)
    ray = jnp.take_along_axis(rays, nearest[..., None], -2)[..., 0, :]
    direction = ray[..., RAY_FEATURES - 3 : RAY_FEATURES - 1]
    norm = jnp.maximum(jnp.linalg.norm(direction, axis=-1, keepdims=True), 1e-6)
    return jnp.concatenate([seen[..., None].astype(jnp.float32),
                            jnp.where(seen, jnp.take_along_axis(dist, nearest, -1)[..., 0], 1.0)[..., None],
                            jnp.where(seen[..., None], direction / norm, 0.0)], axis=-1)  # fmt: skip


def rays_of(obs: jax.Array) -> jax.Array:
    """Per-ray features [..., R, RAY_FEATURES] of flattened observations [..., D]
    (``demonstrations.flatten_observation``: rays, then proprioception, then goal tokens)."""
    rays_n = (obs.shape[-1] - PROPRIO_FEATURES - GOAL_ROWS * TOKEN_LEN) // RAY_FEATURES
    return obs[..., : rays_n * RAY_FEATURES].reshape(*obs.shape[:-1], rays_n, RAY_FEATURES)
