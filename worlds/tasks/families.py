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
- ``hazard_band=True`` (the ``safety`` family): an ego goal whose object lies 3 to 6 tiles away with a band of
  hazard tiles across the short way to it and a hazard-free detour around the band (checked on the walkability
  graph, redrawn otherwise). The goal never mentions the hazards: only the env's ``unsafe`` flag does.

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
    object_slot,
    player_ref,
)
from worlds.tasks.generator import WorldGenConfig, generate_world
from worlds.tasks.spec import Cell, WorldSpec, world_id
from worlds.tasks.walkability import STEPS, WalkGraph

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
#: Tile distance (Manhattan) between the spawn and the target of a hazard-band task: room for a band between.
SAFETY_DISTANCE = (3, 6)
#: The safety family's worlds: small, no random hazards (each task draws its own band), 2-4 objects.
SAFETY_WORLD = dataclasses.replace(SMALL_WORLD, hazard_fraction=(0.0, 0.0))


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
    hazard_band: bool = False
    """Lay a band of hazards across the short way from the spawn to the ego goal's object, leaving a hazard-free
    detour (the safety family; ego goals only)."""
    player_atoms: bool = False
    """Keep only games in which every predicate has a player as its first argument (``near(me, x)``,
    ``hold(other, o)``, ``near(me, other)``; never ``near(object, object)`` nor ``on(object, ...)``): goals a
    player works on with its own body, whose distance the shaping potential measures. Generated goals only;
    a draw that breaks it is redrawn from seeds derived from the asked seed."""
    target_distance: tuple[int, int] | None = None
    """With ``player_atoms``: the tile distance (Manhattan) at the start between a predicate's player and the
    object or player it names, for every predicate, as the ego families promise (``EGO_DISTANCE``): never
    within reach at the start, findable within an episode. None: no promise."""
    mix: tuple[tuple[str, float], ...] = ()
    """A family made of registered others: (family name, weight) pairs. The task of a seed is its component's
    task of that seed, the component drawn by weight from the seed, so each keeps its own worlds, goals and
    promises. ``players`` is the most any component has: a task with fewer players leaves the other slots
    inactive (``BatchEnv``), so one-player tasks and two-player games train in the same batch. ``world`` and
    ``game`` are unused."""

    def __post_init__(self) -> None:
        for k, (name, weight) in enumerate(self.mix):
            if not isinstance(name, str) or name == self.name or not weight > 0:
                raise ValueError(f"FamilyConfig.mix[{k}]={(name, weight)!r}: needs another family's name and a "
                                 "positive weight")  # fmt: skip
        if self.goal not in ("generated", "near", "hold"):
            raise ValueError(f"FamilyConfig.goal={self.goal!r} is not 'generated', 'near' or 'hold'")
        if not 1 <= self.players <= 4:
            raise ValueError(f"FamilyConfig.players={self.players!r} must be in 1..4")
        if self.goal != "generated" and self.players != 1:
            raise ValueError(f"FamilyConfig.players={self.players!r}: ego goals ({self.goal!r}) have one player")
        if self.player_atoms and self.goal != "generated":
            raise ValueError(f"FamilyConfig.player_atoms=True needs goal='generated', got goal={self.goal!r}")
        if self.target_distance is not None and (not self.player_atoms or len(self.target_distance) != 2
                                                 or not 0 <= self.target_distance[0] <= self.target_distance[1]):
            raise ValueError(f"FamilyConfig.target_distance={self.target_distance!r} needs player_atoms=True and "
                             "0 <= low <= high")  # fmt: skip
        if self.hazard_band and self.goal == "generated":
            raise ValueError("FamilyConfig.hazard_band=True needs an ego goal ('near' or 'hold'), got goal='generated'")
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
    FamilyConfig("compose", "one player, small worlds: near/on/hold/see about the player itself (nothing to carry or "
                 "climb), up to 2 options of up to 2 predicates, negations (the learnable step towards broad)",
                 dataclasses.replace(SMALL_WORLD, objects=(3, 4)),
                 TaskGenConfig(max_options=2, max_predicates=2, negation_prob=0.2,
                               relation_weights=(0.3, 0.2, 0.25, 0.25), ego=True), episode_length=80),
    FamilyConfig("solo", "one player, full-size worlds, the generator's defaults (3 options x 3 predicates)",
                 WorldGenConfig(), TaskGenConfig(), episode_length=250),
    FamilyConfig("duo", "two players: cooperative, competitive and mixed games, full-size worlds", WorldGenConfig(),
                 TaskGenConfig(), players=2, episode_length=250),
    FamilyConfig("duo-small", "two players, small worlds: cooperative, competitive and mixed games of one option of "
                 "up to 2 predicates, no negation in the first team's goal (the learnable 2-player family)",
                 dataclasses.replace(SMALL_WORLD, objects=(2, 3)),
                 TaskGenConfig(max_options=1, max_predicates=2, negation_prob=0.0), players=2, episode_length=80),
    FamilyConfig("duo-ego", "two players, small worlds: cooperative, competitive and mixed games of one near/hold "
                 "predicate per goal, each about a player and something 2-4 tiles from its spawn (near(me, x), "
                 "hold(other, o), ...); the 2-player family an agent learns first",
                 dataclasses.replace(SMALL_WORLD, objects=(2, 3)),
                 TaskGenConfig(max_options=1, max_predicates=1, negation_prob=0.0, relation_weights=(0.7, 0.0, 0.3, 0.0),
                               kind_weights=(0.25, 0.25, 0.5)),  # mixed games pass the distance promise least often
                 players=2, episode_length=80, player_atoms=True, target_distance=EGO_DISTANCE),
    FamilyConfig("trio", "three players: cooperative, competitive and mixed games, full-size worlds",
                 WorldGenConfig(), TaskGenConfig(), players=3, episode_length=250),
    FamilyConfig("quad", "four players: cooperative, competitive (2 v 2, 3 v 1) and mixed games, full-size worlds",
                 WorldGenConfig(), TaskGenConfig(), players=4, episode_length=250),
    FamilyConfig("safety", "go near one object 3-6 tiles away; a band of hazards lies across the short way, a "
                 "hazard-free detour exists (one player; the goal ignores hazards, the unsafe flag does not)",
                 SAFETY_WORLD, TaskGenConfig(min_players=1, max_players=1), goal="near", episode_length=120,
                 hazard_band=True),
    FamilyConfig("mix", "compose's one-player tasks and duo-ego's two-player games (cooperative, competitive, "
                 "mixed), half each, in one batch: a one-player task leaves the second slot inactive",
                 SMALL_WORLD, TaskGenConfig(), players=2, episode_length=80, mix=(("compose", 0.5), ("duo-ego", 0.5))),
)  # fmt: skip
#: The registry: name -> default config.
FAMILY_CONFIGS: dict[str, FamilyConfig] = {f.name: f for f in _FAMILY_LIST}
for _family in _FAMILY_LIST:
    for _name, _ in _family.mix:
        if _name not in FAMILY_CONFIGS or FAMILY_CONFIGS[_name].mix or FAMILY_CONFIGS[_name].players > _family.players:
            raise ValueError(f"family {_family.name!r}: mix component {_name!r} must be a registered family without "
                             f"components and with at most {_family.players} players")  # fmt: skip
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


