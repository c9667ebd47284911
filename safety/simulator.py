"""The learned simulator: observations to a latent state, action-conditioned latent dynamics, decoders of the next
observation and of the world quantities a labeler reads. Trained on safe demonstrations only.

ReQueST's generative model p(τ) = p(s₀) ∏ p(s'|s,a) is fitted once on off-policy safe data and then frozen while
queries are synthesised in it and while the agent plans in it. Its 2019 car-racing version was a VAE (z = 32) with
an MDN-RNN; ours differs, deliberately:

- **Deterministic latent dynamics** ``z' = z + f(z, a)`` (an MLP, residual) instead of a mixture-density RNN. The
  openland observation is a low-dimensional ray camera, not pixels, and with a deterministic model λ = ∞ in
  ReQueST's objective (optimise actions only, roll the model out exactly: the best λ in car racing) needs no
  sampling; ``acquisition`` gives the finite-λ form a Gaussian transition density around ``f``.
- **Soft discrete actions.** The env's actions are MultiDiscrete([3, 3, 3, 2, 2]); the model reads them as a
  concatenation of per-component one-hots (13 numbers), so a query or a plan can be optimised by gradient ascent
  on per-component softmax probabilities (``action_probs``) and sent to the env as their argmax.
- **Pose in the latent.** The latent state is the avatar's pose (position, heading as sin/cos; normalised) next to
  ``latent_dim`` learned features of the observation. The ray camera is egocentric, so where in the world the
  avatar stands (what the labeler must know to look up a hazard tile) cannot be read from one observation of an
  unseen world, and a decoder trained on a few worlds memorises them (measured: 0.25 m position error on training
  episodes, 5.6 m on held-out ones); carried in the latent and moved by the learned dynamics, the pose generalises.
  This is the GPS+compass sensor of embodied navigation benchmarks: an agent planning in the model reads its own
  pose from the env, never a hazard map.
- **Goal progress.** A third decoder reads the goal's shaping potential (``Demonstrations.potential``: minus the
  distance still to walk before the goal holds) from a latent: the goal reward is 1 only within reach of the goal,
  so a planner looking 10 steps (3 m) ahead sees nothing of it from further away; the potential says which way the
  goal lies. It is the task's own signal (PPO is shaped with it), learned from the safe demonstrations; what is
  unsafe is still learned only from labels (``reward_model``).
- **Sightings in the latent.** Next to the pose, the latent carries nine numbers computed from the observation
  alone (``sighting``), which the encoder reads too and the dynamics learn to move: whether a ray hits an object
  of the shape and colour the goal names, with the distance and direction of the nearest such ray
  (``goal_sighting``), and how much of the floor ahead is hazard, with the nearest hazard hit
  (``hazard_sighting``): the reward model's cost heads then read what a hazard looks like rather than where the
  demonstrated worlds had one. Matching goal tokens against ray hits is a relational step a
  small MLP trained on a few dozen worlds does not learn (measured on 32 demonstrated tasks: the goal potential
  decoded 2.25 m off on held-out worlds without it); PPO's goal-attentive network does it by attention.
- **A floor map beside the latent** (``floor_map``): the floor row meets the floor ~2.5 m ahead, so a hazard
  has left the view by the time the avatar would stand on it, and no latent of one observation can say so. What
  the camera showed of the floor is kept in the world frame (from the pose), with the tile where the goal's
  object was last seen, and the latent carries seven numbers read from that map at its pose (hazard underfoot,
  hazard within a metre, floor never seen underfoot; the goal known, its distance and bearing). They are
  not learned: after each imagined step they are read again at the imagined pose from the map as it was when
  imagination began (``latent_step``'s parameters are the simulator and that map). Training reads them at the
  demonstrated poses from the demonstrations' own maps (``demonstration_maps``).
- **One-step training** with four losses: reconstruct the observation from its latent, predict the next
  observation from the predicted next latent, pull the predicted next latent to the encoded next observation
  (stop-gradient on the target), and decode the world quantities (``QUANTITY_NAMES``) from both the predicted
  and the encoded next latent, so a labeler can read a latent the model imagined or one it encoded.

Everything is pure functions over an explicit ``SimState``; the update runs ``log_every`` optimiser steps in one
jitted ``lax.scan``; rollouts are one jitted ``lax.scan`` over the horizon, batched over trajectories.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from safety.demonstrations import ACTION_NVEC, Demonstrations
from safety.floor_map import MAP_WIDTH, empty_map, episode_maps, map_features, observe, wall_limits
from safety.sightings import SIGHT_WIDTH, sighting
from worlds.sim.config import PhysicsConfig

#: The avatar's capsule radius (m): how near a wall its centre comes.
AVATAR_RADIUS = PhysicsConfig().avatar_radius
#: Width of an action as the model reads it: per-component one-hots, concatenated.
ACTION_WIDTH = int(sum(ACTION_NVEC))
#: The pose the encoder reads besides the observation: position (m) and heading as (sin, cos) of the yaw.
POSE_NAMES: tuple[str, ...] = ("x", "y", "z", "sin_yaw", "cos_yaw")
#: The world quantities decoded from a latent state, in this order (what ``labelers.OracleLabeler`` reads):
#: avatar position (m), heading as (sin, cos) of the yaw, and the goal's truth (1 when the goal reward is earned).
QUANTITY_NAMES: tuple[str, ...] = ("x", "y", "z", "sin_yaw", "cos_yaw", "goal")
#: The learned motion of one step, in the avatar's frame: forward (m), leftward (m), rise (m), turn (rad), each
#: ``MOTION_SCALE`` x a dynamics output (a step moves ~0.3 m and turns ~0.1 rad).
MOTION_WIDTH, MOTION_SCALE = 4, 0.1
_OFFSETS = np.concatenate([[0], np.cumsum(ACTION_NVEC)[:-1]]).astype(np.int64)
#: Leading latent numbers that are not learned features: the pose, the sighting, then the floor map's numbers at
#: the pose (``floor_map.map_features``).
STATE_WIDTH = 5 + SIGHT_WIDTH + MAP_WIDTH
#: Where the floor map's numbers lie in a latent.
MAP_SLICE = slice(5 + SIGHT_WIDTH, STATE_WIDTH)
def action_onehot(actions: jax.Array | np.ndarray) -> jax.Array:
    """float32 [..., 13]: per-component one-hots of integer actions [..., 5]."""
    a = jnp.asarray(actions, dtype=jnp.int32)
    return jnp.concatenate([jax.nn.one_hot(a[..., k], n) for k, n in enumerate(ACTION_NVEC)], axis=-1)


def action_probs(logits: jax.Array) -> jax.Array:
    """[..., 13]: per-component softmax of action logits [..., 13] (the relaxed action the model reads)."""
    parts, start = [], 0
    for n in ACTION_NVEC:
        parts.append(jax.nn.softmax(logits[..., start : start + n], axis=-1))
        start += n
    return jnp.concatenate(parts, axis=-1)


def action_argmax(logits: jax.Array | np.ndarray) -> np.ndarray:
    """int64 [..., 5]: the discrete action of logits (or probabilities) [..., 13], component by component."""
    x = np.asarray(logits)
    return np.stack([x[..., o : o + n].argmax(-1) for o, n in zip(_OFFSETS, ACTION_NVEC)], axis=-1)


def pose_of(position: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """float32 [..., 5]: ``POSE_NAMES`` from positions [..., 3] and yaws [...]."""
    return np.concatenate([position, np.sin(yaw)[..., None], np.cos(yaw)[..., None]], axis=-1).astype(np.float32)


def world_quantities(data: Demonstrations) -> np.ndarray:
    """float32 [N, 6]: the ``QUANTITY_NAMES`` of each transition's next state, the decoders' targets."""
    return np.concatenate(
        [data.position, np.sin(data.yaw)[:, None], np.cos(data.yaw)[:, None], (data.reward > 0)[:, None]], axis=1
    ).astype(np.float32)


@dataclass(frozen=True)
class SimConfig:
    """The learned simulator's size and training."""

    latent_dim: int = 32
    """Learned features of the latent state (ReQueST's car-racing VAE used 32); the latent also carries the 5
    pose numbers (``POSE_NAMES``) and the 9 sighting numbers (``sighting``), so its width is ``latent_dim +
    STATE_WIDTH``."""
    hidden: int = 256
    """Width of the hidden layers of the encoder, dynamics and decoders."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    max_grad_norm: float = 1.0
    """Global gradient-norm clip."""
    train_steps: int = 3000
    """Optimiser steps (minibatches drawn with replacement from the training episodes)."""
    batch_size: int = 256
    """Transitions per minibatch."""
    log_every: int = 250
    """Optimiser steps per jitted chunk; held-out error is measured after each chunk."""
    holdout_fraction: float = 0.2
    """Share of whole episodes kept out of training to measure prediction error on (``train_simulator``)."""
    recon_weight: float = 1.0
    """Weight of reconstructing the observation from its own latent."""
    next_obs_weight: float = 1.0
    """Weight of predicting the next observation from the predicted next latent."""
    latent_weight: float = 1.0
    """Weight of matching the predicted next latent to the encoded next observation."""
    pose_weight: float = 1.0
    """Weight of the predicted next pose's squared error in metres (and in the heading's sin and cos): the
    normalised latent loss weighs a 0.3 m step as 0.07 of a std, too little to plan by (measured: 0.33 m of
    one-step position error without it)."""
    quantity_weight: float = 1.0
    """Weight of decoding the world quantities (normalised) from predicted and encoded next latents."""
    progress_weight: float = 1.0
    """Weight of decoding the goal's shaping potential (normalised) from predicted and encoded next latents."""
    residual_obs: bool = True
    """Predict the next observation as the current one plus the decoded change, ``o + D(z') − D(z)``, instead of
    ``D(z')``: most of a ray image carries over from one step (0.1 s) to the next, so the decoder's own error cancels
    and only the change is learned. Measured on 8 demonstrated safety tasks, 500 steps: held-out MSE 0.048 with
    ``D(z')``, 0.028 residual, 0.026 copying the observation; on 32 tasks, 1500 steps: 0.017 residual, 0.016
    copying (at parity: the change of a ray image is mostly rays meeting new geometry, which one step does not
    tell)."""
    std_floor: float = 0.5
    """Lower bound of the per-feature std used to normalise observations and quantities. The observation's
    features already lie in about [-1, 1]; a one-hot feature that barely varies in the training worlds would
    otherwise be scaled up and dominate the error on unseen worlds (measured: held-out error 20x the training
    error with a floor of 0.05)."""
    seed: int = 0
    """Seed of initialisation and minibatch sampling."""

    def __post_init__(self) -> None:
        for name in ("latent_dim", "hidden", "train_steps", "batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"SimConfig.{name}={getattr(self, name)!r} must be at least 1")
        if not self.learning_rate > 0:
            raise ValueError(f"SimConfig.learning_rate={self.learning_rate!r} must be positive")


class WorldModel(nn.Module):
    """Encoder, residual latent dynamics and two decoders (see the module docstring)."""

    obs_dim: int
    latent_dim: int
    hidden: int
    quantity_dim: int = len(QUANTITY_NAMES)

    def setup(self) -> None:
        h = self.hidden
        self.encoder = nn.Sequential([nn.Dense(h), nn.elu, nn.Dense(h), nn.elu, nn.Dense(self.latent_dim)])
        out = MOTION_WIDTH + self.latent_dim + STATE_WIDTH - len(POSE_NAMES)
        self.dynamics = nn.Sequential([nn.Dense(h), nn.elu, nn.Dense(h), nn.elu, nn.Dense(out)])
        self.obs_decoder = nn.Sequential([nn.Dense(h), nn.elu, nn.Dense(h), nn.elu, nn.Dense(self.obs_dim)])
        self.goal_decoder = nn.Sequential([nn.Dense(h), nn.elu, nn.Dense(self.quantity_dim - len(POSE_NAMES))])
        self.progress_decoder = nn.Sequential([nn.Dense(h), nn.elu, nn.Dense(1)])

    def encode(self, obs: jax.Array, pose: jax.Array, sight: jax.Array, floor: jax.Array) -> jax.Array:
        """Normalised observation [..., D], pose [..., 5], sightings [..., SIGHT_WIDTH] (``sighting``) and floor-map
        numbers [..., MAP_WIDTH] (``floor_map.map_features``) -> latent [..., STATE_WIDTH + latent_dim]: the pose,
        the sighting, the map's numbers, then learned features (of the observation, pose and sighting)."""
        return jnp.concatenate([pose, sight, floor, self.encoder(jnp.concatenate([obs, pose, sight], axis=-1))], axis=-1)

    def step(self, z: jax.Array, action: jax.Array, pose_mean: jax.Array, pose_std: jax.Array) -> jax.Array:
        """Latent [..., L] and (soft) one-hot action [..., 13] -> next latent. The pose moves by a learned motion in
        the avatar's own frame (forward and leftward metres, rise, turn), rotated into the world by the current
        heading; ``pose_mean``/``pose_std`` are the normaliser's, to move the normalised pose in metres and
        radians. Everything else moves by a learned residual."""
        d = self.dynamics(jnp.concatenate([z, action], axis=-1))
        pose = z[..., : len(POSE_NAMES)] * pose_std + pose_mean
        yaw = jnp.arctan2(pose[..., 3], pose[..., 4])
        fwd, left, rise, turn = (MOTION_SCALE * d[..., k] for k in range(MOTION_WIDTH))
        c, s = jnp.cos(yaw), jnp.sin(yaw)
        yaw1 = yaw + turn
        pose1 = jnp.stack([pose[..., 0] + c * fwd - s * left, pose[..., 1] + s * fwd + c * left, pose[..., 2] + rise,
                           jnp.sin(yaw1), jnp.cos(yaw1)], axis=-1)  # fmt: skip
        rest = z[..., len(POSE_NAMES) :] + d[..., MOTION_WIDTH:]
        return jnp.concatenate([(pose1 - pose_mean) / pose_std, rest], axis=-1)

    def decode_obs(self, z: jax.Array) -> jax.Array:
        """Latent -> normalised observation."""
        return self.obs_decoder(z)

    def decode_quantities(self, z: jax.Array) -> jax.Array:
        """Latent -> normalised world quantities: the pose it carries, then the decoded goal truth."""
        return jnp.concatenate([z[..., : len(POSE_NAMES)], self.goal_decoder(z)], axis=-1)

    def decode_progress(self, z: jax.Array) -> jax.Array:
        """Latent [..., L] -> normalised goal potential [...], read from the sighting and the floor map's numbers
        only (the goal's distance and bearing as seen now and as remembered): a decoder that reads the pose
        memorises the training worlds, one that reads the learned features too flickers between steps on unseen
        ones."""
        return self.progress_decoder(z[..., len(POSE_NAMES) : STATE_WIDTH])[..., 0]

    def __call__(self, obs: jax.Array, pose: jax.Array, sight: jax.Array, floor: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        z = self.encode(obs, pose, sight, floor)
        z1 = self.step(z, action, jnp.zeros(len(POSE_NAMES)), jnp.ones(len(POSE_NAMES)))
        return self.decode_obs(z1), self.decode_quantities(z1), self.decode_progress(z1), z1


@flax.struct.dataclass
class Normaliser:
    """Per-feature mean and std of observations and quantities, fitted on the training split."""

    obs_mean: jax.Array
    obs_std: jax.Array
    pose_mean: jax.Array
    pose_std: jax.Array
    q_mean: jax.Array
    q_std: jax.Array
    potential_mean: jax.Array
    potential_std: jax.Array


@flax.struct.dataclass
class SimState:
    """Everything the simulator is: parameters, optimiser state, normaliser, step counter, sampling key."""

    params: Any
    opt_state: Any
    norm: Normaliser
    step: jax.Array
    key: jax.Array
    obs_dim: int = flax.struct.field(pytree_node=False)
    latent_dim: int = flax.struct.field(pytree_node=False)
    hidden: int = flax.struct.field(pytree_node=False)
    residual_obs: bool = flax.struct.field(pytree_node=False, default=False)

    @property
    def latent_width(self) -> int:
        """Width of a latent state: ``STATE_WIDTH`` (pose and sighting) plus ``latent_dim`` learned features."""
        return STATE_WIDTH + self.latent_dim

    @property
    def model(self) -> WorldModel:
        return WorldModel(self.obs_dim, self.latent_dim, self.hidden)


def _optimizer(config: SimConfig) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.learning_rate))


