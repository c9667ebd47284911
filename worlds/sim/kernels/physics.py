"""Kernels around the physics step: actions to controls, grabs, support, hazard and fall flags, instability,
the rays of cameras and probes, and the reading of the batch's state (see ``worlds.sim.world_batch``)."""

from __future__ import annotations

import math

import numpy as np

from worlds.sim.kernels import jit


@jit
def servo_target(yaw: float, forward: float, strafe: float, turn: float, max_speed: float, max_turn_rate: float):
    """(world x, world y, yaw rate) velocity-servo target of one avatar: forward and strafe in its own frame,
    and diagonal walking not faster."""
    c, s = math.cos(yaw), math.sin(yaw)
    scale = max_speed / max(1.0, math.hypot(forward, strafe))
    return (forward * c - strafe * s) * scale, (forward * s + strafe * c) * scale, max_turn_rate * turn


@jit
def servo_targets(yaw: np.ndarray, actions: np.ndarray, max_speed: float, max_turn_rate: float) -> np.ndarray:
    """[n, 3] servo targets of n avatars from their yaws [n] and actions [n, 5] (forward, strafe, turn, ...)."""
    out = np.empty((yaw.shape[0], 3))
    for i in range(yaw.shape[0]):
        out[i, 0], out[i, 1], out[i, 2] = servo_target(yaw[i], actions[i, 0], actions[i, 1], actions[i, 2], max_speed,
                                                       max_turn_rate)  # fmt: skip
    return out


@jit
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


@jit
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


@jit
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


@jit
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


@jit
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


@jit
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


@jit
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


@jit
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


@jit
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


@jit
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


@jit
def gather_state(
    qpos: np.ndarray, qvel: np.ndarray, avatar_qpos: int, avatar_qvel: int, xpos: np.ndarray, xquat: np.ndarray,
    obj_body: np.ndarray, fixed_body: np.ndarray, object_fixed: np.ndarray, eq_active: np.ndarray,
    grab_eq: np.ndarray, grab_body: np.ndarray, body_object: np.ndarray, env_ids: np.ndarray,
    out_pos: np.ndarray, out_yaw: np.ndarray, out_vel: np.ndarray, out_object_pos: np.ndarray,
    out_object_quat: np.ndarray, out_held: np.ndarray,
) -> None:  # fmt: skip
    """Rows ``env_ids`` of ``BatchEnv``'s per-step arrays from the physics batch: avatar position, yaw and
    velocity (x, y, z, yaw rates), held object slot (-1: none), object positions (a fixed object's from its fixed
    body) and orientations."""
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
            out_held[e, p] = body_object[grab_body[e, p]] if eq_active[e, grab_eq[p]] > 0.5 else -1
        for o in range(O):
            body = fixed_body[o] if object_fixed[e, o] else obj_body[o]
            for j in range(3):
                out_object_pos[e, o, j] = xpos[e, body, j]
            for j in range(4):
                out_object_quat[e, o, j] = xquat[e, obj_body[o], j]


# The two calls a step makes around its ray cast: each kernel call costs a few microseconds of dispatch (more
# right after the physics step has flushed the caches), so the per-step kernels are fused into one call before
# the cast and one after it.
@jit
def before_cast(
    sensordata: np.ndarray, sensor_cols: np.ndarray, qpos: np.ndarray, z_adr: np.ndarray, env_ids: np.ndarray,
    half_length: float, normal_z: float, probe_lift: float, slots: int, fields: int, avatar_adr: int,
    local_dirs: np.ndarray, lift: float, out_grounded: np.ndarray,
):  # fmt: skip
    """:func:`support_contacts` (grounded flags written to ``out_grounded`` [E, P] at rows ``env_ids``), then
    :func:`sensor_rays` for the cameras and the support probes. Returns (support, ray origins, ray directions)."""
    support, grounded, origin = support_contacts(sensordata, sensor_cols, qpos, z_adr, env_ids, half_length, normal_z,
                                                 probe_lift, slots, fields)  # fmt: skip
    P = z_adr.shape[0]
    for i in range(env_ids.shape[0]):
        for p in range(P):
            out_grounded[env_ids[i], p] = grounded[i, p]
    pnt, vec = sensor_rays(qpos, avatar_adr, P, env_ids, local_dirs, lift, origin)
    return support, pnt, vec


@jit
def after_cast(
    dist: np.ndarray, geom: np.ndarray, active: np.ndarray, max_distance: float, out_geom: np.ndarray,
    out_dist: np.ndarray, geom_hazard: np.ndarray, support: np.ndarray, qpos: np.ndarray, qvel: np.ndarray,
    userdata: np.ndarray, z_adr: np.ndarray, grounded: np.ndarray, fall_threshold: float, floor_depth: float,
    warning: np.ndarray, bad_warnings: np.ndarray,
):  # fmt: skip
    """For every world, after :func:`before_cast`'s rays were cast: :func:`camera_hits`, then (hazard, fell,
    unstable) from :func:`probe_hazards`, :func:`update_falls` and :func:`unstable_worlds`."""
    env_ids = np.arange(qpos.shape[0])
    camera_hits(dist, geom, env_ids, active, max_distance, out_geom, out_dist)
    hazard = probe_hazards(geom, out_geom.shape[1] * out_geom.shape[2], geom_hazard, support)
    fell = update_falls(qpos, userdata, z_adr, active, grounded, fall_threshold, floor_depth)
    return hazard, fell, unstable_worlds(warning, bad_warnings, qpos, qvel)
