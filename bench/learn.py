"""Learning curve: held-out goal success against wall-clock time and env steps. Never part of the test verdict.

Run: ``.venv/bin/python bench/learn.py [--family near] [--minutes 30]``. Trains the single-process trainer on
"go near the <colour> <shape>" tasks in generated worlds and evaluates on the family's held-out tasks every
``--eval-every`` updates (the evaluations' time is not counted as training time). Prints the curve with a random-policy reference measured in the same run (goal: 80%
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


def run_curve(cfg: LocalTrainConfig, minutes: float, verbose: bool = True) -> list[dict[str, float]]:
    """Train until ``minutes`` of training time or the step budget. One row per update: ``minutes`` of training
    (wall-clock time less the held-out evaluations, so that evaluating more often costs no training time),
    ``wall_minutes``, agent-``steps``, ``train_return``, and ``success``/``held`` on updates that evaluated."""
    curve: list[dict[str, float]] = []
    t0, eval_seconds = time.perf_counter(), 0.0

    def on_update(update: int, row: dict[str, float]) -> None:
        nonlocal eval_seconds
        eval_seconds += row.get("eval_seconds", 0.0)
        wall = time.perf_counter() - t0
        point = {"minutes": (wall - eval_seconds) / 60, "wall_minutes": wall / 60, "steps": row["agent_steps"],
                 "update": update, "train_return": row.get("train_return", float("nan"))}  # fmt: skip
        if "eval_success" in row:
            point.update(success=row["eval_success"], held=row["eval_held_fraction"])
            if verbose:
                print(f"  {point['minutes']:6.1f} min  {int(point['steps']):>9} steps  held-out success "
                      f"{point['success']:.2f}", flush=True)  # fmt: skip
        curve.append(point)
        if point["minutes"] > minutes:
            raise OutOfTime

    try:
        train_local(cfg, on_update=on_update)
    except OutOfTime:
        pass  # the budget is spent; the curve so far is the result
    return curve


def evaluations(curve: list[dict[str, float]]) -> list[dict[str, float]]:
    """The rows of a :func:`run_curve` curve that carry a held-out evaluation."""
    return [point for point in curve if "success" in point]


def plot(curves: dict[str, list[dict[str, float]]], reference: float, path: Path, title: str) -> None:
    """Held-out success against training minutes, one line per labelled curve, with the random policy's level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, curve in curves.items():
        ax.plot([c["minutes"] for c in curve], [c["success"] for c in curve], marker="o", label=label)
    ax.axhline(reference, color="grey", linestyle="--", label="random policy")
    ax.set_xlabel("training minutes (evaluations not counted)")
    ax.set_ylabel("held-out goal success")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
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
    curve = evaluations(run_curve(cfg, args.minutes))
    best = max((c["success"] for c in curve), default=0.0)
    hit = next((c for c in curve if c["success"] >= 0.8), None)
    print(f"best held-out success {best:.2f} vs random {reference:.2f}; "
          + (f"80% reached after {hit['minutes']:.1f} min of training ({hit['wall_minutes']:.1f} min with the "
             f"evaluations), {int(hit['steps'])} steps" if hit else "80% not reached"))
    plot({"PPO": curve}, reference, cfg.run_dir() / "curve.png", f"{args.family}: held-out goal success")
    print(f"curve: {cfg.run_dir() / 'curve.png'}")


if __name__ == "__main__":
    main()
