"""Hand-made and randomly drawn worlds for the game tests (independent of worlds.tasks.generator)."""

from __future__ import annotations

import numpy as np

from worlds.tasks.spec import COLOURS, SHAPES, Cell, ObjectSpec, Spawn, Terrain, WorldSpec


def small_world(n_players: int = 2) -> WorldSpec:
    """8x8 flat world: left half red floor, right half blue; a movable yellow cube, a fixed purple sphere,
    a movable green pyramid, a fixed white cube."""
    floors = tuple(tuple("red" if c < 4 else "blue" for c in range(8)) for _ in range(8))
    terrain = Terrain(levels=tuple((0,) * 8 for _ in range(8)), floor_colours=floors, hazards=(Cell(7, 7),))
    objects = (
        ObjectSpec("cube", "yellow", 2, 2, movable=True),
        ObjectSpec("sphere", "purple", 5, 5, movable=False),
        ObjectSpec("pyramid", "green", 1, 6, movable=True),
        ObjectSpec("cube", "white", 6, 1, movable=False),  # on a red tile
    )
    spawns = tuple(Spawn(0, i, 0.0) for i in range(n_players))
    return WorldSpec(terrain, objects, spawns)


def random_world(rng: np.random.Generator, n_players: int | None = None) -> WorldSpec:
    """A random flat world with up to 8 objects whose (shape, colour) pairs are unique."""
    size = int(rng.integers(8, 11))
    palette = list(COLOURS)
    floor_set = [palette[i] for i in rng.choice(len(palette), size=int(rng.integers(1, 4)), replace=False)]
    floors = tuple(tuple(floor_set[int(rng.integers(len(floor_set)))] for _ in range(size)) for _ in range(size))
    terrain = Terrain(levels=tuple((0,) * size for _ in range(size)), floor_colours=floors)
    tiles = rng.permutation(size * size)
    pairs = rng.permutation(len(SHAPES) * len(palette))
    n_obj = int(rng.integers(0, 9))
    n_players = int(rng.integers(1, 5)) if n_players is None else n_players
    objects = tuple(
        ObjectSpec(SHAPES[int(pairs[i]) % len(SHAPES)], palette[int(pairs[i]) // len(SHAPES)],
                   int(tiles[i]) // size, int(tiles[i]) % size, movable=bool(rng.random() < 0.7))
        for i in range(n_obj)
    )  # fmt: skip
    spawns = tuple(
        Spawn(int(tiles[n_obj + k]) // size, int(tiles[n_obj + k]) % size, float(rng.uniform(-3, 3)))
        for k in range(n_players)
    )
    return WorldSpec(terrain, objects, spawns)
