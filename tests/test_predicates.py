"""Vectorised predicate truth, goal rewards and goal tokens."""

from __future__ import annotations

import numpy as np
import pytest
from _game_worlds import random_world, small_world

from worlds.tasks.game import GameSpec, Goal, Predicate, TaskSpec, floor_ref, generate_game, object_ref, player_ref
from worlds.sim.predicates import (
    GOAL_ROWS,
    N_ENTITIES,
    TOKEN_HIGH,
    TOKEN_LEN,
    EntityState,
    FloorMap,
    compile_goal_tables,
    entity_index,
    goal_potential,
    goal_reward,
    goal_target,
    goal_token_bounds,
    goal_token_space,
    goal_tokens,
    predicate_truth,
    write_goal_tables,
)
from worlds.tasks.spec import COLOURS, MAX_OBJECTS, MAX_PLAYERS, SHAPES

P0, P1 = player_ref(0), player_ref(1)
CUBE, SPHERE, PYRAMID, WHITE_CUBE = (object_ref("cube", "yellow"), object_ref("sphere", "purple"),
                                     object_ref("pyramid", "green"), object_ref("cube", "white"))  # fmt: skip
# entity rows in small_world: players 0, 1; objects from MAX_PLAYERS in world order
R_P0, R_P1, R_CUBE, R_SPHERE, R_PYRAMID, R_WHITE = 0, 1, MAX_PLAYERS, MAX_PLAYERS + 1, MAX_PLAYERS + 2, MAX_PLAYERS + 3
RED, BLUE = list(COLOURS).index("red"), list(COLOURS).index("blue")


def single(pred: Predicate) -> TaskSpec:
    g = Goal(((pred,),))
    return TaskSpec(small_world(2), GameSpec((g, g), "cooperative"))


def state_for(n: int = 1) -> EntityState:
    s = EntityState.empty(n)
    s.active[:, : 2] = True
    s.active[:, MAX_PLAYERS : MAX_PLAYERS + 4] = True
    s.pos[:] = np.arange(N_ENTITIES, dtype=np.float32)[None, :, None] * 10.0  # everything far apart
    return s


def truth_of(pred: Predicate, state: EntityState, **kw) -> bool:
    tables = compile_goal_tables([single(pred)] * state.pos.shape[0])
    t = predicate_truth(tables, state, **kw)
    assert not t[:, 2:].any() and not t[:, :, 1:].any() and not t[:, :, :, 1:].any()  # padding is false
    return bool(t[0, 0, 0, 0])


def test_entity_indexing():
    w = small_world(2)
    assert [entity_index(w, e) for e in (P0, P1, CUBE, SPHERE, PYRAMID, WHITE_CUBE)] == [0, 1, 4, 5, 6, 7]
    assert entity_index(w, floor_ref("blue")) == BLUE
    tables = compile_goal_tables([single(Predicate("see", P0, P1))])
    assert tables.entity_present[0].tolist() == [True, True, False, False] + [True] * 4 + [False] * 8


def test_near():
    s = state_for()
    pred = Predicate("near", P0, CUBE)
    assert not truth_of(pred, s) and truth_of(pred.negate(), s)
    s.pos[0, R_CUBE] = s.pos[0, R_P0] + [1.0, 0.5, 0.5]  # |d| = 1.22
    assert truth_of(pred, s) and not truth_of(pred.negate(), s)
    assert not truth_of(pred, s, near_distance=1.2)
    assert truth_of(Predicate("near", CUBE, P0), s)  # symmetric
    s.active[0, R_CUBE] = False  # an inactive entity is near nothing
    assert not truth_of(pred, s) and truth_of(pred.negate(), s)