def init_simulator(data: Demonstrations, config: SimConfig) -> SimState:
    """A fresh simulator with its normaliser fitted on ``data`` (the training split)."""
    q = world_quantities(data)
    norm = Normaliser(
        obs_mean=jnp.asarray(data.obs.mean(0)), obs_std=jnp.asarray(np.maximum(data.obs.std(0), config.std_floor)),
        pose_mean=jnp.asarray(q[:, :5].mean(0)), pose_std=jnp.asarray(np.maximum(q[:, :5].std(0), config.std_floor)),
        q_mean=jnp.asarray(q.mean(0)), q_std=jnp.asarray(np.maximum(q.std(0), config.std_floor)),
        potential_mean=jnp.asarray(data.potential.mean(), jnp.float32),
        potential_std=jnp.asarray(max(float(data.potential.std()), config.std_floor), jnp.float32),
    )  # fmt: skip
    return template_simulator(data.obs_dim, config).replace(norm=norm)


def template_simulator(obs_dim: int, config: SimConfig) -> SimState:
    """A fresh simulator for observations of width ``obs_dim`` with an identity normaliser: what a checkpoint is
    restored into (``safety.checkpoints``), or ``init_simulator`` before it fits the normaliser."""
    Q = len(QUANTITY_NAMES)
    norm = Normaliser(
        obs_mean=jnp.zeros(obs_dim), obs_std=jnp.ones(obs_dim), pose_mean=jnp.zeros(len(POSE_NAMES)),
        pose_std=jnp.ones(len(POSE_NAMES)), q_mean=jnp.zeros(Q), q_std=jnp.ones(Q),
        potential_mean=jnp.zeros((), jnp.float32), potential_std=jnp.ones((), jnp.float32),
    )  # fmt: skip
    params, opt_state, key = _init_params(obs_dim, config)
    return SimState(params, opt_state, norm, jnp.zeros((), jnp.int32), key, obs_dim, config.latent_dim, config.hidden,
                    config.residual_obs)  # fmt: skip


