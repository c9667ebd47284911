"""Games and tasks: JSON, validation, static check, generation, held-out split, game properties."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from _game_worlds import random_world, small_world
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worlds.tasks.codec import SpecError, to_jsonable
from worlds.tasks.game import (
    HELD_OUT_SHARE,
    GameSpec,
    Goal,
    Predicate,
    TaskGenConfig,
    TaskSpec,
    floor_ref,
    game_properties,
    generate_game,
    generate_task,
    goal_problems,
    is_held_out,
    negate_goal,
    object_ref,
    player_ref,
    sample_held_out_task,
    sample_training_task,
    task_from_json,
    task_id,
    task_problems,
    task_to_json,
    validate_task,
)

N_SEEDS = 2000
P0, P1 = player_ref(0), player_ref(1)
CUBE = object_ref("cube", "yellow")  # movable
SPHERE = object_ref("sphere", "purple")  # fixed
PYRAMID = object_ref("pyramid", "green")  # movable
WHITE_CUBE = object_ref("cube", "white")  # fixed, on a red tile


def lit(relation, a, b, negated=False):
    return Predicate(relation, a, b, negated)


def goal(*options):
    return Goal(tuple(tuple(o) for o in options))


def hide_and_seek(world=None) -> TaskSpec:
    seek = lit("see", P0, P1)
    return TaskSpec(world or small_world(2), GameSpec((goal([seek]), goal([seek.negate()])), "competitive"))


@pytest.fixture(scope="module")
def generated():
    """(seed, task) for N_SEEDS seeds (the generator's default config)."""
    return [(s, generate_task(s)) for s in range(N_SEEDS)]


# --------------------------------------------------------------------------------------------- JSON and ids


def test_json_round_trip_and_id_stability(generated):
    for seed, task in generated[:300]:
        text = task_to_json(task)
        back = task_from_json(text)
        assert back == task
        assert task_id(back) == task_id(task)
        assert task_to_json(back) == text
        assert task_from_json(task_to_json(task, indent=2)) == task
    assert generate_task(7) == generated[7][1]  # deterministic
    assert len({task_id(t) for _, t in generated}) == len(generated)  # different seeds, different tasks


def test_task_id_is_stable_across_processes():
    task = hide_and_seek()
    code = (
        "import sys; sys.path.insert(0, 'tests'); from _game_worlds import small_world; "
        "from worlds.tasks.game import *; w = small_world(2); s = Predicate('see', player_ref(0), player_ref(1)); "
        "print(task_id(TaskSpec(w, GameSpec((Goal(((s,),)), Goal(((s.negate(),),))), 'competitive'))))"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == task_id(task)
    assert len(task_id(task)) == 16


# ----------------------------------------------------------------------------------------------- validation


def _task_dict() -> dict:
    return to_jsonable(hide_and_seek())


def _set(data, path, value):
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


PRED = ("game", "goals", 0, "options", 0, 0)
BAD_CASES = [
    # (path in the dict, new value, expected field path in the message, expected value in the message)
    (PRED + ("b", "player"), 5, "game.goals[0].options[0][0].b.player", "5"),
    (PRED + ("b",), {"kind": "object", "shape": "cube", "colour": "red"}, "game.goals[0].options[0][0].b", "red cube"),
    (PRED + ("b",), {"kind": "object", "shape": "blob", "colour": "red"}, "game.goals[0].options[0][0].b.shape", "'blob'"),
    (PRED + ("b",), {"kind": "object", "shape": "cube", "colour": "pink"}, "game.goals[0].options[0][0].b.colour", "'pink'"),
    (PRED + ("b",), {"kind": "floor", "colour": "green"}, "game.goals[0].options[0][0].b.kind", "'floor'"),
    (PRED + ("b",), {"kind": "unicorn"}, "game.goals[0].options[0][0].b.kind", "'unicorn'"),
    (PRED + ("a",), {"kind": "object", "shape": "cube", "colour": "yellow"}, "game.goals[0].options[0][0].a.kind", "'object'"),
    (PRED + ("b",), {"kind": "player", "player": 0}, "game.goals[0].options[0][0].b", "player0"),
    (PRED + ("b",), {"kind": "player", "player": 1, "colour": "red"}, "game.goals[0].options[0][0].b.colour", "'red'"),
    (PRED + ("relation",), "touch", "game.goals[0].options[0][0].relation", "'touch'"),
    (PRED + ("negated",), "yes", "game.goals[0].options[0][0].negated", "'yes'"),
    (("game", "kind"), "single", "game.kind", "'single'"),
    (("game", "kind"), "friendly", "game.kind", "'friendly'"),
    (("world", "objects", 0, "shape"), "blob", "world.objects[0].shape", "'blob'"),
]


@pytest.mark.parametrize("path,value,field,shown", BAD_CASES, ids=[c[2] + "=" + str(c[1]) for c in BAD_CASES])
def test_validation_error_names_field_and_value(path, value, field, shown):
    data = _set(_task_dict(), path, value)
    with pytest.raises(SpecError) as err:
        task_from_json(json.dumps(data))
    assert str(err.value).startswith(field + ":"), str(err.value)
    assert shown in str(err.value), str(err.value)


def test_validation_counts():
    data = _task_dict()
    data["game"]["goals"].append(data["game"]["goals"][0])
    with pytest.raises(SpecError, match=r"^game\.goals: .*one goal per spawn \(2\), got 3"):
        task_from_json(json.dumps(data))
    p = to_jsonable(lit("see", P0, P1))
    for options, field, count in (
        ([[p]] * 4, r"game\.goals\[0\]\.options", "1..3 options, got 4"),
        ([[p] * 4], r"game\.goals\[0\]\.options\[0\]", "1..3 predicates, got 4"),
        ([], r"game\.goals\[0\]\.options", "1..3 options, got 0"),
        ([[]], r"game\.goals\[0\]\.options\[0\]", "1..3 predicates, got 0"),
    ):
        data = _task_dict()
        data["game"]["goals"][0]["options"] = options
        with pytest.raises(SpecError, match=rf"^{field}: .*{count}$"):
            task_from_json(json.dumps(data))
    # Python-built specs are validated too
    world = small_world(2)
    bad = GameSpec((goal([lit("hold", P0, SPHERE)]), goal([lit("near", CUBE, object_ref("wedge", "red"))])), "mixed")
    with pytest.raises(SpecError, match=r"^game\.goals\[1\]\.options\[0\]\[0\]\.b: object not present.*red wedge"):
        validate_task(TaskSpec(world, bad))
    bad = GameSpec((goal([lit("on", P0, floor_ref("green"))]), goal([lit("on", P0, floor_ref("red"))])), "mixed")
    with pytest.raises(SpecError, match=r"^game\.goals\[0\]\.options\[0\]\[0\]\.b\.colour: no floor tile.*'green'"):
        validate_task(TaskSpec(world, bad))
    dup = dataclasses.replace(world, objects=world.objects + (dataclasses.replace(world.objects[0], row=7, col=3),))
    with pytest.raises(SpecError, match=r"ambiguous object: 2 objects"):
        validate_task(TaskSpec(dup, GameSpec((goal([lit("hold", P0, CUBE)]),) * 2, "cooperative")))


def _json_values():
    return st.recursive(
        st.none() | st.booleans() | st.integers(-3, 20) | st.floats(allow_nan=False, allow_infinity=False)
        | st.sampled_from(["player", "object", "floor", "near", "on", "hold", "see", "cube", "red", "yellow",
                           "purple", "sphere", "cooperative", "single", ""]),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
            st.sampled_from(["kind", "player", "shape", "colour", "a", "b", "relation", "negated", "options", "x"]),
            inner, max_size=4),
        max_leaves=8,
    )  # fmt: skip


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


_BASE = _task_dict()
_BASE["game"]["goals"][0]["options"].append([to_jsonable(lit("on", CUBE, floor_ref("red"))),
                                             to_jsonable(lit("hold", P1, PYRAMID, True))])  # fmt: skip
_BASE_PATHS = [p for p in _paths(_BASE) if p and p[0] == "game"] + [("world", "objects", 0), ("world", "spawns")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_BASE_PATHS), _json_values(), st.sampled_from(["set", "del", "add"])),
                min_size=1, max_size=3))  # fmt: skip
