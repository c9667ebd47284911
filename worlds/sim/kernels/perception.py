"""Kernels from the world's state to what the game and the players need: entity state, predicate truth, goal
reward and shaping potential (``worlds.sim.predicates``), ray features and proprioception (``worlds.sim.observations``)."""

from __future__ import annotations

import math

import numpy as np

from worlds.sim.kernels import jit


@jit
def entity_state(
    avatar_pos: np.ndarray, avatar_yaw: np.ndarray, object_pos: np.ndarray, held: np.ndarray, ray_geom: np.ndarray, present: np.ndarray,
    object_bottom: np.ndarray, tile_top: np.ndarray, tile_colour: np.ndarray, grid: np.ndarray,
    see_mask: np.ndarray, geom_entity: np.ndarray, max_players: int, avatar_half_height: float, tile_size: float,
    object_half_size: float, slack: float,
    out_pos: np.ndarray, out_floor_colour: np.ndarray, out_grounded: np.ndarray, out_held: np.ndarray,
    out_seen: np.ndarray, out_support: np.ndarray, out_active: np.ndarray, out_yaw: np.ndarray,
) -> None:  # fmt: skip
    """Fill a fresh ``predicates.EntityState`` (the ``out_*`` arrays, rows: players then object slots) from the
    avatars' and objects' poses, holds and ray hits. What each field means is ``BatchEnv.entity_state``'s."""
    E, P = avatar_pos.shape[0], avatar_pos.shape[1]
    O = object_pos.shape[1]
    N = out_pos.shape[1]
    G = tile_top.shape[1]
    bottom = np.zeros(N)
    for e in range(E):
        for n in range(N):
            out_active[e, n] = present[e, n]
            bottom[n] = 0.0
        for p in range(P):
            for j in range(3):
                out_pos[e, p, j] = avatar_pos[e, p, j]
            bottom[p] = avatar_pos[e, p, 2] - avatar_half_height
            out_yaw[e, p] = avatar_yaw[e, p]
            out_held[e, p] = held[e, p]
        for o in range(O):
            for j in range(3):
                out_pos[e, max_players + o, j] = object_pos[e, o, j]
            bottom[max_players + o] = object_pos[e, o, 2] - object_bottom[e, o]
        rows, cols = grid[e, 0], grid[e, 1]
        for n in range(N):
            x, y = np.float64(out_pos[e, n, 0]), np.float64(out_pos[e, n, 1])  # the float32 positions
            col, row = int(math.floor(x / tile_size)), int(math.floor(y / tile_size))
            inside = row >= 0 and col >= 0 and row < rows and col < cols
            rr, cc = min(max(row, 0), G - 1), min(max(col, 0), G - 1)
            out_floor_colour[e, n] = tile_colour[e, rr, cc] if inside else -1
            out_grounded[e, n] = inside and abs(bottom[n] - tile_top[e, rr, cc]) < slack and out_active[e, n]
            # resting on an object: within its footprint, bottom at its top (the first such object)
            support = -1
            for o in range(O):
                if n == max_players + o or not out_active[e, max_players + o]:
                    continue
                dx, dy = x - object_pos[e, o, 0], y - object_pos[e, o, 1]
                top = object_pos[e, o, 2] + object_half_size
                if math.sqrt(dx * dx + dy * dy) < object_half_size * 1.2 and abs(bottom[n] - top) < slack:
                    support = max_players + o
                    break
            out_support[e, n] = support
        # seen: some ray of the player within the see field of view hit the entity
        for p in range(P):
            for r in range(ray_geom.shape[2]):
                g = ray_geom[e, p, r]
                if g >= 0 and see_mask[r] and geom_entity[g] >= 0:
                    out_seen[e, p, geom_entity[g]] = True


