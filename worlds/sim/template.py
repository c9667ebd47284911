"""A fixed-capacity MuJoCo template that any ``WorldSpec`` is loaded into in place.

Why a template: compiling an ``MjSpec`` costs tens of milliseconds, far more than an episode reset may cost,
and an MJX batch backend needs every world to share one array shape. So one model is compiled at full capacity
(every terrain slot, ramp slot, object slot and avatar exists), and ``WorldTemplate.load`` only rewrites
positions, sizes, colours and active flags of a model copy.

Layout of the compiled model (all slots are fixed at compile time, so the index arrays are the same for every
model copy):

- terrain: one static body per terrain slot, each with one box geom. A world's tiles are merged into rectangles
  of equal (level, floor colour, hazard) and each rectangle becomes a box column from ``-floor_depth`` up to its
  level's top. Each slot has its own body because MuJoCo's midphase bounding-volume tree is built per body at
  compile time: moving a body via ``body_pos`` keeps the tree valid, while moving a geom inside the world body
  does not (see DESIGN.md, Performance notes).
- ramps: one static body per ramp slot with a tilted box.
- walls: four static boxes around the grid, resized by ``load``.
- objects: each object slot has a free body (used when the object is movable) and a static body (used when it
  is fixed). Fixed objects are therefore exactly immovable: a static body has no degrees of freedom, so no push
  and no numerical drift can move it. Each body carries one geom per shape; only the active shape collides and
  is visible.
- avatars: a capsule body per player with slide x, slide y, slide z and a yaw hinge; velocity actuators on
  x, y and yaw; a weld equality (avatar -> object) used as the grab, retargeted at run time.

Inactive slots get contype = conaffinity = 0, alpha 0, geom group ``GROUP_HIDDEN`` (rays filtered by group never
see them), and are parked far below the world; inactive free bodies get ``gravcomp = 1`` so they float still
instead of falling forever.

Per-model facts that the step-time helpers need are stored inside the model itself, so that a plain
``(model, data)`` pair is self-describing: ``geom_user[:, 0:3]`` = (category, colour index, hazard) and
``body_user[:, 0]`` = active flag. One model copy per environment: grabbing retargets ``eq_obj2id`` and
``eq_data`` of that model.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from dataclasses import dataclass
from itertools import chain

import mujoco
import numpy as np

from worlds.tasks import spec as ws

# ----------------------------------------------------------------------------------------------- constants

#: Geom categories (``geom_category``): what a ray hit. 0 is "nothing" so the env can use it for misses.
CAT_NONE = 0
CAT_FLOOR = 1
CAT_RAMP = 2
CAT_WALL = 3
CAT_OBJECT = 4
CAT_AVATAR = 5
CATEGORY_NAMES: tuple[str, ...] = ("none", "floor", "ramp", "wall", "object", "avatar")

#: Each avatar's contact sensor: the ``CONTACT_SENSOR_SLOTS`` deepest contacts of its capsule (reduce "mindist"),
#: each as ``CONTACT_SENSOR_FIELDS`` numbers (found, pos xyz, normal xyz); empty slots are zeros.
CONTACT_SENSOR_SLOTS = 8
CONTACT_SENSOR_FIELDS = 7
CONTACT_SENSOR_DATA = sum(1 << int(f) for f in (mujoco.mjtConDataField.mjCONDATA_FOUND, mujoco.mjtConDataField.mjCONDATA_POS,
                                                mujoco.mjtConDataField.mjCONDATA_NORMAL))  # fmt: skip
CONTACT_SENSOR_REDUCE = 1  # mindist

#: Geom groups: pass e.g. ``geomgroup=(1, 1, 1, 0, 0, 0)`` to ``mj_multiRay`` to see terrain, objects, avatars.
GROUP_TERRAIN = 0
GROUP_OBJECT = 1
GROUP_AVATAR = 2
GROUP_DECOR = 3
GROUP_HIDDEN = 5

#: Colour index used for geoms that have no spec colour (walls, avatars, inactive slots).
NO_COLOUR = -1
COLOUR_NAMES: tuple[str, ...] = tuple(ws.COLOURS)
_COLOUR_INDEX = {name: i for i, name in enumerate(COLOUR_NAMES)}
_COLOUR_RGBA = np.array([ws.COLOURS[n] for n in COLOUR_NAMES], dtype=np.float64)

#: Avatar display colours per player (render only; rays report the category and the player id).
PLAYER_RGBA = np.array(
    [[0.95, 0.95, 0.3, 1.0], [0.3, 0.9, 0.95, 1.0], [0.95, 0.4, 0.8, 1.0], [0.6, 0.95, 0.4, 1.0]]
)

_PARK = np.array([-200.0, -200.0, -200.0])  # where inactive slots wait, far from any world
_RAMP_SLAB = 0.1  # half thickness of a ramp slab (m)


@dataclass(frozen=True)
class PhysicsConfig:
    """Physical constants of every world. One value per field, shared by all worlds of a template."""

    tile_size: float = 2.0
    """Edge of a square floor tile in metres: a tile fits an avatar and an object with room to walk around."""
    level_height: float = 0.8
    """Height of one terrain level in metres: above the jump height, so upper levels need a ramp."""
    floor_depth: float = 1.0
    """Depth of terrain columns below z = 0: thick enough that nothing tunnels through the level-0 floor."""
    wall_height: float = 4.0
    """Height of the boundary walls above z = 0: higher than the top level plus a jump."""
    wall_thickness: float = 0.5
    """Thickness of the boundary walls in metres."""
    timestep: float = 0.01
    """Physics timestep in seconds (implicitfast integrator)."""
    substeps: int = 10
    """Physics steps per environment step: the control period is ``timestep * substeps`` (10 decisions per second
    by default, the rate of most embodied navigation agents: a turn or a step shows within one decision, and
    each simulated second costs 10 ray casts, network calls and learner samples instead of 25)."""
    avatar_radius: float = 0.3
    """Capsule radius of an avatar."""
    avatar_half_length: float = 0.4
    """Half length of the capsule's cylinder part: the avatar is ``2 * (half_length + radius)`` = 1.4 m tall."""
    avatar_mass: float = 50.0
    """Avatar mass in kg, set explicitly (a capsule of density 1000 would weigh ~360 kg)."""
    max_speed: float = 3.0
    """Walking speed in m/s at full forward (or strafe) action."""
    move_gain: float = 25.0
    """Velocity-servo gain per kg (1/s): force = avatar_mass * move_gain * (target - velocity)."""
    move_force_limit: float = 15.0
    """Horizontal drive force limit per kg (m/s^2): bounds how hard an avatar can push."""
    max_turn_rate: float = 3.0
    """Yaw rate in rad/s at full turn action."""
    turn_gain: float = 30.0
    """Yaw velocity-servo gain per unit of yaw inertia (1/s)."""
    jump_velocity: float = 3.0
    """Vertical take-off speed in m/s: reaches v^2 / 2g = 0.46 m, below one level."""
    grab_reach: float = 1.2
    """Max distance (m) from the avatar's centre to an object's centre for a grab to take it."""
    fall_threshold: float = 0.6
    """A drop of more than this (m) below the last height the avatar stood at counts as a fall."""
    object_half_size: float = 0.25
    """Half extent of every object shape (sphere radius, cube half edge, ...)."""
    object_mass: float = 2.0
    """Mass of a movable object in kg: light enough to carry, heavy enough not to be flung."""
    object_friction: float = 0.8
    """Sliding friction of objects and terrain."""

    @property
    def control_dt(self) -> float:
        """Seconds of simulated time per environment step."""
        return self.timestep * self.substeps

    @property
    def avatar_half_height(self) -> float:
        """Distance from an avatar's centre to its lowest point."""
        return self.avatar_half_length + self.avatar_radius


