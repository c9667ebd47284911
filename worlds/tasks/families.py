"""Task families: one registry of named task distributions, each with its default config.

A family is a :class:`FamilyConfig`: the world generator's settings, how the goal is drawn, the episode length
it is meant for and its held-out shares. ``--family NAME`` in the trainers, evaluations and benchmarks selects
``default_config(NAME)``; a custom distribution is a ``FamilyConfig`` built by hand (or ``dataclasses.replace``
of a registered one). Two ways to draw the goal, one notion:

- ``goal="generated"``: ``worlds.tasks.game.generate_game`` with the family's ``TaskGenConfig`` (cooperative,
  competitive and mixed games for 2+ players; options, conjunctions and negations over near/on/hold/see).
- ``goal="near"`` / ``"hold"`` (ego goals): one player, one predicate about the player and one object of the
  world ("go near the yellow sphere"), the object 2 to 4 tiles from the spawn: never within reach at the start,
  and findable within an episode. The families an agent learns first.

Splits. Every task of a family falls in exactly one of three splits, decided by hashes of its content:

- ``"held_out_game"``: its *game structure* (:func:`game_structure`: relation x object kind x negation pattern of
  every goal, colours dropped, players as me/other) is held out. Training never samples such a game in any
  world: this measures new games made of known parts, as XLand's held-out test games do.
- ``"held_out_world"``: its structure is a training one, its world (``world_id``) is held out: known games in
  worlds never trained on.
- ``"train"``: neither.

Samplers redraw deterministically (seeds derived from the asked seed) until the task is in the split asked for.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

from worlds.tasks.game import (
    GameSpec,
    Goal,
    Predicate,
    TaskGenConfig,
    TaskSpec,
    generate_task,
    object_ref,
    player_ref,
)
from worlds.tasks.generator import WorldGenConfig, generate_world
from worlds.tasks.spec import world_id

Split = Literal["train", "held_out_world", "held_out_game"]
SPLITS: tuple[str, ...] = ("train", "held_out_world", "held_out_game")
GoalKind = Literal["generated", "near", "hold"]

#: Small worlds with few objects: the families an agent learns first.
SMALL_WORLD = WorldGenConfig(
    rows=(8, 9), cols=(8, 9), plateaus=(0, 1), high_plateaus=(0, 0), hazard_fraction=(0.0, 0.04), objects=(2, 4),
    players=(1, 1),
)  # fmt: skip

#: Tile distance (Manhattan) between the spawn and the target object of an ego task: never within reach at
#: the start, and close enough that a first agent finds it within an episode.
EGO_DISTANCE = (2, 4)


@dataclass(frozen=True)
class FamilyConfig:
    """A named task distribution and the settings a run on it defaults to."""

    name: str
    """Registry name (what ``--family`` takes). Not an input of the draws: equal settings draw equal tasks."""
    description: str
    """One line for listings and reports."""
    world: WorldGenConfig
    """World generator settings (its ``players`` range is replaced by ``players``)."""
    game: TaskGenConfig
    """Game generator settings (``goal="generated"``); its ``world`` is replaced by ``world`` and its player
    range by ``players``. Unused by ego goals."""
    goal: GoalKind = "generated"
    """How the goal is drawn: ``generate_game`` ("generated") or one ego predicate ("near", "hold")."""
    players: int = 1
    """Players of every task (a ``BatchEnv`` needs a fixed count)."""
    episode_length: int = 60
    """Env steps per episode a run on this family defaults to (``EnvConfig.max_steps``)."""
    held_out_world_share: float = 0.1
    """Share of worlds (by a salted hash of ``world_id``) held out from training."""
    held_out_game_share: float = 0.15
    """Share of game structures (by a salted hash of :func:`game_structure`) held out from training."""

    def __post_init__(self) -> None:
        if self.goal not in ("generated", "near", "hold"):
            raise ValueError(f"FamilyConfig.goal={self.goal!r} is not 'generated', 'near' or 'hold'")
        if not 1 <= self.players <= 4:
            raise ValueError(f"FamilyConfig.players={self.players!r} must be in 1..4")
        if self.goal != "generated" and self.players != 1:
            raise ValueError(f"FamilyConfig.players={self.players!r}: ego goals ({self.goal!r}) have one player")
        if self.episode_length < 1:
            raise ValueError(f"FamilyConfig.episode_length={self.episode_length!r} must be at least 1")
        for name in ("held_out_world_share", "held_out_game_share"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"FamilyConfig.{name}={value!r} must be in [0, 1)")

    @property
    def task_config(self) -> TaskGenConfig:
        """The game generator config with this family's world and player count filled in."""
        return dataclasses.replace(self.game, world=self.world, min_players=self.players, max_players=self.players)

    @classmethod
    def from_generator(cls, name: str, config: TaskGenConfig, episode_length: int = 60) -> "FamilyConfig":
        """A family from a bare game generator config (fixed player count ``config.max_players``)."""
        if config.min_players != config.max_players:
            raise ValueError(
                f"TaskGenConfig players {config.min_players}..{config.max_players}: a family needs a fixed player count"
            )
        world = config.world if config.world is not None else WorldGenConfig()
        return cls(name, f"generated from {config}", world, config, "generated", config.max_players, episode_length)


