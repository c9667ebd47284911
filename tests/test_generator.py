"""Property tests of generate_world over thousands of seeds, with an independent reachability check."""

from __future__ import annotations

from collections import deque

import pytest

from worlds.tasks.codec import SpecError
from worlds.tasks.generator import WorldGenConfig, generate_world
from worlds.tasks.spec import (
    COLOURS,
    DIRECTIONS,
    MAX_GRID,
    MAX_OBJECTS,
    MAX_RAMPS,
    MIN_GRID,
    SHAPES,
    WorldSpec,
    world_id,
    world_to_json,
)


def bfs(world: WorldSpec, start: tuple[int, int], avoid_hazards: bool = False) -> set[tuple[int, int]]:
    """Reachable tiles by a plain BFS written from the rule in worlds/tasks/spec.py, independently of it:
    same-level plain neighbours connect; a ramp connects only to its foot (same level, behind it) and its top
    (one level up, in its direction)."""
    t = world.terrain
    rows, cols = len(t.levels), len(t.levels[0])
    ramps = {(r.row, r.col): DIRECTIONS[r.direction] for r in t.ramps}
    hazards = {(h.row, h.col) for h in t.hazards} if avoid_hazards else set()

    def neighbours(cell):
        r, c = cell
        if cell in ramps:
            dr, dc = ramps[cell]
            yield (r + dr, c + dc)
            yield (r - dr, c - dc)
            return
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            n = (r + dr, c + dc)
            if not (0 <= n[0] < rows and 0 <= n[1] < cols):
                continue
            if n in ramps:
                rdr, rdc = ramps[n]
                # n is a ramp: we may enter it from its foot (we are behind it) or its top (we are ahead of it).
                if (r, c) in ((n[0] - rdr, n[1] - rdc), (n[0] + rdr, n[1] + rdc)):
                    yield n
            elif t.levels[n[0]][n[1]] == t.levels[r][c]:
                yield n

    seen = {start}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        for n in neighbours(cell):
            if n not in seen and n not in hazards:
                seen.add(n)
                queue.append(n)
    return seen


def check_world(world: WorldSpec, config: WorldGenConfig) -> None:
    t = world.terrain
    rows, cols = len(t.levels), len(t.levels[0])
    assert config.rows[0] <= rows <= config.rows[1] and config.cols[0] <= cols <= config.cols[1]
    assert all(len(row) == cols for row in t.levels) and len(t.floor_colours) == rows
    assert all(c in COLOURS for row in t.floor_colours for c in row)
    levels_used = {v for row in t.levels for v in row}
    assert max(levels_used) < config.levels
    assert len(t.ramps) <= MAX_RAMPS
    ramp_tiles = {(r.row, r.col) for r in t.ramps}
    hazard_tiles = {(h.row, h.col) for h in t.hazards}
    assert len(ramp_tiles) == len(t.ramps) and len(hazard_tiles) == len(t.hazards)
    for ramp in t.ramps:  # the ramp rule, checked here directly
        dr, dc = DIRECTIONS[ramp.direction]
        top, foot = (ramp.row + dr, ramp.col + dc), (ramp.row - dr, ramp.col - dc)
        assert 0 <= top[0] < rows and 0 <= top[1] < cols and 0 <= foot[0] < rows and 0 <= foot[1] < cols
        assert t.levels[top[0]][top[1]] == t.levels[ramp.row][ramp.col] + 1
        assert t.levels[foot[0]][foot[1]] == t.levels[ramp.row][ramp.col]
        assert top not in ramp_tiles and foot not in ramp_tiles
        assert top not in hazard_tiles and foot not in hazard_tiles  # generator guarantee
    assert not ramp_tiles & hazard_tiles

    spawn_tiles = [(s.row, s.col) for s in world.spawns]
    object_tiles = [(o.row, o.col) for o in world.objects]
    assert config.players[0] <= len(spawn_tiles) <= config.players[1]
    assert config.objects[0] <= len(object_tiles) <= config.objects[1]
    occupied = spawn_tiles + object_tiles
    assert len(set(occupied)) == len(occupied), "overlap"
    assert not set(occupied) & (ramp_tiles | hazard_tiles), "on a ramp or hazard"
    pairs = [(o.shape, o.colour) for o in world.objects]
    assert len(set(pairs)) == len(pairs)
    assert all(o.shape in config.shapes and o.colour in config.colours for o in world.objects)

    every = {(r, c) for r in range(rows) for c in range(cols)}
    assert bfs(world, spawn_tiles[0]) == every, "not every tile is reachable"
    safe = bfs(world, spawn_tiles[0], avoid_hazards=True)
    assert safe == every - hazard_tiles, "hazards cut the world apart"
    assert set(occupied) <= safe