def test_fuzzed_task_json_raises_only_spec_error(edits):
    data = json.loads(json.dumps(_BASE))
    for path, value, op in edits:
        try:
            node = data
            for key in path[:-1]:
                node = node[key]
            if op == "set" or not isinstance(node, (dict, list)):
                node[path[-1]] = value
            elif op == "del":
                del node[path[-1]]
            else:
                node["extra"] = value if isinstance(node, dict) else node.append(value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    try:
        task = task_from_json(json.dumps(data))
    except SpecError:
        return
    assert isinstance(task, TaskSpec)
    assert task_from_json(task_to_json(task)) == task


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40) | st.binary(max_size=40))
def test_fuzzed_text_raises_only_spec_error(text):
    with pytest.raises(SpecError):
        task_from_json(text)


# ---------------------------------------------------------------------------------------------- static check


STATIC_CASES = [
    ("p and not p", goal([lit("see", P0, CUBE), lit("see", P0, CUBE, True)]), "unsatisfiable"),
    ("hold a fixed object", goal([lit("hold", P0, SPHERE)]), "unsatisfiable"),
    ("on a sphere", goal([lit("on", CUBE, SPHERE)]), "unsatisfiable"),
    ("on a pyramid", goal([lit("on", P0, PYRAMID)]), "unsatisfiable"),
    ("fixed object on an object", goal([lit("on", WHITE_CUBE, CUBE)]), "unsatisfiable"),
    ("fixed object on another floor", goal([lit("on", WHITE_CUBE, floor_ref("blue"))]), "unsatisfiable"),
    ("two floors at once", goal([lit("on", P0, floor_ref("red")), lit("on", P0, floor_ref("blue"))]), "unsatisfiable"),
    ("hold two objects", goal([lit("hold", P0, CUBE), lit("hold", P0, PYRAMID)]), "unsatisfiable"),
    ("two holders", goal([lit("hold", P0, CUBE), lit("hold", P1, CUBE)]), "unsatisfiable"),
    ("on each other", goal([lit("on", P0, CUBE), lit("on", CUBE, P0)]), "unsatisfiable"),
    ("near is symmetric", goal([lit("near", P0, CUBE), lit("near", CUBE, P0, True)]), "unsatisfiable"),
    ("not hold a fixed object", goal([lit("hold", P0, SPHERE, True)]), "always true"),
    ("p or not p", goal([lit("see", P0, CUBE)], [lit("see", P0, CUBE, True)]), "always true"),
    ("fixed object on its floor", goal([lit("on", WHITE_CUBE, floor_ref("red"))]), "always true"),
    ("near of two fixed objects", goal([lit("near", SPHERE, WHITE_CUBE)]), "constant"),
]


