"""``SlotIndex``: where every slot of a compiled template lives, as id arrays the vectorised code indexes with.

The ids are the same for every copy of the model, so they are resolved once, by name, from the compiled model.
"""

from __future__ import annotations

import mujoco
import numpy as np

from worlds.sim.config import Capacity, PhysicsConfig
from worlds.sim.layout import CONTACT_SENSOR_FIELDS, CONTACT_SENSOR_SLOTS
from worlds.tasks import spec as ws


class SlotIndex:
    """Body, geom, joint, actuator, equality and sensor ids of every slot of a model built by ``build_spec``."""

    def __init__(self, m: mujoco.MjModel, capacity: Capacity, physics: PhysicsConfig):
        cap = capacity

        def bid(n: str) -> int:
            return mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, n)

        def gid(n: str) -> int:
            return mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n)

        def jid(n: str) -> int:
            return mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)

        def aid(n: str) -> int:
            return mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_ACTUATOR, n)

        self.tile_body = np.array([bid(f"tile{i}") for i in range(cap.terrain_slots)])
        self.tile_geom = np.array([gid(f"tile{i}") for i in range(cap.terrain_slots)])
        self.ramp_body = np.array([bid(f"ramp{i}") for i in range(cap.max_ramps)])
        self.ramp_geom = np.array([gid(f"ramp{i}") for i in range(cap.max_ramps)])
        self.wall_body = np.array([bid(f"wall{i}") for i in range(4)])
        self.wall_geom = np.array([gid(f"wall{i}") for i in range(4)])
        self.obj_body = np.array([bid(f"obj{i}") for i in range(cap.max_objects)])
        self.obj_geoms = np.array([[gid(f"obj{i}_{s}") for s in ws.SHAPES] for i in range(cap.max_objects)])
        self.fixed_body = np.array([bid(f"fixed{i}") for i in range(cap.max_objects)])
        self.fixed_geoms = np.array([[gid(f"fixed{i}_{s}") for s in ws.SHAPES] for i in range(cap.max_objects)])
        self.obj_qposadr = m.jnt_qposadr[[jid(f"obj{i}_free") for i in range(cap.max_objects)]]
        self.obj_dofadr = m.jnt_dofadr[[jid(f"obj{i}_free") for i in range(cap.max_objects)]]
        self.avatar_body = np.array([bid(f"avatar{p}") for p in range(cap.players)])
        self.avatar_geom = np.array([gid(f"avatar{p}") for p in range(cap.players)])
        self.avatar_nose = np.array([gid(f"avatar{p}_nose") for p in range(cap.players)])
        axes = ("x", "y", "z", "yaw")
        joints = np.array([[jid(f"avatar{p}_{a}") for a in axes] for p in range(cap.players)])
        self.avatar_qposadr = m.jnt_qposadr[joints]  # [players, 4]: x, y, z, yaw
        self.avatar_dofadr = m.jnt_dofadr[joints]
        self.avatar_actuator = np.array(
            [[aid(f"avatar{p}_v{a}") for a in ("x", "y", "yaw")] for p in range(cap.players)]
        )
        # The avatar joints and actuators are laid out contiguously (x, y, z, yaw per player; vx, vy, vyaw per
        # player), so the per-step helpers can take cheap slice views instead of fancy indexing.
        q0, d0, a0 = int(self.avatar_qposadr[0, 0]), int(self.avatar_dofadr[0, 0]), int(self.avatar_actuator[0, 0])
        P = cap.players
        assert np.array_equal(self.avatar_qposadr.ravel(), np.arange(q0, q0 + 4 * P))
        assert np.array_equal(self.avatar_dofadr.ravel(), np.arange(d0, d0 + 4 * P))
        assert np.array_equal(self.avatar_actuator.ravel(), np.arange(a0, a0 + 3 * P))
        self.avatar_qpos_slice = slice(q0, q0 + 4 * P)
        self.avatar_qvel_slice = slice(d0, d0 + 4 * P)
        self.avatar_ctrl_slice = slice(a0, a0 + 3 * P)
        #: [players, SLOTS * FIELDS] columns of each avatar's contact sensor in ``sensordata``.
        adr = [int(m.sensor_adr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SENSOR, f"avatar{p}_contacts")]) for p in range(cap.players)]
        self.contact_sensor_cols = np.array(adr)[:, None] + np.arange(CONTACT_SENSOR_SLOTS * CONTACT_SENSOR_FIELDS)
        self.grab_eq = np.array(
            [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_EQUALITY, f"grab{p}") for p in range(cap.players)]
        )
        #: [ngeom] player id of each avatar capsule geom, -1 for every other geom.
        self.geom_player = np.full(m.ngeom, -1, dtype=np.int64)
        self.geom_player[self.avatar_geom] = np.arange(cap.players)
        #: the same as a list, for the per-step contact scan in plain Python
        self.geom_player_list: list[int] = self.geom_player.tolist()
        #: [nbody] object slot of each object body (free or fixed), -1 otherwise.
        self.body_object = np.full(m.nbody, -1, dtype=np.int64)
        self.body_object[self.obj_body] = np.arange(cap.max_objects)
        self.body_object[self.fixed_body] = np.arange(cap.max_objects)
        # Lowest point of each shape relative to its body origin, read from the compiled geoms (mesh geoms are
        # re-centred by the compiler, so this is measured rather than assumed).
        bottoms = []
        for g in self.obj_geoms[0]:
            if m.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH:
                mid = m.geom_dataid[g]
                v = m.mesh_vert[m.mesh_vertadr[mid] : m.mesh_vertadr[mid] + m.mesh_vertnum[mid]]
                mat = np.zeros(9)
                mujoco.mju_quat2Mat(mat, m.geom_quat[g])
                world_v = v @ mat.reshape(3, 3).T + m.geom_pos[g]
                bottoms.append(-world_v[:, 2].min())
            else:
                bottoms.append(physics.object_half_size)
        self.shape_bottom = np.array(bottoms)
