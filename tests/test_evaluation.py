"""curriculum.evaluation against hand-computed normalisers, percentiles, participation and Pareto cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curriculum.evaluation import (
    EvalTable,
    dominates,
    evaluate,
    normalise,
    pareto_front,
    zero_sum_value,
)


def single_table() -> EvalTable:
    returns = np.array([
        [0.5, 0.2, 0.0, 0.4, 0.1],   # A
        [0.25, 0.4, 0.0, 0.2, 0.0],  # B
        [0.0, 0.0, 0.0, 0.1, 0.0],   # R
    ])[:, :, None]  # fmt: skip
    return EvalTable(("A", "B", "R"), ("none",), tuple("t0 t1 t2 t3 t4".split()), ("single",) * 5, (1,) * 5, returns)


def test_single_player_normalisation_percentiles_participation_by_hand() -> None:
    report = evaluate(single_table(), reference=("A", "B", "R"))
    norm = report.normalised
    # normaliser = best reference agent per task; task 2 nobody scores: excluded
    np.testing.assert_allclose(norm.normaliser, [0.5, 0.4, 0.0, 0.4, 0.1])
    np.testing.assert_allclose(norm.scores[0], [1.0, 0.5, np.nan, 1.0, 1.0])
    a, b, r = (report.figures["all"][n] for n in "ABR")
    # A included scores sorted (.5, 1, 1, 1): p10 at index .3 -> .65, p20 at .6 -> .8, p50 at 1.5 -> 1
    assert (a.p10, a.p20, a.p50) == pytest.approx((0.65, 0.8, 1.0))
    # B (0, .5, .5, 1): .15, .3, .5
    assert (b.p10, b.p20, b.p50) == pytest.approx((0.15, 0.3, 0.5))
    assert (r.p10, r.p20, r.p50) == pytest.approx((0.0, 0.0, 0.0))
    # participation over all 5 tasks, the excluded one included
    assert (a.participation, b.participation, r.participation) == pytest.approx((0.8, 0.6, 0.2))
    assert a.tasks == 5 and a.excluded == 1
    assert report.dominates("A", "B") and report.dominates("B", "R") and not report.dominates("B", "A")
    assert report.pareto_front() == ["A"]


def test_reference_set_changes_the_normaliser() -> None:
    # against the random policy alone, A's score on task 3 is .4/.1 = 4: scores can exceed 1
    norm = normalise(single_table(), reference=("R",))
    assert norm.included.tolist() == [False, False, False, True, False]
    assert norm.scores[0, 3] == pytest.approx(4.0)


def test_zero_sum_value_by_hand() -> None:
    # X beats Y; the column player (co-player) plays X: value .5
    v, q = zero_sum_value(np.array([[0.5, 1.0], [0.0, 0.5]]))
    assert v == pytest.approx(0.5) and q == pytest.approx([1.0, 0.0])
    # rock-paper-scissors around .5: uniform mixture, value .5
    rps = np.array([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]])
    v, q = zero_sum_value(rps)
    assert v == pytest.approx(0.5) and q == pytest.approx([1 / 3] * 3, abs=1e-9)


def two_player_table() -> EvalTable:
    # agents X, Y (reference, also co-players), Z (evaluated only); co-players X, Y and a random policy
    returns = np.zeros((3, 3, 3))
    returns[:2, 0, :2] = [[0.5, 1.0], [0.0, 0.5]]  # competitive: X beats Y
    returns[:2, 1, :2] = [[0.2, 0.6], [0.6, 0.9]]  # cooperative: the best team is Y with Y
    returns[:2, 2, :2] = [[0.0, 0.0], [0.0, 0.0]]  # mixed, nobody scores: excluded
    returns[2, 0] = [0.25, 0.9, 1.0]
    returns[2, 1] = [0.0, 0.45, 1.0]
    returns[2, 2] = [0.0, 0.0, 0.3]
    returns[:2, :, 2] = 0.7  # against the random co-player: weighed by nothing, so never counted
    return EvalTable(("X", "Y", "Z"), ("X", "Y", "random"), ("comp", "coop", "mix"),
                     ("competitive", "cooperative", "mixed"), (2, 2, 2), returns)  # fmt: skip


def test_multi_player_meta_game_normalisation_by_hand() -> None:
    norm = normalise(two_player_table(), reference=("X", "Y"))
    np.testing.assert_allclose(norm.normaliser, [0.5, 0.9, 0.0])
    np.testing.assert_allclose(norm.weights[0], [1.0, 0.0, 0.0])  # scored against X, the equilibrium co-player
    np.testing.assert_allclose(norm.weights[1], [0.0, 1.0, 0.0])  # scored with Y, the best partner
    # Z: .25 against X -> .5 of the value; .45 with Y -> .5; the mixed task is excluded
    np.testing.assert_allclose(norm.scores[2], [0.5, 0.5, np.nan])
    np.testing.assert_allclose(norm.scores[1], [0.0, 1.0, np.nan])
    # participation counts only co-players the score weighs: Z's reward against random on "mix" does not count
    assert norm.participated[2].tolist() == [True, True, False]


def test_groups_per_kind_and_player_count() -> None:
    two = two_player_table()
    one = single_table()
    returns = np.zeros((3, 5 + 3, 3))
    returns[:, :5, :] = np.concatenate([one.returns[:2], one.returns[2:] * 0], axis=0)  # A->X, B->Y, Z never scores
    returns[:, 5:, :] = two.returns
    table = EvalTable(two.agents, two.co_players, one.task_ids + two.task_ids, one.kinds + two.kinds,
                      one.num_players + two.num_players, returns)  # fmt: skip
    report = evaluate(table, reference=("X", "Y"))
    assert set(report.figures) == {"all", "kind:single", "kind:competitive", "kind:cooperative", "kind:mixed",
                                   "players:1", "players:2"}  # fmt: skip
    assert report.figures["players:1"]["X"] == report.figures["kind:single"]["X"]
    mixed = report.figures["kind:mixed"]["Z"]
    assert mixed.tasks == 1 and mixed.excluded == 1 and np.isnan(mixed.p50)
    # Z is behind on single-player tasks, level or ahead elsewhere: X does not dominate Z on 2-player tasks
    assert report.dominates("X", "Z", "players:1")
    parsed = json.loads(report.to_json())
    assert parsed["figures"]["kind:mixed"]["Z"]["p50"] is None
    assert parsed["pareto_front"]["all"] == report.pareto_front()


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ((0.5, 0.6, 0.9, 0.8), (0.5, 0.6, 0.9, 0.8), False),  # equal: neither dominates
        ((0.5, 0.6, 0.9, 0.8), (0.5, 0.6, 0.9, 0.7), True),  # better on participation only
        ((0.5, 0.6, 0.9, 0.8), (0.6, 0.6, 0.8, 0.8), False),  # trade-off: not comparable
        ((0.6, 0.6, 0.8, 0.8), (0.5, 0.6, 0.9, 0.8), False),
        ((np.nan, 0.6, 0.9, 0.8), (np.nan, 0.5, 0.9, 0.8), True),  # both NaN: ignored
        ((np.nan, 0.6, 0.9, 0.8), (0.1, 0.5, 0.9, 0.8), False),  # NaN against a number: not comparable
    ],
)
def test_pareto_dominance_cases(a: tuple, b: tuple, expected: bool) -> None:
    assert dominates(a, b) is expected


def test_pareto_front() -> None:
    vecs = [(1, 0, 0, 0.5), (0, 1, 0, 0.5), (0, 0, 0, 0.5), (1, 1, 0, 0.4)]
    assert pareto_front(vecs) == [0, 1, 3]  # 2 is dominated by 0 and 1; 3 trades participation for percentiles


def test_bad_tables_are_refused_with_the_field() -> None:
    one = single_table()
    with pytest.raises(ValueError, match="returns has shape"):
        EvalTable(one.agents, one.co_players, one.task_ids, one.kinds, one.num_players, one.returns[:2])
    with pytest.raises(ValueError, match="kinds\\[0\\]='duel'"):
        EvalTable(one.agents, one.co_players, one.task_ids, ("duel",) * 5, one.num_players, one.returns)
    with pytest.raises(ValueError, match="num_players\\[0\\]=2"):
        EvalTable(one.agents, one.co_players, one.task_ids, one.kinds, (2,) * 5, one.returns)
    with pytest.raises(ValueError, match="single-player task must not vary"):
        EvalTable(one.agents, ("a", "b"), one.task_ids, one.kinds, one.num_players,
                  np.concatenate([one.returns, one.returns * 0.5], axis=2))  # fmt: skip
    with pytest.raises(ValueError, match="reference agents \\['Q'\\]"):
        normalise(one, reference=("Q",))
    two = two_player_table()
    with pytest.raises(ValueError, match="not co-players of the table"):
        normalise(two, reference=("X", "Z"))
