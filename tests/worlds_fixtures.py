"""Hand-made WorldSpecs for simulator tests: small, readable, and independent of the generator."""

from __future__ import annotations

from worlds.tasks.spec import Cell, ObjectSpec, Ramp, Spawn, Terrain, WorldSpec


def flat_world(
    rows: int = 8,
    cols: int = 8,
    level: int = 0,
    objects: tuple[ObjectSpec, ...] = (),
    spawns: tuple[Spawn, ...] = (Spawn(1, 1, 0.0),),
    hazards: tuple[Cell, ...] = (),
    colour: str = "grey",
) -> WorldSpec:
    """A flat grid at one level."""
    levels = tuple(tuple(level for _ in range(cols)) for _ in range(rows))
    colours = tuple(tuple(colour for _ in range(cols)) for _ in range(rows))
    return WorldSpec(Terrain(levels, colours, (), hazards), objects, spawns)


def ramp_world(spawn_yaw: float = 0.0) -> WorldSpec:
    """8x8: columns 0-3 at level 0, columns 4-7 at level 1, an east ramp on (2, 3) leading up to (2, 4).

    The spawn is at (2, 1) facing east, so walking forward climbs the ramp.
    """
    levels = tuple(tuple(0 if c < 4 else 1 for c in range(8)) for _ in range(8))
    colours = tuple(tuple("green" if c < 4 else "yellow" for c in range(8)) for _ in range(8))
    return WorldSpec(Terrain(levels, colours, (Ramp(2, 3, "east"),), ()), (), (Spawn(2, 1, spawn_yaw),))


def plateau_world() -> WorldSpec:
    """8x8 at level 0 with a level-2 plateau on rows 2-5, cols 2-5; the player starts on the plateau."""
    levels = tuple(tuple(2 if 2 <= r <= 5 and 2 <= c <= 5 else 0 for c in range(8)) for r in range(8))
    colours = tuple(tuple("purple" if levels[r][c] else "white" for c in range(8)) for r in range(8))
    return WorldSpec(Terrain(levels, colours), (), (Spawn(3, 4, 0.0),))


def busy_world() -> WorldSpec:
    """12x10 with all three levels, ramps, hazards, every shape, fixed and movable objects, 4 players."""
    rows, cols = 12, 10
    lv = [[0] * cols for _ in range(rows)]
    for r in range(rows):
        for c in range(cols):
            if c >= 7:
                lv[r][c] = 2
            elif c >= 4:
                lv[r][c] = 1
    palette = ("red", "orange", "yellow", "green", "blue", "purple", "white", "grey")
    colours = tuple(tuple(palette[(r // 3 + c // 2) % 8] for c in range(cols)) for r in range(rows))
    ramps = (Ramp(1, 3, "east"), Ramp(6, 6, "east"), Ramp(10, 3, "east"))
    hazards = (Cell(4, 1), Cell(8, 5))
    objects = (
        ObjectSpec("sphere", "red", 2, 1),
        ObjectSpec("cube", "blue", 3, 2),
        ObjectSpec("cylinder", "green", 5, 5),
        ObjectSpec("pyramid", "yellow", 7, 8, movable=False),
        ObjectSpec("wedge", "orange", 9, 2),
        ObjectSpec("cube", "white", 0, 9, movable=False),
    )
    spawns = (Spawn(0, 0, 0.0), Spawn(11, 0, 1.0), Spawn(5, 8, 3.0), Spawn(3, 5, -1.5))
    return WorldSpec(Terrain(tuple(map(tuple, lv)), colours, ramps, hazards), objects, spawns)
