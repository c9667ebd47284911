"""World specifications: frozen dataclasses that describe a world independently of the simulator.

A world is a grid of floor tiles. Each tile has a height level (0, 1 or 2) and a floor colour; a ramp tile
joins its own level to the next level up in one direction. Hazard tiles are a property of the world that the
agents are never told (the safety module reads them). Objects and player spawns sit on tile centres, one per
tile, on top of the tile's floor. Physical sizes (metres per tile, metres per level) belong to the compiler.

Grid convention: ``row`` grows along +y, ``col`` grows along +x; tile (row, col) has its centre at
``((col + 0.5) * tile_size, (row + 0.5) * tile_size)`` in world coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Object shapes. ``wedge`` is a half-box slope, ``pyramid`` a square pyramid.
SHAPES: tuple[str, ...] = ("sphere", "cube", "cylinder", "pyramid", "wedge")

#: Colours of objects and floors, name -> RGBA in [0, 1]. The order is stable: it is the colour's index in
#: observations.
COLOURS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.15, 0.15, 1.0),
    "orange": (0.95, 0.55, 0.10, 1.0),
    "yellow": (0.95, 0.85, 0.15, 1.0),
    "green": (0.20, 0.70, 0.25, 1.0),
    "blue": (0.15, 0.35, 0.90, 1.0),
    "purple": (0.55, 0.20, 0.75, 1.0),
    "white": (0.92, 0.92, 0.92, 1.0),
    "grey": (0.50, 0.50, 0.50, 1.0),
}

#: Ramp directions: the neighbour a ramp rises towards, as (d_row, d_col).
DIRECTIONS: dict[str, tuple[int, int]] = {"north": (1, 0), "south": (-1, 0), "east": (0, 1), "west": (0, -1)}

MIN_GRID = 8
MAX_GRID = 16
NUM_LEVELS = 3
MAX_PLAYERS = 4
MAX_OBJECTS = 12
MAX_RAMPS = 24

Shape = Literal["sphere", "cube", "cylinder", "pyramid", "wedge"]
Direction = Literal["north", "south", "east", "west"]


@dataclass(frozen=True)
class Cell:
    """A tile position on the grid."""

    row: int
    col: int


@dataclass(frozen=True)
class Ramp:
    """A ramp on tile (row, col): its foot is at the tile's own level, its top meets the neighbour in
    ``direction``, which is exactly one level higher."""

    row: int
    col: int
    direction: Direction


@dataclass(frozen=True)
class Terrain:
    """The floor: per-tile height levels and floor colours (both ``rows`` tuples of ``cols`` entries), ramps
    between levels, and hazard tiles."""

    levels: tuple[tuple[int, ...], ...]
    floor_colours: tuple[tuple[str, ...], ...]
    ramps: tuple[Ramp, ...] = ()
    hazards: tuple[Cell, ...] = ()

    @property
    def rows(self) -> int:
        return len(self.levels)

    @property
    def cols(self) -> int:
        return len(self.levels[0]) if self.levels else 0


@dataclass(frozen=True)
class ObjectSpec:
    """An object on the centre of tile (row, col). A fixed object is welded to the world; a movable one is a
    free body that players can push, grab and carry."""

    shape: Shape
    colour: str
    row: int
    col: int
    movable: bool = True


@dataclass(frozen=True)
class Spawn:
    """A player's start: tile (row, col), facing ``yaw`` radians (0 faces +x, counter-clockwise)."""

    row: int
    col: int
    yaw: float = 0.0


@dataclass(frozen=True)
class WorldSpec:
    """A whole world: terrain, objects and one spawn per player (1 to 4)."""

    terrain: Terrain
    objects: tuple[ObjectSpec, ...]
    spawns: tuple[Spawn, ...]