@jit
def predicate_truth(
    relation: np.ndarray, negated: np.ndarray, a_index: np.ndarray, b_index: np.ndarray, b_floor: np.ndarray,
    valid: np.ndarray, pos: np.ndarray, floor_colour: np.ndarray, grounded: np.ndarray, held: np.ndarray,
    seen: np.ndarray, support: np.ndarray, active: np.ndarray, near_squared: np.float32, max_players: int,
) -> np.ndarray:  # fmt: skip
    """bool [E, P, O, K]: truth of every goal predicate (``worlds.sim.predicates.predicate_truth``). Distances are
    compared in float32, as the positions are."""
    E, P, O, K = relation.shape
    out = np.zeros((E, P, O, K), dtype=np.bool_)
    for e in range(E):
        for p in range(P):
            for o in range(O):
                for k in range(K):
                    if not valid[e, p, o, k]:
                        continue
                    a, floor = np.int64(a_index[e, p, o, k]), b_floor[e, p, o, k]
                    b_raw = np.int64(b_index[e, p, o, k])
                    b = 0 if floor else b_raw
                    ap = min(a, max_players - 1)
                    rel = relation[e, p, o, k]
                    if rel == 0:
                        dx = pos[e, a, 0] - pos[e, b, 0]
                        dy = pos[e, a, 1] - pos[e, b, 1]
                        dz = pos[e, a, 2] - pos[e, b, 2]
                        base = dx * dx + dy * dy + dz * dz < near_squared
                    elif rel == 1:
                        if floor:
                            base = grounded[e, a] and floor_colour[e, a] == b_raw
                        else:
                            base = support[e, a] == b
                    elif rel == 2:
                        base = held[e, ap] == b - max_players
                    else:
                        base = seen[e, ap, b]
                    on = active[e, a] and (floor or active[e, b])
                    out[e, p, o, k] = (base and on) != negated[e, p, o, k]
    return out


@jit
def goal_reward(truth: np.ndarray, valid: np.ndarray, option_valid: np.ndarray, player_valid: np.ndarray) -> np.ndarray:
    """float32 [E, P]: 1 where some real option of the player's goal has all its real predicates true."""
    E, P, O, K = truth.shape
    out = np.zeros((E, P), dtype=np.float32)
    for e in range(E):
        for p in range(P):
            if not player_valid[e, p]:
                continue
            for o in range(O):
                if not option_valid[e, p, o]:
                    continue
                holds = True
                for k in range(K):
                    holds &= truth[e, p, o, k] or not valid[e, p, o, k]
                if holds:
                    out[e, p] = 1.0
                    break
    return out


@jit
def _floor_distance(x: float, y: float, colour: int, tile_colour: np.ndarray, rows: int, cols: int,
                    tile_size: float) -> float:
    """Metres from (x, y) to the nearest tile of ``colour`` of one env's grid (0 on one; inf without one)."""
    best = np.inf
    for r in range(rows):
        for c in range(cols):
            if tile_colour[r, c] != colour:
                continue
            dx = max(c * tile_size - x, 0.0, x - (c + 1) * tile_size)
            dy = max(r * tile_size - y, 0.0, y - (r + 1) * tile_size)
            best = min(best, math.sqrt(dx * dx + dy * dy))
    return best


