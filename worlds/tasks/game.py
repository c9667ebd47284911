"""Games: goals built from predicates, tasks (world + game), their JSON form, validation, generation, the
held-out split and XLand's game properties.

Entity references
-----------------
``Entity`` names a player, an object or a floor colour:

- ``Entity("player", player=i)``: the player with **absolute** index ``i`` in the task (spawn ``i`` of the
  world). A goal is a goal *of* one player, so "me" in a goal of player ``k`` is simply ``player=k``. Absolute
  indices make a shared goal exactly shared (identical goals give identical rewards) and make a competitive
  goal an exact negation; the agent's observation turns them into relative ids (1 = me, see
  :mod:`worlds.sim.predicates`).
- ``Entity("object", shape=s, colour=c)``: the object of that shape and colour; it must exist exactly once in
  the world (the generator keeps (shape, colour) pairs unique per world).
- ``Entity("floor", colour=c)``: any floor tile of that colour; the colour must occur in the world's floor.

Relations and the argument kinds they accept::

    near(a, b)  a, b in {player, object}, a != b     distance between the two centres < threshold
    on(a, b)    a in {player, object}, b in {floor, object}, a != b
                                                     a touches a floor tile of colour b / a rests on object b
    hold(a, b)  a player, b object                   player a holds object b
    see(a, b)   a player, b in {object, player}, a != b
                                                     b is visible to player a

A ``Goal`` is a disjunction (options) of conjunctions of predicates: 1..3 options of 1..3 predicates. A
``GameSpec`` has one goal per player (``len(goals) == len(world.spawns)``).

Static check (:func:`goal_problems`, :func:`task_problems`)
-----------------------------------------------------------
A *constraint model* of what the simulator allows, used to reject goals that are unsatisfiable or always true
*in principle*. Over the truth table of the goal's distinct atoms (positive predicates), a row is *consistent*
unless it makes one of these true:

- an impossible atom: ``hold(p, o)`` with ``o`` fixed; ``on(x, o)`` with ``o`` a sphere or a pyramid (nothing
  rests on them); ``on(o, y)`` with ``o`` fixed and ``y`` an object (fixed objects stand on the floor);
- a wrong constant: ``on(o, floor c)`` with ``o`` fixed is true exactly when the tile under ``o`` has colour
  ``c``;
- an exclusive pair: a player holds at most one object; an object is held by at most one player; an entity
  touches a floor of one colour at a time and rests on one object at a time; ``on(a, b)`` and ``on(b, a)``.

A goal passes when at least one consistent row satisfies it and at least one consistent row falsifies it, and
it mentions no ``near`` between two fixed objects (a constant whose value depends on the compiler's sizes).
This is necessary, not sufficient: a goal that passes can still be unreachable in a particular world (a tile
nobody can reach, an object always hidden behind a wall). Every generated task passes; on top of that the
generator guarantees by game kind (over XLand's unconstrained truth table, :func:`game_properties`):
cooperative -> cooperativeness 1 (all players have the same goal); competitive -> two non-empty teams, the
second team's goal is the DNF of the negation of the first's, so competitiveness is 1 and cooperativeness 0;
mixed -> 0 < cooperativeness < 1; single -> one player.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np

from worlds.tasks.codec import SpecError, content_id, from_json, to_json
from worlds.tasks.spec import COLOURS, MAX_OBJECTS, MAX_PLAYERS, SHAPES, ObjectSpec, Shape, WorldSpec

if TYPE_CHECKING:  # the generator is another module's; imported lazily where needed
    from worlds.tasks.generator import WorldGenConfig

RELATIONS: tuple[str, ...] = ("near", "on", "hold", "see")
ENTITY_KINDS: tuple[str, ...] = ("player", "object", "floor")
GAME_KINDS: tuple[str, ...] = ("cooperative", "competitive", "mixed", "single")
MAX_OPTIONS = 3
MAX_PREDICATES = 3
#: Shapes nothing can rest on (``on(x, o)`` is impossible when ``o`` has one of these shapes).
NON_SUPPORTING_SHAPES: frozenset[str] = frozenset({"sphere", "pyramid"})
#: Share of all tasks that is held out from training (by a hash of the task id).
HELD_OUT_SHARE = 0.1

#: The argument kinds each relation accepts: (kinds of a, kinds of b).
RELATION_ARGS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "near": (frozenset({"player", "object"}), frozenset({"player", "object"})),
    "on": (frozenset({"player", "object"}), frozenset({"floor", "object"})),
    "hold": (frozenset({"player"}), frozenset({"object"})),
    "see": (frozenset({"player"}), frozenset({"object", "player"})),
}

Relation = Literal["near", "on", "hold", "see"]
EntityKind = Literal["player", "object", "floor"]
GameKind = Literal["cooperative", "competitive", "mixed", "single"]


@dataclass(frozen=True)
class Entity:
    """A reference to a player (absolute index ``player``), an object (``shape`` and ``colour``) or a floor
    colour (``colour``). Fields a kind does not use must be null."""

    kind: EntityKind
    player: int | None = None
    shape: Shape | None = None
    colour: str | None = None

    def __str__(self) -> str:
        if self.kind == "player":
            return f"player{self.player}"
        if self.kind == "object":
            return f"{self.colour} {self.shape}"
        return f"{self.colour} floor"


def _entity_key(e: Entity) -> tuple:
    colours = list(COLOURS)
    return (
        ENTITY_KINDS.index(e.kind) if e.kind in ENTITY_KINDS else 9,
        e.player if isinstance(e.player, int) else -1,
        SHAPES.index(e.shape) if e.shape in SHAPES else -1,
        colours.index(e.colour) if e.colour in colours else -1,
        str(e.kind), str(e.player), str(e.shape), str(e.colour),
    )


def player_ref(index: int) -> Entity:
    """The player with absolute index ``index``."""
    return Entity("player", player=index)


def object_ref(shape: str, colour: str) -> Entity:
    """The object of this shape and colour."""
    return Entity("object", shape=shape, colour=colour)  # type: ignore[arg-type]


def floor_ref(colour: str) -> Entity:
    """Any floor tile of this colour."""
    return Entity("floor", colour=colour)


@dataclass(frozen=True)
class Predicate:
    """``relation(a, b)``, or its negation when ``negated``."""

    relation: Relation
    a: Entity
    b: Entity
    negated: bool = False

    def atom(self) -> "Predicate":
        """The positive predicate of this literal, canonical: ``near`` is symmetric, so its arguments are put
        in a fixed order (near(a, b) and near(b, a) are one atom)."""
        a, b = self.a, self.b
        if self.relation == "near" and _entity_key(b) < _entity_key(a):
            a, b = b, a
        if not self.negated and a is self.a:
            return self
        return Predicate(self.relation, a, b, False)

    def key(self) -> tuple["Predicate", bool]:
        """Identity of the literal up to argument order of ``near``: (atom, negated)."""
        return self.atom(), self.negated

    def negate(self) -> "Predicate":
        return dataclasses.replace(self, negated=not self.negated)

    def __str__(self) -> str:
        return f"{'not ' if self.negated else ''}{self.relation}({self.a}, {self.b})"


@dataclass(frozen=True)
class Goal:
    """A disjunction of up to 3 options, each a conjunction of up to 3 predicates."""

    options: tuple[tuple[Predicate, ...], ...]

    def atoms(self) -> list[Predicate]:
        """The distinct atoms of the goal, in order of first appearance."""
        return list(dict.fromkeys(p.atom() for option in self.options for p in option))

    def __str__(self) -> str:
        return " or ".join("(" + " and ".join(str(p) for p in option) + ")" for option in self.options)


@dataclass(frozen=True)
class GameSpec:
    """One goal per player, in player order, and the kind of game."""

    goals: tuple[Goal, ...]
    kind: GameKind

    def atoms(self) -> list[Predicate]:
        """The distinct atoms over all goals, in order of first appearance."""
        return list(dict.fromkeys(a for goal in self.goals for a in goal.atoms()))


@dataclass(frozen=True)
class TaskSpec:
    """A task: a world and a game played in it."""

    world: WorldSpec
    game: GameSpec


# ----------------------------------------------------------------------------------------------- validation


def _world_floor_colours(world: WorldSpec) -> set[str]:
    return {c for row in world.terrain.floor_colours for c in row}


def object_slot(world: WorldSpec, entity: Entity) -> int:
    """The index in ``world.objects`` of the object ``entity`` refers to; ValueError if not exactly one."""
    slots = [i for i, o in enumerate(world.objects) if o.shape == entity.shape and o.colour == entity.colour]
    if len(slots) != 1:
        raise ValueError(f"{entity} matches {len(slots)} objects")
    return slots[0]


def _validate_entity(entity: Entity, world: WorldSpec, path: str) -> None:
    n_players = len(world.spawns)
    unused = {"player": ("shape", "colour"), "object": ("player",), "floor": ("player", "shape")}[entity.kind]
    for name in unused:
        if getattr(entity, name) is not None:
            raise SpecError(f"{path}.{name}", f"must be null for a {entity.kind} entity, got {getattr(entity, name)!r}")
    if entity.kind == "player":
        if entity.player is None:
            raise SpecError(f"{path}.player", "a player entity needs a player index, got None")
        if not 0 <= entity.player < n_players:
            raise SpecError(
                f"{path}.player", f"player index out of range 0..{n_players - 1} (the world has {n_players} spawns), got {entity.player!r}"
            )
        return
    if entity.colour is None:
        raise SpecError(f"{path}.colour", f"a {entity.kind} entity needs a colour, got None")
    if entity.colour not in COLOURS:
        raise SpecError(f"{path}.colour", f"unknown colour, expected one of {tuple(COLOURS)}, got {entity.colour!r}")
    if entity.kind == "floor":
        if entity.colour not in _world_floor_colours(world):
            raise SpecError(f"{path}.colour", f"no floor tile of this colour in the world, got {entity.colour!r}")
        return
    if entity.shape is None:
        raise SpecError(f"{path}.shape", "an object entity needs a shape, got None")
    if entity.shape not in SHAPES:
        raise SpecError(f"{path}.shape", f"unknown shape, expected one of {SHAPES}, got {entity.shape!r}")
    matches = sum(1 for o in world.objects if o.shape == entity.shape and o.colour == entity.colour)
    if matches == 0:
        raise SpecError(path, f"object not present in the world, got {entity.colour} {entity.shape}")
    if matches > 1:
        raise SpecError(path, f"ambiguous object: {matches} objects in the world are a {entity.colour} {entity.shape}")


def _validate_predicate(pred: Predicate, world: WorldSpec, path: str) -> None:
    kinds_a, kinds_b = RELATION_ARGS[pred.relation]
    if pred.a.kind not in kinds_a:
        raise SpecError(f"{path}.a.kind", f"{pred.relation} takes a {' or '.join(sorted(kinds_a))} as first argument, got {pred.a.kind!r}")
    if pred.b.kind not in kinds_b:
        raise SpecError(f"{path}.b.kind", f"{pred.relation} takes a {' or '.join(sorted(kinds_b))} as second argument, got {pred.b.kind!r}")
    _validate_entity(pred.a, world, f"{path}.a")
    _validate_entity(pred.b, world, f"{path}.b")
    if pred.a == pred.b:
        raise SpecError(f"{path}.b", f"{pred.relation} needs two different entities, got {pred.a} twice")


def validate_goal(goal: Goal, world: WorldSpec, path: str = "goal") -> None:
    """Check a goal's structure and references against ``world``; SpecError naming the field and value."""
    if not 1 <= len(goal.options) <= MAX_OPTIONS:
        raise SpecError(f"{path}.options", f"expected 1..{MAX_OPTIONS} options, got {len(goal.options)}")
    for i, option in enumerate(goal.options):
        if not 1 <= len(option) <= MAX_PREDICATES:
            raise SpecError(f"{path}.options[{i}]", f"expected 1..{MAX_PREDICATES} predicates, got {len(option)}")
        for j, pred in enumerate(option):
            _validate_predicate(pred, world, f"{path}.options[{i}][{j}]")


