"""Per-step avatar control and state readers over a loaded template model, vectorised over players.

Action columns (each in [-1, 1]): 0 forward, 1 strafe (+ is to the avatar's left), 2 turn (+ is
counter-clockwise), 3 jump (> 0.5 jumps if standing on something), 4 grab (> 0.5 holds; <= 0.5 releases).

Per-data state lives in ``data.userdata`` (two floats per player: the height it last stood at, and whether the
current fall was already reported), so a ``(model, data)`` pair carries everything and can be copied, stepped
by ``mujoco.rollout`` or reset by ``WorldTemplate.load`` without side tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from worlds.sim import kernels
from worlds.sim.template import PhysicsConfig, WorldTemplate

ACTION_DIM = 5
A_FORWARD, A_STRAFE, A_TURN, A_JUMP, A_GRAB = range(ACTION_DIM)

#: Warning counters that mean the simulation state can no longer be trusted (MuJoCo resets data silently on
#: NaN/instability, or drops contacts when its buffers are full).
BAD_WARNINGS = np.array(
    [
        int(mujoco.mjtWarning.mjWARN_BADQACC),
        int(mujoco.mjtWarning.mjWARN_BADQVEL),
        int(mujoco.mjtWarning.mjWARN_BADQPOS),
        int(mujoco.mjtWarning.mjWARN_BADCTRL),
        int(mujoco.mjtWarning.mjWARN_CONTACTFULL),
        int(mujoco.mjtWarning.mjWARN_CNSTRFULL),
        int(mujoco.mjtWarning.mjWARN_INERTIA),
    ]
)


def check_actions(actions: np.ndarray, players: int) -> np.ndarray:
    """Validate and clip an action array: a bad action must fail loudly, never reach the physics as NaN."""
    a = np.asarray(actions, dtype=np.float64)
    if a.shape != (players, ACTION_DIM):
        raise ValueError(f"actions: expected shape ({players}, {ACTION_DIM}), got {a.shape}")
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0]
        raise ValueError(f"actions[{bad[0]}, {bad[1]}]: not finite ({a[tuple(bad)]})")
    return np.clip(a, -1.0, 1.0)


def player_active(template: WorldTemplate, model: mujoco.MjModel) -> np.ndarray:
    """[players] bool: which avatar slots the loaded world uses."""
    return model.body_user[template.avatar_body, 0] > 0.5


def avatar_positions(template: WorldTemplate, data: mujoco.MjData) -> np.ndarray:
    """[players, 3] centre of each avatar capsule in world coordinates."""
    return data.qpos[template.avatar_qpos_slice].reshape(-1, 4)[:, :3].copy()


def avatar_yaw(template: WorldTemplate, data: mujoco.MjData) -> np.ndarray:
    """[players] heading in radians (0 faces +x, counter-clockwise), unwrapped."""
    return data.qpos[template.avatar_qpos_slice].reshape(-1, 4)[:, 3].copy()


def avatar_velocities(template: WorldTemplate, data: mujoco.MjData) -> np.ndarray:
    """[players, 4] world-frame (vx, vy, vz, yaw rate)."""
    return data.qvel[template.avatar_qvel_slice].reshape(-1, 4).copy()


def object_positions(template: WorldTemplate, model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """[max_objects, 3] position of each object slot (the free body if movable, the static one if fixed)."""
    fixed = model.body_user[template.fixed_body, 0] > 0.5
    return np.where(fixed[:, None], data.xpos[template.fixed_body], data.xpos[template.obj_body])


def held_objects(template: WorldTemplate, model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """[players] object slot each player holds, -1 if none."""
    active = data.eq_active[template.grab_eq].astype(bool)
    slot = template.body_object[model.eq_obj2id[template.grab_eq]]
    return np.where(active, slot, -1)


#: A contact supports an avatar only when its normal is within ~45 degrees of vertical: a wall touched by the
#: lower hemisphere is not ground (counting it let avatars jump up walls, one jump per step, out of the arena).
SUPPORT_NORMAL_Z = 0.7


def _contact_scan(
    template: WorldTemplate, model: mujoco.MjModel, data: mujoco.MjData, hazards: bool
) -> tuple[list[bool], list[bool]]:
    """([players] grounded, [players] on_hazard) as Python lists, from one pass over the (few) contacts in plain
    Python, which beats a dozen numpy calls on arrays of ~15 rows. A contact counts for a player when one side
    is its capsule, the contact point is below the bottom of the capsule's cylinder and its normal is near
    vertical; the other side's hazard flag is read only if ``hazards``."""
    P = template.capacity.players
    g = [False] * P
    h = [False] * P
    n = data.ncon
    if n == 0:
        return g, h
    gp = template.geom_player_list
    c = data.contact
    pairs = c.geom.tolist()
    hit = [i for i, (g0, g1) in enumerate(pairs) if gp[g0] >= 0 or gp[g1] >= 0]
    if not hit:
        return g, h
    zs = c.pos[:, 2].tolist()
    nz = c.frame[:, 2].tolist()
    qz = data.qpos[template.avatar_qpos_slice][2::4].tolist()
    hl = template.physics.avatar_half_length
    user = model.geom_user if hazards else None
    for i in hit:
        if abs(nz[i]) <= SUPPORT_NORMAL_Z:
            continue
        g0, g1 = pairs[i]
        z = zs[i]
        for mine, other in ((g0, g1), (g1, g0)):
            p = gp[mine]
            if p >= 0 and z < qz[p] - hl:
                g[p] = True
                if hazards and not h[p] and user[other, 2] > 0.5:
                    h[p] = True
    return g, h


