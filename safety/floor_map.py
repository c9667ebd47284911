"""The floor map: what the agent has seen of the floor, remembered where it lies in the world.

The safety camera's floor row meets the floor ~2.5 m ahead (``demonstrations.SAFETY_CAMERA``), so a hazard tile
leaves the view a few steps before the avatar stands on it: no single observation, and no latent encoded from one,
says that the next step lands on a hazard (measured: the reward ensemble's unsafe probability on a careless
expert's real steps had an AUC of 0.42 against the env's unsafe flag, blind). The world is static, so what was
seen stays where it was: every floor ray's hit is placed in the world frame from the avatar's pose (the same
GPS+compass the simulator's latent carries) and marks its tile as *seen* and, if the ray reports the hazard
category, as *hazard*. The goal's object is remembered the same way: the tile where a ray last met it
(``sightings.goal_match``), so a planner knows which way the goal lies after it has left the view and while it
imagines walking there (measured: the goal potential decoded from the sighting alone was 2.4 m off whenever
the goal was out of view, and the MPC agent reached 6% of goals). Nothing here reads the task's hidden hazard
map or goal position; only what the camera showed.

The learned simulator carries ``MAP_WIDTH`` numbers read from this map at its latent's pose (``map_features``)
and refreshes them after every imagined step from the imagined pose, the map frozen at what had been seen when
imagination began (a model that plans cannot look). What those numbers mean for safety is still learned from
labels only (``reward_model``); what they mean for the goal, from the demonstrations' potential
(``simulator.WorldModel.decode_progress``).

A map is float32 [..., CHANNELS, GRID, GRID] (channel 0 hazard seen, 1 floor seen, 2 the tile where the goal's
object was last seen; rows along y, columns along x, as the worlds' tiles: tile (r, c) spans x in [c, c + 1) and
y in [r, r + 1) tile sizes, in every world).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from safety.sightings import goal_match, rays_of
from worlds.sim.config import PhysicsConfig
from worlds.sim.observations import N_CATEGORIES, RAY_FEATURES
from worlds.sim.template import CAT_FLOOR, CAT_HAZARD, CAT_WALL
from worlds.tasks.spec import MAX_GRID

#: Tiles per side of a map (every world fits).
GRID = MAX_GRID
#: Metres per tile.
TILE = PhysicsConfig().tile_size
#: The numbers ``map_features`` reads at a pose, in this order: hazard underfoot, hazard within ``NEAR`` m, floor
#: never seen underfoot; whether the goal's object has been seen, its distance (in ``GOAL_DISTANCE_UNIT`` m) and
#: its bearing (cosine, sine) in the player's frame.
MAP_NAMES: tuple[str, ...] = ("hazard_here", "hazard_near", "unseen_here", "goal_known", "goal_distance",
                              "goal_ahead", "goal_left")  # fmt: skip
#: Metres per unit of ``goal_distance`` (a latent's numbers stay near 1).
GOAL_DISTANCE_UNIT = 10.0
#: Channels of a map: hazard seen, floor seen, the goal's object last seen (one tile), behind a wall seen.
CHANNELS = 4
MAP_WIDTH = len(MAP_NAMES)
#: Softness (m) of a tile's edge in ``map_features``: a smooth indicator, so a planner's gradient feels an edge.
EDGE = 0.1
#: How far (m) beyond a hazard tile's edge ``hazard_near`` reaches, and the softness of that reach.
NEAR, NEAR_EDGE = 1.0, 0.3


def empty_map(*batch: int) -> jax.Array:
    """A map of nothing seen yet, float32 [*batch, CHANNELS, GRID, GRID]."""
    return jnp.zeros((*batch, CHANNELS, GRID, GRID), jnp.float32)


@jax.jit
def observe(floor_map: jax.Array, obs: jax.Array, position: jax.Array, yaw: jax.Array,
            max_distance: float = 24.0) -> jax.Array:  # fmt: skip
    """``floor_map`` [..., CHANNELS, G, G] with the floor hits of flattened observations [..., D] taken from
    ``position`` [..., 3] and ``yaw`` [...] added, and the goal's object moved to the tile of the nearest ray that
    hits it, if any does (``max_distance``: the camera's range, which normalises a ray's distance)."""
    rays = rays_of(jnp.asarray(obs, jnp.float32))
    category = rays[..., 1 : 1 + N_CATEGORIES]
    hazard = category[..., CAT_HAZARD] > 0.5
    floor = hazard | (category[..., CAT_FLOOR] > 0.5)
    direction = rays[..., RAY_FEATURES - 3 : RAY_FEATURES - 1] * (rays[..., :1] * max_distance)  # player frame, m
    c, s = jnp.cos(yaw)[..., None], jnp.sin(yaw)[..., None]
    x = position[..., :1] + c * direction[..., 0] - s * direction[..., 1]
    y = position[..., 1:2] + s * direction[..., 0] + c * direction[..., 1]
    col, row = jnp.floor(x / TILE).astype(jnp.int32), jnp.floor(y / TILE).astype(jnp.int32)
    inside = (col >= 0) & (col < GRID) & (row >= 0) & (row < GRID) & (rays[..., 0] < 1.0)
    cell = jax.nn.one_hot(jnp.where(inside, row * GRID + col, -1), GRID * GRID)  # -1: all zeros
    seen_hazard = jnp.max(cell * (hazard & inside)[..., None], axis=-2)
    seen_floor = jnp.max(cell * (floor & inside)[..., None], axis=-2)
    grids = floor_map.shape[:-3] + (GRID, GRID)
    hazard_map = jnp.maximum(floor_map[..., 0, :, :], seen_hazard.reshape(grids))
    floor_seen = jnp.maximum(floor_map[..., 1, :, :], seen_floor.reshape(grids))
    # the goal's object: a quarter metre (about its half-width) beyond the nearest ray that meets it
    match = goal_match(obs) & (rays[..., 0] < 1.0)
    nearest = jnp.argmin(jnp.where(match, rays[..., 0], 2.0), axis=-1)[..., None]
    flat_dir = jnp.take_along_axis(direction, nearest[..., None], -2)[..., 0, :]
    flat_dir = flat_dir * (1.0 + 0.25 / jnp.maximum(jnp.linalg.norm(flat_dir, axis=-1, keepdims=True), 1e-6))
    gx = position[..., 0] + c[..., 0] * flat_dir[..., 0] - s[..., 0] * flat_dir[..., 1]
    gy = position[..., 1] + s[..., 0] * flat_dir[..., 0] + c[..., 0] * flat_dir[..., 1]
    gcol, grow = jnp.clip(jnp.floor(gx / TILE), 0, GRID - 1), jnp.clip(jnp.floor(gy / TILE), 0, GRID - 1)
    goal_cell = jax.nn.one_hot((grow * GRID + gcol).astype(jnp.int32), GRID * GRID).reshape(grids)
    goal = jnp.where(match.any(-1)[..., None, None], goal_cell, floor_map[..., 2, :, :])
    # a wall's far side: the tile a quarter metre beyond where a ray met a wall
    wall = category[..., CAT_WALL] > 0.5
    beyond = direction * (1.0 + 0.25 / jnp.maximum(jnp.linalg.norm(direction, axis=-1, keepdims=True), 1e-6))
    wcol = jnp.floor((position[..., :1] + c * beyond[..., 0] - s * beyond[..., 1]) / TILE).astype(jnp.int32)
    wrow = jnp.floor((position[..., 1:2] + s * beyond[..., 0] + c * beyond[..., 1]) / TILE).astype(jnp.int32)
    wall &= (wcol >= 0) & (wcol < GRID) & (wrow >= 0) & (wrow < GRID) & (rays[..., 0] < 1.0)
    wall_cell = jax.nn.one_hot(jnp.where(wall, wrow * GRID + wcol, -1), GRID * GRID)
    walled = jnp.maximum(floor_map[..., 3, :, :], jnp.max(wall_cell, axis=-2).reshape(grids))
    return jnp.stack([hazard_map, floor_seen, goal, walled], axis=-3)


def _soft_inside(coord: jax.Array, grow: float, edge: float) -> jax.Array:
    """[..., GRID]: how much ``coord`` [...] lies inside each tile's span, grown by ``grow`` m each side."""
    low = jnp.arange(GRID, dtype=jnp.float32) * TILE - grow
    c = coord[..., None]
    return jax.nn.sigmoid((c - low) / edge) * jax.nn.sigmoid((low + TILE + 2 * grow - c) / edge)


