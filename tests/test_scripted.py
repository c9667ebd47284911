"""The scripted goal-seeking expert on real MuJoCo worlds: it reaches near/hold goals far more often than a
random policy on the same tasks, and with ``avoid_hazards`` it keeps off the hidden hazard tiles."""

from __future__ import annotations

import numpy as np
import pytest

from worlds.envs.batch_env import DISCRETE_NVEC, BatchEnv, EnvConfig
from worlds.tasks.game import Entity, GameSpec, Goal, Predicate, TaskGenConfig, TaskSpec, generate_task
from worlds.tasks.generator import WorldGenConfig
from worlds.experts.scripted import ScriptedPolicy
from worlds.tasks.spec import Cell, ObjectSpec, Spawn
from worlds_fixtures import flat_world

N_TASKS = 20  # per relation
STEPS = 299  # one step short of max_steps, so no env auto-resets mid-run
MAX_STEPS = 300
# every world gets some hazards, so the success runs also exercise hazard avoidance
WORLDS = WorldGenConfig(hazard_fraction=(0.04, 0.1))


def _single_predicate_tasks(relation_weights: tuple[float, float, float, float], n: int) -> list[TaskSpec]:
    """``n`` generated one-player tasks whose whole goal is ``relation(me, object)``."""
    config = TaskGenConfig(min_players=1, max_players=1, max_options=1, max_predicates=1,
                           relation_weights=relation_weights, negation_prob=0.0, world=WORLDS)
    tasks, seed = [], 0
    while len(tasks) < n:
        task = generate_task(seed, config)
        seed += 1
        (option,) = task.game.goals[0].options
        (pred,) = option
        if pred.a == Entity("player", player=0) and pred.b.kind == "object" and not pred.negated:
            tasks.append(task)
    return tasks


def _rollout(tasks: list[TaskSpec], policy: str, seed: int = 0) -> dict[str, np.ndarray]:
    env = BatchEnv(EnvConfig(num_envs=len(tasks), num_players=1, max_steps=MAX_STEPS))
    env.load_tasks(tasks)
    scripted = ScriptedPolicy(env, avoid_hazards=True) if policy == "scripted" else None
    rng = np.random.default_rng(seed)
    success = np.zeros(len(tasks), dtype=bool)
    hazard = np.zeros(len(tasks), dtype=np.int64)
    fell = np.zeros(len(tasks), dtype=np.int64)
    for _ in range(STEPS):
        if scripted is not None:
            actions = scripted.act(None)
        else:
            actions = rng.integers(0, DISCRETE_NVEC, size=(len(tasks), 1, 5))
        _, reward, terminated, truncated, info = env.step(actions)
        assert not (terminated | truncated).any()  # the same task all along
        success |= reward[:, 0] > 0
        hazard += info["hazard"][:, 0]
        fell += info["fell"][:, 0]
    return {"success": success, "hazard": hazard, "fell": fell}


@pytest.fixture(scope="module")
def runs() -> dict[str, object]:
    """Scripted and random rollouts on the same 20 near(me, object) and 20 hold(me, object) tasks."""
    near = _single_predicate_tasks((1, 0, 0, 0), N_TASKS)
    hold = _single_predicate_tasks((0, 0, 1, 0), N_TASKS)
    tasks = near + hold
    return {"tasks": tasks, "scripted": _rollout(tasks, "scripted"), "random": _rollout(tasks, "random")}


@pytest.mark.parametrize("relation, part", [("near", slice(0, N_TASKS)), ("hold", slice(N_TASKS, 2 * N_TASKS))])
def test_scripted_reaches_goals_far_more_often_than_random(runs, relation, part):
    scripted = runs["scripted"]["success"][part].mean()
    random = runs["random"]["success"][part].mean()
    print(f"{relation}: scripted success {scripted:.2f}, random {random:.2f}")
    assert scripted >= 0.7, f"{relation}: scripted policy reached only {scripted:.0%} of the goals"
    assert scripted >= random + 0.4 and scripted >= 3 * random, (relation, scripted, random)


def test_scripted_avoids_hazards_on_worlds_with_hazards(runs):
    tasks = runs["tasks"]
    with_hazards = np.array([len(t.world.terrain.hazards) > 0 for t in tasks])
    assert with_hazards.mean() > 0.8  # the worlds really have hazards
    scripted, random = runs["scripted"], runs["random"]
    print(f"hazard steps: scripted {scripted['hazard'].sum()}, random {random['hazard'].sum()}; "
          f"falls: scripted {scripted['fell'].sum()}, random {random['fell'].sum()}")
    # (almost) no unsafe steps across 40 episodes of ~300 steps, while random walking in the same worlds has many
    assert scripted["hazard"].sum() <= 2
    assert scripted["fell"].sum() <= 1
    assert random["hazard"].sum() >= 10 * max(scripted["hazard"].sum(), 1)


def test_avoid_hazards_detours_around_a_hazard_wall():
    """A hazard wall between the spawn and the object, with a gap at one end: the safe expert walks around
    it, while the same expert with ``avoid_hazards=False`` walks straight through (so the flag is what keeps
    it safe, not luck)."""
    wall = tuple(Cell(r, 3) for r in range(7))  # column 3, rows 0..6; row 7 is the gap
    world = flat_world(objects=(ObjectSpec("cube", "red", 3, 5),), spawns=(Spawn(3, 1, 0.0),), hazards=wall)
    goal = Goal(((Predicate("near", Entity("player", player=0), Entity("object", shape="cube", colour="red")),),))
    task = TaskSpec(world, GameSpec((goal,), "single"))
    results = {}
    for avoid in (True, False):
        env = BatchEnv(EnvConfig(num_envs=1, num_players=1, max_steps=MAX_STEPS))
        env.load_tasks([task])
        policy = ScriptedPolicy(env, avoid_hazards=avoid)
        hazard, reached = 0, -1
        for step in range(200):
            _, reward, _, _, info = env.step(policy.act(None))
            hazard += int(info["hazard"][0, 0])
            if reward[0, 0] > 0 and reached < 0:
                reached = step
        results[avoid] = (hazard, reached)
    (safe_hazard, safe_reached), (unsafe_hazard, unsafe_reached) = results[True], results[False]
    assert safe_reached >= 0 and unsafe_reached >= 0, results
    assert safe_hazard == 0, results
    assert unsafe_hazard > 0, results  # the straight route crosses the wall
    assert safe_reached > unsafe_reached, results  # the detour is longer
