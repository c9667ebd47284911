"""The fixed-capacity template on the real MuJoCo: structure, load in place, labels, stability, rendering."""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np
import pytest
from worlds_fixtures import busy_world, flat_world, plateau_world

from worlds.sim.avatar import avatar_positions, object_positions, step, unstable
from worlds.sim.layout import HAZARD_RGBA
from worlds.tasks.spec import COLOURS, MAX_OBJECTS, MAX_PLAYERS, MAX_RAMPS, Cell, ObjectSpec, Spawn, Terrain, WorldSpec
from worlds.sim.template import (
    CAT_AVATAR,
    CAT_FLOOR,
    CAT_HAZARD,
    CAT_NONE,
    CAT_OBJECT,
    CAT_RAMP,
    CAT_WALL,
    GROUP_HIDDEN,
    NO_COLOUR,
    PhysicsConfig,
    Capacity,
    WorldTemplate,
    merge_tiles,
)

COLOUR_INDEX = {c: i for i, c in enumerate(COLOURS)}
COLOURS_LIST = list(COLOURS)
RAY_GROUPS = np.array([1, 1, 1, 0, 0, 0], dtype=np.uint8)


@pytest.fixture(scope="module")
def template() -> WorldTemplate:
    # step counts and durations below were calibrated at 25 control steps per second (4 substeps of 10 ms)
    return WorldTemplate(physics=PhysicsConfig(substeps=4))


def test_template_has_full_capacity(template):
    cap = template.capacity
    assert len(template.tile_geom) == cap.max_rows * cap.max_cols == 256
    assert len(template.ramp_geom) == MAX_RAMPS
    assert template.obj_geoms.shape == (MAX_OBJECTS, 5)
    assert len(template.avatar_body) == MAX_PLAYERS
    m = template.model
    assert m.nu == 3 * MAX_PLAYERS and m.neq == MAX_PLAYERS
    assert m.nq == 7 * MAX_OBJECTS + 4 * MAX_PLAYERS
    # every index array points at distinct things
    ids = np.concatenate([template.tile_geom, template.ramp_geom, template.wall_geom, template.obj_geoms.ravel(),
                          template.fixed_geoms.ravel(), template.avatar_geom])
    assert len(np.unique(ids)) == len(ids)


def _check_partition(levels, colours, hazards):
    """merge_tiles on a terrain of these [rows, cols] levels, colour indices and hazard flags covers each tile
    exactly once with rectangles whose tiles all share the rectangle's (level, colour, hazard)."""
    terrain = Terrain(tuple(map(tuple, levels.tolist())), tuple(tuple(COLOURS_LIST[c] for c in row) for row in colours.tolist()),
                      (), tuple(Cell(int(r), int(c)) for r, c in np.argwhere(hazards)))  # fmt: skip
    rects = merge_tiles(terrain)
    cover = np.zeros(levels.shape, dtype=int)
    for c0, r0, c1, r1, level, colour, hazard in rects:
        cover[r0 : r1 + 1, c0 : c1 + 1] += 1
        for grid, key in ((levels, level), (colours, colour), (hazards, hazard)):
            assert np.all(grid[r0 : r1 + 1, c0 : c1 + 1] == key)
    assert np.all(cover == 1)
    return len(rects)