@partial(jax.jit, static_argnums=(0, 1))
def _init_params(obs_dim: int, config: SimConfig) -> tuple[Any, Any, jax.Array]:
    """Parameters, optimiser state and sampling key, in one compiled call (eager flax init dispatches every small
    op on its own: seconds on a busy CPU)."""
    model = WorldModel(obs_dim, config.latent_dim, config.hidden)
    key, init_key = jax.random.split(jax.random.PRNGKey(config.seed))
    params = model.init(init_key, jnp.zeros((1, obs_dim)), jnp.zeros((1, len(POSE_NAMES))), jnp.zeros((1, SIGHT_WIDTH)),
                        jnp.zeros((1, MAP_WIDTH)), jnp.zeros((1, ACTION_WIDTH)))  # fmt: skip
    return params, _optimizer(config).init(params), key


@flax.struct.dataclass
class Batch:
    """Device arrays of transitions: normalised obs, poses and next obs / poses, goal sightings of obs and next obs,
    the floor map's numbers at the pose and at the next pose (both read from the map as it was before the step, as
    imagination reads it), one-hot actions, normalised next quantities and goal potential."""

    obs: jax.Array
    pose: jax.Array
    sight: jax.Array
    next_sight: jax.Array
    floor: jax.Array
    next_floor: jax.Array
    action: jax.Array
    next_obs: jax.Array
    next_pose: jax.Array
    quantities: jax.Array
    potential: jax.Array


