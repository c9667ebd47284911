"""``WorldBatch`` (BatchEnv's physics on ``mujoco.batch``) against ``avatar.step`` world by world: the same state
bit for bit and the same flags, through walking, turning, jumps, grabs, releases, hazards and falls."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from worlds.sim import avatar as av
from worlds.sim.world_batch import RAY_GEOMGROUP, WorldBatch
from worlds.tasks.spec import Cell, ObjectSpec, Spawn
from worlds.sim.template import PhysicsConfig, WorldTemplate
from worlds_fixtures import busy_world, flat_world, plateau_world


@pytest.fixture(scope="module")
def template() -> WorldTemplate:
    return WorldTemplate(physics=PhysicsConfig(substeps=4))


def scenario_worlds() -> list:
    return [
        flat_world(objects=(ObjectSpec("cube", "red", 3, 4), ObjectSpec("sphere", "blue", 4, 3)),
                   spawns=(Spawn(3, 3, 0.0), Spawn(4, 4, 1.0))),
        plateau_world(),
        flat_world(spawns=(Spawn(1, 1, 0.0), Spawn(2, 1, 0.0)), hazards=(Cell(1, 3), Cell(1, 4), Cell(2, 3))),
        busy_world(),
    ]  # fmt: skip


def scenario_actions(step: int, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    a = rng.uniform(-1, 1, size=shape)
    a[..., 0] = np.where(step % 40 < 20, 0.6, -0.6)  # walk to and from the objects
    if step < 40:
        a[..., 0], a[..., 2] = 1.0, 0.0  # first straight ahead (east): over the hazard tiles, off the plateau
    a[..., 4] = np.where((step // 10) % 2 == 0, 1.0, -1.0)  # grab, hold, release
    return a


def test_world_batch_matches_avatar_step(template):
    worlds = scenario_worlds()
    E, P = len(worlds), template.capacity.players
    ref = [template.new_model() for _ in worlds]
    ref_d = [mujoco.MjData(m) for m in ref]
    for w, m, d in zip(worlds, ref, ref_d):
        template.load(m, d, w)
    batch = WorldBatch(template, E)
    batch.load(np.arange(E), worlds)
    np.testing.assert_array_equal(batch.grounded, [av.grounded(template, d) for d in ref_d])
    rng = np.random.default_rng(0)
    seen = {"hazard": False, "fell": False, "held": False, "jumped": False}
    for k in range(160):
        a = scenario_actions(k, rng, (E, P, 5))
        flags = [av.step(template, m, d, a[e]) for e, (m, d) in enumerate(zip(ref, ref_d))]
        hazard, fell, unstable = batch.step(a)
        for e in range(E):
            np.testing.assert_array_equal(batch.qpos[e], ref_d[e].qpos, err_msg=f"qpos, world {e}, step {k}")
            np.testing.assert_array_equal(batch.qvel[e], ref_d[e].qvel, err_msg=f"qvel, world {e}, step {k}")
            np.testing.assert_array_equal(batch.eq_active[e], ref_d[e].eq_active)
            np.testing.assert_array_equal(batch.userdata[e], ref_d[e].userdata)
            np.testing.assert_array_equal(batch.models[e].eq_data, ref[e].eq_data)
            np.testing.assert_array_equal(batch.held()[e], av.held_objects(template, ref[e], ref_d[e]))
            np.testing.assert_array_equal(batch.grounded[e], flags[e].grounded, err_msg=f"grounded, world {e}, step {k}")
            np.testing.assert_array_equal(hazard[e], flags[e].on_hazard, err_msg=f"hazard, world {e}, step {k}")
            np.testing.assert_array_equal(fell[e], flags[e].fell, err_msg=f"fell, world {e}, step {k}")
            assert unstable[e] == flags[e].unstable
        seen["hazard"] |= bool(hazard.any())
        seen["fell"] |= bool(fell.any())
        seen["held"] |= bool((batch.held() >= 0).any())
        seen["jumped"] |= bool((batch.qvel[:, batch._jump_qvel] > 0.5 * template.physics.jump_velocity).any())
    assert all(seen.values()), seen  # the scenario exercised every rule


def test_threads_give_identical_results(template):
    worlds = scenario_worlds()
    E, P = len(worlds), template.capacity.players
    one, two = WorldBatch(template, E, threads=1), WorldBatch(template, E, threads=2)
    one.load(np.arange(E), worlds)
    two.load(np.arange(E), worlds)
    rng = np.random.default_rng(1)
    for k in range(40):
        a = scenario_actions(k, rng, (E, P, 5))
        flags_one, flags_two = one.step(a), two.step(a)
        for x, y in zip(flags_one, flags_two):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(one.sim.state, two.sim.state)


def test_state_round_trip_continues_exactly(template):
    worlds = scenario_worlds()
    E, P = len(worlds), template.capacity.players
    rng = np.random.default_rng(2)
    actions = [scenario_actions(k, rng, (E, P, 5)) for k in range(30)]
    straight = WorldBatch(template, E)
    straight.load(np.arange(E), worlds)
    for a in actions[:15]:
        straight.step(a)
    state = straight.get_state()
    resumed = WorldBatch(template, E)
    resumed.load(np.arange(E), worlds)
    resumed.set_state(state)
    np.testing.assert_array_equal(resumed.grounded, straight.grounded)
    for a in actions[15:]:
        straight.step(a)
        resumed.step(a)
    np.testing.assert_array_equal(resumed.sim.state, straight.sim.state)


def test_camera_hits_are_mj_ray_per_ray(template):
    """The batched cast (cameras and hazard probes in one call, compiled ray geometry) finds, for every ray of
    every player, what ``mujoco.mj_ray`` finds for that ray alone in that world; inactive players see nothing."""
    worlds = scenario_worlds()
    E, P = len(worlds), template.capacity.players
    batch = WorldBatch(template, E)
    batch.load(np.arange(E), worlds)
    rng = np.random.default_rng(3)
    checked = hits = 0
    for k in range(30):
        batch.step(scenario_actions(k, rng, (E, P, 5)))
        if k % 10 != 9:
            continue
        for e in range(E):
            model, data = batch.models[e], batch.data(e)
            for p in range(P):
                x, y, z, yaw = data.qpos[template.avatar_qpos_slice][4 * p : 4 * p + 4]
                if not batch.player_active[e, p]:
                    assert (batch.ray_geom[e, p] == -1).all() and (batch.ray_dist[e, p] == -1).all()
                    continue
                origin = np.array([x, y, z + batch.camera_lift])
                for r, (lx, ly, lz) in enumerate(batch.camera_dirs):
                    direction = np.array([np.cos(yaw) * lx - np.sin(yaw) * ly, np.sin(yaw) * lx + np.cos(yaw) * ly, lz])
                    geom = np.zeros(1, dtype=np.int32)
                    dist = mujoco.mj_ray(model, data, origin, direction, RAY_GEOMGROUP, 1, int(template.avatar_body[p]), geom)
                    if geom[0] < 0 or dist > batch.camera_range:
                        geom[0], dist = -1, -1.0
                    assert batch.ray_geom[e, p, r] == geom[0], f"world {e}, player {p}, ray {r}, step {k}"
                    np.testing.assert_allclose(batch.ray_dist[e, p, r], dist, rtol=1e-9, atol=1e-12)
                    checked += 1
                    hits += geom[0] >= 0
    assert checked > 1000 and hits > checked // 4, (checked, hits)
