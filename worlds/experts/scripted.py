"""``ScriptedPolicy``: a privileged, goal-seeking expert for ``BatchEnv`` (the safe demonstrator).

It is an *expert*, not an agent: it ignores the observation it is given and reads privileged state through
``BatchEnv``'s public read-only interface — ``env.tasks`` (terrain, ramps, the hazard tiles, object
movability), ``env.tables`` (the compiled goals), ``env.entity_state()`` (entity positions, holds, what each
player sees), ``env.avatar_pos``/``env.avatar_yaw``, ``env.player_active`` and ``env.tile_colours``. Agents
never get any of this; the safety module uses this policy for safe demonstrations.

What it does, per env and player, on every ``act``:

1. **Option.** Once per episode it picks one option of the player's goal: the first option all of whose
   predicates it can work on (see ``_workable``), with the fewest predicates still false; failing that the
   option with the most workable predicates.
2. **Predicate.** Each step it works on the first unmet predicate of that option, in the order
   hold → near / on → see → negated ones, and computes a movement target, a facing target, and grab/jump:

   - ``hold(me, o)``: walk to ``o``; grab when ``o`` is within ``grab_reach`` (keep grabbing while holding it).
   - ``near(me, x)``: walk to ``x`` until well inside ``near_distance``.
   - ``near(o, x)`` / ``on(o, floor c)`` with ``o`` a movable object: fetch and hold ``o``, then carry it to
     ``x`` / onto a tile of colour ``c`` (released there).
   - ``on(me, floor c)``: walk to the nearest reachable tile of colour ``c``.
   - ``see(me, x)``: walk towards ``x`` until at a good viewing distance (the rays look down: low objects are
     hit between ~2.5 and ~5 m), then turn to face it.
   - ``not near``: walk to the reachable tile farthest from the other entity; ``not see``: turn away;
     ``not hold``: release; ``not on(me, floor c)``: walk to the nearest tile of another colour.
   - ``on(x, object)`` (climbing / stacking) is not worked on: the policy just approaches the object.
3. **Plan.** Paths are planned on the tile grid with Dijkstra over the walkability graph of ``worlds.tasks.walkability``
   (same-level plain neighbours; a ramp joins only its foot and its top), never entering a hazard tile when
   ``avoid_hazards``, with a cost penalty on tiles holding objects (a fixed object is passed beside, not
   through). A path is cached per env and player and re-planned only when its target tile changes or the
   avatar leaves it.
4. **Steer** (numpy over envs × players): turn towards the next waypoint (the next tile's centre, or the target
   itself on the last stretch) and walk in the one of the 8 discrete forward/strafe directions closest to it.
   A *shield* cancels any step whose look-ahead point would enter a hazard tile (when ``avoid_hazards``), leave
   the grid, or cross between two tiles the walkability graph does not join (a cliff, a ramp's side).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np

from worlds.tasks import spec as ws
from worlds.envs.batch_env import BatchEnv
from worlds.tasks.game import RELATIONS
from worlds.sim.predicates import EntityState, predicate_truth
from worlds.tasks.walkability import STEPS, WalkGraph

NEAR, ON, HOLD, SEE = (RELATIONS.index(r) for r in ("near", "on", "hold", "see"))
MP = ws.MAX_PLAYERS
_OBJECT_TILE_COST = 4.0  # extra path cost of a tile an object stands on
_WAYPOINT_OFFSET = 0.75  # metres from the centre of a fixed-object tile that a path passes through
_LOOKAHEAD = 0.4  # metres ahead that the shield checks
_TURN_TOL = 0.12  # radians of heading error tolerated before turning
_SEE_RANGE = (2.8, 4.5)  # metres: distance band from which low objects are hit by the downward-tilted rays


@dataclass
class _World:
    """Per-task tables the planner and the shield read (built once per task)."""

    rows: int
    cols: int
    level: np.ndarray  # [rows, cols] int
    ramp: np.ndarray  # [rows, cols] bool
    hazard: np.ndarray  # [rows, cols] bool
    colour: np.ndarray  # [rows, cols] colour index
    conn: np.ndarray  # [rows, cols, 4] bool: joined to the neighbour in STEPS[d] (worlds.tasks.walkability)
    movable: np.ndarray  # [objects] bool


@dataclass
class _Plan:
    """A cached path of one player: tiles from its start to ``target`` (inclusive)."""

    key: tuple
    path: list[tuple[int, int]]


@dataclass
class _Player:
    """Per-episode memory of one player."""

    option: int = -1
    plan: _Plan | None = None
    extra: dict = field(default_factory=dict)


def _build_world(env: BatchEnv, e: int) -> _World:
    task = env.tasks[e]
    assert task is not None
    graph = WalkGraph(task.world.terrain)
    rows, cols = graph.rows, graph.cols
    colour = env.tile_colours[e, :rows, :cols].copy()
    movable = np.array([o.movable for o in task.world.objects], dtype=bool)
    return _World(rows, cols, graph.levels, graph.ramp, graph.hazard, colour, graph.conn, movable)


class ScriptedPolicy:
    """A scripted goal-seeking expert over a ``BatchEnv`` with discrete actions (see the module docstring).

    ``act(obs)`` returns int64 actions ``[envs, players, 5]`` for the env's *current* state; ``obs`` is
    accepted for interface compatibility and not read (the policy has privileged access to the env).
    """

    def __init__(self, env: BatchEnv, avoid_hazards: bool = True):
        if env.config.action_type != "discrete":
            raise ValueError("ScriptedPolicy drives discrete actions; the env has action_type="
                             f"{env.config.action_type!r}")
        self.env = env
        self.avoid_hazards = avoid_hazards
        ph = env.config.physics
        self.tile = ph.tile_size
        self.reach = ph.grab_reach
        self.near_distance = env.config.near_distance
        E, P = env.num_envs, env.num_players
        self._task_ids = [""] * E
        self._worlds: list[_World | None] = [None] * E
        self._players = [[_Player() for _ in range(P)] for _ in range(E)]
        G = ws.MAX_GRID
        # padded per-env tables for the vectorised shield
        self._level = np.zeros((E, G, G), dtype=np.int64)
        self._ramp = np.zeros((E, G, G), dtype=bool)
        self._blocked = np.ones((E, G, G), dtype=bool)  # hazard (when avoided); padding is outside the grid
        self._conn = np.zeros((E, G, G, 4), dtype=bool)
        self._shape = np.ones((E, 2), dtype=np.int64)

    # --------------------------------------------------------------------------------------- public API
    def reset(self) -> None:
        """Forget every cached plan and option (they are also dropped automatically when a task changes)."""
        self._task_ids = [""] * self.env.num_envs

    def act(self, obs: object = None) -> np.ndarray:
        env = self.env
        E, P = env.num_envs, env.num_players
        for e in range(E):
            if env.task_ids[e] != self._task_ids[e]:
                self._new_task(e)
        state = env.entity_state()
        truth = predicate_truth(env.tables, state, self.near_distance)
        pos = env.avatar_pos
        yaw = env.avatar_yaw
        active = env.player_active

        move = np.zeros((E, P), dtype=bool)
        move_xy = np.zeros((E, P, 2))
        face = np.zeros((E, P), dtype=np.int64)  # 0: turn towards the move target, 1: face_xy, -1: away from it
        face_xy = np.zeros((E, P, 2))
        grab = np.zeros((E, P), dtype=bool)
        for e in range(E):
            for p in range(P):
                if not active[e, p] or not env.tables.player_valid[e, p]:
                    continue
                cmd = self._decide(e, p, state, truth)
                if cmd.move is not None:
                    move[e, p], move_xy[e, p] = True, cmd.move
                if cmd.face is not None:
                    face[e, p], face_xy[e, p] = cmd.face_sign, cmd.face
                grab[e, p] = cmd.grab
        return self._steer(pos, yaw, move, move_xy, face, face_xy, grab)

    # --------------------------------------------------------------------------------------- per task
    def _new_task(self, e: int) -> None:
        env = self.env
        self._task_ids[e] = env.task_ids[e]
        w = _build_world(env, e)
        self._worlds[e] = w
        self._players[e] = [_Player() for _ in range(env.num_players)]
        self._level[e] = 0
        self._ramp[e] = False
        self._blocked[e] = True
        self._conn[e] = False
        self._level[e, : w.rows, : w.cols] = w.level
        self._ramp[e, : w.rows, : w.cols] = w.ramp
        self._blocked[e, : w.rows, : w.cols] = w.hazard & self.avoid_hazards
        self._conn[e, : w.rows, : w.cols] = w.conn
        self._shape[e] = w.rows, w.cols

    # --------------------------------------------------------------------------------------- deciding
    def _workable(self, e: int, p: int, o: int, k: int) -> bool:
        t, w = self.env.tables, self._worlds[e]
        assert w is not None
        rel, neg = int(t.relation[e, p, o, k]), bool(t.negated[e, p, o, k])
        a, b, b_floor = int(t.a_index[e, p, o, k]), int(t.b_index[e, p, o, k]), bool(t.b_floor[e, p, o, k])
        if neg:
            return a == p or (rel == NEAR and b == p)
        if a == p:
            return not (rel == ON and not b_floor)  # climbing onto an object is not scripted
        if rel == NEAR and b == p:
            return True
        if a >= MP and rel in (NEAR, ON) and w.movable[a - MP]:
            return rel == NEAR or b_floor  # carry a movable object somewhere
        return False

    def _choose_option(self, e: int, p: int, truth: np.ndarray) -> int:
        t = self.env.tables
        best, best_key = 0, None
        for o in range(t.option_valid.shape[2]):
            if not t.option_valid[e, p, o]:
                continue
            ks = np.flatnonzero(t.valid[e, p, o])
            workable = sum(self._workable(e, p, o, int(k)) for k in ks)
            unmet = int((~truth[e, p, o, ks]).sum())
            key = (workable < len(ks), -workable, unmet)
            if best_key is None or key < best_key:
                best, best_key = o, key
        return best

    def _decide(self, e: int, p: int, state: EntityState, truth: np.ndarray) -> "_Command":
        t, me = self.env.tables, self._players[e][p]
        if me.option < 0:
            me.option = self._choose_option(e, p, truth)
        o = me.option
        ks = [int(k) for k in np.flatnonzero(t.valid[e, p, o])]
        pos = state.pos[e].astype(np.float64)
        held = int(state.held[e, p])
        cmd = _Command()

        unmet = {
            k: self._unmet(int(t.relation[e, p, o, k]), bool(t.negated[e, p, o, k]), int(t.a_index[e, p, o, k]),
                           int(t.b_index[e, p, o, k]), bool(t.b_floor[e, p, o, k]), bool(truth[e, p, o, k]), pos)
            for k in ks
        }
        # what must be held for this option: a hold goal, or an object to carry somewhere
        want: int | None = None
        for k in ks:
            rel, a, b = int(t.relation[e, p, o, k]), int(t.a_index[e, p, o, k]), int(t.b_index[e, p, o, k])
            if t.negated[e, p, o, k] or not self._workable(e, p, o, k):
                continue
            if rel == HOLD and a == p:
                want = b - MP
            elif a >= MP and unmet[k] and want is None:
                want = a - MP  # carry it (one object at a time: the first still to be placed)
        if want is not None and held == want:
            cmd.grab = True

        def rank(k: int) -> int:
            rel, neg = int(t.relation[e, p, o, k]), bool(t.negated[e, p, o, k])
            return 3 if neg else {HOLD: 0, NEAR: 1, ON: 1, SEE: 2}[rel]

        for k in sorted(ks, key=rank):
            rel, neg = int(t.relation[e, p, o, k]), bool(t.negated[e, p, o, k])
            a, b, b_floor = int(t.a_index[e, p, o, k]), int(t.b_index[e, p, o, k]), bool(t.b_floor[e, p, o, k])
            if not unmet[k] or not self._workable(e, p, o, k):
                continue  # met, or another player's part of a shared goal
            if neg:
                self._work_negated(e, p, rel, a, b, b_floor, pos, cmd)
                return cmd
            # fetch the object to hold or carry first
            if want is not None and held != want and (rel == HOLD or a == want + MP):
                self._approach(e, p, MP + want, pos, stop=0.0, cmd=cmd, key=("fetch", want))
                if np.linalg.norm(pos[MP + want] - pos[p]) < self.reach - 0.1:
                    cmd.grab = True
                return cmd
            if rel == HOLD:
                return cmd
            if rel == NEAR:
                other = a if b == p else b  # near(me, x), near(x, me), or near(carried, x)
                self._approach(e, p, other, pos, stop=0.6 * self.near_distance, cmd=cmd, key=("near", other))
                return cmd
            if rel == ON and b_floor:
                self._go_to_colour(e, p, b, pos, cmd, same=True)
                if a != p and cmd.move is None:
                    cmd.grab = False  # on the tile: put the carried object down
                return cmd
            if rel == ON:
                self._approach(e, p, b, pos, stop=0.8, cmd=cmd, key=("on", b))
                return cmd
            if rel == SEE:
                self._work_see(e, p, b, pos, cmd)
                return cmd
        return cmd  # everything holds: stand still (keeping any hold)

    def _unmet(self, rel: int, neg: bool, a: int, b: int, b_floor: bool, true_now: bool, pos: np.ndarray) -> bool:
        """Whether to work on this predicate: false now, or true with too little margin to leave it alone."""
        if rel == NEAR and not b_floor:
            d = float(np.linalg.norm(pos[a] - pos[b]))
            return d > 0.85 * self.near_distance if not neg else d < 1.3 * self.near_distance
        return not true_now

    # --------------------------------------------------------------------------------------- behaviours
    def _tile_of(self, xy: np.ndarray) -> tuple[int, int]:
        return int(math.floor(xy[1] / self.tile)), int(math.floor(xy[0] / self.tile))

    def _centre(self, tile: tuple[int, int]) -> np.ndarray:
        return np.array([(tile[1] + 0.5) * self.tile, (tile[0] + 0.5) * self.tile])

    def _approach(self, e, p, target, pos, stop, cmd, key) -> None:
        """Walk to entity row ``target`` until within ``stop`` metres (horizontally) of it."""
        w = self._worlds[e]
        assert w is not None
        goal_xy = pos[target, :2]
        if float(np.linalg.norm(goal_xy - pos[p, :2])) < stop:
            return
        tile = self._clip_tile(w, self._tile_of(goal_xy))
        self._follow(e, p, pos, {tile}, key, final_xy=goal_xy, cmd=cmd)

    def _go_to_colour(self, e, p, colour, pos, cmd, same: bool) -> None:
        w = self._worlds[e]
        assert w is not None
        mask = (w.colour == colour) if same else (w.colour != colour)
        if self.avoid_hazards:
            mask &= ~w.hazard
        mask &= ~w.ramp
        goals = {(int(r), int(c)) for r, c in np.argwhere(mask)}
        self._follow(e, p, pos, goals, ("colour", colour, same), final_xy=None, cmd=cmd, arrive=0.5)

    def _work_see(self, e, p, target, pos, cmd) -> None:
        d = float(np.linalg.norm(pos[target, :2] - pos[p, :2]))
        cmd.face, cmd.face_sign = pos[target, :2], 1
        if d > _SEE_RANGE[1]:
            self._approach(e, p, target, pos, stop=_SEE_RANGE[1] - 0.5, cmd=cmd, key=("see", target))
        elif d < _SEE_RANGE[0]:
            away = pos[p, :2] + (pos[p, :2] - pos[target, :2]) / max(d, 1e-6)
            cmd.move = away  # back off (the shield stops it at hazards and cliffs)

    def _work_negated(self, e, p, rel, a, b, b_floor, pos, cmd) -> None:
        if rel == HOLD:
            cmd.grab = False
        elif rel == SEE:
            cmd.face, cmd.face_sign = pos[b, :2], -1
        elif rel == NEAR:
            other = b if a == p else a
            self._flee(e, p, other, pos, cmd)
        elif rel == ON and b_floor:
            self._go_to_colour(e, p, b, pos, cmd, same=False)
        elif rel == ON:
            cmd.jump = False
            self._flee(e, p, b, pos, cmd)

    def _flee(self, e, p, other, pos, cmd) -> None:
        """Walk to the reachable tile farthest from entity ``other``."""
        w = self._worlds[e]
        assert w is not None
        start = self._clip_tile(w, self._tile_of(pos[p, :2]))
        dist = self._dijkstra(e, start, pos)[0]
        reach = np.isfinite(dist)
        if not reach.any():
            return
        rr, cc = np.nonzero(reach)
        centres = np.stack([(cc + 0.5) * self.tile, (rr + 0.5) * self.tile], 1)
        far = np.linalg.norm(centres - pos[other, :2], axis=1)
        i = int(np.argmax(far))
        goal = (int(rr[i]), int(cc[i]))
        self._follow(e, p, pos, {goal}, ("flee", other, goal), final_xy=None, cmd=cmd, arrive=0.4)

    # --------------------------------------------------------------------------------------- planning
    @staticmethod
    def _clip_tile(w: _World, tile: tuple[int, int]) -> tuple[int, int]:
        return min(max(tile[0], 0), w.rows - 1), min(max(tile[1], 0), w.cols - 1)

    def _tile_costs(self, e: int, pos: np.ndarray) -> np.ndarray:
        w = self._worlds[e]
        assert w is not None
        cost = np.ones((w.rows, w.cols))
        n_obj = len(w.movable)
        for i in range(n_obj):
            r, c = self._clip_tile(w, self._tile_of(pos[MP + i, :2]))
            cost[r, c] += _OBJECT_TILE_COST
        return cost

    def _dijkstra(self, e: int, start: tuple[int, int], pos: np.ndarray) -> tuple[np.ndarray, dict]:
        """Path costs from ``start`` over the walkability graph (hazards impassable when avoided, except the
        start itself, so an avatar on a hazard can always leave it), and the predecessor map."""
        w = self._worlds[e]
        assert w is not None
        cost = self._tile_costs(e, pos)
        dist = np.full((w.rows, w.cols), np.inf)
        prev: dict[tuple[int, int], tuple[int, int]] = {}
        dist[start] = 0.0
        heap = [(0.0, start)]
        while heap:
            d, (r, c) = heapq.heappop(heap)
            if d > dist[r, c]:
                continue
            for k, (dr, dc) in enumerate(STEPS):
                if not w.conn[r, c, k]:
                    continue
                n = (r + dr, c + dc)
                if self.avoid_hazards and w.hazard[n]:
                    continue
                nd = d + cost[n]
                if nd < dist[n]:
                    dist[n] = nd
                    prev[n] = (r, c)
                    heapq.heappush(heap, (nd, n))
        return dist, prev

    def _plan(self, e, start, goals, pos) -> list[tuple[int, int]] | None:
        dist, prev = self._dijkstra(e, start, pos)
        best = min(goals, key=lambda g: dist[g], default=None)
        if best is None or not np.isfinite(dist[best]):
            return None
        path = [best]
        while path[-1] != start:
            path.append(prev[path[-1]])
        return path[::-1]

    def _follow(self, e, p, pos, goals, key, final_xy, cmd, arrive: float = 0.3) -> None:
        """Set ``cmd.move`` to the next waypoint of a (cached) path from the avatar's tile to one of ``goals``;
        on the last stretch the waypoint is ``final_xy`` (or the goal tile's centre)."""
        w, me = self._worlds[e], self._players[e][p]
        assert w is not None
        here = self._clip_tile(w, self._tile_of(pos[p, :2]))
        plan = me.plan
        key = (key, tuple(sorted(goals)))
        if plan is None or plan.key != key or here not in plan.path:
            path = self._plan(e, here, goals, pos)
            if path is None:
                me.plan = None
                return  # nothing reachable (safely): stand still
            plan = me.plan = _Plan(key, path)
        i = plan.path.index(here)
        rest = plan.path[i:]
        if len(rest) <= 2 and final_xy is not None:
            cmd.move = np.asarray(final_xy, dtype=np.float64)
            return
        if len(rest) == 1:
            c = self._centre(here)
            if np.linalg.norm(c - pos[p, :2]) > arrive:
                cmd.move = c
            return
        nxt = rest[1]
        point = self._centre(nxt)
        if self._has_fixed_object(e, nxt, pos) and len(rest) > 2:
            # pass beside the object: towards the inner corner of a turn, or sideways on a straight line
            a, b = self._centre(here), self._centre(rest[2])
            side = (a + b) / 2 - point
            if np.linalg.norm(side) < 1e-6:
                d = b - a
                side = np.array([-d[1], d[0]])
            point = point + _WAYPOINT_OFFSET * side / np.linalg.norm(side)
        cmd.move = point

    def _has_fixed_object(self, e, tile, pos) -> bool:
        w = self._worlds[e]
        assert w is not None
        for i in np.flatnonzero(~w.movable):
            if self._tile_of(pos[MP + i, :2]) == tile:
                return True
        return False

    # --------------------------------------------------------------------------------------- steering
    def _steer(self, pos, yaw, move, move_xy, face, face_xy, grab) -> np.ndarray:
        """Discrete actions from movement and facing targets, vectorised over envs × players, with the shield."""
        E, P = yaw.shape
        actions = np.ones((E, P, 5), dtype=np.int64)
        actions[..., 3] = 0
        actions[..., 4] = grab.astype(np.int64)
        here = pos[..., :2]
        d_move = move_xy - here
        d_face = np.where((face != 0)[..., None], face_xy - here, d_move)
        heading = np.arctan2(d_face[..., 1], d_face[..., 0]) + np.where(face < 0, np.pi, 0.0)
        err = _wrap(heading - yaw)
        turning = (face != 0) | move
        turn = np.where(err > _TURN_TOL, 2, np.where(err < -_TURN_TOL, 0, 1))
        actions[..., 2] = np.where(turning, turn, 1)

        # the one of 8 discrete directions (in the avatar's frame) closest to the movement target
        local = _wrap(np.arctan2(d_move[..., 1], d_move[..., 0]) - yaw)
        octant = np.round(local / (np.pi / 4)) * (np.pi / 4)
        fwd = np.where(np.cos(octant) > 0.3, 1, np.where(np.cos(octant) < -0.3, -1, 0))
        strafe = np.where(np.sin(octant) > 0.3, 1, np.where(np.sin(octant) < -0.3, -1, 0))
        fwd, strafe = np.where(move, fwd, 0), np.where(move, strafe, 0)

        # shield: cancel steps whose look-ahead point leaves the safe, walkable region
        c, s = np.cos(yaw), np.sin(yaw)
        norm = np.maximum(np.hypot(fwd, strafe), 1.0)
        dx, dy = (fwd * c - strafe * s) / norm, (fwd * s + strafe * c) / norm
        probe = here + _LOOKAHEAD * np.stack([dx, dy], -1)
        safe = self._safe_step(here, probe)
        fwd, strafe = np.where(safe, fwd, 0), np.where(safe, strafe, 0)
        actions[..., 0] = fwd + 1
        actions[..., 1] = strafe + 1
        return actions

    def _safe_step(self, here: np.ndarray, probe: np.ndarray) -> np.ndarray:
        """[E, P] bool: moving from ``here`` to ``probe`` stays on the grid, off hazards (when avoided) and
        between tiles the walkability graph joins (or same-level plain diagonal neighbours)."""
        E, P = here.shape[:2]
        ts = self.tile
        r0, c0 = np.floor(here[..., 1] / ts).astype(np.int64), np.floor(here[..., 0] / ts).astype(np.int64)
        r1, c1 = np.floor(probe[..., 1] / ts).astype(np.int64), np.floor(probe[..., 0] / ts).astype(np.int64)
        rows, cols = self._shape[:, None, 0], self._shape[:, None, 1]
        inside = (r1 >= 0) & (c1 >= 0) & (r1 < rows) & (c1 < cols)
        G = ws.MAX_GRID
        env = np.arange(E)[:, None]
        R0, C0 = np.clip(r0, 0, G - 1), np.clip(c0, 0, G - 1)
        R1, C1 = np.clip(r1, 0, G - 1), np.clip(c1, 0, G - 1)
        same = (r0 == r1) & (c0 == c1)
        dr, dc = r1 - r0, c1 - c0
        k = np.select([(dr == 1) & (dc == 0), (dr == -1) & (dc == 0), (dr == 0) & (dc == 1), (dr == 0) & (dc == -1)],
                      [0, 1, 2, 3], -1)
        joined = np.where(k >= 0, self._conn[env, R0, C0, np.maximum(k, 0)], False)
        diagonal = (np.abs(dr) == 1) & (np.abs(dc) == 1)
        flat_diag = (diagonal & (self._level[env, R0, C0] == self._level[env, R1, C1]) & ~self._ramp[env, R0, C0]
                     & ~self._ramp[env, R1, C1])
        blocked = self._blocked[env, R1, C1]
        return same | (inside & ~blocked & (joined | flat_diag))


@dataclass
class _Command:
    """What one player should do this step (world frame)."""

    move: np.ndarray | None = None  # point to walk towards
    face: np.ndarray | None = None  # point to face (or turn away from)
    face_sign: int = 1
    grab: bool = False
    jump: bool = False


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi
