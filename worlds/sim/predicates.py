"""Vectorised predicate truth, goal rewards and goal tokens for a batch of envs.

Compiled once per task (``compile_goal_tables`` for a batch, ``write_goal_tables`` to swap the tasks of some
envs at reset); evaluated every step for all envs and players in compiled kernels (``worlds.sim.kernels``), no
Python loop over envs, players, options or predicates.

Entity indexing (per env)
-------------------------
The entity table has ``N_ENTITIES = MAX_PLAYERS + MAX_OBJECTS`` rows: rows ``0..MAX_PLAYERS-1`` are the players
by absolute index (spawn order), row ``MAX_PLAYERS + s`` is object slot ``s`` = ``world.objects[s]``. Floors
are not entities: a floor argument is a colour index (into ``worlds.tasks.spec.COLOURS``).

Shapes: ``[E, P, O, K]`` = envs × ``MAX_PLAYERS`` × ``MAX_OPTIONS`` × ``MAX_PREDICATES`` (padded; masks say
what is real). Option ``o`` predicate ``k`` of player ``p``'s goal sits at ``[e, p, o, k]``.

Semantics of each relation given an :class:`EntityState` (the env fills it):

- ``near(a, b)``: ``|pos[a] - pos[b]| < near_distance`` (3D distance between the entities' reference points,
  metres; the env passes e.g. 1.5 tile sizes);
- ``on(a, floor c)``: ``grounded[a] and floor_colour[a] == c``; ``on(a, object b)``: ``support[a] == b``;
- ``hold(p, b)``: ``held[p] == b - MAX_PLAYERS`` (``held`` holds object slots);
- ``see(p, b)``: ``seen[p, b]``.

A relation involving an inactive entity (``active`` false) is false, so its negation is true; valid tasks only
name present entities. Padding predicates are false in ``predicate_truth`` and ignored by ``goal_reward``.

Goal tokens
-----------
``goal_tokens(tables)`` is int32 ``[E, P, G=9, T=11]``: row ``o * 3 + k`` is option ``o``'s predicate ``k``;
every column is 0 on a padding row and >= 1 on a real one (so each column can have its own embedding table):

====  ============  =======================================================================
col   name          value
====  ============  =======================================================================
0     option        option index + 1 (1..3)
1     negated       1 = positive, 2 = negated
2     relation      relation id + 1 (near 1, on 2, hold 3, see 4)
3     a_kind        entity kind + 1 (player 1, object 2, floor 3)
4     a_player      player relative to the observer + 1: ``(a - observer) % MAX_PLAYERS + 1``,
                    so 1 = me; 0 if not a player
5     a_shape       shape index + 1 (1..5); 0 if not an object
6     a_colour      colour index + 1 (1..8) of an object or floor; 0 for a player
7-10  b_*           the same four for the second argument
====  ============  =======================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from worlds.sim import kernels
from worlds.tasks.game import ENTITY_KINDS, MAX_OPTIONS, MAX_PREDICATES, RELATIONS, Entity, TaskSpec, object_slot
from worlds.tasks.spec import COLOUR_INDEX, COLOURS, MAX_OBJECTS, MAX_PLAYERS, SHAPES, WorldSpec

N_ENTITIES = MAX_PLAYERS + MAX_OBJECTS
GOAL_ROWS = MAX_OPTIONS * MAX_PREDICATES
TOKEN_FIELDS: tuple[str, ...] = (
    "option", "negated", "relation",
    "a_kind", "a_player", "a_shape", "a_colour",
    "b_kind", "b_player", "b_shape", "b_colour",
)  # fmt: skip
TOKEN_LEN = len(TOKEN_FIELDS)
#: Highest value of each token column.
TOKEN_HIGH: tuple[int, ...] = (
    MAX_OPTIONS, 2, len(RELATIONS),
    len(ENTITY_KINDS), MAX_PLAYERS, len(SHAPES), len(COLOURS),
    len(ENTITY_KINDS), MAX_PLAYERS, len(SHAPES), len(COLOURS),
)  # fmt: skip
#: Default ``near`` threshold in metres (the env should pass its own, e.g. 1.5 tile sizes).
DEFAULT_NEAR_DISTANCE = 1.5


def entity_index(world: WorldSpec, entity: Entity) -> int:
    """Row of a player or object in the per-env entity table, or the colour index of a floor."""
    if entity.kind == "player":
        assert entity.player is not None
        return entity.player
    if entity.kind == "object":
        return MAX_PLAYERS + object_slot(world, entity)
    return COLOUR_INDEX[entity.colour]  # type: ignore[index]


@dataclass
class GoalTables:
    """The goals of a batch of tasks as padded arrays (see the module docstring for shapes and indexing)."""

    relation: np.ndarray  #: int8 [E, P, O, K]: relation id (index into RELATIONS), -1 on padding
    negated: np.ndarray  #: bool [E, P, O, K]
    a_index: np.ndarray  #: int16 [E, P, O, K]: entity row of the first argument (0 on padding)
    b_index: np.ndarray  #: int16 [E, P, O, K]: entity row of the second argument, or colour index if b_floor
    b_floor: np.ndarray  #: bool [E, P, O, K]: the second argument is a floor colour
    valid: np.ndarray  #: bool [E, P, O, K]: a real predicate
    option_valid: np.ndarray  #: bool [E, P, O]: a real option
    player_valid: np.ndarray  #: bool [E, P]: a real player
    entity_present: np.ndarray  #: bool [E, N_ENTITIES]: players and objects that exist in the task
    tokens: np.ndarray  #: int32 [E, P, GOAL_ROWS, TOKEN_LEN]

    @property
    def num_envs(self) -> int:
        return self.relation.shape[0]

    @classmethod
    def empty(cls, num_envs: int) -> "GoalTables":
        shape = (num_envs, MAX_PLAYERS, MAX_OPTIONS, MAX_PREDICATES)
        return cls(
            relation=np.full(shape, -1, dtype=np.int8),
            negated=np.zeros(shape, dtype=bool),
            a_index=np.zeros(shape, dtype=np.int16),
            b_index=np.zeros(shape, dtype=np.int16),
            b_floor=np.zeros(shape, dtype=bool),
            valid=np.zeros(shape, dtype=bool),
            option_valid=np.zeros(shape[:3], dtype=bool),
            player_valid=np.zeros(shape[:2], dtype=bool),
            entity_present=np.zeros((num_envs, N_ENTITIES), dtype=bool),
            tokens=np.zeros((num_envs, MAX_PLAYERS, GOAL_ROWS, TOKEN_LEN), dtype=np.int32),
        )


def _arg_tokens(entity: Entity, observer: int) -> list[int]:
    kind = ENTITY_KINDS.index(entity.kind) + 1
    if entity.kind == "player":
        return [kind, (entity.player - observer) % MAX_PLAYERS + 1, 0, 0]  # type: ignore[operator]
    shape = SHAPES.index(entity.shape) + 1 if entity.kind == "object" else 0  # type: ignore[arg-type]
    return [kind, 0, shape, COLOUR_INDEX[entity.colour] + 1]  # type: ignore[index]


def _fill(tables: GoalTables, e: int, task: TaskSpec) -> None:
    """Write task ``task`` into row ``e`` of ``tables`` (clearing what was there)."""
    for name in ("negated", "b_floor", "valid", "option_valid", "player_valid", "entity_present"):
        getattr(tables, name)[e] = False
    tables.relation[e] = -1
    tables.a_index[e] = 0
    tables.b_index[e] = 0
    tables.tokens[e] = 0
    world = task.world
    n_players, n_objects = len(world.spawns), len(world.objects)
    if len(task.game.goals) != n_players or n_players > MAX_PLAYERS or n_objects > MAX_OBJECTS:
        raise ValueError(
            f"task has {len(task.game.goals)} goals, {n_players} spawns, {n_objects} objects "
            f"(need goals == spawns <= {MAX_PLAYERS}, objects <= {MAX_OBJECTS}); validate it first"
        )
    tables.entity_present[e, :n_players] = True
    tables.entity_present[e, MAX_PLAYERS : MAX_PLAYERS + n_objects] = True
    for p, goal in enumerate(task.game.goals):
        tables.player_valid[e, p] = True
        for o, option in enumerate(goal.options):
            tables.option_valid[e, p, o] = True
            for k, pred in enumerate(option):
                tables.relation[e, p, o, k] = RELATIONS.index(pred.relation)
                tables.negated[e, p, o, k] = pred.negated
                tables.a_index[e, p, o, k] = entity_index(world, pred.a)
                tables.b_index[e, p, o, k] = entity_index(world, pred.b)
                tables.b_floor[e, p, o, k] = pred.b.kind == "floor"
                tables.valid[e, p, o, k] = True
                tables.tokens[e, p, o * MAX_PREDICATES + k] = [
                    o + 1,
                    int(pred.negated) + 1,
                    RELATIONS.index(pred.relation) + 1,
                    *_arg_tokens(pred.a, p),
                    *_arg_tokens(pred.b, p),
                ]


def compile_goal_tables(tasks: Sequence[TaskSpec]) -> GoalTables:
    """Goal tables for a batch of (validated) tasks, env ``e`` playing ``tasks[e]``."""
    tables = GoalTables.empty(len(tasks))
    for e, task in enumerate(tasks):
        _fill(tables, e, task)
    return tables


def write_goal_tables(tables: GoalTables, env_ids: Sequence[int], tasks: Sequence[TaskSpec]) -> None:
    """Replace, in place, the tasks of envs ``env_ids`` (e.g. those that reset this step)."""
    if len(env_ids) != len(tasks):
        raise ValueError(f"{len(env_ids)} env ids for {len(tasks)} tasks")
    for e, task in zip(env_ids, tasks):
        _fill(tables, int(e), task)


@dataclass
class EntityState:
    """What the env knows each step about every entity of every env (N = N_ENTITIES rows, indexed as in the
    module docstring)."""

    pos: np.ndarray  #: float [E, N, 3]: world position of each entity (metres)
    floor_colour: np.ndarray  #: int [E, N]: colour index of the tile under the entity, -1 if none
    grounded: np.ndarray  #: bool [E, N]: the entity touches the terrain (not merely an object)
    held: np.ndarray  #: int [E, MAX_PLAYERS]: object slot held by each player, -1 if none
    seen: np.ndarray  #: bool [E, MAX_PLAYERS, N]: entity visible to the player (from its ray camera)
    support: np.ndarray  #: int [E, N]: entity row the entity rests on, -1 if none
    active: np.ndarray  #: bool [E, N]: the entity exists in this env
    yaw: np.ndarray  #: float [E, N]: heading of each player (radians about z, 0 facing +x); 0 for objects

    @classmethod
    def empty(cls, num_envs: int) -> "EntityState":
        """All entities inactive, at the origin, touching nothing, holding and seeing nothing."""
        return cls(
            pos=np.zeros((num_envs, N_ENTITIES, 3), dtype=np.float32),
            floor_colour=np.full((num_envs, N_ENTITIES), -1, dtype=np.int8),
            grounded=np.zeros((num_envs, N_ENTITIES), dtype=bool),
            held=np.full((num_envs, MAX_PLAYERS), -1, dtype=np.int8),
            seen=np.zeros((num_envs, MAX_PLAYERS, N_ENTITIES), dtype=bool),
            support=np.full((num_envs, N_ENTITIES), -1, dtype=np.int8),
            active=np.zeros((num_envs, N_ENTITIES), dtype=bool),
            yaw=np.zeros((num_envs, N_ENTITIES), dtype=np.float32),
        )


def predicate_truth(tables: GoalTables, state: EntityState, near_distance: float = DEFAULT_NEAR_DISTANCE) -> np.ndarray:
    """Truth of every predicate of every player's goal in every env: bool [E, P, O, K] (False on padding)."""
    E = tables.relation.shape[0]
    if state.pos.shape != (E, N_ENTITIES, 3):
        raise ValueError(f"state.pos has shape {state.pos.shape}, expected {(E, N_ENTITIES, 3)}")
    return kernels.perception.predicate_truth(
        tables.relation, tables.negated, tables.a_index, tables.b_index, tables.b_floor, tables.valid,
        np.asarray(state.pos, dtype=np.float32), state.floor_colour, state.grounded, state.held, state.seen,
        state.support, state.active, np.float32(near_distance * near_distance), MAX_PLAYERS,
    )  # fmt: skip


