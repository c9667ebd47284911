"""``openland train --local``: one agent, one process, no Ray — PPO on ``BatchEnv`` over a task family.

Writes ``runs/<name>/``: ``config.json``, orbax checkpoints (full state: learner, runner, envs), TensorBoard
events (``tb/``), ``metrics.jsonl`` (one line per update), held-out evaluations and recorded episodes
(``episodes/``). With ``--resume`` it continues from the newest checkpoint that restores, exactly as if it had
never stopped. Every player slot of every env is one PPO sequence, so multi-player families are self-play
with shared parameters.

Training tasks come from ``--curriculum`` over a pool of the family's training split
(``curriculum.sampler.CurriculumSampler``, fed each finished episode; its state is in every checkpoint).
Evaluation reports both held-out splits separately (``held_out_world``: known games in unseen worlds;
``held_out_game``: game structures training never samples) beside the random policy's success on the same
tasks. This trainer is a composition point: besides ``worlds`` it imports ``curriculum``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from agents.checkpoint import Checkpointer, restore_trainer, save_trainer
from agents.evaluate import evaluate_policy, seat_figures
from agents.policies import Policy, PPOPolicy, RandomPolicy, ScriptedExpert, parse_coplayers
from agents.ppo import PPOConfig
from agents.rollout import EpisodeRecord, RolloutRunner
from agents.run import CurriculumConfig, RunConfig, RunLog, prepare_run_dir
from agents.trainer import Trainer
from curriculum.curricula import make_curriculum
from curriculum.sampler import CurriculumSampler, FamilyPool
from curriculum.taskset import held_out_sets
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.tasks.families import FamilySampler, check_family, family_players
from worlds.episodes.recording import save_episode


@dataclass(frozen=True)
class LocalTrainConfig(RunConfig):
    """Single-process training of one agent."""

    name: str = "local"
    """Run name: everything goes to ``runs_dir/name``."""
    num_envs: int = 64
    """Worlds stepped together (each player slot is one PPO sequence)."""
    total_timesteps: int = 300_000
    """Agent-steps to train for."""
    checkpoint_every: int = 10
    """Updates between checkpoints."""
    eval_every: int = 20
    """Updates between held-out evaluations (0: only at the end)."""
    env_threads: int = 1
    """Threads that step the worlds' physics and cast their rays (``EnvConfig.threads``): acting and learning
    wait while the env steps, so the env may use every core then. Results are the same at any count."""
    coplayers: str = "self"
    """Who plays beside the learner in multi-player families, comma-separated from self, random, scripted.
    "self" alone: every player slot learns with shared parameters (self-play). Anything else: slot 0 learns and,
    per env and episode, one of the named co-players (drawn uniformly) plays the other slots; "self" among them
    plays with the learner's current parameters without learning there. The scripted expert keeps its path
    plans outside checkpoints, so a resumed run with it is close to, not exactly, an uninterrupted one."""

    def learning_slots(self) -> int:
        """Player slots per env that learn: all of them in self-play, slot 0 against fixed co-players."""
        return family_players(self.family) if parse_coplayers(self.coplayers) == ("self",) else 1

    def ppo_config(self) -> PPOConfig:
        return dataclasses.replace(
            self.ppo, num_envs=self.num_envs * self.learning_slots(), total_timesteps=self.total_timesteps, seed=self.seed
        )

    def env_config(self) -> EnvConfig:
        return EnvConfig(num_envs=self.num_envs, num_players=family_players(self.family), max_steps=self.episode_steps(),
                         physics=self.physics(), threads=self.env_threads)

    def run_dir(self) -> Path:
        """Where the run lives: the ``--resume`` directory, else ``runs_dir/name``."""
        return Path(self.resume) if self.resume else self.runs_dir / self.name

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["ppo"] = self.ppo_config().to_json()
        return out


def make_task_sampler(family: str, curriculum: str, config: CurriculumConfig, seed: int) -> CurriculumSampler:
    """The training task sampler of a run: ``curriculum`` over seeds ``0..pool_size-1`` of ``family``'s
    training split, its draws seeded by ``seed`` (the population gives each member its own)."""
    check_family(family)
    if curriculum not in ("uniform", "filter", "plr"):
        raise ValueError(f"curriculum={curriculum!r} is not a known curriculum; known: ['uniform', 'filter', 'plr']")
    return CurriculumSampler(FamilyPool(family, range(config.pool_size)),
                             make_curriculum(curriculum, **config.settings(curriculum)), seed=seed,
                             window=config.window)  # fmt: skip


def build_trainer(cfg: LocalTrainConfig) -> tuple[Trainer, RolloutRunner]:
    """The trainer of ``cfg`` over a fresh ``BatchEnv`` of its family whose tasks come from the run's
    curriculum, and its rollout runner."""
    sampler = make_task_sampler(cfg.family, cfg.curriculum, cfg.curriculum_config, cfg.seed)
    env = BatchEnv(cfg.env_config(), sampler)
    trainer = Trainer(cfg.ppo_config(), env, shaping=cfg.shaping, aux_targets=cfg.ppo.aux_coef > 0,
                      curriculum=sampler, plr_scores=cfg.curriculum == "plr", coplayers=parse_coplayers(cfg.coplayers))  # fmt: skip
    return trainer, trainer.runner


def held_out_tasks(family: str, count: int, seed: int = 12345) -> list:
    """The family's held-out-world tasks of ``count`` seeds from ``seed`` (what ``eval_success`` is over)."""
    sampler = FamilySampler(family, held_out=True)
    return [sampler(seed + i) for i in range(count)]


