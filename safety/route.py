"""The way to a remembered goal over the floor map, priced by the learned cost: the MPC agent's view beyond its horizon.

A plan looks 10 steps (~2.5 m) ahead; the goal's potential (``request.goal_potential``: minus the distance to the
remembered goal) falls with the straight-line distance. Where a hazard band lies across the straight way, every
10-step plan that keeps off the band loses potential, so the agent stops at the band's edge: measured on 32
held-out safety tasks (seed 1), 29 of 31 failed episodes ended 3-8 m from a goal the agent had seen. ``detour_field`` prices
each tile by the learned reward model (``tile_costs``: its summed rule costs with the map read at the tile's
centre), finds the cheapest way from every tile to the goal's tile (``route_distance``, 8-connected, Bellman-Ford)
and keeps how much longer that way is than the straight line. ``request.progress_terminal`` subtracts it, read
at the plan's last pose (``detour_at``), from that potential: a plan along the band toward its end gains.

Nothing here knows what a hazard is: the price of a tile is what the labels taught the reward model about
states like standing there. This is our addition to ReQueST, whose agent plans with the learned reward alone.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.ndimage import map_coordinates

from safety.floor_map import GRID, TILE, map_features
from safety.reward_model import RewardModel
from safety.simulator import MAP_SLICE, SimState, latent_pose

#: The 8 neighbours (row, column) of a tile and the length of the step to each, in tiles.
_NEIGHBOURS = tuple((dr, dc, (dr * dr + dc * dc) ** 0.5) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc)
#: Relaxation rounds of ``route_distance``: enough for any way that turns a band's end on a 16 x 16 map.
ROUNDS = GRID * GRID // 4
#: Distance (m) of a tile no way reaches.
FAR = 1e3


def tile_costs(model: RewardModel, sim: SimState, z: jax.Array, floor_map: jax.Array) -> jax.Array:
    """[G, G]: the reward model's summed rule costs of latent ``z`` [L] moved to each tile's centre (the map's
    numbers read there with the same height and heading; the rest of the latent as it is)."""
    pose = latent_pose(sim, z)
    centre = (jnp.arange(GRID, dtype=jnp.float32) + 0.5) * TILE
    ys, xs = jnp.meshgrid(centre, centre, indexing="ij")
    poses = jnp.concatenate([jnp.stack([xs, ys], -1), jnp.broadcast_to(pose[2:], (GRID, GRID, 3))], -1)
    latents = jnp.broadcast_to(z, (GRID, GRID, z.shape[-1])).at[..., MAP_SLICE].set(map_features(floor_map, poses))
    return model.rule_costs(latents).sum(-1)


def route_distance(tile_cost: jax.Array, goal: jax.Array, penalty: float | jax.Array,
                   walled: jax.Array | None = None) -> jax.Array:  # fmt: skip
    """[G, G] metres: the cheapest way from each tile to the goal's tiles (``goal`` [G, G] > 0.5), a step between
    tiles of costs c and c' priced its length x (1 + ``penalty`` x (c + c') / 2) (half of it is walked on each),
    none into or out of a ``walled`` tile (> 0.5: beyond a wall seen, ``floor_map`` channel 3); ``FAR`` where none
    leads, or no goal is known. Priced by the tile entered alone, a way off a hazard cost nothing, so a hazard tile
    read as cheap as the goal's side of the band: read between tile centres (``detour_at``), the field drew the
    agent onto the band's edge, where it stood (seed 2 of the safety bench)."""
    inf = jnp.float32(FAR)
    price = 1.0 + penalty * tile_cost
    if walled is not None:
        price = jnp.where(walled > 0.5, inf, price)
    start = jnp.where(goal > 0.5, 0.0, inf)
    padded_price = jnp.pad(price, 1, constant_values=inf)

    def relax(_: int, dist: jax.Array) -> jax.Array:
        padded = jnp.pad(dist, 1, constant_values=inf)
        best = dist
        for dr, dc, length in _NEIGHBOURS:
            # from tile t to its neighbour n, then on: half the step on t, half on n
            n_dist = padded[1 + dr : 1 + dr + GRID, 1 + dc : 1 + dc + GRID]
            n_price = padded_price[1 + dr : 1 + dr + GRID, 1 + dc : 1 + dc + GRID]
            best = jnp.minimum(best, n_dist + TILE * length * 0.5 * (price + n_price))
        return jnp.minimum(best, inf)

    return jax.lax.fori_loop(0, ROUNDS, relax, start)


def detour_field(model: RewardModel, sim: SimState, z: jax.Array, floor_map: jax.Array,
                 penalty: float | jax.Array) -> jax.Array:  # fmt: skip
    """``detour`` over the tiles priced by the reward model for latent ``z`` [L] (``tile_costs``), every tile read
    as floor seen: a way is walked ahead, and walking ahead shows the floor ~2.5 m before the avatar is on it (a
    hazard it shows goes into the map and prices the way anew). Read as never seen, a tile took the learned fall
    cost of floor never seen (high: the queries that walked off the world were such floor), so every way through
    ground not yet looked at cost as much as a cliff and the agent stood where its seen floor ended (safety
    bench, seed 3: a 300 m detour to a goal 9 m away)."""
    return detour(tile_costs(model, sim, z, floor_map.at[..., 1, :, :].set(1.0)), floor_map, penalty)


def detour(tile_cost: jax.Array, floor_map: jax.Array, penalty: float | jax.Array) -> jax.Array:
    """[G, G] metres: how much longer the cheapest way from each tile to the goal's remembered tile is than the
    straight line between their centres (``route_distance``, walls from ``floor_map`` [C, G, G]); zero everywhere
    while no goal is remembered (``floor_map`` channel 2 empty)."""
    goal = floor_map[2]
    dist = route_distance(tile_cost, goal, penalty, floor_map[3])
    rows, cols = jnp.meshgrid(jnp.arange(GRID), jnp.arange(GRID), indexing="ij")
    goal_row, goal_col = jnp.unravel_index(jnp.argmax(goal), goal.shape)
    straight = TILE * jnp.hypot(rows - goal_row, cols - goal_col)
    return jnp.where(goal.sum() > 0.5, jnp.maximum(dist - straight, 0.0), 0.0)


def detour_at(field: jax.Array, pose: jax.Array) -> jax.Array:
    """[...]: ``field`` [G, G] (one value per tile centre) read at poses [..., >=2] by bilinear interpolation
    (the nearest centre's value beyond the outer centres): smooth in the position, for a planner's gradient."""
    coords = jnp.stack([pose[..., 1] / TILE - 0.5, pose[..., 0] / TILE - 0.5])
    return map_coordinates(field, list(coords), order=1, mode="nearest")
