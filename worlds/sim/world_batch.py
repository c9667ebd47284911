"""``WorldBatch``: the physics of many openland worlds as one ``mujoco.batch.Batch``.

Why a batch: stepping one ``MjData`` per world costs a Python call (and the per-world bookkeeping around it)
per world and step. ``mujoco.batch.Batch`` keeps every world's integration state as a row of one array, steps
them all in C on a thread pool (bit-identical to ``mj_step`` at any thread count), and exposes the state and
derived fields as [worlds, ...] arrays. So the avatar rules of ``worlds.sim.avatar`` (velocity servos, jumps,
grabs, falls, ground and hazard flags) run here over [worlds, players] arrays in compiled kernels
(``worlds.sim.kernels``), and the ray camera is one batched ray cast; no Python loop over worlds or players is left
in a step.

Each world still has its own ``MjModel`` copy of the template (``set_models``): a reset to a new world rewrites
that copy in place (``WorldTemplate.load``) and the batch reads it live.

Contacts are not readable from a batch, so each avatar carries a contact sensor (``worlds.sim.template``: its
capsule's deepest contacts, position and normal). A contact supports the avatar under the same rule as
``avatar.step`` (below the bottom of the capsule's cylinder, normal within ~45 degrees of vertical); what it
stands on, for the hazard flag, is the first geom a ray finds straight down from the contact point. Those probe
rays ride in the same batched cast as the players' ray cameras: one cast per step (a cast's fixed cost, about
0.1 ms a world, is several times that of the probes' rays). The
test ``tests/test_sim.py`` checks this path against ``avatar.step`` world by world, flags and state.
"""

from __future__ import annotations

import mujoco
import mujoco.batch
import numpy as np

from worlds.sim import avatar as av
from worlds.sim import kernels
from worlds.sim.observations import RayCameraConfig
from worlds.sim.template import CONTACT_SENSOR_FIELDS, CONTACT_SENSOR_SLOTS, LoadedWorld, WorldTemplate

#: The integration state each batch row holds (``get_state``/``set_state`` rows).
STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION
#: Geom groups the ray camera and the support probes see: terrain, objects, avatars (not hidden slots).
RAY_GEOMGROUP = np.array([1, 1, 1, 0, 0, 0], dtype=np.uint8)
#: How far above a support contact the probe ray starts (metres): above the contact, below the capsule's axis.
_PROBE_LIFT = 0.05