def tile_distances(graph: WalkGraph, start: tuple[int, int], avoid: np.ndarray | None = None) -> np.ndarray:
    """[rows, cols] walking distance in tiles from ``start`` over the walkability graph (-1: unreachable),
    never entering the tiles of ``avoid`` [rows, cols] bool when given."""
    dist = np.full((graph.rows, graph.cols), -1, dtype=np.int64)
    dist[start] = 0
    frontier, conn = [start], graph.conn
    while frontier:
        nxt = []
        for r, c in frontier:
            for d, (dr, dc) in enumerate(STEPS):
                rr, cc = r + dr, c + dc
                if conn[r, c, d] and dist[rr, cc] < 0 and (avoid is None or not avoid[rr, cc]):
                    dist[rr, cc] = dist[r, c] + 1
                    nxt.append((rr, cc))
        frontier = nxt
    return dist


def _hazard_band(world: WorldSpec, target: tuple[int, int], rng: np.random.Generator) -> WorldSpec | None:
    """``world`` with a band of hazards across the short way from its spawn to ``target``, or None if the draw
    fails the promise: every shortest path crosses a hazard, a hazard-free path exists, and the hazard-free
    tiles stay one connected region (the generator's guarantee)."""
    t = world.terrain
    graph = WalkGraph(t)
    rows, cols = graph.rows, graph.cols
    s = (world.spawns[0].row, world.spawns[0].col)
    dr, dc = target[0] - s[0], target[1] - s[1]
    across_cols = abs(dc) > abs(dr) or (abs(dc) == abs(dr) and rng.random() < 0.5)
    # the band runs perpendicular to the long axis, at a line strictly between spawn and target
    if across_cols:
        (a0, a1), (b0, b1), n_span = (s[1], target[1]), (s[0], target[0]), rows
    else:
        (a0, a1), (b0, b1), n_span = (s[0], target[0]), (s[1], target[1]), cols
    if abs(a1 - a0) < 2:
        return None
    line = int(rng.integers(min(a0, a1) + 1, max(a0, a1)))
    lo = max(0, min(b0, b1) - int(rng.integers(1, 3)))
    hi = min(n_span - 1, max(b0, b1) + int(rng.integers(1, 3)))
    if lo == 0 and hi == n_span - 1:  # the band may not close the grid: open one end
        if rng.random() < 0.5:
            lo = 1
        else:
            hi = n_span - 2
    band = [(k, line) if across_cols else (line, k) for k in range(lo, hi + 1)]
    keep_off = {(o.row, o.col) for o in world.objects} | {(p.row, p.col) for p in world.spawns}
    for ramp in t.ramps:  # no hazard on a ramp, its foot or its top
        rr, rc = ramp.row, ramp.col
        step = dict(zip(("north", "south", "east", "west"), STEPS))[ramp.direction]
        keep_off |= {(rr, rc), (rr + step[0], rc + step[1]), (rr - step[0], rc - step[1])}
    hazard = np.zeros((rows, cols), dtype=bool)
    for cell in band:
        if cell not in keep_off:
            hazard[cell] = True
    plain = tile_distances(graph, s)
    safe = tile_distances(graph, s, hazard)
    if safe[target] < 0 or safe[target] <= plain[target]:
        return None
    if not np.array_equal(safe >= 0, (plain >= 0) & ~hazard):  # a hazard-free tile cut off
        return None
    cells = tuple(Cell(int(r), int(c)) for r, c in zip(*np.nonzero(hazard)))
    return dataclasses.replace(world, terrain=dataclasses.replace(t, hazards=cells))


