"""Every registered task family: valid tasks, disjoint splits, determinism, and what each family promises."""

import pytest

from worlds.tasks.families import EGO_DISTANCE, FAMILIES, FamilySampler, family_players, sample_family_task
from worlds.tasks.game import is_held_out, task_id, task_problems, validate_task


@pytest.mark.parametrize("family", FAMILIES)
def test_family_tasks_are_valid_split_and_deterministic(family):
    train = [sample_family_task(family, seed) for seed in range(12)]
    held = [sample_family_task(family, seed, held_out=True) for seed in range(4)]
    for task in train + held:
        validate_task(task)
        assert task_problems(task) == []
        assert len(task.world.spawns) == family_players(family)
    assert not any(is_held_out(task_id(t)) for t in train)
    assert all(is_held_out(task_id(t)) for t in held)
    assert task_id(sample_family_task(family, 3)) == task_id(train[3])
    assert len({task_id(t) for t in train}) == len(train)


@pytest.mark.parametrize("family", ["near", "hold"])
def test_ego_targets_are_out_of_reach_but_close(family):
    for seed in range(30):
        task = sample_family_task(family, seed)
        (option,) = task.game.goals[0].options
        (pred,) = option
        assert pred.relation == family and pred.a.player == 0 and not pred.negated
        target = next(o for o in task.world.objects if (o.shape, o.colour) == (pred.b.shape, pred.b.colour))
        spawn = task.world.spawns[0]
        assert EGO_DISTANCE[0] <= abs(target.row - spawn.row) + abs(target.col - spawn.col) <= EGO_DISTANCE[1]
        if family == "hold":
            assert target.movable


def test_unknown_family_names_the_known_ones():
    with pytest.raises(ValueError, match=r"family='chess' is not a registered task family; known: \['near'"):
        FamilySampler("chess")
