"""``WorldBatch``: the physics of many openland worlds as one ``mujoco.batch.Batch``.

Why a batch: stepping one ``MjData`` per world costs a Python call (and the per-world bookkeeping around it)
per world and step. ``mujoco.batch.Batch`` keeps every world's integration state as a row of one array, steps
them all in C on a thread pool (bit-identical to ``mj_step`` at any thread count), and exposes the state and
derived fields as [worlds, ...] arrays. So the avatar rules of ``worlds.avatar`` (velocity servos, jumps,
grabs, falls, ground and hazard flags) run here as array maths over [worlds, players], and the ray camera is
one batched ray cast; no Python loop over worlds or players is left in a step.

Each world still has its own ``MjModel`` copy of the template (``set_models``): a reset to a new world rewrites
that copy in place (``WorldTemplate.load``) and the batch reads it live.

Contacts are not readable from a batch, so each avatar carries a contact sensor (``worlds.template``: its
capsule's deepest contacts, position and normal). A contact supports the avatar under the same rule as
``avatar.step`` (below the bottom of the capsule's cylinder, normal within ~45 degrees of vertical); what it
stands on, for the hazard flag, is the first geom a short ray finds straight down from the contact point. The
test ``tests/test_sim.py`` checks this path against ``avatar.step`` world by world, flags and state.
"""

from __future__ import annotations

import mujoco
import mujoco.batch
import numpy as np

from worlds import avatar as av
from worlds.template import CONTACT_SENSOR_FIELDS, CONTACT_SENSOR_SLOTS, LoadedWorld, WorldTemplate

#: The integration state each batch row holds (``get_state``/``set_state`` rows).
STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION
#: Geom groups the ray camera and the support probes see: terrain, objects, avatars (not hidden slots).
RAY_GEOMGROUP = np.array([1, 1, 1, 0, 0, 0], dtype=np.uint8)
#: How far above a support contact the probe ray starts (metres): above the contact, below the capsule's axis.
_PROBE_LIFT = 0.05


