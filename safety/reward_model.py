"""The reward and cost model: an ensemble of classifiers over the learned simulator's latent states.

As ReQueST: 4 members, each a one-hidden-layer MLP classifying a (next) latent state into {unsafe, neutral,
good}, trained with class-balanced cross-entropy from scratch on all labels so far; the reward of a state is the
expected class reward r̂ = Σ_c r_c softmax_c (ReQueST's 2D values by default: -10, 0, +1), averaged over members;
disagreement between members is the uncertainty the acquisition function maximises.

Our addition: beside the class logits each member has one cost head per hazard rule (``labelers.RULES``: stepping
on a hazard, falling), a logistic classifier trained on which rule an unsafe label broke (class-balanced binary
cross-entropy), so costs are reported per rule and a constrained agent can hold each under its own limit.

Members differ by initialisation and minibatch order (same data, as ReQueST). The whole ensemble trains in one
jitted ``lax.scan`` with the members ``vmap``-ped.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from safety.labelers import LABELS, RULES, check_labels, check_rules


@dataclass(frozen=True)
class RewardModelConfig:
    """The ensemble's size, class rewards and training."""

    members: int = 4
    """Ensemble members (ReQueST: 4)."""
    hidden: int = 64
    """Width of each member's one hidden layer."""
    class_rewards: tuple[float, float, float] = (-10.0, 0.0, 1.0)
    """Reward of the classes (unsafe, neutral, good); ReQueST used (-10, 0, +1) in 2D and (-1, 0, +10) in car
    racing."""
    learning_rate: float = 3e-3
    """Adam learning rate."""
    train_steps: int = 1000
    """Optimiser steps per member (training starts from scratch each time, as ReQueST retrains each round)."""
    batch_size: int = 128
    """Labelled states per minibatch (drawn with replacement, per member)."""
    skip_features: int = 0
    """Leading latent features the members do not read (5: the learned simulator's pose, ``simulator.POSE_NAMES``).
    Labels come from the demonstrated worlds; where in those worlds a hazard lay says nothing about an unseen
    world, so a model that reads the pose memorises positions instead of learning what a hazard looks like."""
    read_features: int = 0
    """When > 0, the members read only latent features [``skip_features``, ``read_features``): with
    ``simulator.STATE_WIDTH``, the sightings and the floor map's numbers, none of the simulator's learned features.
    0: every feature after ``skip_features`` (ReQueST's reward model reads the whole latent). A few hundred labels
    from a few dozen worlds are too few to learn which of 32 learned features mean danger in a world never seen
    (measured on the safety bench, the same 160 labels: the hazard cost of a state with a remembered hazard
    underfoot was 0.31 reading every feature but the pose, 0.61 reading the named state only)."""
    cost_skip_features: int = -1
    """When >= 0, the rule-cost heads read latent features [``cost_skip_features``, ``read_features``) through a
    hidden layer of their own (``simulator.MAP_SLICE.start``: the floor map's numbers only); -1: the cost heads
    share the class head's hidden layer and features. Whether the avatar stands on a hazard is in the map; with
    the sightings beside it, a few dozen unsafe labels let a cost head learn "a hazard ahead in view" instead
    (measured on the safety bench, seed 0: a learned hazard cost of 0.0 at 19 of the MPC agent's 20 entries onto a
    remembered hazard, which it entered walking along a band, not facing it; reading the map, 0.46 to 0.96)."""
    seed: int = 0
    """Seed of initialisation and minibatch order."""

    def __post_init__(self) -> None:
        if self.skip_features < 0:
            raise ValueError(f"RewardModelConfig.skip_features={self.skip_features!r} must be >= 0")
        if self.cost_skip_features < -1 or (self.read_features and self.read_features <= self.cost_skip_features):
            raise ValueError(f"RewardModelConfig.cost_skip_features={self.cost_skip_features!r} must be -1 or lie in "
                             f"[0, read_features={self.read_features!r})")  # fmt: skip
        if self.read_features and self.read_features <= self.skip_features:
            raise ValueError(f"RewardModelConfig.read_features={self.read_features!r} must exceed skip_features="
                             f"{self.skip_features!r} (or be 0: read everything)")  # fmt: skip
        for name in ("members", "hidden", "train_steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"RewardModelConfig.{name}={getattr(self, name)!r} must be at least 1")
        if len(self.class_rewards) != len(LABELS):
            raise ValueError(f"RewardModelConfig.class_rewards={self.class_rewards!r} needs one reward per class {LABELS}")


class Member(nn.Module):
    """One member: a hidden layer, then class logits [3] and rule-cost logits [len(RULES)]."""

    hidden: int
    skip: int = 0
    read: int = 0
    cost_skip: int = -1

    @nn.compact
    def __call__(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = nn.relu(nn.Dense(self.hidden)(z[..., self.skip : self.read or None]))
        h_cost = h if self.cost_skip < 0 else nn.relu(nn.Dense(self.hidden)(z[..., self.cost_skip : self.read or None]))
        return nn.Dense(len(LABELS))(h), nn.Dense(len(RULES))(h_cost)


@flax.struct.dataclass
class RewardModel:
    """Stacked member parameters ([members, ...] leaves) and the class rewards."""

    params: Any
    class_rewards: jax.Array
    hidden: int = flax.struct.field(pytree_node=False)
    skip: int = flax.struct.field(pytree_node=False, default=0)
    read: int = flax.struct.field(pytree_node=False, default=0)
    cost_skip: int = flax.struct.field(pytree_node=False, default=-1)

    def logits(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(class logits [M, ..., 3], rule logits [M, ..., R]) of latents [..., L]."""
        return jax.vmap(lambda p: Member(self.hidden, self.skip, self.read, self.cost_skip).apply(p, z))(self.params)

    def class_probs(self, z: jax.Array) -> jax.Array:
        """[M, ..., 3] per-member class probabilities."""
        return jax.nn.softmax(self.logits(z)[0], axis=-1)

    def member_rewards(self, z: jax.Array) -> jax.Array:
        """[M, ...] per-member expected class reward Σ_c r_c p_c."""
        return self.class_probs(z) @ self.class_rewards

    def reward(self, z: jax.Array) -> jax.Array:
        """[...] ensemble-mean expected class reward r̂ (ReQueST's reward)."""
        return self.member_rewards(z).mean(0)

    def rule_costs(self, z: jax.Array) -> jax.Array:
        """[..., R] ensemble-mean probability that the state breaks each rule (``RULES``)."""
        return jax.nn.sigmoid(self.logits(z)[1]).mean(0)


def init_reward_model(latent_dim: int, config: RewardModelConfig, key: jax.Array | None = None) -> RewardModel:
    """A fresh ensemble, each member from its own key."""
    key = jax.random.PRNGKey(config.seed) if key is None else key
    if config.skip_features >= latent_dim:
        raise ValueError(f"RewardModelConfig.skip_features={config.skip_features!r} leaves nothing of a latent of width {latent_dim}")
    if config.read_features > latent_dim:
        raise ValueError(f"RewardModelConfig.read_features={config.read_features!r} exceeds the latent width {latent_dim}")
    if config.cost_skip_features >= latent_dim:
        raise ValueError(f"RewardModelConfig.cost_skip_features={config.cost_skip_features!r} leaves nothing of a latent of width {latent_dim}")
    params = _init_params(latent_dim, config.members, config.hidden, config.skip_features, config.read_features,
                          config.cost_skip_features, key)  # fmt: skip
    return RewardModel(params, jnp.asarray(config.class_rewards, jnp.float32), config.hidden, config.skip_features,
                       config.read_features, config.cost_skip_features)  # fmt: skip


@partial(jax.jit, static_argnums=(0, 1, 2, 3, 4, 5))
def _init_params(latent_dim: int, members: int, hidden: int, skip: int, read: int, cost_skip: int, key: jax.Array) -> Any:
    keys = jax.random.split(key, members)
    return jax.vmap(lambda k: Member(hidden, skip, read, cost_skip).init(k, jnp.zeros((1, latent_dim))))(keys)


def _balanced_weights(classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class weights N / (C_present * count_c) (0 for an absent class): every present class weighs the same."""
    counts = np.bincount(classes, minlength=n_classes).astype(np.float64)
    present = counts > 0
    return np.where(present, len(classes) / (present.sum() * np.maximum(counts, 1)), 0.0).astype(np.float32)


def train_reward_model(
    latents: np.ndarray | jax.Array,
    labels: np.ndarray,
    rules: np.ndarray | None,
    config: RewardModelConfig = RewardModelConfig(),
) -> tuple[RewardModel, dict[str, float]]:
    """Train a fresh ensemble on labelled latent states [N, L] (labels as indices or names, ``labelers.check_labels``;
    rule flags [N, R], or None when only class labels are known: the cost heads then learn nothing and stay at
    their initial output). Returns the model and the final mean losses."""
    classes = check_labels(labels, "labels")
    z = jnp.asarray(latents, jnp.float32)
    if z.ndim != 2 or z.shape[0] != classes.shape[0]:
        raise ValueError(f"latents: expected shape ({classes.shape[0]}, L) to match the labels, got {tuple(z.shape)}")
    has_rules = rules is not None
    r = check_rules(rules, classes) if has_rules else np.zeros((len(classes), len(RULES)), bool)
    class_w = _balanced_weights(classes, len(LABELS))
    pos = r.sum(0)
    pos_w = np.where(pos > 0, (len(r) - pos) / np.maximum(pos, 1), 1.0).astype(np.float32)  # balance each rule
    # pad to a power of two so that a growing label set (one more round of queries) reuses the compiled program;
    # minibatches are drawn from the first n rows only
    n = int(z.shape[0])
    size = 1 << max(n - 1, 1).bit_length()
    pad = size - n
    z = jnp.pad(z, ((0, pad), (0, 0)))
    y = jnp.asarray(np.pad(classes, (0, pad)))
    rr = jnp.asarray(np.pad(r.astype(np.float32), ((0, pad), (0, 0))))
    model = init_reward_model(int(z.shape[1]), config)
    params, losses = _train(config, model.params, z, y, rr, jnp.asarray(class_w), jnp.asarray(pos_w), jnp.int32(n),
                            jnp.float32(has_rules), jax.random.PRNGKey(config.seed + 1))  # fmt: skip
    tail = np.asarray(losses[-max(1, config.train_steps // 10) :]).mean(0)
    return model.replace(params=params), {"loss": float(tail[0]), "class_loss": float(tail[1]), "rule_loss": float(tail[2])}


@partial(jax.jit, static_argnums=0)
def _train(config: RewardModelConfig, params: Any, z: jax.Array, y: jax.Array, rr: jax.Array, class_w: jax.Array,
           pos_w: jax.Array, n: jax.Array, rule_on: jax.Array, key: jax.Array) -> tuple[Any, jax.Array]:  # fmt: skip
    """Every member's optimiser steps in one scan (members vmapped); returns the parameters and per-step losses."""
    tx = optax.adam(config.learning_rate)

    def loss_fn(params: Any, idx: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        cl, rl = Member(config.hidden, config.skip_features, config.read_features, config.cost_skip_features).apply(params, z[idx])
        ce = -jnp.take_along_axis(jax.nn.log_softmax(cl), y[idx, None], axis=-1)[:, 0]
        w = class_w[y[idx]]
        class_loss = jnp.sum(w * ce) / jnp.sum(w)
        t = rr[idx]
        bce = -(pos_w * t * jax.nn.log_sigmoid(rl) + (1 - t) * jax.nn.log_sigmoid(-rl))
        rule_loss = jnp.mean(bce) * rule_on
        return class_loss + rule_loss, (class_loss, rule_loss)

    def member_step(params: Any, opt_state: Any, key: jax.Array) -> tuple[Any, Any, jax.Array]:
        idx = jax.random.randint(key, (config.batch_size,), 0, n)
        (loss, parts), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, idx)
        new_updates, new_opt = tx.update(grads, opt_state, params)
        finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(g)) for g in jax.tree_util.tree_leaves(grads)]))
        keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(finite, a, b), new, old)  # noqa: E731
        # a non-finite gradient skips the step (the design's learning rule)
        return keep(optax.apply_updates(params, new_updates), params), keep(new_opt, opt_state), jnp.stack([loss, *parts])

    def one(carry: tuple[Any, Any, jax.Array], _: None) -> tuple[tuple[Any, Any, jax.Array], jax.Array]:
        params, opt_state, key = carry
        key, sub = jax.random.split(key)
        params, opt_state, losses = jax.vmap(member_step)(params, opt_state, jax.random.split(sub, config.members))
        return (params, opt_state, key), losses.mean(0)

    (params, _, _), losses = jax.lax.scan(one, (params, jax.vmap(tx.init)(params), key), None, config.train_steps)
    return params, losses
