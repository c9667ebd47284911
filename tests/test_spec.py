"""WorldSpec JSON round trip, content ids, validation errors and a decoding fuzz test."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worlds.tasks.codec import SpecError
from worlds.tasks.generator import generate_world
from worlds.tasks.walkability import STEPS, WalkGraph
from worlds.tasks.spec import (
    MAX_OBJECTS,
    MAX_PLAYERS,
    MAX_RAMPS,
    Cell,
    ObjectSpec,
    Ramp,
    Spawn,
    Terrain,
    WorldSpec,
    reachable_tiles,
    validate_world,
    world_from_json,
    world_id,
    world_to_json,
)

REPO = Path(__file__).resolve().parents[1]


def flat_world(rows: int = 8, cols: int = 8) -> WorldSpec:
    """A flat grey world with one spawn and one object."""
    return WorldSpec(
        terrain=Terrain(levels=((0,) * cols,) * rows, floor_colours=(("grey",) * cols,) * rows),
        objects=(ObjectSpec("sphere", "yellow", 2, 3),),
        spawns=(Spawn(0, 0, 0.5),),
    )


def plateau_world(with_ramp: bool = True) -> WorldSpec:
    """8x8: a level-1 plateau on rows 4..7, cols 4..7 with a level-2 tile at (6, 6); ramps up to both.

    Row 3 col 5 is a ramp rising north onto (4, 5); (5, 6) is a ramp rising north onto the level-2 (6, 6)."""
    levels = [[0] * 8 for _ in range(8)]
    for r in range(4, 8):
        for c in range(4, 8):
            levels[r][c] = 1
    levels[6][6] = 2
    ramps = (Ramp(3, 5, "north"), Ramp(5, 6, "north")) if with_ramp else ()
    return WorldSpec(
        terrain=Terrain(
            levels=tuple(map(tuple, levels)),
            floor_colours=tuple(tuple(("grey", "white", "blue")[v] for v in row) for row in levels),
            ramps=ramps,
            hazards=(Cell(0, 7), Cell(5, 4)),
        ),
        objects=(ObjectSpec("cube", "red", 7, 7, movable=False), ObjectSpec("wedge", "green", 1, 1)),
        spawns=(Spawn(0, 0, 0.0), Spawn(4, 4, math.pi)),
    )


# --- round trip and ids ------------------------------------------------------------------------------------


@pytest.mark.parametrize("world", [flat_world(), plateau_world(), flat_world(16, 16)], ids=["flat", "plateau", "16x16"])
def test_round_trip_hand_made(world):
    validate_world(world)
    text = world_to_json(world)
    back = world_from_json(text)
    assert back == world
    assert world_to_json(back) == text
    pretty = world_to_json(world, indent=2)
    assert world_from_json(pretty) == world
    assert world_id(back) == world_id(world)


def test_round_trip_generated():
    for seed in range(300):
        world = generate_world(seed)
        text = world_to_json(world)
        back = world_from_json(text)
        assert back == world, seed
        assert world_to_json(back) == text, seed
        assert world_id(back) == world_id(world)


def test_same_seed_same_id_across_processes():
    seeds = list(range(0, 400, 37))
    code = (
        "import sys; from worlds.tasks.generator import generate_world; from worlds.tasks.spec import world_id;"
        f"print(' '.join(world_id(generate_world(s)) for s in {seeds}))"
    )
    here = [world_id(generate_world(s)) for s in seeds]
    for hashseed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                             check=True, timeout=60)
        assert out.stdout.split() == here


def test_different_seeds_different_ids():
    ids = [world_id(generate_world(seed)) for seed in range(1000)]
    assert len(set(ids)) == len(ids)


def test_id_changes_with_content():
    world = flat_world()
    moved = dataclasses.replace(world, objects=(ObjectSpec("sphere", "yellow", 2, 4),))
    assert world_id(world) != world_id(moved)
    assert world_id(world) == world_id(flat_world())


# --- validation errors: one per kind -----------------------------------------------------------------------


def _raises(world_or_text, path: str, *needles: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        if isinstance(world_or_text, str):
            world_from_json(world_or_text)
        else:
            validate_world(world_or_text)
    err = info.value
    assert err.path == path, str(err)
    message = str(err)
    assert message.startswith(path), message
    for needle in needles:
        assert needle in message, message
    return err


def _json_with(mutate) -> str:
    data = json.loads(world_to_json(plateau_world()))
    mutate(data)
    return json.dumps(data)


def _replace_terrain(world: WorldSpec, **changes) -> WorldSpec:
    return dataclasses.replace(world, terrain=dataclasses.replace(world.terrain, **changes))


def _with_level(levels, r, c, value):
    rows = [list(row) for row in levels]
    rows[r][c] = value
    return tuple(map(tuple, rows))


def test_unknown_shape_python_and_json():
    world = plateau_world()
    bad = dataclasses.replace(world, objects=(dataclasses.replace(world.objects[0], shape="blob"), world.objects[1]))
    _raises(bad, "objects[0].shape", "'blob'")
    _raises(_json_with(lambda d: d["objects"][1].update(shape="blob")), "objects[1].shape", "'blob'")


def test_unknown_colour():
    world = plateau_world()
    bad = dataclasses.replace(world, objects=(world.objects[0], dataclasses.replace(world.objects[1], colour="teal")))
    _raises(bad, "objects[1].colour", "'teal'")
    floors = [list(row) for row in world.terrain.floor_colours]
    floors[2][5] = "mauve"
    _raises(_replace_terrain(world, floor_colours=tuple(map(tuple, floors))), "terrain.floor_colours[2][5]", "'mauve'")


def test_object_outside_grid():
    world = plateau_world()
    bad = dataclasses.replace(world, objects=(dataclasses.replace(world.objects[0], col=20), world.objects[1]))
    _raises(bad, "objects[0].col", "20", "8x8")
    _raises(_json_with(lambda d: d["objects"][1].update(row=-1)), "objects[1].row", "-1")


def test_spawn_ramp_hazard_outside_grid():
    world = plateau_world()
    _raises(dataclasses.replace(world, spawns=(Spawn(8, 0, 0.0),)), "spawns[0].row", "8")
    _raises(_replace_terrain(world, hazards=(Cell(0, 9),)), "terrain.hazards[0].col", "9")
    _raises(_replace_terrain(world, ramps=(Ramp(3, 5, "north"), Ramp(30, 6, "north"))), "terrain.ramps[1].row", "30")


def test_unreachable_level():
    world = plateau_world(with_ramp=False)
    world = dataclasses.replace(world, objects=(ObjectSpec("cube", "red", 1, 7),), spawns=(Spawn(0, 0, 0.0),))
    _raises(world, "terrain.levels[4][4]", "level 1", "reachable", "spawns[0]")
    # Only the level-2 ramp missing: level 2 is unreachable.
    world2 = _replace_terrain(plateau_world(), ramps=(Ramp(3, 5, "north"),))
    world2 = dataclasses.replace(world2, objects=(world2.objects[1],))
    _raises(world2, "terrain.levels[6][6]", "level 2")


def test_unreachable_object_and_spawn():
    no_ramp = plateau_world(with_ramp=False)
    _raises(dataclasses.replace(no_ramp, spawns=(Spawn(0, 0, 0.0), Spawn(4, 4, 1.0))), "spawns[1]", "(4, 4)", "not reachable")
    alone = dataclasses.replace(no_ramp, spawns=(Spawn(0, 0, 0.0),))
    _raises(alone, "objects[0]", "red cube", "(7, 7)", "not reachable")


def test_two_objects_on_one_tile():
    world = plateau_world()
    bad = dataclasses.replace(world, objects=(world.objects[0], ObjectSpec("sphere", "blue", 7, 7)))
    _raises(bad, "objects[1]", "(7, 7)", "objects[0]")


def test_object_and_spawn_on_one_tile():
    world = plateau_world()
    bad = dataclasses.replace(world, objects=(ObjectSpec("sphere", "blue", 4, 4),))
    _raises(bad, "objects[0]", "(4, 4)", "spawns[1]")
    _raises(dataclasses.replace(world, spawns=(Spawn(0, 0, 0.0), Spawn(0, 0, 1.0))), "spawns[1]", "(0, 0)", "spawns[0]")


def test_object_or_spawn_on_ramp_or_hazard():
    world = plateau_world()
    _raises(dataclasses.replace(world, objects=(ObjectSpec("sphere", "blue", 3, 5),)), "objects[0]", "(3, 5)", "ramp")
    _raises(dataclasses.replace(world, objects=(ObjectSpec("sphere", "blue", 0, 7),)), "objects[0]", "(0, 7)", "hazard")
    _raises(dataclasses.replace(world, spawns=(Spawn(5, 4, 0.0),)), "spawns[0]", "(5, 4)", "hazard")
    _raises(dataclasses.replace(world, spawns=(Spawn(0, 0, 0.0), Spawn(5, 6, 0.0))), "spawns[1]", "(5, 6)", "ramp")


def test_ramp_top_not_one_level_up():
    world = plateau_world()
    # (5, 6) rises north onto (6, 6); make (6, 6) level 1: the top is no longer one level up.
    levels = _with_level(world.terrain.levels, 6, 6, 1)
    _raises(_replace_terrain(world, levels=levels), "terrain.ramps[1]", "top", "(6, 6)", "level 1", "expected 2")
    # A ramp rising west from (2, 2) towards a level-0 tile.
    _raises(_replace_terrain(world, ramps=world.terrain.ramps + (Ramp(2, 2, "west"),)), "terrain.ramps[2]", "top", "(2, 1)")


def test_ramp_top_outside_grid():
    world = plateau_world()
    _raises(_replace_terrain(world, ramps=(Ramp(0, 3, "south"),)), "terrain.ramps[0]", "top", "(-1, 3)", "outside")


def test_ramp_foot_not_at_its_level():
    world = plateau_world()
    levels = _with_level(world.terrain.levels, 2, 5, 1)  # the foot of ramps[0] at (3, 5)
    floors = world.terrain.floor_colours
    _raises(_replace_terrain(world, levels=levels, floor_colours=floors), "terrain.ramps[0]", "foot", "(2, 5)", "level 1")
    # A foot outside the grid.
    levels = [[0] * 8 for _ in range(8)]
    levels[1][3] = 1
    world2 = WorldSpec(Terrain(tuple(map(tuple, levels)), (("grey",) * 8,) * 8, (Ramp(0, 3, "north"),)), (), (Spawn(5, 5, 0.0),))
    _raises(world2, "terrain.ramps[0]", "foot", "(-1, 3)", "outside")


def test_ramp_chain_and_duplicates():
    levels = [[0] * 8 for _ in range(8)]
    for c in range(8):
        levels[4][c] = 1
        levels[5][c] = 1
        levels[6][c] = 2
        levels[7][c] = 2
    floors = (("grey",) * 8,) * 8
    terrain = Terrain(tuple(map(tuple, levels)), floors, (Ramp(3, 2, "north"), Ramp(4, 2, "north")))
    _raises(WorldSpec(terrain, (), (Spawn(0, 0, 0.0),)), "terrain.ramps[0]", "top", "ramps[1]")
    terrain = Terrain(tuple(map(tuple, levels)), floors, (Ramp(3, 2, "north"), Ramp(3, 2, "north")))
    _raises(WorldSpec(terrain, (), (Spawn(0, 0, 0.0),)), "terrain.ramps[1]", "two ramps", "(3, 2)")
    terrain = Terrain(tuple(map(tuple, levels)), floors, (Ramp(3, 2, "up"),))
    _raises(WorldSpec(terrain, (), (Spawn(0, 0, 0.0),)), "terrain.ramps[0].direction", "'up'")


def test_duplicate_hazard():
    world = plateau_world()
    _raises(_replace_terrain(world, hazards=(Cell(0, 7), Cell(0, 7))), "terrain.hazards[1]", "(0, 7)", "hazards[0]")


def test_grid_shape_and_levels():
    world = flat_world()
    ragged = world.terrain.levels[:3] + ((0,) * 7,) + world.terrain.levels[4:]
    _raises(_replace_terrain(world, levels=ragged), "terrain.levels[3]", "rectangular", "7")
    _raises(_replace_terrain(world, levels=world.terrain.levels[:7]), "terrain.levels", "rows", "7")
    small = WorldSpec(Terrain(((0,) * 7,) * 7, (("grey",) * 7,) * 7), (), (Spawn(0, 0, 0.0),))
    _raises(small, "terrain.levels", "7")
    big = flat_world(17, 8)
    _raises(big, "terrain.levels", "17")
    _raises(_replace_terrain(world, levels=_with_level(world.terrain.levels, 2, 6, 3)), "terrain.levels[2][6]", "3")
    _raises(_replace_terrain(world, levels=_with_level(world.terrain.levels, 1, 1, -1)), "terrain.levels[1][1]", "-1")
    _raises(_replace_terrain(world, floor_colours=world.terrain.floor_colours[:6]), "terrain.floor_colours", "6")


def test_counts():
    world = flat_world()
    _raises(dataclasses.replace(world, spawns=()), "spawns", "0")
    five = tuple(Spawn(0, c, 0.0) for c in range(MAX_PLAYERS + 1))
    _raises(dataclasses.replace(world, spawns=five), "spawns", str(MAX_PLAYERS + 1))
    many = tuple(ObjectSpec("cube", "red", 4 + i // 8, i % 8) for i in range(MAX_OBJECTS + 1))
    _raises(dataclasses.replace(world, objects=many), "objects", str(MAX_OBJECTS + 1))
    levels = [[0] * 16 for _ in range(16)]
    for c in range(16):
        levels[8][c] = levels[9][c] = 1
    ramps = tuple(Ramp(7, c, "north") for c in range(16)) + tuple(Ramp(10, c, "south") for c in range(MAX_RAMPS + 1 - 16))
    too_many = WorldSpec(Terrain(tuple(map(tuple, levels)), (("grey",) * 16,) * 16, ramps), (), (Spawn(0, 0, 0.0),))
    _raises(too_many, "terrain.ramps", str(MAX_RAMPS + 1))


def test_yaw_must_be_finite_float():
    world = flat_world()
    _raises(dataclasses.replace(world, spawns=(Spawn(0, 0, float("nan")),)), "spawns[0].yaw", "nan")
    _raises(dataclasses.replace(world, spawns=(Spawn(0, 0, float("inf")),)), "spawns[0].yaw", "inf")
    _raises(dataclasses.replace(world, spawns=(Spawn(0, 0, 1),)), "spawns[0].yaw", "1")
    _raises(_json_with(lambda d: d["spawns"][0].update(yaw="north")), "spawns[0].yaw", "'north'")
    text = world_to_json(flat_world()).replace('"yaw":0.5', '"yaw":NaN')
    _raises(text, "spawns[0].yaw", "nan")


def test_wrong_types():
    _raises(_json_with(lambda d: d["objects"][0].update(row="3")), "objects[0].row", "'3'")
    _raises(_json_with(lambda d: d["objects"][0].update(movable=1)), "objects[0].movable", "1")
    _raises(_json_with(lambda d: d["terrain"].update(ramps={})), "terrain.ramps", "{}")
    _raises(_json_with(lambda d: d["terrain"]["levels"][2].__setitem__(3, 1.0)), "terrain.levels[2][3]", "1.0")
    _raises(_json_with(lambda d: d.update(spawns="a")), "spawns", "'a'")
    world = flat_world()
    # Built in Python: bool and numpy ints are not levels, lists are not tuples.
    _raises(_replace_terrain(world, levels=_with_level(world.terrain.levels, 0, 0, True)), "terrain.levels[0][0]", "True")
    _raises(_replace_terrain(world, levels=_with_level(world.terrain.levels, 0, 1, np.int64(0))), "terrain.levels[0][1]")
    _raises(dataclasses.replace(world, objects=list(world.objects)), "objects", "expected a tuple", "[ObjectSpec")
    _raises(dataclasses.replace(world, objects=(ObjectSpec("cube", "red", 1, 1, movable="yes"),)), "objects[0].movable", "'yes'")
    _raises(dataclasses.replace(world, terrain="flat"), "terrain", "'flat'")
    _raises("[1, 2]", "", "WorldSpec")


def test_missing_keys():
    _raises(_json_with(lambda d: d.pop("spawns")), "spawns", "missing")
    _raises(_json_with(lambda d: d["objects"][1].pop("colour")), "objects[1].colour", "missing")
    _raises(_json_with(lambda d: d["terrain"].pop("levels")), "terrain.levels", "missing")


def test_defaults_may_be_omitted():
    def drop(d):
        d["terrain"].pop("ramps")
        d["terrain"].pop("hazards")
        d["objects"][0].pop("movable")
        d["spawns"][0].pop("yaw")
    text = world_to_json(flat_world())
    data = json.loads(text)
    drop(data)
    assert world_from_json(json.dumps(data)) == flat_world().__class__(
        flat_world().terrain, flat_world().objects, (Spawn(0, 0, 0.0),))


def test_malformed_json():
    text = world_to_json(flat_world())
    _raises(text[:-5], "", "malformed JSON")
    _raises("", "", "malformed JSON")
    _raises(b"\xff\xfe\x00garbage".decode("latin-1"), "", "malformed JSON")
    with pytest.raises(SpecError):
        world_from_json(b"\xc3\x28 not utf-8")
    with pytest.raises(SpecError):
        world_from_json("[" * 100000 + "]" * 100000)


def test_unknown_keys():
    _raises(_json_with(lambda d: d["objects"][0].update(weight=3)), "objects[0].weight", "unknown key")
    _raises(_json_with(lambda d: d.update(gravity=9.8)), "gravity", "unknown key")


def test_path_prefix():
    text = _json_with(lambda d: d["objects"][1].update(shape="blob"))
    with pytest.raises(SpecError) as info:
        world_from_json(text, path="world")
    assert info.value.path == "world.objects[1].shape"
    bad = dataclasses.replace(flat_world(), objects=(ObjectSpec("cube", "red", 0, 0),))
    with pytest.raises(SpecError) as info:
        validate_world(bad, path="task.world")
    assert info.value.path == "task.world.objects[0]"


# --- reachable_tiles -----------------------------------------------------------------------------------------


def test_reachable_tiles_ramp_rule():
    world = plateau_world()
    reach = reachable_tiles(world.terrain, Cell(0, 0))
    assert reach.shape == (8, 8) and reach.dtype == bool
    assert reach.all()
    no_ramp = reachable_tiles(plateau_world(with_ramp=False).terrain, (0, 0))
    levels = np.array(world.terrain.levels)
    assert (no_ramp == (levels == 0)).all()
    # From the level-2 tile, back down both ramps, everything is reachable too (the graph is undirected).
    up_only = reachable_tiles(plateau_world().terrain, (6, 6))
    assert up_only.all()
    # Hazard (5, 4) on the plateau: avoiding hazards it is excluded, the rest stays reachable.
    safe = reachable_tiles(world.terrain, (0, 0), avoid_hazards=True)
    assert not safe[5, 4] and not safe[0, 7]
    assert safe.sum() == 64 - 2


def test_reachable_tiles_side_of_ramp_does_not_connect():
    # A level-1 band on row 4; its only ramp (3, 0) rises north. (3, 1) beside the ramp is level 0.
    levels = [[0] * 8 for _ in range(8)]
    for c in range(8):
        for r in range(4, 8):
            levels[r][c] = 1
    # A level-0 pocket at (3, 1) enclosed by level-1 tiles and the ramp on its west side.
    for r in range(0, 3):
        levels[r][1] = 1
    levels[2][0] = 0
    levels[3][2] = 1
    terrain = Terrain(tuple(map(tuple, levels)), (("grey",) * 8,) * 8, (Ramp(3, 0, "north"),))
    reach = reachable_tiles(terrain, (0, 0))
    assert reach[3, 0] and reach[4, 0] and reach[2, 0]
    assert not reach[3, 1]  # only joined to the ramp tile's side


def test_walk_graph_table_is_the_same_graph_as_the_flood():
    """The expert's per-tile neighbour table (WalkGraph.conn) and the bitset flood that validation and the
    generator use are one rule: a breadth-first search over conn reaches exactly the flood's tiles, from every
    start, on generated worlds and on the side-of-ramp case; and conn is symmetric (the graph is undirected)."""
    terrains = [generate_world(seed).terrain for seed in range(12)] + [plateau_world().terrain]
    for terrain in terrains:
        graph = WalkGraph(terrain)
        conn = graph.conn
        for d, (dr, dc) in enumerate(STEPS):
            back = STEPS.index((-dr, -dc))
            for r, c in np.argwhere(conn[..., d]):
                assert conn[r + dr, c + dc, back], (r, c, d)
        for start in [(0, 0), (terrain.rows - 1, terrain.cols - 1), (terrain.rows // 2, terrain.cols // 2)]:
            seen, todo = {start}, [start]
            while todo:
                r, c = todo.pop()
                for d, (dr, dc) in enumerate(STEPS):
                    n = (r + dr, c + dc)
                    if conn[r, c, d] and n not in seen:
                        seen.add(n)
                        todo.append(n)
            bfs = np.zeros((terrain.rows, terrain.cols), dtype=bool)
            bfs[tuple(np.array(sorted(seen)).T)] = True
            assert np.array_equal(bfs, reachable_tiles(terrain, start))


# --- fuzz: mutated JSON gives a SpecError or a valid world, never another exception --------------------------

_BASES = [world_to_json(generate_world(seed)) for seed in range(4)] + [world_to_json(plateau_world())]

_json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 20), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6), st.sampled_from(["north", "sphere", "red", "grey", "blob", ""]),
)
_json_values = st.recursive(_json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["row", "col", "x", "shape"]), inner, max_size=3)),
    max_leaves=8)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


def _mutate(data, path, kind, value):
    if not path:
        return value if kind == "replace" else data
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if kind == "drop":
        del parent[key]
    elif kind == "replace":
        parent[key] = value
    elif kind == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    elif kind == "nudge" and type(parent[key]) is int:
        parent[key] += value if type(value) is int else 1
    elif kind == "add_key" and isinstance(parent[key], dict):
        parent[key]["extra"] = value
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_mutated_json(data):
    text = data.draw(st.sampled_from(_BASES))
    tree = json.loads(text)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(tree))
        path = data.draw(st.sampled_from(paths))
        kind = data.draw(st.sampled_from(["drop", "replace", "duplicate", "nudge", "add_key"]))
        value = data.draw(_json_values)
        tree = _mutate(tree, path, kind, value)
    mutated = json.dumps(tree)
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(mutated)))
        mutated = mutated[:cut] + data.draw(st.sampled_from(["", "}", "]", ",", "\"", "NaN", "1e999"])) + mutated[cut:]
    try:
        world = world_from_json(mutated)
    except SpecError as err:
        assert str(err)
        return
    validate_world(world)
    assert world_from_json(world_to_json(world)) == world