def evaluate_held_out(policy: Policy, family: str, count: int, env_config: EnvConfig, seed: int = 0,
                      record: int = 0) -> tuple[dict[str, dict[str, float]], list]:
    """``policy`` on each of the family's held-out splits (``held_out_world``, and ``held_out_game`` where the
    family has held-out game structures), ``count`` task seeds each. Returns per split ``success``,
    ``held_fraction``, ``unsafe_per_episode``, ``participation`` (share of player-episodes with any goal
    reward) and ``episodes``, and the recordings (the first ``record`` tasks of the world split). The
    population's summary calls this per member and with the random policy."""
    results, recordings = {}, []
    for split, tasks in held_out_sets(family, count).items():
        rewarded: list[np.ndarray] = []
        hook = lambda r: rewarded.append(r.returns[r.active] > 0)  # noqa: E731
        result, episodes = evaluate_policy(policy, list(tasks), env_config, record=record if split == "held_out_world"
                                           else 0, seed=seed, episode_hooks=[hook])  # fmt: skip
        results[split] = {"success": result.success, "held_fraction": result.held_fraction,
                          "unsafe_per_episode": result.unsafe_per_episode,
                          "participation": float(np.concatenate(rewarded).mean()) if rewarded else 0.0,
                          "episodes": float(result.episodes)}  # fmt: skip
        recordings += episodes
    return results, recordings


def evaluate_trainer(trainer: Trainer, cfg: LocalTrainConfig, record: int = 0) -> tuple[dict[str, dict[str, float]], list]:
    """Goal success of the current policy on both held-out splits of the family (same batch shape as training,
    so the jitted act is reused)."""
    policy = PPOPolicy(trainer.ppo, trainer.state)
    return evaluate_held_out(policy, cfg.family, cfg.eval_tasks, cfg.env_config(), seed=cfg.seed + 1, record=record)


def random_references(cfg: LocalTrainConfig) -> dict[str, float]:
    """Goal success of the uniform random policy on the same held-out tasks as ``evaluate_trainer``, per split:
    the reference a trained agent's success is read against."""
    space = BatchEnv(dataclasses.replace(cfg.env_config(), num_envs=1)).single_action_space
    results, _ = evaluate_held_out(RandomPolicy(space), cfg.family, cfg.eval_tasks, cfg.env_config(), seed=cfg.seed)
    return {split: r["success"] for split, r in results.items()}


def random_reference(cfg: LocalTrainConfig) -> float:
    """The random policy's success on the held-out-world tasks (``random_references`` has both splits)."""
    space = BatchEnv(dataclasses.replace(cfg.env_config(), num_envs=1)).single_action_space
    result, _ = evaluate_policy(RandomPolicy(space), held_out_tasks(cfg.family, cfg.eval_tasks), cfg.env_config(),
                                seed=cfg.seed)  # fmt: skip
    return result.success