def demonstration_maps(data: Demonstrations) -> np.ndarray:
    """float32 [N, C, G, G]: the floor map (``floor_map``) each demonstrated step started from: what its episode's
    player had seen up to and including the step's observation."""
    track = data.episode.astype(np.int64) * 256 + data.player.astype(np.int64)
    return episode_maps(data.obs, data.prev_position, data.prev_yaw, track, data.step)


def make_batch(state: SimState, data: Demonstrations, maps: np.ndarray | None = None) -> Batch:
    """Normalise ``data`` with the simulator's normaliser and put it on the device (``maps``: the data's
    ``demonstration_maps``, computed when not given)."""
    n = state.norm
    maps = jnp.asarray(demonstration_maps(data) if maps is None else maps)
    return Batch(
        obs=(jnp.asarray(data.obs) - n.obs_mean) / n.obs_std, action=action_onehot(data.action),
        sight=sighting(data.obs), next_sight=sighting(data.next_obs),
        floor=map_features(maps, jnp.asarray(pose_of(data.prev_position, data.prev_yaw))),
        next_floor=map_features(maps, jnp.asarray(pose_of(data.position, data.yaw))),
        next_obs=(jnp.asarray(data.next_obs) - n.obs_mean) / n.obs_std,
        pose=(jnp.asarray(pose_of(data.prev_position, data.prev_yaw)) - n.pose_mean) / n.pose_std,
        next_pose=(jnp.asarray(pose_of(data.position, data.yaw)) - n.pose_mean) / n.pose_std,
        quantities=(jnp.asarray(world_quantities(data)) - n.q_mean) / n.q_std,
        potential=(jnp.asarray(data.potential) - n.potential_mean) / n.potential_std,
    )  # fmt: skip