def test_on_floor_and_object():
    s = state_for()
    on_red = Predicate("on", P1, floor_ref("red"))
    s.floor_colour[0, R_P1] = RED
    assert not truth_of(on_red, s)  # not grounded: airborne above a red tile
    s.grounded[0, R_P1] = True
    assert truth_of(on_red, s) and not truth_of(on_red.negate(), s)
    assert not truth_of(Predicate("on", P1, floor_ref("blue")), s)
    s.floor_colour[0, R_P1] = BLUE
    assert truth_of(Predicate("on", P1, floor_ref("blue")), s) and not truth_of(on_red, s)
    on_cube = Predicate("on", PYRAMID, WHITE_CUBE)
    assert not truth_of(on_cube, s) and truth_of(on_cube.negate(), s)
    s.support[0, R_PYRAMID] = R_WHITE
    assert truth_of(on_cube, s) and not truth_of(on_cube.negate(), s)
    assert not truth_of(Predicate("on", PYRAMID, CUBE), s)
    s.support[0, R_P0] = R_CUBE
    assert truth_of(Predicate("on", P0, CUBE), s)


def test_hold():
    s = state_for()
    pred = Predicate("hold", P1, PYRAMID)
    assert not truth_of(pred, s) and truth_of(pred.negate(), s)
    s.held[0, 1] = 2  # object slot 2 = the pyramid
    assert truth_of(pred, s) and not truth_of(pred.negate(), s)
    assert not truth_of(Predicate("hold", P0, PYRAMID), s)
    assert not truth_of(Predicate("hold", P1, CUBE), s)
    s.held[0, 0] = 0
    assert truth_of(Predicate("hold", P0, CUBE), s)


def test_see():
    s = state_for()
    pred = Predicate("see", P0, P1)
    assert not truth_of(pred, s) and truth_of(pred.negate(), s)
    s.seen[0, 0, R_P1] = True
    assert truth_of(pred, s) and not truth_of(pred.negate(), s)
    assert not truth_of(Predicate("see", P1, P0), s)  # seeing is not symmetric
    s.seen[0, 1, R_SPHERE] = True
    assert truth_of(Predicate("see", P1, SPHERE), s)
    assert not truth_of(Predicate("see", P0, SPHERE), s)


def _dnf_task(goal0: Goal, goal1: Goal) -> TaskSpec:
    return TaskSpec(small_world(2), GameSpec((goal0, goal1), "mixed"))


def test_goal_reward_dnf():
    see01, hold0 = Predicate("see", P0, P1), Predicate("hold", P0, CUBE)
    on_red = Predicate("on", P0, floor_ref("red"))
    # p0: (see01 and hold0) or (not on_red); p1: not see01
    task = _dnf_task(Goal(((see01, hold0), (on_red.negate(),))), Goal(((see01.negate(),),)))
    cases = []  # (see01, hold0, on_red) -> rewards
    for see, hold, red in np.ndindex(2, 2, 2):
        cases.append((bool(see), bool(hold), bool(red)))
    s = state_for(len(cases))
    for e, (see, hold, red) in enumerate(cases):
        s.seen[e, 0, R_P1] = see
        s.held[e, 0] = 0 if hold else -1
        s.grounded[e, R_P0] = True
        s.floor_colour[e, R_P0] = RED if red else BLUE
    tables = compile_goal_tables([task] * len(cases))
    reward = goal_reward(tables, predicate_truth(tables, s))
    assert reward.dtype == np.float32 and reward.shape == (len(cases), MAX_PLAYERS)
    for e, (see, hold, red) in enumerate(cases):
        assert reward[e, 0] == float((see and hold) or not red), (see, hold, red)
        assert reward[e, 1] == float(not see)
        assert reward[e, 2:].tolist() == [0.0, 0.0]  # absent players are never rewarded