def _tile_weights(pose: jax.Array, grow: float, edge: float) -> jax.Array:
    """[..., G, G] (rows y, columns x): how much the position of poses [..., >=2] lies in each tile (grown)."""
    return _soft_inside(pose[..., 1], grow, edge)[..., :, None] * _soft_inside(pose[..., 0], grow, edge)[..., None, :]


def _summed(weights: jax.Array, values: jax.Array) -> jax.Array:
    """[...]: tile values [..., G, G] summed under soft tile weights, clipped to [0, 1]. Summed, not maxed: the
    soft indicators of two neighbouring tiles sum to 1 along their shared edge, where the larger of the two is
    only 0.5 (a dip in a hazard band's cost along every tile edge)."""
    return jnp.clip(jnp.sum(weights * values, axis=(-2, -1)), 0.0, 1.0)


def map_features(floor_map: jax.Array, pose: jax.Array) -> jax.Array:
    """float32 [..., MAP_WIDTH] (``MAP_NAMES``) of maps [..., CHANNELS, G, G] at poses [..., 5] (x, y, z in m, sin
    and cos of the yaw: ``simulator.pose_of``): smooth in the pose, so a plan's gradient feels the edge of a
    remembered hazard and the way to the remembered goal."""
    x, y = pose[..., 0], pose[..., 1]
    here, near = _tile_weights(pose, 0.0, EDGE), _tile_weights(pose, NEAR, NEAR_EDGE)
    hazard, seen = floor_map[..., 0, :, :], floor_map[..., 1, :, :]
    goal = floor_map[..., 2, :, :]
    known = jnp.sum(goal, axis=(-2, -1))
    centre = (jnp.arange(GRID, dtype=jnp.float32) + 0.5) * TILE
    gx = jnp.sum(goal * centre[None, :], axis=(-2, -1)) / jnp.maximum(known, 1.0)
    gy = jnp.sum(goal * centre[:, None], axis=(-2, -1)) / jnp.maximum(known, 1.0)
    dx, dy = gx - x, gy - y
    dist = jnp.sqrt(dx**2 + dy**2 + 1e-6)
    sin_yaw, cos_yaw = pose[..., 3], pose[..., 4]
    ahead = (cos_yaw * dx + sin_yaw * dy) / dist  # the goal's bearing in the player's frame
    left = (cos_yaw * dy - sin_yaw * dx) / dist
    known = jnp.broadcast_to(known, dist.shape)
    return jnp.stack([_summed(here, hazard), _summed(near, hazard), 1.0 - _summed(here, seen), known,
                      known * dist / GOAL_DISTANCE_UNIT, known * ahead, known * left], axis=-1)  # fmt: skip


