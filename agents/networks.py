"""Policy-value networks for openland agents (flax linen).

One module, :class:`ActorCritic`, serves every observation kind the project has:

* a flat ``Box`` observation (CartPole, MuJoCo-style control), and
* the openland per-player ``Dict`` observation ``{"rays": [R, F], "proprio": [P], "goal": [G, T] int}``.

Layout (a simplified version of XLand's GOAT, Open-Ended Learning Team 2021)::

    obs ─► encoder ─► core (lstm | gru | none) ─┬─► actor MLP ─► policy head
                                                 └─► critic MLP ─► value head

For the Dict observation the encoder is :class:`agents.encoder.GoalObsEncoder`: goal-attentive both ways (the
goal tokens query the rays, the fused observation embedding queries the goal tokens); see that module.

Where this is simpler than GOAT (deliberately, for a first agent that trains on one CPU):

* GOAT attends over the recurrent state steered by the goal and keeps one value head per goal option plus
  a value-consistency loss; here the observation embedding attends to the goal's predicate tokens *before*
  the core, and there is a single value head. The option index is just one embedded token field.
* Rays are flattened into an MLP rather than a convolution over the ray axis (cheap at R=32..64).

Shapes: every network call takes a *time-major* batch ``obs[T, B, ...]`` plus episode-start flags
``dones[T, B]`` (``dones[t]`` true means ``obs[t]`` is the first observation of a new episode, so the carry is
reset to zeros *before* ``obs[t]`` is processed). Acting uses ``T = 1``; the PPO update re-runs whole
sequences from their stored initial carry. The carry is explicit so acting is a pure function.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal, Sequence

import flax.linen as nn
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from agents.encoder import MLP, GoalObsEncoder, kernel_init

CoreKind = Literal["lstm", "gru", "none"]
Carry = Any  # a pytree of [B, ...] arrays; structure depends on the core
ObsTree = Any  # an array or a dict of arrays

GOAL_KEYS = ("rays", "proprio", "goal")


# ----------------------------------------------------------------------------------------------------------
# Hashable descriptions of the spaces (flax module attributes must be hashable; gymnasium spaces are not).
# ----------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ObsSpec:
    """What the network needs to know about an observation space.

    ``kind == "box"``: ``shape`` is the Box shape (flattened by the encoder).
    ``kind == "goal_dict"``: ``rays``/``proprio``/``goal`` shapes and ``goal_vocab`` (one vocabulary size per
    goal-token field, i.e. per column T of the goal array).
    """

    kind: Literal["box", "goal_dict"]
    shape: tuple[int, ...] = ()
    rays: tuple[int, ...] = ()
    proprio: tuple[int, ...] = ()
    goal: tuple[int, ...] = ()
    goal_vocab: tuple[int, ...] = ()

    def float_keys(self) -> tuple[str, ...]:
        """Keys of the float parts (normalised/clipped); the goal tokens are integers and are never touched."""
        return ("rays", "proprio") if self.kind == "goal_dict" else ()


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    """What the policy head needs to know about an action space.

    ``kind``: "discrete" (``n``), "multi_discrete" (``nvec``), "box" (``dim``, ``low``, ``high``).
    """

    kind: Literal["discrete", "multi_discrete", "box"]
    n: int = 0
    nvec: tuple[int, ...] = ()
    dim: int = 0
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    @property
    def num_outputs(self) -> int:
        """Width of the raw policy output (logits, or mean of the Gaussian)."""
        if self.kind == "discrete":
            return self.n
        if self.kind == "multi_discrete":
            return int(sum(self.nvec))
        return self.dim


def obs_spec_from_space(space: gym.Space) -> ObsSpec:
    """Turn a gymnasium observation space into an :class:`ObsSpec`; errors name the offending key/type."""
    if isinstance(space, gym.spaces.Box):
        return ObsSpec(kind="box", shape=tuple(int(s) for s in space.shape))
    if isinstance(space, gym.spaces.Dict):
        missing = [k for k in GOAL_KEYS if k not in space.spaces]
        if missing:
            raise ValueError(f"Dict observation space lacks keys {missing}; expected {GOAL_KEYS}")
        rays, proprio, goal = (space.spaces[k] for k in GOAL_KEYS)
        for k, s in (("rays", rays), ("proprio", proprio)):
            if not isinstance(s, gym.spaces.Box):
                raise ValueError(f"observation key {k!r} must be a Box, got {type(s).__name__}")
        if isinstance(goal, gym.spaces.MultiDiscrete):
            nvec = np.asarray(goal.nvec)
        elif isinstance(goal, gym.spaces.Box) and np.issubdtype(goal.dtype, np.integer):
            nvec = np.asarray(goal.high, dtype=np.int64) + 1
        else:
            raise ValueError(f"observation key 'goal' must be an int Box or MultiDiscrete, got {goal}")
        if nvec.ndim != 2:
            raise ValueError(f"observation key 'goal' must be [G, T], got shape {nvec.shape}")
        vocab = tuple(int(v) for v in nvec.max(axis=0))
        return ObsSpec(
            kind="goal_dict",
            rays=tuple(int(s) for s in rays.shape),
            proprio=tuple(int(s) for s in proprio.shape),
            goal=tuple(int(s) for s in goal.shape),
            goal_vocab=vocab,
        )
    raise ValueError(f"unsupported observation space {type(space).__name__}: use a Box or the openland Dict")


def action_spec_from_space(space: gym.Space) -> ActionSpec:
    """Turn a gymnasium action space into an :class:`ActionSpec`."""
    if isinstance(space, gym.spaces.Discrete):
        return ActionSpec(kind="discrete", n=int(space.n))
    if isinstance(space, gym.spaces.MultiDiscrete):
        if np.asarray(space.nvec).ndim != 1:
            raise ValueError(f"MultiDiscrete action space must be 1-D, got nvec shape {space.nvec.shape}")
        return ActionSpec(kind="multi_discrete", nvec=tuple(int(v) for v in space.nvec))
    if isinstance(space, gym.spaces.Box):
        if len(space.shape) != 1:
            raise ValueError(f"Box action space must be 1-D, got shape {space.shape}")
        return ActionSpec(
            kind="box",
            dim=int(space.shape[0]),
            low=tuple(float(v) for v in space.low),
            high=tuple(float(v) for v in space.high),
        )
    raise ValueError(f"unsupported action space {type(space).__name__}")


# ----------------------------------------------------------------------------------------------------------
# Action distributions over the raw policy output (pure functions; no distribution library needed).
# ----------------------------------------------------------------------------------------------------------
def _split_logits(spec: ActionSpec, logits: jax.Array) -> list[jax.Array]:
    bounds = np.cumsum(spec.nvec)[:-1].tolist()
    return jnp.split(logits, bounds, axis=-1)


def sample_action(spec: ActionSpec, pi: jax.Array, log_std: jax.Array, key: jax.Array) -> jax.Array:
    """Sample an action. Box actions are returned *unclipped* (the log-prob must match); clip at the env."""
    if spec.kind == "discrete":
        return jax.random.categorical(key, pi, axis=-1).astype(jnp.int32)
    if spec.kind == "multi_discrete":
        keys = jax.random.split(key, len(spec.nvec))
        parts = [jax.random.categorical(k, lg, axis=-1) for k, lg in zip(keys, _split_logits(spec, pi))]
        return jnp.stack(parts, axis=-1).astype(jnp.int32)
    return pi + jnp.exp(log_std) * jax.random.normal(key, pi.shape, pi.dtype)


def log_prob(spec: ActionSpec, pi: jax.Array, log_std: jax.Array, action: jax.Array) -> jax.Array:
    """Log-probability of ``action`` (factorised: MultiDiscrete and Box sum over their components)."""
    if spec.kind == "discrete":
        logp = jax.nn.log_softmax(pi, axis=-1)
        return jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), axis=-1)[..., 0]
    if spec.kind == "multi_discrete":
        total = 0.0
        for i, lg in enumerate(_split_logits(spec, pi)):
            lp = jax.nn.log_softmax(lg, axis=-1)
            total = total + jnp.take_along_axis(lp, action[..., i : i + 1].astype(jnp.int32), axis=-1)[..., 0]
        return total
    z = (action - pi) / jnp.exp(log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi), axis=-1)


def entropy(spec: ActionSpec, pi: jax.Array, log_std: jax.Array) -> jax.Array:
    """Entropy of the action distribution (summed over independent components)."""

    def cat_ent(lg: jax.Array) -> jax.Array:
        lp = jax.nn.log_softmax(lg, axis=-1)
        return -jnp.sum(jnp.exp(lp) * lp, axis=-1)

    if spec.kind == "discrete":
        return cat_ent(pi)
    if spec.kind == "multi_discrete":
        return sum(cat_ent(lg) for lg in _split_logits(spec, pi))
    ent = jnp.sum(log_std + 0.5 * (1.0 + math.log(2 * math.pi)), axis=-1)
    return jnp.broadcast_to(ent, pi.shape[:-1])


def mode_action(spec: ActionSpec, pi: jax.Array) -> jax.Array:
    """Greedy action (argmax / mean), for evaluation."""
    if spec.kind == "discrete":
        return jnp.argmax(pi, axis=-1).astype(jnp.int32)
    if spec.kind == "multi_discrete":
        return jnp.stack([jnp.argmax(lg, axis=-1) for lg in _split_logits(spec, pi)], axis=-1).astype(jnp.int32)
    return pi


# ----------------------------------------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------------------------------------
class ResettingRNN(nn.Module):
    """Scans an LSTM/GRU cell over time, zeroing the carry wherever an episode starts (``dones[t]``)."""

    kind: Literal["lstm", "gru"]
    features: int

    @nn.compact
    def __call__(self, carry: Carry, xs: jax.Array, dones: jax.Array) -> tuple[Carry, jax.Array]:
        cell_cls = nn.OptimizedLSTMCell if self.kind == "lstm" else nn.GRUCell
        scan = nn.scan(
            _ResetCell,
            variable_broadcast="params",
            split_rngs={"params": False},
            in_axes=0,
            out_axes=0,
        )
        return scan(cell_cls=cell_cls, features=self.features, name="cell")(carry, (xs, dones))


class _ResetCell(nn.Module):
    cell_cls: Any
    features: int

    @nn.compact
    def __call__(self, carry: Carry, inp: tuple[jax.Array, jax.Array]) -> tuple[Carry, jax.Array]:
        x, done = inp
        keep = (1.0 - done.astype(x.dtype))[:, None]
        carry = jax.tree_util.tree_map(lambda c: c * keep, carry)
        carry, y = self.cell_cls(features=self.features, name="rnn")(carry, x)
        return carry, y


class ActorCritic(nn.Module):
    """The policy-value network. ``__call__(carry, obs[T,B,..], dones[T,B]) -> (carry, pi[T,B,K], v[T,B])``.

    ``pi`` is the raw policy output: logits (Discrete), concatenated per-dimension logits (MultiDiscrete) or
    the Gaussian mean (Box); the Box log-std is a state-independent parameter read with :meth:`log_std`.
    Actor and critic have separate MLP torsos on top of the shared encoder+core (for a Box observation and
    core "none" this is exactly the reference PPO's two separate networks).
    """

    obs_spec: ObsSpec
    action_spec: ActionSpec
    core: CoreKind = "lstm"
    core_size: int = 128
    hidden_sizes: tuple[int, ...] = (64, 64)
    embed_dim: int = 64
    num_heads: int = 2
    tanh: bool = True
    orthogonal: bool = True

    def initialize_carry(self, batch: int) -> Carry:
        """Zero carry for ``batch`` sequences. Core "none" gets a dummy [B, 1] array so shapes stay uniform."""
        if self.core == "lstm":
            z = jnp.zeros((batch, self.core_size), jnp.float32)
            return (z, z)
        if self.core == "gru":
            return jnp.zeros((batch, self.core_size), jnp.float32)
        return jnp.zeros((batch, 1), jnp.float32)

    @nn.compact
    def __call__(self, carry: Carry, obs: ObsTree, dones: jax.Array) -> tuple[Carry, jax.Array, jax.Array]:
        T, B = dones.shape
        flat = jax.tree_util.tree_map(lambda x: x.reshape((T * B,) + x.shape[2:]), obs)
        if self.obs_spec.kind == "goal_dict":
            emb = GoalObsEncoder(
                self.obs_spec.goal_vocab, self.embed_dim, self.num_heads, self.tanh, self.orthogonal, name="encoder"
            )(flat)
            # Auxiliary head: the direction (forward, left) of what the goal names, from the observation alone.
            # Sown, so acting ignores it; PPO's aux loss reads it (agents.ppo, ``aux_coef``).
            direction = nn.Dense(2, kernel_init=kernel_init(self.orthogonal, 1.0), name="goal_direction_head")(emb)
            self.sow("intermediates", "goal_direction", direction)
        else:
            emb = flat.reshape(T * B, -1).astype(jnp.float32)
        if self.core == "none":
            feats = emb
        else:
            carry, feats = ResettingRNN(self.core, self.core_size, name="core")(
                carry, emb.reshape(T, B, -1), dones
            )
            feats = feats.reshape(T * B, -1)
        actor = MLP(self.hidden_sizes, self.tanh, self.orthogonal, name="actor_torso")(feats)
        critic = MLP(self.hidden_sizes, self.tanh, self.orthogonal, name="critic_torso")(feats)
        pi = nn.Dense(
            self.action_spec.num_outputs, kernel_init=kernel_init(self.orthogonal, 0.01), name="policy_head"
        )(actor)
        v = nn.Dense(1, kernel_init=kernel_init(self.orthogonal, 1.0), name="value_head")(critic)[:, 0]
        if self.action_spec.kind == "box":
            self.param("log_std", nn.initializers.zeros, (self.action_spec.dim,))
        return carry, pi.reshape(T, B, -1), v.reshape(T, B)

    @staticmethod
    def log_std(params: Any, action_spec: ActionSpec) -> jax.Array:
        """The state-independent log-std for Box actions (a zero-size array otherwise)."""
        if action_spec.kind == "box":
            return params["params"]["log_std"]
        return jnp.zeros((0,), jnp.float32)


def make_network(
    obs_space: gym.Space,
    action_space: gym.Space,
    core: CoreKind = "lstm",
    core_size: int = 128,
    hidden_sizes: Sequence[int] = (64, 64),
    embed_dim: int = 64,
    num_heads: int = 2,
    tanh: bool = True,
    orthogonal: bool = True,
) -> ActorCritic:
    """Build an :class:`ActorCritic` from gymnasium spaces (the only place spaces are read)."""
    if core not in ("lstm", "gru", "none"):
        raise ValueError(f"core must be 'lstm', 'gru' or 'none', got {core!r}")
    return ActorCritic(
        obs_spec=obs_spec_from_space(obs_space),
        action_spec=action_spec_from_space(action_space),
        core=core,
        core_size=core_size,
        hidden_sizes=tuple(int(h) for h in hidden_sizes),
        embed_dim=embed_dim,
        num_heads=num_heads,
        tanh=tanh,
        orthogonal=orthogonal,
    )


def dummy_obs(spec: ObsSpec, batch: int, time: int = 1) -> ObsTree:
    """Zero observation batch ``[time, batch, ...]`` for initialising parameters."""
    if spec.kind == "box":
        return jnp.zeros((time, batch) + spec.shape, jnp.float32)
    return {
        "rays": jnp.zeros((time, batch) + spec.rays, jnp.float32),
        "proprio": jnp.zeros((time, batch) + spec.proprio, jnp.float32),
        "goal": jnp.zeros((time, batch) + spec.goal, jnp.int32),
    }


def init_params(net: ActorCritic, key: jax.Array, batch: int = 1) -> Any:
    """Initialise parameters with a dummy [1, batch] observation."""
    obs = dummy_obs(net.obs_spec, batch)
    return net.init(key, net.initialize_carry(batch), obs, jnp.zeros((1, batch), bool))
