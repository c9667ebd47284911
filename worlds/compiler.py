"""The simulator side of worlds: compile a fixed-capacity MuJoCo template, load worlds into it in place, drive
avatars and read their state. This module is the stable import point; the code lives in ``worlds.template``
(model building and loading) and ``worlds.avatar`` (per-step control and readers).

Typical use by an environment::

    template = WorldTemplate()                # compiled once per process
    model = template.new_model()              # one copy per env (grabs retarget this model's welds)
    data = mujoco.MjData(model)
    world = template.load(model, data, spec)  # in place, no recompilation; data reset to the spawns
    flags = step(template, model, data, actions)  # actions: [players, 5] in [-1, 1]
    if flags.unstable: ...end the episode...
"""

from worlds.avatar import (
    A_FORWARD,
    A_GRAB,
    A_JUMP,
    A_STRAFE,
    A_TURN,
    ACTION_DIM,
    StepFlags,
    apply_actions,
    avatar_positions,
    avatar_velocities,
    avatar_yaw,
    check_actions,
    grounded,
    held_objects,
    object_positions,
    on_hazard,
    player_active,
    step,
    unstable,
    update_falls,
)
from worlds.template import (
    CAT_AVATAR,
    CAT_FLOOR,
    CAT_NONE,
    CAT_OBJECT,
    CAT_RAMP,
    CAT_WALL,
    CATEGORY_NAMES,
    COLOUR_NAMES,
    GROUP_AVATAR,
    GROUP_DECOR,
    GROUP_HIDDEN,
    GROUP_OBJECT,
    GROUP_TERRAIN,
    NO_COLOUR,
    Capacity,
    LoadedWorld,
    PhysicsConfig,
    WorldTemplate,
    geom_category,
    geom_colour_index,
    geom_hazard,
    merge_tiles,
)

#: ``geomgroup`` argument for ``mj_multiRay`` that sees terrain, objects and avatars (not decor or parked slots).
RAY_GEOMGROUP = (1, 1, 1, 0, 0, 0)

__all__ = [
    "A_FORWARD", "A_GRAB", "A_JUMP", "A_STRAFE", "A_TURN", "ACTION_DIM", "CAT_AVATAR", "CAT_FLOOR", "CAT_NONE",
    "CAT_OBJECT", "CAT_RAMP", "CAT_WALL", "CATEGORY_NAMES", "COLOUR_NAMES", "GROUP_AVATAR", "GROUP_DECOR",
    "GROUP_HIDDEN", "GROUP_OBJECT", "GROUP_TERRAIN", "NO_COLOUR", "RAY_GEOMGROUP", "Capacity", "LoadedWorld",
    "PhysicsConfig", "StepFlags", "WorldTemplate", "apply_actions", "avatar_positions", "avatar_velocities",
    "avatar_yaw", "check_actions", "geom_category", "geom_colour_index", "geom_hazard", "grounded",
    "held_objects", "merge_tiles", "object_positions", "on_hazard", "player_active", "step", "unstable",
    "update_falls",
]
