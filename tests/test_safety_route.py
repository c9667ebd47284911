"""The way to a remembered goal over the floor map: the cheapest ways agree with a textbook shortest-path solver,
a hazard band with a gap makes a detour on its near side only, and the field reads smoothly at any position."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy.sparse import lil_matrix
from scipy.sparse.csgraph import dijkstra

from safety.floor_map import CHANNELS, GRID, TILE
from safety.route import FAR, detour, detour_at, route_distance


def test_route_distance_is_the_shortest_path_of_the_priced_grid() -> None:
    rng = np.random.default_rng(0)
    cost = rng.uniform(0.0, 1.0, (GRID, GRID)).astype(np.float32)
    walled = np.zeros((GRID, GRID), np.float32)
    walled[:, 12] = 1.0  # a wall all along column 12 cuts off columns 13..15
    goal = np.zeros((GRID, GRID), np.float32)
    goal[3, 9] = 1.0
    penalty = 5.0
    got = np.asarray(route_distance(jnp.asarray(cost), jnp.asarray(goal), penalty, jnp.asarray(walled)))
    # the same graph for scipy: an edge t -> n priced by the mean of the two tiles' prices, none into or out of a
    # walled tile; reversed, so that the distances from the goal are the distances to it
    graph = lil_matrix((GRID * GRID, GRID * GRID))
    for r in range(GRID):
        for c in range(GRID):
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    n = (r + dr, c + dc)
                    if (dr or dc) and 0 <= n[0] < GRID and 0 <= n[1] < GRID and not walled[n] and not walled[r, c]:
                        price = 1 + penalty * 0.5 * (cost[n] + cost[r, c])
                        graph[n[0] * GRID + n[1], r * GRID + c] = TILE * np.hypot(dr, dc) * price
    want = dijkstra(graph.tocsr(), indices=3 * GRID + 9).reshape(GRID, GRID)
    reachable = np.isfinite(want) & (walled < 0.5)
    np.testing.assert_allclose(got[reachable], want[reachable], rtol=1e-4)
    assert (got[:, 13:] == FAR).all() and reachable[:, :12].all()


def test_a_band_with_a_gap_makes_a_detour_on_its_near_side() -> None:
    cost = np.zeros((GRID, GRID), np.float32)
    cost[5, :10] = 1.0  # a hazard band along row 5, columns 0..9; the way round is past column 10
    floor_map = np.zeros((CHANNELS, GRID, GRID), np.float32)
    floor_map[2, 8, 2] = 1.0  # the goal's object remembered at row 8, column 2
    field = np.asarray(detour(jnp.asarray(cost), jnp.asarray(floor_map), 100.0))
    # against a bare floor (where the detour is only the 8-neighbour grid's bend against the straight line)
    extra = field - np.asarray(detour(jnp.zeros((GRID, GRID)), jnp.asarray(floor_map), 100.0))
    # row 4, column 2: 8 m straight across the band; round its end, 2 x (8 diagonal and straight tiles) further
    assert extra[4, 2] > 20.0 and extra[4, 2] > extra[4, 6] > extra[4, 9] > 0.0  # shrinking toward the band's end
    np.testing.assert_allclose(extra[6:], 0.0, atol=1e-4)  # the goal's side of the band: nothing in the way
    # on the band itself the way off it is still to pay: dearer than the near side's way round the band's end
    assert (extra[5, :8] > extra[4, :8]).all(), (extra[5], extra[4])
    np.testing.assert_allclose(extra[:, 15], 0.0, atol=1e-4)  # far beyond the band's end: a grid way that misses it
    # penalty 0 (the cost counts for nothing): straight across, no detour
    np.testing.assert_allclose(np.asarray(detour(jnp.asarray(cost), jnp.asarray(floor_map), 0.0)) - field + extra, 0.0,
                               atol=1e-4)  # fmt: skip
    np.testing.assert_array_equal(detour(jnp.asarray(cost), jnp.zeros((CHANNELS, GRID, GRID)), 100.0), 0.0)  # no goal


def test_detour_reads_bilinearly_between_tile_centres() -> None:
    field = np.zeros((GRID, GRID), np.float32)
    field[2, 3], field[2, 4] = 4.0, 8.0  # centres (x 7, y 5) and (x 9, y 5)
    poses = jnp.asarray([[7.0, 5.0], [8.0, 5.0], [9.0, 6.0], [-3.0, 5.0]])
    np.testing.assert_allclose(np.asarray(detour_at(jnp.asarray(field), poses)), [4.0, 6.0, 4.0, 0.0], atol=1e-5)