@pytest.mark.parametrize("name,g,problem", STATIC_CASES, ids=[c[0] for c in STATIC_CASES])
def test_static_check_rejects(name, g, problem):
    problems = goal_problems(g, small_world(2))
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    "g",
    [
        goal([lit("see", P0, P1)]),
        goal([lit("hold", P0, CUBE), lit("on", P0, floor_ref("blue"))]),
        goal([lit("on", CUBE, WHITE_CUBE)], [lit("near", CUBE, SPHERE, True)]),
        goal([lit("hold", P0, CUBE), lit("hold", P1, PYRAMID)]),
        goal([lit("on", P0, floor_ref("red")), lit("on", P0, CUBE)]),
    ],
)
def test_static_check_accepts(g):
    assert goal_problems(g, small_world(2)) == []


def test_near_self_is_invalid():
    with pytest.raises(SpecError, match=r"b: near needs two different entities"):
        validate_task(TaskSpec(small_world(1), GameSpec((goal([lit("near", CUBE, CUBE)]),), "single")))


# ------------------------------------------------------------------------------------- DNF and properties


def _truth(g: Goal, atoms, rows):
    from worlds.tasks.game import _goal_truth

    return _goal_truth(g, {a: i for i, a in enumerate(atoms)}, rows)


def test_negate_goal_is_the_exact_negation():
    rng = np.random.default_rng(3)
    world = small_world(3)
    config = TaskGenConfig(min_players=3, max_players=3)
    checked = 0
    for _ in range(300):
        game = generate_game(rng, world, config)
        for g in game.goals:
            neg = negate_goal(g)
            if neg is None:
                continue
            atoms = list(dict.fromkeys(g.atoms() + neg.atoms()))
            rows = ((np.arange(1 << len(atoms))[:, None] >> np.arange(len(atoms))) & 1).astype(bool)
            assert np.array_equal(_truth(neg, atoms, rows), ~_truth(g, atoms, rows)), (g, neg)
            checked += 1
    assert checked > 100
    big = goal([lit("see", P0, CUBE), lit("see", P0, P1)], [lit("hold", P0, CUBE), lit("near", P0, P1)])
    assert negate_goal(big) is None  # 4 options: does not fit


