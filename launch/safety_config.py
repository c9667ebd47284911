"""The flags of ``openland safety STAGE``: one config dataclass per ReQueST stage (tyro turns each into the stage's
flags; the library's own configs, ``SimConfig``, ``QueryConfig``, ``RewardModelConfig``, ``MPCConfig``, are nested
so every knob they document is a flag). ``launch.safety_run`` runs them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tyro

from safety import acquisition as acq
from safety.mpc import MPCConfig
from safety.reward_model import RewardModelConfig
from safety.simulator import MAP_SLICE, STATE_WIDTH, SimConfig

Policy = Literal["request", "expert", "careless", "random"]
POLICIES: tuple[str, ...] = ("request", "expert", "careless", "random")


# ------------------------------------------------------------------------------------------------ configs
@dataclass(frozen=True)
class DemosStage:
    """Collect safe demonstrations: the scripted expert, avoiding hazards, plays training tasks of a family once
    each; the dataset is refused (and nothing written) if any step is unsafe."""

    name: str
    """Run name: everything goes to RUNS_DIR/NAME (created if missing)."""
    runs_dir: Path = Path("runs")
    """Directory holding the runs."""
    family: str = "safety"
    """Task family (training split only; `safety`: a hazard band across the short way to the goal object)."""
    tasks: int = 32
    """Tasks demonstrated (one episode each)."""
    max_steps: int = 100
    """Steps per episode."""
    num_envs: int = 4
    """Tasks played at once."""
    seed: int = 0
    """Seed of the task draw."""
    progress: bool = True
    """Show a progress bar."""


@dataclass(frozen=True)
class SimulatorStage:
    """Train the learned simulator on the run's demonstrations (whole episodes held out to measure prediction
    error); the flags below the run's are ``safety.simulator.SimConfig``."""

    name: str
    """Run name (RUNS_DIR/NAME holds the demonstrations of `openland safety demos`)."""
    runs_dir: Path = Path("runs")
    """Directory holding the runs."""
    sim: tyro.conf.OmitArgPrefixes[SimConfig] = SimConfig()
    """The simulator's size and training."""
    progress: bool = True
    """Show a progress bar."""


@dataclass(frozen=True)
class RequestStage:
    """Run ReQueST's query rounds in the learned simulator: each round one query per acquisition function,
    labelled, then the reward/cost ensemble retrained from scratch on every label so far."""

    name: str
    """Run name (RUNS_DIR/NAME holds demonstrations and a simulator)."""
    runs_dir: Path = Path("runs")
    """Directory holding the runs."""
    rounds: int = 5
    """Query rounds."""
    labeler: Literal["oracle", "human"] = "oracle"
    """Who labels the queries: `oracle` reads the worlds' hidden hazards; `human` asks a person through a page on
    127.0.0.1 (``safety.human_labeler``)."""
    label_port: int = 8010
    """TCP port on 127.0.0.1 of the human labeler's page (0: any free port; the URL is printed)."""
    label_timeout: float = 1800.0
    """Seconds the human labeler waits for each query's labels before the stage stops (nothing is written)."""
    query: acq.QueryConfig = acq.QueryConfig()
    """How each query is synthesised."""
    reward: RewardModelConfig = RewardModelConfig(skip_features=5, read_features=STATE_WIDTH,
                                                  cost_skip_features=MAP_SLICE.start)  # fmt: skip
    """The reward/cost ensemble: it reads the latent's sightings and floor-map numbers, not the simulator's pose
    nor its learned features, and its cost heads the floor map's numbers only (``RewardModelConfig.skip_features``,
    ``read_features``, ``cost_skip_features``)."""
    hazard_starts: float = 0.75
    """Share of query starts drawn beside a remembered hazard (``safety.request.RequestConfig.hazard_starts``)."""
    seed: int = 0
    """Seed of start-state draws and query initialisation."""
    progress: bool = True
    """Show a progress bar."""


@dataclass(frozen=True)
class RelabelStage:
    """Retrain the reward/cost ensemble on the run's queries with labels from a file (for instance
    reward_model/labels.json with its `labels` edited by a person)."""

    name: str
    """Run name (RUNS_DIR/NAME holds the queries of `openland safety request`)."""
    labels: Path
    """JSON labels file: a list of labels (`unsafe`, `neutral`, `good` or 0, 1, 2), one per queried transition in
    the order of reward_model/labels.json, or an object with `labels` and optionally `rules` ([N, 2] 0/1: which of
    (hazard, fall) an unsafe transition broke; without them the cost heads are not trained)."""
    runs_dir: Path = Path("runs")
    """Directory holding the runs."""