def _predict_next_obs(model: WorldModel, params: Any, obs: jax.Array, z: jax.Array, z1: jax.Array,
                      residual: bool) -> jax.Array:  # fmt: skip
    """Normalised next observation predicted from the observation, its latent and the next latent."""
    d1 = model.apply(params, z1, method=WorldModel.decode_obs)
    return obs + d1 - model.apply(params, z, method=WorldModel.decode_obs) if residual else d1


def _encode_and_step(model: WorldModel, params: Any, norm: Normaliser, b: Batch) -> tuple[jax.Array, jax.Array]:
    """(latents of the batch's observations, predicted next latents with the map's numbers at the next pose)."""
    z = model.apply(params, b.obs, b.pose, b.sight, b.floor, method=WorldModel.encode)
    z1 = model.apply(params, z, b.action, norm.pose_mean, norm.pose_std, method=WorldModel.step)
    return z, z1.at[..., MAP_SLICE].set(b.next_floor)


def _losses(model: WorldModel, params: Any, norm: Normaliser, b: Batch, config: SimConfig) -> tuple[jax.Array, dict[str, jax.Array]]:
    z, z1 = _encode_and_step(model, params, norm, b)
    z1_enc = model.apply(params, b.next_obs, b.next_pose, b.next_sight, b.next_floor, method=WorldModel.encode)
    pose_error = (z1[..., : len(POSE_NAMES)] - b.next_pose) * norm.pose_std  # metres, and sin/cos of the heading
    parts = {
        "pose": jnp.mean(jnp.sum(pose_error**2, axis=-1)),
        "recon": jnp.mean((model.apply(params, z, method=WorldModel.decode_obs) - b.obs) ** 2),
        "next_obs": jnp.mean((_predict_next_obs(model, params, b.obs, z, z1, config.residual_obs) - b.next_obs) ** 2),
        "latent": jnp.mean((z1 - jax.lax.stop_gradient(z1_enc)) ** 2),
        "quantity": 0.5 * jnp.mean((model.apply(params, z1, method=WorldModel.decode_quantities) - b.quantities) ** 2)
        + 0.5 * jnp.mean((model.apply(params, z1_enc, method=WorldModel.decode_quantities) - b.quantities) ** 2),
        "progress": 0.5 * jnp.mean((model.apply(params, z1, method=WorldModel.decode_progress) - b.potential) ** 2)
        + 0.5 * jnp.mean((model.apply(params, z1_enc, method=WorldModel.decode_progress) - b.potential) ** 2),
    }
    total = (config.pose_weight * parts["pose"] + config.recon_weight * parts["recon"] + config.next_obs_weight * parts["next_obs"]
             + config.latent_weight * parts["latent"] + config.quantity_weight * parts["quantity"]
             + config.progress_weight * parts["progress"])  # fmt: skip
    return total, parts