def test_merge_tiles_partitions_grid_into_uniform_rectangles():
    rng = np.random.default_rng(0)
    for _ in range(60):
        rows, cols = rng.integers(1, 17, size=2)
        # blocky grids (like generated ones) and noisy ones
        levels = np.kron(rng.integers(0, 3, size=(rows // 2 + 1, cols // 2 + 1)), np.ones((2, 2), int))[:rows, :cols]
        colours = rng.integers(0, 2, size=(rows, cols)) if rng.random() < 0.3 else np.zeros((rows, cols), int)
        hazards = rng.random((rows, cols)) < 0.05
        _check_partition(levels, colours, hazards)
    assert _check_partition(np.zeros((16, 16), int), np.zeros((16, 16), int), np.zeros((16, 16), bool)) == 1
    checker = np.indices((16, 16)).sum(0) % 2
    assert _check_partition(checker, np.zeros((16, 16), int), np.zeros((16, 16), bool)) == 256


def _ray_down(model, data, x, y):
    geomid = np.array([-1], dtype=np.int32)
    dist = mujoco.mj_ray(model, data, np.array([x, y, 10.0]), np.array([0.0, 0.0, -1.0]), RAY_GROUPS, 1, -1, geomid)
    return dist, int(geomid[0])


def test_load_labels_every_tile_object_and_avatar(template):
    model = template.new_model()
    data = mujoco.MjData(model)
    spec = busy_world()
    world = template.load(model, data, spec)
    ph = template.physics
    # the labels live in the model itself (geom_user: category, colour index, hazard), so (model, data) is
    # self-describing; the LoadedWorld copies must agree with them
    cat, col, hz = model.geom_user[:, 0].astype(int), model.geom_user[:, 1].astype(int), model.geom_user[:, 2] > 0.5
    assert np.array_equal(cat, world.geom_category) and np.array_equal(col, world.geom_colour_index)
    assert np.array_equal(hz, world.geom_hazard)
    ramp_tiles = {(r.row, r.col) for r in spec.terrain.ramps}
    hazards = {(c.row, c.col) for c in spec.terrain.hazards}
    occupied = {(o.row, o.col) for o in spec.objects} | {(s.row, s.col) for s in spec.spawns}
    for r in range(spec.terrain.rows):
        for c in range(spec.terrain.cols):
            if (r, c) in occupied:
                continue
            # sample off-centre so the ray misses nothing standing on the tile centre
            dist, g = _ray_down(model, data, (c + 0.8) * ph.tile_size, (r + 0.8) * ph.tile_size)
            assert g >= 0
            assert col[g] == COLOUR_INDEX[spec.terrain.floor_colours[r][c]], (r, c)
            assert hz[g] == ((r, c) in hazards), (r, c)
            if (r, c) in hazards:  # hazards are their own category (a ramp on one too), drawn in their own colour
                assert cat[g] == CAT_HAZARD and tuple(model.geom_rgba[g]) == pytest.approx(HAZARD_RGBA)
            elif (r, c) in ramp_tiles:
                assert cat[g] == CAT_RAMP
            else:
                assert cat[g] == CAT_FLOOR
            if (r, c) not in ramp_tiles:
                assert 10.0 - dist == pytest.approx(spec.terrain.levels[r][c] * ph.level_height, abs=1e-9)
    for i, o in enumerate(spec.objects):
        dist, g = _ray_down(model, data, (o.col + 0.5) * ph.tile_size, (o.row + 0.5) * ph.tile_size)
        assert cat[g] == CAT_OBJECT and col[g] == COLOUR_INDEX[o.colour]
        assert world.object_movable[i] == o.movable
    for p, s in enumerate(spec.spawns):
        dist, g = _ray_down(model, data, (s.col + 0.5) * ph.tile_size, (s.row + 0.5) * ph.tile_size)
        assert cat[g] == CAT_AVATAR and template.geom_player[g] == p
    # walls bound the grid
    dist = mujoco.mj_ray(model, data, np.array([3.0, 3.0, 1.0]), np.array([-1.0, 0.0, 0.0]), RAY_GROUPS, 1, -1,
                         gid := np.array([-1], dtype=np.int32))
    assert cat[gid[0]] == CAT_WALL and col[gid[0]] == NO_COLOUR and dist == pytest.approx(3.0)
    # everything unused is inert and invisible
    unused = np.concatenate([template.tile_geom[world.n_terrain_boxes :],
                             template.ramp_geom[len(spec.terrain.ramps) :],
                             template.obj_geoms[len(spec.objects) :].ravel()])
    assert np.all(cat[unused] == CAT_NONE)
    assert np.all(model.geom_contype[unused] == 0) and np.all(model.geom_conaffinity[unused] == 0)
    assert np.all(model.geom_group[unused] == GROUP_HIDDEN) and np.all(model.geom_rgba[unused, 3] == 0)
    assert world.n_terrain_boxes < spec.terrain.rows * spec.terrain.cols / 2  # merging pays


def test_load_in_place_does_not_recompile(template):
    model = template.new_model()
    other = template.new_model()
    data = mujoco.MjData(model)
    sizes = (model.nbody, model.ngeom, model.nq, model.nv, model.nu, model.neq, model.nbvh)
    model_id = id(model)
    template.load(model, data, flat_world())
    pos_flat = model.body_pos.copy()
    template.load(model, data, busy_world())
    assert id(model) == model_id
    assert (model.nbody, model.ngeom, model.nq, model.nv, model.nu, model.neq, model.nbvh) == sizes
    assert not np.array_equal(model.body_pos, pos_flat)  # the world really changed
    # copies are independent: loading one leaves the other untouched
    assert np.array_equal(other.body_pos, template.model.body_pos)
    with pytest.raises(ValueError, match="objects"):
        template.load(model, data, flat_world(objects=tuple(ObjectSpec("cube", "red", 0, c % 8) for c in range(13))))
    small = WorldTemplate(Capacity(max_rows=8, max_cols=8, max_objects=2, max_ramps=2, players=2))
    m2 = small.new_model()
    with pytest.raises(ValueError, match="terrain"):
        small.load(m2, mujoco.MjData(m2), flat_world(rows=9))


def test_cached_load_equals_cold_load(template):
    cold_model, warm_model = template.new_model(), template.new_model()
    cold_data, warm_data = mujoco.MjData(cold_model), mujoco.MjData(warm_model)
    spec = busy_world()
    template.load(warm_model, warm_data, spec)  # fills the cache
    template.load(warm_model, warm_data, plateau_world())
    for _ in range(5):  # dirty the state: a grab retargets a weld, bodies move
        step(template, warm_model, warm_data, np.ones((4, 5)))
    world = template.load(warm_model, warm_data, spec)  # from the cache
    cold = template.load(cold_model, cold_data, spec, cache=False)
    for name in ("body_pos", "body_quat", "geom_size", "geom_aabb", "geom_rbound", "geom_rgba", "geom_contype",
                 "geom_conaffinity", "geom_group", "geom_user", "body_user", "body_gravcomp", "body_contype",
                 "eq_obj2id", "eq_active0"):
        assert np.array_equal(getattr(warm_model, name), getattr(cold_model, name)), name
    assert np.array_equal(warm_data.qpos, cold_data.qpos) and np.array_equal(warm_data.qvel, cold_data.qvel)
    assert np.array_equal(warm_data.userdata, cold_data.userdata) and not warm_data.eq_active.any()
    assert np.array_equal(world.geom_category, cold.geom_category)


def test_drop_onto_moved_tile_lands(template):
    """The stale-bounds trap: a tile moved and resized by load must stop a falling body."""
    model = template.new_model()
    data = mujoco.MjData(model)
    template.load(model, data, flat_world())
    ph = template.physics
    # a 16x16 world whose only raised tiles sit where the first world had nothing
    levels = tuple(tuple(2 if r >= 14 and c >= 13 else 0 for c in range(16)) for r in range(16))
    colours = tuple(tuple("red" if levels[r][c] else "grey" for c in range(16)) for r in range(16))
    spec = WorldSpec(Terrain(levels, colours), (ObjectSpec("sphere", "blue", 15, 14),), (Spawn(14, 15, 0.0),))
    template.load(model, data, spec)
    top = 2 * ph.level_height
    # lift both bodies 1.5 m and let them fall onto the raised tiles
    data.qpos[template.avatar_qposadr[0, 2]] += 1.5
    data.qpos[template.obj_qposadr[0] + 2] += 1.5
    mujoco.mj_forward(model, data)
    for _ in range(50):
        step(template, model, data, np.zeros((4, 5)))
    assert avatar_positions(template, data)[0, 2] == pytest.approx(top + ph.avatar_half_height, abs=0.03)
    assert object_positions(template, model, data)[0, 2] == pytest.approx(top + ph.object_half_size, abs=0.03)
    # and back to the small flat world: the raised tiles are gone, the avatar stands on level 0
    template.load(model, data, flat_world(spawns=(Spawn(6, 6, 0.0),)))
    for _ in range(25):
        step(template, model, data, np.zeros((4, 5)))
    assert avatar_positions(template, data)[0, 2] == pytest.approx(ph.avatar_half_height, abs=0.03)
    assert not unstable(data)


def test_unstable_reads_warning_counters(template, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo appends its warning text to ./MUJOCO_LOG.TXT
    model = template.new_model()
    data = mujoco.MjData(model)
    template.load(model, data, flat_world(objects=(ObjectSpec("cube", "red", 2, 2),)))
    mujoco.mj_step(model, data)
    assert not unstable(data)
    data.qvel[template.obj_dofadr[0]] = 1e12  # a deliberately exploding body
    mujoco.mj_step(model, data, nstep=4)
    assert unstable(data)
    assert data.warning[mujoco.mjtWarning.mjWARN_BADQVEL].number > 0
    template.load(model, data, flat_world())  # a reset clears it
    assert not unstable(data)


def _random_worlds(n: int):
    from worlds.tasks.generator import WorldGenConfig, generate_world
    from worlds.tasks.spec import validate_world

    config = dataclasses.replace(WorldGenConfig(), players=(1, MAX_PLAYERS))
    for seed in range(n):
        spec = generate_world(seed, config)
        validate_world(spec)
        yield spec


@pytest.mark.slow
@pytest.mark.parametrize("substeps", [4, PhysicsConfig().substeps])
def test_random_actions_on_many_worlds_stay_sane(substeps):
    """Thousands of random steps over generated worlds: no NaN, nothing below the floor or out of the arena
    (at 10 substeps an avatar once wall-jumped out, when wall contacts counted as ground), no warning."""
    template = WorldTemplate(physics=PhysicsConfig(substeps=substeps))
    model = template.new_model()
    data = mujoco.MjData(model)
    ph = template.physics
    rng = np.random.default_rng(1)
    travelled = []  # per world: farthest any avatar got from its spawn (m)
    for spec in _random_worlds(24):
        world = template.load(model, data, spec)
        n_pl = len(spec.spawns)
        spawn = avatar_positions(template, data)[:n_pl, :2]
        far = 0.0
        X, Y = spec.terrain.cols * ph.tile_size, spec.terrain.rows * ph.tile_size
        actions = np.zeros((MAX_PLAYERS, 5))
        for t in range(400):
            if t % 8 == 0:  # sticky random actions explore further than white noise
                actions = rng.uniform(-1, 1, size=(MAX_PLAYERS, 5))
            flags = step(template, model, data, actions)
            assert not flags.unstable, (spec, t, data.warning.number)
            av = avatar_positions(template, data)[:n_pl]
            assert np.all(np.isfinite(data.qpos)) and np.all(np.isfinite(data.qvel))
            assert np.all(av[:, 2] - ph.avatar_half_height > -0.05), (t, av)
            assert np.all((av[:, 0] > 0) & (av[:, 0] < X) & (av[:, 1] > 0) & (av[:, 1] < Y))
            obj = object_positions(template, model, data)[world.object_active]
            assert np.all(obj[:, 2] > -0.05), (t, obj)
            far = max(far, float(np.linalg.norm(av[:, :2] - spawn, axis=1).max()))
        travelled.append(far)
    # the checks above watched avatars that really went places (a frozen simulation would pass them trivially)
    assert np.median(travelled) > 2 * ph.tile_size, travelled


def test_render_world_png(tmp_path):
    from PIL import Image

    from worlds.sim.render import render_world_png

    path = tmp_path / "world.png"
    render_world_png(busy_world(), path, width=320, height=240)
    img = np.asarray(Image.open(path).convert("RGB")).astype(np.float64)
    assert img.shape == (240, 640, 3)  # perspective and top-down side by side
    for half in (img[:, :320], img[:, 320:]):
        assert half.std() > 20  # not a blank frame
        assert len(np.unique(half.reshape(-1, 3), axis=0)) > 200
    # the top-down view shows the plateau's red/blue/... floor colours, not just sky
    assert np.abs(img[:, 320:, 0] - img[:, 320:, 2]).mean() > 5