@jit
def goal_potential(
    relation: np.ndarray, negated: np.ndarray, a_index: np.ndarray, b_index: np.ndarray, b_floor: np.ndarray,
    valid: np.ndarray, option_valid: np.ndarray, player_valid: np.ndarray, truth: np.ndarray, pos: np.ndarray,
    yaw: np.ndarray, held: np.ndarray, tile_colour: np.ndarray, grid: np.ndarray, tile_size: float,
    near_distance: float, reach: float, see_range: float, unit: float, max_players: int,
) -> np.ndarray:  # fmt: skip
    """float32 [E, P]: the shaping potential of ``worlds.sim.predicates.goal_potential``: per option the sum over
    its unmet literals of -(unit + the literal's progress still to make), the best option's sum per player (0
    without a real option). A literal that holds contributes 0."""
    E, P, O, K = relation.shape
    out = np.zeros((E, P), dtype=np.float32)
    for e in range(E):
        rows, cols = grid[e, 0], grid[e, 1]
        for p in range(P):
            best = -np.inf
            for o in range(O):
                if not option_valid[e, p, o]:
                    continue
                total = 0.0
                for k in range(K):
                    if not valid[e, p, o, k] or truth[e, p, o, k]:
                        continue
                    rel = relation[e, p, o, k]
                    a, floor = np.int64(a_index[e, p, o, k]), b_floor[e, p, o, k]
                    b = np.int64(b_index[e, p, o, k])
                    ax, ay, az = np.float64(pos[e, a, 0]), np.float64(pos[e, a, 1]), np.float64(pos[e, a, 2])
                    bx, by, bz = (ax, ay, az) if floor else (np.float64(pos[e, b, 0]), np.float64(pos[e, b, 1]),
                                                              np.float64(pos[e, b, 2]))  # fmt: skip
                    dist = math.sqrt((ax - bx) ** 2 + (ay - by) ** 2 + (az - bz) ** 2)
                    progress = 0.0
                    if negated[e, p, o, k]:
                        if rel == 0:  # not near: the distance still to open
                            progress = max(near_distance - dist, 0.0)
                    elif rel == 2:  # hold: walk within reach (the grab itself is the literal's unit)
                        progress = max(dist - reach, 0.0)
                    elif rel == 3:  # see: turn towards b, come within the camera's range of low objects
                        ya = np.float64(yaw[e, a])
                        turn = math.atan2(by - ay, bx - ax) - ya
                        turn = abs(math.atan2(math.sin(turn), math.cos(turn)))
                        progress = turn / math.pi + max(dist - see_range, 0.0)
                    else:
                        if rel == 0:  # near: the distance still to close
                            progress = max(dist - near_distance, 0.0)
                        elif floor:  # on a floor colour: to the nearest tile of it
                            progress = _floor_distance(ax, ay, b, tile_colour[e], rows, cols, tile_size)
                            if not math.isfinite(progress):
                                progress = 0.0
                        else:  # on an object: over its footprint
                            progress = math.sqrt((ax - bx) ** 2 + (ay - by) ** 2)
                        # an object that must be moved and is not held by the player: fetch it first
                        if a >= max_players and (floor or b != p) and held[e, p] != a - max_players:
                            px, py, pz = np.float64(pos[e, p, 0]), np.float64(pos[e, p, 1]), np.float64(pos[e, p, 2])
                            fetch = math.sqrt((px - ax) ** 2 + (py - ay) ** 2 + (pz - az) ** 2)
                            progress += unit + max(fetch - reach, 0.0)  # the grab is worth a unit too
                    total -= unit + progress
                best = max(best, total)
            if player_valid[e, p] and math.isfinite(best):
                out[e, p] = best
    return out


@jit
def ray_features(
    geomid: np.ndarray, dist: np.ndarray, geom_category: np.ndarray, geom_colour: np.ndarray, geom_shape: np.ndarray,
    max_distance: float, local_dirs: np.ndarray, active: np.ndarray, n_categories: int, n_colours: int,
    features: int,
) -> np.ndarray:  # fmt: skip
    """float32 [E, P, R, features] per ray: distance / range (1 = no hit), category, colour and shape one-hots
    (from the per-env geom tables [E, ngeom], -1 = none), the ray's direction in the player's frame; all zero
    for an inactive player."""
    E, P, R = geomid.shape
    out = np.zeros((E, P, R, features), dtype=np.float32)
    colour0, shape0 = 1 + n_categories, 1 + n_categories + n_colours
    for e in range(E):
        for p in range(P):
            if not active[e, p]:
                continue
            for r in range(R):
                g = geomid[e, p, r]
                o = out[e, p, r]
                if g >= 0:
                    o[0] = min(max(dist[e, p, r] / max_distance, 0.0), 1.0)
                    o[1 + geom_category[e, g]] = 1.0
                    if geom_colour[e, g] >= 0:
                        o[colour0 + geom_colour[e, g]] = 1.0
                    if geom_shape[e, g] >= 0:
                        o[shape0 + geom_shape[e, g]] = 1.0
                else:
                    o[0] = 1.0
                    o[1] = 1.0
                o[features - 3] = local_dirs[r, 0]
                o[features - 2] = local_dirs[r, 1]
                o[features - 1] = local_dirs[r, 2]
    return out


