"""Every registered task family: valid tasks, disjoint splits (checked by an independent recomputation of the
game structure), determinism, the registry's errors, and what each family promises."""

import dataclasses
import json
import pickle
from collections import Counter

import pytest

from worlds.tasks.families import (
    EGO_DISTANCE,
    FAMILIES,
    FamilyConfig,
    FamilySampler,
    default_config,
    family_players,
    family_task,
    generate_family_task,
    game_structure,
    sample_family_task,
    task_split,
)
from worlds.tasks.game import TaskGenConfig, task_id, task_problems, task_to_json, validate_task
from worlds.tasks.spec import world_id
from worlds.tasks.walkability import STEPS, WalkGraph, reachable_tiles


@pytest.mark.parametrize("family", FAMILIES)
def test_family_tasks_are_valid_split_and_deterministic(family):
    train = [sample_family_task(family, seed) for seed in range(12)]
    held = [sample_family_task(family, seed, held_out=True) for seed in range(4)]
    for task in train + held:
        validate_task(task)
        assert task_problems(task) == []
        mixed = default_config(family).mix  # a mix's one-player tasks leave the second slot inactive
        assert len(task.world.spawns) == family_players(family) or (mixed and len(task.world.spawns) < family_players(family))
    assert all(task_split(t, family) == "train" for t in train)
    assert all(task_split(t, family) == "held_out_world" for t in held)
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
    with pytest.raises(ValueError, match=r"family='chess' is not a registered task family; known: \[.*'broad'"):
        default_config("chess")
    with pytest.raises(ValueError, match=r"split='test' is not one of"):
        family_task("near", 0, "test")  # type: ignore[arg-type]


def test_registry_holds_one_notion_of_family_with_defaults():
    for name in FAMILIES:
        config = default_config(name)
        assert isinstance(config, FamilyConfig) and config.name == name and config.episode_length > 0
    assert default_config("duo").players == 2 and default_config("near").goal == "near"
    with pytest.raises(ValueError, match=r"FamilyConfig.players=2: ego goals \('near'\) have one player"):
        dataclasses.replace(default_config("near"), players=2)
    custom = FamilyConfig.from_generator("mine", TaskGenConfig(min_players=1, max_players=1, max_options=1))
    task = family_task(custom, 5)
    assert len(task.game.goals[0].options) == 1 and task_split(task, custom) == "train"
    sampler = FamilySampler("broad", split="held_out_game")
    assert task_id(pickle.loads(pickle.dumps(sampler))(4)) == task_id(sampler(4))


def test_broad_family_covers_relations_options_and_negations():
    tasks = [family_task("broad", seed) for seed in range(40)]
    relations = Counter(p.relation for t in tasks for o in t.game.goals[0].options for p in o)
    assert set(relations) == {"near", "on", "hold", "see"}
    assert any(len(t.game.goals[0].options) == 2 for t in tasks)
    assert any(len(o) == 2 for t in tasks for o in t.game.goals[0].options)
    assert any(p.negated for t in tasks for o in t.game.goals[0].options for p in o)
    assert all(len(t.world.spawns) == 1 and t.game.kind == "single" for t in tasks)


def _independent_structure(task) -> tuple:
    """Game structure recomputed from the task's JSON, without the families module: per goal, the multiset of
    options, each the multiset of (negated, relation, argument kinds) with colours dropped."""
    data = json.loads(task_to_json(task))

    def kind(entity: dict, owner: int) -> str:
        if entity["kind"] == "player":
            return "self" if entity["player"] == owner else "another"
        return entity["shape"] if entity["kind"] == "object" else "a floor"

    goals = []
    for owner, goal in enumerate(data["game"]["goals"]):
        options = []
        for option in goal["options"]:
            literals = []
            for p in option:
                args = (kind(p["a"], owner), kind(p["b"], owner))
                literals.append((p["negated"], p["relation"], tuple(sorted(args)) if p["relation"] == "near" else args))
            options.append(tuple(sorted(literals)))
        goals.append(tuple(sorted(options)))
    return data["game"]["kind"], tuple(sorted(goals))


@pytest.mark.parametrize("family", ["broad", "single", "duo"])
def test_held_out_games_are_never_trained_on(family):
    train = [family_task(family, seed, "train") for seed in range(60)]
    games = [family_task(family, seed, "held_out_game") for seed in range(15)]
    worlds = [family_task(family, seed, "held_out_world") for seed in range(15)]
    train_structures = {_independent_structure(t) for t in train}
    game_structures = {_independent_structure(t) for t in games}
    assert game_structures and not train_structures & game_structures
    # held-out worlds: new worlds, games of training structures
    assert not {world_id(t.world) for t in train} & {world_id(t.world) for t in worlds}
    assert {task_split(t, family) for t in worlds} == {"held_out_world"}
    # the families module's own key agrees with the independent one about which tasks share a structure
    pairs = [(game_structure(t), _independent_structure(t)) for t in train + games + worlds]
    assert len(set(pairs)) == len({p[0] for p in pairs}) == len({p[1] for p in pairs})