def validate_task(task: TaskSpec, path: str = "") -> None:
    """Check a task: the world (with ``worlds.tasks.spec.validate_world`` when that exists) and the game against it.
    Raises SpecError whose path is relative to the task, e.g. ``game.goals[1].options[0][2].b.shape``."""
    prefix = f"{path}." if path else ""
    _validate_world_if_available(task.world, f"{prefix}world")
    game, world = task.game, task.world
    n_players = len(world.spawns)
    if not 1 <= n_players <= MAX_PLAYERS:
        raise SpecError(f"{prefix}world.spawns", f"expected 1..{MAX_PLAYERS} spawns, got {n_players}")
    if len(world.objects) > MAX_OBJECTS:
        raise SpecError(f"{prefix}world.objects", f"expected at most {MAX_OBJECTS} objects, got {len(world.objects)}")
    if len(game.goals) != n_players:
        raise SpecError(f"{prefix}game.goals", f"expected one goal per spawn ({n_players}), got {len(game.goals)} goals")
    if (game.kind == "single") != (n_players == 1):
        raise SpecError(f"{prefix}game.kind", f"'single' is the kind of exactly the 1-player games; {n_players} players, got {game.kind!r}")
    for k, goal in enumerate(game.goals):
        validate_goal(goal, world, f"{prefix}game.goals[{k}]")