def train_local(cfg: LocalTrainConfig, on_update: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, float]:
    """Train (or resume) one agent; returns the final held-out evaluation and training figures."""
    run_dir = cfg.run_dir()
    prepare_run_dir(run_dir, cfg.to_json(), cfg.resume is not None)
    trainer, _ = build_trainer(cfg)
    ckpt = Checkpointer(run_dir / "checkpoints", max_to_keep=3)
    if cfg.resume is not None and ckpt.steps():
        restored = restore_trainer(ckpt, trainer)
        print(f"resumed {run_dir} from update {restored.step}"
              + (f" (skipped unreadable steps {[s for s, _ in restored.skipped]})" if restored.skipped else ""))
    log = RunLog(run_dir)
    total = trainer.cfg.num_updates
    done = int(trainer.state.updates)
    bar = tqdm(total=total, initial=done, desc=f"train {cfg.name}", unit="upd", disable=not cfg.progress)
    recent: list[tuple[float, float, float]] = []  # (return, success, unsafe) of the last learner player-episodes
    last_eval: dict[str, float] = {}
    t0, steps0 = time.perf_counter(), int(trainer.state.env_steps)
    try:
        while int(trainer.state.updates) < total:
            metrics = trainer.iteration()
            update = int(trainer.state.updates)
            recent = (recent + _player_episodes(trainer.pop_episodes()))[-200:]
            steps = int(trainer.state.env_steps)
            sps = (steps - steps0) / max(time.perf_counter() - t0, 1e-9)
            row = dict(metrics, steps_per_second=sps, agent_steps=steps)
            if recent:
                ret, success, unsafe = np.mean(recent, axis=0)
                row.update(train_success=float(success), train_return=float(ret), unsafe_per_episode=float(unsafe))
            if cfg.eval_every and update % cfg.eval_every == 0:
                last_eval = _evaluate_and_record(trainer, cfg, run_dir, update)
                row.update(last_eval)
            log.log(steps, row)
            if update % cfg.checkpoint_every == 0:
                save_trainer(ckpt, trainer, extra={"run": cfg.name})
            if on_update is not None:
                on_update(update, row)
            bar.update(1)
            bar.set_postfix(steps=steps, sps=f"{sps:.0f}", ret=f"{row.get('train_return', float('nan')):.1f}",
                            success=f"{row.get('train_success', float('nan')):.2f}")  # fmt: skip
        if int(trainer.state.updates) % cfg.checkpoint_every:
            save_trainer(ckpt, trainer, extra={"run": cfg.name})
        if not last_eval or cfg.eval_every == 0 or int(trainer.state.updates) % cfg.eval_every:
            last_eval = _evaluate_and_record(trainer, cfg, run_dir, int(trainer.state.updates))
            log.log(int(trainer.state.env_steps), last_eval)
    finally:
        bar.close()
        log.close()
        ckpt.close()
    summary = dict(last_eval, updates=float(trainer.state.updates), env_steps=float(trainer.state.env_steps))
    for split, success in random_references(cfg).items():
        summary[f"random_eval_success_{split}"] = success
    summary["random_eval_success"] = summary["random_eval_success_held_out_world"]
    if family_players(cfg.family) > 1:
        summary.update(kind_figures(PPOPolicy(trainer.ppo, trainer.state, name="agent"), cfg))
    if recent:
        summary["train_success"] = float(np.mean(recent, axis=0)[1])
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def kind_figures(policy: Policy, cfg: LocalTrainConfig) -> dict[str, float]:
    """Multi-player families: ``policy`` and, as the reference, the random policy in every seat beside the
    random policy and the scripted expert, on both held-out splits together, per game kind (win rate,
    success, participation; ``agents.evaluate.seat_figures``). Keys ``<agent|random>/<kind>/vs_<co>/<metric>``."""
    env = BatchEnv(cfg.env_config())
    random = RandomPolicy(env.single_action_space)
    tasks = [t for taskset in held_out_sets(cfg.family, cfg.eval_tasks).values() for t in taskset.tasks]
    out: dict[str, float] = {}
    for name, player in (("agent", policy), ("random", random)):
        for co_name, co in (("random", random), ("scripted", ScriptedExpert())):
            for kind, figures in seat_figures(env, tasks, player, co, seed=cfg.seed + 1).items():
                for metric in ("win_rate", "success", "participation"):
                    out[f"{name}/{kind}/vs_{co_name}/{metric}"] = figures[metric]
    return out


def _player_episodes(records: list[EpisodeRecord]) -> list[tuple[float, float, float]]:
    """(return, success, unsafe steps) of each learner player-episode in ``records``."""
    rows = []
    for r in records:
        m = r.learner_slots
        rows.extend(zip(r.returns[m].tolist(), r.success[m].astype(float).tolist(), r.unsafe[m].astype(float).tolist()))
    return rows


def _evaluate_and_record(trainer: Trainer, cfg: LocalTrainConfig, run_dir: Path, update: int) -> dict[str, float]:
    t0 = time.perf_counter()
    results, episodes = evaluate_trainer(trainer, cfg, record=cfg.record_episodes)
    for i, episode in enumerate(episodes):
        save_episode(episode, run_dir / "episodes" / f"eval_{update:06d}_{i}.npz")
    world = results["held_out_world"]
    out = {"eval_success": world["success"], "eval_held_fraction": world["held_fraction"],
           "eval_unsafe_per_episode": world["unsafe_per_episode"]}  # fmt: skip
    for split, r in results.items():
        for key in ("success", "held_fraction", "participation"):
            out[f"eval_{key}_{split}"] = r[key]
    out["eval_seconds"] = time.perf_counter() - t0  # lets wall-clock curves leave evaluation out of training time
    return out