def test_goal_potential_is_minus_the_distance_left_to_close():
    s = state_for(1)
    s.pos[0, R_CUBE] = s.pos[0, R_P0] + [5.0, 0.0, 0.0]
    s.pos[0, R_SPHERE] = s.pos[0, R_P0] + [0.0, 3.0, 0.0]
    near_cube, near_sphere = Predicate("near", P0, CUBE), Predicate("near", P0, SPHERE)
    # p0: near cube or (near sphere and hold sphere); p1: not near cube (true: nothing to do)
    task = _dnf_task(Goal(((near_cube,), (near_sphere, Predicate("hold", P0, SPHERE)))), Goal(((near_cube.negate(),),)))
    phi = goal_potential(compile_goal_tables([task]), s, near_distance=2.0, reach=1.2)
    assert phi.shape == (1, MAX_PLAYERS) and phi.dtype == np.float32
    # unit 0: the distances left. Options: -(5 - 2) = -3 and -(3 - 2) - (3 - 1.2) = -2.8: the best option counts
    assert phi[0, 0] == pytest.approx(-2.8) and phi[0, 1] == 0.0 and phi[0, 2:].tolist() == [0.0, 0.0]
    # unit 1: each unmet literal costs 1 more. Options: -(1 + 3) = -4 and -(1 + 1) - (1 + 1.8) = -4.8
    phi = goal_potential(compile_goal_tables([task]), s, near_distance=2.0, reach=1.2, unit=1.0)
    assert phi[0, 0] == pytest.approx(-4.0) and phi[0, 1] == 0.0
    s.pos[0, R_CUBE] = s.pos[0, R_P0] + [1.5, 0.0, 0.0]  # near: the goal holds, nothing left
    assert goal_potential(compile_goal_tables([task]), s, near_distance=2.0, unit=1.0)[0, 0] == 0.0


def potential_of(pred: Predicate, s: EntityState, floors: FloorMap | None = None, unit: float = 1.0) -> float:
    """Player 0's potential for the one-literal goal ``pred`` (near 2 m, reach 1.2 m, see range 4.5 m)."""
    tables = compile_goal_tables([single(pred)])
    return float(goal_potential(tables, s, near_distance=2.0, floors=floors, reach=1.2, see_range=4.5, unit=unit)[0, 0])


def flat_state() -> EntityState:
    """Everything on the ground plane (z = 0), far apart, the player facing +x, nothing held or seen."""
    s = state_for(1)
    s.pos[..., 2] = 0.0
    return s


def test_goal_potential_on_a_floor_colour_is_the_way_to_the_nearest_such_tile():
    s = flat_state()
    s.pos[0, R_P0] = [1.0, 1.0, 0.0]
    colour = np.full((1, 4, 4), BLUE)
    colour[0, 2, 3] = RED  # tile (row 2, col 3): x in [6, 8), y in [4, 6) at 2 m tiles
    colour[0, 0, 3] = RED  # the nearer red tile: x in [6, 8), y in [0, 2), 5 m away
    floors = FloorMap(colour, np.array([[4, 4]]), 2.0)
    on_red = Predicate("on", P0, floor_ref("red"))
    assert potential_of(on_red, s, floors) == pytest.approx(-(1.0 + 5.0))  # 5 m in x to (6, 1)
    assert potential_of(on_red, s) == pytest.approx(-1.0)  # without a floor map: the unit only
    colour[0, 0, 3] = BLUE
    assert potential_of(on_red, s, floors) == pytest.approx(-(1.0 + np.hypot(5.0, 3.0)))  # to the corner (6, 4)
    s.grounded[0, R_P0], s.floor_colour[0, R_P0] = True, RED  # on it: the literal holds
    assert potential_of(on_red, s, floors) == 0.0
    # an object to bring onto red: fetch it (1 for the grab + the walk beyond reach), then carry it
    on_pyr = Predicate("on", PYRAMID, floor_ref("red"))
    s.pos[0, R_PYRAMID] = [7.0, 5.0, 0.0]  # above the red tile, not grounded: not on it yet
    walk = np.hypot(6.0, 4.0) - 1.2
    assert potential_of(on_pyr, s, floors) == pytest.approx(-(1.0 + 0.0 + 1.0 + walk))
    s.held[0, 0] = 2  # held: only the release is left
    assert potential_of(on_pyr, s, floors) == pytest.approx(-1.0)
    s.pos[0, R_PYRAMID] = [1.0, 2.0, 0.0]  # held, 5 m in x from the red tile
    assert potential_of(on_pyr, s, floors) == pytest.approx(-(1.0 + np.hypot(5.0, 2.0)))