def _ground_flags(
    template: WorldTemplate, model: mujoco.MjModel, data: mujoco.MjData
) -> tuple[np.ndarray, np.ndarray]:
    """([players] grounded, [players] on_hazard) from one pass over the contacts."""
    g, h = _contact_scan(template, model, data, True)
    return np.array(g, dtype=bool), np.array(h, dtype=bool)


def grounded(template: WorldTemplate, data: mujoco.MjData) -> np.ndarray:
    """[players] bool: the avatar stands on something (floor, ramp, object, another avatar)."""
    return np.array(_contact_scan(template, None, data, False)[0], dtype=bool)  # type: ignore[arg-type]


def on_hazard(template: WorldTemplate, model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """[players] bool: the avatar stands on a hazard tile (or a ramp on one)."""
    return _ground_flags(template, model, data)[1]


def update_falls(
    template: WorldTemplate,
    model: mujoco.MjModel,
    data: mujoco.MjData,
    is_grounded: np.ndarray | None = None,
) -> np.ndarray:
    """[players] bool: True once per fall, on the step an avatar has dropped more than ``fall_threshold`` below
    the height it last stood at (off a higher level, or through/off the world). Call once per env step.

    Jumping does not count (it rises first, then lands back near where it stood); walking down a ramp does not
    count (the avatar stays grounded, so the reference height follows it).
    """
    ph = template.physics
    ud = data.userdata.reshape(template.capacity.players, 2)
    z = data.qpos[template.avatar_qpos_slice][2::4]
    active = player_active(template, model)
    g = grounded(template, data) if is_grounded is None else is_grounded
    drop = ud[:, 0] - z
    fell = active & (ud[:, 1] < 0.5) & ((drop > ph.fall_threshold) | (z < -ph.floor_depth))
    ud[fell, 1] = 1.0
    ud[g, 0] = z[g]
    ud[g, 1] = 0.0
    return fell


def unstable(data: mujoco.MjData) -> bool:
    """True if MuJoCo raised any warning that invalidates the state since the last reset (bad qacc/qpos/qvel
    triggers a silent auto-reset; full contact/constraint buffers drop constraints), or the state is not
    finite. The env ends the episode when this is True."""
    if data.warning.number[BAD_WARNINGS].any():  # ndarray methods: this runs once per env step
        return True
    return not (np.isfinite(data.qpos).all() and np.isfinite(data.qvel).all())


def servo_targets(physics: PhysicsConfig, yaw: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """[..., 3] velocity-servo targets (world x, world y, yaw rate) from [..., 5] actions in [-1, 1] and the
    avatars' headings [...]: forward and strafe are in the avatar's own frame, and diagonal walking is not
    faster. The same compiled function (``kernels.physics.servo_target``) serves ``worlds.sim.world_batch.WorldBatch``, so
    the one-world and the batched physics agree bit for bit."""
    yaw = np.asarray(yaw, dtype=np.float64)
    flat = np.ascontiguousarray(np.asarray(actions, dtype=np.float64).reshape(-1, ACTION_DIM))
    out = kernels.physics.servo_targets(np.ascontiguousarray(yaw.reshape(-1)), flat, physics.max_speed,
                                        physics.max_turn_rate)  # fmt: skip
    return out.reshape(yaw.shape + (3,))


def weld_pose(pos1: np.ndarray, quat1: np.ndarray, pos2: np.ndarray, quat2: np.ndarray) -> np.ndarray:
    """The 11 leading ``eq_data`` numbers of a weld that holds body 2 at its current pose relative to body 1:
    [0:3] anchor on body 2 = 0, [3:6] body 2's position in body 1's frame, [6:10] q1^-1 * q2, [10] torquescale
    (checked against what the compiler writes for a weld compiled at a known pose)."""
    q1inv = np.zeros(4)
    mujoco.mju_negQuat(q1inv, quat1)
    rel = np.zeros(3)
    mujoco.mju_rotVecQuat(rel, pos2 - pos1, q1inv)
    rq = np.zeros(4)
    mujoco.mju_mulQuat(rq, q1inv, quat2)
    return np.concatenate([np.zeros(3), rel, rq, [1.0]])


def apply_actions(template: WorldTemplate, model: mujoco.MjModel, data: mujoco.MjData, actions: np.ndarray) -> None:
    """Turn a [players, 5] action array into controls, jumps and grabs for the next control period.

    Movement is a velocity servo in the avatar's own frame (forward along its heading, strafe to its left),
    turning a yaw-rate servo; both are zero for inactive players. A jump sets the vertical velocity of an avatar
    that is standing on something. Grabbing welds the nearest free, movable object within ``grab_reach`` at its
    current relative pose (so nothing jumps), and releasing deactivates the weld.
    """
    ph, P = template.physics, template.capacity.players
    a = check_actions(actions, P)
    active = model.body_user[template.avatar_body, 0] > 0.5
    a[~active] = 0.0
    yaw = data.qpos[template.avatar_qpos_slice].reshape(P, 4)[:, 3]
    data.ctrl[template.avatar_ctrl_slice] = servo_targets(ph, yaw, a).ravel()

    jump = active & (a[:, A_JUMP] > 0.5)
    if jump.any():
        jump &= grounded(template, data)
        data.qvel[template.avatar_qvel_slice].reshape(P, 4)[jump, 2] = ph.jump_velocity

    want = active & (a[:, A_GRAB] > 0.5)
    eq = template.grab_eq
    eq_active = data.eq_active
    holding = eq_active[eq] > 0
    release = holding & ~want
    if release.any():
        eq_active[eq[release]] = 0
    take = want & ~holding
    if take.any():
        _grab(template, model, data, np.flatnonzero(take))


def _grab(template: WorldTemplate, model: mujoco.MjModel, data: mujoco.MjData, players: np.ndarray) -> None:
    """Weld each of ``players`` to its nearest free movable object in reach."""
    eq = template.grab_eq
    bodies = template.obj_body
    xpos = data.xpos
    # Distances first: most grab attempts find nothing in reach, and that exit needs only these few ops.
    dist = np.linalg.norm(xpos[bodies][None, :, :] - xpos[template.avatar_body[players]][:, None, :], axis=2)
    reach = dist <= template.physics.grab_reach
    free = model.body_user[bodies, 0] > 0.5
    reach &= free
    if not reach.any():
        return
    eq_active = data.eq_active
    for e in eq.tolist():  # objects already held by someone are not free
        if eq_active[e]:
            free &= bodies != model.eq_obj2id[e]
    dist[:, ~free] = np.inf
    dist[dist > template.physics.grab_reach] = np.inf
    if not np.isfinite(dist).any():
        return
    for i, p in enumerate(players):  # at most `players` iterations, usually none reach this point
        k = int(np.argmin(dist[i]))
        if not np.isfinite(dist[i, k]):
            continue
        dist[:, k] = np.inf  # one holder per object
        b1, b2 = template.avatar_body[p], bodies[k]
        e = eq[p]
        model.eq_obj2id[e] = b2
        model.eq_data[e, :11] = weld_pose(xpos[b1], data.xquat[b1], xpos[b2], data.xquat[b2])
        data.eq_active[e] = 1


@dataclass
class StepFlags:
    """Per-player flags after one environment step."""

    grounded: np.ndarray
    on_hazard: np.ndarray
    fell: np.ndarray
    unstable: bool


def step(template: WorldTemplate, model: mujoco.MjModel, data: mujoco.MjData, actions: np.ndarray) -> StepFlags:
    """One environment step: apply actions, run ``physics.substeps`` physics steps, read the flags."""
    apply_actions(template, model, data, actions)
    mujoco.mj_step(model, data, nstep=template.physics.substeps)
    g, h = _ground_flags(template, model, data)
    return StepFlags(
        grounded=g, on_hazard=h, fell=update_falls(template, model, data, g), unstable=unstable(data)
    )