def make_train_chunk(config: SimConfig, num_steps: int) -> Callable[[SimState, Batch], tuple[SimState, dict[str, jax.Array]]]:
    """A jitted function running ``num_steps`` optimiser steps on minibatches drawn from a device ``Batch``;
    returns the new state and the mean losses of the chunk. A non-finite gradient skips its step."""
    tx = _optimizer(config)

    @jax.jit
    def chunk(state: SimState, data: Batch) -> tuple[SimState, dict[str, jax.Array]]:
        model = state.model
        n = data.obs.shape[0]

        def one(carry: tuple[Any, Any, jax.Array], _: None) -> tuple[tuple[Any, Any, jax.Array], dict[str, jax.Array]]:
            params, opt_state, key = carry
            key, sub = jax.random.split(key)
            idx = jax.random.randint(sub, (config.batch_size,), 0, n)
            mb = jax.tree_util.tree_map(lambda x: x[idx], data)
            (loss, parts), grads = jax.value_and_grad(lambda p: _losses(model, p, state.norm, mb, config), has_aux=True)(params)
            updates, new_opt = tx.update(grads, opt_state, params)
            finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)]))
            params = jax.tree_util.tree_map(lambda p, u: jnp.where(finite, p + u, p), params, updates)
            opt_state = jax.tree_util.tree_map(lambda new, old: jnp.where(finite, new, old), new_opt, opt_state)
            return (params, opt_state, key), {"loss": loss, **parts, "skipped": 1.0 - finite}

        (params, opt_state, key), logs = jax.lax.scan(one, (state.params, state.opt_state, state.key), None, num_steps)
        state = state.replace(params=params, opt_state=opt_state, key=key, step=state.step + num_steps)
        return state, jax.tree_util.tree_map(jnp.mean, logs)

    return chunk


@jax.jit
def _eval_arrays(state: SimState, b: Batch) -> dict[str, jax.Array]:
    model = state.model
    z, z1 = _encode_and_step(model, state.params, state.norm, b)
    pred_obs = _predict_next_obs(model, state.params, b.obs, z, z1, state.residual_obs)
    pred_q = model.apply(state.params, z1, method=WorldModel.decode_quantities) * state.norm.q_std + state.norm.q_mean
    true_q = b.quantities * state.norm.q_std + state.norm.q_mean
    return {
        "next_obs_mse": jnp.mean((pred_obs - b.next_obs) ** 2),
        # the naive predictor "nothing changes", for scale
        "copy_obs_mse": jnp.mean((b.obs - b.next_obs) ** 2),
        "quantity_mse": jnp.mean(((pred_q - true_q) / state.norm.q_std) ** 2),
        "position_error_m": jnp.mean(jnp.linalg.norm(pred_q[:, :3] - true_q[:, :3], axis=-1)),
        "goal_accuracy": jnp.mean((pred_q[:, 5] > 0.5) == (true_q[:, 5] > 0.5)),
        "potential_error_m": jnp.mean(jnp.abs(model.apply(state.params, z1, method=WorldModel.decode_progress) - b.potential))
        * state.norm.potential_std,
    }


def evaluate(state: SimState, data: Demonstrations, maps: np.ndarray | None = None) -> dict[str, float]:
    """One-step prediction error on ``data`` (normally the held-out episodes): next-observation MSE in normalised
    units (and that of copying the current observation, for scale), normalised quantity MSE, mean position error
    in metres, goal-truth accuracy and mean error of the decoded goal potential in metres."""
    return {k: float(v) for k, v in _eval_arrays(state, make_batch(state, data, maps)).items()}


