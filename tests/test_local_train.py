"""The single-process trainer through its real entry points: run directory, crash and exact resume, refusals."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np
import pytest

from agents.checkpoint import Checkpointer
from agents.local_train import LocalTrainConfig, build_trainer, train_local
from agents.ppo import PPOConfig

ROOT = Path(__file__).resolve().parents[1]
TINY_PPO = PPOConfig(num_steps=16, num_minibatches=2, update_epochs=2, core="lstm", core_size=32, hidden_sizes=(32,),
                     embed_dim=32)  # fmt: skip


def tiny(tmp_path: Path, name: str, **kw) -> LocalTrainConfig:
    base = LocalTrainConfig(name=name, runs_dir=tmp_path, num_envs=4, max_steps=20, total_timesteps=4 * 16 * 4,
                            checkpoint_every=1, eval_every=2, eval_tasks=4, record_episodes=1, progress=False,
                            ppo=TINY_PPO)  # fmt: skip
    return dataclasses.replace(base, **kw)


class Crash(Exception):
    """Raised from the update callback to stop a run the way a crash would, after its checkpoints."""


def straight_and_resumed(make_cfg: Callable[..., LocalTrainConfig]) -> tuple[tuple[dict, dict], tuple[Any, Any]]:
    """Train ``make_cfg("straight")`` through; train ``make_cfg("crashed")``, crash it after update 2, resume it;
    return both runs' summaries and final checkpoints (``Restored``, at update 4)."""
    straight = train_local(make_cfg("straight"))

    def crash_after_two(update, row):
        if update == 2:
            raise Crash

    with pytest.raises(Crash):
        train_local(make_cfg("crashed"), on_update=crash_after_two)
    crashed_dir = make_cfg("crashed").run_dir()
    resumed = train_local(make_cfg("crashed", resume=crashed_dir))
    assert resumed["updates"] == straight["updates"] == 4

    def final(name: str):
        cfg = make_cfg(name)
        trainer, _ = build_trainer(cfg)
        with Checkpointer(cfg.run_dir() / "checkpoints", create=False) as ckpt:
            restored = ckpt.restore(trainer.checkpoint_tree(), trainer.cfg.to_json())
        assert restored.step == 4
        return restored

    return (straight, resumed), (final("straight"), final("crashed"))


def test_crash_and_resume_continue_exactly(tmp_path):
    _, (a, b) = straight_and_resumed(lambda name, **kw: tiny(tmp_path, name, **kw))

    def final_params(name: str):
        return (a if name == "straight" else b).tree["train_state"].params

    for a, b in zip(jax.tree_util.tree_leaves(final_params("straight")), jax.tree_util.tree_leaves(final_params("crashed"))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    run = tmp_path / "straight"
    assert {"config.json", "metrics.jsonl", "summary.json", "checkpoints", "tb", "episodes"} <= {p.name for p in run.iterdir()}
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert len(list((run / "episodes").glob("*.npz"))) >= 1
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("eval_success" in r for r in rows) and all("loss" in r or "eval_success" in r for r in rows)


def test_refuses_to_overwrite_or_resume_the_wrong_run(tmp_path):
    cfg = tiny(tmp_path, "once", total_timesteps=4 * 16)
    train_local(cfg)
    with pytest.raises(FileExistsError, match="pass --resume"):
        train_local(cfg)
    with pytest.raises(ValueError, match=r"fields \['num_envs', 'ppo'\] differ"):
        train_local(dataclasses.replace(cfg, num_envs=2, resume=cfg.run_dir()))
    with pytest.raises(FileNotFoundError, match="no run in"):
        train_local(dataclasses.replace(cfg, resume=tmp_path / "nothing"))


def test_cli_entry_point_runs_local_training(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "launch.cli", "train", "--local", "--name", "cli", "--runs-dir", str(tmp_path),
         "--num-envs", "4", "--max-steps", "10", "--total-timesteps", "64", "--eval-tasks", "4", "--no-progress",
         # the shapes of TINY_PPO, so the persistent compilation cache serves this process
         "--ppo.num-steps", "16", "--ppo.num-minibatches", "2", "--ppo.update-epochs", "2", "--ppo.core-size", "32",
         "--ppo.hidden-sizes", "32", "--ppo.embed-dim", "32"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert summary["updates"] == 1 and 0.0 <= summary["eval_success"] <= 1.0