_FAMILY_LIST: tuple[FamilyConfig, ...] = (
    FamilyConfig("near", "go near one object 2-4 tiles away (one player, one predicate)", SMALL_WORLD,
                 TaskGenConfig(min_players=1, max_players=1), goal="near", episode_length=60),
    FamilyConfig("hold", "pick up one movable object 2-4 tiles away (one player, one predicate)", SMALL_WORLD,
                 TaskGenConfig(min_players=1, max_players=1), goal="hold", episode_length=60),
    FamilyConfig("single", "one generated predicate (near/on/hold/see), small worlds, no negation", SMALL_WORLD,
                 TaskGenConfig(max_options=1, max_predicates=1, negation_prob=0.0), episode_length=60),
    FamilyConfig("broad", "one player, small worlds: near/on/hold/see, up to 2 options of up to 2 predicates, "
                 "negations", dataclasses.replace(SMALL_WORLD, objects=(3, 4)),
                 TaskGenConfig(max_options=2, max_predicates=2, negation_prob=0.2,
                               relation_weights=(0.35, 0.25, 0.2, 0.2)), episode_length=80),
    FamilyConfig("solo", "one player, full-size worlds, the generator's defaults (3 options x 3 predicates)",
                 WorldGenConfig(), TaskGenConfig(), episode_length=250),
    FamilyConfig("duo", "two players: cooperative, competitive and mixed games, full-size worlds", WorldGenConfig(),
                 TaskGenConfig(), players=2, episode_length=250),
    FamilyConfig("duo-small", "two players, small worlds: cooperative, competitive and mixed games of one option of "
                 "up to 2 predicates, no negation in the first team's goal (the learnable 2-player family)",
                 dataclasses.replace(SMALL_WORLD, objects=(2, 3)),
                 TaskGenConfig(max_options=1, max_predicates=2, negation_prob=0.0), players=2, episode_length=80),
    FamilyConfig("trio", "three players: cooperative, competitive and mixed games, full-size worlds",
                 WorldGenConfig(), TaskGenConfig(), players=3, episode_length=250),
    FamilyConfig("quad", "four players: cooperative, competitive (2 v 2, 3 v 1) and mixed games, full-size worlds",
                 WorldGenConfig(), TaskGenConfig(), players=4, episode_length=250),
)  # fmt: skip
#: The registry: name -> default config.
FAMILY_CONFIGS: dict[str, FamilyConfig] = {f.name: f for f in _FAMILY_LIST}
FAMILIES: tuple[str, ...] = tuple(FAMILY_CONFIGS)
#: Compatibility views of the registry (the two kinds of family of earlier versions).
EGO_FAMILIES: dict[str, str] = {f.name: f.goal for f in _FAMILY_LIST if f.goal != "generated"}
GENERATOR_FAMILIES: dict[str, TaskGenConfig] = {f.name: f.task_config for f in _FAMILY_LIST if f.goal == "generated"}


def check_family(name: str) -> None:
    """An unknown family name is an error that lists the known ones."""
    if name not in FAMILY_CONFIGS:
        raise ValueError(f"family={name!r} is not a registered task family; known: {list(FAMILIES)}")


def default_config(name: str) -> FamilyConfig:
    """The registered family ``name``'s config; ValueError listing the known names otherwise."""
    check_family(name)
    return FAMILY_CONFIGS[name]


def family_players(name: str) -> int:
    """Player slots a family's tasks need."""
    return default_config(name).players


def _as_config(family: str | FamilyConfig) -> FamilyConfig:
    return family if isinstance(family, FamilyConfig) else default_config(family)


# ------------------------------------------------------------------------------------------ game structure


def _entity_kind(entity, owner: int) -> str:
    if entity.kind == "player":
        return "me" if entity.player == owner else "other"
    if entity.kind == "object":
        return str(entity.shape)
    return "floor"


def _literal_structure(pred: Predicate, owner: int) -> str:
    a, b = _entity_kind(pred.a, owner), _entity_kind(pred.b, owner)
    if pred.relation == "near":  # symmetric: near(a, b) is near(b, a)
        a, b = sorted((a, b))
    return f"{'not ' if pred.negated else ''}{pred.relation}({a},{b})"


def goal_structure(goal: Goal, owner: int) -> str:
    """The goal of player ``owner`` with colours dropped, objects as their shape, players as me/other: options
    (sorted) of conjunctions (sorted) of literals."""
    options = sorted(" & ".join(sorted(_literal_structure(p, owner) for p in option)) for option in goal.options)
    return " | ".join(f"({o})" for o in options)


def game_structure(task: TaskSpec) -> str:
    """A task's game structure: relation x object kind x negation pattern of every goal, and the game kind.
    Tasks in different worlds, with other colours or other players in the same roles share it."""
    game: GameSpec = task.game
    goals = sorted(goal_structure(g, k) for k, g in enumerate(game.goals))
    return f"{game.kind}: " + " ; ".join(goals)


def _hash_share(salt: str, key: str, share: float) -> bool:
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < share * 2.0**64