def _validate_world_if_available(world: WorldSpec, path: str) -> None:
    from worlds.tasks import spec

    validate_world = getattr(spec, "validate_world", None)
    if validate_world is not None:
        validate_world(world, path)


# ---------------------------------------------------------------------------------------------- JSON, ids


def task_to_json(task: TaskSpec, indent: int | None = None) -> str:
    """Canonical JSON text of a task."""
    return to_json(task, indent=indent)


def task_from_json(text: str | bytes) -> TaskSpec:
    """Decode and validate a task; any problem is a SpecError naming the field path and the bad value."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as err:
            raise SpecError("", f"not UTF-8 text: byte {err.object[err.start]:#04x} at offset {err.start}") from None
    task = from_json(TaskSpec, text)
    validate_task(task)
    return task


def task_id(task: TaskSpec) -> str:
    """Stable content hash of the task (16 hex digits), the same on every machine and process."""
    return content_id(task)


def is_held_out(task_id: str, share: float = HELD_OUT_SHARE) -> bool:
    """Whether the task with this id belongs to the held-out split (about ``share`` of all tasks). Uses a
    salted SHA-256 of the id, so it is independent of other uses of the id's digits."""
    digest = hashlib.sha256(f"openland-held-out:{task_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < share * 2.0**64


# ------------------------------------------------------------------------------------ DNF logic, properties


def _normalise_options(options: Sequence[Sequence[Predicate]]) -> list[tuple[Predicate, ...]]:
    """Dedupe literals within each option and drop contradictory (p and not p) options, duplicate options
    and options absorbed by a smaller one (A or (A and B) == A)."""
    result: list[tuple[Predicate, ...]] = []
    for option in options:
        first: dict = {}
        for p in option:
            first.setdefault(p.key(), p)
        lits = tuple(first.values())
        keys = {p.key() for p in lits}
        if any((a, not neg) in keys for a, neg in keys):
            continue
        result.append(lits)
    kept: list[tuple[Predicate, ...]] = []
    sets = [{p.key() for p in lits} for lits in result]
    for i, lits in enumerate(result):
        absorbed = any((other < sets[i]) or (other == sets[i] and j < i) for j, other in enumerate(sets) if j != i)
        if not absorbed:
            kept.append(lits)
    return kept


def negate_goal(goal: Goal, max_options: int = MAX_OPTIONS, max_predicates: int = MAX_PREDICATES) -> Goal | None:
    """The negation of ``goal`` as a DNF (De Morgan, then distribution), simplified; None when it does not fit
    in ``max_options`` options of ``max_predicates`` predicates or when it is unsatisfiable (goal a tautology)."""
    product = itertools.product(*[[p.negate() for p in option] for option in goal.options])
    options = _normalise_options(list(product))
    if not options or len(options) > max_options or any(len(o) > max_predicates for o in options):
        return None
    return Goal(tuple(options))


def _truth_rows(n: int) -> np.ndarray:
    """All 2^n truth assignments, bool [2^n, n] (row r has atom i true iff bit i of r is set)."""
    return ((np.arange(1 << n, dtype=np.int64)[:, None] >> np.arange(n)) & 1).astype(bool)


def _goal_truth(goal: Goal, index: dict[Predicate, int], rows: np.ndarray) -> np.ndarray:
    """The goal's value on each row of the truth table, bool [rows]."""
    n_opt = len(goal.options)
    width = max(len(o) for o in goal.options)
    idx = np.zeros((n_opt, width), dtype=np.int64)
    neg = np.zeros((n_opt, width), dtype=bool)
    mask = np.zeros((n_opt, width), dtype=bool)
    for i, option in enumerate(goal.options):
        for j, p in enumerate(option):
            idx[i, j], neg[i, j], mask[i, j] = index[p.atom()], p.negated, True
    lit = rows[:, idx] ^ neg  # [R, O, K]
    return np.any(np.all(lit | ~mask, axis=2), axis=1)


@dataclass(frozen=True)
class GameProperties:
    """XLand's game properties over the truth table of the game's distinct atoms. ``cooperativeness`` and
    ``competitiveness`` are 0 when no row rewards anyone."""

    exploration_difficulty: float  #: share of rows where no player is rewarded
    cooperativeness: float  #: #{all rewarded} / #{any rewarded}
    competitiveness: float  #: #{some but not all rewarded} / #{any rewarded}
    n_atoms: int  #: distinct atoms (positive predicates) in the game
    n_rows: int  #: rows counted (2^n_atoms, or the consistent ones when a world was given)


#: game_properties enumerates 2^n rows; above this many distinct atoms it refuses.
MAX_PROPERTY_ATOMS = 20


def game_properties(game: GameSpec, world: WorldSpec | None = None) -> GameProperties:
    """Exploration difficulty, cooperativeness and competitiveness of ``game``, exact over the truth table of
    its distinct atoms (XLand's definition: every row counts). With ``world``, only rows consistent with the
    static check's constraint model count (a refinement of ours)."""
    atoms = game.atoms()
    n = len(atoms)
    if n > MAX_PROPERTY_ATOMS:
        raise ValueError(f"game has {n} distinct predicates; game_properties enumerates at most {MAX_PROPERTY_ATOMS}")
    index = {a: i for i, a in enumerate(atoms)}
    rows = _truth_rows(n)
    if world is not None:
        rows = rows[_consistent_rows(atoms, world, rows)[0]]
    rewarded = np.stack([_goal_truth(g, index, rows) for g in game.goals], axis=1)  # [R, players]
    anyr = rewarded.any(axis=1)
    allr = rewarded.all(axis=1)
    n_rows, n_any = len(rows), int(anyr.sum())
    return GameProperties(
        exploration_difficulty=float((~anyr).sum() / n_rows) if n_rows else 0.0,
        cooperativeness=float(allr.sum() / n_any) if n_any else 0.0,
        competitiveness=float((anyr & ~allr).sum() / n_any) if n_any else 0.0,
        n_atoms=n,
        n_rows=n_rows,
    )


# ------------------------------------------------------------------------------------------- static check


def _object_spec(world: WorldSpec, entity: Entity) -> ObjectSpec | None:
    if entity.kind != "object":
        return None
    for o in world.objects:
        if o.shape == entity.shape and o.colour == entity.colour:
            return o
    return None


def _is_fixed(world: WorldSpec, entity: Entity) -> bool:
    o = _object_spec(world, entity)
    return o is not None and not o.movable


def _atom_forced(atom: Predicate, world: WorldSpec) -> bool | None:
    """The constant value of an atom under the constraint model, or None when it can be either."""
    if atom.relation == "hold" and _is_fixed(world, atom.b):
        return False
    if atom.relation == "on":
        if atom.b.kind == "object":
            bottom = _object_spec(world, atom.b)
            if bottom is not None and bottom.shape in NON_SUPPORTING_SHAPES:
                return False
            if _is_fixed(world, atom.a):
                return False
        elif _is_fixed(world, atom.a):
            o = _object_spec(world, atom.a)
            assert o is not None
            return world.terrain.floor_colours[o.row][o.col] == atom.b.colour
    return None


def _exclusive(x: Predicate, y: Predicate) -> bool:
    """Whether atoms x and y can never both hold under the constraint model."""
    if x.relation == "hold" and y.relation == "hold":
        return (x.a == y.a) != (x.b == y.b)
    if x.relation == "on" and y.relation == "on":
        if x.a == y.b and x.b == y.a:
            return True
        return x.a == y.a and x.b != y.b and x.b.kind == y.b.kind
    return False


def _consistent_rows(atoms: list[Predicate], world: WorldSpec, rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Mask of the rows consistent with the constraint model, and problems that are not row constraints."""
    ok = np.ones(len(rows), dtype=bool)
    problems = []
    for i, atom in enumerate(atoms):
        forced = _atom_forced(atom, world)
        if forced is not None:
            ok &= rows[:, i] == forced
        if atom.relation == "near" and _is_fixed(world, atom.a) and _is_fixed(world, atom.b):
            problems.append(f"{atom}: near between two fixed objects is a constant")
    for i, j in itertools.combinations(range(len(atoms)), 2):
        if _exclusive(atoms[i], atoms[j]):
            ok &= ~(rows[:, i] & rows[:, j])
    return ok, problems


def goal_problems(goal: Goal, world: WorldSpec) -> list[str]:
    """What makes ``goal`` unsatisfiable or always true in principle (see the module docstring); empty if it
    passes the static check. Assumes the goal is structurally valid (``validate_goal``)."""
    atoms = goal.atoms()
    if len(atoms) > MAX_PROPERTY_ATOMS:
        return [f"{len(atoms)} distinct predicates, more than the check enumerates"]
    rows = _truth_rows(len(atoms))
    ok, problems = _consistent_rows(atoms, world, rows)
    value = _goal_truth(goal, {a: i for i, a in enumerate(atoms)}, rows[ok])
    if not value.any():
        problems.append(f"unsatisfiable: {goal}")
    elif value.all():
        problems.append(f"always true: {goal}")
    return problems


def task_problems(task: TaskSpec) -> list[str]:
    """Static-check problems of every goal of the task, prefixed with the goal's field path."""
    return [f"game.goals[{k}]: {p}" for k, g in enumerate(task.game.goals) for p in goal_problems(g, task.world)]


# ----------------------------------------------------------------------------------------------- generator


@dataclass(frozen=True)
class TaskGenConfig:
    """How :func:`generate_task` draws tasks."""

    world: "WorldGenConfig | None" = None
    """Config of ``worlds.tasks.generator.generate_world``; None means its defaults. Its ``players`` is overridden."""
    min_players: int = 1
    """Fewest players (1..4). A batch of envs with a fixed player count sets min_players == max_players."""
    max_players: int = 4
    """Most players (1..4)."""
    kind_weights: tuple[float, float, float] = (0.35, 0.4, 0.25)
    """Relative weights of cooperative, competitive and mixed games for 2+ players (1 player: single)."""
    min_options: int = 1
    """Fewest options per goal (1..3)."""
    max_options: int = 3
    """Most options per goal (1..3)."""
    min_predicates: int = 1
    """Fewest predicates per option (1..3)."""
    max_predicates: int = 3
    """Most predicates per option (1..3)."""
    relation_weights: tuple[float, float, float, float] = (0.3, 0.3, 0.2, 0.2)
    """Relative weights of near, on, hold, see when drawing a predicate."""
    negation_prob: float = 0.25
    """Probability that a drawn predicate is negated."""
    max_atoms: int = 9
    """Most distinct predicates in one game (keeps game_properties at 2^9 rows)."""
    ego: bool = False
    """Every predicate is about a player itself: ``near(me, x)``, ``on(me, floor)``, ``hold``, ``see``. No goal asks
    to move an object (fetch and carry it) or to climb one, the literals that even the scripted expert often
    fails."""

    def __post_init__(self) -> None:
        if not 1 <= self.min_players <= self.max_players <= MAX_PLAYERS:
            raise ValueError(f"need 1 <= min_players <= max_players <= {MAX_PLAYERS}, got {self.min_players}, {self.max_players}")
        if not 1 <= self.min_options <= self.max_options <= MAX_OPTIONS:
            raise ValueError(f"need 1 <= min_options <= max_options <= {MAX_OPTIONS}, got {self.min_options}, {self.max_options}")
        if not 1 <= self.min_predicates <= self.max_predicates <= MAX_PREDICATES:
            raise ValueError(
                f"need 1 <= min_predicates <= max_predicates <= {MAX_PREDICATES}, got {self.min_predicates}, {self.max_predicates}"
            )
        for name, weights, n in (("kind_weights", self.kind_weights, 3), ("relation_weights", self.relation_weights, 4)):
            if len(weights) != n or min(weights) < 0 or sum(weights) <= 0:
                raise ValueError(f"{name} must be {n} non-negative weights with a positive sum, got {weights}")
        if not 0.0 <= self.negation_prob <= 1.0:
            raise ValueError(f"negation_prob must be in [0, 1], got {self.negation_prob}")
        if not 1 <= self.max_atoms <= MAX_PROPERTY_ATOMS:
            raise ValueError(f"max_atoms must be in 1..{MAX_PROPERTY_ATOMS}, got {self.max_atoms}")


class _AtomSampler:
    """Draws atoms that are well-formed for one world and player count."""

    def __init__(self, world: WorldSpec, n_players: int, relation_weights: Sequence[float], ego: bool = False):
        self.players = [player_ref(i) for i in range(n_players)]
        self.ego = ego
        self.subjects = self.players if ego else None  # first arguments of near/on (None: players and movables)
        self.objects = [object_ref(o.shape, o.colour) for o in world.objects]
        self.movable = [object_ref(o.shape, o.colour) for o in world.objects if o.movable]
        self.supports = [object_ref(o.shape, o.colour) for o in world.objects if o.shape not in NON_SUPPORTING_SHAPES]
        self.floors = sorted(_world_floor_colours(world), key=list(COLOURS).index)
        self.fixed = {object_ref(o.shape, o.colour) for o in world.objects if not o.movable}
        feasible = {
            "near": len(self.players) + len(self.objects) >= 2 and len(self.players) + len(self.movable) >= 1,
            "on": True,
            "hold": bool(self.movable),
            "see": len(self.players) + len(self.objects) >= 2,
        }
        w = np.array([wt if feasible[r] else 0.0 for r, wt in zip(RELATIONS, relation_weights)], dtype=float)
        if w.sum() <= 0:  # e.g. only hold/see weighted in a world without objects: fall back to on
            w = np.array([0.0, 1.0, 0.0, 0.0])
        self.p = w / w.sum()

    def _pick(self, rng: np.random.Generator, items: Sequence[Entity]) -> Entity:
        return items[int(rng.integers(len(items)))]

    def sample(self, rng: np.random.Generator) -> Predicate:
        relation = RELATIONS[int(rng.choice(len(RELATIONS), p=self.p))]
        if relation == "near":
            a = self._pick(rng, self.subjects or self.players + self.movable)
            b = self._pick(rng, [e for e in self.players + self.objects if e != a])
        elif relation == "on":
            a = self._pick(rng, self.subjects or self.players + self.movable)
            bottoms = [e for e in self.supports if e != a]
            if bottoms and not self.ego and rng.random() < 0.4:  # ego goals never ask to climb
                b = self._pick(rng, bottoms)
            else:
                b = floor_ref(self.floors[int(rng.integers(len(self.floors)))])
        elif relation == "hold":
            a, b = self._pick(rng, self.players), self._pick(rng, self.movable)
        else:
            a = self._pick(rng, self.players)
            b = self._pick(rng, [e for e in self.players + self.objects if e != a])
        return Predicate(relation, a, b).atom()  # type: ignore[arg-type]


def _sample_goal(
    rng: np.random.Generator,
    draw_literal,
    config: TaskGenConfig,
    world: WorldSpec,
) -> Goal | None:
    n_opt = int(rng.integers(config.min_options, config.max_options + 1))
    options = []
    for _ in range(n_opt):
        n_pred = int(rng.integers(config.min_predicates, config.max_predicates + 1))
        options.append([draw_literal() for _ in range(n_pred)])
    opts = _normalise_options(options)
    if not opts:
        return None
    goal = Goal(tuple(opts))
    if len(goal.atoms()) > config.max_atoms or goal_problems(goal, world):
        return None
    return goal


_MAX_TRIES = 400


def generate_game(rng: np.random.Generator, world: WorldSpec, config: TaskGenConfig = TaskGenConfig()) -> GameSpec:
    """Draw a game for ``world`` (one goal per spawn) from ``rng``; see the module docstring for what it
    guarantees. Deterministic given the generator state."""
    n = len(world.spawns)
    sampler = _AtomSampler(world, n, config.relation_weights, config.ego)

    def literal() -> Predicate:
        atom = sampler.sample(rng)
        return atom.negate() if rng.random() < config.negation_prob else atom

    if n == 1:
        kind = "single"
    else:
        w = np.asarray(config.kind_weights, dtype=float)
        kind = ("cooperative", "competitive", "mixed")[int(rng.choice(3, p=w / w.sum()))]

    for _ in range(_MAX_TRIES):
        if kind in ("single", "cooperative"):
            goal = _sample_goal(rng, literal, config, world)
            if goal is not None:
                return GameSpec(tuple([goal] * n), kind)  # type: ignore[arg-type]
        elif kind == "competitive":
            goal = _sample_goal(rng, literal, config, world)
            if goal is None:
                continue
            neg = negate_goal(goal)
            if neg is None or goal_problems(neg, world) or len(neg.options) < config.min_options:
                continue
            order = rng.permutation(n)
            size_a = int(rng.integers(1, n))
            team_a = set(order[:size_a].tolist())
            return GameSpec(tuple(goal if k in team_a else neg for k in range(n)), "competitive")
        else:  # mixed: goals drawn from a shared pool of atoms, partly compatible, partly conflicting
            pool_size = int(rng.integers(2, min(config.max_atoms, 6) + 1))
            pool = list(dict.fromkeys(sampler.sample(rng) for _ in range(pool_size)))

            def pooled() -> Predicate:
                atom = pool[int(rng.integers(len(pool)))]
                return atom.negate() if rng.random() < max(config.negation_prob, 0.3) else atom

            goals = [_sample_goal(rng, pooled, config, world) for _ in range(n)]
            if any(g is None for g in goals):
                continue
            game = GameSpec(tuple(goals), "mixed")  # type: ignore[arg-type]
            props = game_properties(game)
            if 0.0 < props.cooperativeness < 1.0:
                return game
    # a world so poor that the draws keep failing: the simplest goal that always passes the check
    fallback = Goal(((Predicate("on", player_ref(0), floor_ref(sampler.floors[0])),),))
    if n == 1:
        return GameSpec((fallback,), "single")
    return GameSpec(tuple([fallback] * n), "cooperative")


def _derived_seed(seed: int, *path: int) -> int:
    state = np.random.SeedSequence([seed, *path]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def generate_task(seed: int, config: TaskGenConfig = TaskGenConfig()) -> TaskSpec:
    """The task of ``seed``: a player count and a game drawn with a numpy Generator seeded from ``seed`` only,
    and a world from ``generate_world`` (seed derived from ``seed``; the world config's ``players`` range is
    replaced by the drawn count)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    from worlds.tasks.generator import WorldGenConfig, generate_world

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
    n = int(rng.integers(config.min_players, config.max_players + 1))
    world_config = dataclasses.replace(config.world if config.world is not None else WorldGenConfig(), players=(n, n))
    world = generate_world(_derived_seed(int(seed), 0), world_config)
    return TaskSpec(world, generate_game(rng, world, config))


def _sample_split(seed: int, config: TaskGenConfig, held_out: bool) -> TaskSpec:
    task = generate_task(seed, config)
    k = 0
    while is_held_out(task_id(task)) != held_out:
        k += 1
        task = generate_task(_derived_seed(int(seed), 2, k), config)
    return task


def sample_training_task(seed: int, config: TaskGenConfig = TaskGenConfig()) -> TaskSpec:
    """``generate_task(seed)`` unless that task is held out; then deterministic redraws from seeds derived
    from ``seed`` until one is not. Never returns a held-out task."""
    return _sample_split(seed, config, held_out=False)


def sample_held_out_task(seed: int, config: TaskGenConfig = TaskGenConfig()) -> TaskSpec:
    """Like :func:`sample_training_task`, but only returns held-out tasks (for evaluation sets)."""
    return _sample_split(seed, config, held_out=True)
