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

from worlds.tasks import walkability
from worlds.tasks.walkability import reachable_tiles  # noqa: F401  (re-exported: part of what a valid world is)

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
#: A colour's index (its position in ``COLOURS``): what observations, goal tokens and the model store.
COLOUR_INDEX: dict[str, int] = {name: i for i, name in enumerate(COLOURS)}

#: Ramp directions: the neighbour a ramp rises towards, as (d_row, d_col) (defined with the walkability rule).
DIRECTIONS = walkability.DIRECTIONS

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


# ---------------------------------------------------------------------------------------------------------
# JSON, ids and validation. What "reachable" means is ``worlds.tasks.walkability``'s rule.
# ---------------------------------------------------------------------------------------------------------

import itertools  # noqa: E402
import math  # noqa: E402

import numpy as np  # noqa: E402

from worlds.tasks.codec import SpecError, content_id, from_json, to_json  # noqa: E402

_LEVEL_SET = frozenset(range(NUM_LEVELS))
_COLOUR_SET = frozenset(COLOURS)
_SHAPE_SET = frozenset(SHAPES)
_DIRECTION_SET = frozenset(DIRECTIONS)


def world_to_json(spec: WorldSpec, indent: int | None = None) -> str:
    """Canonical JSON text of a world (compact, sorted keys; ``indent`` for a human-readable file)."""
    return to_json(spec, indent)


def world_from_json(text: str | bytes, path: str = "") -> WorldSpec:
    """Parse and validate a world. Every problem is a ``SpecError`` naming the field path and the bad value;
    ``path`` prefixes the paths (e.g. ``"world"`` when the world is part of a task file)."""
    try:
        spec = from_json(WorldSpec, text, path)
    except SpecError:
        raise
    except RecursionError:
        raise SpecError(path, "JSON nested too deeply") from None
    except (UnicodeDecodeError, TypeError) as err:
        raise SpecError(path, f"expected JSON text: {err}") from None
    validate_world(spec, path)
    return spec


def world_id(spec: WorldSpec) -> str:
    """Stable content hash of the world: the same world gives the same id on any machine and process."""
    return content_id(spec)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_int(value: object, path: str, what: str = "an integer") -> None:
    if type(value) is not int:
        raise SpecError(path, f"expected {what}, got {_show(value)}")


def _check_tuple(value: object, path: str) -> None:
    if type(value) is not tuple:
        raise SpecError(path, f"expected a tuple, got {_show(value)}")


def _check_instance(value: object, cls: type, path: str) -> None:
    if not isinstance(value, cls):
        article = "an" if cls.__name__[0] in "AEIOU" else "a"
        raise SpecError(path, f"expected {article} {cls.__name__}, got {_show(value)}")


def _check_choice(value: object, choices: frozenset, names: tuple[str, ...], path: str) -> None:
    if not (isinstance(value, str) and value in choices):
        raise SpecError(path, f"expected one of {names}, got {_show(value)}")


def _check_grid_table(table: object, path: str, rows: int | None, cols: int | None, item_type: type,
                      allowed: frozenset, expect: str) -> tuple[int, int]:
    """A rows x cols table (tuple of tuples) of ``item_type`` values drawn from ``allowed``."""
    _check_tuple(table, path)
    if rows is None:
        rows = len(table)
        if not MIN_GRID <= rows <= MAX_GRID:
            raise SpecError(path, f"expected {MIN_GRID}..{MAX_GRID} rows, got {rows}")
    elif len(table) != rows:
        raise SpecError(path, f"expected {rows} rows like terrain.levels, got {len(table)}")
    if cols is None:
        _check_tuple(table[0], f"{path}[0]")
        cols = len(table[0])
        if not MIN_GRID <= cols <= MAX_GRID:
            raise SpecError(f"{path}[0]", f"expected {MIN_GRID}..{MAX_GRID} columns, got {cols}")
    flat = itertools.chain.from_iterable
    if (set(map(type, table)) == {tuple} and set(map(len, table)) == {cols}
            and set(map(type, flat(table))) == {item_type} and set(flat(table)) <= allowed):
        return rows, cols
    for r, row in enumerate(table):  # slow path: find and name the first bad entry
        rpath = f"{path}[{r}]"
        _check_tuple(row, rpath)
        if len(row) != cols:
            raise SpecError(rpath, f"expected {cols} entries like row 0 (the grid must be rectangular), got {len(row)}")
        for c, v in enumerate(row):
            if type(v) is not item_type or v not in allowed:
                raise SpecError(f"{rpath}[{c}]", f"expected {expect}, got {_show(v)}")
    return rows, cols