def test_goal_potential_of_objects_to_bring_together_and_to_stack():
    s = flat_state()
    s.pos[0, R_P0] = [0.0, 3.0, 0.0]
    s.pos[0, R_PYRAMID] = [0.0, 0.0, 0.0]
    s.pos[0, R_SPHERE] = [5.0, 0.0, 0.0]
    # near(pyramid, sphere): the pyramid is 3 m too far; the player must fetch it (3 m away: 1.8 beyond reach)
    assert potential_of(Predicate("near", PYRAMID, SPHERE), s) == pytest.approx(-(1.0 + 3.0 + 1.0 + 1.8))
    assert potential_of(Predicate("near", PYRAMID, SPHERE), s, unit=0.0) == pytest.approx(-(3.0 + 1.8))
    s.held[0, 0] = 2
    assert potential_of(Predicate("near", PYRAMID, SPHERE), s) == pytest.approx(-(1.0 + 3.0))
    s.held[0, 0] = -1
    # near(pyramid, me): the player closes it by walking, nothing to fetch
    assert potential_of(Predicate("near", PYRAMID, P0), s) == pytest.approx(-(1.0 + 1.0))
    # on(pyramid, white cube): over its footprint (horizontal distance), after fetching the pyramid
    s.pos[0, R_WHITE] = [3.0, 4.0, 0.0]
    assert potential_of(Predicate("on", PYRAMID, WHITE_CUBE), s) == pytest.approx(-(1.0 + 5.0 + 1.0 + 1.8))
    s.pos[0, R_PYRAMID] = [3.0, 4.0, 1.0]  # above it but not resting on it
    fetch = np.sqrt(3.0**2 + 1.0**2 + 1.0**2) - 1.2
    assert potential_of(Predicate("on", PYRAMID, WHITE_CUBE), s) == pytest.approx(-(1.0 + 0.0 + 1.0 + fetch))
    s.support[0, R_PYRAMID] = R_WHITE
    assert potential_of(Predicate("on", PYRAMID, WHITE_CUBE), s) == 0.0
    # climbing: on(me, white cube) is the horizontal way to it
    assert potential_of(Predicate("on", P0, WHITE_CUBE), s) == pytest.approx(-(1.0 + np.hypot(3.0, 1.0)))


def test_goal_potential_of_see_is_the_turn_towards_the_object_and_the_way_into_camera_range():
    s = flat_state()
    s.pos[0, R_P0] = [0.0, 0.0, 0.0]
    s.pos[0, R_CUBE] = [0.0, 3.0, 0.0]  # to the left (+y), within range
    see = Predicate("see", P0, CUBE)
    assert potential_of(see, s) == pytest.approx(-(1.0 + 0.5))  # facing +x: a quarter turn (half of a half turn)
    s.yaw[0, R_P0] = np.pi / 2
    assert potential_of(see, s) == pytest.approx(-1.0)
    s.yaw[0, R_P0] = -np.pi / 2  # facing away: a half turn
    assert potential_of(see, s) == pytest.approx(-2.0)
    s.yaw[0, R_P0] = np.pi / 2
    s.pos[0, R_CUBE] = [0.0, 8.0, 0.0]  # ahead but 3.5 m beyond the camera's range of low objects
    assert potential_of(see, s) == pytest.approx(-(1.0 + 3.5))
    s.seen[0, 0, R_CUBE] = True
    assert potential_of(see, s) == 0.0


