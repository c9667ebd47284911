"""Avatar behaviour on the real MuJoCo template: movement in the avatar's frame, jump, ramps, grab, hazards."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from worlds_fixtures import flat_world, plateau_world, ramp_world
from worlds.sim.avatar import (
    apply_actions,
    avatar_positions,
    avatar_velocities,
    avatar_yaw,
    held_objects,
    object_positions,
    step,
    unstable,
)
from worlds.tasks.spec import Cell, ObjectSpec, Spawn
from worlds.sim.template import PhysicsConfig, WorldTemplate


@pytest.fixture(scope="module")
def template() -> WorldTemplate:
    # the step counts below were calibrated at 25 control steps per second (4 substeps of 10 ms)
    return WorldTemplate(physics=PhysicsConfig(substeps=4))


@pytest.fixture()
def sim(template: WorldTemplate) -> tuple[mujoco.MjModel, mujoco.MjData]:
    model = template.new_model()
    return model, mujoco.MjData(model)


def act(players: int = 4, **kw: float) -> np.ndarray:
    """Actions for player 0 by name (forward, strafe, turn, jump, grab); everyone else idle."""
    a = np.zeros((players, 5))
    for name, v in kw.items():
        a[0, ("forward", "strafe", "turn", "jump", "grab").index(name)] = v
    return a


def run(template, model, data, actions, n):
    flags = []
    for _ in range(n):
        flags.append(step(template, model, data, actions))
    return flags


@pytest.mark.parametrize("yaw", [0.0, 2.2])
def test_forward_moves_along_heading(template, sim, yaw):
    model, data = sim
    template.load(model, data, flat_world(spawns=(Spawn(3, 3, yaw),)))
    p0 = avatar_positions(template, data)[0].copy()
    run(template, model, data, act(forward=1.0), 25)  # 1 s
    d = avatar_positions(template, data)[0] - p0
    heading = math.atan2(d[1], d[0])
    assert np.hypot(d[0], d[1]) > 2.0  # ~3 m/s after spin-up
    assert abs(math.remainder(heading - yaw, 2 * math.pi)) < 0.05
    assert abs(d[2]) < 0.02
    assert abs(avatar_yaw(template, data)[0] - yaw) < 1e-3


def test_strafe_moves_to_the_left(template, sim):
    model, data = sim
    yaw = 0.7
    template.load(model, data, flat_world(spawns=(Spawn(3, 3, yaw),)))
    p0 = avatar_positions(template, data)[0].copy()
    run(template, model, data, act(strafe=1.0), 20)
    d = avatar_positions(template, data)[0] - p0
    assert abs(math.remainder(math.atan2(d[1], d[0]) - (yaw + math.pi / 2), 2 * math.pi)) < 0.05


def test_turn_turns_and_stops(template, sim):
    model, data = sim
    template.load(model, data, flat_world(spawns=(Spawn(3, 3, 0.0),)))
    p0 = avatar_positions(template, data)[0].copy()
    run(template, model, data, act(turn=1.0), 25)
    yaw = avatar_yaw(template, data)[0]
    assert 2.0 < yaw < 3.2  # 3 rad/s minus spin-up
    run(template, model, data, act(turn=-0.5), 10)
    assert avatar_yaw(template, data)[0] < yaw
    run(template, model, data, act(), 10)
    assert abs(avatar_velocities(template, data)[0, 3]) < 0.05
    assert np.linalg.norm(avatar_positions(template, data)[0, :2] - p0[:2]) < 0.05  # turning in place


def test_jump_leaves_ground_and_lands(template, sim):
    model, data = sim
    template.load(model, data, flat_world(spawns=(Spawn(3, 3, 0.0),)))
    run(template, model, data, act(), 3)
    z0 = avatar_positions(template, data)[0, 2]
    heights, grounded = [], []
    for i in range(30):
        f = step(template, model, data, act(jump=1.0 if i == 0 else 0.0))
        heights.append(avatar_positions(template, data)[0, 2])
        grounded.append(f.grounded[0])
    apex = max(heights) - z0
    assert 0.3 < apex < template.physics.level_height  # jumps, but not up a whole level
    assert not all(grounded)
    assert abs(heights[-1] - z0) < 0.02 and grounded[-1]
    # holding jump in the air does not jump again (needs ground)
    step(template, model, data, act(jump=1.0))
    vz_after_first = avatar_velocities(template, data)[0, 2]
    step(template, model, data, act(jump=1.0))
    assert avatar_velocities(template, data)[0, 2] < vz_after_first


def test_climbs_ramp_to_next_level(template, sim):
    model, data = sim
    template.load(model, data, ramp_world())
    flags = run(template, model, data, act(forward=1.0), 75)
    x, y, z = avatar_positions(template, data)[0]
    ph = template.physics
    assert x > 4 * ph.tile_size + 1.0  # well past the ramp's top edge (column 4 starts at x = 8)
    assert z == pytest.approx(ph.level_height + ph.avatar_half_height, abs=0.03)
    assert not any(f.fell[0] for f in flags)
    assert not any(f.unstable for f in flags)


def test_cannot_walk_up_a_level_without_ramp(template, sim):
    model, data = sim
    template.load(model, data, ramp_world())
    data.qpos[template.avatar_qposadr[0, 1]] = 11.0  # row 5: no ramp in that row
    mujoco.mj_forward(model, data)
    run(template, model, data, act(forward=1.0), 60)
    x, _, z = avatar_positions(template, data)[0]
    assert x < 4 * template.physics.tile_size  # stopped by the step
    assert z < 1.0


def test_grab_carry_release(template, sim):
    model, data = sim
    world = flat_world(objects=(ObjectSpec("cube", "red", 3, 4),), spawns=(Spawn(3, 3, 0.0),))
    template.load(model, data, world)
    # out of reach: grabbing does nothing
    step(template, model, data, act(grab=1.0))
    assert held_objects(template, model, data)[0] == -1
    step(template, model, data, act())
    run(template, model, data, act(forward=0.5), 16)  # walk up to the cube at x = 9
    run(template, model, data, act(), 5)
    before = object_positions(template, model, data)[0].copy()
    assert np.linalg.norm(before - avatar_positions(template, data)[0]) < template.physics.grab_reach
    step(template, model, data, act(grab=1.0))
    assert held_objects(template, model, data)[0] == 0
    offset0 = object_positions(template, model, data)[0] - avatar_positions(template, data)[0]
    # carry it 2.5 m backwards: it follows, at the same relative pose (nothing flung)
    run(template, model, data, act(forward=-1.0, grab=1.0), 25)
    run(template, model, data, act(grab=1.0), 10)
    obj, av = object_positions(template, model, data)[0], avatar_positions(template, data)[0]
    assert before[0] - obj[0] > 2.0
    assert np.allclose(obj - av, offset0, atol=0.05)
    # turning carries it around the avatar
    run(template, model, data, act(turn=1.0, grab=1.0), 20)
    run(template, model, data, act(grab=1.0), 10)
    obj = object_positions(template, model, data)[0]
    av = avatar_positions(template, data)[0]
    rel = obj - av
    assert math.atan2(rel[1], rel[0]) > 1.0  # was straight ahead (angle 0), now turned with the avatar
    # release: the avatar walks away, the cube stays where it was dropped
    step(template, model, data, act())
    assert held_objects(template, model, data)[0] == -1
    run(template, model, data, act(), 10)
    dropped = object_positions(template, model, data)[0].copy()
    assert dropped[2] == pytest.approx(template.physics.object_half_size, abs=0.02)  # resting on the floor
    run(template, model, data, act(forward=-1.0), 15)
    assert np.linalg.norm(object_positions(template, model, data)[0] - dropped) < 0.02
    assert not unstable(data)


def test_fixed_object_cannot_be_moved_or_grabbed(template, sim):
    model, data = sim
    world = flat_world(objects=(ObjectSpec("cube", "blue", 3, 4, movable=False),), spawns=(Spawn(3, 3, 0.0),))
    template.load(model, data, world)
    p0 = object_positions(template, model, data)[0].copy()
    run(template, model, data, act(forward=1.0), 50)  # push into it for 2 s
    av = avatar_positions(template, data)[0]
    assert av[0] == pytest.approx(p0[0] - template.physics.avatar_radius - template.physics.object_half_size, abs=0.05)
    run(template, model, data, act(forward=1.0, grab=1.0), 10)
    assert held_objects(template, model, data)[0] == -1
    assert np.array_equal(object_positions(template, model, data)[0], p0)


def test_hazard_tile_sets_on_hazard(template, sim):
    model, data = sim
    template.load(model, data, flat_world(spawns=(Spawn(3, 3, 0.0),), hazards=(Cell(3, 5),)))
    flags = run(template, model, data, act(forward=1.0), 40)
    hz = np.array([f.on_hazard[0] for f in flags])
    assert not hz[:5].any()  # starts on a safe tile
    assert hz.any()
    first = int(np.argmax(hz))
    # it became true around x = 10 (tile column 5 starts there); the avatar walks at ~0.12 m per step
    template.load(model, data, flat_world(spawns=(Spawn(3, 3, 0.0),), hazards=(Cell(3, 5),)))
    run(template, model, data, act(forward=1.0), first + 1)
    xs_first = avatar_positions(template, data)[0, 0]
    assert 9.5 < xs_first < 10.6
    assert not any(f.on_hazard[1:].any() for f in flags)


def test_walking_off_top_level_sets_fell_once(template, sim):
    model, data = sim
    template.load(model, data, plateau_world())
    flags = run(template, model, data, act(forward=1.0), 60)
    fell = np.array([f.fell[0] for f in flags])
    assert fell.sum() == 1
    assert avatar_positions(template, data)[0, 2] == pytest.approx(template.physics.avatar_half_height, abs=0.03)
    # walking around on the ground afterwards is not another fall
    flags = run(template, model, data, act(forward=-0.3, turn=0.3), 30)
    assert not any(f.fell[0] for f in flags)


def test_inactive_players_are_parked_and_frozen(template, sim):
    model, data = sim
    template.load(model, data, flat_world(spawns=(Spawn(1, 1, 0.0), Spawn(5, 5, 1.0))))
    parked = avatar_positions(template, data)[2:].copy()
    assert np.all(parked[:, 2] < -100)
    flags = run(template, model, data, np.ones((4, 5)), 20)  # full actions for every slot
    assert np.allclose(avatar_positions(template, data)[2:], parked)
    assert not any(f.fell[2:].any() or f.grounded[2:].any() for f in flags)
    assert avatar_positions(template, data)[1, 2] > 0.5  # the second real player acted (and jumped)


def test_bad_actions_are_rejected(template, sim):
    model, data = sim
    template.load(model, data, flat_world())
    with pytest.raises(ValueError, match="shape"):
        apply_actions(template, model, data, np.zeros((3, 5)))
    bad = np.zeros((4, 5))
    bad[0, 2] = np.nan
    with pytest.raises(ValueError, match=r"actions\[0, 2\]"):
        apply_actions(template, model, data, bad)
    # out-of-range values are clipped, not amplified
    p0 = avatar_positions(template, data)[0].copy()
    run(template, model, data, act(forward=50.0), 25)
    assert np.linalg.norm(avatar_positions(template, data)[0] - p0) < template.physics.max_speed * 1.0 + 0.01
