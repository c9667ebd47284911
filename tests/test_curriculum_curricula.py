"""The curricula as pure functions over statistics: PLR against the reference test vector and hand-computed
cases, XLand's dynamic filter conditions at and around their thresholds, Robust PLR's buffer, the registry,
and the filter's stall error."""

import numpy as np
import pytest

from curriculum.curricula import (
    PLR,
    CurriculumState,
    DynamicFilter,
    FilterStalled,
    Uniform,
    filter_admits,
    make_curriculum,
    plr_replay_distribution,
)
from curriculum.stats import TaskStats


def test_plr_reference_vector():
    p = plr_replay_distribution([0.5, 0.1, 0.9, 0.3], [3, 0, 1, 6], beta=0.1, rho=0.1)
    assert np.round(p[[0, 2, 3]], 6).tolist() == [0.030878, 0.909106, 0.060015]
    assert float(f"{p[1]:.3g}") == 8.57e-7
    assert p.sum() == pytest.approx(1.0)


def test_plr_hand_computed_cases():
    # ranks (2, 1): P_S = (1/3, 2/3); zero staleness everywhere -> P_C uniform
    np.testing.assert_allclose(plr_replay_distribution([1.0, 2.0], [0, 0], beta=1.0, rho=0.5), [5 / 12, 7 / 12])
    # ties ranked by position: ranks (1, 2, 3) -> (1, 1/2, 1/3) / (11/6)
    np.testing.assert_allclose(plr_replay_distribution([1.0, 1.0, 0.0], [4, 4, 4], beta=1.0, rho=0.0), [6 / 11, 3 / 11, 2 / 11])
    # rho = 1: staleness alone
    np.testing.assert_allclose(plr_replay_distribution([9.0, 0.0], [1, 3], beta=0.3, rho=1.0), [0.25, 0.75])
    with pytest.raises(ValueError, match="beta=0 must be > 0"):
        plr_replay_distribution([1.0], [1], beta=0, rho=0.1)


def _stats(success, beats, control, count=10, any_reward=None):
    n = len(success)
    s = TaskStats(n)
    s.success[:], s.beats[:], s.control_return[:] = success, beats, control
    s.count[:], s.control_count[:] = count, count
    if any_reward is not None:
        s.any_reward[:] = any_reward
    return s


def test_filter_conditions_and_thresholds():
    # (a) not too easy, (b) meaningful, (c) not trivial; strict at the thresholds m_s=0.8, m_>=0.2, m_cont=0.05
    success = np.array([0.5, 0.9, 0.5, 0.5, 0.8, 0.5, 0.5, 0.79])
    beats = np.array([0.5, 0.5, 0.1, 0.5, 0.5, 0.2, 0.5, 0.21])
    control = np.array([0.0, 0.0, 0.0, 0.1, 0.0, 0.0, 0.05, 0.049])
    assert filter_admits(success, beats, control).tolist() == [True, False, False, False, False, False, False, True]
    f = DynamicFilter()
    stats = _stats(success, beats, control)
    assert f.select(np.array([1, 2, 7, 0]), stats) == (2, "admitted")
    stats.count[2] = 9  # fewer than K=10 episodes: taken to be estimated
    assert f.select(np.array([1, 2, 7]), stats) == (1, "evaluating")
    # nothing admitted: the largest (beats - success) is taken
    assert f.select(np.array([1, 3, 4]), stats) == (1, "fallback")  # 0.5-0.5=0 beats -0.4 and -0.3


def test_filter_without_paired_control_uses_a_zero_return_control():
    stats = TaskStats(3)
    stats.count[:] = 10
    stats.success[:] = [0.1, 0.1, 0.1]
    stats.any_reward[:] = [0.5, 0.1, 0.3]  # P[agent's return > 0]
    f = DynamicFilter()
    assert f.select(np.array([1, 2]), stats) == (1, "admitted")
    beats, control = f.estimates(stats)
    assert beats.tolist() == [0.5, 0.1, 0.3] and control.tolist() == [0.0, 0.0, 0.0]


def test_filter_that_rejects_everything_says_so_with_statistics():
    f = DynamicFilter(max_stalled_draws=5, max_rejections=10)
    stats = _stats(np.full(6, 0.95), np.full(6, 0.9), np.zeros(6))
    state = CurriculumState(6)
    rng = np.random.default_rng(0)
    for _ in range(4):
        assert f.choose(rng, stats, state).kind == "fallback"
    with pytest.raises(FilterStalled, match=r"rejected every candidate for 5 draws in a row: of 6 pool tasks, 6 judged .* "
                                            r"6 too easy .*mean success 0.950"):
        f.choose(rng, stats, state)


def test_robust_plr_buffer():
    plr = PLR(buffer_size=2, replay_prob=1.0, min_fill=1.0, beta=1.0, rho=0.0)
    stats, state, rng = TaskStats(4), CurriculumState(4), np.random.default_rng(0)
    first = plr.choose(rng, stats, state)
    assert first.kind == "new"  # empty buffer: a new task
    stats.score[first.slot] = 0.3
    plr.after_update(np.array([first.slot]), stats, state)
    second = plr.choose(rng, stats, state)
    assert second.kind == "new" and second.slot != first.slot  # half full < min_fill=1: still new tasks
    stats.score[second.slot] = 0.1
    plr.after_update(np.array([second.slot]), stats, state)
    assert state.in_buffer.sum() == 2
    assert plr.choose(rng, stats, state).kind == "replay"
    # a new task scoring below the lowest-probability entry stays out; one scoring above replaces it
    others = [s for s in range(4) if not state.in_buffer[s]]
    stats.score[others] = [0.05, 0.5]
    plr.after_update(np.array(others), stats, state)
    assert sorted(np.flatnonzero(state.in_buffer).tolist()) == sorted([first.slot, others[1]])


def test_plr_replays_by_the_distribution():
    plr = PLR(buffer_size=3, replay_prob=1.0, beta=0.5, rho=0.2)
    stats, state = TaskStats(3), CurriculumState(3)
    state.in_buffer[:] = True
    stats.score[:] = [0.2, 0.9, 0.5]
    rng = np.random.default_rng(1)
    counts = np.bincount([plr.choose(rng, stats, state).slot for _ in range(3000)], minlength=3)
    assert counts.argmax() == 1 and counts.min() > 0  # highest score most, staleness keeps the others alive


def test_registry():
    assert isinstance(make_curriculum("uniform"), Uniform)
    assert make_curriculum("filter", max_success=0.7).max_success == 0.7
    assert make_curriculum("plr").beta == 0.3 and make_curriculum("plr").rho == 0.3
    with pytest.raises(ValueError, match=r"curriculum='easy' is not a known curriculum; known: \['uniform', 'filter', 'plr'\]"):
        make_curriculum("easy")
    with pytest.raises(ValueError, match="curriculum 'plr': .*unexpected keyword argument 'gamma'"):
        make_curriculum("plr", gamma=1)