def test_game_properties_hand_cases():
    hs = game_properties(hide_and_seek().game)
    assert (hs.exploration_difficulty, hs.cooperativeness, hs.competitiveness, hs.n_atoms) == (0.0, 0.0, 1.0, 1)
    a, b = lit("see", P0, CUBE), lit("near", P1, CUBE)
    coop = game_properties(GameSpec((goal([a, b]), goal([a, b])), "cooperative"))
    assert (coop.exploration_difficulty, coop.cooperativeness, coop.competitiveness) == (0.75, 1.0, 0.0)
    # p0 wants a, p1 wants b: rows ab=11 all, 10/01 some, 00 none
    mixed = game_properties(GameSpec((goal([a]), goal([b])), "mixed"))
    assert (mixed.exploration_difficulty, mixed.cooperativeness, mixed.competitiveness) == (0.25, 1 / 3, 2 / 3)
    # with the world's constraint model: both hold the cube is impossible, so cooperation never happens
    h0, h1 = lit("hold", P0, CUBE), lit("hold", P1, CUBE)
    game = GameSpec((goal([h0]), goal([h1])), "mixed")
    assert game_properties(game).cooperativeness == pytest.approx(1 / 3)
    constrained = game_properties(game, small_world(2))
    assert (constrained.n_rows, constrained.cooperativeness, constrained.competitiveness) == (3, 0.0, 1.0)


# ----------------------------------------------------------------------------------------------- generation


def test_generated_tasks_pass_validation_and_static_check(generated):
    kinds = {}
    for seed, task in generated:
        validate_task(task)
        assert task_problems(task) == [], (seed, task_problems(task))
        kinds[task.game.kind] = kinds.get(task.game.kind, 0) + 1
        assert len(task.game.atoms()) <= TaskGenConfig().max_atoms
    assert set(kinds) == {"cooperative", "competitive", "mixed", "single"}, kinds
    assert min(kinds.values()) > N_SEEDS // 20, kinds


def test_generated_games_match_their_kind(generated):
    for seed, task in generated:
        game, n = task.game, len(task.world.spawns)
        props = game_properties(game)
        if game.kind == "single":
            assert n == 1
        elif game.kind == "cooperative":
            assert props.cooperativeness == 1.0, seed
            assert len(set(game.goals)) == 1
        elif game.kind == "competitive":
            assert props.competitiveness > 0, seed
            assert props.cooperativeness == 0.0 and props.competitiveness == 1.0, seed
            assert len(set(game.goals)) == 2
        else:
            assert 0.0 < props.cooperativeness < 1.0, seed
        assert props.exploration_difficulty < 1.0  # someone can be rewarded