#: Metres within which the ray camera reliably hits a low object (its downward row hits them from ~2.5 to ~5
#: m): the ``see`` potential asks the player to come this close.
SEE_RANGE = 4.5
#: Metres within which a player can grab an object (``worlds.sim.config.PhysicsConfig.grab_reach``).
DEFAULT_REACH = 1.2


@dataclass
class FloorMap:
    """The floor colours of a batch of worlds, for the ``on(x, floor)`` potential."""

    colour: np.ndarray  #: int [E, G, G]: colour index of tile (row, col), -1 outside the world
    grid: np.ndarray  #: int [E, 2]: rows and columns of each env's world
    tile_size: float  #: metres: tile (row, col) spans x in [col, col + 1) and y in [row, row + 1) tile sizes

    @classmethod
    def none(cls, num_envs: int) -> "FloorMap":
        """No tiles (the ``on(x, floor)`` literals get no distance term)."""
        return cls(np.full((num_envs, 1, 1), -1, dtype=np.int64), np.zeros((num_envs, 2), dtype=np.int64), 1.0)


def goal_potential(
    tables: GoalTables, state: EntityState, near_distance: float = DEFAULT_NEAR_DISTANCE, floors: FloorMap | None = None,
    reach: float = DEFAULT_REACH, see_range: float = SEE_RANGE, unit: float = 0.0,
) -> np.ndarray:  # fmt: skip
    """float32 [E, P]: a potential for reward shaping (Ng, Harada & Russell 1999), never part of the reward.

    A literal that holds contributes 0; an unmet one contributes ``-(unit + progress)``, where ``progress`` (about
    metres) is what is left to do for it:

    - ``near(a, b)``: the distance beyond ``near_distance``; ``not near``: the distance still to open;
    - ``hold(p, b)``: the distance beyond ``reach`` (the grab is the unit step);
    - ``on(a, floor c)``: the distance to the nearest tile of colour ``c`` (``floors``); ``on(a, object b)``:
      the horizontal distance to ``b``;
    - ``see(p, b)``: the angle between p's heading and ``b`` (in half turns, 0..1) plus the distance beyond
      ``see_range``;
    - ``near``/``on`` whose first argument is an object that the player must carry (the other argument is not
      the player itself) and does not hold: plus ``unit`` (the grab) plus the player's distance to it beyond
      ``reach``;
    - other negations (``not hold``, ``not on``, ``not see``): 0 (only the unit).

    ``unit`` is what making one literal true (or one grab) is worth. At 0 (the default) the potential is the
    distances alone, on ``near`` goals exactly the one PPO learned "near" with; at 1 it is 0 exactly when the goal
    holds and at most -1 otherwise (one unit per unmet literal), so a conjunction credits each literal made true.

    An option's potential is the sum over its literals; a goal's is the best option's. So ``gamma * phi(s') -
    phi(s)`` rewards each literal made true and each step towards one, and, being a potential difference, changes
    no optimal policy: a trainer may add it to the goal reward and measure with the goal reward alone.
    """
    truth = predicate_truth(tables, state, near_distance)
    floors = floors if floors is not None else FloorMap.none(tables.num_envs)
    return kernels.perception.goal_potential(
        tables.relation, tables.negated, tables.a_index, tables.b_index, tables.b_floor, tables.valid,
        tables.option_valid, tables.player_valid, truth, np.asarray(state.pos, dtype=np.float32),
        np.asarray(state.yaw, dtype=np.float32), np.asarray(state.held), np.asarray(floors.colour, dtype=np.int64),
        np.asarray(floors.grid, dtype=np.int64), float(floors.tile_size), float(near_distance), float(reach),
        float(see_range), float(unit), MAX_PLAYERS,
    )  # fmt: skip


