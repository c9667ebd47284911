"""What every training run shares: its config basics, its directory, and its logs.

``runs/<name>/`` holds ``config.json`` (refusing to overwrite another run, and refusing ``--resume`` with a
different config), ``metrics.jsonl`` (one JSON line per update or iteration, with wall time) and TensorBoard
events (``tb/``). Both the single-process trainer and the population driver build on this.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agents.ppo import PPOConfig
from worlds.sim.template import PhysicsConfig
from worlds.tasks.families import default_config


def default_ppo() -> PPOConfig:
    """PPO settings of openland runs: short rollouts of many envs, a feed-forward core (the default ray ring
    makes "go to X" reactive; the LSTM/GRU cores are a flag away), lr 1e-3 and gamma 0.95 / lambda 0.9 for
    6-second episodes at 10 decisions per second, plus the auxiliary goal-direction loss. The settings under
    which PPO learned "near" on this machine (see bench/learn.py).

    Observation normalisation is off: every float observation is already in [-1, 1], and on "near" the
    ablation (bench/ablation.py, 180k agent-steps) gave held-out success 0.80 and 0.75 (two seeds) without it
    against 0.19 with it. The other Implementation Matters switches stay on, as PPOConfig has them."""
    return PPOConfig(num_steps=16, num_minibatches=4, update_epochs=4, lr=1e-3, ent_coef=0.01, gamma=0.95,
                     gae_lambda=0.9, core="none", norm_obs=False)  # fmt: skip


@dataclass(frozen=True)
class CurriculumConfig:
    """Knobs of ``--curriculum`` (curriculum.curricula / curriculum.sampler). The defaults are sized for runs of
    a few hundred thousand agent-steps (a few thousand episodes): a pool the run revisits, the filter judging a
    task after 3 episodes instead of XLand's 10, and a PLR buffer that fills within the first few hundred
    episodes (jaxued's 4000 would never replay in such a run)."""

    pool_size: int = 1000
    """Training tasks the curriculum chooses among: seeds ``0..pool_size-1`` of the family's training split."""
    window: int = 10
    """Episodes a task's statistics average over (curriculum.stats.TaskStats)."""
    filter_rollouts: int = 3
    """filter: K, episodes of a task before it is judged."""
    filter_max_success: float = 0.8
    """filter: m_s, a task is too easy at or above this success estimate."""
    filter_min_beats: float = 0.2
    """filter: m_>, a task is meaningful above this P[return > control's] (control: a policy that scores 0)."""
    plr_beta: float = 0.3
    """plr: temperature of rank prioritisation."""
    plr_rho: float = 0.3
    """plr: weight of staleness in the replay distribution."""
    plr_replay_prob: float = 0.5
    """plr: probability of replaying a task from the buffer instead of playing a new one."""
    plr_buffer_size: int = 256
    """plr: most tasks in the replay buffer (replay starts when half full)."""

    def __post_init__(self) -> None:
        if self.pool_size < 1:
            raise ValueError(f"CurriculumConfig.pool_size={self.pool_size!r} must be at least 1")

    def settings(self, kind: str) -> dict[str, Any]:
        """Keyword settings of ``curriculum.curricula.make_curriculum(kind, ...)``."""
        if kind == "filter":
            return {"rollouts": self.filter_rollouts, "max_success": self.filter_max_success,
                    "min_beats": self.filter_min_beats}  # fmt: skip
        if kind == "plr":
            return {"beta": self.plr_beta, "rho": self.plr_rho, "replay_prob": self.plr_replay_prob,
                    "buffer_size": self.plr_buffer_size}  # fmt: skip
        return {}


CurriculumKind = Literal["uniform", "filter", "plr"]


@dataclass(frozen=True)
class RunConfig:
    """Fields every training run has."""

    name: str = "run"
    """Run name: everything goes to ``runs_dir/name``."""
    runs_dir: Path = Path("runs")
    """Parent directory of runs."""
    family: str = "near"
    """Task family (worlds.tasks.families): near, hold, single, compose, broad, solo, duo, duo-small, duo-ego, mix,
    trio, quad, safety."""
    max_steps: int = 0
    """Episode length in agent decisions; 0: the family's default (worlds.tasks.families: near 60, i.e. 6 s at
    10 decisions per second; compose and duo-ego 80)."""
    substeps: int = PhysicsConfig().substeps
    """Physics steps of 10 ms per agent decision (worlds.sim.template.PhysicsConfig): 10 gives 10 decisions per
    second."""
    shaping: float = 1.0
    """Coefficient of the potential-based shaping added to the training reward (agents.shaping): the goal's
    distance still to close, in metres; 0 trains on the goal reward alone. Evaluations never see it."""
    eval_tasks: int = 32
    """Held-out tasks per evaluation."""
    record_episodes: int = 2
    """Evaluation episodes recorded at each evaluation (per member)."""
    resume: Path | None = None
    """Continue the run in this directory (``runs/<name>``) from its newest checkpoint."""
    seed: int = 0
    """Seed of parameters, acting, tasks (and league and PBT draws)."""
    progress: bool = True
    """Show a progress bar."""
    ppo: PPOConfig = field(default_factory=default_ppo)
    """PPO hyper-parameters and code-level switches (num_envs and seed are set by the run)."""
    curriculum: CurriculumKind = "uniform"
    """How training tasks are drawn from the family's pool: uniform, filter (XLand's dynamic task filter: tasks
    neither too easy nor never rewarded) or plr (Robust Prioritised Level Replay on the positive value loss)."""
    curriculum_config: CurriculumConfig = field(default_factory=CurriculumConfig)
    """Pool size and the knobs of the filter and PLR."""

    def episode_steps(self) -> int:
        """``max_steps``, or the family's default episode length when it is 0."""
        if self.max_steps < 0:
            raise ValueError(f"max_steps={self.max_steps!r} must be positive (or 0 for the family's default)")
        return self.max_steps or default_config(self.family).episode_length

    def physics(self) -> PhysicsConfig:
        """The physics of the run's worlds."""
        return PhysicsConfig(substeps=self.substeps)

    def run_dir(self) -> Path:
        """Where the run lives: the ``--resume`` directory, else ``runs_dir/name``."""
        return Path(self.resume) if self.resume else self.runs_dir / self.name

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["runs_dir"] = str(self.runs_dir)
        out["resume"] = str(self.resume) if self.resume else None
        return out


class RunLog:
    """metrics.jsonl + TensorBoard events of one run."""

    def __init__(self, run_dir: Path):
        from tensorboardX import SummaryWriter

        self.metrics = open(run_dir / "metrics.jsonl", "a", buffering=1)
        self.tb = SummaryWriter(str(run_dir / "tb"))

    def log(self, step: int, values: dict[str, float]) -> None:
        clean = {k: v for k, v in values.items() if isinstance(v, (int, float)) and math.isfinite(v)}
        self.metrics.write(json.dumps({"step": step, "time": time.time(), **clean}) + "\n")
        for k, v in clean.items():
            self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        self.metrics.close()
        self.tb.close()


#: Config fields that say where a run is, how it is watched or how fast it runs, not what it computes.
_RUN_LOCATION = ("name", "runs_dir", "resume", "progress", "address", "env_threads")


def prepare_run_dir(run_dir: Path, config: dict[str, Any], resume: bool) -> None:
    """Create the run directory; refuse to overwrite a run unless resuming, and refuse to resume another config."""
    config_path = run_dir / "config.json"
    if config_path.exists():
        if not resume:
            raise FileExistsError(f"run directory {run_dir} already holds a run: pass --resume to continue it, or another --name")
        saved = json.loads(config_path.read_text())
        config = json.loads(json.dumps(config))  # tuples become lists, as in the saved file
        diffs = sorted(k for k in config if k not in _RUN_LOCATION and saved.get(k) != config[k])
        if diffs:
            raise ValueError(f"--resume with a different config than {config_path}: fields {diffs} differ")
        return
    if resume:
        raise FileNotFoundError(f"--resume: no run in {run_dir} (config.json missing)")
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(json.dumps(config, indent=2))


