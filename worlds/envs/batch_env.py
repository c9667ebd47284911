"""``BatchEnv``: many openland tasks stepped per call, arrays shaped [envs, players, ...].

The fast core under every adapter (PettingZoo, Gymnasium), trainer and benchmark. The worlds' physics is one
``worlds.sim.world_batch.WorldBatch`` (a ``mujoco.batch.Batch``): each env owns a copy of one compiled template model, so a
reset to a new task rewrites that copy in place instead of recompiling. Per step:

1. actions are validated and turned into controls, jumps and grabs for all envs and players at once;
2. every env's physics runs ``substeps`` MuJoCo steps in one C call (on ``EnvConfig.threads`` threads);
3. the state every consumer needs (avatar and object poses, holds, ray hits from one batched ray cast) is read
   from the batch's arrays, and predicate truth, rewards, unsafe flags and observations are computed on those
   by compiled kernels over [envs, players] (``worlds.sim.kernels``): no Python loop over envs or players;
4. envs whose episode ended (time limit, or a MuJoCo instability read from the warning counters) are reset to a new
   task from ``task_sampler`` in the same call (same-step auto-reset): the returned observation of such an env
   is the first of its next episode, and ``info["final"]`` holds the ended episode's figures.

Determinism: ``reset(seed)`` seeds a numpy Generator that draws each new episode's task seed; physics is
deterministic, so the same seed and actions give the same episodes. ``get_state``/``set_state`` capture
everything (tasks, full MuJoCo integration state, grab welds, counters, the Generator) for exact resume.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
from gymnasium import spaces

from worlds.sim import avatar as av
from worlds.sim import kernels
from worlds.tasks import spec as ws
from worlds.tasks.game import TaskGenConfig, TaskSpec, sample_training_task, task_from_json, task_id, task_to_json, validate_task
from worlds.sim.observations import RayCameraConfig, player_observation_space, ray_features
from worlds.sim.predicates import (
    SEE_RANGE,
    EntityState,
    FloorMap,
    GoalTables,
    goal_target,
    write_goal_tables,
)
from worlds.sim.world_batch import WorldBatch
from worlds.sim.template import CAT_OBJECT, Capacity, LoadedWorld, PhysicsConfig, WorldTemplate

ActionType = Literal["discrete", "continuous"]
#: Names of the action components, for error messages.
ACTION_NAMES: tuple[str, ...] = ("forward", "strafe", "turn", "jump", "grab")
#: Discrete action: forward/strafe/turn in {back, none, ahead} and jump/grab in {no, yes}.
DISCRETE_NVEC = np.array([3, 3, 3, 2, 2])
_SUPPORT_SLACK = 0.12  # metres: how close a bottom must be to a top to count as resting on it


@dataclass(frozen=True)
class TrainingTasks:
    """The default task sampler: generated training tasks (never the held-out split) with a fixed player count.
    A class rather than a lambda so it pickles into Ray workers."""

    config: TaskGenConfig = TaskGenConfig(min_players=1, max_players=1)
    """How tasks are generated."""

    def __call__(self, seed: int) -> TaskSpec:
        return sample_training_task(seed, self.config)


@dataclass(frozen=True)
class EnvConfig:
    """Shape and behaviour of a ``BatchEnv``."""

    num_envs: int = 8
    """Worlds stepped per call."""
    num_players: int = 1
    """Player slots per env (1..4); a task with fewer players leaves the extra slots inactive."""
    max_steps: int = 250
    """Episode time limit in env steps (25 s of simulated time at the default 10 decisions per second)."""
    action_type: ActionType = "discrete"
    """'discrete': MultiDiscrete([3, 3, 3, 2, 2]); 'continuous': Box(-1, 1, (5,))."""
    near_distance: float = 2.0
    """Distance in metres under which ``near(a, b)`` holds (one tile)."""
    shaping_unit: float = 0.0
    """What the shaping potential (``info["potential"]``, ``worlds.sim.predicates.goal_potential``'s ``unit``)
    credits for each literal of the goal made true, beside the distances still to close. 0: distances only."""
    camera: RayCameraConfig = RayCameraConfig()
    """The egocentric ray camera."""
    physics: PhysicsConfig = PhysicsConfig()
    """Physical constants of the worlds."""
    rgb: tuple[int, int] | None = None
    """(height, width) of an optional first-person RGB observation per player (``obs["rgb"]``, uint8) from
    MuJoCo's offscreen renderer; None (default) leaves it out: agents train on the ray camera."""
    autoreset: bool = True
    """Reset ended envs inside ``step`` (trainers); False leaves them ended for the caller to reset, so the last
    observation is the ended episode's own (the PettingZoo and Gymnasium adapters)."""
    threads: int = 1
    """Threads that step the worlds' physics and cast their rays (``mujoco.batch``; 1: the caller's thread
    only). Results are bit-identical at any count; more than one helps when the env has cores to itself."""
    terrain_boxes: int = 64
    """Terrain box slots of the template: generated worlds merge into at most ~40 boxes, and fewer slots make
    every physics step cheaper (~40% faster than the 256-slot worst case). A world that needs more is refused
    at load with an error naming it."""

    def __post_init__(self) -> None:
        if not 1 <= self.num_players <= ws.MAX_PLAYERS:
            raise ValueError(f"num_players={self.num_players!r} must be in 1..{ws.MAX_PLAYERS}")
        if self.num_envs < 1:
            raise ValueError(f"num_envs={self.num_envs!r} must be at least 1")
        if self.max_steps < 1:
            raise ValueError(f"max_steps={self.max_steps!r} must be at least 1")
        if self.threads < 1:
            raise ValueError(f"threads={self.threads!r} must be at least 1")
        if self.action_type not in ("discrete", "continuous"):
            raise ValueError(f"action_type={self.action_type!r} is not 'discrete' or 'continuous'")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EnvConfig":
        data = dict(data)
        if data.get("rgb") is not None:
            data["rgb"] = tuple(data["rgb"])
        camera = dict(data["camera"])
        for key in ("rays_per_row", "fovs_degrees", "pitches_degrees"):
            camera[key] = tuple(camera[key])
        data["camera"] = RayCameraConfig(**camera)
        data["physics"] = PhysicsConfig(**data["physics"])
        return cls(**data)


@dataclass
class _Batch:
    """Per-step state of every env gathered into arrays (what observations, predicates and recordings read)."""

    avatar_pos: np.ndarray  # [E, P, 3]
    avatar_yaw: np.ndarray  # [E, P]
    avatar_vel: np.ndarray  # [E, P, 4]
    grounded: np.ndarray  # [E, P]
    object_pos: np.ndarray  # [E, O, 3]
    object_quat: np.ndarray  # [E, O, 4]
    held: np.ndarray  # [E, P]
    ray_geom: np.ndarray  # [E, P, R]
    ray_dist: np.ndarray  # [E, P, R]


class BatchEnv:
    """A batch of openland tasks. See the module docstring for the step contract."""

    def __init__(
        self,
        config: EnvConfig = EnvConfig(),
        task_sampler: Callable[[int], TaskSpec] | None = None,
        template: WorldTemplate | None = None,
    ):
        self.config = config
        E, P = config.num_envs, config.num_players
        self.num_envs, self.num_players = E, P
        self.task_sampler = task_sampler or TrainingTasks(TaskGenConfig(min_players=P, max_players=P))
        self.template = template or WorldTemplate(Capacity(players=P, terrain_boxes=config.terrain_boxes), config.physics)
        if self.template.capacity.players != P:
            raise ValueError(f"template has {self.template.capacity.players} player slots, config.num_players={P}")
        t = self.template
        self.world = WorldBatch(t, E, config.threads, config.camera)
        self.models = self.world.models
        ngeom = t.model.ngeom
        O = t.capacity.max_objects

        self.single_observation_space = player_observation_space(config.camera)
        self._rgb = None
        if config.rgb is not None:
            from worlds.sim.render import EgocentricCamera

            self._rgb = EgocentricCamera(self.models, *config.rgb)
            self.single_observation_space.spaces["rgb"] = spaces.Box(0, 255, shape=(*config.rgb, 3), dtype=np.uint8)
        if config.action_type == "discrete":
            self.single_action_space: spaces.Space = spaces.MultiDiscrete(DISCRETE_NVEC)
        else:
            self.single_action_space = spaces.Box(-1.0, 1.0, shape=(av.ACTION_DIM,), dtype=np.float32)

        # static geom -> entity row map (same for every model copy)
        self._geom_entity = np.full(ngeom, -1, dtype=np.int64)
        self._geom_entity[t.avatar_geom] = np.arange(P)
        slots = np.broadcast_to(np.arange(O)[:, None], t.obj_geoms.shape)
        self._geom_entity[t.obj_geoms.ravel()] = ws.MAX_PLAYERS + slots.ravel()
        self._geom_entity[t.fixed_geoms.ravel()] = ws.MAX_PLAYERS + slots.ravel()
        self._see_mask = config.camera.see_mask()
        self._all_envs = np.arange(E)

        # per-env tables rewritten at each reset
        G = ws.MAX_GRID
        self._geom_category = np.zeros((E, ngeom), dtype=np.int64)
        self._geom_colour = np.full((E, ngeom), -1, dtype=np.int64)
        self._geom_shape = np.full((E, ngeom), -1, dtype=np.int64)
        self._tile_top = np.zeros((E, G, G))
        self._tile_colour = np.full((E, G, G), -1, dtype=np.int64)
        self._grid = np.ones((E, 2), dtype=np.int64)  # rows, cols
        self._object_shape = np.full((E, O), -1, dtype=np.int64)
        self._object_bottom = np.zeros((E, O))
        self._object_fixed = np.zeros((E, O), dtype=bool)
        self._player_active = np.zeros((E, P), dtype=bool)
        self.tables = GoalTables.empty(E)
        self.tasks: list[TaskSpec | None] = [None] * E
        self.task_ids: list[str] = [""] * E

        self._batch = _Batch(
            avatar_pos=np.zeros((E, P, 3)), avatar_yaw=np.zeros((E, P)), avatar_vel=np.zeros((E, P, 4)),
            grounded=self.world.grounded, object_pos=np.zeros((E, O, 3)),
            object_quat=np.tile(np.array([1.0, 0, 0, 0]), (E, O, 1)), held=np.full((E, P), -1, dtype=np.int64),
            ray_geom=self.world.ray_geom, ray_dist=self.world.ray_dist,  # kept current by the world
        )  # fmt: skip
        self._step_count = np.zeros(E, dtype=np.int64)
        self._episode_return = np.zeros((E, P))
        self._episode_unsafe = np.zeros((E, P), dtype=np.int64)
        self._rng = np.random.default_rng(0)
        self._needs_reset = True

    # ------------------------------------------------------------------------------------------- reset
    def reset(self, seed: int | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start a new episode in every env. With a seed, the sequence of tasks is reset too."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._reset_envs(np.arange(self.num_envs))
        self._needs_reset = False
        return self._observation(), {"task_id": list(self.task_ids), "active": self._player_active.copy()}

    def _draw_task(self) -> TaskSpec:
        seed = int(self._rng.integers(0, 2**62))
        task = self.task_sampler(seed)
        if len(task.world.spawns) > self.num_players:
            raise ValueError(
                f"task sampler returned a task with {len(task.world.spawns)} players; this env has "
                f"num_players={self.num_players}"
            )
        return task

    def _reset_envs(self, env_ids: np.ndarray, tasks: list[TaskSpec] | None = None) -> None:
        if len(env_ids) == 0:
            return
        tasks = tasks if tasks is not None else [self._draw_task() for _ in env_ids]
        for e, task, loaded in zip(env_ids.tolist(), tasks, self.world.load(env_ids, [task.world for task in tasks])):
            self._apply_loaded(e, task, loaded)
        write_goal_tables(self.tables, env_ids, tasks)
        self._step_count[env_ids] = 0
        self._episode_return[env_ids] = 0.0
        self._episode_unsafe[env_ids] = 0
        self._gather(env_ids)

    def _apply_loaded(self, e: int, task: TaskSpec, loaded: LoadedWorld) -> None:
        """Rewrite env ``e``'s lookup tables for the world just loaded into it."""
        t = self.template
        self.tasks[e] = task
        self.task_ids[e] = task_id(task)
        self._geom_category[e] = loaded.geom_category
        self._geom_colour[e] = loaded.geom_colour_index
        shape = np.full(t.model.ngeom, -1, dtype=np.int64)
        obj = self._geom_entity >= ws.MAX_PLAYERS
        shape[obj] = loaded.object_shape[self._geom_entity[obj] - ws.MAX_PLAYERS]
        self._geom_shape[e] = np.where(loaded.geom_category == CAT_OBJECT, shape, -1)
        rows, cols = task.world.terrain.rows, task.world.terrain.cols
        self._grid[e] = rows, cols
        self._tile_top[e] = 0.0
        self._tile_top[e, :rows, :cols] = loaded.tile_top
        self._tile_colour[e] = -1
        self._tile_colour[e, :rows, :cols] = [[ws.COLOUR_INDEX[c] for c in row] for row in task.world.terrain.floor_colours]
        self._object_shape[e] = loaded.object_shape
        self._object_bottom[e] = np.where(loaded.object_shape >= 0, t.shape_bottom[np.maximum(loaded.object_shape, 0)], 0.0)
        self._player_active[e] = loaded.player_active
        self._object_fixed[e] = loaded.object_active & ~loaded.object_movable

    # ------------------------------------------------------------------------------------------- step
    def step(self, actions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advance every env by one control period. Returns (obs, reward [E, P], terminated [E], truncated [E],
        info). Ended envs are reset in the same call (see the module docstring)."""
        if self._needs_reset:
            raise RuntimeError("BatchEnv.step called before reset(): call reset() first")
        controls = self.validate_actions(actions)
        P = self.num_players
        hazard, fell, unstable = self.world.step(controls)  # the rules of av.step, for every env at once
        self._gather(self._all_envs)
        self._step_count += 1

        truth, reward, potential, _ = self._evaluate_goals()
        reward = reward[:, :P]
        unsafe = (hazard | fell) & self._player_active
        reward = np.where(unstable[:, None], 0.0, reward).astype(np.float32)
        self._episode_return += reward
        self._episode_unsafe += unsafe
        truncated = (self._step_count >= self.config.max_steps) & ~unstable
        terminated = unstable.copy()
        info: dict[str, Any] = {
            "truth": truth[:, :P],
            "unsafe": unsafe,
            "hazard": hazard & self._player_active,
            "fell": fell & self._player_active,
            "unstable": unstable,
            "active": self._player_active.copy(),
            "poses": self.poses(),  # after this step, before any auto-reset (what recordings store)
            # shaping potential of the state reached (before any auto-reset); see goal_potential
            "potential": potential[:, :P],
        }
        done = np.flatnonzero(terminated | truncated)
        if len(done):
            info["final"] = {
                "env": done,
                "return": self._episode_return[done].copy(),
                "length": self._step_count[done].copy(),
                "unsafe": self._episode_unsafe[done].copy(),
                "held_fraction": (self._episode_return[done] / np.maximum(self._step_count[done], 1)[:, None]),
                "success": reward[done] > 0,  # the goal holds on the episode's last step
                "active": self._player_active[done].copy(),
                "task_id": [self.task_ids[e] for e in done],
            }
            if self.config.autoreset:
                self._reset_envs(done)
            else:
                self._needs_reset = True
        return self._observation(), reward, terminated, truncated, info

    def validate_actions(self, actions: np.ndarray) -> np.ndarray:
        """Check an [E, P, 5] action array and turn it into float controls in [-1, 1].

        A wrong shape or dtype, a NaN or an out-of-range value raises ``ValueError`` naming the env, the player,
        the action component and the value: a bad action never reaches the physics.
        """
        a = np.asarray(actions)
        E, P = self.num_envs, self.num_players
        if a.shape != (E, P, av.ACTION_DIM):
            raise ValueError(f"actions: expected shape ({E}, {P}, {av.ACTION_DIM}) [envs, players, action], got {a.shape}")
        if self.config.action_type == "discrete":
            if not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"actions: discrete actions must be integers, got dtype {a.dtype}")
            controls, bad = kernels.physics.discrete_controls(a, DISCRETE_NVEC)
            if bad >= 0:
                e, p, k = np.unravel_index(bad, a.shape)
                raise ValueError(
                    f"actions[env {e}, player {p}, {ACTION_NAMES[k]!r}]: {a[e, p, k]} is outside 0..{DISCRETE_NVEC[k] - 1}"
                )
            return controls
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"actions: continuous actions must be floats, got dtype {a.dtype}")
        controls, bad = kernels.physics.continuous_controls(a)
        if bad >= 0:
            e, p, k = np.unravel_index(bad, a.shape)
            what = "is not finite" if not np.isfinite(a[e, p, k]) else "is outside [-1, 1]"
            raise ValueError(f"actions[env {e}, player {p}, {ACTION_NAMES[k]!r}]: {a[e, p, k]} {what}")
        return controls

    # ------------------------------------------------------------------------------------------- state
    def _gather(self, env_ids: np.ndarray) -> None:
        """Read poses and holds of ``env_ids`` from the physics batch into the batch arrays (grounded flags and
        the camera's hits are the world's own arrays, kept current by its step and loads)."""
        t, b, w = self.template, self._batch, self.world
        kernels.physics.gather_state(
            w.qpos, w.qvel, t.avatar_qpos_slice.start, t.avatar_qvel_slice.start, w.xpos, w.xquat, t.obj_body,
            t.fixed_body, self._object_fixed, w.eq_active, w.grab_eq, w.grab_body, t.body_object, env_ids,
            b.avatar_pos, b.avatar_yaw, b.avatar_vel, b.object_pos, b.object_quat, b.held,
        )  # fmt: skip

    def goal_potential(self) -> np.ndarray:
        """float32 [E, P]: each player's shaping potential in the current state (``worlds.sim.predicates.
        goal_potential``): after an auto-reset, that of the new episode's first state."""
        return self._evaluate_goals()[2][:, : self.num_players]

    def goal_direction(self) -> np.ndarray:
        """float32 [E, P, 3]: unit (forward, left) direction from each player to the entity its goal asks it to
        reach (``worlds.sim.predicates.goal_target``), and a validity flag; an auxiliary training target only."""
        P = self.num_players
        target = goal_target(self.tables)[:, :P]
        b = self._batch
        pos = np.concatenate([b.avatar_pos, np.zeros((self.num_envs, ws.MAX_PLAYERS - P, 3)), b.object_pos], 1)
        d = np.take_along_axis(pos, np.maximum(target, 0)[..., None], 1) - b.avatar_pos
        c, s = np.cos(b.avatar_yaw), np.sin(b.avatar_yaw)
        local = np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], -1)
        norm = np.linalg.norm(local, axis=-1, keepdims=True)
        valid = (target >= 0) & (norm[..., 0] > 1e-6) & self._player_active
        out = np.zeros((self.num_envs, P, 3), dtype=np.float32)
        out[..., :2] = np.where(valid[..., None], local / np.maximum(norm, 1e-6), 0.0)
        out[..., 2] = valid
        return out

    def entity_state(self) -> EntityState:
        """Every env's entities as the predicate module wants them (rows: players, then object slots)."""
        return self._evaluate_goals()[3]

    def _evaluate_goals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, EntityState]:
        """(truth [E, MAX_PLAYERS, O, K], reward [E, MAX_PLAYERS], potential [E, MAX_PLAYERS], entity state) of
        the current state, in one kernel call (``worlds.sim.predicates`` says what each means)."""
        b, ph, g = self._batch, self.config.physics, self.tables
        state = EntityState.empty(self.num_envs)
        near = self.config.near_distance
        truth, reward, potential = kernels.perception.evaluate_goals(
            b.avatar_pos, b.avatar_yaw, b.object_pos, b.held, b.ray_geom, g.entity_present, self._object_bottom,
            self._tile_top, self._tile_colour, self._grid, self._see_mask, self._geom_entity, ws.MAX_PLAYERS,
            ph.avatar_half_height, ph.tile_size, ph.object_half_size, _SUPPORT_SLACK,
            g.relation, g.negated, g.a_index, g.b_index, g.b_floor, g.valid, g.option_valid, g.player_valid,
            np.float32(near * near), float(near), float(ph.grab_reach), SEE_RANGE, float(self.config.shaping_unit),
            state.pos, state.floor_colour, state.grounded, state.held, state.seen, state.support, state.active,
            state.yaw,
        )  # fmt: skip
        return truth, reward, potential, state

    def _observation(self) -> dict[str, np.ndarray]:
        """Observations of every env and player: a dict of [E, P, ...] arrays."""
        b, cam, ph = self._batch, self.config.camera, self.config.physics
        rays = ray_features(b.ray_geom, b.ray_dist, self._geom_category, self._geom_colour, self._geom_shape, cam.max_distance,
                            self.world.camera_dirs, self._player_active)  # fmt: skip
        proprio = kernels.perception.proprioception(
            b.avatar_pos, b.avatar_yaw, b.avatar_vel, b.grounded, b.held, self._step_count, self._player_active,
            self.config.max_steps, ph.max_speed, ph.jump_velocity, ph.max_turn_rate, ph.avatar_half_height,
            ph.level_height,
        )  # fmt: skip
        obs = {"rays": rays, "proprio": proprio, "goal": self.tables.tokens[:, : self.num_players].copy()}
        if self._rgb is not None:
            heading = np.stack([np.cos(b.avatar_yaw), np.sin(b.avatar_yaw), np.zeros_like(b.avatar_yaw)], -1)
            eyes = b.avatar_pos + 0.4 * heading  # just in front of the capsule, so it does not hide the view
            eyes[..., 2] += 0.45
            datas = [self.world.data(e) for e in range(self.num_envs)]
            obs["rgb"] = self._rgb.render(datas, eyes, b.avatar_yaw, self._player_active)
        return obs

    # ------------------------------------------------------------------------------------------- read-only state
    # What privileged consumers (the scripted expert, viewers, tests) may read of the current state. Each is a
    # read-only view of the env's own array: no copy per call, and writing through it raises instead of
    # corrupting the env. A view follows the env (it shows the state after the latest step or reset), so copy
    # it to keep a snapshot.

    @property
    def avatar_pos(self) -> np.ndarray:
        """float64 [E, P, 3]: each avatar's centre in world coordinates (metres)."""
        return _read_only(self._batch.avatar_pos)

    @property
    def avatar_yaw(self) -> np.ndarray:
        """float64 [E, P]: each avatar's heading in radians (0 faces +x, counter-clockwise), unwrapped."""
        return _read_only(self._batch.avatar_yaw)

    @property
    def player_active(self) -> np.ndarray:
        """bool [E, P]: the player slot is used by the env's current task."""
        return _read_only(self._player_active)

    @property
    def tile_colours(self) -> np.ndarray:
        """int64 [E, MAX_GRID, MAX_GRID]: floor colour index (``spec.COLOUR_INDEX``) of each tile of the current
        world, -1 outside its rows x cols grid."""
        return _read_only(self._tile_colour)

    def floor_map(self) -> FloorMap:
        """The current worlds' floor colours as ``worlds.sim.predicates.goal_potential`` reads them (a copy)."""
        return FloorMap(self._tile_colour.copy(), self._grid.copy(), self.config.physics.tile_size)

    @property
    def episode_steps(self) -> np.ndarray:
        """int64 [E]: steps taken in each env's current episode (0 right after a reset)."""
        return _read_only(self._step_count)

    # ------------------------------------------------------------------------------------------- poses
    def poses(self) -> dict[str, np.ndarray]:
        """Current body poses of every env (what a recording stores per step)."""
        b = self._batch
        return {
            "player_pos": b.avatar_pos.copy(),
            "player_yaw": b.avatar_yaw.copy(),
            "object_pos": b.object_pos.copy(),
            "object_quat": b.object_quat.copy(),
            "held": b.held.copy(),
        }

    # ------------------------------------------------------------------------------------------- resume
    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly: tasks, MuJoCo integration state, grab welds, counters, RNG."""
        if self._needs_reset:
            raise RuntimeError("BatchEnv.get_state called before reset()")
        return {
            "tasks": [task_to_json(task) for task in self.tasks],  # type: ignore[arg-type]
            **self.world.get_state(),
            "step_count": self._step_count.copy(),
            "episode_return": self._episode_return.copy(),
            "episode_unsafe": self._episode_unsafe.copy(),
            "rng": self._rng.bit_generator.state,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what ``get_state`` returned (into an env of the same config)."""
        if len(state["tasks"]) != self.num_envs:
            raise ValueError(f"state has {len(state['tasks'])} envs, this BatchEnv has {self.num_envs}")
        tasks = [task_from_json(text) for text in state["tasks"]]
        env_ids = np.arange(self.num_envs)
        for e, task, loaded in zip(env_ids.tolist(), tasks, self.world.load(env_ids, [task.world for task in tasks])):
            self._apply_loaded(e, task, loaded)
        self.world.set_state(state)
        write_goal_tables(self.tables, env_ids, tasks)
        self._step_count[:] = state["step_count"]
        self._episode_return[:] = state["episode_return"]
        self._episode_unsafe[:] = state["episode_unsafe"]
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = state["rng"]
        self._needs_reset = False
        self._gather(env_ids)

    def load_tasks(self, tasks: list[TaskSpec]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start a new episode of the given (validated) tasks, one per env: for evaluation, probes and replay."""
        if len(tasks) != self.num_envs:
            raise ValueError(f"load_tasks: {len(tasks)} tasks for {self.num_envs} envs")
        for i, task in enumerate(tasks):
            validate_task(task, f"tasks[{i}]")
        self._reset_envs(np.arange(self.num_envs), list(tasks))
        self._needs_reset = False
        return self._observation(), {"task_id": list(self.task_ids), "active": self._player_active.copy()}


def _read_only(array: np.ndarray) -> np.ndarray:
    """A view of ``array`` that cannot be written through."""
    view = array.view()
    view.flags.writeable = False
    return view
