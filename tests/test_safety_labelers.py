"""The oracle labeler: hazard tiles, ledges and the goal read against a real generated world's hidden terrain;
real safe demonstrations are never labelled unsafe; labels outside the three classes are refused."""

from __future__ import annotations

import numpy as np
import pytest

from safety import demonstrations as demos
from safety.labelers import GOOD, NEUTRAL, UNSAFE, OracleLabeler, check_labels
from safety.simulator import world_quantities
from worlds.sim.template import PhysicsConfig
from worlds.tasks.families import sample_family_task

PH = PhysicsConfig()


def _world_with_hazard_and_ledge():
    for seed in range(200):
        task = sample_family_task("solo", seed)
        t = task.world.terrain
        lv = np.asarray(t.levels)
        ramps = {(r.row, r.col) for r in t.ramps}
        hazards = {(h.row, h.col) for h in t.hazards}
        if not hazards:
            continue
        for r in range(t.rows):
            for c in range(t.cols - 1):
                a, b = (r, c), (r, c + 1)
                if lv[a] == lv[b] + 1 and not ({a, b} & (ramps | hazards)):
                    return task, sorted(hazards)[0], a, b
    raise AssertionError("no generated world with a hazard and a ledge in 200 seeds")


def q(row: int, col: int, level: int, goal: float = 0.0, dx: float = 0.0) -> np.ndarray:
    """World quantities of an avatar standing at the centre of a tile."""
    x, y = (col + 0.5) * PH.tile_size + dx, (row + 0.5) * PH.tile_size
    return np.array([x, y, level * PH.level_height + PH.avatar_half_height, 0.0, 1.0, goal])


def test_oracle_reads_hazards_ledges_and_the_goal_from_hidden_truth() -> None:
    task, hazard, high, low = _world_with_hazard_and_ledge()
    lv = np.asarray(task.world.terrain.levels)
    oracle = OracleLabeler(task, PH)
    h_level = lv[hazard]
    safe_low = q(*low, lv[low])
    traj = np.stack([
        q(*high, lv[high]),                 # start on the upper tile
        q(*high, lv[high], goal=1.0),       # goal holds: good
        q(*high, lv[high], goal=0.2),       # not quite: neutral
        safe_low,                           # stepped off the ledge: unsafe (fall)
        q(*hazard, h_level, goal=1.0),      # on a hazard tile, goal or not: unsafe (hazard)
    ])  # fmt: skip
    classes, rules = oracle.label(traj)
    assert classes.tolist() == [GOOD, NEUTRAL, UNSAFE, UNSAFE]
    assert rules.tolist() == [[False, False], [False, False], [False, True], [True, False]]
    # outside the grid, or sunk below the floor, is a fall; walking along one level is not
    out = safe_low.copy()
    out[0] = -3.0
    sunk = safe_low.copy()
    sunk[2] -= 1.0
    classes, rules = oracle.label_transitions(np.stack([safe_low] * 3), np.stack([out, sunk, safe_low]))
    assert classes.tolist() == [UNSAFE, UNSAFE, NEUTRAL] and rules[:, 1].tolist() == [True, True, False]
    # batched: [B, T + 1, 6]
    classes, rules = oracle.label(np.stack([traj, traj]))
    assert classes.shape == (2, 4) and rules.shape == (2, 4, 2)
    with pytest.raises(ValueError, match="must be finite"):
        oracle.label(np.full((3, 6), np.nan))


def test_real_safe_demonstrations_are_never_labelled_unsafe() -> None:
    data = demos.collect_demonstrations(demos.family_tasks("near", 3, seed=5), demos.DemoConfig(num_envs=3, max_steps=30))
    after = world_quantities(data)
    before = after.copy()
    before[:, :3] = data.prev_position
    for e in range(data.num_episodes):
        ep = data.episode == e
        classes, rules = OracleLabeler(data.task(e)).label_transitions(before[ep], after[ep])
        assert (classes != UNSAFE).all() and not rules.any()
        np.testing.assert_array_equal(classes == GOOD, data.reward[ep] > 0)


def test_labels_outside_the_three_classes_are_refused() -> None:
    assert check_labels(np.array([0, 2, 1])).tolist() == [0, 2, 1]
    for bad, shown in ((np.array([0, 5]), "5"), (["good", "meh"], "'meh'"), ([0, 1.5], "1.5"), ([True], "True"),
                       ([np.int64(-1)], "-1")):  # fmt: skip
        with pytest.raises(ValueError, match=r"\[\d\]=" + shown.replace(".", r"\.") + " is not one of the three classes"):
            check_labels(bad)
    with pytest.raises(ValueError, match="1-D"):
        check_labels(np.zeros((2, 2), int))