class WorldBatch:
    """``num_worlds`` copies of a template's model stepped together; state and flags as [worlds, players] arrays.

    ``threads`` is the batch's thread pool size (1: the caller's thread only), for the physics and the rays.
    ``camera`` is every player's ray camera: its hits are kept current in ``ray_geom``/``ray_dist``.
    """

    def __init__(self, template: WorldTemplate, num_worlds: int, threads: int = 1,
                 camera: RayCameraConfig = RayCameraConfig()) -> None:  # fmt: skip
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
        self._bad_warnings = np.asarray(av.BAD_WARNINGS, dtype=np.int64)
        self.grab_eq = np.asarray(t.grab_eq, dtype=np.int64)
        self._sensor_cols = np.ascontiguousarray(t.contact_sensor_cols, dtype=np.int64)
        self._all = np.arange(E)
        self._exclude: dict[tuple[int, int], np.ndarray] = {}  # (worlds, probe slots) -> body each ray ignores
        self.camera_dirs = camera.local_directions()
        self.camera_lift = camera.height - t.physics.avatar_half_height
        self.camera_range = camera.max_distance
        #: [E, P, R] geom id each camera ray of each player hit (-1: nothing within range, or inactive player).
        self.ray_geom = np.full((E, P, len(self.camera_dirs)), -1, dtype=np.int32)
        #: [E, P, R] distance of each camera ray's hit (-1 where ``ray_geom`` is -1).
        self.ray_dist = np.full((E, P, len(self.camera_dirs)), -1.0)
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
        """Derived fields, grounded flags and camera hits of ``env_ids`` from their state rows (after a load or
        restore)."""
        self.sim.forward(env_ids)
        _, grounded, _ = self._support(env_ids)
        self.grounded[env_ids] = grounded
        self._cast_cameras(env_ids)
        self._datas.clear()

    # ------------------------------------------------------------------------------------------- step
    def step(self, controls: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One control period of every world: ``controls`` [E, P, 5] in [-1, 1] (validated by the caller) become
        servo targets, jumps, grabs and releases, then ``substeps`` physics steps run in C.

        Returns (on_hazard [E, P], fell [E, P], unstable [E]); ``grounded``, ``ray_geom`` and ``ray_dist`` are
        updated in place. The same rules as ``avatar.step`` world by world (see the module docstring). One ray cast
        serves the cameras and the hazard probes."""
        t, ph = self.template, self.template.physics
        take = kernels.physics.apply_controls(
            controls, self.player_active, self.grounded, self.qpos, self.qvel, self.ctrl, self.eq_active,
            self._avatar_yaw, t.avatar_ctrl_slice.start, self._jump_qvel, self.grab_eq, ph.max_speed, ph.max_turn_rate,
            ph.jump_velocity,
        )  # fmt: skip
        if take.any():
            self._grab(take)

        self.sim.step(nstep=ph.substeps)
        self._datas.clear()

        support, pnt, vec = kernels.physics.before_cast(
            self.sensordata, self._sensor_cols, self.qpos, self._avatar_z, self._all, ph.avatar_half_length,
            av.SUPPORT_NORMAL_Z, _PROBE_LIFT, CONTACT_SENSOR_SLOTS, CONTACT_SENSOR_FIELDS, t.avatar_qpos_slice.start,
            self.camera_dirs, self.camera_lift, self.grounded,
        )  # fmt: skip
        dist, geom = self.sim.ray(pnt, vec, RAY_GEOMGROUP, True, self._ray_exclude(self.num_worlds, CONTACT_SENSOR_SLOTS))
        return kernels.physics.after_cast(
            dist, geom, self.player_active, self.camera_range, self.ray_geom, self.ray_dist, self.geom_hazard, support,
            self.qpos, self.qvel, self.userdata, self._avatar_z, self.grounded, ph.fall_threshold, ph.floor_depth,
            self.sim.warning, self._bad_warnings,
        )  # fmt: skip

    def _support(self, env_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(support [n, P, slots], grounded [n, P], probe origins [n, P * slots, 3]) of ``env_ids`` from the
        avatars' contact sensors: a slot supports its avatar when it holds a contact below the bottom of the
        capsule's cylinder whose normal is near vertical (``avatar.SUPPORT_NORMAL_Z``); its probe ray, from just
        above the contact straight down and ignoring the avatar, names the geom stood on (for the hazard flag)."""
        return kernels.physics.support_contacts(
            self.sensordata, self._sensor_cols, self.qpos, self._avatar_z, env_ids,
            self.template.physics.avatar_half_length, av.SUPPORT_NORMAL_Z, _PROBE_LIFT, CONTACT_SENSOR_SLOTS,
            CONTACT_SENSOR_FIELDS,
        )  # fmt: skip

    def _cast_cameras(self, env_ids: np.ndarray) -> None:
        """Every player's camera in the worlds ``env_ids`` in one batched cast (no probes: a load or restore needs
        no hazard flag), hits written to ``ray_geom``/``ray_dist``; a player's rays ignore its own body."""
        no_probes = np.zeros((len(env_ids), 0, 3))
        pnt, vec = kernels.physics.sensor_rays(self.qpos, self.template.avatar_qpos_slice.start,
                                               self.template.capacity.players, env_ids, self.camera_dirs,
                                               self.camera_lift, no_probes)  # fmt: skip
        ids = None if len(env_ids) == self.num_worlds else env_ids  # all worlds: skips the batch's id checks
        dist, geom = self.sim.ray(pnt, vec, RAY_GEOMGROUP, True, self._ray_exclude(len(env_ids), 0), ids=ids)
        kernels.physics.camera_hits(dist, geom, env_ids, self.player_active, self.camera_range, self.ray_geom, self.ray_dist)

    def _ray_exclude(self, worlds: int, slots: int) -> np.ndarray:
        """[worlds, P * R + P * slots] int32: the body each ray of a cast ignores (its player's own): the
        cameras' rays, then ``slots`` probes per player."""
        key = (worlds, slots)
        if key not in self._exclude:
            t = self.template
            R = len(self.camera_dirs)
            bodies = np.concatenate([np.repeat(t.avatar_body, R), np.repeat(t.avatar_body, slots)])
            self._exclude[key] = np.ascontiguousarray(np.broadcast_to(bodies, (worlds, len(bodies))), dtype=np.int32)
        return self._exclude[key]

    def _grab(self, take: np.ndarray) -> None:
        """Weld each player of ``take`` [E, P] to its nearest free movable object within ``grab_reach``, at the
        current relative pose (``avatar._grab`` for every world at once; the welds themselves are written per
        grab that succeeds, since each is a model edit)."""
        t = self.template
        grabs = kernels.physics.choose_grabs(take, self.xpos, t.obj_body, t.avatar_body, self.object_movable, self.eq_active,
                                     self.grab_eq, self.grab_body, t.body_object, t.physics.grab_reach)  # fmt: skip
        for e, p, body in grabs.tolist():  # each weld is a model edit of that world
            self._weld(e, p, body)

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

    # ------------------------------------------------------------------------------------------- state
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