class WorldBatch:
    """``num_worlds`` copies of a template's model stepped together; state and flags as [worlds, players] arrays.

    ``threads`` is the batch's thread pool size (1: the caller's thread only), for the physics and the rays.
    """

    def __init__(self, template: WorldTemplate, num_worlds: int, threads: int = 1) -> None:
        t = self.template = template
        E, P = num_worlds, t.capacity.players
        self.num_worlds = E
        self.models = [t.new_model() for _ in range(E)]
        self.sim = mujoco.batch.Batch(t.model, nsim=E, nthread=threads)
        self.sim.set_models(self.models)
        self._scratch = mujoco.MjData(t.model)  # where WorldTemplate.load writes a new world's initial state
        self._datas: dict[int, mujoco.MjData] = {}  # materialised only for rendering
        sim = self.sim
        # live [E, ...] views of the state rows (writes are the next step's state) and of the derived outputs
        self.qpos, self.qvel, self.ctrl = sim.bind("qpos"), sim.bind("qvel"), sim.bind("ctrl")
        self.eq_active, self.userdata = sim.bind("eq_active"), sim.bind("userdata")
        self.xpos, self.xquat, self.sensordata = sim.bind("xpos"), sim.bind("xquat"), sim.bind("sensordata")
        qsl = t.avatar_qpos_slice
        self._avatar_z = np.arange(qsl.start, qsl.stop)[2::4]
        self._avatar_yaw = np.arange(qsl.start, qsl.stop)[3::4]
        self._jump_qvel = t.avatar_qvel_slice.start + 2 + 4 * np.arange(P)
        self._bad_warnings = av._BAD_WARNINGS
        #: [E, P] each avatar stands on something (what the last step or load found); a jump needs it.
        self.grounded = np.zeros((E, P), dtype=bool)
        #: [E, P] the player exists in the loaded world.
        self.player_active = np.zeros((E, P), dtype=bool)
        #: [E, ngeom] hazard flag of each geom of each loaded world.
        self.geom_hazard = np.zeros((E, t.model.ngeom), dtype=bool)
        #: [E, O] which object slots of each world are movable (grabbable).
        self.object_movable = np.zeros((E, t.capacity.max_objects), dtype=bool)
        #: [E, P] the body each player's grab weld targets (``eq_obj2id``; meaningful while the weld is on).
        self.grab_body = np.zeros((E, P), dtype=np.int64)

    # ------------------------------------------------------------------------------------------- worlds
    def load(self, env_ids: np.ndarray, worlds: list) -> list[LoadedWorld]:
        """Load a world spec into each of ``env_ids``: its model copy is rewritten, its state row set to the
        world's initial state, and its derived fields and flags computed."""
        t = self.template
        env_ids = np.asarray(env_ids, dtype=np.int64)
        self.sim.reset(env_ids, stage=mujoco.mjtStage.mjSTAGE_NONE)  # clears each row's warning counters
        loaded = []
        for e, world in zip(env_ids.tolist(), worlds):
            lw = t.load(self.models[e], self._scratch, world)
            mujoco.mj_getState(self.models[e], self._scratch, self.sim.state[e], STATE_SPEC)
            self.player_active[e] = lw.player_active
            self.geom_hazard[e] = lw.geom_hazard
            self.object_movable[e] = lw.object_movable
            self.grab_body[e] = self.models[e].eq_obj2id[t.grab_eq]
            loaded.append(lw)
        self._refresh(env_ids)
        return loaded

    def _refresh(self, env_ids: np.ndarray) -> None:
        """Derived fields and the grounded flags of ``env_ids`` from their state rows (after a load or restore)."""
        self.sim.forward(env_ids)
        grounded, _ = self._support_flags(env_ids, hazards=False)
        self.grounded[env_ids] = grounded
        for e in env_ids.tolist():
            self._datas.pop(e, None)

    # ------------------------------------------------------------------------------------------- step
    def step(self, controls: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One control period of every world: ``controls`` [E, P, 5] in [-1, 1] (validated by the caller) become
        servo targets, jumps, grabs and releases, then ``substeps`` physics steps run in C.

        Returns (on_hazard [E, P], fell [E, P], unstable [E]); ``grounded`` is updated in place. The same rules
        as ``avatar.step`` world by world (see the module docstring)."""
        t, ph = self.template, self.template.physics
        E, P = self.num_worlds, t.capacity.players
        active = self.player_active
        a = np.where(active[..., None], controls, 0.0)
        self.ctrl[:, t.avatar_ctrl_slice] = av.servo_targets(ph, self.qpos[:, self._avatar_yaw], a).reshape(E, 3 * P)

        jump = active & (a[..., av.A_JUMP] > 0.5) & self.grounded
        if jump.any():
            vz = self.qvel[:, self._jump_qvel]
            self.qvel[:, self._jump_qvel] = np.where(jump, ph.jump_velocity, vz)
        want = active & (a[..., av.A_GRAB] > 0.5)
        holding = self.eq_active[:, t.grab_eq] > 0.5
        release = holding & ~want
        if release.any():
            self.eq_active[:, t.grab_eq] = np.where(release, 0.0, self.eq_active[:, t.grab_eq])
        take = want & ~holding
        if take.any():
            self._grab(take)

        self.sim.step(nstep=ph.substeps)
        for e in list(self._datas):
            del self._datas[e]

        all_envs = np.arange(E)
        grounded, hazard = self._support_flags(all_envs, hazards=True)
        self.grounded[:] = grounded
        fell = self._falls(grounded)
        number = self.sim.warning[:, self._bad_warnings, 1]
        unstable = (number > 0).any(1) | ~np.isfinite(self.qpos).all(1) | ~np.isfinite(self.qvel).all(1)
        return hazard, fell, unstable

    def _falls(self, grounded: np.ndarray) -> np.ndarray:
        """``avatar.update_falls`` for every world and player: True once per fall, on the step an avatar has
        dropped more than ``fall_threshold`` below the height it last stood at."""
        ph = self.template.physics
        E, P = grounded.shape
        z = self.qpos[:, self._avatar_z]
        ud = self.userdata.reshape(E, P, 2).copy()  # [height last stood at, fall reported]
        stood, reported = ud[..., 0], ud[..., 1]
        fell = self.player_active & (reported < 0.5) & ((stood - z > ph.fall_threshold) | (z < -ph.floor_depth))
        reported[fell] = 1.0
        stood[grounded] = z[grounded]
        reported[grounded] = 0.0
        self.userdata[:] = ud.reshape(E, 2 * P)
        return fell

    def _support_flags(self, env_ids: np.ndarray, hazards: bool) -> tuple[np.ndarray, np.ndarray]:
        """(grounded, on_hazard) [n, P] of ``env_ids`` from the avatars' contact sensors.

        A sensor slot supports its avatar when it holds a contact below the bottom of the capsule's cylinder
        whose normal is near vertical (``avatar.SUPPORT_NORMAL_Z``). For the hazard flag, a probe ray from just
        above each supporting contact straight down (ignoring the avatar itself) names the geom stood on."""
        t = self.template
        n, P, K, F = len(env_ids), t.capacity.players, CONTACT_SENSOR_SLOTS, CONTACT_SENSOR_FIELDS
        slots = self.sensordata[env_ids][:, t.contact_sensor_cols].reshape(n, P, K, F)
        foot = self.qpos[env_ids][:, self._avatar_z] - t.physics.avatar_half_length
        support = (slots[..., 0] > 0) & (slots[..., 3] < foot[..., None]) & (np.abs(slots[..., 6]) > av.SUPPORT_NORMAL_Z)
        grounded = support.any(-1)
        hazard = np.zeros((n, P), dtype=bool)
        if not hazards:
            return grounded, hazard
        # only worlds with a hazard geom and a supported avatar need probing
        probe = np.flatnonzero(grounded.any(1) & self.geom_hazard[env_ids].any(1))
        if len(probe) == 0:
            return grounded, hazard
        origin = slots[probe][..., 1:4].reshape(len(probe), P * K, 3).copy()
        origin[..., 2] += _PROBE_LIFT
        exclude = np.broadcast_to(t.avatar_body[:, None], (len(probe), P, K)).reshape(len(probe), P * K)
        _, geom = self.sim.ray(origin, np.array([0.0, 0.0, -1.0]), RAY_GEOMGROUP, True, exclude, ids=env_ids[probe])
        geom = geom.reshape(len(probe), P, K)
        on_hazard = np.take_along_axis(self.geom_hazard[env_ids[probe]], np.maximum(geom, 0).reshape(len(probe), -1), 1)
        on_hazard = on_hazard.reshape(len(probe), P, K) & (geom >= 0) & support[probe]
        hazard[probe] = on_hazard.any(-1)
        return grounded, hazard

    def _grab(self, take: np.ndarray) -> None:
        """Weld each player of ``take`` [E, P] to its nearest free movable object within ``grab_reach``, at the
        current relative pose (``avatar._grab`` for every world at once; the welds themselves are written per
        grab, since each is a model edit)."""
        t, ph = self.template, self.template.physics
        bodies = t.obj_body
        obj = self.xpos[:, bodies]  # [E, O, 3]
        me = self.xpos[:, t.avatar_body]  # [E, P, 3]
        dist = np.linalg.norm(obj[:, None] - me[:, :, None], axis=-1)  # [E, P, O]
        free = self.object_movable.copy()
        held = self.eq_active[:, t.grab_eq] > 0.5  # [E, P]
        held_slot = t.body_object[self.grab_body]
        e_idx, p_idx = np.nonzero(held)
        free[e_idx, held_slot[e_idx, p_idx]] = False  # objects already held by someone are not free
        reach = take[..., None] & free[:, None, :] & (dist <= ph.grab_reach)
        dist = np.where(reach, dist, np.inf)
        for e in np.flatnonzero(reach.any((1, 2))).tolist():  # worlds where some grab succeeds: rare
            for p in np.flatnonzero(take[e]).tolist():  # players in ascending order, as avatar._grab
                k = int(np.argmin(dist[e, p]))
                if not np.isfinite(dist[e, p, k]):
                    continue
                dist[e, :, k] = np.inf  # one holder per object
                self._weld(e, p, int(bodies[k]))

    def _weld(self, e: int, p: int, body: int) -> None:
        """Turn on player ``p``'s grab weld to ``body`` in world ``e`` at their current relative pose."""
        t = self.template
        b1 = int(t.avatar_body[p])
        eq = int(t.grab_eq[p])
        model = self.models[e]
        model.eq_obj2id[eq] = body
        model.eq_data[eq, :11] = av.weld_pose(self.xpos[e, b1], self.xquat[e, b1], self.xpos[e, body], self.xquat[e, body])
        self.eq_active[e, eq] = 1.0
        self.grab_body[e, p] = body

    # ------------------------------------------------------------------------------------------- rays
    def cast_rays(
        self, origins: np.ndarray, directions: np.ndarray, max_distance: float, env_ids: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ray cameras of every player of ``env_ids`` in one batched cast: ``origins`` [n, P, 3],
        ``directions`` [n, P, R, 3]. Returns (geom id [n, P, R] int32, distance [n, P, R]); -1 for a miss, for a
        hit beyond ``max_distance`` and for every ray of an inactive player. A player's rays ignore its body."""
        t = self.template
        n, P, R, _ = directions.shape
        pnt = np.broadcast_to(origins[:, :, None, :], (n, P, R, 3)).reshape(n, P * R, 3)
        exclude = np.broadcast_to(t.avatar_body[None, :, None], (n, P, R)).reshape(n, P * R)
        dist, geom = self.sim.ray(pnt, directions.reshape(n, P * R, 3), RAY_GEOMGROUP, True, exclude, ids=env_ids)
        dist, geom = dist.reshape(n, P, R), geom.reshape(n, P, R)
        miss = (geom < 0) | (dist > max_distance) | ~self.player_active[env_ids][..., None]
        return np.where(miss, -1, geom).astype(np.int32), np.where(miss, -1.0, dist)

    # ------------------------------------------------------------------------------------------- state
    def avatar_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(qpos [E, P, 4], qvel [E, P, 4]) of every avatar: x, y, z, yaw and their rates."""
        t = self.template
        E, P = self.num_worlds, t.capacity.players
        return self.qpos[:, t.avatar_qpos_slice].reshape(E, P, 4), self.qvel[:, t.avatar_qvel_slice].reshape(E, P, 4)

    def held(self) -> np.ndarray:
        """[E, P] object slot each player holds, -1 for none."""
        on = self.eq_active[:, self.template.grab_eq] > 0.5
        return np.where(on, self.template.body_object[self.grab_body], -1)

    def get_state(self) -> dict[str, np.ndarray]:
        """Every world's integration state and grab welds (the model part of a grab), for exact resume."""
        t = self.template
        return {
            "physics": self.sim.state.copy(),
            "eq_obj2id": np.stack([m.eq_obj2id[t.grab_eq] for m in self.models]),
            "eq_data": np.stack([m.eq_data[t.grab_eq] for m in self.models]),
        }

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore ``get_state`` into worlds that were loaded with the same specs."""
        t = self.template
        physics = np.asarray(state["physics"], dtype=np.float64)
        if physics.shape != self.sim.state.shape:
            raise ValueError(f"physics state has shape {physics.shape}, this batch's is {self.sim.state.shape}")
        for e, m in enumerate(self.models):
            m.eq_obj2id[t.grab_eq] = state["eq_obj2id"][e]
            m.eq_data[t.grab_eq] = state["eq_data"][e]
        self.grab_body[:] = state["eq_obj2id"]
        self.sim.state[:] = physics
        self._refresh(np.arange(self.num_worlds))

    def data(self, e: int) -> mujoco.MjData:
        """World ``e`` as an ``MjData`` with its derived fields computed: for rendering and inspection (a copy:
        writing to it does not change the simulation)."""
        d = self._datas.get(e)
        if d is None:
            d = self.sim.get_data(e)
            mujoco.mj_forward(self.models[e], d)
            self._datas[e] = d
        return d
