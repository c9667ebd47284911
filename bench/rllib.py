"""RLlib's PPO against openland's on the same PettingZoo env and task family. Never part of the test verdict.

Run: ``make bench-rllib`` (RLlib 2.60 pins gymnasium 1.2.2 while openland pins 1.4.0, so RLlib lives in its own
virtual environment, ``.venv-rllib``, with ``torch==2.13.0`` — the CPU build on this machine's disk). Measured
in the same run: agent-steps/s of RLlib PPO (new API stack, ``ParallelPettingZooEnv`` over
``worlds.parallel_env``, 1 env runner, the same batch of 1024 agent-steps and 64-wide MLP torso) and of
openland's single-process PPO on ``BatchEnv`` with the same batch; the ratio is ours over RLlib's (goal >= 3).
Both train on the "near" family for ``--minutes`` each and report their last training goal success.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_rllib(minutes: float, batch: int) -> tuple[float, float]:
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.connectors.env_to_module import FlattenObservations
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.tune.registry import register_env

    from worlds import parallel_env
    from worlds.families import FamilySampler

    register_env("openland_near", lambda _: ParallelPettingZooEnv(parallel_env(num_players=1, max_steps=60,
                                                                                task_sampler=FamilySampler("near"))))  # fmt: skip
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    config = (
        PPOConfig()
        .environment("openland_near")
        .env_runners(num_env_runners=1, num_envs_per_env_runner=1,
                     env_to_module_connector=lambda env, spaces=None, device=None: FlattenObservations(multi_agent=True))
        .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent_id, episode, **kw: "shared")
        .training(train_batch_size_per_learner=batch, minibatch_size=batch // 4, num_epochs=4, lr=1e-3)
        .rl_module(model_config={"fcnet_hiddens": [64, 64]})
    )  # fmt: skip
    algo = config.build_algo()
    steps, t0, success = 0, time.perf_counter(), float("nan")
    while time.perf_counter() - t0 < minutes * 60:
        result = algo.train()
        runners = result["env_runners"]
        sampled = runners["num_agent_steps_sampled_lifetime"]
        steps = sum(sampled.values()) if isinstance(sampled, dict) else sampled
        returns = runners.get("agent_episode_returns_mean", {})
        success = float(np.mean(list(returns.values()))) if returns else float("nan")
    rate = steps / (time.perf_counter() - t0)
    algo.stop()
    ray.shutdown()
    return rate, success


def run_openland(minutes: float, batch: int) -> tuple[float, float]:
    from agents.local_train import LocalTrainConfig
    from bench.learn import run_curve

    # no reward shaping: RLlib trains on the PettingZoo env's goal reward, so openland does too
    cfg = LocalTrainConfig(name="bench_rllib_openland", num_envs=batch // 64, max_steps=60, shaping=0.0,
                           total_timesteps=50_000_000, eval_every=10, eval_tasks=16, progress=False)  # fmt: skip
    import shutil

    shutil.rmtree(cfg.run_dir(), ignore_errors=True)
    t0 = time.perf_counter()
    curve = run_curve(cfg, minutes)
    steps = curve[-1]["steps"] if curve else 0
    return steps / (time.perf_counter() - t0), (curve[-1]["success"] if curve else float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=1024)
    args = parser.parse_args()
    ours, ours_success = run_openland(args.minutes, args.batch)
    theirs, their_return = run_rllib(args.minutes, args.batch)
    print(f"openland PPO: {ours:8.0f} agent-steps/s (held-out success {ours_success:.2f})")
    print(f"RLlib PPO:    {theirs:8.0f} agent-steps/s (mean episode return {their_return:.2f})")
    print(f"ratio openland / RLlib: {ours / theirs:.2f}   (goal >= 3)")


if __name__ == "__main__":
    main()
