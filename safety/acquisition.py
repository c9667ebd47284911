"""Query synthesis in the learned simulator: ReQueST's four acquisition functions and the plausibility regulariser.

A query is a hypothetical trajectory τ = (z₀, a₀, z₁, ..., a_{H-1}, z_H) in the learned model, made by gradient
descent on −J(τ) − λ·log p(τ), and shown to a labeler instead of being acted out in the real world. As ReQueST's
code: Adam at learning rate 1e-2, at most 5000 iterations, stop when the relative change of the objective falls
under 1e-4, keep the best iterate; λ = ∞ optimises the actions only and rolls the model out exactly (the best λ in
car racing), a finite λ frees the states too and penalises their departure from the dynamics. The acquisition
functions J, with r̂ the ensemble-mean expected class reward (``reward_model.RewardModel``), each a mean over
the trajectory's states z₁..z_H (the states the actions reach, which are what gets labelled):

- ``max_reward``: mean r̂ — what the current reward model thinks is good;
- ``min_reward``: −mean r̂ — finds unsafe states without visiting them;
- ``max_uncertainty``: mean over members of KL(p_m ‖ p̄) — the ensemble's mutual information;
- ``max_novelty``: −mean exp(−‖z − z'‖/√d) against up to 1000 already-labelled latents z'.

Where we differ, and why:

- Actions are per-component softmax probabilities over the discrete action components (``simulator.
  action_probs``) parameterised by logits, since the env's actions are discrete; the query's actions for display
  are their argmax, while its states are the model rolled out on the soft actions (what the optimiser saw).
- log p(τ) for a finite λ: a Gaussian transition density N(z_{t+1}; f(z_t, a_t), σ²I) around our deterministic
  dynamics (``QueryConfig.transition_std``), plus, when the start is optimised too, a diagonal Gaussian over
  start latents fitted on the demonstrations (``LatentPrior``); constants dropped.
- The dynamics are any pure function ``step(params, z, a) -> z'`` with its parameters passed separately
  (``simulator.latent_step`` with the ``SimState`` is the learned one), so the objective and optimiser are tested
  against a hand-written model, and a new simulator state needs no recompilation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Literal

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from safety.reward_model import RewardModel
from safety.simulator import ACTION_WIDTH, action_argmax, action_probs

Acquisition = Literal["max_reward", "min_reward", "max_uncertainty", "max_novelty"]
ACQUISITIONS: tuple[str, ...] = ("max_reward", "min_reward", "max_uncertainty", "max_novelty")
#: Labelled latents the novelty function compares against, at most (ReQueST: 1000).
NOVELTY_REFERENCE = 1000
#: Dynamics ``step(params, z, a) -> z'``: a pure function (static under jit) of its parameters (a pytree, traced).
StepFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


# ------------------------------------------------------------------------------------------------ objectives
def reward_objective(model: RewardModel, zs: jax.Array) -> jax.Array:
    """J_max_reward of states [..., T, L]: mean over states of the ensemble-mean expected class reward."""
    return model.reward(zs).mean(-1)


def min_reward_objective(model: RewardModel, zs: jax.Array) -> jax.Array:
    """J_min_reward = −J_max_reward."""
    return -reward_objective(model, zs)


def uncertainty_objective(model: RewardModel, zs: jax.Array) -> jax.Array:
    """J_max_uncertainty of states [..., T, L]: mean over states and members of KL(p_m ‖ p̄), p̄ the members' mean
    class distribution (the mutual information between the class and the member)."""
    log_p = jax.nn.log_softmax(model.logits(zs)[0], axis=-1)  # [M, ..., T, 3]
    p = jnp.exp(log_p)
    log_mean = jnp.log(p.mean(0))
    kl = jnp.sum(p * (log_p - log_mean), axis=-1)  # [M, ..., T]
    return kl.mean(0).mean(-1)


def novelty_objective(zs: jax.Array, reference: jax.Array) -> jax.Array:
    """J_max_novelty of states [..., T, L] against labelled latents [K, L]: −mean over states and references of
    exp(−‖z − z'‖/√d), d the latent width (0 with no references: everything is novel)."""
    if reference.shape[0] == 0:
        return jnp.zeros(zs.shape[:-2])
    diff = zs[..., :, None, :] - reference
    dist = jnp.sqrt(jnp.sum(diff * diff, axis=-1) + 1e-12)
    return -jnp.exp(-dist / math.sqrt(zs.shape[-1])).mean((-1, -2))


def objective(name: Acquisition, model: RewardModel, zs: jax.Array, reference: jax.Array) -> jax.Array:
    """The acquisition function ``name`` of states [..., T, L]."""
    if name == "max_reward":
        return reward_objective(model, zs)
    if name == "min_reward":
        return min_reward_objective(model, zs)
    if name == "max_uncertainty":
        return uncertainty_objective(model, zs)
    if name == "max_novelty":
        return novelty_objective(zs, reference)
    raise ValueError(f"acquisition={name!r} is not one of {ACQUISITIONS}")


# ------------------------------------------------------------------------------------------------ synthesis
@dataclass(frozen=True)
class QueryConfig:
    """How one query is synthesised (ReQueST's defaults unless said)."""

    horizon: int = 10
    """Transitions per query."""
    learning_rate: float = 1e-2
    """Adam learning rate (ReQueST: 1e-2)."""
    max_iterations: int = 5000
    """Iterations at most (ReQueST: 5000)."""
    tolerance: float = 1e-4
    """Stop when |L_i − L_{i−1}| / max(|L_{i−1}|, 1e-8) falls under this (ReQueST: 1e-4)."""
    plausibility: float = math.inf
    """λ, the weight of log p(τ): inf optimises actions only and rolls the model out exactly (ReQueST's best in car
    racing); a finite value frees the states as well (0: states unconstrained, ReQueST's best in 2D)."""
    transition_std: float = 1.0
    """σ of the Gaussian transition density around the deterministic dynamics (finite λ only)."""
    optimise_start: bool = False
    """Optimise the start latent too (under the ``LatentPrior`` in log p(τ)); off: start where given."""
    init_scale: float = 0.1
    """Std of the random initial action logits."""

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.max_iterations < 1:
            raise ValueError(f"QueryConfig: horizon={self.horizon!r} and max_iterations={self.max_iterations!r} must be at least 1")
        if not self.plausibility >= 0:
            raise ValueError(f"QueryConfig.plausibility={self.plausibility!r} must be >= 0 (inf: exact roll-outs)")
        if not self.transition_std > 0:
            raise ValueError(f"QueryConfig.transition_std={self.transition_std!r} must be positive")


@flax.struct.dataclass
class LatentPrior:
    """Diagonal Gaussian over start latents, fitted on encoded demonstration states: p(s₀) of log p(τ)."""

    mean: jax.Array
    std: jax.Array

    @classmethod
    def fit(cls, latents: jax.Array | np.ndarray, floor: float = 1e-3) -> "LatentPrior":
        z = jnp.asarray(latents)
        return cls(z.mean(0), jnp.maximum(z.std(0), floor))

    def log_prob(self, z: jax.Array) -> jax.Array:
        return -0.5 * jnp.sum(((z - self.mean) / self.std) ** 2, axis=-1)


@flax.struct.dataclass
class Query:
    """A synthesised trajectory: start latent [L], action logits [H, 13], the states [H + 1, L] (rolled out from
    the soft actions when λ = ∞, the optimised free states otherwise), the acquisition value J, the full objective
    of the best iterate, and the iterations run."""

    start: jax.Array
    action_logits: jax.Array
    latents: jax.Array
    value: jax.Array
    loss: jax.Array
    iterations: jax.Array

    def actions(self) -> np.ndarray:
        """int64 [H, 5]: the discrete actions (argmax of each component)."""
        return action_argmax(self.action_logits)


def _rollout(step: StepFn, params: Any, z0: jax.Array, probs: jax.Array) -> jax.Array:
    def one(z: jax.Array, a: jax.Array) -> tuple[jax.Array, jax.Array]:
        z1 = step(params, z, a)
        return z1, z1

    _, zs = jax.lax.scan(one, z0, probs)
    return jnp.concatenate([z0[None], zs], 0)


def trajectory_log_prob(step: StepFn, params: Any, start: jax.Array, probs: jax.Array, states: jax.Array,
                        std: float) -> jax.Array:  # fmt: skip
    """Σ_t log N(z_{t+1}; f(z_t, a_t), σ²I) of free states [H, L] after ``start`` (constants dropped)."""
    prev = jnp.concatenate([start[None], states[:-1]], 0)
    pred = jax.vmap(lambda z, a: step(params, z, a))(prev, probs)
    return -0.5 * jnp.sum((states - pred) ** 2) / std**2


def synthesise(
    step: StepFn,
    step_params: Any,
    model: RewardModel,
    acquisition: Acquisition,
    start: jax.Array,
    reference: jax.Array,
    config: QueryConfig,
    key: jax.Array,
    prior: LatentPrior | None = None,
) -> Query:
    """One query maximising ``acquisition`` from latent ``start`` [L] (see the module docstring). ``reference``:
    labelled latents [K, L] for novelty (the last ``NOVELTY_REFERENCE`` are used)."""
    if acquisition not in ACQUISITIONS:
        raise ValueError(f"acquisition={acquisition!r} is not one of {ACQUISITIONS}")
    if config.optimise_start and prior is None:
        raise ValueError("QueryConfig.optimise_start=True needs a LatentPrior (p(s0) of log p(tau))")
    reference = jnp.asarray(reference, jnp.float32)[-NOVELTY_REFERENCE:]
    exact = math.isinf(config.plausibility)
    # only what changes the program's structure is static: other numbers are traced, so new values reuse it
    shape = (config.horizon, exact, config.optimise_start)
    numbers = {
        "lam": jnp.float32(0.0 if exact else config.plausibility), "lr": jnp.float32(config.learning_rate),
        "tol": jnp.float32(config.tolerance), "std": jnp.float32(config.transition_std),
        "max_iterations": jnp.int32(config.max_iterations), "init_scale": jnp.float32(config.init_scale),
    }  # fmt: skip
    return _synthesise(step, step_params, model, acquisition, jnp.asarray(start, jnp.float32), reference, shape,
                       numbers, key, prior)  # fmt: skip


@partial(jax.jit, static_argnames=("step", "acquisition", "shape"))
def _synthesise(step: StepFn, step_params: Any, model: RewardModel, acquisition: str, start: jax.Array,
                reference: jax.Array, shape: tuple[int, bool, bool], numbers: dict[str, jax.Array], key: jax.Array,
                prior: LatentPrior | None) -> Query:  # fmt: skip
    horizon, exact, optimise_start = shape
    logits0 = numbers["init_scale"] * jax.random.normal(key, (horizon, ACTION_WIDTH))
    variables: dict[str, jax.Array] = {"logits": logits0, "start": start}
    if not exact:
        variables["states"] = _rollout(step, step_params, start, action_probs(logits0))[1:]

    def trajectory(v: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        z0 = v["start"] if optimise_start else start
        probs = action_probs(v["logits"])
        if exact:
            return _rollout(step, step_params, z0, probs), probs
        return jnp.concatenate([z0[None], v["states"]], 0), probs

    def loss_fn(v: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
        zs, probs = trajectory(v)
        j = objective(acquisition, model, zs[1:], reference)  # type: ignore[arg-type]
        log_p = jnp.float32(0.0)
        if not exact:
            z0 = zs[0]
            log_p = trajectory_log_prob(step, step_params, z0, probs, zs[1:], numbers["std"])
            if optimise_start:
                log_p = log_p + prior.log_prob(z0)  # type: ignore[union-attr]
        elif optimise_start:
            # λ = ∞ with a free start: the start must stay where the data is, the rest is exact
            log_p = prior.log_prob(zs[0])  # type: ignore[union-attr]
        lam = 1.0 if exact else numbers["lam"]
        return -j - lam * log_p, j

    tx = optax.adam(numbers["lr"])
    value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)
    loss_init, j_init = loss_fn(variables)

    def cond(c: tuple) -> jax.Array:
        return (c[2] < numbers["max_iterations"]) & ~c[7]

    def body(c: tuple) -> tuple:
        v, opt, i, prev, best_v, best_loss, best_j, _ = c
        (loss, j), grads = value_and_grad(v)
        better = loss < best_loss
        best_v = jax.tree_util.tree_map(lambda a, b: jnp.where(better, a, b), v, best_v)
        best_loss, best_j = jnp.where(better, loss, best_loss), jnp.where(better, j, best_j)
        updates, opt = tx.update(grads, opt, v)
        v = optax.apply_updates(v, updates)
        converged = (i > 0) & (jnp.abs(loss - prev) / jnp.maximum(jnp.abs(prev), 1e-8) < numbers["tol"])
        return v, opt, i + 1, loss, best_v, best_loss, best_j, converged

    init = (variables, tx.init(variables), jnp.int32(0), loss_init, variables, loss_init, j_init, jnp.bool_(False))
    v, _, iterations, _, best_v, best_loss, best_j, _ = jax.lax.while_loop(cond, body, init)
    # the last iterate was never scored inside the loop
    last_loss, last_j = loss_fn(v)
    take_last = last_loss < best_loss
    best_v = jax.tree_util.tree_map(lambda a, b: jnp.where(take_last, a, b), v, best_v)
    best_loss, best_j = jnp.where(take_last, last_loss, best_loss), jnp.where(take_last, last_j, best_j)
    zs, _ = trajectory(best_v)
    return Query(zs[0], best_v["logits"], zs, best_j, best_loss, iterations)


def synthesise_round(
    step: StepFn,
    step_params: Any,
    model: RewardModel,
    starts: jax.Array,
    reference: jax.Array,
    config: QueryConfig,
    key: jax.Array,
    prior: LatentPrior | None = None,
    acquisitions: tuple[str, ...] = ACQUISITIONS,
) -> dict[str, Query]:
    """One query per acquisition function (ReQueST's round), each from its own start latent drawn from
    ``starts`` [N, L] (e.g. encoded demonstration states) with the round's key."""
    out = {}
    keys = jax.random.split(key, 2 * len(acquisitions))
    for i, name in enumerate(acquisitions):
        s = starts[jax.random.randint(keys[2 * i], (), 0, starts.shape[0])]
        out[name] = synthesise(step, step_params, model, name, s, reference, config, keys[2 * i + 1], prior)  # type: ignore[arg-type]
    return out