def test_default_config_many_seeds():
    config = WorldGenConfig()
    levels_seen, hazard_worlds, ramps_total = set(), 0, 0
    for seed in range(3000):
        world = generate_world(seed, config)
        check_world(world, config)
        levels_seen |= {v for row in world.terrain.levels for v in row}
        hazard_worlds += bool(world.terrain.hazards)
        ramps_total += len(world.terrain.ramps)
    # The distribution is not degenerate.
    assert levels_seen == {0, 1, 2}
    assert hazard_worlds > 1500 and ramps_total > 3000


def test_deterministic():
    for seed in (0, 1, 7, 2**31, 2**63 - 1, 12345678901234567890):
        a, b = generate_world(seed), generate_world(seed)
        assert a == b and world_to_json(a) == world_to_json(b) and world_id(a) == world_id(b)
    assert generate_world(3) != generate_world(4)


@pytest.mark.parametrize(
    "config",
    [
        WorldGenConfig(rows=MIN_GRID, cols=MIN_GRID),
        WorldGenConfig(rows=MAX_GRID, cols=MAX_GRID, plateaus=(4, 8), high_plateaus=(2, 4), plateau_size=(2, 9)),
        WorldGenConfig(rows=MIN_GRID, cols=MAX_GRID, players=1, objects=0),
        WorldGenConfig(rows=MIN_GRID, cols=MIN_GRID, players=4, objects=MAX_OBJECTS, hazard_fraction=0.3),
        WorldGenConfig(players=4, objects=MAX_OBJECTS, extra_ramps=30, hazard_fraction=(0.2, 0.5)),
        WorldGenConfig(rows=MIN_GRID, cols=MIN_GRID, plateaus=(6, 10), plateau_size=(1, 8), high_plateaus=(3, 6),
                       extra_ramps=30, players=4, objects=MAX_OBJECTS),
        WorldGenConfig(levels=1, hazard_fraction=0.0, patches=(3, 5)),
        WorldGenConfig(levels=2, movable_fraction=0.0),
        WorldGenConfig(shapes=("sphere",), colours=("red", "blue"), objects=2, movable_fraction=1.0),
    ],
    ids=["8x8", "16x16-busy", "1-player", "4-players-max-objects-8x8", "max-everything", "crowded-8x8", "flat",
         "two-levels", "two-pairs"],
)
def test_config_extremes(config):
    movable = []
    for seed in range(150):
        world = generate_world(seed, config)
        check_world(world, config)
        movable += [o.movable for o in world.objects]
    if config.objects[1] == 0:
        assert movable == []
        return
    # every object of every world: all movable or all fixed at the extremes, the configured share otherwise
    # (~800 objects: the share's standard error is ~0.015)
    if config.movable_fraction in (0.0, 1.0):
        assert all(m == (config.movable_fraction == 1.0) for m in movable)
    else:
        share = sum(movable) / len(movable)
        assert abs(share - config.movable_fraction) < 0.06, share


def test_flat_config_is_flat():
    world = generate_world(5, WorldGenConfig(levels=1))
    assert {v for row in world.terrain.levels for v in row} == {0} and world.terrain.ramps == ()


@pytest.mark.parametrize(
    "kwargs, path",
    [
        (dict(rows=(4, 8)), "config.rows"),
        (dict(cols=(12, 17)), "config.cols"),
        (dict(rows=(10, 9)), "config.rows"),
        (dict(players=0), "config.players"),
        (dict(players=(2, 5)), "config.players"),
        (dict(objects=MAX_OBJECTS + 1), "config.objects"),
        (dict(shapes=("sphere",), colours=("red",), objects=2), "config.objects"),
        (dict(shapes=("blob",)), "config.shapes"),
        (dict(colours=("teal",)), "config.colours"),
        (dict(level_colours=("grey", "white")), "config.level_colours"),
        (dict(levels=4), "config.levels"),
        (dict(hazard_fraction=0.9), "config.hazard_fraction"),
        (dict(movable_fraction=1.5), "config.movable_fraction"),
    ],
)
def test_config_errors(kwargs, path):
    with pytest.raises(SpecError) as info:
        WorldGenConfig(**kwargs)
    assert info.value.path == path


def test_int_ranges_normalised():
    config = WorldGenConfig(rows=9, players=3)
    assert config.rows == (9, 9) and config.players == (3, 3)
    assert config == WorldGenConfig(rows=(9, 9), players=(3, 3))
    assert len(SHAPES) * len(config.colours) >= MAX_OBJECTS