def goal_target(tables: GoalTables) -> np.ndarray:
    """int [E, MAX_PLAYERS]: the entity row each player's goal asks it to reach, -1 if none.

    The first positive ``near``/``hold`` predicate (options in order) between two entities, else the first
    positive ``see`` or ``on(x, object)``; of its arguments, the one that is not the player itself. Used as an
    auxiliary training target ("where is what my goal names"), never as an observation.
    """
    E, P = tables.relation.shape[:2]
    rel = tables.relation.reshape(E, P, -1)
    real = ~tables.negated.reshape(E, P, -1) & tables.valid.reshape(E, P, -1)
    real &= ~tables.b_floor.reshape(E, P, -1) & np.repeat(tables.option_valid, tables.relation.shape[3], axis=-1)
    reach, other = real & ((rel == 0) | (rel == 2)), real & ((rel == 1) | (rel == 3))
    ok = np.where(reach.any(-1, keepdims=True), reach, other)
    first = ok.argmax(-1)[..., None]
    a = np.take_along_axis(tables.a_index.reshape(E, P, -1), first, -1)[..., 0].astype(np.int64)
    b = np.take_along_axis(tables.b_index.reshape(E, P, -1), first, -1)[..., 0].astype(np.int64)
    me = np.arange(P)[None, :]
    target = np.where(a == me, b, np.where(b == me, a, b))
    return np.where(ok.any(-1), target, -1)


def goal_reward(tables: GoalTables, truth: np.ndarray) -> np.ndarray:
    """float32 [E, P]: 1 where some real option of the player's goal has all its real predicates true."""
    return kernels.perception.goal_reward(truth, tables.valid, tables.option_valid, tables.player_valid)


def goal_tokens(tables: GoalTables) -> np.ndarray:
    """int32 [E, P, GOAL_ROWS, TOKEN_LEN]: each player's goal as tokens (layout in the module docstring)."""
    return tables.tokens


def goal_token_bounds() -> tuple[np.ndarray, np.ndarray]:
    """(low, high), int32 [GOAL_ROWS, TOKEN_LEN], of one player's goal tokens, for a gymnasium Box."""
    low = np.zeros((GOAL_ROWS, TOKEN_LEN), dtype=np.int32)
    high = np.broadcast_to(np.asarray(TOKEN_HIGH, dtype=np.int32), (GOAL_ROWS, TOKEN_LEN)).copy()
    return low, high


def goal_token_space():
    """``gymnasium.spaces.Box`` of one player's goal tokens."""
    from gymnasium.spaces import Box

    low, high = goal_token_bounds()
    return Box(low=low, high=high, shape=low.shape, dtype=np.int32)
