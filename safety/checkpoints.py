"""Orbax checkpoints of the learned simulator and the reward/cost ensemble, through ``agents.checkpoint``.

The same reliability rules as the trainers' checkpoints: a save is reported only once on disk, a restore walks
back past corrupted steps, and a checkpoint written for another config or shape (another observation width,
latent size, hidden width, number of members, ...) is refused with ``CheckpointMismatchError`` naming the field
and both values. The config saved with each includes a ``kind`` so a reward model is never restored as a
simulator.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax.numpy as jnp

from agents.checkpoint import Checkpointer, CheckpointMismatchError
from safety.reward_model import RewardModel, RewardModelConfig, init_reward_model
from safety.simulator import SimConfig, SimState, template_simulator

__all__ = ["CheckpointMismatchError", "save_simulator", "restore_simulator", "save_reward_model", "restore_reward_model"]


def _sim_config(obs_dim: int, config: SimConfig) -> dict[str, Any]:
    return {"kind": "safety.simulator", "obs_dim": obs_dim, **dataclasses.asdict(config)}


def _sim_tree(state: SimState) -> dict[str, Any]:
    return {"params": state.params, "opt_state": state.opt_state, "norm": state.norm, "step": state.step, "key": state.key}


def save_simulator(directory: str | Path, state: SimState, config: SimConfig, extra: dict[str, Any] | None = None) -> Path:
    """Save the simulator at its step count (``extra``: JSON the caller owns, e.g. the held-out error history)."""
    with Checkpointer(directory) as ckpt:
        return ckpt.save(int(state.step), _sim_tree(state), _sim_config(state.obs_dim, config), extra=extra)


def restore_simulator(directory: str | Path, obs_dim: int, config: SimConfig, step: int | None = None) -> tuple[SimState, dict[str, Any]]:
    """(the simulator, the saved ``extra``) from the newest step that restores (or ``step``)."""
    template = template_simulator(obs_dim, config)
    with Checkpointer(directory, create=False) as ckpt:
        restored = ckpt.restore(_sim_tree(template), _sim_config(obs_dim, config), step)
    t = restored.tree
    return template.replace(params=t["params"], opt_state=t["opt_state"], norm=t["norm"], step=t["step"], key=t["key"]), restored.extra


def _reward_config(latent_dim: int, config: RewardModelConfig) -> dict[str, Any]:
    return {"kind": "safety.reward_model", "latent_dim": latent_dim, **dataclasses.asdict(config)}


def save_reward_model(directory: str | Path, model: RewardModel, latent_dim: int, config: RewardModelConfig, step: int,
                      extra: dict[str, Any] | None = None) -> Path:  # fmt: skip
    """Save the ensemble as ``step`` (e.g. the query round that trained it)."""
    with Checkpointer(directory) as ckpt:
        return ckpt.save(step, {"params": model.params}, _reward_config(latent_dim, config), extra=extra)


def restore_reward_model(directory: str | Path, latent_dim: int, config: RewardModelConfig,
                         step: int | None = None) -> tuple[RewardModel, dict[str, Any]]:  # fmt: skip
    """(the ensemble, the saved ``extra``) from the newest step that restores (or ``step``)."""
    template = init_reward_model(latent_dim, config)
    with Checkpointer(directory, create=False) as ckpt:
        restored = ckpt.restore({"params": template.params}, _reward_config(latent_dim, config), step)
    return template.replace(params=restored.tree["params"], class_rewards=jnp.asarray(config.class_rewards, jnp.float32)), restored.extra