def test_goal_potential_of_negations():
    s = flat_state()
    s.pos[0, R_P0] = [0.0, 0.0, 0.0]
    s.pos[0, R_CUBE] = [0.5, 0.0, 0.0]
    assert potential_of(Predicate("near", P0, CUBE).negate(), s) == pytest.approx(-(1.0 + 1.5))  # 1.5 m to open
    assert potential_of(Predicate("near", P0, CUBE).negate(), s, unit=0.0) == pytest.approx(-1.5)
    s.pos[0, R_CUBE] = [3.0, 0.0, 0.0]
    assert potential_of(Predicate("near", P0, CUBE).negate(), s) == 0.0
    s.held[0, 0], s.seen[0, 0, R_CUBE] = 0, True
    s.grounded[0, R_P0], s.floor_colour[0, R_P0] = True, RED
    for pred in (Predicate("hold", P0, CUBE), Predicate("see", P0, CUBE), Predicate("on", P0, floor_ref("red"))):
        assert potential_of(pred.negate(), s) == -1.0  # violated: the unit only
        assert potential_of(pred.negate(), s, unit=0.0) == 0.0
        assert potential_of(pred, s) == 0.0


def test_goal_potential_is_zero_exactly_where_the_goal_holds():
    """At unit 1 every unmet literal costs at least 1, so phi = 0 iff some option holds, and phi <= -1 otherwise."""
    rng = np.random.default_rng(5)
    tasks = [TaskSpec(w, generate_game(rng, w)) for w in (random_world(rng, 2) for _ in range(30))]
    s = EntityState.empty(len(tasks))
    s.active[:] = np.concatenate([compile_goal_tables([t]).entity_present for t in tasks])
    s.pos[:] = rng.uniform(0, 8, size=s.pos.shape)
    s.yaw[:] = rng.uniform(-np.pi, np.pi, size=s.yaw.shape)
    s.seen[:] = rng.random(s.seen.shape) < 0.5
    s.held[:] = np.where(rng.random(s.held.shape) < 0.3, rng.integers(0, 3, size=s.held.shape), -1)
    s.grounded[:] = rng.random(s.grounded.shape) < 0.8
    s.floor_colour[:] = rng.integers(0, len(COLOURS), size=s.floor_colour.shape)
    tables = compile_goal_tables(tasks)
    reward = goal_reward(tables, predicate_truth(tables, s, 2.0))
    colour = rng.integers(0, len(COLOURS), size=(len(tasks), 10, 10))
    phi = goal_potential(tables, s, 2.0, FloorMap(colour, np.full((len(tasks), 2), 10), 1.0), unit=1.0)
    real = tables.player_valid
    assert 0 < reward[real].mean() < 1
    assert np.all((phi[real] == 0) == (reward[real] == 1)) and np.all(phi[real & (reward == 0)] <= -1.0)


def test_goal_target_is_the_other_argument_of_the_first_distance_predicate_else_of_see_or_on():
    near_cube, hold_sphere = Predicate("near", P0, CUBE), Predicate("hold", P1, SPHERE)
    cases = [
        (Goal(((near_cube,),)), Goal(((Predicate("near", CUBE, P1),),)), [R_CUBE, R_CUBE]),
        (Goal(((Predicate("see", P0, P1), near_cube),)), Goal(((hold_sphere,),)), [R_CUBE, R_SPHERE]),
        (Goal(((near_cube.negate(),),)), Goal(((Predicate("on", P1, floor_ref("red")),),)), [-1, -1]),
        # without a near/hold: the first see or on(x, object)
        (Goal(((Predicate("on", P0, floor_ref("red")),), (Predicate("see", P0, SPHERE),))),
         Goal(((Predicate("see", P1, P0).negate(), Predicate("on", P1, WHITE_CUBE)),)), [R_SPHERE, R_WHITE]),
    ]
    for goal0, goal1, expected in cases:
        target = goal_target(compile_goal_tables([_dnf_task(goal0, goal1)]))
        assert target[0].tolist() == expected + [-1, -1]


