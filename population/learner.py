"""A learner per population member: the agents package's PPO update, plus checkpoints and PBT hooks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from agents.checkpoint import Checkpointer
from agents.ppo import PPO, PPOConfig, Rollout, TrainState, with_hparams
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.tasks.families import FamilySampler


def host_state(state: TrainState) -> TrainState:
    """The state as host numpy arrays: what travels through Ray's object store."""
    return jax.tree_util.tree_map(np.asarray, state)


class Learner:
    """One member's learner state (a Ray actor in ``openland train``)."""

    def __init__(self, member: int, ppo: PPOConfig, env_config: EnvConfig, family: str, run_dir: str, hparams: dict[str, float]):
        self.member = member
        probe = BatchEnv(EnvConfig(num_envs=1, num_players=env_config.num_players), FamilySampler(family))
        self.ppo = PPO(ppo, probe.single_observation_space, probe.single_action_space)
        # jitted: one compilation, which the persistent cache keeps (eager flax init compiles ~200 small ops
        # in every new actor process, 10-40 s on a busy 2-core machine)
        self.state = with_hparams(jax.jit(self.ppo.init)(jax.random.PRNGKey(ppo.seed + 1000 * member)), hparams)
        self.checkpointer = Checkpointer(Path(run_dir) / "members" / f"member{member}", max_to_keep=2)

    def get_state(self) -> TrainState:
        return host_state(self.state)

    def set_state(self, state: TrainState, hparams: dict[str, float]) -> None:
        """PBT exploit + explore: take another member's weights and optimiser state, then new hyper-parameters."""
        self.state = with_hparams(jax.tree_util.tree_map(jnp.asarray, state), hparams)

    def hparams(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.state.hparams.items()}

    def update(self, rollout: dict[str, Any]) -> dict[str, float]:
        self.state, metrics = self.ppo.update(self.state, Rollout(**rollout))
        out = {k: float(v) for k, v in metrics.items()}
        out["updates"] = float(self.state.updates)
        return out

    def save(self, iteration: int) -> str:
        path = self.checkpointer.save(iteration, self.state, self.ppo.cfg.to_json(), None, {"hparams": self.hparams()})
        return str(path)

    def restore(self, step: int | None = None) -> int:
        """Restore checkpoint ``step`` (the driver's ``state.json`` iteration: a driver killed between the
        members' saves and ``state.json`` leaves members one save ahead), or the newest that validates; returns
        its iteration."""
        restored = self.checkpointer.restore(self.state, self.ppo.cfg.to_json(), step=step)
        self.state = jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)), restored.tree)
        return restored.step

    def save_snapshot(self, path: str, iteration: int) -> str:
        """A frozen copy of the current state in a directory of its own (a league snapshot); an older copy at
        ``path`` (left by a run killed before its checkpoint) is replaced."""
        shutil.rmtree(path, ignore_errors=True)
        with Checkpointer(path, max_to_keep=1) as ckpt:
            return str(ckpt.save(iteration, self.state, self.ppo.cfg.to_json(), None, {"member": self.member}))

    def load_snapshot(self, path: str) -> TrainState:
        """A snapshot's state (host arrays), read from its copy and checked against this learner's network."""
        with Checkpointer(path, create=False) as ckpt:
            restored = ckpt.restore(self.state, self.ppo.cfg.to_json())
        return host_state(restored.tree)

    def close(self) -> None:
        self.checkpointer.close()
