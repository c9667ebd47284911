"""The policies a run directory holds, restored for evaluation at any batch size and any saved step.

A run of ``openland train --local`` keeps one agent under ``checkpoints/`` (the trainer's full state: learner
and runner); a population run keeps each member under ``members/member<i>/`` and the league's frozen
snapshots under ``snapshots/<name>/`` (the learner's state only). Each checkpoint carries the PPO config it was
trained with, so a policy is rebuilt from the checkpoint itself; only the batch size (``num_envs``) may
differ, and the batch-sized leaves (the runner's state, reward scaling's running return) keep the template's
values. Nothing here writes to the run directory.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from agents.checkpoint import Checkpointer, CheckpointError
from agents.policies import PPOPolicy, parse_coplayers
from agents.ppo import PPO, PPOConfig
from agents.trainer import Trainer
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.sim.template import PhysicsConfig
from worlds.tasks.families import check_family, default_config, family_players


class RunError(ValueError):
    """A path that is not a usable run directory, or a policy name it does not hold."""


@dataclass(frozen=True)
class Run:
    """A run directory as an evaluation reads it."""

    path: Path
    kind: str
    """"local" (``openland train --local``) or "population"."""
    config: dict[str, Any]
    """The run's ``config.json``."""
    family: str
    players: int
    policy_dirs: dict[str, Path]
    """Policy name ("agent", "member0", a snapshot's name) -> its checkpoint directory."""

    def env_config(self, num_envs: int, max_steps: int | None = None) -> EnvConfig:
        """The run's env (players, episode length, physics) at ``num_envs``; a run whose ``max_steps`` is 0 (the
        local trainer's "the family's default") plays its family's episode length."""
        return EnvConfig(num_envs=num_envs, num_players=self.players,
                         max_steps=int(max_steps or self.config.get("max_steps") or default_config(self.family).episode_length),
                         physics=PhysicsConfig(substeps=int(self.config.get("substeps", PhysicsConfig().substeps))))

    @property
    def members(self) -> list[str]:
        """The policies that trained (not the frozen snapshots)."""
        return [n for n in self.policy_dirs if "@" not in n]


def open_run(path: str | Path) -> Run:
    """Read a run directory; anything that is not one is a :class:`RunError` naming the path and what is missing."""
    root = Path(path)
    if not root.is_dir():
        raise RunError(f"run: {root} is not a directory")
    cfg_path = root / "config.json"
    if not cfg_path.is_file():
        raise RunError(f"run: {root} holds no run (no config.json)")
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise RunError(f"run: {cfg_path} is not valid JSON ({e})") from e
    family = config.get("family")
    try:
        check_family(str(family))
    except ValueError as e:
        raise RunError(f"run: {cfg_path}: family={family!r}: {e}") from e
    dirs: dict[str, Path] = {}
    if (root / "checkpoints").is_dir():
        kind = "local"
        dirs["agent"] = root / "checkpoints"
    elif (root / "members").is_dir():
        kind = "population"
        for d in sorted((root / "members").iterdir(), key=lambda p: (len(p.name), p.name)):
            if d.is_dir():
                dirs[d.name] = d
        snaps = root / "snapshots"
        if snaps.is_dir():
            for d in sorted(snaps.iterdir()):
                if d.is_dir():
                    dirs[d.name] = d
    else:
        raise RunError(f"run: {root} has no checkpoints (neither checkpoints/ nor members/)")
    if not dirs:
        raise RunError(f"run: {root} has no policy checkpoints")
    return Run(root, kind, config, str(family), family_players(str(family)), dirs)


def restore_policy(run: Run, name: str, num_envs: int, step: int | None = None) -> tuple[PPOPolicy, int]:
    """The policy ``name`` of ``run`` at checkpoint ``step`` (default: the newest that restores), ready to act
    on ``num_envs`` envs. Returns (policy, step restored)."""
    if name not in run.policy_dirs:
        raise RunError(f"run: {run.path} has no policy {name!r}; it has {sorted(run.policy_dirs)}")
    directory = run.policy_dirs[name]
    with Checkpointer(directory, max_to_keep=None, create=False) as ck:
        saved = ck.saved_config(step)
        try:
            ppo_cfg = PPOConfig.from_json(saved)
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{directory}: its PPO config does not read ({e})") from e
        P = run.players
        env = BatchEnv(run.env_config(1))
        obs_space, act_space = env.single_observation_space, env.single_action_space
        if run.kind == "local":
            coplayers = parse_coplayers(str(run.config.get("coplayers", "self")))  # runs from before the option: self
            if coplayers != ("self",):  # slot 0 learned alone: P envs give the same P sequences as self-play
                env = BatchEnv(run.env_config(P))
            trainer = Trainer(dataclasses.replace(ppo_cfg, num_envs=P), env,
                              shaping=float(run.config.get("shaping", 0.0)), aux_targets=ppo_cfg.aux_coef > 0,
                              coplayers=coplayers)  # fmt: skip
            ppo, template = trainer.ppo, trainer.checkpoint_tree()
            batch = ("['runner']", "['train_state'].ret")
        else:
            ppo = PPO(dataclasses.replace(ppo_cfg, num_envs=1), obs_space, act_space)
            template, batch = ppo.init(ppo_cfg.seed), (".ret",)
        restored = ck.restore(template, ppo.cfg.to_json(), step, allow_config_changes=("num_envs",), batch_leaves=batch)
    tree = restored.tree["train_state"] if run.kind == "local" else restored.tree
    state = jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)), tree)
    act_ppo = PPO(dataclasses.replace(ppo_cfg, num_envs=num_envs), obs_space, act_space)
    return PPOPolicy(act_ppo, state, name=name), restored.step