def validate_world(spec: WorldSpec, path: str = "") -> None:
    """Check every invariant of a world; raise ``SpecError`` naming the field path and the bad value.

    Checks: types (also for specs built in Python), a rectangular grid of MIN_GRID..MAX_GRID tiles a side,
    levels 0..NUM_LEVELS-1, known colours and shapes, everything inside the grid, the ramp rule (see
    ``worlds.tasks.walkability``), at most MAX_RAMPS ramps, no duplicate ramps or hazards, at most
    MAX_OBJECTS objects and 1..MAX_PLAYERS spawns, at most one object or spawn per tile and none on a ramp or
    a hazard, finite yaws; and reachability from spawns[0]: every spawn and object, and at least one tile of
    every level present in the grid. (Tiles may be unreachable, e.g. decorative walls, as long as their level
    is reachable somewhere; ``generate_world`` guarantees more, see its docstring.)
    """
    p = f"{path}." if path else ""
    _check_instance(spec, WorldSpec, path)
    terrain = spec.terrain
    _check_instance(terrain, Terrain, f"{p}terrain")
    rows, cols = _check_grid_table(terrain.levels, f"{p}terrain.levels", None, None, int, _LEVEL_SET,
                                   f"a level in 0..{NUM_LEVELS - 1}")
    _check_grid_table(terrain.floor_colours, f"{p}terrain.floor_colours", rows, cols, str, _COLOUR_SET,
                      f"a colour in {tuple(COLOURS)}")
    levels = np.array(terrain.levels, dtype=np.int64)

    def inside(row: object, col: object, fpath: str) -> int:
        _check_int(row, f"{fpath}.row")
        _check_int(col, f"{fpath}.col")
        if not 0 <= row < rows:
            raise SpecError(f"{fpath}.row", f"expected a row in 0..{rows - 1} (grid is {rows}x{cols}), got {row}")
        if not 0 <= col < cols:
            raise SpecError(f"{fpath}.col", f"expected a col in 0..{cols - 1} (grid is {rows}x{cols}), got {col}")
        return row * cols + col

    # Ramps.
    ramps = terrain.ramps
    _check_tuple(ramps, f"{p}terrain.ramps")
    if len(ramps) > MAX_RAMPS:
        raise SpecError(f"{p}terrain.ramps", f"expected at most {MAX_RAMPS} ramps, got {len(ramps)}")
    ramp_at: dict[int, int] = {}
    for i, ramp in enumerate(ramps):
        rpath = f"{p}terrain.ramps[{i}]"
        _check_instance(ramp, Ramp, rpath)
        _check_choice(ramp.direction, _DIRECTION_SET, tuple(DIRECTIONS), f"{rpath}.direction")
        idx = inside(ramp.row, ramp.col, rpath)
        if idx in ramp_at:
            raise SpecError(rpath, f"two ramps on tile ({ramp.row}, {ramp.col}): ramps[{ramp_at[idx]}] and ramps[{i}]")
        ramp_at[idx] = i
    ramp_steps = []
    for i, ramp in enumerate(ramps):
        rpath = f"{p}terrain.ramps[{i}]"
        dr, dc = DIRECTIONS[ramp.direction]
        ramp_steps.append((ramp.row * cols + ramp.col, dr * cols + dc))
        r, c = ramp.row, ramp.col
        level = int(levels[r, c])
        for kind, (nr, nc), want in (("top", (r + dr, c + dc), level + 1), ("foot", (r - dr, c - dc), level)):
            where = f"{rpath} ({r}, {c}) rising {ramp.direction}"
            if not (0 <= nr < rows and 0 <= nc < cols):
                raise SpecError(rpath, f"{where}: its {kind} tile ({nr}, {nc}) is outside the {rows}x{cols} grid")
            if int(levels[nr, nc]) != want:
                raise SpecError(rpath, f"{where} from level {level}: its {kind} tile ({nr}, {nc}) is at level "
                                f"{int(levels[nr, nc])}, expected {want}")
            if nr * cols + nc in ramp_at:
                raise SpecError(rpath, f"{where}: its {kind} tile ({nr}, {nc}) is ramps[{ramp_at[nr * cols + nc]}]; "
                                "the foot and top of a ramp must be plain tiles")

    # Hazards.
    hazards = terrain.hazards
    _check_tuple(hazards, f"{p}terrain.hazards")
    hazard_at: dict[int, int] = {}
    for i, cell in enumerate(hazards):
        hpath = f"{p}terrain.hazards[{i}]"
        _check_instance(cell, Cell, hpath)
        idx = inside(cell.row, cell.col, hpath)
        if idx in hazard_at:
            raise SpecError(hpath, f"duplicate hazard ({cell.row}, {cell.col}), already hazards[{hazard_at[idx]}]")
        hazard_at[idx] = i

    # Objects and spawns.
    occupied: dict[int, str] = {}

    def place(idx: int, fpath: str, row: int, col: int) -> None:
        if idx in occupied:
            raise SpecError(fpath, f"tile ({row}, {col}) is already taken by {occupied[idx]}")
        if idx in ramp_at:
            raise SpecError(fpath, f"tile ({row}, {col}) is a ramp (terrain.ramps[{ramp_at[idx]}])")
        if idx in hazard_at:
            raise SpecError(fpath, f"tile ({row}, {col}) is a hazard (terrain.hazards[{hazard_at[idx]}])")
        occupied[idx] = fpath[len(p):]

    objects = spec.objects
    _check_tuple(objects, f"{p}objects")
    if len(objects) > MAX_OBJECTS:
        raise SpecError(f"{p}objects", f"expected at most {MAX_OBJECTS} objects, got {len(objects)}")
    spawns = spec.spawns
    _check_tuple(spawns, f"{p}spawns")
    if not 1 <= len(spawns) <= MAX_PLAYERS:
        raise SpecError(f"{p}spawns", f"expected 1..{MAX_PLAYERS} spawns, got {len(spawns)}")
    for i, spawn in enumerate(spawns):
        spath = f"{p}spawns[{i}]"
        _check_instance(spawn, Spawn, spath)
        yaw = spawn.yaw
        if type(yaw) is not float or not math.isfinite(yaw):
            raise SpecError(f"{spath}.yaw", f"expected a finite float, got {_show(yaw)}")
        place(inside(spawn.row, spawn.col, spath), spath, spawn.row, spawn.col)
    for i, obj in enumerate(objects):
        opath = f"{p}objects[{i}]"
        _check_instance(obj, ObjectSpec, opath)
        _check_choice(obj.shape, _SHAPE_SET, SHAPES, f"{opath}.shape")
        _check_choice(obj.colour, _COLOUR_SET, tuple(COLOURS), f"{opath}.colour")
        if type(obj.movable) is not bool:
            raise SpecError(f"{opath}.movable", f"expected true or false, got {_show(obj.movable)}")
        place(inside(obj.row, obj.col, opath), opath, obj.row, obj.col)

    # Reachability from spawns[0].
    level_bits = [walkability.bits(levels == k) for k in range(NUM_LEVELS)]
    ramp_bits = 0
    for idx in ramp_at:
        ramp_bits |= 1 << idx
    east, north = walkability.edges(level_bits, ramp_bits, ramp_steps, rows, cols)
    s0 = spawns[0]
    reach = walkability.flood(east, north, cols, 1 << (s0.row * cols + s0.col))
    start = f"from spawns[0] at ({s0.row}, {s0.col})"
    for i, spawn in enumerate(spawns[1:], 1):
        if not reach >> (spawn.row * cols + spawn.col) & 1:
            raise SpecError(f"{p}spawns[{i}]", f"spawn at ({spawn.row}, {spawn.col}) is not reachable {start}")
    for i, obj in enumerate(objects):
        if not reach >> (obj.row * cols + obj.col) & 1:
            raise SpecError(f"{p}objects[{i}]", f"{obj.colour} {obj.shape} at ({obj.row}, {obj.col}) is not reachable {start}")
    for k in range(NUM_LEVELS):
        if level_bits[k] and not level_bits[k] & reach:
            at_level = levels == k
            r, c = (int(v) for v in np.argwhere(at_level)[0])
            raise SpecError(f"{p}terrain.levels[{r}][{c}]",
                            f"level {k} is used ({int(at_level.sum())} tiles, first at ({r}, {c})) but none of its "
                            f"tiles is reachable {start}")
