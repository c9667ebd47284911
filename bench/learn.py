"""Learning curve: held-out goal success against wall-clock time and env steps. Never part of the test verdict.

Run: ``.venv/bin/python bench/learn.py [--family near] [--minutes 30]``. Trains the single-process trainer on
"go near the <colour> <shape>" tasks in generated worlds and evaluates on the family's held-out tasks every
``--eval-every`` updates. Prints the curve with a random-policy reference measured in the same run (goal: 80%
held-out success within 30 minutes on this machine), and writes ``runs/<name>/curve.png``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.local_train import LocalTrainConfig, random_reference, train_local  # noqa: E402


class OutOfTime(Exception):
    """Raised from the update callback when the wall-clock budget is spent: ends the run early."""


def run_curve(cfg: LocalTrainConfig, minutes: float) -> list[dict[str, float]]:
    """Train until ``minutes`` of wall time or the step budget; the held-out evaluations along the way."""
    curve: list[dict[str, float]] = []
    t0 = time.perf_counter()

    def on_update(update: int, row: dict[str, float]) -> None:
        if "eval_success" in row:
            curve.append({"minutes": (time.perf_counter() - t0) / 60, "steps": row.get("env_steps", float("nan")),
                          "update": update, "success": row["eval_success"], "held": row["eval_held_fraction"]})  # fmt: skip
            print(f"  {curve[-1]['minutes']:6.1f} min  {int(curve[-1]['steps']):>9} steps  held-out success "
                  f"{curve[-1]['success']:.2f}", flush=True)  # fmt: skip
        if time.perf_counter() - t0 > minutes * 60:
            raise OutOfTime

    try:
        train_local(cfg, on_update=on_update)
    except OutOfTime:
        pass  # the budget is spent; the curve so far is the result
    return curve


def plot(curve: list[dict[str, float]], reference: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([c["minutes"] for c in curve], [c["success"] for c in curve], marker="o", label="PPO (held-out)")
    ax.axhline(reference, color="grey", linestyle="--", label="random policy")
    ax.set_xlabel("wall-clock minutes")
    ax.set_ylabel("goal success")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--family", default="near")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--num-envs", type=int, default=LocalTrainConfig().num_envs)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--name", default="bench_learn")
    args = parser.parse_args()
    cfg = LocalTrainConfig(name=args.name, family=args.family, num_envs=args.num_envs, total_timesteps=50_000_000,
                           eval_every=args.eval_every, eval_tasks=64, progress=False)  # fmt: skip
    shutil.rmtree(cfg.run_dir(), ignore_errors=True)
    reference = random_reference(cfg)
    print(f"family {args.family!r}: random policy held-out success {reference:.2f} (same tasks, same run)")
    curve = run_curve(cfg, args.minutes)
    best = max((c["success"] for c in curve), default=0.0)
    hit = next((c for c in curve if c["success"] >= 0.8), None)
    print(f"best held-out success {best:.2f} vs random {reference:.2f}; "
          + (f"80% reached after {hit['minutes']:.1f} min, {int(hit['steps'])} steps" if hit else "80% not reached"))
    plot(curve, reference, cfg.run_dir() / "curve.png", f"{args.family}: held-out goal success")
    print(f"curve: {cfg.run_dir() / 'curve.png'}")


if __name__ == "__main__":
    main()