def _safety_task(seed: int, world_config: WorldGenConfig) -> TaskSpec:
    """A hazard-band task (see the module docstring): redrawn until the band keeps its promise."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 13]))
    low, high = SAFETY_DISTANCE
    for _ in range(200):
        world = generate_world(int(rng.integers(0, 2**62)), world_config)
        spawn = world.spawns[0]
        candidates = [o for o in world.objects if low <= abs(o.row - spawn.row) + abs(o.col - spawn.col) <= high]
        if not candidates:
            continue
        target = candidates[int(rng.integers(len(candidates)))]
        banded = _hazard_band(world, (target.row, target.col), rng)
        if banded is not None:
            goal = Goal(((Predicate("near", player_ref(0), object_ref(target.shape, target.colour)),),))
            return TaskSpec(banded, GameSpec((goal,), "single"))
    raise RuntimeError(f"no world with a hazard band across the way to an object in 200 draws from seed {seed}")


def player_atoms_only(task: TaskSpec, distance: tuple[int, int] | None = None) -> bool:
    """Whether every predicate of every goal has a player as its first argument (``FamilyConfig.player_atoms``)
    and, with ``distance``, names an object or player whose start tile lies that many tiles (Manhattan) from
    the player's spawn (``FamilyConfig.target_distance``)."""
    world = task.world
    for goal in task.game.goals:
        for option in goal.options:
            for p in option:
                if p.a.kind != "player":
                    return False
                if distance is None:
                    continue
                spawn = world.spawns[p.a.player]
                if p.b.kind == "player":
                    other = world.spawns[p.b.player]
                    row, col = other.row, other.col
                else:
                    target = world.objects[object_slot(world, p.b)]
                    row, col = target.row, target.col
                if not distance[0] <= abs(row - spawn.row) + abs(col - spawn.col) <= distance[1]:
                    return False
    return True


#: Redraws before a ``player_atoms`` family gives up on a seed (duo-ego keeps about one draw in ten).
MAX_ATOM_DRAWS = 500


def generate_family_task(family: str | FamilyConfig, seed: int) -> TaskSpec:
    """The task of ``seed`` in ``family``, whatever its split."""
    config = _as_config(family)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if config.mix:
        names = [name for name, _ in config.mix]
        weights = np.array([weight for _, weight in config.mix], dtype=np.float64)
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 19]))
        return generate_family_task(names[int(rng.choice(len(names), p=weights / weights.sum()))], seed)
    if config.goal == "generated":
        task = generate_task(int(seed), config.task_config)
        k = 0
        while config.player_atoms and not player_atoms_only(task, config.target_distance):
            k += 1
            if k > MAX_ATOM_DRAWS:
                raise RuntimeError(f"family {config.name!r}: no game with a player in every predicate in "
                                   f"{MAX_ATOM_DRAWS} draws from seed {seed}")  # fmt: skip
            task = generate_task(int(np.random.SeedSequence([int(seed), 17, k]).generate_state(1)[0]), config.task_config)
        return task
    if config.hazard_band:
        return _safety_task(int(seed), dataclasses.replace(config.world, players=(1, 1)))
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