def test_generation_on_random_worlds_passes_the_static_check():
    rng = np.random.default_rng(11)
    for i in range(300):
        world = random_world(rng)
        game = generate_game(np.random.default_rng(i), world)
        task = TaskSpec(world, game)
        validate_task(task)
        assert task_problems(task) == [], (i, task_problems(task))


def test_generation_respects_config():
    config = TaskGenConfig(min_players=3, max_players=3, kind_weights=(0, 1, 0), max_options=2, max_predicates=2,
                           relation_weights=(0, 0, 0, 1), negation_prob=0.0)  # fmt: skip
    for seed in range(40):
        task = generate_task(seed, config)
        assert len(task.world.spawns) == 3 and task.game.kind == "competitive"
        relations = {p.relation for g in task.game.goals for o in g.options for p in o}
        assert relations == {"see"}
        # the first team's goal respects the option/predicate limits; the second is its negation
        assert any(len(g.options) <= 2 and all(len(o) <= 2 for o in g.options) for g in task.game.goals)
    for bad in (dict(min_players=0), dict(max_players=5), dict(min_options=3, max_options=2),
                dict(relation_weights=(1, 1, 1)), dict(negation_prob=2.0), dict(kind_weights=(0, 0, 0))):  # fmt: skip
        with pytest.raises(ValueError):
            TaskGenConfig(**bad)
    with pytest.raises(ValueError):
        generate_task(-1)


def test_ego_goals_are_about_the_players_themselves():
    config = TaskGenConfig(min_players=2, max_players=2, max_options=2, max_predicates=2, negation_prob=0.3, ego=True)
    relations = set()
    for seed in range(40):
        task = generate_task(seed, config)
        assert not task_problems(task)
        for goal in task.game.goals:
            for pred in (p for o in goal.options for p in o):
                relations.add(pred.relation)
                assert pred.a.kind == "player", pred  # nothing to carry
                assert pred.relation != "on" or pred.b.kind == "floor", pred  # nothing to climb
    assert relations == {"near", "on", "hold", "see"}
    plain = [generate_task(seed, dataclasses.replace(config, ego=False)) for seed in range(40)]
    assert any(p.a.kind == "object" for t in plain for g in t.game.goals for o in g.options for p in o)


# --------------------------------------------------------------------------------------------- held-out split


def test_held_out_share_and_training_sampler(generated):
    held = [is_held_out(task_id(t)) for _, t in generated]
    share = sum(held) / len(held)
    assert abs(share - HELD_OUT_SHARE) < 0.025, share
    held_seeds = [s for (s, _), h in zip(generated, held) if h]
    checked_redraws = 0
    for seed, task in generated[:400]:
        training = sample_training_task(seed)
        assert not is_held_out(task_id(training))
        if is_held_out(task_id(task)):
            checked_redraws += 1
            assert training != task
            assert sample_training_task(seed) == training  # the redraw is deterministic
        else:
            assert training == task
    assert checked_redraws > 10
    for seed in held_seeds[:5] + [0, 1, 2]:
        assert is_held_out(task_id(sample_held_out_task(seed)))


def test_is_held_out_is_a_fixed_function_of_the_id():
    ids = [f"{i:016x}" for i in range(20000)]
    share = np.mean([is_held_out(i) for i in ids])
    assert abs(share - HELD_OUT_SHARE) < 0.01
    assert [is_held_out(i) for i in ids[:50]] == [is_held_out(i) for i in ids[:50]]
    assert not any(is_held_out(i, share=0.0) for i in ids[:200])
    assert all(is_held_out(i, share=1.0) for i in ids[:200])
