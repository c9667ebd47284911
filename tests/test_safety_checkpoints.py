"""Simulator and reward-model checkpoints round-trip exactly, and one of another shape or kind is refused with the
difference named."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from agents.checkpoint import CheckpointError
from safety import checkpoints as ck
from safety.reward_model import RewardModelConfig, init_reward_model
from safety.simulator import SimConfig, template_simulator

SIM = SimConfig(latent_dim=4, hidden=8)


def test_simulator_round_trip_and_refusals(tmp_path) -> None:
    state = template_simulator(20, SIM)
    state = state.replace(step=state.step + 7, params=jax.tree_util.tree_map(lambda x: x + 0.25, state.params))
    ck.save_simulator(tmp_path / "sim", state, SIM, extra={"held_out_next_obs_mse": 0.1})
    back, extra = ck.restore_simulator(tmp_path / "sim", 20, SIM)
    assert int(back.step) == 7 and extra == {"held_out_next_obs_mse": 0.1}
    for a, b in zip(jax.tree_util.tree_leaves(back.params), jax.tree_util.tree_leaves(state.params)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ck.CheckpointMismatchError, match="hidden"):
        ck.restore_simulator(tmp_path / "sim", 20, SimConfig(latent_dim=4, hidden=16))
    with pytest.raises(ck.CheckpointMismatchError, match="obs_dim"):
        ck.restore_simulator(tmp_path / "sim", 21, SIM)
    with pytest.raises(CheckpointError, match="does not exist"):
        ck.restore_simulator(tmp_path / "nothing", 20, SIM)


def test_reward_model_round_trip_and_kind_check(tmp_path) -> None:
    config = RewardModelConfig(members=2, hidden=4)
    model = init_reward_model(6, config, jax.random.PRNGKey(5))
    ck.save_reward_model(tmp_path / "rm", model, 6, config, step=3)
    back, _ = ck.restore_reward_model(tmp_path / "rm", 6, config)
    z = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    np.testing.assert_array_equal(back.reward(z), model.reward(z))
    with pytest.raises(ck.CheckpointMismatchError, match="members"):
        ck.restore_reward_model(tmp_path / "rm", 6, RewardModelConfig(members=4, hidden=4))
    with pytest.raises(ck.CheckpointMismatchError, match="kind"):
        ck.restore_simulator(tmp_path / "rm", 6, SIM)