@jit
def proprioception(
    avatar_pos: np.ndarray, avatar_yaw: np.ndarray, avatar_vel: np.ndarray, grounded: np.ndarray, held: np.ndarray,
    step_count: np.ndarray, active: np.ndarray, max_steps: int, max_speed: float, jump_velocity: float,
    max_turn_rate: float, avatar_half_height: float, level_height: float,
) -> np.ndarray:  # fmt: skip
    """float32 [E, P, 8]: forward and left velocity (own frame), vertical velocity, yaw rate, height in levels,
    grounded, holding, share of the episode left; zeros for an inactive player."""
    E, P = avatar_yaw.shape
    out = np.zeros((E, P, 8), dtype=np.float32)
    for e in range(E):
        left = 1.0 - step_count[e] / max_steps
        for p in range(P):
            if not active[e, p]:
                continue
            c, s = math.cos(avatar_yaw[e, p]), math.sin(avatar_yaw[e, p])
            vx, vy = avatar_vel[e, p, 0], avatar_vel[e, p, 1]
            out[e, p, 0] = (c * vx + s * vy) / max_speed
            out[e, p, 1] = (-s * vx + c * vy) / max_speed
            out[e, p, 2] = avatar_vel[e, p, 2] / jump_velocity
            out[e, p, 3] = avatar_vel[e, p, 3] / max_turn_rate
            out[e, p, 4] = (avatar_pos[e, p, 2] - avatar_half_height) / level_height
            out[e, p, 5] = 1.0 if grounded[e, p] else 0.0
            out[e, p, 6] = 1.0 if held[e, p] >= 0 else 0.0
            out[e, p, 7] = left
    return out


@jit
def evaluate_goals(
    avatar_pos: np.ndarray, avatar_yaw: np.ndarray, object_pos: np.ndarray, held: np.ndarray, ray_geom: np.ndarray,
    present: np.ndarray, object_bottom: np.ndarray, tile_top: np.ndarray, tile_colour: np.ndarray, grid: np.ndarray,
    see_mask: np.ndarray, geom_entity: np.ndarray, max_players: int, avatar_half_height: float, tile_size: float,
    object_half_size: float, slack: float,
    relation: np.ndarray, negated: np.ndarray, a_index: np.ndarray, b_index: np.ndarray, b_floor: np.ndarray,
    valid: np.ndarray, option_valid: np.ndarray, player_valid: np.ndarray, near_squared: np.float32,
    near_distance: float, reach: float, see_range: float, unit: float,
    out_pos: np.ndarray, out_floor_colour: np.ndarray, out_grounded: np.ndarray, out_held: np.ndarray,
    out_seen: np.ndarray, out_support: np.ndarray, out_active: np.ndarray, out_yaw: np.ndarray,
):  # fmt: skip
    """A step's game in one call (a kernel call costs a few microseconds of dispatch): :func:`entity_state`
    into the ``out_*`` arrays, then (truth, reward, potential) from :func:`predicate_truth`,
    :func:`goal_reward` and :func:`goal_potential`."""
    entity_state(avatar_pos, avatar_yaw, object_pos, held, ray_geom, present, object_bottom, tile_top, tile_colour, grid,
                 see_mask, geom_entity, max_players, avatar_half_height, tile_size, object_half_size, slack, out_pos,
                 out_floor_colour, out_grounded, out_held, out_seen, out_support, out_active, out_yaw)  # fmt: skip
    truth = predicate_truth(relation, negated, a_index, b_index, b_floor, valid, out_pos, out_floor_colour, out_grounded,
                            out_held, out_seen, out_support, out_active, near_squared, max_players)  # fmt: skip
    reward = goal_reward(truth, valid, option_valid, player_valid)
    potential = goal_potential(relation, negated, a_index, b_index, b_floor, valid, option_valid, player_valid, truth,
                               out_pos, out_yaw, out_held, tile_colour, grid, tile_size, near_distance, reach, see_range,
                               unit, max_players)  # fmt: skip
    return truth, reward, potential
