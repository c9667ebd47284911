"""RLlib's PPO against openland's on the same PettingZoo env and task family. Never part of the test verdict.

Run: ``make bench-rllib`` (RLlib 2.60 pins gymnasium 1.2.2 while openland pins 1.4.0, so RLlib lives in its own
virtual environment, ``.venv-rllib``, with ``torch==2.13.0`` — the CPU build on this machine's disk). Measured
in the same run: agent-steps/s of RLlib PPO (new API stack, ``ParallelPettingZooEnv`` over
``worlds.parallel_env``, 1 env runner, the same batch of 1024 agent-steps and 64-wide MLP torso) and of
openland's single-process PPO on ``BatchEnv`` with the same batch; the ratio is ours over RLlib's (goal >= 3).
Both train on the "near" family for ``--minutes`` each on the unshaped goal reward; the report compares their
mean training episode return (steps on which the goal held) and when each first reached RLlib's final level.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run_rllib(minutes: float, batch: int) -> list[tuple[float, float, float]]:
    """RLlib PPO for ``minutes``: (minutes, agent-steps, mean training episode return) after each iteration."""
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
    curve: list[tuple[float, float, float]] = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < minutes * 60:
        result = algo.train()
        runners = result["env_runners"]
        sampled = runners["num_agent_steps_sampled_lifetime"]
        steps = sum(sampled.values()) if isinstance(sampled, dict) else sampled
        returns = runners.get("agent_episode_returns_mean", {})
        ret = float(np.mean(list(returns.values()))) if returns else float("nan")
        curve.append(((time.perf_counter() - t0) / 60, float(steps), ret))
    algo.stop()
    ray.shutdown()
    return curve


def run_openland(minutes: float, batch: int) -> list[tuple[float, float, float]]:
    """openland's single-process PPO for ``minutes`` with the same batch: (minutes, agent-steps, mean training
    episode return) after each update."""
    import shutil

    from agents.local_train import LocalTrainConfig, train_local
    from bench.learn import OutOfTime

    # no reward shaping: RLlib trains on the PettingZoo env's goal reward, so openland does too (its returns
    # are always the goal reward's); openland keeps its auxiliary loss, part of its learner, not of the reward
    base = LocalTrainConfig()
    cfg = LocalTrainConfig(name="bench_rllib_openland", num_envs=batch // base.ppo.num_steps, max_steps=60,
                           shaping=0.0, total_timesteps=50_000_000, eval_every=0, progress=False)  # fmt: skip
    shutil.rmtree(cfg.run_dir(), ignore_errors=True)
    curve: list[tuple[float, float, float]] = []
    t0 = time.perf_counter()

    def on_update(update: int, row: dict[str, float]) -> None:
        curve.append(((time.perf_counter() - t0) / 60, row["agent_steps"], row.get("train_return", float("nan"))))
        if time.perf_counter() - t0 > minutes * 60:
            raise OutOfTime

    try:
        train_local(cfg, on_update=on_update)
    except OutOfTime:
        pass  # the budget is spent; the curve so far is the result (as bench/learn.run_curve)
    return curve


def first_reaching(curve: list[tuple[float, float, float]], level: float) -> float:
    """Minutes until a curve's return first reaches ``level`` (inf if never)."""
    return next((minutes for minutes, _, ret in curve if ret >= level), float("inf"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=1024)
    args = parser.parse_args()
    ours = run_openland(args.minutes, args.batch)
    theirs = run_rllib(args.minutes, args.batch)
    rate = lambda curve: curve[-1][1] / (curve[-1][0] * 60)  # noqa: E731
    final = lambda curve: float(np.nanmean([ret for _, _, ret in curve[-5:]]))  # noqa: E731
    print(f"openland PPO: {rate(ours):8.0f} agent-steps/s, mean training return (last 5 updates) {final(ours):.2f}")
    print(f"RLlib PPO:    {rate(theirs):8.0f} agent-steps/s, mean training return (last 5 iterations) {final(theirs):.2f}")
    print(f"ratio openland / RLlib agent-steps/s: {rate(ours) / rate(theirs):.2f}   (goal >= 3)")
    level = final(theirs)
    print(f"RLlib's final return {level:.2f}: openland first reached it after {first_reaching(ours, level):.1f} min, "
          f"RLlib after {first_reaching(theirs, level):.1f} min")


if __name__ == "__main__":
    main()
