"""Checkpoints: exact resume, walk-back past corrupted steps, clear errors, refusal on mismatch, atomic saves."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from agents.checkpoint import CheckpointError, CheckpointMismatchError, Checkpointer, restore_trainer, save_trainer
from agents.ppo import PPO, PPOConfig
from agents.trainer import make_train
from agents.vecenv import GymVecEnv

CFG = PPOConfig(num_envs=4, num_steps=32, total_timesteps=4 * 32 * 8, core="none", seed=3)


def trainer(cfg: PPOConfig = CFG):
    return make_train(cfg, GymVecEnv("CartPole-v1", cfg.num_envs))


def assert_trees_equal(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_resume_is_bit_identical(tmp_path):
    straight = trainer()
    straight.train(4)

    first = trainer()
    first.train(2)
    with Checkpointer(tmp_path / "ck") as ck:
        path = save_trainer(ck, first, extra={"league": {"win_rate": [0.5, 0.1]}})
        assert path.is_dir() and path.name == "2"
    del first

    sizes = PPO.compile_cache_sizes()
    resumed = trainer()  # fresh state, fresh envs
    with Checkpointer(tmp_path / "ck", create=False) as ck:
        r = restore_trainer(ck, resumed)
    assert r.step == 2 and r.skipped == [] and r.extra == {"league": {"win_rate": [0.5, 0.1]}}
    resumed.train(2)
    assert PPO.compile_cache_sizes() == sizes  # restored arrays do not trigger a recompile

    assert int(resumed.state.updates) == 4
    assert_trees_equal(straight.state, resumed.state)  # params, opt state, stats, key, counters
    assert_trees_equal(straight.runner.checkpoint_tree(), resumed.runner.checkpoint_tree())  # obs, carry, ...
    assert straight.env.get_state() == resumed.env.get_state()
    # The resumed run also saw exactly the same episodes after the restore point.
    assert straight.episode_returns[-len(resumed.episode_returns):] == resumed.episode_returns


def _save_steps(tmp_path: Path, n: int) -> Path:
    t = trainer()
    with Checkpointer(tmp_path / "ck", max_to_keep=None) as ck:
        for _ in range(n):
            t.train(1)
            save_trainer(ck, t)
    return tmp_path / "ck"


def _corrupt(step_dir: Path, how: str) -> None:
    files = sorted(p for p in (step_dir / "state").rglob("*") if p.is_file() and "/d/" in str(p))
    assert files, f"no data files under {step_dir}"
    for f in files:
        data = f.read_bytes()
        if how == "truncate":
            f.write_bytes(data[: len(data) // 3])
        else:  # garble: same length, flipped bytes in the middle
            b = bytearray(data)
            for i in range(len(b) // 2, min(len(b), len(b) // 2 + 16)):
                b[i] ^= 0xFF
            f.write_bytes(bytes(b))


@pytest.mark.parametrize("how", ["truncate", "garble"])
def test_corrupted_newest_falls_back_to_previous(tmp_path, caplog, how):
    d = _save_steps(tmp_path, 2)
    _corrupt(d / "2", how)
    t = trainer()
    with caplog.at_level(logging.WARNING, logger="agents.checkpoint"):
        with Checkpointer(d, create=False) as ck:
            r = restore_trainer(ck, t)
    assert r.step == 1 and [s for s, _ in r.skipped] == [2]
    assert int(t.state.updates) == 1
    assert any("step 2" in rec.getMessage() and "does not restore" in rec.getMessage() for rec in caplog.records)
    assert any("restored checkpoint step 1" in rec.getMessage() for rec in caplog.records)


def test_corrupted_metadata_falls_back(tmp_path):
    d = _save_steps(tmp_path, 2)
    (d / "2" / "meta" / "metadata").write_text("{not json")
    with Checkpointer(d, create=False) as ck:
        r = restore_trainer(ck, trainer())
    assert r.step == 1 and r.skipped[0][0] == 2


def test_all_corrupted_or_missing_raises_naming_path(tmp_path):
    d = _save_steps(tmp_path, 2)
    _corrupt(d / "1", "truncate")
    _corrupt(d / "2", "truncate")
    with Checkpointer(d, create=False) as ck:
        with pytest.raises(CheckpointError, match=str(d)) as e:
            restore_trainer(ck, trainer())
    assert "step 2" in str(e.value) and "step 1" in str(e.value)

    missing = tmp_path / "nope"
    with pytest.raises(CheckpointError, match=str(missing)):
        Checkpointer(missing, create=False)
    with Checkpointer(tmp_path / "empty") as ck:
        with pytest.raises(CheckpointError, match="no completed checkpoint in .*empty"):
            ck.restore({"x": np.zeros(1)}, {})


def test_mismatched_config_or_shape_is_refused(tmp_path):
    d = _save_steps(tmp_path, 1)
    other = dataclasses.replace(CFG, hidden_sizes=(32, 32))
    with Checkpointer(d, create=False) as ck:
        with pytest.raises(CheckpointMismatchError, match=r"hidden_sizes: checkpoint \[64, 64\], current \[32, 32\]"):
            restore_trainer(ck, trainer(other))
        # Same config, different network shape (a different observation size): the param path is named.
        t = trainer()
        tree = t.checkpoint_tree()
        p = tree["train_state"].params
        p["params"]["actor_torso"]["Dense_0"]["kernel"] = np.zeros((5, 64), np.float32)
        with pytest.raises(CheckpointMismatchError, match=r"actor_torso.*Dense_0.*kernel.*\(4, 64\).*\(5, 64\)"):
            ck.restore(tree, CFG.to_json())


_SAVER = r"""
import sys, numpy as np
from agents.checkpoint import Checkpointer
ck = Checkpointer(sys.argv[1], max_to_keep=None)
ck.save(1, {"w": np.full((1000, 1000), 1.0, np.float32)}, {"v": 1})
print("saved1", flush=True)
step = 2
while True:  # keep saving big states until killed
    ck.save(step, {"w": np.full((1000, 1000), float(step), np.float32)}, {"v": 1})
    step += 1