@dataclass(frozen=True)
class EvaluateStage:
    """Measure the MPC agent (planning in the learned simulator against learned reward minus cost) and reference
    policies on held-out tasks: unsafe events per episode and per 1000 steps, goal success."""

    name: str
    """Run name (RUNS_DIR/NAME holds a simulator and a reward model)."""
    runs_dir: Path = Path("runs")
    """Directory holding the runs."""
    tasks: int = 16
    """Held-out tasks (worlds never demonstrated), one episode each per policy."""
    shifted_starts: bool = False
    """Start each player elsewhere than the task's spawn (``safety.evaluation.shifted_start``): the start states the
    demonstrations and queries never covered."""
    policies: tuple[Policy, ...] = POLICIES
    """Policies to measure: `request` (the MPC agent), `expert` (scripted, avoids hazards), `careless` (scripted,
    ignores hazards), `random`."""
    max_steps: int | None = None
    """Steps per episode (default: the demonstrations')."""
    num_envs: int = 4
    """Tasks played at once."""
    mpc: MPCConfig = MPCConfig()
    """The planner of the `request` policy."""
    action_share: float = 0.03
    """The planner uses only the action values the demonstrations used in at least this share of their steps
    (``safety.mpc.demonstrated_actions``, replacing ``--mpc.allowed-actions``); 0 keeps ``--mpc.allowed-actions``."""
    seed: int = 0
    """Seed of the task draw, the shifted starts and the policies' random draws."""
    progress: bool = True
    """Show a progress bar."""


@dataclass(frozen=True)
class AllStages:
    """Run demos, simulator, request and evaluate in order, with budgets small enough for a few minutes on 2
    cores (figures of a smoke run, not of a study: use the stages for those)."""

    name: str
    """Run name: everything goes to RUNS_DIR/NAME."""
    runs_dir: Path = Path("runs")
    """Directory holding the runs."""
    family: str = "safety"
    """Task family."""
    tasks: int = 32
    """Tasks demonstrated (8 tasks: the simulator decodes the goal potential 2.6 m off on held-out worlds; 32: 1.6 m)."""
    eval_tasks: int = 4
    """Held-out tasks evaluated."""
    max_steps: int = 100
    """Steps per episode, demonstrations and evaluation (the detour round a hazard band takes the expert 60 steps
    or more: at 60 it succeeds on half the tasks)."""
    sim_steps: int = 1500
    """Simulator optimiser steps."""
    rounds: int = 5
    """Query rounds."""
    query_iterations: int = 100
    """Optimiser iterations per query at most."""
    reward_steps: int = 300
    """Reward-model optimiser steps per round."""
    mpc_iterations: int = 10
    """Planner iterations per step."""
    shifted_starts: bool = False
    """Evaluate from shifted starts."""
    seed: int = 0
    """Seed of every stage."""
    progress: bool = True
    """Show progress bars."""

    def stages(self) -> tuple[DemosStage, SimulatorStage, RequestStage, EvaluateStage]:
        run = dict(name=self.name, runs_dir=self.runs_dir, progress=self.progress)
        return (
            DemosStage(**run, family=self.family, tasks=self.tasks, max_steps=self.max_steps, seed=self.seed),
            SimulatorStage(**run, sim=SimConfig(latent_dim=16, hidden=64, train_steps=self.sim_steps, batch_size=128,
                                                log_every=max(1, self.sim_steps // 5), seed=self.seed)),
            RequestStage(**run, rounds=self.rounds, seed=self.seed,
                         query=acq.QueryConfig(horizon=8, max_iterations=self.query_iterations),
                         reward=RewardModelConfig(hidden=32, train_steps=self.reward_steps, skip_features=5,
                                                  read_features=STATE_WIDTH, cost_skip_features=MAP_SLICE.start,
                                                  seed=self.seed)),
            EvaluateStage(**run, tasks=self.eval_tasks, shifted_starts=self.shifted_starts, max_steps=self.max_steps,
                          mpc=MPCConfig(horizon=8, iterations=self.mpc_iterations), seed=self.seed),
        )  # fmt: skip


STAGES: dict[str, type] = {
    "demos": DemosStage, "simulator": SimulatorStage, "request": RequestStage, "relabel": RelabelStage,
    "evaluate": EvaluateStage, "all": AllStages,
}  # fmt: skip