def test_write_goal_tables_replaces_envs():
    a = single(Predicate("see", P0, P1))
    b = _dnf_task(Goal(((Predicate("hold", P0, CUBE), Predicate("near", P1, SPHERE, True)),)),
                  Goal(((Predicate("on", P1, floor_ref("blue")),),)))  # fmt: skip
    tables = compile_goal_tables([a, b, a])
    write_goal_tables(tables, [0, 2], [b, b])
    fresh = compile_goal_tables([b, b, b])
    for name in ("relation", "negated", "a_index", "b_index", "b_floor", "valid", "option_valid", "player_valid",
                 "entity_present", "tokens"):  # fmt: skip
        assert np.array_equal(getattr(tables, name), getattr(fresh, name)), name


# --------------------------------------------------------------------------------- vectorised vs naive loop


def naive_truth(tasks: list[TaskSpec], s: EntityState, near_distance: float) -> np.ndarray:
    """Straightforward per-env, per-player, per-predicate evaluation of the documented semantics."""
    out = np.zeros((len(tasks), MAX_PLAYERS, 3, 3), dtype=bool)
    colours = list(COLOURS)
    for e, task in enumerate(tasks):
        w = task.world

        def row(ent):
            if ent.kind == "player":
                return ent.player
            return MAX_PLAYERS + next(i for i, o in enumerate(w.objects) if (o.shape, o.colour) == (ent.shape, ent.colour))

        for p, goal in enumerate(task.game.goals):
            for o, option in enumerate(goal.options):
                for k, pred in enumerate(option):
                    a = row(pred.a)
                    b = None if pred.b.kind == "floor" else row(pred.b)
                    if pred.relation == "near":
                        v = float(np.linalg.norm(s.pos[e, a].astype(np.float64) - s.pos[e, b])) < near_distance
                    elif pred.relation == "on" and b is None:
                        v = bool(s.grounded[e, a]) and int(s.floor_colour[e, a]) == colours.index(pred.b.colour)
                    elif pred.relation == "on":
                        v = int(s.support[e, a]) == b
                    elif pred.relation == "hold":
                        v = int(s.held[e, a]) == b - MAX_PLAYERS
                    else:
                        v = bool(s.seen[e, a, b])
                    v = v and bool(s.active[e, a]) and (b is None or bool(s.active[e, b]))
                    out[e, p, o, k] = v != pred.negated
    return out


def naive_reward(tasks, truth):
    r = np.zeros((len(tasks), MAX_PLAYERS), dtype=np.float32)
    for e, task in enumerate(tasks):
        for p, goal in enumerate(task.game.goals):
            r[e, p] = any(all(truth[e, p, o, k] for k in range(len(opt))) for o, opt in enumerate(goal.options))
    return r


def random_state(rng, tasks) -> EntityState:
    E = len(tasks)
    s = EntityState.empty(E)
    for e, task in enumerate(tasks):
        s.active[e, : len(task.world.spawns)] = True
        s.active[e, MAX_PLAYERS : MAX_PLAYERS + len(task.world.objects)] = True
    s.active &= rng.random(s.active.shape) < 0.95
    s.pos[:] = rng.uniform(0, 4, size=s.pos.shape)
    s.floor_colour[:] = rng.integers(-1, len(COLOURS), size=s.floor_colour.shape)
    s.grounded[:] = rng.random(s.grounded.shape) < 0.6
    s.held[:] = rng.integers(-1, MAX_OBJECTS, size=s.held.shape)
    s.seen[:] = rng.random(s.seen.shape) < 0.4
    s.support[:] = rng.integers(-1, N_ENTITIES, size=s.support.shape)
    return s


