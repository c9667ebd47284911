"""Episode recording: small files, exact poses on load, bit-for-bit replay, clear errors on bad files."""

from __future__ import annotations

import numpy as np
import pytest

from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.episodes.recording import RecordingError, load_episode, save_episode
from worlds.episodes.replay import replay, run_recorded


@pytest.fixture(scope="module")
def recorded():
    env = BatchEnv(EnvConfig(num_envs=2, num_players=4, max_steps=900))
    env.reset(seed=21)
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, env.single_action_space.nvec, size=(2, 4, 5)) for _ in range(900)]
    return run_recorded(env, actions, env_index=1, seed=21)


def test_a_900_step_4_player_episode_is_well_under_a_megabyte(recorded, tmp_path):
    assert recorded.num_steps == 900 and recorded.arrays["player_pos"].shape == (900, 4, 3)
    path = save_episode(recorded, tmp_path / "ep.npz")
    assert path.stat().st_size < 1_000_000
    loaded = load_episode(path)
    assert loaded.task_json == recorded.task_json and loaded.seed == 21
    for name, array in recorded.arrays.items():
        np.testing.assert_array_equal(loaded.arrays[name], array)


def test_replay_reproduces_the_episode_bit_for_bit(recorded, tmp_path):
    # an episode in which the players go places, so that equal poses are not equal by standing still
    assert np.ptp(recorded.arrays["player_pos"][..., :2], axis=0).max() > 2.0
    again = replay(load_episode(save_episode(recorded, tmp_path / "ep.npz")))
    assert again.num_steps == recorded.num_steps
    for name, array in recorded.arrays.items():
        np.testing.assert_array_equal(again.arrays[name], array, err_msg=name)


def test_bad_recordings_are_named(tmp_path, recorded):
    with pytest.raises(RecordingError, match="no such recording"):
        load_episode(tmp_path / "missing.npz")
    path = save_episode(recorded, tmp_path / "ep.npz")
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match="cut.npz"):
        load_episode(tmp_path / "cut.npz")
    arrays = dict(recorded.arrays)
    del arrays["rewards"]
    np.savez(tmp_path / "partial.npz", meta=np.frombuffer(b'{"task": {}, "seed": 0, "env_config": {}}', dtype=np.uint8), **arrays)
    with pytest.raises(RecordingError, match="'rewards' is missing"):
        load_episode(tmp_path / "partial.npz")