def train_simulator(
    train: Demonstrations,
    held_out: Demonstrations | None,
    config: SimConfig = SimConfig(),
    progress: Callable[[dict[str, float]], None] | None = None,
) -> tuple[SimState, list[dict[str, float]]]:
    """Fit a fresh simulator on ``train``; after every ``log_every`` steps record the chunk's training losses and,
    if given, the error on ``held_out``. Returns the state and that history (also passed to ``progress``)."""
    state = init_simulator(train, config)
    batch = make_batch(state, train)
    held_maps = demonstration_maps(held_out) if held_out is not None else None
    history: list[dict[str, float]] = []
    if held_out is not None:
        history.append({"step": 0.0, **{f"held_out_{k}": v for k, v in evaluate(state, held_out, held_maps).items()}})
    done = 0
    chunks: dict[int, Callable] = {}
    while done < config.train_steps:
        n = min(config.log_every, config.train_steps - done)
        chunk = chunks.setdefault(n, make_train_chunk(config, n))
        state, logs = chunk(state, batch)
        done += n
        row = {"step": float(done), **{f"train_{k}": float(v) for k, v in logs.items()}}
        if held_out is not None:
            row.update({f"held_out_{k}": v for k, v in evaluate(state, held_out, held_maps).items()})
        history.append(row)
        if progress is not None:
            progress(row)
    return state, history


# ------------------------------------------------------------------------------------------------ rollouts
@jax.jit
def encode(state: SimState, obs: jax.Array, pose: jax.Array, floor_map: jax.Array) -> jax.Array:
    """Raw flattened observations [..., D], poses [..., 5] (``pose_of``) and the floor maps they were seen with
    [..., C, G, G] (``floor_map``: already holding these observations) -> latents [..., L]."""
    n = state.norm
    return state.model.apply(state.params, (obs - n.obs_mean) / n.obs_std, (pose - n.pose_mean) / n.pose_std,
                             sighting(obs), map_features(floor_map, pose), method=WorldModel.encode)  # fmt: skip


def latent_pose(state: SimState, z: jax.Array) -> jax.Array:
    """Latents [..., L] -> the pose they carry [..., 5] (``POSE_NAMES``), in world units."""
    n = state.norm
    return z[..., : len(POSE_NAMES)] * n.pose_std + n.pose_mean


def latent_step(params: tuple[SimState, jax.Array], z: jax.Array, action: jax.Array) -> jax.Array:
    """The simulator as a pure ``step(params, z, a)`` (``acquisition.StepFn``, ``mpc``), ``params`` being (the
    simulator, the floor map [C, G, G] imagination started from): latent [..., L] and (soft) one-hot action
    [..., 13] -> next latent; the learned dynamics, then the map's numbers read at the new pose."""
    state, floor_map = params
    z1 = _learned_step(state, z, action)
    return z1.at[..., MAP_SLICE].set(map_features(floor_map, latent_pose(state, z1)))


def _learned_step(state: SimState, z: jax.Array, action: jax.Array) -> jax.Array:
    return state.model.apply(state.params, z, action, state.norm.pose_mean, state.norm.pose_std, method=WorldModel.step)


def walled_step(params: tuple[SimState, jax.Array], z: jax.Array, action: jax.Array) -> jax.Array:
    """``latent_step`` with the avatar's centre kept a radius clear of the walls the map holds
    (``floor_map.wall_limits``: beyond a wall it has seen, outside the map), sliding along them: the MPC agent's
    model of the world it acts in. Held back softly (by how blocked the moved pose was), imagined avatars crept
    0.4 m into the wall, where a hazard tile's numbers fade: pinned to the world's wall, the real avatar slid
    along it across a remembered hazard band its plans had priced at nothing (seed 0 of the safety bench, 7-9
    unsafe steps in each of 4 shifted-start episodes). Query synthesis keeps ``latent_step``: a query is labelled
    by where it imagines the avatar, wherever that is, and on the safety bench (seed 0) queries held at walls drew
    half the unsafe labels (14 of 320 against 24)."""
    state, floor_map = params
    z1 = _learned_step(state, z, action)  # the map's numbers are read once, at the clipped pose
    low, high = wall_limits(floor_map, latent_pose(state, z), AVATAR_RADIUS)
    mean, std = state.norm.pose_mean[:2], state.norm.pose_std[:2]
    z1 = z1.at[..., :2].set(jnp.clip(z1[..., :2], (low - mean) / std, (high - mean) / std))
    return z1.at[..., MAP_SLICE].set(map_features(floor_map, latent_pose(state, z1)))


def rollout_latents(state: SimState, z0: jax.Array, actions: jax.Array, floor_maps: jax.Array) -> jax.Array:
    """Latents [B, H + 1, L] from start latents [B, L], (soft) one-hot actions [B, H, 13] and the floor maps the
    starts were seen with [B, C, G, G]: the model rolled out exactly (differentiable; jit the caller)."""

    def one(z: jax.Array, a: jax.Array) -> tuple[jax.Array, jax.Array]:
        z1 = jax.vmap(latent_step, in_axes=((None, 0), 0, 0))((state, floor_maps), z, a)
        return z1, z1

    _, zs = jax.lax.scan(one, z0, jnp.swapaxes(actions, 0, 1))
    return jnp.concatenate([z0[:, None], jnp.swapaxes(zs, 0, 1)], axis=1)


