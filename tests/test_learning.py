"""PPO learns on openland: a few minutes of the real single-process trainer on "go near the <colour> <shape>"
raise held-out goal success well above the random policy's on the same tasks."""

from __future__ import annotations

import numpy as np
import pytest

from agents.evaluate import evaluate_policy
from agents.local_train import LocalTrainConfig, held_out_tasks, train_local


@pytest.mark.slow
@pytest.mark.timeout(900)
# in the Ray tests' group: run beside them, this CPU-heavy run would starve their actors (both need a core)
@pytest.mark.xdist_group("ray")
def test_goal_success_rises_well_above_random(tmp_path):
    cfg = LocalTrainConfig(name="learn", runs_dir=tmp_path, family="near", total_timesteps=100 * 64 * 16,
                           checkpoint_every=1000, eval_every=0, eval_tasks=128, record_episodes=0, progress=False)  # fmt: skip
    summary = train_local(cfg)
    rng = np.random.default_rng(0)
    random_policy = lambda obs, done: rng.integers(0, [3, 3, 3, 2, 2], size=(len(done), 5))  # noqa: E731
    random_result, _ = evaluate_policy(random_policy, held_out_tasks(cfg.family, cfg.eval_tasks), cfg.env_config())
    trained = summary["eval_success"]
    assert trained >= max(2.0 * random_result.success, random_result.success + 0.08), (trained, random_result.success)