def wall_limits(floor_map: jax.Array, position: jax.Array, radius: float) -> tuple[jax.Array, jax.Array]:
    """(low, high) [..., 2] metres: where along x and y the centre of an avatar of ``radius`` standing at
    ``position`` [..., >=2] can go on its next step, read from maps [..., CHANNELS, G, G]: up to a ``radius``
    short of its tile's edge where the neighbour across that edge lies beyond a wall the camera showed (channel 3
    over 0.5) or outside the map (every world lies inside it; its own walls stand at the map's x = 0 and y = 0),
    unbounded where the neighbour is open. The walls a map can hold run along tile edges, so clipping each
    coordinate to its limits slides the avatar along a wall as the real one slides; a step is far shorter than a
    tile, so only the four edge neighbours matter (a move into a walled tile across its corner alone is not
    stopped). ``simulator.walled_step`` clips imagined motion to these: the demonstrations never walked into a
    wall, so the learned dynamics would walk through one."""
    col = jnp.clip(jnp.floor(position[..., 0] / TILE), 0, GRID - 1).astype(jnp.int32)
    row = jnp.clip(jnp.floor(position[..., 1] / TILE), 0, GRID - 1).astype(jnp.int32)
    walled = jnp.pad(floor_map[..., 3, :, :] > 0.5, [(0, 0)] * (floor_map.ndim - 3) + [(1, 1), (1, 1)], constant_values=True)

    def at(dr: int, dc: int) -> jax.Array:  # walled[row + dr, col + dc] per pose (padded: +1)
        rows = jax.nn.one_hot(row + 1 + dr, GRID + 2, dtype=jnp.float32)
        cols = jax.nn.one_hot(col + 1 + dc, GRID + 2, dtype=jnp.float32)
        return jnp.einsum("...r,...rc,...c->...", rows, walled.astype(jnp.float32), cols) > 0.5

    inf = jnp.float32(jnp.inf)
    x0, y0 = col.astype(jnp.float32) * TILE, row.astype(jnp.float32) * TILE
    low = jnp.stack([jnp.where(at(0, -1), x0 + radius, -inf), jnp.where(at(-1, 0), y0 + radius, -inf)], -1)
    high = jnp.stack([jnp.where(at(0, 1), x0 + TILE - radius, inf), jnp.where(at(1, 0), y0 + TILE - radius, inf)], -1)
    return low, high


def episode_maps(obs: np.ndarray, position: np.ndarray, yaw: np.ndarray, track: np.ndarray, step: np.ndarray,
                 max_distance: float = 24.0) -> np.ndarray:  # fmt: skip
    """float32 [N, CHANNELS, G, G]: for each of N recorded steps (observation [N, D] seen from ``position`` [N, 3] and
    ``yaw`` [N]), the map of everything its track (an episode's player: ``track`` [N]) had seen up to and including
    that observation, its steps ordered by ``step`` [N]."""
    tracks, which = np.unique(np.asarray(track), return_inverse=True)
    maps = empty_map(len(tracks))
    out = np.zeros((len(obs), CHANNELS, GRID, GRID), np.float32)
    step = np.asarray(step)
    for t in np.unique(step):
        rows = np.flatnonzero(step == t)
        if len(np.unique(which[rows])) != len(rows):
            raise ValueError(f"episode_maps: step {int(t)} occurs twice in one track")
        sel = np.zeros(len(tracks), bool)
        sel[which[rows]] = True
        full_obs = np.zeros((len(tracks), obs.shape[1]), np.float32)
        full_pos = np.zeros((len(tracks), 3), np.float32)
        full_yaw = np.zeros(len(tracks), np.float32)
        full_obs[which[rows]], full_pos[which[rows]], full_yaw[which[rows]] = obs[rows], position[rows], yaw[rows]
        seen = observe(maps, jnp.asarray(full_obs), jnp.asarray(full_pos), jnp.asarray(full_yaw), max_distance)
        maps = jnp.where(jnp.asarray(sel)[:, None, None, None], seen, maps)
        out[rows] = np.asarray(maps)[which[rows]]
    return out
