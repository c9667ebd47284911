"""The walkability rule: which tiles of a terrain join, defined once for validation, the generator and the experts.

The rule (what "reachable" means everywhere in openland):

* Tiles are nodes; the graph is undirected (anything reachable can also be walked back from).
* Two 4-neighbouring tiles that are both plain (not ramps) and at the same level are joined.
* A ramp on tile t at level L rising towards direction d has its *top* neighbour t+d, which must be a plain
  tile at level L+1, and its *foot* neighbour t-d, which must be a plain tile at level L. The ramp tile is
  joined to its foot and to its top and to nothing else: its two side neighbours do not join it (this is
  conservative: the real slope may be enterable from the side, never the other way round). So the foot and
  the top of a ramp cannot be ramps themselves (no ramp chains). A ramp that breaks this joins nothing.
* Nothing else joins: no climbing or jumping up a level, no dropping down a cliff (both may be physically
  possible, but are never needed to reach anything).
* Hazard tiles are walkable (they only hurt the safety cost); ``avoid_hazards=True`` computes the hazard-free
  region instead. Objects and spawns never sit on hazards or ramps.

Representation: a rows x cols grid is a Python int used as a bitset (bit ``row * cols + col`` is the tile), and
the graph is two edge bitsets, ``east`` (bit i: tile i joins tile i+1) and ``north`` (bit i: tile i joins tile
i+cols). A flood fill over them costs a few big-int operations per step however large the grid, which is what
lets validation and the generator (which re-floods after every ramp it tries) stay fast in pure Python.
``WalkGraph`` unpacks the same edges into a per-tile neighbour table for path planning.

Pure Python and numpy, no ``worlds`` import beyond the codec's error type: ``worlds.tasks.spec`` builds on it.
"""

from __future__ import annotations

import functools
from typing import Iterable, Protocol

import numpy as np

from worlds.tasks.codec import SpecError

#: Ramp directions: the neighbour a ramp rises towards, as (d_row, d_col). Also the order of ``WalkGraph.conn``'s
#: last axis.
DIRECTIONS: dict[str, tuple[int, int]] = {"north": (1, 0), "south": (-1, 0), "east": (0, 1), "west": (0, -1)}
STEPS: tuple[tuple[int, int], ...] = tuple(DIRECTIONS.values())


class _Tile(Protocol):
    row: int
    col: int


class _Ramp(Protocol):
    row: int
    col: int
    direction: str


class _Terrain(Protocol):
    levels: tuple[tuple[int, ...], ...]
    ramps: tuple[_Ramp, ...]
    hazards: tuple[_Tile, ...]


def bits(mask: np.ndarray) -> int:
    """A boolean array as an int bitset (bit i = flat index i)."""
    return int.from_bytes(np.packbits(mask, axis=None, bitorder="little").tobytes(), "little")