"""


def test_crash_mid_save_leaves_previous_checkpoint(tmp_path):
    d = tmp_path / "ck"
    proc = subprocess.Popen([sys.executable, "-c", _SAVER, str(d)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        assert proc.stdout.readline().strip() == "saved1"
        deadline = time.time() + 60
        while time.time() < deadline:  # kill while a step is still in its temporary directory
            if any("tmp" in p.name for p in d.iterdir()):
                break
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    leftovers = [p.name for p in d.iterdir() if "tmp" in p.name]
    print(f"killed mid-save: temporary dirs left {leftovers}")
    with Checkpointer(d, create=False) as ck:
        steps = ck.steps()
        assert steps and steps[0] == 1
        r = ck.restore({"w": np.zeros((1000, 1000), np.float32)}, {"v": 1})
    # The newest finished step restores with consistent contents; the partial one is invisible.
    assert r.step == steps[-1] and np.all(r.tree["w"] == float(r.step))
    assert all(not n.split(".")[0].isdigit() or int(n.split(".")[0]) not in steps for n in leftovers)


def test_restore_at_another_batch_size_for_evaluation(tmp_path):
    """The network does not depend on num_envs: an evaluation restores a policy at any batch size when the
    batch-sized leaves (the runner's state, reward scaling's running return) are declared as such."""
    first = trainer()
    first.train(1)
    with Checkpointer(tmp_path / "ck") as ck:
        save_trainer(ck, first)
    other = trainer(dataclasses.replace(CFG, num_envs=2))
    with Checkpointer(tmp_path / "ck", create=False) as ck:
        with pytest.raises(CheckpointMismatchError, match="num_envs: checkpoint 4, current 2"):
            ck.restore(other.checkpoint_tree(), other.cfg.to_json())
        with pytest.raises(CheckpointMismatchError, match="runner"):  # shapes, once the config change is allowed
            ck.restore(other.checkpoint_tree(), other.cfg.to_json(), allow_config_changes=("num_envs",))
        r = ck.restore(other.checkpoint_tree(), other.cfg.to_json(), allow_config_changes=("num_envs",),
                       batch_leaves=("['runner']", "['train_state'].ret"))  # fmt: skip
    assert_trees_equal(r.tree["train_state"].params, first.state.params)
    assert_trees_equal(r.tree["train_state"].obs_rms, first.state.obs_rms)
    assert np.asarray(r.tree["train_state"].ret).shape == (2,)
    assert np.asarray(r.tree["runner"]["done"]).shape == (2,)