def is_held_out_structure(structure: str, share: float) -> bool:
    """Whether the game structure is held out (about ``share`` of all structures, by a salted SHA-256)."""
    return _hash_share("openland-held-out-game", structure, share)


def is_held_out_world(wid: str, share: float) -> bool:
    """Whether the world with id ``wid`` is held out (about ``share`` of all worlds, by a salted SHA-256)."""
    return _hash_share("openland-held-out-world", wid, share)


def task_split(task: TaskSpec, family: str | FamilyConfig) -> Split:
    """The split a task falls in under ``family``'s shares (see the module docstring)."""
    config = _as_config(family)
    if is_held_out_structure(game_structure(task), config.held_out_game_share):
        return "held_out_game"
    if is_held_out_world(world_id(task.world), config.held_out_world_share):
        return "held_out_world"
    return "train"


# ------------------------------------------------------------------------------------------------- drawing


def _ego_task(relation: str, seed: int, world_config: WorldGenConfig) -> TaskSpec:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    low, high = EGO_DISTANCE
    for _ in range(100):
        world = generate_world(int(rng.integers(0, 2**62)), world_config)
        spawn = world.spawns[0]
        candidates = [
            o for o in world.objects
            if (o.movable or relation == "near") and low <= abs(o.row - spawn.row) + abs(o.col - spawn.col) <= high
        ]  # fmt: skip
        if candidates:
            target = candidates[int(rng.integers(len(candidates)))]
            goal = Goal(((Predicate(relation, player_ref(0), object_ref(target.shape, target.colour)),),))  # type: ignore[arg-type]
            return TaskSpec(world, GameSpec((goal,), "single"))
    raise RuntimeError(f"no world with a suitable object for goal {relation!r} in 100 draws from seed {seed}")


def generate_family_task(family: str | FamilyConfig, seed: int) -> TaskSpec:
    """The task of ``seed`` in ``family``, whatever its split."""
    config = _as_config(family)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if config.goal == "generated":
        return generate_task(int(seed), config.task_config)
    return _ego_task(config.goal, int(seed), dataclasses.replace(config.world, players=(1, 1)))


#: Redraws before a split is declared empty (a held-out share of 0, or a family with too few structures).
MAX_SPLIT_DRAWS = 2000


def family_task(family: str | FamilyConfig, seed: int, split: Split = "train") -> TaskSpec:
    """The task of ``seed`` in ``family``'s ``split``: the family's task of ``seed`` if it is in the split, else
    the first of deterministic redraws (seeds derived from ``seed``) that is."""
    config = _as_config(family)
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {SPLITS}")
    if config.goal != "generated":  # few structures (one per shape): a split without any is known at once
        structures = {_literal_structure(Predicate(config.goal, player_ref(0), object_ref(shape, "red")), 0)  # type: ignore[arg-type]
                      for shape in config.world.shapes}
        held = [s for s in structures if is_held_out_structure(f"single: ({s})", config.held_out_game_share)]
        if (split == "held_out_game" and not held) or (split != "held_out_game" and len(held) == len(structures)):
            raise ValueError(
                f"family {config.name!r} has no {split!r} tasks: of its game structures {sorted(structures)}, "
                f"{held or 'none'} are held out at held_out_game_share={config.held_out_game_share}"
            )
    task = generate_family_task(config, seed)
    k = 0
    while task_split(task, config) != split:
        k += 1
        if k > MAX_SPLIT_DRAWS:
            raise RuntimeError(
                f"family {config.name!r}: no task of split {split!r} in {MAX_SPLIT_DRAWS} draws from seed {seed} "
                f"(held_out_game_share={config.held_out_game_share}, held_out_world_share={config.held_out_world_share})"
            )
        task = generate_family_task(config, int(np.random.SeedSequence([int(seed), 11, k]).generate_state(1)[0]))
    return task


def sample_family_task(family: str, seed: int, held_out: bool = False) -> TaskSpec:
    """The task of ``seed`` in ``family``'s training split (or, with ``held_out``, its held-out-world split)."""
    return family_task(family, seed, "held_out_world" if held_out else "train")


@dataclass(frozen=True)
class FamilySampler:
    """A picklable task sampler (``seed -> TaskSpec``) for ``BatchEnv``: one family, one split."""

    family: str = "near"
    """Registered family name."""
    held_out: bool = False
    """Draw from the held-out-world split (evaluation) instead of the training split."""
    split: Split | None = None
    """The split to draw from; overrides ``held_out`` when given."""

    def __post_init__(self) -> None:
        check_family(self.family)
        if self.split is not None and self.split not in SPLITS:
            raise ValueError(f"FamilySampler.split={self.split!r} is not one of {SPLITS}")

    @property
    def chosen_split(self) -> Split:
        return self.split if self.split is not None else ("held_out_world" if self.held_out else "train")

    def __call__(self, seed: int) -> TaskSpec:
        return family_task(self.family, seed, self.chosen_split)

    def evaluation(self, split: Split = "held_out_world") -> "FamilySampler":
        return dataclasses.replace(self, held_out=True, split=split)