def test_vectorised_matches_naive_loop():
    rng = np.random.default_rng(5)
    tasks = []
    while len(tasks) < 120:
        world = random_world(rng)
        tasks.append(TaskSpec(world, generate_game(rng, world)))
    tables = compile_goal_tables(tasks)
    relations_seen = set()
    for step in range(15):
        s = random_state(rng, tasks)
        thr = float(rng.uniform(0.5, 4.0))
        truth = predicate_truth(tables, s, near_distance=thr)
        expected = naive_truth(tasks, s, thr)
        assert np.array_equal(truth, expected), np.argwhere(truth != expected)[:5]
        assert np.array_equal(goal_reward(tables, truth), naive_reward(tasks, expected))
        relations_seen |= set(tables.relation[truth & tables.valid].tolist())
    assert relations_seen == {0, 1, 2, 3}  # every relation was true somewhere
    assert 0.05 < goal_reward(tables, truth)[tables.player_valid].mean() < 0.95


# ----------------------------------------------------------------------------------------------------- tokens


def test_goal_tokens_layout_and_space():
    goal0 = Goal(((Predicate("see", P0, P1), Predicate("hold", P0, CUBE, True)),
                  (Predicate("on", P1, floor_ref("blue")),)))  # fmt: skip
    goal1 = Goal(((Predicate("near", P1, PYRAMID),),))
    tables = compile_goal_tables([_dnf_task(goal0, goal1)])
    tok = goal_tokens(tables)
    assert tok.shape == (1, MAX_PLAYERS, GOAL_ROWS, TOKEN_LEN) and tok.dtype == np.int32
    cube = [2, 0, SHAPES.index("cube") + 1, list(COLOURS).index("yellow") + 1]
    # player 0 sees its own goal, with player 0 as "me" (1) and player 1 as relative id 2
    assert tok[0, 0, 0].tolist() == [1, 1, 4, 1, 1, 0, 0, 1, 2, 0, 0]
    assert tok[0, 0, 1].tolist() == [1, 2, 3, 1, 1, 0, 0, *cube]
    assert tok[0, 0, 2].tolist() == [0] * TOKEN_LEN  # option 0 has two predicates: row 2 is padding
    assert tok[0, 0, 3].tolist() == [2, 1, 2, 1, 2, 0, 0, 3, 0, 0, BLUE + 1]
    assert not tok[0, 0, 4:].any()
    # player 1's goal: near(me, green pyramid); relative ids wrap around MAX_PLAYERS
    assert tok[0, 1, 0].tolist() == [1, 1, 1, 1, 1, 0, 0, 2, 0, SHAPES.index("pyramid") + 1, list(COLOURS).index("green") + 1]
    assert not tok[0, 2:].any()
    low, high = goal_token_bounds()
    assert low.shape == high.shape == (GOAL_ROWS, TOKEN_LEN) and high[0].tolist() == list(TOKEN_HIGH)
    space = goal_token_space()
    rng = np.random.default_rng(2)
    tasks = []
    while len(tasks) < 100:
        world = random_world(rng)
        tasks.append(TaskSpec(world, generate_game(rng, world)))
    all_tok = goal_tokens(compile_goal_tables(tasks))
    for e in range(len(tasks)):
        for p in range(MAX_PLAYERS):
            assert space.contains(all_tok[e, p])
    # the bounds are tight (a first argument is never a floor, so a_kind stops at 2)
    tight = [0, 1, 2, 4, 7, 8]
    assert all_tok.max(axis=(0, 1, 2))[tight].tolist() == [TOKEN_HIGH[i] for i in tight]
    assert all_tok[..., 3].max() == 2
    valid_rows = all_tok[..., 0] > 0
    assert (all_tok[valid_rows][:, :4] >= 1).all()  # a real row has no zero in its fixed columns
    assert not all_tok[~valid_rows].any()


def test_state_shape_is_checked():
    tables = compile_goal_tables([single(Predicate("see", P0, P1))] * 2)
    with pytest.raises(ValueError, match="state.pos has shape"):
        predicate_truth(tables, EntityState.empty(3))
