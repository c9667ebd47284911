"""Building the template's ``MjSpec``: every slot of a ``Capacity`` at once, parked and inert.

The build order is the model's layout: tile, ramp and wall bodies (one box geom each), object free bodies then
fixed bodies (one geom per shape each), then avatars (capsule and nose geoms, slide x/y/z and yaw joints,
velocity actuators), grab welds and contact sensors. ``worlds.sim.slots`` resolves the names back to ids and
checks the contiguity that ``worlds.sim.loading`` relies on.
"""

from __future__ import annotations

import mujoco

from worlds.sim.config import Capacity, PhysicsConfig
from worlds.sim.layout import (
    CAT_NONE,
    CONTACT_SENSOR_DATA,
    CONTACT_SENSOR_REDUCE,
    CONTACT_SENSOR_SLOTS,
    GROUP_HIDDEN,
    HIDDEN_RGBA,
    NO_COLOUR,
    PARK,
    shape_meshes,
)
from worlds.tasks import spec as ws


def build_spec(capacity: Capacity, physics: PhysicsConfig) -> mujoco.MjSpec:
    """The full-capacity ``MjSpec`` of a template (compile it once; worlds are then loaded in place)."""
    cap, ph = capacity, physics
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
    hidden = HIDDEN_RGBA

    def static_box(name: str) -> None:
        b = world.add_body(name=name, pos=list(PARK))
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
    meshes = shape_meshes(h)
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
        b = world.add_body(name=f"obj{i}", pos=list(PARK + [3.0 * i, 0, 0]), gravcomp=1.0)
        b.add_freejoint(name=f"obj{i}_free")
        b.explicitinertial = True
        b.ipos = [0.0, 0.0, 0.0]  # left unset, MjSpec puts the inertial frame at the compile-time position
        b.iquat = [1.0, 0.0, 0.0, 0.0]
        b.mass = ph.object_mass
        b.inertia = [inertia, inertia, inertia]
        shape_geoms(b, f"obj{i}")
    for i in range(cap.max_objects):
        b = world.add_body(name=f"fixed{i}", pos=list(PARK))
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