@dataclass(frozen=True)
class Capacity:
    """How many of each thing the compiled template has room for. Worlds beyond it are rejected by ``load``."""

    max_rows: int = ws.MAX_GRID
    """Largest grid height in tiles."""
    max_cols: int = ws.MAX_GRID
    """Largest grid width in tiles."""
    max_objects: int = ws.MAX_OBJECTS
    """Object slots."""
    max_ramps: int = ws.MAX_RAMPS
    """Ramp slots."""
    players: int = ws.MAX_PLAYERS
    """Avatar slots."""

    terrain_boxes: int = 0
    """Terrain box slots; 0 means the worst case ``max_rows * max_cols`` (a checkerboard of colours)."""

    @property
    def terrain_slots(self) -> int:
        """Terrain box slots in the model."""
        return self.terrain_boxes or self.max_rows * self.max_cols


@dataclass
class LoadedWorld:
    """What ``WorldTemplate.load`` derived from a spec: cached numpy views for the env's per-step labelling.

    The same facts also live inside the model (``geom_user``, ``body_user``), so they are never out of sync
    with the model they describe; these are just int copies that are cheap to index.
    """

    spec: ws.WorldSpec
    geom_category: np.ndarray
    """[ngeom] int: category id (``CAT_*``) per geom."""
    geom_colour_index: np.ndarray
    """[ngeom] int: index into ``spec.COLOURS`` order, or ``NO_COLOUR``."""
    geom_hazard: np.ndarray
    """[ngeom] bool: the geom is a hazard tile (or a ramp on one)."""
    player_active: np.ndarray
    """[players] bool."""
    object_active: np.ndarray
    """[max_objects] bool."""
    object_movable: np.ndarray
    """[max_objects] bool."""
    object_shape: np.ndarray
    """[max_objects] int index into ``spec.SHAPES`` (-1 inactive)."""
    object_colour: np.ndarray
    """[max_objects] int colour index (-1 inactive)."""
    tile_top: np.ndarray
    """[rows, cols] float: z of each tile's floor."""
    n_terrain_boxes: int = 0
    """How many terrain slots this world uses after merging."""


