"""``WorldTemplate``: a fixed-capacity MuJoCo model that any ``WorldSpec`` is loaded into in place.

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
  does not.
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

The parts, one idea each: ``config`` (``PhysicsConfig``, ``Capacity``), ``layout`` (ids stored in the model and
the geometry maths from tiles to slot values), ``build`` (the ``MjSpec``), ``slots`` (the id arrays of every slot),
``loading`` (writing a world into a model copy). This module ties them together and re-exports the names other
modules use.
"""

from __future__ import annotations

import copy

import mujoco

from worlds.sim.build import build_spec
from worlds.sim.config import Capacity, PhysicsConfig
from worlds.sim.layout import (
    CAT_AVATAR,
    CAT_FLOOR,
    CAT_HAZARD,
    CAT_NONE,
    CAT_OBJECT,
    CAT_RAMP,
    CAT_WALL,
    CATEGORY_NAMES,
    COLOUR_NAMES,
    CONTACT_SENSOR_FIELDS,
    CONTACT_SENSOR_SLOTS,
    GROUP_AVATAR,
    GROUP_DECOR,
    GROUP_HIDDEN,
    GROUP_OBJECT,
    GROUP_TERRAIN,
    NO_COLOUR,
    merge_tiles,
)
from worlds.sim.loading import LoadedWorld, WorldLoader
from worlds.sim.slots import SlotIndex
from worlds.tasks import spec as ws

__all__ = [
    "CAT_AVATAR", "CAT_FLOOR", "CAT_HAZARD", "CAT_NONE", "CAT_OBJECT", "CAT_RAMP", "CAT_WALL", "CATEGORY_NAMES",
    "COLOUR_NAMES",
    "CONTACT_SENSOR_FIELDS", "CONTACT_SENSOR_SLOTS", "GROUP_AVATAR", "GROUP_DECOR", "GROUP_HIDDEN", "GROUP_OBJECT",
    "GROUP_TERRAIN", "NO_COLOUR", "Capacity", "LoadedWorld", "PhysicsConfig", "WorldTemplate", "merge_tiles",
]  # fmt: skip


class WorldTemplate(SlotIndex):
    """One compiled MuJoCo model at full capacity, plus the index arrays that address its slots (inherited from
    ``SlotIndex``: ``template.avatar_body``, ``template.obj_geoms``, ...).

    ``new_model()`` hands out independent copies (one per environment); ``load(model, data, spec)`` writes a
    world into a copy in place and resets ``data`` to the spawns.
    """

    def __init__(
        self, capacity: Capacity = Capacity(), physics: PhysicsConfig = PhysicsConfig(), cache_size: int = 64
    ):
        self.capacity = capacity
        self.physics = physics
        self.mjspec = build_spec(capacity, physics)
        self.model = self.mjspec.compile()
        super().__init__(self.model, capacity, physics)
        self.loader = WorldLoader(self.model, self, capacity, physics, cache_size)

    def new_model(self) -> mujoco.MjModel:
        """An independent copy of the compiled model (one per environment: grabs retarget its welds)."""
        return copy.copy(self.model)

    def compile_fresh(self) -> mujoco.MjModel:
        """Compile the spec again from scratch: the reference cost that ``load`` avoids (used by benchmarks)."""
        return build_spec(self.capacity, self.physics).compile()

    def check_fits(self, spec: ws.WorldSpec) -> None:
        """Raise ``ValueError`` naming the field if ``spec`` exceeds this template's capacity."""
        self.loader.check_fits(spec)

    def load(
        self, model: mujoco.MjModel, data: mujoco.MjData, spec: ws.WorldSpec, cache: bool = True
    ) -> LoadedWorld:
        """Write ``spec`` into ``model`` (a copy from ``new_model``) in place and reset ``data`` to the spawns;
        see ``WorldLoader.load``."""
        return self.loader.load(model, data, spec, cache)

