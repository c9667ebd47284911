"""TaskStats: running mean then EMA per task, repeated slots in one batch, paired control episodes, checkpoint."""

import numpy as np
import pytest

from curriculum.stats import TaskStats


def test_running_mean_then_ema_per_task():
    stats = TaskStats(4, window=2)
    stats.update([1], [1.0], step=5)
    stats.update([1, 2], [0.0, 0.25], step=6)
    assert stats.count.tolist() == [0, 2, 1, 0]
    assert stats.ret[1] == pytest.approx(0.5) and stats.success[1] == pytest.approx(0.5)  # mean of 1, 0
    stats.update([1], [1.0], step=7)  # EMA with rate 1/2
    assert stats.ret[1] == pytest.approx(0.75) and stats.success[1] == pytest.approx(0.75)
    assert stats.ret[2] == 0.25 and stats.success[2] == 0.0 and stats.any_reward[2] == 1.0
    assert stats.last_update.tolist() == [-1, 7, 6, -1]


def test_repeated_slots_in_one_batch_apply_in_order():
    one, many = TaskStats(3, window=3), TaskStats(3, window=3)
    episodes = [(0, 1.0), (2, 0.1), (0, 0.0), (0, 0.6), (0, 1.0)]
    for slot, r in episodes:
        one.update([slot], [r], step=1)
    many.update([s for s, _ in episodes], [r for _, r in episodes], step=1)
    for name, value in one.state_dict().items():
        np.testing.assert_array_equal(value, many.state_dict()[name], err_msg=name)
    assert one.count[0] == 4


def test_paired_control_episodes_and_scores():
    stats = TaskStats(2)
    stats.update([0, 0, 1], [0.6, 0.2, 0.3], step=3, control_returns=[0.1, 0.4, np.nan], scores=[0.7, 0.9, 0.2])
    assert stats.control_count.tolist() == [2, 0] and stats.beats[0] == pytest.approx(0.5)
    assert stats.control_return[0] == pytest.approx(0.25) and stats.score.tolist() == [0.9, 0.2]


def test_bad_input_is_named():
    stats = TaskStats(2)
    with pytest.raises(ValueError, match="slot 5 outside 0..1"):
        stats.update([5], [1.0], step=0)
    with pytest.raises(ValueError, match=r"non-finite return nan \(slot 1\)"):
        stats.update([1], [np.nan], step=0)
    with pytest.raises(ValueError, match="returns has 1 entries for 2 slots"):
        stats.update([0, 1], [1.0], step=0)


def test_state_dict_round_trip_continues_exactly():
    rng = np.random.default_rng(0)
    a = TaskStats(5, window=4)
    for step in range(6):
        a.update(rng.integers(0, 5, 3), rng.random(3), step)
    b = TaskStats.from_state_dict(a.state_dict())
    for step in range(6, 9):
        slots, rets = rng.integers(0, 5, 3), rng.random(3)
        a.update(slots, rets, step)
        b.update(slots, rets, step)
    for name, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[name], err_msg=name)
    with pytest.raises(ValueError, match=r"success has shape \(5,\), these stats \(3,\)"):
        TaskStats(3, window=4).load_state_dict(a.state_dict())
