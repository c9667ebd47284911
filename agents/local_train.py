"""``openland train --local``: one agent, one process, no Ray — PPO on ``BatchEnv`` over a task family.

Writes ``runs/<name>/``: ``config.json``, orbax checkpoints (full state: learner, runner, envs), TensorBoard
events (``tb/``), ``metrics.jsonl`` (one line per update), held-out evaluations and recorded episodes
(``episodes/``). With ``--resume`` it continues from the newest checkpoint that restores, exactly as if it had
never stopped. Every player slot of every env is one PPO sequence, so multi-player families are self-play
with shared parameters.
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
from agents.evaluate import EvalResult, evaluate_policy
from agents.policies import PPOPolicy, RandomPolicy
from agents.ppo import PPOConfig
from agents.rollout import EpisodeRecord, RolloutRunner
from agents.run import RunConfig, RunLog, prepare_run_dir
from agents.trainer import Trainer
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

    def ppo_config(self) -> PPOConfig:
        players = family_players(self.family)
        return dataclasses.replace(
            self.ppo, num_envs=self.num_envs * players, total_timesteps=self.total_timesteps, seed=self.seed
        )

    def env_config(self) -> EnvConfig:
        return EnvConfig(num_envs=self.num_envs, num_players=family_players(self.family), max_steps=self.max_steps,
                         physics=self.physics(), threads=self.env_threads)

    def run_dir(self) -> Path:
        """Where the run lives: the ``--resume`` directory, else ``runs_dir/name``."""
        return Path(self.resume) if self.resume else self.runs_dir / self.name

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["ppo"] = self.ppo_config().to_json()
        return out


def build_trainer(cfg: LocalTrainConfig) -> tuple[Trainer, RolloutRunner]:
    """The trainer of ``cfg`` over a fresh ``BatchEnv`` of its family, and its rollout runner."""
    check_family(cfg.family)
    env = BatchEnv(cfg.env_config(), FamilySampler(cfg.family))
    trainer = Trainer(cfg.ppo_config(), env, shaping=cfg.shaping, aux_targets=cfg.ppo.aux_coef > 0)
    return trainer, trainer.runner


def held_out_tasks(family: str, count: int, seed: int = 12345) -> list:
    sampler = FamilySampler(family, held_out=True)
    return [sampler(seed + i) for i in range(count)]


def evaluate_trainer(trainer: Trainer, cfg: LocalTrainConfig, record: int = 0) -> tuple[EvalResult, list]:
    """Goal success of the current policy on the family's held-out tasks (same batch shape as training, so the
    jitted act is reused)."""
    policy = PPOPolicy(trainer.ppo, trainer.state)
    return evaluate_policy(policy, held_out_tasks(cfg.family, cfg.eval_tasks), cfg.env_config(), record=record,
                           seed=cfg.seed + 1)  # fmt: skip


def random_reference(cfg: LocalTrainConfig) -> float:
    """Goal success of the uniform random policy on the same held-out tasks as ``evaluate_trainer``: the
    reference a trained agent's success is read against (in the summary, the benchmarks and the tests)."""
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
    summary = dict(last_eval, updates=float(trainer.state.updates), env_steps=float(trainer.state.env_steps),
                   random_eval_success=random_reference(cfg))  # fmt: skip
    if recent:
        summary["train_success"] = float(np.mean(recent, axis=0)[1])
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _player_episodes(records: list[EpisodeRecord]) -> list[tuple[float, float, float]]:
    """(return, success, unsafe steps) of each learner player-episode in ``records``."""
    rows = []
    for r in records:
        m = r.learner_slots
        rows.extend(zip(r.returns[m].tolist(), r.success[m].astype(float).tolist(), r.unsafe[m].astype(float).tolist()))
    return rows


def _evaluate_and_record(trainer: Trainer, cfg: LocalTrainConfig, run_dir: Path, update: int) -> dict[str, float]:
    t0 = time.perf_counter()
    result, episodes = evaluate_trainer(trainer, cfg, record=cfg.record_episodes)
    for i, episode in enumerate(episodes):
        save_episode(episode, run_dir / "episodes" / f"eval_{update:06d}_{i}.npz")
    return {
        "eval_success": result.success,
        "eval_held_fraction": result.held_fraction,
        "eval_unsafe_per_episode": result.unsafe_per_episode,
        "eval_seconds": time.perf_counter() - t0,  # lets wall-clock curves leave evaluation out of training time
    }
