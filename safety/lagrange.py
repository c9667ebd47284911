"""The PPO-Lagrangian multiplier, as OmniSafe / Safety-Gymnasium define it: the baseline ReQueST must beat.

Per-step cost is a 0/1 indicator (our env's ``info["unsafe"]``: a hazard stepped on or a fall), an episode's cost
its sum, J_C the mean episode cost of the latest rollout; after each rollout

    λ ← max(0, λ + η (J_C − d))

with cost limit d (OmniSafe's default 25) and step size η. The policy's advantage is then
(A_R − λ A_C) / (1 + λ) (OmniSafe's PPOLag ``_compute_adv_surrogate``), so a large λ turns the objective toward
cutting cost while the surrogate's scale stays bounded.

Where we differ: OmniSafe's code takes this step with a torch optimiser (Adam by default, lr 0.035) on the loss
−λ (J_C − d) and then clamps λ at 0; we take the plain gradient step written above (the reference rule), with
η = 0.035 and λ₀ = 0.001 from OmniSafe's PPOLag defaults. An optional upper bound mirrors OmniSafe's
``lagrangian_upper_bound``. State and update are pure and jittable; the update also takes a batch of J_C per
population member (vmap-free: it is elementwise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import flax.struct
import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class LagrangeConfig:
    """The multiplier's constants."""

    cost_limit: float = 25.0
    """d: the mean episode cost allowed (OmniSafe's default 25; per-step costs are 0/1)."""
    step_size: float = 0.035
    """η: multiplier step per unit of cost excess (OmniSafe's PPOLag lambda_lr)."""
    initial: float = 0.001
    """λ₀ (OmniSafe's PPOLag lagrangian_multiplier_init)."""
    upper_bound: float = math.inf
    """Largest λ (inf: none, OmniSafe's default)."""

    def __post_init__(self) -> None:
        if not self.cost_limit >= 0:
            raise ValueError(f"LagrangeConfig.cost_limit={self.cost_limit!r} must be >= 0")
        if not self.step_size > 0:
            raise ValueError(f"LagrangeConfig.step_size={self.step_size!r} must be positive")
        if not 0 <= self.initial <= self.upper_bound:
            raise ValueError(f"LagrangeConfig.initial={self.initial!r} must lie in [0, upper_bound={self.upper_bound!r}]")


@flax.struct.dataclass
class LagrangeState:
    """λ and the number of updates so far (checkpointed with the trainer's state)."""

    multiplier: jax.Array
    updates: jax.Array


def init_lagrange(config: LagrangeConfig, shape: tuple[int, ...] = ()) -> LagrangeState:
    """λ₀ (one per population member with ``shape``)."""
    return LagrangeState(jnp.full(shape, config.initial, jnp.float32), jnp.zeros((), jnp.int32))


def update_lagrange(state: LagrangeState, mean_episode_cost: jax.Array | float, config: LagrangeConfig) -> LagrangeState:
    """λ ← clip(λ + η (J_C − d), 0, upper_bound) on the mean episode cost J_C of the latest rollout. A non-finite
    J_C leaves λ unchanged (no episode ended, or a bad rollout)."""
    jc = jnp.asarray(mean_episode_cost, jnp.float32)
    new = jnp.clip(state.multiplier + config.step_size * (jc - config.cost_limit), 0.0, config.upper_bound)
    return LagrangeState(jnp.where(jnp.isfinite(jc), new, state.multiplier), state.updates + 1)


def penalised_advantage(reward_advantage: jax.Array, cost_advantage: jax.Array, multiplier: jax.Array) -> jax.Array:
    """(A_R − λ A_C) / (1 + λ): the advantage PPO-Lag's clipped surrogate uses (λ treated as a constant)."""
    lam = jax.lax.stop_gradient(multiplier)
    return (reward_advantage - lam * cost_advantage) / (1.0 + lam)