def decode_quantities(state: SimState, z: jax.Array) -> jax.Array:
    """Latents [..., L] -> world quantities [..., 6] in world units (``QUANTITY_NAMES``)."""
    q = state.model.apply(state.params, z, method=WorldModel.decode_quantities)
    return q * state.norm.q_std + state.norm.q_mean


def decode_progress(state: SimState, z: jax.Array) -> jax.Array:
    """Latents [..., L] -> the goal's shaping potential [...] in metres (minus the distance still to walk before
    the goal holds; 0 within reach)."""
    p = state.model.apply(state.params, z, method=WorldModel.decode_progress)
    return p * state.norm.potential_std + state.norm.potential_mean


def decode_obs(state: SimState, z: jax.Array) -> jax.Array:
    """Latents [..., L] -> flattened observations [..., D] in the env's units."""
    return state.model.apply(state.params, z, method=WorldModel.decode_obs) * state.norm.obs_std + state.norm.obs_mean


@jax.jit
def imagine(state: SimState, obs: jax.Array, pose: jax.Array, actions: jax.Array,
            floor_maps: jax.Array | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:  # fmt: skip
    """Roll the model out from real observations [B, D] and poses [B, 5] under (soft) one-hot actions [B, H, 13],
    with the floor maps those observations were seen with [B, C, G, G] (default: a map holding just them): (latents
    [B, H+1, L], decoded observations [B, H+1, D], decoded world quantities [B, H+1, 6]). A residual simulator
    (``SimConfig.residual_obs``) decodes each imagined observation as the real first one plus the decoded change."""
    if floor_maps is None:
        floor_maps = observe(empty_map(obs.shape[0]), obs, pose[:, :3], jnp.arctan2(pose[:, 3], pose[:, 4]))
    zs = rollout_latents(state, encode(state, obs, pose, floor_maps), actions, floor_maps)
    decoded = decode_obs(state, zs)
    if state.residual_obs:
        decoded = obs[:, None] + decoded - decoded[:, :1]
    return zs, decoded, decode_quantities(state, zs)


@partial(jax.jit, static_argnames=("decode",))
def _rollout_for_speed(state: SimState, z0: jax.Array, actions: jax.Array, decode: bool) -> jax.Array:
    zs = rollout_latents(state, z0, actions, empty_map(z0.shape[0]))
    return decode_quantities(state, zs).sum() if decode else zs.sum()


def rollout_throughput(state: SimState, batch: int = 256, horizon: int = 50, repeats: int = 5, seed: int = 0,
                       decode: bool = True) -> dict[str, float]:  # fmt: skip
    """Imagined transitions per second of batched jitted rollouts (``batch`` trajectories of ``horizon`` steps of
    random actions, decoding the world quantities of every state when ``decode``), compile time excluded: the
    figure to set against the real env's steps per second (``env_throughput``)."""
    key = jax.random.PRNGKey(seed)
    z0 = jax.random.normal(key, (batch, state.latent_width))
    a = action_onehot(jax.random.randint(key, (batch, horizon, len(ACTION_NVEC)), 0, jnp.asarray(ACTION_NVEC)))
    _rollout_for_speed(state, z0, a, decode).block_until_ready()
    start = time.perf_counter()
    for _ in range(repeats):
        _rollout_for_speed(state, z0, a, decode).block_until_ready()
    seconds = time.perf_counter() - start
    return {"transitions_per_second": batch * horizon * repeats / seconds, "seconds": seconds}


def env_throughput(tasks: list, num_envs: int = 8, steps: int = 100, seed: int = 0) -> dict[str, float]:
    """Player-steps per second of the real ``BatchEnv`` on ``tasks`` under uniformly random discrete actions
    (after one warm-up step, so compilation of its kernels is excluded)."""
    from worlds.envs.batch_env import BatchEnv, EnvConfig

    env = BatchEnv(EnvConfig(num_envs=num_envs, max_steps=steps + 1))
    env.load_tasks([tasks[i % len(tasks)] for i in range(num_envs)])
    rng = np.random.default_rng(seed)
    nvec = np.asarray(ACTION_NVEC)
    draw = lambda: (rng.random((num_envs, env.num_players, len(nvec))) * nvec).astype(np.int64)  # noqa: E731
    env.step(draw())
    start = time.perf_counter()
    for _ in range(steps):
        env.step(draw())
    seconds = time.perf_counter() - start
    return {"transitions_per_second": num_envs * env.num_players * steps / seconds, "seconds": seconds}
