"""Curricula against each other: uniform vs the dynamic task filter vs Robust PLR, same family, budget and seeds.

Run: ``.venv/bin/python bench/curriculum.py [--family broad] [--budget 300000] [--seeds 3] [--parallel 1]``.
Trains the single-process trainer of ``openland train --local`` once per (curriculum, seed) with everything
else equal, evaluates it every ``budget / evals`` agent-steps on both held-out splits (``held_out_world``:
training games in unseen worlds; ``held_out_game``: game structures training never samples), and writes under
``--out`` (default ``runs/bench_curriculum/``):

- ``curves.png``: held-out success and participation (share of episodes with any goal reward) against
  agent-steps, per split, the mean over seeds with its spread, and the random policy's success on the same tasks;
- ``results.json`` and ``table.md``: the final figures per curriculum (mean and std over seeds), and the goal
  check of issue 14, as measured: the best curriculum reaches uniform's final held-out success (mean of the two
  splits) in at most half the agent-steps, or beats it by 1.5x at equal steps.

Runs already finished under ``--out`` (a ``summary.json``) are read, not trained again, so a longer bench can be
built up in pieces. Figures are never part of the test verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

SPLITS = ("held_out_world", "held_out_game")
METHODS = ("uniform", "filter", "plr")


def run_config(args: argparse.Namespace, method: str, seed: int) -> Any:
    from agents.local_train import LocalTrainConfig

    num_updates = max(1, args.budget // (args.num_envs * LocalTrainConfig().ppo.num_steps))
    return LocalTrainConfig(name=f"{method}_seed{seed}", runs_dir=Path(args.out) / "runs", family=args.family,
                            curriculum=method, seed=seed, total_timesteps=args.budget, num_envs=args.num_envs,
                            eval_tasks=args.eval_tasks,
                            eval_every=max(1, num_updates // args.evals), checkpoint_every=max(1, num_updates),
                            record_episodes=0, progress=False)  # fmt: skip


def train_one(args: argparse.Namespace, method: str, seed: int) -> dict[str, Any]:
    """Train (or read) one run; returns its evaluation curve and final summary."""
    from agents.local_train import train_local

    cfg = run_config(args, method, seed)
    summary_path = cfg.run_dir() / "summary.json"
    t0 = time.perf_counter()
    if not summary_path.exists():
        if (cfg.run_dir() / "config.json").exists():  # an interrupted run: continue it
            import dataclasses

            cfg = dataclasses.replace(cfg, resume=cfg.run_dir())
        train_local(cfg)
    rows = [json.loads(line) for line in (cfg.run_dir() / "metrics.jsonl").read_text().splitlines()]
    # wall time of the run as logged (first to last update, evaluations included), also for runs read back
    seconds = rows[-1]["time"] - rows[0]["time"] if len(rows) > 1 else time.perf_counter() - t0
    curve = []
    for row in rows:
        if "eval_success_held_out_world" in row:
            curve.append({"agent_steps": row["step"], **{k: v for k, v in row.items() if k.startswith("eval_")}})
    return {"method": method, "seed": seed, "curve": curve, "summary": json.loads(summary_path.read_text()),
            "seconds": seconds}  # fmt: skip


def aggregate(runs: list[dict[str, Any]], key: str) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """(agent-steps, {method: (mean, std) over seeds}) of eval figure ``key``, at the evaluation steps all runs share."""
    steps = sorted(set.intersection(*[{p["agent_steps"] for p in r["curve"]} for r in runs]))
    out = {}
    for method in METHODS:
        rows = [r for r in runs if r["method"] == method]
        if rows:
            values = np.array([[next(p[key] for p in r["curve"] if p["agent_steps"] == s) for s in steps] for r in rows])
            out[method] = (values.mean(axis=0), values.std(axis=0))
    return np.asarray(steps), out


def goal_check(steps: np.ndarray, held_out: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """Issue 14's goal on the mean held-out success over both splits (mean over seeds)."""
    uniform_final = float(held_out["uniform"][0][-1])
    best = max((m for m in held_out if m != "uniform"), key=lambda m: held_out[m][0][-1])
    curve = held_out[best][0]
    reached = np.flatnonzero(curve >= uniform_final)
    steps_to_reach = int(steps[reached[0]]) if len(reached) else None
    ratio = float(curve[-1] / uniform_final) if uniform_final > 0 else float("inf")
    half = steps_to_reach is not None and steps_to_reach <= steps[-1] / 2
    return {"uniform_final": uniform_final, "best": best, "best_final": float(curve[-1]),
            "best_steps_to_uniform_final": steps_to_reach, "budget": int(steps[-1]), "ratio_at_equal_steps": ratio,
            "half_the_steps": bool(half), "beats_by_1_5x": bool(ratio >= 1.5), "met": bool(half or ratio >= 1.5)}  # fmt: skip


