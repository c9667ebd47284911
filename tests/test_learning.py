"""PPO learns on openland: a few minutes of the real single-process trainer on "go near the <colour> <shape>"
raise held-out goal success well above the random policy's on the same tasks."""

from __future__ import annotations

import pytest

from agents.local_train import LocalTrainConfig, train_local


@pytest.mark.slow
@pytest.mark.timeout(900)
# a group of its own: one xdist worker runs it while the other runs the Ray tests (their actors ask for half a
# core each); in the Ray group it made that group the suite's critical path
@pytest.mark.xdist_group("learning")
def test_goal_success_rises_well_above_random(tmp_path):
    cfg = LocalTrainConfig(name="learn", runs_dir=tmp_path, family="near", total_timesteps=100 * 64 * 16,
                           checkpoint_every=1000, eval_every=0, eval_tasks=128, record_episodes=0, progress=False)  # fmt: skip
    summary = train_local(cfg)
    trained, random = summary["eval_success"], summary["random_eval_success"]  # same 128 held-out tasks
    assert trained >= max(2.0 * random, random + 0.08), (trained, random)