def merge_tiles(
    levels: np.ndarray, colours: np.ndarray, hazards: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cover the grid with rectangles of equal (level, colour, hazard); returns (r0, c0, r1, c1), inclusive.

    Why: every geom costs in collision and ray casting; a typical world collapses from rows*cols tiles to a few
    dozen boxes. Runs along each row are found with numpy, then a run identical to the one right above it
    (same columns, same key) extends that rectangle downwards.
    """
    rows, cols = levels.shape
    key = (levels * 64 + colours) * 2 + hazards
    change = np.ones((rows, cols), dtype=bool)
    change[:, 1:] = key[:, 1:] != key[:, :-1]
    rs, cs = np.nonzero(change)
    ends = np.empty_like(cs)
    ends[:-1] = cs[1:] - 1
    ends[np.r_[rs[1:] != rs[:-1], True]] = cols - 1
    keys = key[rs, cs]
    out_r0: list[int] = []
    out_c0: list[int] = []
    out_r1: list[int] = []
    out_c1: list[int] = []
    open_prev: dict[tuple[int, int, int], int] = {}
    cur_row = -1
    open_cur: dict[tuple[int, int, int], int] = {}
    for r, c, e, k in zip(rs.tolist(), cs.tolist(), ends.tolist(), keys.tolist()):
        if r != cur_row:
            open_prev, open_cur, cur_row = (open_cur if r == cur_row + 1 else {}), {}, r
        sig = (c, e, k)
        j = open_prev.get(sig)
        if j is None:
            j = len(out_r0)
            out_r0.append(r)
            out_c0.append(c)
            out_r1.append(r)
            out_c1.append(e)
        else:
            out_r1[j] = r
        open_cur[sig] = j
    return (np.array(out_r0), np.array(out_c0), np.array(out_r1), np.array(out_c1))


def _quat_from_mat(mat: np.ndarray) -> np.ndarray:
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(mat, dtype=np.float64).reshape(9))
    return q


def _shape_meshes(h: float) -> dict[str, list[float]]:
    """Vertices of the two mesh shapes, centred on the bounding box so every shape spans z in [-h, h]."""
    pyramid = [-h, -h, -h, h, -h, -h, h, h, -h, -h, h, -h, 0.0, 0.0, h]
    wedge = [-h, -h, -h, h, -h, -h, h, h, -h, -h, h, -h, h, -h, h, h, h, h]
    return {"pyramid": pyramid, "wedge": wedge}


class WorldTemplate:
    """One compiled MuJoCo model at full capacity, plus the index arrays that address its slots.

    ``new_model()`` hands out independent copies (one per environment); ``load(model, data, spec)`` writes a
    world into a copy in place and resets ``data`` to the spawns.
    """

    def __init__(
        self, capacity: Capacity = Capacity(), physics: PhysicsConfig = PhysicsConfig(), cache_size: int = 64
    ):
        self.capacity = capacity
        self.physics = physics
        self.cache_size = cache_size
        self._cache: OrderedDict[ws.WorldSpec, tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, LoadedWorld]]
        self._cache = OrderedDict()
        self.mjspec = self._build_spec()
        self.model = self.mjspec.compile()
        self._index(self.model)

    # ------------------------------------------------------------------------------------------- building
    def _build_spec(self) -> mujoco.MjSpec:
        cap, ph = self.capacity, self.physics
        s = mujoco.MjSpec()
        s.modelname = "openland_world"
        s.option.timestep = ph.timestep
        s.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
        s.nuser_geom = 3
        s.nuser_body = 1
        s.nuserdata = 2 * cap.players
        s.stat.extent = cap.max_rows * ph.tile_size
        s.stat.center = [cap.max_cols * ph.tile_size / 2, cap.max_rows * ph.tile_size / 2, 0.0]
        s.visual.headlight.ambient = [0.25, 0.25, 0.25]
        s.visual.headlight.diffuse = [0.35, 0.35, 0.35]
        s.visual.quality.shadowsize = 4096
        s.visual.map.znear = 0.01
        s.visual.global_.offwidth = 1280
        s.visual.global_.offheight = 960
        s.add_texture(
            name="sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX, builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
            rgb1=[0.55, 0.72, 0.95], rgb2=[0.95, 0.97, 1.0], width=256, height=256,
        )
        world = s.worldbody
        centre = [cap.max_cols * ph.tile_size / 2, cap.max_rows * ph.tile_size / 2]
        world.add_light(
            name="sun", type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, pos=[centre[0], centre[1], 30.0],
            dir=[-0.35, -0.25, -1.0], diffuse=[0.75, 0.72, 0.65], specular=[0.2, 0.2, 0.2], castshadow=True,
        )
        world.add_light(
            name="fill", type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, pos=[centre[0], centre[1], 30.0],
            dir=[0.4, 0.5, -1.0], diffuse=[0.25, 0.27, 0.32], specular=[0.0, 0.0, 0.0], castshadow=False,
        )
        hidden = [0.5, 0.5, 0.5, 0.0]

        def static_box(name: str) -> None:
            b = world.add_body(name=name, pos=list(_PARK))
            b.add_geom(
                name=name, type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.5, 0.5, 0.5], rgba=hidden, contype=0,
                conaffinity=0, group=GROUP_HIDDEN, friction=[ph.object_friction, 0.005, 0.0001],
                userdata=[CAT_NONE, NO_COLOUR, 0],
            )

        for i in range(cap.terrain_slots):
            static_box(f"tile{i}")
        for i in range(cap.max_ramps):
            static_box(f"ramp{i}")
        for i in range(4):
            static_box(f"wall{i}")

        h = ph.object_half_size
        meshes = _shape_meshes(h)
        for name, verts in meshes.items():
            s.add_mesh(name=f"mesh_{name}", uservert=verts)

        def shape_geoms(body: mujoco.MjsBody, prefix: str) -> None:
            for shape in ws.SHAPES:
                kw: dict = {}
                if shape == "sphere":
                    kw = dict(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[h, 0, 0])
                elif shape == "cube":
                    kw = dict(type=mujoco.mjtGeom.mjGEOM_BOX, size=[h, h, h])
                elif shape == "cylinder":
                    kw = dict(type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[h, h, 0])
                else:
                    kw = dict(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"mesh_{shape}")
                body.add_geom(
                    name=f"{prefix}_{shape}", rgba=hidden, contype=0, conaffinity=0, group=GROUP_HIDDEN,
                    friction=[ph.object_friction, 0.005, 0.0001], condim=3, userdata=[CAT_NONE, NO_COLOUR, 0],
                    **kw,
                )

        inertia = ph.object_mass * (2 * h) ** 2 / 6.0
        for i in range(cap.max_objects):
            b = world.add_body(name=f"obj{i}", pos=list(_PARK + [3.0 * i, 0, 0]), gravcomp=1.0)
            b.add_freejoint(name=f"obj{i}_free")
            b.explicitinertial = True
            b.ipos = [0.0, 0.0, 0.0]  # left unset, MjSpec puts the inertial frame at the compile-time position
            b.iquat = [1.0, 0.0, 0.0, 0.0]
            b.mass = ph.object_mass
            b.inertia = [inertia, inertia, inertia]
            shape_geoms(b, f"obj{i}")
        for i in range(cap.max_objects):
            b = world.add_body(name=f"fixed{i}", pos=list(_PARK))
            shape_geoms(b, f"fixed{i}")

        r, hl, m = ph.avatar_radius, ph.avatar_half_length, ph.avatar_mass
        izz = 0.5 * m * r * r
        ixx = m * (3 * r * r + (2 * (hl + r)) ** 2) / 12.0
        for p in range(cap.players):
            b = world.add_body(name=f"avatar{p}", pos=[0, 0, 0], gravcomp=1.0)
            b.explicitinertial = True
            b.ipos = [0.0, 0.0, 0.0]
            b.iquat = [1.0, 0.0, 0.0, 0.0]
            b.mass = m
            b.inertia = [ixx, ixx, izz]
            for axis, jn in (([1, 0, 0], "x"), ([0, 1, 0], "y"), ([0, 0, 1], "z")):
                b.add_joint(name=f"avatar{p}_{jn}", type=mujoco.mjtJoint.mjJNT_SLIDE, axis=axis)
            b.add_joint(name=f"avatar{p}_yaw", type=mujoco.mjtJoint.mjJNT_HINGE, axis=[0, 0, 1])
            # Frictionless (condim 1, higher priority) so the velocity servo alone decides the gait: no stick-slip
            # against the floor, and ramps are climbed by the contact normal lifting the capsule.
            b.add_geom(
                name=f"avatar{p}", type=mujoco.mjtGeom.mjGEOM_CAPSULE, size=[r, hl, 0], rgba=hidden, contype=0,
                conaffinity=0, group=GROUP_HIDDEN, condim=1, priority=1, userdata=[CAT_NONE, NO_COLOUR, 0],
            )
            b.add_geom(
                name=f"avatar{p}_nose", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.12, 0.08, 0.06],
                pos=[r, 0, hl * 0.6], rgba=[0.1, 0.1, 0.1, 0.0], contype=0, conaffinity=0, group=GROUP_HIDDEN,
                userdata=[CAT_NONE, NO_COLOUR, 0],
            )
            kv = m * ph.move_gain
            fmax = m * ph.move_force_limit
            for jn in ("x", "y"):
                a = s.add_actuator(name=f"avatar{p}_v{jn}", target=f"avatar{p}_{jn}", trntype=mujoco.mjtTrn.mjTRN_JOINT)
                a.set_to_velocity(kv=kv)
                a.ctrlrange = [-ph.max_speed, ph.max_speed]
                a.ctrllimited = True
                a.forcerange = [-fmax, fmax]
                a.forcelimited = True
            a = s.add_actuator(name=f"avatar{p}_vyaw", target=f"avatar{p}_yaw", trntype=mujoco.mjtTrn.mjTRN_JOINT)
            a.set_to_velocity(kv=izz * ph.turn_gain)
            a.ctrlrange = [-ph.max_turn_rate, ph.max_turn_rate]
            a.ctrllimited = True
        for p in range(cap.players):
            # data set explicitly: add_equality() defaults to [0, 1, 0, ...] which is a 1 m sideways anchor.
            s.add_equality(
                name=f"grab{p}", type=mujoco.mjtEq.mjEQ_WELD, objtype=mujoco.mjtObj.mjOBJ_BODY,
                name1=f"avatar{p}", name2="obj0", active=False,
                data=[0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1] + [0] * (mujoco.mjNEQDATA - 11),
            )
        for p in range(cap.players):
            # what the capsule touches, for a batch of worlds whose contacts cannot be read one by one
            s.add_sensor(
                name=f"avatar{p}_contacts", type=mujoco.mjtSensor.mjSENS_CONTACT, objtype=mujoco.mjtObj.mjOBJ_GEOM,
                objname=f"avatar{p}", intprm=[CONTACT_SENSOR_DATA, CONTACT_SENSOR_REDUCE, CONTACT_SENSOR_SLOTS],
            )  # fmt: skip
        return s

    def _index(self, m: mujoco.MjModel) -> None:
        """Resolve names to the id arrays that the vectorised helpers index with."""
        cap = self.capacity

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
        self._geom_player_list: list[int] = self.geom_player.tolist()  # for the per-step contact scan
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
                bottoms.append(self.physics.object_half_size)
        self.shape_bottom = np.array(bottoms)
        self._geom_has_body = m.body_geomnum > 0
        self._body_geomadr = m.body_geomadr[self._geom_has_body]
        # slots that load() parks and makes inert before activating what a world uses
        self._slot_bodies = np.concatenate([self.tile_body, self.ramp_body, self.wall_body, self.fixed_body])
        self._slot_geoms = np.concatenate(
            [self.tile_geom, self.ramp_geom, self.wall_geom, self.obj_geoms.ravel(), self.fixed_geoms.ravel(),
             self.avatar_geom, self.avatar_nose]
        )
        self._static_with_bvh = bool(np.any(m.body_bvhnum[np.concatenate([self.tile_body, self.ramp_body,
                                                                          self.wall_body])] > 0))
        n_obj, n_pl = cap.max_objects, cap.players
        self._obj_park = _PARK + np.stack([3.0 * np.arange(n_obj), np.zeros(n_obj), np.zeros(n_obj)], 1)
        self._avatar_park = np.zeros((n_pl, 4))
        self._avatar_park[:, :3] = _PARK + np.stack([np.zeros(n_pl), 3.0 * np.arange(n_pl) + 50.0, np.zeros(n_pl)], 1)
        self._obj_qpos_xyz = self.obj_qposadr[:, None] + np.arange(3)
        self._obj_qpos_quat = self.obj_qposadr[:, None] + np.arange(3, 7)
        # Ramp pose per direction: a slab whose top face runs from the tile's floor at its foot edge up to the
        # neighbour's floor at its far edge; centre = top-face centre minus half the slab along the face normal.
        ph = self.physics
        theta = math.atan2(ph.level_height, ph.tile_size)
        offsets, quats = [], []
        for name in _DIR_NAMES:
            dr, dc = ws.DIRECTIONS[name]
            xaxis = np.array([math.cos(theta) * dc, math.cos(theta) * dr, math.sin(theta)])
            zaxis = np.array([-math.sin(theta) * dc, -math.sin(theta) * dr, math.cos(theta)])
            yaxis = np.cross(zaxis, xaxis)
            offsets.append(_RAMP_SLAB * zaxis)
            quats.append(_quat_from_mat(np.stack([xaxis, yaxis, zaxis], axis=1)))
        self._ramp_offset = np.array(offsets)
        self._ramp_quat = np.array(quats)
        self._ramp_size = np.array([math.hypot(ph.tile_size, ph.level_height) / 2, ph.tile_size / 2, _RAMP_SLAB])
        self._index_fast_load(m)

    def _index_fast_load(self, m: mujoco.MjModel) -> None:
        """Precompute what the cold ``load`` needs to write mostly contiguous slices (see ``_load_cold``).

        The build order makes every slot family contiguous (tile, ramp and wall bodies and geoms; object free
        and fixed bodies; avatar capsule/nose geoms alternate), and each static slot body holds exactly its own
        geom. ``load`` starts every field it writes from a snapshot of the freshly compiled model with the
        avatars of the world (and the walls, always used) already activated, so resetting the slots of the
        previous world is one copy per field, and a load does not depend on what was loaded before.
        """
        cap = self.capacity
        P = cap.players

        def start(ids: np.ndarray, step: int = 1) -> int:
            s0 = int(ids.ravel()[0])
            assert np.array_equal(ids.ravel(), s0 + step * np.arange(ids.size)), "unexpected slot layout"
            return s0

        self._tb0, self._tg0 = start(self.tile_body), start(self.tile_geom)
        self._rb0, self._rg0 = start(self.ramp_body), start(self.ramp_geom)
        self._wb0, self._wg0 = start(self.wall_body), start(self.wall_geom)
        self._ob0, self._fb0 = start(self.obj_body), start(self.fixed_body)
        self._ag0, self._an0 = start(self.avatar_geom, 2), start(self.avatar_nose, 2)
        self._oq0 = start(self.obj_qposadr, 7)
        statics_b = np.concatenate([self.tile_body, self.ramp_body, self.wall_body])
        statics_g = np.concatenate([self.tile_geom, self.ramp_geom, self.wall_geom])
        assert np.array_equal(m.body_geomnum[statics_b], np.ones(len(statics_b), dtype=m.body_geomnum.dtype))
        assert np.array_equal(m.body_geomadr[statics_b], statics_g)
        self._obj_geoms_list: list[list[int]] = self.obj_geoms.tolist()
        self._fixed_geoms_list: list[list[int]] = self.fixed_geoms.tolist()
        self._shape_bottom_list: list[float] = self.shape_bottom.tolist()
        self._ramp_offset_list: list[list[float]] = self._ramp_offset.tolist()
        self._ramp_quat_list: list[list[float]] = self._ramp_quat.tolist()
        self._ramp_rbound = np.sqrt((self._ramp_size * self._ramp_size).sum())
        self._obj_park_list: list[list[float]] = self._obj_park.tolist()
        self._avatar_park_list: list[list[float]] = self._avatar_park.tolist()
        self._walls: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._floor_rgba_memo: dict[tuple[int, int, bool], tuple[float, ...]] = {}
        self._fields = tuple(f for f in _LOADED_FIELDS if f != "bvh_aabb" or self._static_with_bvh)
        # base snapshots, one per player count: every slot parked and inert except the walls and the avatars
        mc = copy.copy(m)
        w = slice(self._wg0, self._wg0 + 4)
        mc.geom_contype[w] = 1
        mc.geom_conaffinity[w] = 1
        mc.geom_group[w] = GROUP_TERRAIN
        mc.geom_rgba[w] = _WALL_RGBA
        mc.geom_user[w] = [CAT_WALL, NO_COLOUR, 0]
        mc.body_quat[self._wb0 : self._wb0 + 4] = _IDENT
        mc.body_contype[self._wb0 : self._wb0 + 4] = 1
        mc.body_conaffinity[self._wb0 : self._wb0 + 4] = 1
        mc.body_gravcomp[self.obj_body] = 1.0
        mc.eq_active0[self.grab_eq] = 0
        mc.eq_obj2id[self.grab_eq] = self.obj_body[0]
        self._base: list[tuple[np.ndarray, ...]] = [()]
        for n in range(1, P + 1):
            ag, an = slice(self._ag0, self._ag0 + 2 * n, 2), slice(self._an0, self._an0 + 2 * n, 2)
            mc.geom_contype[ag] = 1
            mc.geom_conaffinity[ag] = 1
            mc.geom_group[ag] = GROUP_AVATAR
            mc.geom_rgba[ag] = PLAYER_RGBA[:n]
            mc.geom_user[ag, 0] = CAT_AVATAR
            mc.geom_group[an] = GROUP_DECOR
            mc.geom_rgba[an, 3] = 1.0
            mc.body_gravcomp[self.avatar_body] = np.where(np.arange(P) < n, 0.0, 1.0)
            mc.body_user[self.avatar_body[:n], 0] = 1.0
            mc.body_contype[self._geom_has_body] = np.bitwise_or.reduceat(mc.geom_contype, self._body_geomadr)
            mc.body_conaffinity[self._geom_has_body] = np.bitwise_or.reduceat(
                mc.geom_conaffinity, self._body_geomadr
            )
            self._base.append(tuple(getattr(mc, f).copy() for f in self._fields))

    def _floor_colour(self, level: int, colour: int, ramp: bool) -> tuple[float, ...]:
        key = (level, colour, ramp)
        v = self._floor_rgba_memo.get(key)
        if v is None:
            v = tuple(_floor_rgba(np.array([colour]), np.array([level]), ramp=ramp)[0].tolist())
            self._floor_rgba_memo[key] = v
        return v

    def _wall_arrays(self, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pos, size, rbound) of the four walls around a rows x cols grid (memoised per grid size)."""
        v = self._walls.get((rows, cols))
        if v is None:
            ph = self.physics
            ts, depth = ph.tile_size, ph.floor_depth
            w, hw = ph.wall_thickness / 2, (ph.wall_height + depth) / 2
            zc = (ph.wall_height - depth) / 2
            X, Y = cols * ts, rows * ts
            w_pos = np.array([[X / 2, -w, zc], [X / 2, Y + w, zc], [-w, Y / 2, zc], [X + w, Y / 2, zc]])
            w_size = np.array([[X / 2 + 2 * w, w, hw], [X / 2 + 2 * w, w, hw], [w, Y / 2, hw], [w, Y / 2, hw]])
            v = (w_pos, w_size, np.sqrt((w_size * w_size).sum(1)))
            self._walls[(rows, cols)] = v
        return v

    # ------------------------------------------------------------------------------------------- copies
    def new_model(self) -> mujoco.MjModel:
        """An independent copy of the compiled model (one per environment: grabs retarget its welds)."""
        return copy.copy(self.model)

    def compile_fresh(self) -> mujoco.MjModel:
        """Compile the spec again from scratch: the reference cost that ``load`` avoids (used by benchmarks)."""
        return self._build_spec().compile()

    # ------------------------------------------------------------------------------------------- loading
    def check_fits(self, spec: ws.WorldSpec) -> None:
        """Raise ``ValueError`` naming the field if ``spec`` exceeds this template's capacity."""
        cap = self.capacity
        t = spec.terrain
        if not (1 <= t.rows <= cap.max_rows and 1 <= t.cols <= cap.max_cols):
            raise ValueError(f"terrain: grid {t.rows}x{t.cols} exceeds capacity {cap.max_rows}x{cap.max_cols}")
        if len(spec.objects) > cap.max_objects:
            raise ValueError(f"objects: {len(spec.objects)} objects exceed capacity {cap.max_objects}")
        if len(t.ramps) > cap.max_ramps:
            raise ValueError(f"terrain.ramps: {len(t.ramps)} ramps exceed capacity {cap.max_ramps}")
        if not 1 <= len(spec.spawns) <= cap.players:
            raise ValueError(f"spawns: {len(spec.spawns)} spawns, capacity is 1..{cap.players}")

    def load(
        self, model: mujoco.MjModel, data: mujoco.MjData, spec: ws.WorldSpec, cache: bool = True
    ) -> LoadedWorld:
        """Write ``spec`` into ``model`` in place (no recompilation) and reset ``data`` to the spawns.

        Besides positions and sizes this refreshes every derived field that MuJoCo would otherwise use stale:
        ``geom_aabb``, ``geom_rbound``, ``body_contype``/``body_conaffinity`` (and a body's ``bvh_aabb`` root
        where one exists). Everything is array writes: this runs at every episode reset.

        With ``cache`` the model fields a load writes are remembered per spec (an LRU of ``cache_size`` worlds),
        so reloading a world the curriculum replays is a handful of array copies.
        """
        if cache:
            hit = self._cache.get(spec)
            if hit is not None:
                self._cache.move_to_end(spec)
                fields, qpos, userdata, world = hit
                for name, value in fields.items():
                    np.copyto(getattr(model, name), value)
                mujoco.mj_resetData(model, data)
                data.qpos[:] = qpos
                data.userdata[:] = userdata
                mujoco.mj_forward(model, data)
                return world
        world = self._load_cold(model, data, spec)
        if cache and self.cache_size > 0:
            fields = {name: getattr(model, name).copy() for name in _LOADED_FIELDS}
            self._cache[spec] = (fields, data.qpos.copy(), data.userdata.copy(), world)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return world

    def _load_cold(self, model: mujoco.MjModel, data: mujoco.MjData, spec: ws.WorldSpec) -> LoadedWorld:
        """``load`` without the cache: derive every field from the spec.

        Every field starts from the base snapshot for the world's player count (all slots parked and inert),
        then the used slots are written; tile, ramp and wall slots are contiguous, so those are slice writes.
        Per-tile and per-object work is plain Python on the spec's tuples: for a few dozen items that is cheaper
        than building numpy arrays, and every value is computed with the same float operations as before.
        """
        self.check_fits(spec)
        ph, cap = self.physics, self.capacity
        ts, lh, depth = ph.tile_size, ph.level_height, ph.floor_depth
        t = spec.terrain
        rows, cols = t.rows, t.cols
        levels = t.levels
        colour_rows = t.floor_colours
        hazard_set = {(c.row, c.col) for c in t.hazards} if t.hazards else _NO_CELLS

        # ---- terrain rectangles (same rectangles, same order as merge_tiles)
        rects, rect_rgba = _merge_spec_rows(levels, colour_rows, t.hazards, rows, self._floor_colour)
        n_rect = len(rects)
        if n_rect > cap.terrain_slots:
            raise ValueError(
                f"terrain: the floor merges into {n_rect} boxes (level, colour and hazard runs), more than the "
                f"template's terrain_boxes={cap.terrain_slots}; use fewer floor-colour patches or a larger capacity"
            )
        n_pl = len(spec.spawns)
        body_pos, geom_size, geom_aabb, geom_rbound = model.body_pos, model.geom_size, model.geom_aabb, model.geom_rbound
        geom_rgba, geom_user, geom_contype = model.geom_rgba, model.geom_user, model.geom_contype
        geom_conaffinity, geom_group = model.geom_conaffinity, model.geom_group
        body_contype, body_conaffinity = model.body_contype, model.body_conaffinity
        body_user, body_gravcomp, body_quat = model.body_user, model.body_gravcomp, model.body_quat
        for name, base in zip(self._fields, self._base[n_pl]):
            np.copyto(getattr(model, name), base)

        R = np.array(rects, dtype=np.int64)  # [n_rect, 7]: c0, r0, c1, r1, level, colour, hazard
        lo, hi = R[:, 0:2], R[:, 2:4]
        tb, tg = slice(self._tb0, self._tb0 + n_rect), slice(self._tg0, self._tg0 + n_rect)
        rtop = R[:, 4] * lh
        body_pos[tb, 0:2] = (lo + hi + 1) * (ts / 2)
        body_pos[tb, 2] = (rtop - depth) / 2
        size = geom_size[tg]
        size[:, 0:2] = (hi - lo + 1) * (ts / 2)
        size[:, 2] = (rtop + depth) / 2
        geom_aabb[tg, 3:] = size
        geom_rbound[tg] = np.sqrt((size * size).sum(1))
        geom_rgba[tg] = rect_rgba
        geom_user[tg, 0] = CAT_FLOOR
        geom_user[tg, 1:] = R[:, 5:7]
        geom_contype[tg] = 1
        geom_conaffinity[tg] = 1
        geom_group[tg] = GROUP_TERRAIN
        body_contype[tb] = 1
        body_conaffinity[tb] = 1

        # ---- ramps
        n_ramp = len(t.ramps)
        if n_ramp:
            ramp_rows = []
            offs, quats, floor_colour = self._ramp_offset_list, self._ramp_quat_list, self._floor_colour
            for r in t.ramps:
                rr, rc, d = r.row, r.col, _DIR_INDEX[r.direction]
                lv, co, hz = levels[rr][rc], _COLOUR_INDEX[colour_rows[rr][rc]], (rr, rc) in hazard_set
                off = offs[d]
                ramp_rows.append(
                    (
                        (rc + 0.5) * ts - off[0], (rr + 0.5) * ts - off[1], lv * lh + lh / 2 - off[2],
                        *quats[d], *floor_colour(lv + 1, co, True), CAT_RAMP, co, hz,
                    )
                )
            A = np.array(ramp_rows)
            rb, rg = slice(self._rb0, self._rb0 + n_ramp), slice(self._rg0, self._rg0 + n_ramp)
            body_pos[rb] = A[:, 0:3]
            body_quat[rb] = A[:, 3:7]
            geom_rgba[rg] = A[:, 7:11]
            geom_user[rg] = A[:, 11:14]
            geom_size[rg] = self._ramp_size
            geom_aabb[rg, 3:] = self._ramp_size
            geom_rbound[rg] = self._ramp_rbound
            geom_contype[rg] = 1
            geom_conaffinity[rg] = 1
            geom_group[rg] = GROUP_TERRAIN
            body_contype[rb] = 1
            body_conaffinity[rb] = 1

        # ---- walls (activated in the base snapshot)
        w_pos, w_size, w_rbound = self._wall_arrays(rows, cols)
        wb, wg = slice(self._wb0, self._wb0 + 4), slice(self._wg0, self._wg0 + 4)
        body_pos[wb] = w_pos
        geom_size[wg] = w_size
        geom_aabb[wg, 3:] = w_size
        geom_rbound[wg] = w_rbound
        if self._static_with_bvh:  # single-geom bodies have no BVH; refresh a root if a body has one
            b = np.concatenate([self.tile_body[:n_rect], self.ramp_body[:n_ramp], self.wall_body])
            has = model.body_bvhnum[b] > 0
            model.bvh_aabb[model.body_bvhadr[b[has]], :3] = 0.0
            model.bvh_aabb[model.body_bvhadr[b[has]], 3:] = geom_size[model.body_geomadr[b[has]]]

        # ---- objects: a free body when movable, a static body when fixed
        n_obj = len(spec.objects)
        N = cap.max_objects
        obj_pos = [list(p) for p in self._obj_park_list]
        shapes, colours_o, movable = [-1] * N, [-1] * N, [False] * N
        if n_obj:
            og, o_user, o_col, act_body, fixed_ids, fixed_pos, gravcomp = [], [], [], [], [], [], [1.0] * N
            bottoms, obj_geoms, fixed_geoms = self._shape_bottom_list, self._obj_geoms_list, self._fixed_geoms_list
            ob0, fb0 = self._ob0, self._fb0
            for i, o in enumerate(spec.objects):
                rr, cc, sh, co, mov = o.row, o.col, _SHAPE_INDEX[o.shape], _COLOUR_INDEX[o.colour], bool(o.movable)
                shapes[i], colours_o[i], movable[i] = sh, co, mov
                pos = [(cc + 0.5) * ts, (rr + 0.5) * ts, levels[rr][cc] * lh + bottoms[sh] + 1e-3]
                if mov:
                    obj_pos[i] = pos
                    og.append(obj_geoms[i][sh])
                    act_body.append(ob0 + i)
                    gravcomp[i] = 0.0
                else:
                    fixed_ids.append(fb0 + i)
                    fixed_pos.append(pos)
                    og.append(fixed_geoms[i][sh])
                    act_body.append(fb0 + i)
                o_user.append((CAT_OBJECT, co))
                o_col.append(co)
            if fixed_ids:
                body_pos[fixed_ids] = fixed_pos
            og, act_body = np.array(og), np.array(act_body)
            geom_contype[og] = 1
            geom_conaffinity[og] = 1
            geom_group[og] = GROUP_OBJECT
            geom_rgba[og] = _COLOUR_RGBA[o_col]
            geom_user[og, 0:2] = o_user
            body_user[act_body, 0] = 1.0
            body_contype[act_body] = 1
            body_conaffinity[act_body] = 1
            body_gravcomp[ob0 : ob0 + N] = gravcomp

        # ---- avatars (activated in the base snapshot)
        av_q = [list(p) for p in self._avatar_park_list]
        hh = ph.avatar_half_height
        for p, sp in enumerate(spec.spawns):
            sr, sc = int(sp.row), int(sp.col)
            av_q[p] = [(sc + 0.5) * ts, (sr + 0.5) * ts, levels[sr][sc] * lh + hh + 1e-3, float(sp.yaw)]

        # ---- reset data to the spawns
        mujoco.mj_resetData(model, data)
        qpos = data.qpos
        oq = qpos[self._oq0 : self._oq0 + 7 * N].reshape(N, 7)
        oq[:, 0:3] = obj_pos
        oq[:, 3:7] = _IDENT
        qpos[self.avatar_qpos_slice] = [v for q in av_q for v in q]
        data.userdata[:] = [v for q in av_q for v in (q[2], 0.0)]  # [height last stood at, fall reported]
        mujoco.mj_forward(model, data)

        obj_active = np.zeros(N, dtype=bool)
        obj_active[:n_obj] = True
        return LoadedWorld(
            spec=spec,
            geom_category=geom_user[:, 0].astype(np.int64),
            geom_colour_index=geom_user[:, 1].astype(np.int64),
            geom_hazard=geom_user[:, 2] > 0.5,
            player_active=np.arange(cap.players) < n_pl,
            object_active=obj_active,
            object_movable=np.array(movable, dtype=bool),
            object_shape=np.array(shapes, dtype=np.int64),
            object_colour=np.array(colours_o, dtype=np.int64),
            tile_top=np.fromiter(chain.from_iterable(levels), np.int64, rows * cols).reshape(rows, cols) * lh,
            n_terrain_boxes=n_rect,
        )


_NO_CELLS: frozenset = frozenset()
#: Row runs memoised per (levels row, colours row, hazard columns): generated worlds reuse few distinct rows.
_ROW_RUNS: dict[tuple, tuple[tuple[int, int, int, int, int], ...]] = {}


def _row_runs(lrow: tuple[int, ...], crow: tuple[str, ...], hcols: tuple[int, ...]) -> tuple:
    """Maximal runs of equal (level, colour, hazard) in one row: ((c0, c1, level, colour, hazard), ...)."""
    key = (lrow, crow, hcols)
    runs = _ROW_RUNS.get(key)
    if runs is None:
        cidx = _COLOUR_INDEX
        keys = [(lv, cidx[c], 0) for lv, c in zip(lrow, crow)]
        for c in hcols:
            lv, co, _ = keys[c]
            keys[c] = (lv, co, 1)
        out = []
        start, prev = 0, keys[0]
        for c in range(1, len(keys)):
            k = keys[c]
            if k != prev:
                out.append((start, c - 1, *prev))
                start, prev = c, k
        out.append((start, len(keys) - 1, *prev))
        runs = tuple(out)
        if len(_ROW_RUNS) < 100_000:
            _ROW_RUNS[key] = runs
    return runs


def _merge_spec_rows(levels, colour_rows, hazards, rows: int, floor_colour) -> tuple[list[list[int]], list]:
    """``merge_tiles`` on the spec's tuples: ([c0, r0, c1, r1, level, colour, hazard] per rectangle, rgba per
    rectangle), in ``merge_tiles`` order. A run identical to one in the row above (same columns, same key)
    extends that rectangle downwards."""
    hz_cols: dict[int, list[int]] = {}
    for cell in hazards:
        hz_cols.setdefault(cell.row, []).append(cell.col)
    rects: list[list[int]] = []
    rgba: list = []
    prev_runs: tuple = ()
    open_prev: dict = {}
    for r in range(rows):
        h = hz_cols.get(r)
        runs = _row_runs(levels[r], colour_rows[r], tuple(sorted(set(h))) if h else ())
        if runs is prev_runs:  # the same row again: every rectangle of the row above grows by one row
            for j in open_prev.values():
                rects[j][3] = r
            continue
        open_cur = {}
        for run in runs:
            j = open_prev.get(run)
            if j is None:
                j = len(rects)
                c0, c1, lv, co, hz = run
                rects.append([c0, r, c1, r, lv, co, hz])
                rgba.append(floor_colour(lv, co, False))
            else:
                rects[j][3] = r
            open_cur[run] = j
        open_prev, prev_runs = open_cur, runs
    return rects, rgba


class _ColourLookup:
    """Floor-colour names to indices, memoised per row tuple (generated worlds reuse few distinct rows)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, ...], tuple[int, ...]] = {}

    def lookup(self, grid: tuple[tuple[str, ...], ...]) -> np.ndarray:
        rows = self._rows
        out = []
        for row in grid:
            v = rows.get(row)
            if v is None:
                v = tuple(_COLOUR_INDEX[c] for c in row)
                if len(rows) < 100_000:
                    rows[row] = v
            out.append(v)
        return np.array(out, dtype=np.int64)


_COLOUR_LUT = _ColourLookup()
#: Every model field that ``load`` writes (what the per-spec cache restores).
_LOADED_FIELDS = (
    "body_pos", "body_quat", "body_user", "body_gravcomp", "body_contype", "body_conaffinity", "geom_size",
    "geom_aabb", "geom_rbound", "geom_rgba", "geom_contype", "geom_conaffinity", "geom_group", "geom_user",
    "eq_active0", "eq_obj2id", "bvh_aabb",
)
_SHAPE_INDEX = {s: i for i, s in enumerate(ws.SHAPES)}
_DIR_NAMES: tuple[str, ...] = tuple(ws.DIRECTIONS)
_DIR_INDEX = {d: i for i, d in enumerate(_DIR_NAMES)}
_IDENT = np.array([1.0, 0.0, 0.0, 0.0])
_WALL_RGBA = np.array([0.78, 0.76, 0.72, 1.0])


def _floor_rgba(colour: np.ndarray, level: np.ndarray, ramp: bool = False) -> np.ndarray:
    """Floor colours, slightly lighter per level so levels read apart in renders (rays report the index)."""
    rgba = _COLOUR_RGBA[colour].copy()
    shade = (0.8 + 0.1 * np.asarray(level, dtype=np.float64))[:, None]
    rgba[:, :3] = np.clip(rgba[:, :3] * shade + (0.05 if ramp else 0.0), 0.0, 1.0)
    return rgba


def geom_category(model: mujoco.MjModel) -> np.ndarray:
    """[ngeom] int category (``CAT_*``) of every geom of a loaded model, read from ``geom_user``."""
    return model.geom_user[:, 0].astype(np.int64)


def geom_colour_index(model: mujoco.MjModel) -> np.ndarray:
    """[ngeom] int colour index (``spec.COLOURS`` order, ``NO_COLOUR`` if none) of every geom."""
    return model.geom_user[:, 1].astype(np.int64)


def geom_hazard(model: mujoco.MjModel) -> np.ndarray:
    """[ngeom] bool: the geom is hazardous floor (hidden from agents; for the safety module)."""
    return model.geom_user[:, 2] > 0.5
