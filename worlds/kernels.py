"""The compiled per-step path of ``BatchEnv``: numba kernels over [envs, players, ...] arrays.

Why compiled: a step of a small batch is a few hundred tiny array operations (controls, support and fall
flags, ray geometry, entity state, predicate truth, shaping potential, observations). In numpy each costs a
microsecond or more of dispatch whatever the batch size, which at one env came to four times the physics it
drives. Each kernel here is one call that loops over envs and players in machine code (``numba.njit``; the
loops are compiled, not Python), so the fixed cost per step is a dozen calls.

Every kernel is a pure function of its arguments, or writes only into the arrays it is handed for that
purpose (named ``out_*`` or documented). Semantics are those described where each kernel is used
(``worlds.sim``, ``worlds.predicates``, ``worlds.observations``, ``worlds.env``); float32 rounding is kept
where the data are float32, so results do not depend on which path computed them. Compiled code is cached
beside this file (``cache=True``), so only the first process after an install pays the compile time.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)


# ------------------------------------------------------------------------------------------- controls
@_jit
def servo_target(yaw: float, forward: float, strafe: float, turn: float, max_speed: float, max_turn_rate: float):
    """(world x, world y, yaw rate) velocity-servo target of one avatar: forward and strafe in its own frame,
    and diagonal walking not faster."""
    c, s = math.cos(yaw), math.sin(yaw)
    scale = max_speed / max(1.0, math.hypot(forward, strafe))
    return (forward * c - strafe * s) * scale, (forward * s + strafe * c) * scale, max_turn_rate * turn


@_jit
def servo_targets(yaw: np.ndarray, actions: np.ndarray, max_speed: float, max_turn_rate: float) -> np.ndarray:
    """[n, 3] servo targets of n avatars from their yaws [n] and actions [n, 5] (forward, strafe, turn, ...)."""
    out = np.empty((yaw.shape[0], 3))
    for i in range(yaw.shape[0]):
        out[i, 0], out[i, 1], out[i, 2] = servo_target(yaw[i], actions[i, 0], actions[i, 1], actions[i, 2], max_speed,
                                                       max_turn_rate)  # fmt: skip
    return out


@_jit
def apply_controls(
    controls: np.ndarray, active: np.ndarray, grounded: np.ndarray, qpos: np.ndarray, qvel: np.ndarray,
    ctrl: np.ndarray, eq_active: np.ndarray, yaw_adr: np.ndarray, ctrl_start: int, jump_adr: np.ndarray,
    grab_eq: np.ndarray, max_speed: float, max_turn_rate: float, jump_velocity: float,
) -> np.ndarray:  # fmt: skip
    """Controls [E, P, 5] in [-1, 1] of every avatar into the batch's state rows: servo targets into ``ctrl``,
    a jump (when grounded) into ``qvel``, a release into ``eq_active``. An inactive player's controls are 0.
    Returns ``take`` [E, P]: players that ask to grab while holding nothing (the caller looks for an object)."""
    E, P = active.shape
    take = np.zeros((E, P), dtype=np.bool_)
    for e in range(E):
        for p in range(P):
            on = active[e, p]
            fwd = controls[e, p, 0] if on else 0.0
            strafe = controls[e, p, 1] if on else 0.0
            turn = controls[e, p, 2] if on else 0.0
            x, y, z = servo_target(qpos[e, yaw_adr[p]], fwd, strafe, turn, max_speed, max_turn_rate)
            ctrl[e, ctrl_start + 3 * p] = x
            ctrl[e, ctrl_start + 3 * p + 1] = y
            ctrl[e, ctrl_start + 3 * p + 2] = z
            if on and controls[e, p, 3] > 0.5 and grounded[e, p]:
                qvel[e, jump_adr[p]] = jump_velocity
            want = on and controls[e, p, 4] > 0.5
            holding = eq_active[e, grab_eq[p]] > 0.5
            if holding and not want:
                eq_active[e, grab_eq[p]] = 0.0
            take[e, p] = want and not holding
    return take


# ------------------------------------------------------------------------------------------- physics flags
@_jit
def support_contacts(
    sensordata: np.ndarray, sensor_cols: np.ndarray, qpos: np.ndarray, z_adr: np.ndarray, env_ids: np.ndarray,
    half_length: float, normal_z: float, probe_lift: float, slots: int, fields: int,
):  # fmt: skip
    """From the avatars' contact sensors (``slots`` contacts of ``fields`` numbers: found, position, normal):
    ``support`` [n, P, slots] (a contact below the capsule's cylinder with a near-vertical normal),
    ``grounded`` [n, P], and each slot's probe-ray origin [n, P * slots, 3] (just above the contact)."""
    n, P = env_ids.shape[0], z_adr.shape[0]
    support = np.zeros((n, P, slots), dtype=np.bool_)
    grounded = np.zeros((n, P), dtype=np.bool_)
    origin = np.empty((n, P * slots, 3))
    for i in range(n):
        e = env_ids[i]
        for p in range(P):
            foot = qpos[e, z_adr[p]] - half_length
            for k in range(slots):
                base = sensor_cols[p, k * fields]
                found = sensordata[e, base] > 0
                ok = found and sensordata[e, base + 3] < foot and abs(sensordata[e, base + 6]) > normal_z
                support[i, p, k] = ok
                grounded[i, p] |= ok
                origin[i, p * slots + k, 0] = sensordata[e, base + 1]
                origin[i, p * slots + k, 1] = sensordata[e, base + 2]
                origin[i, p * slots + k, 2] = sensordata[e, base + 3] + probe_lift
    return support, grounded, origin


@_jit
def probe_hazards(geom: np.ndarray, first: int, geom_hazard: np.ndarray, support: np.ndarray) -> np.ndarray:
    """[E, P]: some supporting contact slot of the player has its probe ray (geom ids ``geom[e, first + p * slots
    + k]``, -1 for none) on a hazard geom of its world."""
    E, P, K = support.shape
    out = np.zeros((E, P), dtype=np.bool_)
    for e in range(E):
        for p in range(P):
            for k in range(K):
                g = geom[e, first + p * K + k]
                if g >= 0 and support[e, p, k] and geom_hazard[e, g]:
                    out[e, p] = True
    return out


@_jit
def update_falls(qpos: np.ndarray, userdata: np.ndarray, z_adr: np.ndarray, active: np.ndarray, grounded: np.ndarray,
                 fall_threshold: float, floor_depth: float) -> np.ndarray:  # fmt: skip
    """``avatar.update_falls`` for every world and player: True once per fall, on the step an avatar has dropped
    more than ``fall_threshold`` below the height it last stood at (or below the floor). ``userdata`` [E, 2P]
    holds per player (height last stood at, fall reported) and is updated in place."""
    E, P = active.shape
    fell = np.zeros((E, P), dtype=np.bool_)
    for e in range(E):
        for p in range(P):
            z = qpos[e, z_adr[p]]
            stood, reported = userdata[e, 2 * p], userdata[e, 2 * p + 1]
            if active[e, p] and reported < 0.5 and (stood - z > fall_threshold or z < -floor_depth):
                fell[e, p] = True
                userdata[e, 2 * p + 1] = 1.0
            if grounded[e, p]:
                userdata[e, 2 * p] = z
                userdata[e, 2 * p + 1] = 0.0
    return fell


@_jit
def unstable_worlds(warning: np.ndarray, bad_warnings: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """[E]: a bad-warning counter is set, or the state holds a NaN or infinity (MuJoCo's silent reset)."""
    E = qpos.shape[0]
    out = np.zeros(E, dtype=np.bool_)
    for e in range(E):
        bad = False
        for w in bad_warnings:
            bad |= warning[e, w, 1] > 0
        for j in range(qpos.shape[1]):
            bad |= not math.isfinite(qpos[e, j])
        for j in range(qvel.shape[1]):
            bad |= not math.isfinite(qvel[e, j])
        out[e] = bad
    return out


# ------------------------------------------------------------------------------------------- ray camera
@_jit
def sensor_rays(qpos: np.ndarray, avatar_adr: int, players: int, env_ids: np.ndarray, local_dirs: np.ndarray, lift: float,
                probe_origin: np.ndarray):  # fmt: skip
    """Ray origins and world directions, both [n, P * R + S, 3], for one batched cast in the worlds ``env_ids``:
    first every player's camera (the rays ``local_dirs`` [R, 3] of the avatar's frame, turned by its yaw, from
    its centre raised by ``lift``), then the S = ``probe_origin.shape[1]`` probes [n, S, 3] straight down.
    Avatar p's (x, y, z, yaw) sit at ``qpos[e, avatar_adr + 4p : + 4]``."""
    n, R, S = env_ids.shape[0], local_dirs.shape[0], probe_origin.shape[1]
    pnt = np.empty((n, players * R + S, 3))
    vec = np.empty((n, players * R + S, 3))
    for i in range(n):
        e = env_ids[i]
        for p in range(players):
            q = avatar_adr + 4 * p
            c, s = math.cos(qpos[e, q + 3]), math.sin(qpos[e, q + 3])
            for r in range(R):
                j = p * R + r
                pnt[i, j, 0], pnt[i, j, 1], pnt[i, j, 2] = qpos[e, q], qpos[e, q + 1], qpos[e, q + 2] + lift
                vec[i, j, 0] = c * local_dirs[r, 0] - s * local_dirs[r, 1]
                vec[i, j, 1] = s * local_dirs[r, 0] + c * local_dirs[r, 1]
                vec[i, j, 2] = local_dirs[r, 2]
        for k in range(S):
            j = players * R + k
            pnt[i, j, 0], pnt[i, j, 1], pnt[i, j, 2] = probe_origin[i, k, 0], probe_origin[i, k, 1], probe_origin[i, k, 2]
            vec[i, j, 0], vec[i, j, 1], vec[i, j, 2] = 0.0, 0.0, -1.0
    return pnt, vec


@_jit
def camera_hits(dist: np.ndarray, geom: np.ndarray, env_ids: np.ndarray, active: np.ndarray, max_distance: float,
                out_geom: np.ndarray, out_dist: np.ndarray) -> None:  # fmt: skip
    """Ray-cast results ``dist``/``geom`` [n, P * R (+ probes)] of ``env_ids`` into ``out_geom``/``out_dist``
    [E, P, R]: -1 for a miss, a hit beyond ``max_distance`` and every ray of an inactive player."""
    P, R = out_geom.shape[1], out_geom.shape[2]
    for i in range(env_ids.shape[0]):
        e = env_ids[i]
        for p in range(P):
            for r in range(R):
                g, d = geom[i, p * R + r], dist[i, p * R + r]
                if g < 0 or d > max_distance or not active[e, p]:
                    out_geom[e, p, r], out_dist[e, p, r] = -1, -1.0
                else:
                    out_geom[e, p, r], out_dist[e, p, r] = g, d


@_jit
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


# ------------------------------------------------------------------------------------------- entities
@_jit
def entity_state(
    avatar_pos: np.ndarray, object_pos: np.ndarray, held: np.ndarray, ray_geom: np.ndarray, present: np.ndarray,
    object_bottom: np.ndarray, tile_top: np.ndarray, tile_colour: np.ndarray, grid: np.ndarray,
    see_mask: np.ndarray, geom_entity: np.ndarray, max_players: int, avatar_half_height: float, tile_size: float,
    object_half_size: float, slack: float,
    out_pos: np.ndarray, out_floor_colour: np.ndarray, out_grounded: np.ndarray, out_held: np.ndarray,
    out_seen: np.ndarray, out_support: np.ndarray, out_active: np.ndarray,
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


@_jit
def predicate_truth(
    relation: np.ndarray, negated: np.ndarray, a_index: np.ndarray, b_index: np.ndarray, b_floor: np.ndarray,
    valid: np.ndarray, pos: np.ndarray, floor_colour: np.ndarray, grounded: np.ndarray, held: np.ndarray,
    seen: np.ndarray, support: np.ndarray, active: np.ndarray, near_squared: np.float32, max_players: int,
) -> np.ndarray:  # fmt: skip
    """bool [E, P, O, K]: truth of every goal predicate (``worlds.predicates.predicate_truth``). Distances are
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


@_jit
def goal_potential(
    relation: np.ndarray, negated: np.ndarray, a_index: np.ndarray, b_index: np.ndarray, b_floor: np.ndarray,
    valid: np.ndarray, option_valid: np.ndarray, player_valid: np.ndarray, pos: np.ndarray, near_distance: float,
) -> np.ndarray:  # fmt: skip
    """float32 [E, P]: the shaping potential of ``worlds.predicates.goal_potential`` (best option's sum of minus
    the distance beyond ``near_distance`` of its positive near/hold predicates; 0 without a real option)."""
    E, P, O, K = relation.shape
    out = np.zeros((E, P), dtype=np.float32)
    for e in range(E):
        for p in range(P):
            best = -np.inf
            for o in range(O):
                if not option_valid[e, p, o]:
                    continue
                total = 0.0
                for k in range(K):
                    rel = relation[e, p, o, k]
                    if not valid[e, p, o, k] or negated[e, p, o, k] or b_floor[e, p, o, k] or (rel != 0 and rel != 2):
                        term = 0.0
                    else:
                        a, b = np.int64(a_index[e, p, o, k]), np.int64(b_index[e, p, o, k])
                        dx = np.float64(pos[e, a, 0]) - np.float64(pos[e, b, 0])
                        dy = np.float64(pos[e, a, 1]) - np.float64(pos[e, b, 1])
                        dz = np.float64(pos[e, a, 2]) - np.float64(pos[e, b, 2])
                        term = -max(math.sqrt(dx * dx + dy * dy + dz * dz) - near_distance, 0.0)
                    total = term if k == 0 else total + term
                best = max(best, total)
            if player_valid[e, p] and math.isfinite(best):
                out[e, p] = best
    return out


# ------------------------------------------------------------------------------------------- proprioception
@_jit
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


# ------------------------------------------------------------------------------------------- actions, state, reward
@_jit
def discrete_controls(actions: np.ndarray, nvec: np.ndarray):
    """(controls [E, P, 5] float in [-1, 1], flat index of the first out-of-range action or -1): integer
    actions in ``0..nvec-1`` per component, the first three (forward, strafe, turn) centred on 0."""
    E, P, A = actions.shape
    out = np.empty((E, P, A))
    for e in range(E):
        for p in range(P):
            for k in range(A):
                a = actions[e, p, k]
                if a < 0 or a >= nvec[k]:
                    return out, (e * P + p) * A + k
                out[e, p, k] = a - 1.0 if k < 3 else float(a)
    return out, -1


@_jit
def continuous_controls(actions: np.ndarray):
    """(controls [E, P, 5] float64, flat index of the first non-finite or out-of-[-1, 1] action or -1)."""
    E, P, A = actions.shape
    out = np.empty((E, P, A))
    for e in range(E):
        for p in range(P):
            for k in range(A):
                a = np.float64(actions[e, p, k])
                if not math.isfinite(a) or abs(a) > 1.0:
                    return out, (e * P + p) * A + k
                out[e, p, k] = a
    return out, -1


@_jit
def gather_state(
    qpos: np.ndarray, qvel: np.ndarray, avatar_qpos: int, avatar_qvel: int, grounded: np.ndarray, xpos: np.ndarray,
    xquat: np.ndarray, obj_body: np.ndarray, fixed_body: np.ndarray, object_fixed: np.ndarray, eq_active: np.ndarray,
    grab_eq: np.ndarray, grab_body: np.ndarray, body_object: np.ndarray, env_ids: np.ndarray,
    out_pos: np.ndarray, out_yaw: np.ndarray, out_vel: np.ndarray, out_grounded: np.ndarray,
    out_object_pos: np.ndarray, out_object_quat: np.ndarray, out_held: np.ndarray,
) -> None:  # fmt: skip
    """Rows ``env_ids`` of ``BatchEnv``'s per-step arrays from the physics batch: avatar position, yaw and
    velocity (x, y, z, yaw rates), grounded, held object slot (-1: none), object positions (a fixed object's
    from its fixed body) and orientations."""
    P, O = out_yaw.shape[1], out_object_pos.shape[1]
    for i in range(env_ids.shape[0]):
        e = env_ids[i]
        for p in range(P):
            q, v = avatar_qpos + 4 * p, avatar_qvel + 4 * p
            for j in range(3):
                out_pos[e, p, j] = qpos[e, q + j]
            out_yaw[e, p] = qpos[e, q + 3]
            for j in range(4):
                out_vel[e, p, j] = qvel[e, v + j]
            out_grounded[e, p] = grounded[e, p]
            out_held[e, p] = body_object[grab_body[e, p]] if eq_active[e, grab_eq[p]] > 0.5 else -1
        for o in range(O):
            body = fixed_body[o] if object_fixed[e, o] else obj_body[o]
            for j in range(3):
                out_object_pos[e, o, j] = xpos[e, body, j]
            for j in range(4):
                out_object_quat[e, o, j] = xquat[e, obj_body[o], j]


@_jit
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


@_jit
def choose_grabs(
    take: np.ndarray, xpos: np.ndarray, obj_body: np.ndarray, avatar_body: np.ndarray, object_movable: np.ndarray,
    eq_active: np.ndarray, grab_eq: np.ndarray, grab_body: np.ndarray, body_object: np.ndarray, grab_reach: float,
) -> np.ndarray:  # fmt: skip
    """[n, 3] (world, player, object body) of the grabs that succeed: each player of ``take`` [E, P], in
    ascending order, gets its nearest free movable object within ``grab_reach`` (``avatar._grab``); an object
    already held, or taken by a lower player this step, is not free."""
    E, P = take.shape
    O = obj_body.shape[0]
    out = np.empty((E * P, 3), dtype=np.int64)
    n = 0
    free = np.empty(O, dtype=np.bool_)
    dist = np.empty((P, O))
    for e in range(E):
        wants = False
        for p in range(P):
            wants |= take[e, p]
        if not wants:
            continue
        for o in range(O):
            free[o] = object_movable[e, o]
        for p in range(P):
            if eq_active[e, grab_eq[p]] > 0.5:
                free[body_object[grab_body[e, p]]] = False
        for p in range(P):
            a = avatar_body[p]
            for o in range(O):
                b = obj_body[o]
                dx, dy, dz = xpos[e, b, 0] - xpos[e, a, 0], xpos[e, b, 1] - xpos[e, a, 1], xpos[e, b, 2] - xpos[e, a, 2]
                d = math.sqrt(dx * dx + dy * dy + dz * dz)
                dist[p, o] = d if take[e, p] and free[o] and d <= grab_reach else np.inf
        for p in range(P):
            if not take[e, p]:
                continue
            k = 0
            for o in range(1, O):
                if dist[p, o] < dist[p, k]:
                    k = o
            if not math.isfinite(dist[p, k]):
                continue
            for q in range(P):
                dist[q, k] = np.inf  # one holder per object
            out[n, 0], out[n, 1], out[n, 2] = e, p, obj_body[k]
            n += 1
    return out[:n]
