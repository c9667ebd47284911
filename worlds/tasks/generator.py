"""Procedural world generator: ``generate_world(seed, config) -> WorldSpec``.

All randomness comes from ``np.random.default_rng(seed)``, consumed in a fixed order, so the same
(seed, config) gives the same world (and ``world_id``) on any machine and in any process (for a given numpy
version: numpy guarantees the PCG64 stream, not every sampling method forever).

Algorithm:

1. Grid size; level-1 plateaus (random rectangles), level-2 plateaus (rectangles inside a level-1 plateau,
   leaving a level-1 rim when the plateau is at least 3 tiles wide).
2. Connectivity repair from a start tile on the lowest level until *every tile* is reachable: place a ramp
   that joins the reachable region to an unreachable one (up onto a plateau or down into a pit), accepted
   only if it cuts nothing off; where no ramp fits (or MAX_RAMPS is reached), unreachable tiles next to the
   reachable region take the level of a reachable neighbour (flattening). Each step strictly grows the
   reachable region or bans a candidate, so it terminates.
3. A few extra ramps (alternative routes) that keep every tile reachable.
4. Hazards on plain tiles that are not a ramp's foot or top; then hazards are removed until the non-hazard
   tiles form one hazard-free connected region.
5. Spawns and objects on distinct non-hazard, non-ramp tiles (avoiding ramp feet and tops when possible);
   objects get distinct (shape, colour) pairs.
6. Floor colours from the per-level palette plus a few coloured rectangular patches.
7. ``validate_world`` on the result.

Guarantees of a generated world (beyond ``validate_world``): every tile is reachable from every tile
(hazards included); every non-hazard tile is reachable from every other one without stepping on a hazard;
no hazard on a ramp or on a ramp's foot or top; no object on a ramp's foot or top unless the grid is too
crowded; (shape, colour) is unique among objects. Fixed objects are obstacles that the reachability graph
does not model: they may narrow a corridor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from worlds.tasks.codec import SpecError
from worlds.tasks.spec import (
    COLOURS,
    DIRECTIONS,
    MAX_GRID,
    MAX_OBJECTS,
    MAX_PLAYERS,
    MAX_RAMPS,
    MIN_GRID,
    NUM_LEVELS,
    SHAPES,
    Cell,
    ObjectSpec,
    Ramp,
    Spawn,
    Terrain,
    WorldSpec,
    validate_world,
)
from worlds.tasks.walkability import col_mask, edges, flood, unbits

_INT_RANGES = ("rows", "cols", "plateaus", "high_plateaus", "plateau_size", "extra_ramps", "objects", "players",
               "patches", "patch_size")


@dataclass(frozen=True)
class WorldGenConfig:
    """Parameters of the world distribution. Every ``(lo, hi)`` range is inclusive and drawn uniformly;
    an int ``n`` may be given for a range and means ``(n, n)``."""

    rows: tuple[int, int] = (8, 12)
    """Grid rows (MIN_GRID..MAX_GRID)."""
    cols: tuple[int, int] = (8, 12)
    """Grid columns (MIN_GRID..MAX_GRID)."""
    levels: int = 3
    """Number of height levels used, 1..NUM_LEVELS: 1 = flat, 2 = level-1 plateaus, 3 = also level-2 ones."""
    plateaus: tuple[int, int] = (1, 3)
    """Number of level-1 plateau rectangles (they may overlap and merge)."""
    high_plateaus: tuple[int, int] = (0, 2)
    """Number of level-2 rectangles, each inside a level-1 plateau (only when ``levels == 3``)."""
    plateau_size: tuple[int, int] = (3, 6)
    """Side length in tiles of a level-1 plateau rectangle (clipped to the grid size minus 2)."""
    extra_ramps: tuple[int, int] = (0, 2)
    """Ramps added beyond those needed to make every tile reachable (alternative routes)."""
    hazard_fraction: tuple[float, float] = (0.0, 0.08)
    """Fraction of all tiles that are hazards (fewer if hazards would cut off part of the world)."""
    objects: tuple[int, int] = (3, 8)
    """Number of objects (0..MAX_OBJECTS, and at most len(shapes) * len(colours))."""
    shapes: tuple[str, ...] = SHAPES
    """Object shapes allowed."""
    colours: tuple[str, ...] = ("red", "orange", "yellow", "green", "blue", "purple", "white")
    """Object colours allowed."""
    movable_fraction: float = 0.75
    """Probability that an object is movable (the others are fixed)."""
    players: tuple[int, int] = (2, 2)
    """Number of players, i.e. spawns (1..MAX_PLAYERS). A batch of envs needs a fixed count: keep lo == hi."""
    level_colours: tuple[str, ...] = ("grey", "white", "blue")
    """Floor colour of each level (NUM_LEVELS entries)."""
    patches: tuple[int, int] = (0, 2)
    """Number of coloured floor patches (rectangles painted over the level colours)."""
    patch_size: tuple[int, int] = (1, 3)
    """Side length in tiles of a floor patch."""
    patch_colours: tuple[str, ...] = ("green", "orange", "purple")
    """Colours of floor patches."""

    def __post_init__(self) -> None:
        for name in _INT_RANGES:
            value = getattr(self, name)
            if type(value) is int:
                value = (value, value)
            if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(type(v) is int for v in value)
                    and 0 <= value[0] <= value[1]):
                raise SpecError(f"config.{name}", f"expected an int or a (lo, hi) pair with 0 <= lo <= hi, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        for name in ("shapes", "colours", "level_colours", "patch_colours"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        hf = tuple(self.hazard_fraction) if isinstance(self.hazard_fraction, (tuple, list)) else (self.hazard_fraction,) * 2
        if not (len(hf) == 2 and all(isinstance(v, (int, float)) and 0.0 <= v <= 0.5 for v in hf) and hf[0] <= hf[1]):
            raise SpecError("config.hazard_fraction", f"expected (lo, hi) with 0 <= lo <= hi <= 0.5, got {self.hazard_fraction!r}")
        object.__setattr__(self, "hazard_fraction", (float(hf[0]), float(hf[1])))
        for name in ("rows", "cols"):
            lo, hi = getattr(self, name)
            if not MIN_GRID <= lo <= hi <= MAX_GRID:
                raise SpecError(f"config.{name}", f"expected a range inside {MIN_GRID}..{MAX_GRID}, got {(lo, hi)}")
        if not 1 <= self.levels <= NUM_LEVELS:
            raise SpecError("config.levels", f"expected 1..{NUM_LEVELS}, got {self.levels!r}")
        if self.plateau_size[0] < 1 or self.patch_size[0] < 1:
            raise SpecError("config.plateau_size", "plateau and patch sides must be at least 1")
        if not 1 <= self.players[0] <= self.players[1] <= MAX_PLAYERS:
            raise SpecError("config.players", f"expected a range inside 1..{MAX_PLAYERS}, got {self.players}")
        for name in ("shapes",):
            bad = [s for s in self.shapes if s not in SHAPES]
            if bad or not self.shapes or len(set(self.shapes)) != len(self.shapes):
                raise SpecError("config.shapes", f"expected distinct shapes from {SHAPES}, got {self.shapes}")
        for name in ("colours", "level_colours", "patch_colours"):
            value = getattr(self, name)
            if any(c not in COLOURS for c in value) or len(set(value)) != len(value):
                raise SpecError(f"config.{name}", f"expected distinct colours from {tuple(COLOURS)}, got {value}")
        if len(self.level_colours) != NUM_LEVELS:
            raise SpecError("config.level_colours", f"expected {NUM_LEVELS} colours, got {self.level_colours}")
        if not self.colours:
            raise SpecError("config.colours", "expected at least one colour")
        if self.patches[1] > 0 and not self.patch_colours:
            raise SpecError("config.patch_colours", "patches need at least one colour")
        max_objects = min(MAX_OBJECTS, len(self.shapes) * len(self.colours))
        if self.objects[1] > max_objects:
            raise SpecError("config.objects", f"expected at most {max_objects} objects (MAX_OBJECTS and distinct "
                            f"shape-colour pairs), got {self.objects}")
        if not 0.0 <= self.movable_fraction <= 1.0:
            raise SpecError("config.movable_fraction", f"expected 0..1, got {self.movable_fraction!r}")


_DIRS = tuple(DIRECTIONS.items())  # fixed order: north, south, east, west


class _Stream:
    """Uniform draws from one ``np.random.Generator``, fetched in blocks (numpy calls cost microseconds each).

    The sequence of values only depends on the seed, so everything drawn from it is reproducible."""

    def __init__(self, rng: np.random.Generator, block: int = 128):
        self.rng = rng
        self.block = block
        self.buf: list[float] = []
        self.pos = 0

    def uniform(self) -> float:
        """A float in [0, 1)."""
        if self.pos == len(self.buf):
            self.buf = self.rng.random(self.block).tolist()
            self.pos = 0
        self.pos += 1
        return self.buf[self.pos - 1]

    def below(self, n: int) -> int:
        """An int in 0..n-1 (n >= 1)."""
        return min(int(self.uniform() * n), n - 1)

    def between(self, lo_hi: tuple[int, int]) -> int:
        """An int in the inclusive range (lo, hi)."""
        lo, hi = lo_hi
        return lo if lo == hi else lo + self.below(hi - lo + 1)

    def sample(self, items: list, k: int) -> list:
        """``k`` distinct items in random order (partial Fisher-Yates)."""
        items = list(items)
        for i in range(k):
            j = i + self.below(len(items) - i)
            items[i], items[j] = items[j], items[i]
        return items[:k]


class _Grid:
    """Mutable terrain state as int bitsets (bit i = tile (i // cols, i % cols))."""

    def __init__(self, rows: int, cols: int, level: list[int]):
        self.rows, self.cols = rows, cols
        self.n = rows * cols
        self.full = (1 << self.n) - 1
        self.level = level  # one bitset per level, disjoint, covering the grid
        self.ramps: list[tuple[int, int, int]] = []  # (tile, flat step towards the top, direction index)
        self.ramp_bits = 0
        self.role = 0  # feet and tops of ramps
        self.not_first = col_mask(rows, cols, 0)
        self.not_last = col_mask(rows, cols, cols - 1)
        self.inner_cols = self.not_first & self.not_last

    def plain(self) -> list[int]:
        return [lv & ~self.ramp_bits for lv in self.level]

    def edges(self) -> tuple[int, int]:
        """The walkability graph of the current terrain (``worlds.tasks.walkability.edges``)."""
        return edges(self.level, self.ramp_bits, [(t, s) for t, s, _ in self.ramps], self.rows, self.cols)

    def reach(self, start: int, allowed: int = -1) -> int:
        east, north = self.edges()
        return flood(east, north, self.cols, start, allowed)

    def neighbours(self, bits: int) -> int:
        """Tiles 4-adjacent to ``bits`` (geometrically, ignoring levels)."""
        c = self.cols
        return (((bits << 1) & self.not_first) | ((bits >> 1) & self.not_last) | (bits << c) | (bits >> c)) & self.full

    def candidates(self, reach: int | None, banned: list[int]) -> list[int]:
        """Per direction, bitset of tiles where a ramp fits. With ``reach``, only ramps that join the reachable
        region to an unreachable one; without, any valid ramp."""
        c = self.cols
        plain = self.plain()
        free = ~(self.role | self.ramp_bits) & self.full
        out = []
        for d, (_, (dr, dc)) in enumerate(_DIRS):
            bits = 0
            for level in range(NUM_LEVELS - 1):
                a, b = plain[level], plain[level + 1]
                if not a or not b:
                    continue
                if dc == 1:  # foot i-1, top i+1
                    base = a & (a << 1) & (b >> 1) & self.inner_cols
                    foot_r, top_r = (reach << 1, reach >> 1) if reach is not None else (0, 0)
                elif dc == -1:  # foot i+1, top i-1
                    base = a & (a >> 1) & (b << 1) & self.inner_cols
                    foot_r, top_r = (reach >> 1, reach << 1) if reach is not None else (0, 0)
                elif dr == 1:  # foot i-c, top i+c
                    base = a & (a << c) & (b >> c)
                    foot_r, top_r = (reach << c, reach >> c) if reach is not None else (0, 0)
                else:  # foot i+c, top i-c
                    base = a & (a >> c) & (b << c)
                    foot_r, top_r = (reach >> c, reach << c) if reach is not None else (0, 0)
                if reach is not None:
                    base &= (foot_r & ~top_r) | (top_r & ~reach)  # up onto / down into unreachable tiles
                bits |= base
            out.append(bits & free & ~banned[d])
        return out

    def add_ramp(self, tile: int, d: int) -> None:
        dr, dc = _DIRS[d][1]
        step = dr * self.cols + dc
        self.ramps.append((tile, step, d))
        self.ramp_bits |= 1 << tile
        self.role |= (1 << (tile - step)) | (1 << (tile + step))

    def pop_ramp(self) -> None:
        self.ramps.pop()
        self._recompute_ramp_bits()

    def _recompute_ramp_bits(self) -> None:
        self.ramp_bits = self.role = 0
        for t, s, _ in self.ramps:
            self.ramp_bits |= 1 << t
            self.role |= (1 << (t - s)) | (1 << (t + s))

    def set_level(self, bits: int, level: int) -> None:
        """Move tiles ``bits`` to ``level`` and drop the ramps they belong to."""
        for k in range(NUM_LEVELS):
            self.level[k] &= ~bits
        self.level[level] |= bits
        kept = [(t, s, d) for t, s, d in self.ramps if not (((1 << t) | (1 << (t - s)) | (1 << (t + s))) & bits)]
        if len(kept) != len(self.ramps):
            self.ramps = kept
            self._recompute_ramp_bits()

    def levels_list(self) -> list[list[int]]:
        out = np.zeros((self.rows, self.cols), dtype=np.int64)
        for k in range(1, NUM_LEVELS):
            if self.level[k]:
                out += k * unbits(self.level[k], self.rows, self.cols)
        return out.tolist()


def _set_bits(bits: int) -> list[int]:
    """Indices of the set bits, ascending."""
    out = []
    while bits:
        low = bits & -bits
        out.append(low.bit_length() - 1)
        bits ^= low
    return out


def _pick(stream: _Stream, per_dir: list[int]) -> tuple[int, int] | None:
    """A uniformly random (tile, direction) among the set bits of the per-direction bitsets."""
    counts = [b.bit_count() for b in per_dir]
    total = sum(counts)
    if not total:
        return None
    k = stream.below(total)
    for d, n in enumerate(counts):
        if k < n:
            return _set_bits(per_dir[d])[k], d
        k -= n
    raise AssertionError("unreachable")


def _rect(stream: _Stream, size: tuple[int, int], rows: int, cols: int) -> tuple[int, int, int, int]:
    """A random rectangle (r0, c0, h, w) with sides in ``size``, clipped to the grid minus 2."""
    h = min(stream.between(size), max(1, rows - 2))
    w = min(stream.between(size), max(1, cols - 2))
    return stream.below(rows - h + 1), stream.below(cols - w + 1), h, w


def _rect_bits(r0: int, c0: int, h: int, w: int, cols: int) -> int:
    row = ((1 << w) - 1) << c0
    bits = 0
    for r in range(r0, r0 + h):
        bits |= row << (r * cols)
    return bits


def _terrain_levels(stream: _Stream, config: WorldGenConfig, rows: int, cols: int) -> list[int]:
    """Level bitsets (one per level) of the raw plateau terrain."""
    full = (1 << (rows * cols)) - 1
    one = two = 0
    if config.levels >= 2:
        plateaus = [_rect(stream, config.plateau_size, rows, cols) for _ in range(stream.between(config.plateaus))]
        for r0, c0, h, w in plateaus:
            one |= _rect_bits(r0, c0, h, w, cols)
        if config.levels >= 3 and plateaus:
            for _ in range(stream.between(config.high_plateaus)):
                r0, c0, h, w = plateaus[stream.below(len(plateaus))]
                # Inside the plateau, leaving a rim of 1 where the plateau is wide enough.
                mr, mc = (1 if h >= 3 else 0), (1 if w >= 3 else 0)
                ih, iw = h - 2 * mr, w - 2 * mc
                hh, ww = 1 + stream.below(ih), 1 + stream.below(iw)
                two |= _rect_bits(r0 + mr + stream.below(ih - hh + 1), c0 + mc + stream.below(iw - ww + 1), hh, ww, cols)
    one &= ~two
    return [full & ~(one | two), one, two]


def _connect(stream: _Stream, grid: _Grid, start: int) -> None:
    """Make every tile reachable from ``start`` (see the module docstring, step 2)."""
    banned = [0, 0, 0, 0]
    reach = grid.reach(start)
    while reach != grid.full:
        choice = _pick(stream, grid.candidates(reach, banned)) if len(grid.ramps) < MAX_RAMPS else None
        if choice is not None:
            tile, d = choice
            grid.add_ramp(tile, d)
            grown = grid.reach(start)
            if reach & ~grown:  # the ramp cut something off: undo and never try it again
                grid.pop_ramp()
                banned[d] |= 1 << tile
            else:
                reach = grown
            continue
        # Flatten: unreachable tiles next to reachable plain tiles take that neighbour's level.
        reach_plain = reach & ~grid.ramp_bits
        done = 0
        for level in range(NUM_LEVELS):
            adjacent = grid.neighbours(reach_plain & grid.level[level]) & ~reach & ~done
            if adjacent:
                grid.set_level(adjacent, level)
                done |= adjacent
        if not done:  # cannot happen on a connected grid, but never loop forever: flatten everything
            grid.set_level(grid.full, 0)
        reach = grid.reach(start)


def _extra_ramps(stream: _Stream, grid: _Grid, start: int, count: int) -> None:
    banned = [0, 0, 0, 0]
    for _ in range(count):
        if len(grid.ramps) >= MAX_RAMPS:
            return
        choice = _pick(stream, grid.candidates(None, banned))
        if choice is None:
            return
        tile, d = choice
        grid.add_ramp(tile, d)
        if grid.reach(start) != grid.full:
            grid.pop_ramp()
            banned[d] |= 1 << tile


def _hazards(stream: _Stream, grid: _Grid, fraction: float) -> int:
    """Hazard bitset: on plain tiles off ramp feet/tops, never cutting the non-hazard tiles apart."""
    want = int(round(fraction * grid.n))
    if want == 0:
        return 0
    cand = _set_bits(grid.full & ~grid.ramp_bits & ~grid.role)
    want = min(want, len(cand) - 1)
    if want <= 0:
        return 0
    hazards = 0
    for i in stream.sample(cand, want):
        hazards |= 1 << i
    east, north = grid.edges()
    while hazards:
        safe_tiles = grid.full & ~hazards
        cut = safe_tiles & ~flood(east, north, grid.cols, safe_tiles & -safe_tiles, safe_tiles)
        if not cut:
            break
        hazards &= ~grid.neighbours(cut)
    return hazards


def generate_world(seed: int, config: WorldGenConfig = WorldGenConfig()) -> WorldSpec:
    """A random valid world from ``seed`` (see the module docstring for the algorithm and the guarantees)."""
    stream = _Stream(np.random.default_rng(seed))
    rows, cols = stream.between(config.rows), stream.between(config.cols)
    grid = _Grid(rows, cols, _terrain_levels(stream, config, rows, cols))
    lowest = next(bits for bits in grid.level if bits)
    start = 1 << _set_bits(lowest)[stream.below(lowest.bit_count())]
    _connect(stream, grid, start)
    _extra_ramps(stream, grid, start, stream.between(config.extra_ramps))

    lo, hi = config.hazard_fraction
    hazards = _hazards(stream, grid, lo + (hi - lo) * stream.uniform())

    # Spawns and objects.
    n_players = stream.between(config.players)
    n_objects = stream.between(config.objects)
    need = n_players + n_objects
    plain_safe = grid.full & ~grid.ramp_bits & ~hazards
    pool = plain_safe & ~grid.role
    if pool.bit_count() < need:
        pool = plain_safe
    if pool.bit_count() < need:  # only on absurdly crowded configs: drop the hazards
        hazards = 0
        pool = grid.full & ~grid.ramp_bits
    tiles = stream.sample(_set_bits(pool), need)
    spawns = tuple(Spawn(t // cols, t % cols, 2.0 * math.pi * stream.uniform()) for t in tiles[:n_players])
    n_col = len(config.colours)
    pairs = stream.sample(range(len(config.shapes) * n_col), n_objects)
    objects = tuple(
        ObjectSpec(config.shapes[p // n_col], config.colours[p % n_col], t // cols, t % cols,
                   stream.uniform() < config.movable_fraction)
        for p, t in zip(pairs, tiles[n_players:])
    )

    # Floor colours: per level, then rectangular patches.
    levels = grid.levels_list()
    palette = config.level_colours
    floor = [[palette[v] for v in row] for row in levels]
    for _ in range(stream.between(config.patches)):
        r0, c0, h, w = _rect(stream, config.patch_size, rows, cols)
        colour = config.patch_colours[stream.below(len(config.patch_colours))]
        for r in range(r0, r0 + h):
            floor[r][c0:c0 + w] = [colour] * w

    terrain = Terrain(
        levels=tuple(map(tuple, levels)),
        floor_colours=tuple(map(tuple, floor)),
        ramps=tuple(Ramp(t // cols, t % cols, _DIRS[d][0]) for t, _, d in grid.ramps),
        hazards=tuple(Cell(i // cols, i % cols) for i in _set_bits(hazards)),
    )
    spec = WorldSpec(terrain=terrain, objects=objects, spawns=spawns)
    validate_world(spec)
    return spec


__all__ = ["WorldGenConfig", "generate_world"]
