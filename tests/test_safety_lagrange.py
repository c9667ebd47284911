"""The PPO-Lag multiplier rises while the mean episode cost exceeds the limit, falls below it, never goes negative,
and follows λ ← max(0, λ + η (J_C − d)) exactly."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from safety.lagrange import LagrangeConfig, init_lagrange, penalised_advantage, update_lagrange


def test_multiplier_rises_above_the_limit_and_falls_below_it() -> None:
    config = LagrangeConfig(cost_limit=25.0, step_size=0.035, initial=0.001)
    state = init_lagrange(config)
    update = jax.jit(update_lagrange, static_argnums=2)
    trace = [float(state.multiplier)]
    for cost in [40.0] * 10 + [10.0] * 30:  # over the limit, then under it
        state = update(state, cost, config)
        trace.append(float(state.multiplier))
    rising, falling = np.diff(trace[:11]), np.diff(trace[10:])
    assert (rising > 0).all() and trace[10] == pytest.approx(0.001 + 10 * 0.035 * 15, rel=1e-5)
    assert (falling <= 0).all() and (falling[:10] < 0).all()
    assert min(trace) >= 0.0 and trace[-1] == 0.0  # clamped at zero, not negative
    assert int(state.updates) == 40


def test_the_update_rule_by_hand_and_per_member() -> None:
    config = LagrangeConfig(cost_limit=5.0, step_size=0.1, initial=0.5, upper_bound=1.0)
    state = init_lagrange(config, (4,))
    state = update_lagrange(state, jnp.array([5.0, 7.0, 2.0, 100.0]), config)
    # λ + η (J_C − d): 0.5 + 0 | 0.5 + 0.2 | 0.5 − 0.3 | capped at the upper bound 1.0
    np.testing.assert_allclose(state.multiplier, [0.5, 0.7, 0.2, 1.0], rtol=1e-6)
    same = update_lagrange(state, jnp.array([jnp.nan, 7.0, 2.0, 5.0]), config)
    assert float(same.multiplier[0]) == pytest.approx(0.5)  # a non-finite cost leaves λ alone
    adv = penalised_advantage(jnp.array([1.0]), jnp.array([2.0]), jnp.float32(0.5))
    assert float(adv[0]) == pytest.approx((1.0 - 0.5 * 2.0) / 1.5)
    with pytest.raises(ValueError, match="cost_limit=-1"):
        LagrangeConfig(cost_limit=-1.0)
    with pytest.raises(ValueError, match="step_size=0"):
        LagrangeConfig(step_size=0.0)
