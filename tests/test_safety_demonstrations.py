"""Safe demonstrations: collected from the scripted expert on the real BatchEnv, checked safe, stored, reloaded,
and refused with clear errors when unsafe, empty, corrupted or truncated."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from safety import demonstrations as demos
from worlds.sim.template import PhysicsConfig
from worlds.tasks.spec import COLOUR_INDEX


@pytest.fixture(scope="module")
def data() -> demos.Demonstrations:
    tasks = demos.family_tasks("near", 3, seed=0)
    return demos.collect_demonstrations(tasks, demos.DemoConfig(num_envs=2, max_steps=25))


def test_collected_steps_are_consistent_and_safe(data: demos.Demonstrations) -> None:
    assert data.num_episodes == 3 and len(data) == 3 * 25 and data.dropped == 0
    assert not data.unsafe().any()
    data.check_safe()
    tile = PhysicsConfig().tile_size
    np.testing.assert_array_equal(data.tile[:, 0], np.floor(data.position[:, 1] / tile))
    np.testing.assert_array_equal(data.tile[:, 1], np.floor(data.position[:, 0] / tile))
    for e in range(data.num_episodes):
        ep = data.episode == e
        assert (data.step[ep] == np.arange(25)).all() and data.last[ep][-1] and not data.last[ep][:-1].any()
        # the observation after a step is the one before the next step; positions chain the same way
        np.testing.assert_array_equal(data.next_obs[ep][:-1], data.obs[ep][1:])
        np.testing.assert_array_equal(data.position[ep][:-1], data.prev_position[ep][1:])
        np.testing.assert_array_equal(data.yaw[ep][:-1], data.prev_yaw[ep][1:])
        terrain = data.task(e).world.terrain
        levels = np.asarray(terrain.levels)
        rows, cols = data.tile[ep, 0], data.tile[ep, 1]
        np.testing.assert_array_equal(data.tile_level[ep], levels[rows, cols])
        colours = [[COLOUR_INDEX[c] for c in row] for row in terrain.floor_colours]
        np.testing.assert_array_equal(data.tile_colour[ep], np.asarray(colours)[rows, cols])
    # the expert reaches its "near" goal: the reward is the goal's truth (one option, one predicate)
    assert data.reward.max() == 1.0
    np.testing.assert_array_equal(data.reward > 0, data.truth[:, 0])
    assert data.obs.dtype == np.float32 and data.obs.shape[1] == data.obs_dim


def test_collection_is_deterministic(data: demos.Demonstrations) -> None:
    again = demos.collect_demonstrations(demos.family_tasks("near", 3, seed=0), demos.DemoConfig(num_envs=2, max_steps=25))
    for f in dataclasses.fields(data):
        np.testing.assert_array_equal(getattr(again, f.name), getattr(data, f.name), err_msg=f.name)


def test_save_load_round_trip(data: demos.Demonstrations, tmp_path) -> None:
    path = demos.save(data, tmp_path / "demos.npz")
    back = demos.load(path)
    for f in dataclasses.fields(data):
        np.testing.assert_array_equal(getattr(back, f.name), getattr(data, f.name), err_msg=f.name)
    train, held = back.split_episodes(0.34, seed=1)
    assert len(train) + len(held) == len(back) and len(held) == 25
    assert set(np.unique(held.episode)).isdisjoint(np.unique(train.episode))


@pytest.mark.parametrize("flag", ["hazard", "fell", "tile_hazard"])
def test_save_refuses_an_unsafe_step_and_keeps_the_old_file(data: demos.Demonstrations, tmp_path, flag: str) -> None:
    path = demos.save(data, tmp_path / "demos.npz")
    before = path.read_bytes()
    bad = dataclasses.replace(data, **{flag: getattr(data, flag).copy()})
    i = int(np.flatnonzero(data.episode == 2)[7])
    getattr(bad, flag)[i] = True
    with pytest.raises(ValueError, match=r"episode 2 \(task [0-9a-f]+\) step 7 player 0 is unsafe"):
        demos.save(bad, path)
    assert path.read_bytes() == before
    with pytest.raises(ValueError, match="is unsafe"):
        demos.save(bad, tmp_path / "new.npz")
    assert not (tmp_path / "new.npz").exists() and not (tmp_path / "new.npz.tmp").exists()


def test_load_errors_name_the_file_and_the_fault(data: demos.Demonstrations, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.npz does not exist"):
        demos.load(tmp_path / "missing.npz")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.npz is empty \(0 bytes\)"):
        demos.load(empty)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file at all" * 10)
    with pytest.raises(ValueError, match="junk.npz .* is corrupted or truncated"):
        demos.load(junk)
    good = demos.save(data, tmp_path / "good.npz").read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="cut.npz .* is corrupted or truncated"):
        demos.load(cut)
    other = tmp_path / "other.npz"
    np.savez(other, obs=np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"other.npz lacks the arrays \['format_version'"):
        demos.load(other)
    with pytest.raises(ValueError, match="nothing to write .* no transitions"):
        demos.save(data.select(np.zeros(len(data), bool)), tmp_path / "none.npz")


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="num_envs=0"):
        demos.DemoConfig(num_envs=0)
    with pytest.raises(ValueError, match="task list is empty"):
        demos.collect_demonstrations([])
    with pytest.raises(ValueError, match="family='nope'"):
        demos.family_tasks("nope", 2, 0)
