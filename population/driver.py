"""``openland train``: a population of agents trained on Ray — rollout workers, a learner per member, a league
choosing co-players, population-based training, checkpoints and resume.

Ray only orchestrates: the learning is the agents package's jitted PPO update inside each learner actor, and
the simulation is ``BatchEnv`` inside each worker actor. Per iteration, every member gets one rollout from a
worker (with its current parameters, passed once through the object store) and one update. Every
``pbt.interval`` iterations PBT ranks the members; every ``checkpoint_every`` iterations each learner saves an
orbax checkpoint and the driver writes ``state.json`` (iteration, league, PBT history, hyper-parameters).

Faults: workers are Ray actors with unlimited restarts; a worker killed mid-run is restarted by Ray (its
constructor runs again, and it needs nothing else: parameters come with every task), and a rollout whose task
failed is submitted again. Results carry (member, iteration), so nothing is counted twice. A killed driver is
resumed with ``--resume`` from the last checkpoint of every member and ``state.json``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import ray
from tqdm import tqdm

from agents.local_train import held_out_tasks
from agents.run import RunConfig, RunLog, prepare_run_dir
from agents.evaluate import evaluate_policy, ppo_actor, random_actor
from agents.ppo import PPO, PPOConfig
from population.learner import Learner
from population.league import League, LeagueConfig, Snapshot, choose_coplayer
from population.pbt import PBTConfig, PBTEvent, PBTState, explore, pbt_round, validate_hparams
from population.ray_runtime import RayStart, start_ray, stop_ray
from population.worker import RolloutWorker, learner_ppo
from worlds.envs.batch_env import EnvConfig
from worlds.tasks.families import check_family, family_players
from worlds.episodes.recording import save_episode

#: CPUs one actor asks Ray for. Fractions, so that a 2-core laptop runs 2 workers and 2 learners.
WORKER_CPUS = 0.5
LEARNER_CPUS = 0.5


@dataclass(frozen=True)
class PopulationConfig(RunConfig):
    """A population run on Ray."""

    name: str = "population"
    """Run name: everything goes to ``runs_dir/name``."""
    eval_tasks: int = 64
    """Held-out tasks evaluated per member at the end (and by the random policy, the reference)."""
    members: int = 2
    """Population size."""
    workers: int = 2
    """Rollout worker actors."""
    envs_per_worker: int = 64
    """Worlds each worker steps together per member."""
    iterations: int = 120
    """Rollout-and-update iterations per member (each one rollout of envs_per_worker x num_steps agent-steps):
    the default, about 120k agent-steps per member, takes about 9 minutes on a 2-core laptop."""
    checkpoint_every: int = 5
    """Iterations between checkpoints."""
    address: str | None = None
    """Ray cluster address to join (also RAY_ADDRESS); unset: start a local Ray on loopback."""
    hparams: tuple[tuple[str, float], ...] = ()
    """Initial hyper-parameters shared by all members, e.g. (("lr", 3e-4),); members then differ by one
    explore step each (member 0 keeps them)."""
    pbt: PBTConfig = PBTConfig()
    """Population-based training."""
    league: LeagueConfig = LeagueConfig()
    """Co-player choice in multi-player families."""

    def env_config(self) -> EnvConfig:
        return EnvConfig(num_envs=self.envs_per_worker, num_players=family_players(self.family), max_steps=self.max_steps,
                         physics=self.physics())

    def ppo_config(self) -> PPOConfig:
        return learner_ppo(dataclasses.replace(self.ppo, seed=self.seed), self.env_config())

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["ppo"] = self.ppo_config().to_json()
        return out


def check_config(cfg: PopulationConfig, cluster_cpus: float) -> None:
    """Refuse, before any work, what cannot run: naming the field and the value."""
    check_family(cfg.family)
    for name in ("members", "workers", "envs_per_worker", "iterations", "checkpoint_every"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name}={getattr(cfg, name)!r} must be at least 1")
    validate_hparams(dict(cfg.hparams))
    need = cfg.workers * WORKER_CPUS + cfg.members * LEARNER_CPUS
    if need > cluster_cpus:
        raise ValueError(
            f"members={cfg.members} and workers={cfg.workers} need {need:g} CPUs "
            f"({WORKER_CPUS:g} per worker, {LEARNER_CPUS:g} per learner) but the Ray cluster offers {cluster_cpus:g}"
        )


def initial_hparams(cfg: PopulationConfig) -> list[dict[str, float]]:
    base = {k: float(getattr(cfg.ppo, k)) for k in ("lr", "ent_coef", "clip_coef", "gae_lambda")}
    base.update(dict(cfg.hparams))
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 5]))
    return [base] + [explore(base, rng) for _ in range(cfg.members - 1)]


@dataclass
class DriverState:
    """What the driver checkpoints beside the members: ``state.json``."""

    iteration: int
    hparams: list[dict[str, float]]
    league: League
    pbt: PBTState
    fitness_window: list[list[dict[str, float]]]
    worker_restarts: int = 0

    def run_dir(self) -> Path:
        """Where the run lives: the ``--resume`` directory, else ``runs_dir/name``."""
        return Path(self.resume) if self.resume else self.runs_dir / self.name

    def to_json(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "hparams": self.hparams,
            "league": self.league.to_json(),
            "pbt": {"last_exploit": self.pbt.last_exploit, "history": [dataclasses.asdict(e) for e in self.pbt.history]},
            "fitness_window": self.fitness_window,
            "worker_restarts": self.worker_restarts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DriverState":
        return cls(
            iteration=int(data["iteration"]),
            hparams=[dict(h) for h in data["hparams"]],
            league=League.from_json(data["league"]),
            pbt=PBTState(list(data["pbt"]["last_exploit"]), [PBTEvent(**e) for e in data["pbt"]["history"]]),
            fitness_window=data["fitness_window"],
            worker_restarts=int(data.get("worker_restarts", 0)),
        )


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def fitness(window: list[dict[str, float]]) -> np.ndarray:
    """XLand-style fitness vector of a member from its recent episodes: (mean goal success, participation =
    share of episodes with any reward). Higher is better in both."""
    if not window:
        return np.zeros(2)
    return np.array([np.mean([e["success"] for e in window]), np.mean([e["return"] > 0 for e in window])])


def train_population(
    cfg: PopulationConfig, on_iteration: Callable[[int, dict[str, Any], dict[str, list]], None] | None = None
) -> dict[str, Any]:
    """Run (or resume) a population; returns the final per-member evaluation and run figures.

    ``on_iteration(iteration, figures, actors)`` is called after every iteration, with the Ray actor handles
    (``{"workers": [...], "learners": [...]}``) for monitoring."""
    run_dir = cfg.run_dir().absolute()
    started: RayStart = start_ray(cfg.address)
    try:
        check_config(cfg, started.num_cpus)
        prepare_run_dir(run_dir, cfg.to_json(), cfg.resume is not None)
        return _run(cfg, run_dir, on_iteration)
    finally:
        stop_ray(started)


def _run(cfg: PopulationConfig, run_dir: Path, on_iteration: Callable[[int, dict[str, Any], dict[str, list]], None] | None) -> dict[str, Any]:
    env_config, ppo_cfg = cfg.env_config(), cfg.ppo_config()
    K, W = cfg.members, cfg.workers
    state_path = run_dir / "state.json"
    if cfg.resume is not None and state_path.exists():
        ds = DriverState.from_json(json.loads(state_path.read_text()))
    else:
        ds = DriverState(0, initial_hparams(cfg), League(K), PBTState([0] * K), [[] for _ in range(K)])

    LearnerActor = ray.remote(num_cpus=LEARNER_CPUS)(Learner)
    WorkerActor = ray.remote(num_cpus=WORKER_CPUS, max_restarts=-1, max_task_retries=-1)(RolloutWorker)
    learners = [LearnerActor.remote(m, ppo_cfg, env_config, cfg.family, str(run_dir), ds.hparams[m]) for m in range(K)]
    workers = [WorkerActor.remote(w, env_config, cfg.family, cfg.ppo, cfg.seed, cfg.shaping) for w in range(W)]
    if cfg.resume is not None and ds.iteration > 0:
        steps = ray.get([lr.restore.remote() for lr in learners])
        if len(set(steps)) != 1 or steps[0] != ds.iteration:
            raise RuntimeError(f"--resume: member checkpoints are at iterations {steps}, state.json at {ds.iteration}")
        print(f"resumed {run_dir} at iteration {ds.iteration}")
    snapshot_refs: dict[str, Any] = {}
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 9, ds.iteration]))
    log = RunLog(run_dir)
    bar = tqdm(total=cfg.iterations, initial=ds.iteration, desc=f"train {cfg.name}", unit="it", disable=not cfg.progress)
    t0, steps_done = time.perf_counter(), 0
    history_path = run_dir / "pbt_history.jsonl"
    try:
        while ds.iteration < cfg.iterations:
            it = ds.iteration + 1
            state_refs = [lr.get_state.remote() for lr in learners]
            pending: dict[Any, tuple[int, str]] = {}
            coplayers = [choose_coplayer(ds.league, m, rng, cfg.league) for m in range(K)]

            def submit(m: int) -> None:
                name = coplayers[m]
                co = None if name == "self" else (snapshot_refs.get(name) or state_refs[int(name.removeprefix("member"))])
                ref = workers[(m + it) % W].rollout.remote(m, it, state_refs[m], co, name)
                pending[ref] = (m, name)

            for m in range(K):
                submit(m)
            results: dict[int, dict[str, Any]] = {}
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                ref = ready[0]
                m, name = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as err:
                    ds.worker_restarts += 1
                    bar.write(f"iteration {it}: rollout of member {m} lost ({type(err).__name__}); submitting it again")
                    submit(m)
                    continue
                if (result["member"], result["iteration"]) != (m, it) or m in results:
                    continue  # a duplicate from a retried task: never count it twice
                results[m] = result
            metrics = ray.get([learners[m].update.remote(results[m]["rollout"]) for m in range(K)])
            row: dict[str, Any] = {"iteration": it}
            for m in range(K):
                episodes = results[m]["episodes"]
                steps_done += results[m]["steps"]
                ds.fitness_window[m] = (ds.fitness_window[m] + episodes)[-100:]
                for e in episodes:
                    if coplayers[m] != "self":
                        ds.league.record(m, coplayers[m], e["outcome"], cfg.league.win_rate_decay)
                fit = fitness(ds.fitness_window[m])
                row.update({f"member{m}/success": fit[0], f"member{m}/participation": fit[1],
                            f"member{m}/loss": metrics[m]["loss"], f"member{m}/lr": ds.hparams[m]["lr"]})  # fmt: skip
            row["steps_per_second"] = steps_done / max(time.perf_counter() - t0, 1e-9)
            row["agent_steps"] = steps_done
            if it % cfg.pbt.interval == 0 and K > 1:
                fits = np.stack([fitness(w) for w in ds.fitness_window])
                for event in pbt_round(it, fits, ds.hparams, ds.pbt, rng, cfg.pbt):
                    ray.get(learners[event.target].set_state.remote(state_refs[event.source], event.new_hparams))
                    ds.hparams[event.target] = event.new_hparams
                    ds.fitness_window[event.target] = []
                    with open(history_path, "a") as f:
                        f.write(json.dumps(dataclasses.asdict(event)) + "\n")
                    bar.write(f"PBT iteration {it}: member {event.target} <- member {event.source} ({event.reason}); "
                              f"hparams {event.new_hparams}")  # fmt: skip
            if it % cfg.league.snapshot_interval == 0 and family_players(cfg.family) > 1:
                for m in range(K):
                    name = f"member{m}@{it}"
                    snapshot_refs[name] = state_refs[m]
                    ds.league.add_snapshot(Snapshot(name, m, it, str(run_dir / "members" / f"member{m}")), cfg.league.max_snapshots)
            ds.iteration = it
            if it % cfg.checkpoint_every == 0 or it == cfg.iterations:
                ray.get([lr.save.remote(it) for lr in learners])
                _write_json_atomic(state_path, ds.to_json())
            log.log(it, {k: float(v) for k, v in row.items() if isinstance(v, (int, float))})
            if on_iteration is not None:
                on_iteration(it, row, {"workers": workers, "learners": learners})
            bar.update(1)
            best = max(row[f"member{m}/success"] for m in range(K))
            bar.set_postfix(sps=f"{row['steps_per_second']:.0f}", best_success=f"{best:.2f}")
        summary = _final_evaluation(cfg, run_dir, learners, env_config, ppo_cfg)
        summary.update(iterations=ds.iteration, worker_restarts=ds.worker_restarts, pbt_events=len(ds.pbt.history))
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary
    finally:
        bar.close()
        log.close()
        ray.get([lr.close.remote() for lr in learners])


def _final_evaluation(cfg: PopulationConfig, run_dir: Path, learners: list, env_config: EnvConfig, ppo_cfg: PPOConfig) -> dict[str, Any]:
    """Held-out goal success of every member, in the driver (episodes recorded to runs/<name>/episodes/)."""
    from worlds.envs.batch_env import BatchEnv
    from worlds.tasks.families import FamilySampler

    probe = BatchEnv(EnvConfig(num_envs=1, num_players=env_config.num_players), FamilySampler(cfg.family))
    eval_cfg = dataclasses.replace(ppo_cfg, num_envs=env_config.num_envs * env_config.num_players)
    ppo = PPO(eval_cfg, probe.single_observation_space, probe.single_action_space)
    tasks = held_out_tasks(cfg.family, cfg.eval_tasks)
    out: dict[str, Any] = {}
    for m, learner in enumerate(learners):
        state = ray.get(learner.get_state.remote())
        state = state.replace(ret=np.zeros(eval_cfg.num_envs, np.float32))
        act, reset = ppo_actor(ppo, state, eval_cfg.num_envs, seed=cfg.seed + m)
        result, episodes = evaluate_policy(act, tasks, env_config, reset, cfg.record_episodes)
        for i, episode in enumerate(episodes):
            save_episode(episode, run_dir / "episodes" / f"member{m}_eval_{i}.npz")
        out[f"member{m}/eval_success"] = result.success
        out[f"member{m}/eval_unsafe_per_episode"] = result.unsafe_per_episode
    out["best_eval_success"] = max(out[f"member{m}/eval_success"] for m in range(len(learners)))
    # the uniform random policy on the same tasks: what "learned" is read against
    random_result, _ = evaluate_policy(random_actor(probe.single_action_space, cfg.seed), tasks, env_config)
    out["random_eval_success"] = random_result.success
    return out