def test_a_family_without_held_out_games_says_so():
    with pytest.raises(ValueError, match=r"family 'hold' has no 'held_out_game' tasks.*none are held out"):
        family_task("hold", 0, "held_out_game")
    assert game_structure(family_task("near", 0, "held_out_game")) == "single: (near(cube,me))"


def _bfs(walk: WalkGraph, start: tuple[int, int], blocked: set) -> dict:
    """Walking distances (tiles) from ``start`` over the walkability graph, never entering ``blocked``."""
    dist, queue = {start: 0}, [start]
    for r, c in queue:
        for d, (dr, dc) in enumerate(STEPS):
            nxt = (r + dr, c + dc)
            if walk.conn[r, c, d] and nxt not in dist and nxt not in blocked:
                dist[nxt] = dist[(r, c)] + 1
                queue.append(nxt)
    return dist


def test_safety_family_puts_hazards_across_the_short_way_with_a_safe_detour():
    """For 30 seeds: every shortest path to the goal's object crosses a hazard (the hazard-free distance is
    longer), a hazard-free path exists, the hazard-free tiles stay connected, and the goal ignores hazards."""
    config = default_config("safety")
    assert config.hazard_band and config.goal == "near" and config.players == 1
    for seed in range(30):
        task = family_task("safety", seed)
        world = task.world
        (option,) = task.game.goals[0].options
        (pred,) = option
        assert pred.relation == "near" and pred.a.player == 0 and pred.b.kind == "object"
        target = next(o for o in world.objects if (o.shape, o.colour) == (pred.b.shape, pred.b.colour))
        spawn = (world.spawns[0].row, world.spawns[0].col)
        hazards = {(h.row, h.col) for h in world.terrain.hazards}
        walk = WalkGraph(world.terrain)
        plain, safe = _bfs(walk, spawn, set()), _bfs(walk, spawn, hazards)
        goal = (target.row, target.col)
        assert goal in safe, f"seed {seed}: no hazard-free path"
        assert safe[goal] > plain[goal], f"seed {seed}: a shortest path avoids the hazards"
        assert set(safe) == set(plain) - hazards, f"seed {seed}: hazard-free tiles cut apart"
        safe_region = reachable_tiles(world.terrain, world.spawns[0], avoid_hazards=True)
        assert safe_region[goal] and not any(safe_region[h] for h in hazards)
    with pytest.raises(ValueError, match=r"hazard_band=True needs an ego goal"):
        dataclasses.replace(default_config("broad"), hazard_band=True)


def test_duo_ego_games_are_about_players_and_cover_every_kind():
    """duo-ego keeps only games whose every predicate starts with a player (near/hold, one per goal) and names
    something 2-4 tiles from that player's spawn: every kind appears and both seats get goals."""
    config = default_config("duo-ego")
    tasks = [family_task("duo-ego", seed) for seed in range(40)]
    assert {t.game.kind for t in tasks} == {"cooperative", "competitive", "mixed"}
    for task in tasks:
        assert len(task.world.spawns) == 2 and task_problems(task) == []
        for goal in task.game.goals:
            (option,) = goal.options
            (pred,) = option
            assert pred.a.kind == "player" and pred.relation in ("near", "hold")
            spawn = task.world.spawns[pred.a.player]
            target = (task.world.spawns[pred.b.player] if pred.b.kind == "player" else
                      next(o for o in task.world.objects if (o.shape, o.colour) == (pred.b.shape, pred.b.colour)))
            assert EGO_DISTANCE[0] <= abs(target.row - spawn.row) + abs(target.col - spawn.col) <= EGO_DISTANCE[1]
    # the same generator without the filter draws object-first predicates, so the filter did something
    loose = dataclasses.replace(config, player_atoms=False, target_distance=None)
    assert any(p.a.kind == "object" for s in range(40) for g in family_task(loose, s).game.goals
               for o in g.options for p in o)
    assert task_id(family_task("duo-ego", 7)) == task_id(family_task("duo-ego", 7))
    with pytest.raises(ValueError, match=r"FamilyConfig.player_atoms=True needs goal='generated', got goal='near'"):
        dataclasses.replace(default_config("near"), player_atoms=True)
    with pytest.raises(ValueError, match=r"FamilyConfig.target_distance=\(4, 2\) needs player_atoms=True"):
        dataclasses.replace(config, target_distance=(4, 2))


def test_mix_family_draws_each_component_task_by_weight():
    """A seed's mix task is exactly its component's task of the same seed; both components appear about as
    often as their weights say; a component without a positive weight is refused, naming it."""
    counts = {"compose": 0, "duo-ego": 0}
    for seed in range(60):
        task = generate_family_task("mix", seed)
        matches = [name for name in counts if task_id(generate_family_task(name, seed)) == task_id(task)]
        assert len(matches) == 1
        counts[matches[0]] += 1
        assert len(task.world.spawns) == (1 if matches[0] == "compose" else 2)
    assert 18 <= counts["compose"] <= 42, counts
    with pytest.raises(ValueError, match=r"FamilyConfig.mix\[0\]=\('near', 0\.0\)"):
        dataclasses.replace(default_config("mix"), mix=(("near", 0.0),))