def plot(path: Path, runs: list[dict[str, Any]], random_success: dict[str, float], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True)
    for col, split in enumerate(SPLITS):
        for row, figure in enumerate(("success", "participation")):
            ax = axes[row, col]
            steps, curves = aggregate(runs, f"eval_{figure}_{split}")
            for method, (mean, std) in curves.items():
                ax.plot(steps, mean, marker="o", label=method)
                ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
            if figure == "success" and split in random_success:
                ax.axhline(random_success[split], color="grey", linestyle="--", label="random policy")
            ax.set_title(f"{split}: {figure}")
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
            if row == 1:
                ax.set_xlabel("agent-steps")
    axes[0, 0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", default="broad")
    ap.add_argument("--budget", type=int, default=300_000, help="agent-steps per run (the local trainer's default)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per curriculum (0..seeds-1)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--num-envs", type=int, default=64)
    ap.add_argument("--eval-tasks", type=int, default=32, help="tasks per held-out split per evaluation")
    ap.add_argument("--evals", type=int, default=6, help="evaluations per run")
    ap.add_argument("--parallel", type=int, default=1, help="runs trained at once (one process each)")
    ap.add_argument("--out", default="runs/bench_curriculum")
    args = ap.parse_args()
    if "uniform" not in args.methods:
        ap.error("--methods must include uniform: the goal is measured against it")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(m, s) for m in args.methods for s in range(args.seeds)]
    t0 = time.perf_counter()
    if args.parallel > 1:  # one thread of XLA per run, so parallel runs do not fight over cores
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
        with ProcessPoolExecutor(args.parallel, mp_context=get_context("spawn")) as pool:
            runs = list(pool.map(train_one, [args] * len(jobs), *zip(*jobs)))
    else:
        runs = [train_one(args, m, s) for m, s in jobs]
    wall = time.perf_counter() - t0

    from agents.local_train import random_references

    random_success = random_references(run_config(args, "uniform", 0))
    splits = [s for s in SPLITS if all(p.get(f"eval_success_{s}") is not None for r in runs for p in r["curve"])]
    steps, held = aggregate(runs, "eval_success_held_out_world")
    mean_held: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for method in held:
        per_run = [r for r in runs if r["method"] == method]
        values = np.array([[np.mean([p[f"eval_success_{s}"] for s in splits]) for p in r["curve"]
                            if p["agent_steps"] in set(steps.tolist())] for r in per_run])  # fmt: skip
        mean_held[method] = (values.mean(axis=0), values.std(axis=0))
    goal = goal_check(steps, mean_held)
    random_mean = float(np.mean([random_success[s] for s in splits]))
    # reaching uniform's final success says nothing when uniform did not beat the random policy (nothing learned)
    goal["meaningful"] = bool(goal["uniform_final"] > random_mean)

    table = ["| curriculum | seeds | " + " | ".join(f"success {s}" for s in splits) + " | "
             + " | ".join(f"participation {s}" for s in splits) + " | mean held-out success | minutes/run |",
             "|---" * (3 + 2 * len(splits) + 1) + "|"]  # fmt: skip
    final: dict[str, Any] = {}
    for method in held:
        per_run = [r for r in runs if r["method"] == method]
        cells, entry = [], {}
        for figure in ("success", "participation"):
            for s in splits:
                v = np.array([r["curve"][-1][f"eval_{figure}_{s}"] for r in per_run])
                entry[f"{figure}_{s}"] = (float(v.mean()), float(v.std()))
                cells.append(f"{v.mean():.3f} ± {v.std():.3f}")
        entry["mean_held_out_success"] = (float(mean_held[method][0][-1]), float(mean_held[method][1][-1]))
        minutes = np.mean([r["seconds"] for r in per_run]) / 60
        final[method] = entry
        table.append(f"| {method} | {len(per_run)} | " + " | ".join(cells)
                     + f" | {entry['mean_held_out_success'][0]:.3f} ± {entry['mean_held_out_success'][1]:.3f} | {minutes:.1f} |")  # fmt: skip
    table.append("| random policy | - | " + " | ".join(f"{random_success.get(s, float('nan')):.3f}" for s in splits)
                 + " |" + " - |" * len(splits) + f" {np.mean([random_success[s] for s in splits]):.3f} | - |")  # fmt: skip
    status = ("MET" if goal["met"] else "NOT MET") if goal["meaningful"] else "NOT MEANINGFUL: uniform ends at or below the random policy"
    verdict = (f"goal ({status}): uniform's final mean held-out success "
               f"{goal['uniform_final']:.3f}; best curriculum {goal['best']} ends at {goal['best_final']:.3f} "
               f"({goal['ratio_at_equal_steps']:.2f}x at equal steps; needs 1.5x) and reaches uniform's final at "
               f"{goal['best_steps_to_uniform_final'] if goal['best_steps_to_uniform_final'] is not None else 'never'} "
               f"agent-steps of {goal['budget']} (needs at most half); the random policy's mean held-out success is "
               f"{random_mean:.3f}")  # fmt: skip
    machine = f"{os.cpu_count()} CPUs, {args.parallel} run(s) at once, {wall / 60:.1f} min wall for the whole bench"
    header = (f"family {args.family!r}, budget {args.budget} agent-steps per run, seeds 0..{args.seeds - 1}, "
              f"{args.eval_tasks} tasks per held-out split; {machine}")  # fmt: skip
    text = "\n".join([f"# Curricula on {args.family!r}", "", header, "", *table, "", verdict, ""])
    (out / "table.md").write_text(text)
    (out / "results.json").write_text(json.dumps({
        "family": args.family, "budget": args.budget, "seeds": args.seeds, "machine": machine, "final": final,
        "random_success": random_success, "goal": goal, "eval_steps": steps.tolist(),
        "mean_held_out_success_curves": {m: v[0].tolist() for m, v in mean_held.items()},
        "runs": runs}, indent=1))  # fmt: skip
    plot(out / "curves.png", runs, random_success, f"{args.family}: {args.budget} agent-steps, {args.seeds} seeds")
    print(text)
    print(f"wrote {out / 'table.md'}, {out / 'results.json'}, {out / 'curves.png'}")


if __name__ == "__main__":
    main()