def unbits(value: int, rows: int, cols: int) -> np.ndarray:
    """An int bitset as a rows x cols boolean array."""
    n = rows * cols
    raw = np.frombuffer(value.to_bytes((n + 7) // 8, "little"), dtype=np.uint8)
    return np.unpackbits(raw, count=n, bitorder="little").view(bool).reshape(rows, cols)


@functools.lru_cache(maxsize=None)
def col_mask(rows: int, cols: int, skip_col: int) -> int:
    """Bitset of all tiles except those in column ``skip_col``."""
    full = (1 << (rows * cols)) - 1
    col = 0
    for r in range(rows):
        col |= 1 << (r * cols + skip_col)
    return full & ~col


def edges(level_bits: Iterable[int], ramp_bits: int, ramp_steps: Iterable[tuple[int, int]], rows: int,
          cols: int) -> tuple[int, int]:
    """The walkability graph as (east, north) edge bitsets.

    ``level_bits``: one bitset per level (the tiles at that level); ``ramp_bits``: every ramp tile (none of them
    is plain); ``ramp_steps``: the ramps that obey the ramp rule, as (flat index, flat step towards the top).
    """
    east = north = 0
    for level in level_bits:
        p = level & ~ramp_bits
        east |= p & (p >> 1)
        north |= p & (p >> cols)
    east &= col_mask(rows, cols, cols - 1)
    for t, step in ramp_steps:
        a = t - step if step > 0 else t  # foot-ramp edge, lower index first
        c = t if step > 0 else t + step  # ramp-top edge
        if abs(step) == 1:
            east |= (1 << a) | (1 << c)
        else:
            north |= (1 << a) | (1 << c)
    return east, north


def flood(east: int, north: int, cols: int, start: int, allowed: int = -1) -> int:
    """Flood fill over the edge bitsets from the ``start`` bitset, staying inside ``allowed``."""
    reach = start & allowed
    while True:
        grown = (reach | ((reach & east) << 1) | ((reach >> 1) & east) | ((reach & north) << cols)
                 | ((reach >> cols) & north)) & allowed
        if grown == reach:
            return reach
        reach = grown


def valid_ramps(levels: np.ndarray, ramps: Iterable[_Ramp]) -> list[tuple[int, int]]:
    """The ramps that obey the ramp rule, as (flat index, flat step towards the top); the others are dropped."""
    rows, cols = levels.shape
    ramps = tuple(ramps)
    tiles = {(r.row, r.col) for r in ramps}
    out = []
    for ramp in ramps:
        dr, dc = DIRECTIONS.get(ramp.direction, (0, 0))
        r, c = ramp.row, ramp.col
        if (dr, dc) == (0, 0) or not (0 <= r - dr < rows and 0 <= r + dr < rows and 0 <= c - dc < cols
                                      and 0 <= c + dc < cols and 0 <= r < rows and 0 <= c < cols):
            continue
        level = levels[r, c]
        if (levels[r - dr, c - dc] != level or levels[r + dr, c + dc] != level + 1
                or (r - dr, c - dc) in tiles or (r + dr, c + dc) in tiles):
            continue
        out.append((r * cols + c, dr * cols + dc))
    return out


class WalkGraph:
    """The walkability graph of one terrain: edge bitsets, and ``conn`` [rows, cols, 4] bool (tile joined to
    its neighbour ``STEPS[d]``) for planners that walk it tile by tile."""

    def __init__(self, terrain: _Terrain):
        levels = np.asarray(terrain.levels, dtype=np.int64)
        self.rows, self.cols = rows, cols = levels.shape
        self.levels = levels
        self.ramp = np.zeros((rows, cols), dtype=bool)
        for ramp in terrain.ramps:
            if 0 <= ramp.row < rows and 0 <= ramp.col < cols:
                self.ramp[ramp.row, ramp.col] = True
        self.hazard = np.zeros((rows, cols), dtype=bool)
        for h in terrain.hazards:
            if 0 <= h.row < rows and 0 <= h.col < cols:
                self.hazard[h.row, h.col] = True
        level_bits = [bits(levels == k) for k in np.unique(levels).tolist()]
        self.east, self.north = edges(level_bits, bits(self.ramp), valid_ramps(levels, terrain.ramps), rows, cols)

    def reach(self, start: int, allowed: int = -1) -> int:
        """Bitset of the tiles reachable from the ``start`` bitset inside ``allowed``."""
        return flood(self.east, self.north, self.cols, start, allowed)

    @functools.cached_property
    def conn(self) -> np.ndarray:
        """[rows, cols, 4] bool: tile (r, c) is joined to (r + dr, c + dc) for (dr, dc) = ``STEPS[d]``."""
        rows, cols = self.rows, self.cols
        east, north = unbits(self.east, rows, cols), unbits(self.north, rows, cols)
        conn = np.zeros((rows, cols, 4), dtype=bool)
        conn[..., STEPS.index((1, 0))] = north
        conn[1:, :, STEPS.index((-1, 0))] = north[:-1]
        conn[..., STEPS.index((0, 1))] = east
        conn[:, 1:, STEPS.index((0, -1))] = east[:, :-1]
        return conn


def reachable_tiles(terrain: _Terrain, start: _Tile | tuple[int, int], *, avoid_hazards: bool = False) -> np.ndarray:
    """Boolean ``rows x cols`` array of the tiles reachable from ``start`` under the walkability rule above.

    Ramps that break the ramp rule join nothing. With ``avoid_hazards`` hazard tiles are impassable (and the
    result is all False when ``start`` itself is a hazard). The terrain's grid must be rectangular.
    """
    graph = WalkGraph(terrain)
    rows, cols = graph.rows, graph.cols
    r, c = (start.row, start.col) if hasattr(start, "row") else start
    if not (0 <= r < rows and 0 <= c < cols):
        raise SpecError("start", f"({r}, {c}) is outside the {rows}x{cols} grid")
    allowed = ~bits(graph.hazard) if avoid_hazards else -1
    return unbits(graph.reach(1 << (r * cols + c), allowed), rows, cols)
