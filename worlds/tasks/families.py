"""Task families registered by name: what ``--family`` selects in the trainers, evaluations and benchmarks.

Two kinds of family:

- *ego* families ("near", "hold"): one player, one predicate about the player and one object of a generated
  world — "go near the yellow sphere", "hold the red cube". The object is drawn from the seed, 2 to 4 tiles
  from the spawn: never within reach at the start, and findable within an episode.
- *generator* families ("single", "solo", "duo"): ``worlds.tasks.game.generate_task`` with a family config.

Every family has a training split and a held-out split (``worlds.tasks.game.is_held_out`` on the task id); samplers
redraw deterministically until the task is in the split asked for, so training never sees a held-out task.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np

from worlds.tasks.game import (
    GameSpec,
    Goal,
    Predicate,
    TaskGenConfig,
    TaskSpec,
    is_held_out,
    object_ref,
    player_ref,
    sample_held_out_task,
    sample_training_task,
    task_id,
)
from worlds.tasks.generator import WorldGenConfig, generate_world

#: Small worlds with few objects: the families an agent learns first.
SMALL_WORLD = WorldGenConfig(
    rows=(8, 9), cols=(8, 9), plateaus=(0, 1), high_plateaus=(0, 0), hazard_fraction=(0.0, 0.04), objects=(2, 4),
    players=(1, 1),
)  # fmt: skip

#: Generator families: name -> task generator config.
GENERATOR_FAMILIES: dict[str, TaskGenConfig] = {
    "single": TaskGenConfig(
        world=SMALL_WORLD, min_players=1, max_players=1, max_options=1, max_predicates=1, negation_prob=0.0
    ),
    "solo": TaskGenConfig(min_players=1, max_players=1),
    "duo": TaskGenConfig(min_players=2, max_players=2),
}
#: Ego families: name -> relation of the one predicate (player 0, an object).
EGO_FAMILIES: dict[str, Literal["near", "hold"]] = {"near": "near", "hold": "hold"}
FAMILIES: tuple[str, ...] = tuple(EGO_FAMILIES) + tuple(GENERATOR_FAMILIES)


def check_family(name: str) -> None:
    """An unknown family name is an error that lists the known ones."""
    if name not in FAMILIES:
        raise ValueError(f"family={name!r} is not a registered task family; known: {list(FAMILIES)}")


def family_players(name: str) -> int:
    """Player slots a family's tasks need."""
    check_family(name)
    return GENERATOR_FAMILIES[name].max_players if name in GENERATOR_FAMILIES else 1


#: Tile distance (Manhattan) between the spawn and the target object of an ego task: never within reach at
#: the start, and close enough that a first agent finds it within an episode.
EGO_DISTANCE = (2, 4)


def _ego_task(relation: Literal["near", "hold"], seed: int, world_config: WorldGenConfig) -> TaskSpec:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    low, high = EGO_DISTANCE
    for attempt in range(100):
        world = generate_world(int(rng.integers(0, 2**62)), world_config)
        spawn = world.spawns[0]
        candidates = [
            o for o in world.objects
            if (o.movable or relation == "near") and low <= abs(o.row - spawn.row) + abs(o.col - spawn.col) <= high
        ]  # fmt: skip
        if candidates:
            target = candidates[int(rng.integers(len(candidates)))]
            goal = Goal(((Predicate(relation, player_ref(0), object_ref(target.shape, target.colour)),),))
            return TaskSpec(world, GameSpec((goal,), "single"))
    raise RuntimeError(f"no world with a suitable object for family {relation!r} in 100 draws from seed {seed}")


def sample_family_task(family: str, seed: int, held_out: bool = False) -> TaskSpec:
    """The task of ``seed`` in ``family``'s training split (or held-out split)."""
    check_family(family)
    if family in GENERATOR_FAMILIES:
        config = GENERATOR_FAMILIES[family]
        return sample_held_out_task(seed, config) if held_out else sample_training_task(seed, config)
    relation = EGO_FAMILIES[family]
    task = _ego_task(relation, seed, SMALL_WORLD)
    k = 0
    while is_held_out(task_id(task)) != held_out:
        k += 1
        task = _ego_task(relation, int(np.random.SeedSequence([seed, 11, k]).generate_state(1)[0]), SMALL_WORLD)
    return task


@dataclass(frozen=True)
class FamilySampler:
    """A picklable task sampler (``seed -> TaskSpec``) for ``BatchEnv``: one family, one split."""

    family: str = "near"
    """Registered family name."""
    held_out: bool = False
    """Draw from the held-out split (evaluation) instead of the training split."""

    def __post_init__(self) -> None:
        check_family(self.family)

    def __call__(self, seed: int) -> TaskSpec:
        return sample_family_task(self.family, seed, self.held_out)

    def evaluation(self) -> "FamilySampler":
        return dataclasses.replace(self, held_out=True)
