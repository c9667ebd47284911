"""The configuration of a population run and the checks made before any work. No Ray here: the CLI parses the
flags, then decides whether Ray keeps to loopback (``population.addresses``), and only then imports Ray."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.ppo import PPOConfig, hparams_of
from agents.run import CurriculumKind, RunConfig
from population.league import LeagueConfig
from population.pbt import PBTConfig, explore, validate_hparams
from population.worker import learner_ppo
from worlds.envs.batch_env import EnvConfig
from worlds.tasks.families import check_family, family_players

#: CPUs one actor asks Ray for. Fractions, so that a 2-core laptop runs 2 workers and 2 learners.
WORKER_CPUS = 0.5
LEARNER_CPUS = 0.5


@dataclass(frozen=True)
class PopulationConfig(RunConfig):
    """A population run on Ray."""

    name: str = "population"
    """Run name: everything goes to ``runs_dir/name``."""
    family: str = "compose"
    """Task family (worlds.tasks.families): compose by default (one player, near/on/hold/see about itself, up to
    2 options of up to 2 predicates, negations); near, hold, single, broad, solo, duo, duo-small, duo-ego, mix,
    trio, quad, safety."""
    curriculum: CurriculumKind = "filter"
    """How training tasks are drawn from the family's pool: filter (XLand's dynamic task filter: tasks neither
    too easy nor never rewarded; the default, as in XLand), uniform, or plr (Robust Prioritised Level Replay on
    the positive value loss)."""
    eval_tasks: int = 64
    """Held-out tasks evaluated per member at the end (and by the random policy, the reference)."""
    members: int = 2
    """Population size."""
    workers: int = 2
    """Rollout worker actors."""
    envs_per_worker: int = 64
    """Worlds each worker steps together per member."""
    iterations: int = 280
    """Rollout-and-update iterations per member (each one rollout of envs_per_worker x num_steps agent-steps):
    the default, about 290k agent-steps per member on compose, takes about 10 minutes on a 2-core machine. It is also the
    learning-rate annealing horizon (with ``ppo.anneal_lr``): the rate reaches 0 after the last iteration."""
    checkpoint_every: int = 5
    """Iterations between checkpoints."""
    address: str | None = None
    """Ray cluster address to join (also RAY_ADDRESS); unset: start a local Ray on loopback."""
    hparams: tuple[tuple[str, float], ...] = ()
    """Initial hyper-parameters shared by all members, e.g. (("lr", 3e-4),); members then differ by one
    explore step each (member 0 keeps them)."""
    pbt: PBTConfig = PBTConfig(interval=25)
    """Population-based training: a round every 25 iterations (about 10 in the default run); every 5, one of two
    members was overwritten at nearly every round on the noise of a few episodes' success."""
    league: LeagueConfig = LeagueConfig()
    """Co-player choice in multi-player families."""

    def env_config(self) -> EnvConfig:
        return EnvConfig(num_envs=self.envs_per_worker, num_players=family_players(self.family), max_steps=self.episode_steps(),
                         physics=self.physics())

    def ppo_config(self) -> PPOConfig:
        """The learners' PPO config: one sequence per env, and the run's own budget (iterations x envs x steps)
        as ``total_timesteps``, so that the learning rate anneals over this run and not PPOConfig's default."""
        ppo = learner_ppo(dataclasses.replace(self.ppo, seed=self.seed), self.env_config())
        return dataclasses.replace(ppo, total_timesteps=self.iterations * ppo.batch_size)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["ppo"] = self.ppo_config().to_json()
        return out


def check_config(cfg: PopulationConfig) -> None:
    """Refuse, before Ray starts, what cannot run: naming the field and the value."""
    check_family(cfg.family)
    for name in ("members", "workers", "envs_per_worker", "iterations", "checkpoint_every"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name}={getattr(cfg, name)!r} must be at least 1")
    validate_hparams(dict(cfg.hparams))


def check_resources(cfg: PopulationConfig, cluster_cpus: float) -> None:
    """Refuse a population the Ray cluster cannot hold (every actor asks for a fixed share of a CPU)."""
    need = cfg.workers * WORKER_CPUS + cfg.members * LEARNER_CPUS
    if need > cluster_cpus:
        raise ValueError(
            f"members={cfg.members} and workers={cfg.workers} need {need:g} CPUs "
            f"({WORKER_CPUS:g} per worker, {LEARNER_CPUS:g} per learner) but the Ray cluster offers {cluster_cpus:g}"
        )


def initial_hparams(cfg: PopulationConfig) -> list[dict[str, float]]:
    """Member 0 keeps the configured hyper-parameters; every other member is one explore step away."""
    base = hparams_of(cfg.ppo)
    base.update(dict(cfg.hparams))
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 5]))
    return [base] + [explore(base, rng) for _ in range(cfg.members - 1)]
