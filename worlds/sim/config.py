"""The two configs of a ``WorldTemplate``: the physical constants every world shares (``PhysicsConfig``) and how
many of each thing the compiled model has room for (``Capacity``)."""

from __future__ import annotations

from dataclasses import dataclass

from worlds.tasks import spec as ws


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
