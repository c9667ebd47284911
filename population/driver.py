"""``openland train``: a population of agents trained on Ray — rollout workers, a learner per member, a league
choosing co-players, population-based training, checkpoints and resume.

Ray only orchestrates: the learning is the agents package's jitted PPO update inside each learner actor, and
the simulation is ``BatchEnv`` inside each worker actor. Per iteration, every member gets one rollout from a
worker (with its current parameters, passed once through the object store) and one update. Every
``pbt.interval`` iterations PBT ranks the members; every ``league.snapshot_interval`` iterations (multi-player
families) each member leaves a frozen snapshot copy; every ``checkpoint_every`` iterations each learner saves
an orbax checkpoint and the driver writes ``state.json``.

The parts live in their own modules: the config and its checks (``population.config``), the driver's state
(``population.driver_state``), one iteration's rollouts with retries (``population.dispatch``), snapshot
copies (``population.snapshots``), the workers' checkpointed runner state (``population.worker_state``); this
module composes them, one method per step of an iteration.

Exact resume: on CPU, a run killed after a checkpoint and resumed ends with the same parameters as one never
stopped: members' full training states, the workers' envs and acting keys, the driver's generator, league and
PBT state are all checkpointed. A worker Ray had to restart rebuilt its envs from seeds; the log says so, and
``summary.json`` has ``exact: false``.

Faults: workers are Ray actors with unlimited restarts; a worker killed mid-run is restarted by Ray (its
constructor runs again, and it needs nothing else: parameters come with every task), and a rollout whose task
failed is submitted again. Results carry (member, iteration), so nothing is counted twice. A killed driver is
resumed with ``--resume`` from the last checkpoint of every member and ``state.json``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import ray
from tqdm import tqdm

from agents.run import RunLog, prepare_run_dir
from population.config import (  # noqa: F401  (PopulationConfig is this module's public name too)
    LEARNER_CPUS,
    WORKER_CPUS,
    PopulationConfig,
    check_config,
    check_resources,
    initial_hparams,
)
from population.dispatch import collect_rollouts
from population.final_eval import final_evaluation
from population.driver_state import DriverState, fitness, new_generator
from population.league import League, choose_coplayer
from population.learner import Learner
from population.pbt import PBTState, pbt_round
from population.ray_runtime import RayStart, start_ray, stop_ray
from population.snapshots import SnapshotStore
from population.worker import RolloutWorker
from population.worker_state import load_worker_states, save_worker_states
from worlds.tasks.families import family_players

OnIteration = Callable[[int, dict[str, Any], dict[str, list]], None]


def train_population(cfg: PopulationConfig, on_iteration: OnIteration | None = None) -> dict[str, Any]:
    """Run (or resume) a population; returns the final per-member evaluation and run figures.

    ``on_iteration(iteration, figures, actors)`` is called after every iteration, with the Ray actor handles
    (``{"workers": [...], "learners": [...]}``) for monitoring."""
    run_dir = cfg.run_dir().absolute()
    check_config(cfg)
    started: RayStart = start_ray(cfg.address)
    try:
        check_resources(cfg, started.num_cpus)
        prepare_run_dir(run_dir, cfg.to_json(), cfg.resume is not None)
        driver = Driver(cfg, run_dir)
        try:
            return driver.run(on_iteration)
        finally:
            driver.close()
    finally:
        stop_ray(started)


class Driver:
    """One population run: its actors, its state, and the steps of an iteration."""

    def __init__(self, cfg: PopulationConfig, run_dir: Path):
        self.cfg, self.run_dir = cfg, run_dir
        self.env_config, self.ppo_cfg = cfg.env_config(), cfg.ppo_config()
        self.state_path = run_dir / "state.json"
        K = cfg.members
        resuming = cfg.resume is not None and self.state_path.exists()
        self.ds = (DriverState.load(self.state_path) if resuming
                   else DriverState(0, initial_hparams(cfg), League(K), PBTState([0] * K), [[] for _ in range(K)]))  # fmt: skip
        self.rng = new_generator(cfg.seed, self.ds.rng_state)
        LearnerActor = ray.remote(num_cpus=LEARNER_CPUS)(Learner)
        WorkerActor = ray.remote(num_cpus=WORKER_CPUS, max_restarts=-1, max_task_retries=-1)(RolloutWorker)
        self.learners = [LearnerActor.remote(m, self.ppo_cfg, self.env_config, cfg.family, str(run_dir), self.ds.hparams[m])
                         for m in range(K)]  # fmt: skip
        self.workers = [WorkerActor.remote(w, self.env_config, cfg.family, cfg.ppo, cfg.seed, cfg.shaping, cfg.curriculum,
                                           cfg.curriculum_config, cfg.league.fixed_play, cfg.league.fixed_coplayers)
                        for w in range(cfg.workers)]  # fmt: skip
        self.worker_pids = ray.get([w.pid.remote() for w in self.workers])
        self.snapshots = SnapshotStore(run_dir)
        self.log = RunLog(run_dir)
        self.bar = tqdm(total=cfg.iterations, initial=self.ds.iteration, desc=f"train {cfg.name}", unit="it",
                        disable=not cfg.progress)  # fmt: skip
        if resuming and self.ds.iteration > 0:
            self._resume()

    def _resume(self) -> None:
        steps = ray.get([lr.restore.remote(self.ds.iteration) for lr in self.learners])
        if len(set(steps)) != 1 or steps[0] != self.ds.iteration:
            raise RuntimeError(f"--resume: member checkpoints are at iterations {steps}, state.json at {self.ds.iteration}")
        print(f"resumed {self.run_dir} at iteration {self.ds.iteration}")
        worker_states = load_worker_states(self.run_dir, self.ds.iteration, len(self.workers))
        if worker_states is None:
            self.ds.inexact_since = self.ds.inexact_since or self.ds.iteration
            self.say(f"note: no worker states saved for iteration {self.ds.iteration}: workers rebuild their envs from "
                     "seeds, so from here this run no longer reproduces an uninterrupted one exactly")  # fmt: skip
        else:
            ray.get([w.set_state.remote(s) for w, s in zip(self.workers, worker_states)])
        if self.ds.inexact_since is not None:
            self.say(f"note: a worker restart at iteration {self.ds.inexact_since} means this run no longer "
                     "reproduces an uninterrupted one exactly")  # fmt: skip

    def say(self, line: str) -> None:
        """A line in the run's log (the console, through the progress bar)."""
        self.bar.write(line)

    # -- one iteration ---------------------------------------------------------------------------------------
    def run(self, on_iteration: OnIteration | None) -> dict[str, Any]:
        t0, steps_at_start = time.perf_counter(), self.ds.agent_steps
        while self.ds.iteration < self.cfg.iterations:
            it = self.ds.iteration + 1
            states = [lr.get_state.remote() for lr in self.learners]
            names = [choose_coplayer(self.ds.league, m, self.rng, self.cfg.league) for m in range(self.cfg.members)]
            coplayers = [(name, self._coplayer_ref(name, states)) for name in names]
            results = collect_rollouts(self.workers, it, states, coplayers, self._on_lost(it))
            self._check_workers(it)
            metrics = ray.get([self.learners[m].update.remote(results[m]["rollout"]) for m in range(self.cfg.members)])
            row = self._record(it, results, names, metrics)
            row["steps_per_second"] = (self.ds.agent_steps - steps_at_start) / max(time.perf_counter() - t0, 1e-9)
            if it % self.cfg.pbt.interval == 0 and self.cfg.members > 1:
                self._pbt(it, states)
            if it % self.cfg.league.snapshot_interval == 0 and family_players(self.cfg.family) > 1:
                self._snapshot(it)
            self.ds.iteration = it
            if it % self.cfg.checkpoint_every == 0 or it == self.cfg.iterations:
                self._checkpoint(it)
            self.log.log(it, {k: float(v) for k, v in row.items() if isinstance(v, (int, float))})
            if on_iteration is not None:
                on_iteration(it, row, {"workers": self.workers, "learners": self.learners})
            self.bar.update(1)
            best = max(row[f"member{m}/success"] for m in range(self.cfg.members))
            self.bar.set_postfix(sps=f"{row['steps_per_second']:.0f}", best_success=f"{best:.2f}")
        states = ray.get([lr.get_state.remote() for lr in self.learners])
        summary = final_evaluation(self.cfg.family, self.cfg.eval_tasks, states, self.env_config, self.ppo_cfg,
                                   self.run_dir, self.cfg.record_episodes, self.cfg.seed)  # fmt: skip
        summary.update(iterations=self.ds.iteration, worker_restarts=self.ds.worker_restarts,
                       pbt_events=len(self.ds.pbt.history), exact=self.ds.inexact_since is None)  # fmt: skip
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        curricula = {f"worker{w}/member{m}": figures for w, per in enumerate(ray.get([w.curriculum_summary.remote()
                     for w in self.workers])) for m, figures in per.items()}  # fmt: skip
        if curricula:  # what each member's curriculum saw (the report plots it)
            (self.run_dir / "curriculum.json").write_text(json.dumps({"curriculum": self.cfg.curriculum, **curricula}, indent=2))
        return summary

    def _coplayer_ref(self, name: str, states: list[Any]) -> Any:
        """The co-player's parameters: None for self-play, a snapshot's copy, or another member's current state."""
        if name == "self":
            return None
        for snapshot in self.ds.league.snapshots:
            if snapshot.name == name:
                if not self.snapshots.in_memory(name):
                    self.say(f"snapshot {name} read from its copy {snapshot.path}")
                return self.snapshots.ref(snapshot, self.learners[snapshot.member])
        if name.startswith("member") and name.removeprefix("member").isdigit():
            return states[int(name.removeprefix("member"))]
        raise ValueError(f"co-player {name!r} is neither 'self', a member nor a snapshot in the league")

    def _on_lost(self, it: int) -> Callable[[int, Exception], None]:
        def lost(member: int, err: Exception) -> None:
            self.say(f"iteration {it}: rollout of member {member} lost ({type(err).__name__}); submitting it again")

        return lost

    def _check_workers(self, it: int) -> None:
        """Count workers Ray restarted during this iteration (a new process): from here on the run no longer
        reproduces an uninterrupted one exactly (the new process rebuilt its envs from their seeds)."""
        pids = ray.get([w.pid.remote() for w in self.workers])
        restarted = [w for w, (a, b) in enumerate(zip(self.worker_pids, pids)) if a != b]
        self.worker_pids = pids
        if restarted:
            self.ds.worker_restarts += len(restarted)
            if self.ds.inexact_since is None:
                self.ds.inexact_since = it
            self.say(f"iteration {it}: worker(s) {restarted} restarted by Ray; training goes on, but from iteration "
                     f"{it} this run no longer reproduces an uninterrupted one exactly")  # fmt: skip

    def _record(self, it: int, results: dict[int, dict[str, Any]], names: list[str], metrics: list[dict]) -> dict[str, Any]:
        """Fold the iteration's episodes into fitness windows and the league's win rates; the metrics row."""
        row: dict[str, Any] = {"iteration": it}
        for m in range(self.cfg.members):
            episodes = results[m]["episodes"]
            self.ds.agent_steps += results[m]["steps"]
            self.ds.record_episodes(m, episodes)
            for e in episodes:  # each episode against whoever played beside it (the league's choice or a fixed one)
                opponent = e.get("coplayer") or names[m]  # "" in one-player families: as before, the league's name
                if opponent != "self" and not e.get("alone", False):  # a one-player task has no one to beat
                    self.ds.league.record(m, opponent, e["outcome"], self.cfg.league.win_rate_decay)
            fit = fitness(self.ds.fitness_window[m])
            row.update({f"member{m}/success": fit[0], f"member{m}/participation": fit[1],
                        f"member{m}/loss": metrics[m]["loss"], f"member{m}/lr": self.ds.hparams[m]["lr"]})  # fmt: skip
        row["agent_steps"] = self.ds.agent_steps
        return row

    def _pbt(self, it: int, states: list[Any]) -> None:
        """Exploit and explore: a member copies a better one's weights and optimiser state, then perturbs."""
        fits = np.stack([fitness(w) for w in self.ds.fitness_window])
        for event in pbt_round(it, fits, self.ds.hparams, self.ds.pbt, self.rng, self.cfg.pbt):
            ray.get(self.learners[event.target].set_state.remote(states[event.source], event.new_hparams))
            self.ds.hparams[event.target] = event.new_hparams
            self.ds.fitness_window[event.target] = []
            with open(self.run_dir / "pbt_history.jsonl", "a") as f:
                f.write(json.dumps(dataclasses.asdict(event)) + "\n")
            self.say(f"PBT iteration {it}: member {event.target} <- member {event.source} ({event.reason}); "
                     f"hparams {event.new_hparams}")  # fmt: skip

    def _snapshot(self, it: int) -> None:
        for m, learner in enumerate(self.learners):
            self.ds.league.add_snapshot(self.snapshots.take(learner, m, it), self.cfg.league.max_snapshots)

    def _checkpoint(self, it: int) -> None:
        """Members' checkpoints first, then ``state.json`` (which says they are complete), then drop snapshot
        copies that state no longer names."""
        ray.get([lr.save.remote(it) for lr in self.learners])
        save_worker_states(self.run_dir, it, ray.get([w.get_state.remote() for w in self.workers]))
        self.ds.rng_state = self.rng.bit_generator.state
        self.ds.save(self.state_path)
        self.snapshots.prune(self.ds.league)

    def close(self) -> None:
        self.bar.close()
        self.log.close()
        ray.get([lr.close.remote() for lr in self.learners])
