"""Agent-steps per second of ``openland train`` with 1 and 2 rollout workers against the single-process
trainer, measured in the same run on the same family and batch shapes. Never part of the test verdict.

Run: ``.venv/bin/python bench/population.py [--iterations 12]``. Steps/s are taken from each run's own
``metrics.jsonl`` after its first iterations (so JAX compilation is not counted).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.local_train import LocalTrainConfig, train_local  # noqa: E402
from population.driver import PopulationConfig, train_population  # noqa: E402

RUNS = Path("runs")


def steady_rate(run_dir: Path, skip: int = 3) -> float:
    """Agent-steps per second between the ``skip``-th logged row and the last (compilation excluded)."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "agent_steps" in r]
    first, last = rows[min(skip, len(rows) - 2)], rows[-1]
    return (last["agent_steps"] - first["agent_steps"]) / (last["time"] - first["time"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--envs", type=int, default=LocalTrainConfig().num_envs)
    args = parser.parse_args()
    results = {}
    local = LocalTrainConfig(name="bench_pop_local", num_envs=args.envs, total_timesteps=args.envs * LocalTrainConfig().ppo.num_steps * args.iterations,
                             eval_every=0, eval_tasks=4, record_episodes=0, progress=False)  # fmt: skip
    shutil.rmtree(local.run_dir(), ignore_errors=True)
    train_local(local)
    results["single process (1 member)"] = steady_rate(local.run_dir())
    for workers in (1, 2):
        cfg = PopulationConfig(name=f"bench_pop_{workers}", members=2, workers=workers, envs_per_worker=args.envs,
                               iterations=args.iterations, eval_tasks=4, record_episodes=0, progress=False)  # fmt: skip
        shutil.rmtree(cfg.run_dir(), ignore_errors=True)
        train_population(cfg)
        results[f"openland train, 2 members, {workers} worker(s)"] = steady_rate(cfg.run_dir())
    reference = results["single process (1 member)"]
    print(f"{'run':<40} {'agent-steps/s':>14} {'vs single process':>18}")
    for name, rate in results.items():
        print(f"{name:<40} {rate:>14.0f} {rate / reference:>18.2f}")


if __name__ == "__main__":
    main()
