"""Multi-agent learning, measured: a population trained on a 2-player family, its snapshots evaluated against
fixed co-players (the uniform random policy and the scripted expert) on the family's held-out tasks, beside
the random policy in the same seat. Never part of the test verdict.

Run: ``.venv/bin/python bench/multiagent.py [--family duo-small] [--iterations 120] [--interval 20]``, or the
single-process trainer: ``bench/multiagent.py --trainer local --family duo-ego --coplayers self,random,scripted
--minutes 8`` (trains until the wall-clock budget or ``--total-timesteps``, then evaluates its newest checkpoint).

Per snapshot (the league freezes a copy of every member every ``--interval`` iterations) and per game kind:
win rate in competitive and mixed games (the agent's return beats its co-players'), goal success in
cooperative games, and participation (share of episodes with any reward), each averaged over both seats.
The reference is the random policy evaluated the same way. Writes ``runs/bench_multiagent/`` (the population
run, ``multiagent.json``, ``multiagent.png``) and prints the table. Goal (issue 15): clearly above random
co-play on every game kind within 30 minutes on 2 cores.

Measured on 2026-12-02 (2 cores shared with other jobs, load 4-10; 48 held-out tasks of both splits, both
seats; cells are win rate | success | participation):

``--trainer local --family duo-ego --coplayers random,scripted --minutes 33`` (610 updates, 625k agent-steps)::

    policy        co-player  competitive      cooperative      mixed
    random        random     0.48|0.45|0.57   0.00|0.03|0.08   0.38|0.44|0.50
    random        scripted   0.25|0.25|0.52   0.00|0.50|0.50   0.25|0.38|0.44
    agent         random     0.68|0.66|0.77   0.00|0.39|0.44   0.50|0.62|0.69
    agent         scripted   0.39|0.36|0.70   0.00|0.89|0.89   0.31|0.44|0.50

The population, ``--family duo-ego --iterations 480 --interval 120 --envs-per-worker 64 --fixed-play 1.0`` (24.6
min in all, 21.3 of them training, 492k agent-steps per member), vs the random co-player::

    member0@120  0.52|0.52|0.68  0.00|0.06|0.19  0.44|0.44|0.62
    member0@240  0.59|0.57|0.70  0.00|0.14|0.25  0.50|0.56|0.62
    member0@360  0.57|0.55|0.75  0.00|0.33|0.39  0.50|0.62|0.69
    member0@480  0.59|0.57|0.75  0.00|0.36|0.44  0.62|0.69|0.75
    member1@480  0.64|0.59|0.75  0.00|0.36|0.44  0.62|0.62|0.81

(the scripted expert beside the random policy, for scale: 0.70 | 0.53 success | 0.69). The population at make
train's size, ``--family duo-ego --iterations 120 --envs-per-worker 64 --fixed-play 0.5 --interval 1000`` (7.8 min,
123k agent-steps per member), was only slightly above random: member0 vs random 0.55|0.61|0.68, 0.00|0.08|0.19,
0.44|0.44|0.56 (the local trainer's training success was 0.47 at that many steps); at ``--iterations 240`` (13.7
min, 246k per member) clearly above random only in competitive games: 0.59|0.57|0.75, 0.00|0.06|0.11,
0.38|0.44|0.56 (member1: 0.57, 0.11 success, 0.44). Without the 2-4 tile
promise (duo-ego's first version) the same trainer's training success stayed at 0.30-0.40 for 235k steps, and
with ``--coplayers self,random,scripted`` for 56k steps the agent was at the random policy's figures; on
duo-small neither self-play (150k steps) nor the population (60 iterations) left random level.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.evaluate import seat_figures  # noqa: E402
from agents.policies import RandomPolicy, ScriptedExpert  # noqa: E402
from agents.run import default_ppo  # noqa: E402
from curriculum.taskset import held_out_sets  # noqa: E402
from launch.run_policies import open_run, restore_policy  # noqa: E402
from population.config import PopulationConfig  # noqa: E402
from population.league import LeagueConfig  # noqa: E402
from worlds.envs.batch_env import BatchEnv  # noqa: E402

OUT = Path("runs") / "bench_multiagent"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="duo-small")
    parser.add_argument("--iterations", type=int, default=120)
    parser.add_argument("--interval", type=int, default=20, help="iterations between frozen snapshots (evaluated)")
    parser.add_argument("--envs-per-worker", type=int, default=32)
    parser.add_argument("--eval-tasks", type=int, default=24, help="held-out tasks per split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-training", action="store_true", help="evaluate an existing run in runs/bench_multiagent")
    parser.add_argument("--trainer", choices=("population", "local"), default="population")
    parser.add_argument("--coplayers", default="self", help="local: LocalTrainConfig.coplayers (self, random, scripted)")
    parser.add_argument("--minutes", type=float, default=8.0, help="local: wall-clock training budget")
    parser.add_argument("--total-timesteps", type=int, default=2_000_000, help="local: agent-step budget")
    parser.add_argument("--num-envs", type=int, default=64, help="local: envs stepped together")
    parser.add_argument("--fixed-play", type=float, default=0.0,
                        help="population: LeagueConfig.fixed_play, share of episodes beside random / scripted co-players")
    parser.add_argument("--ent-coef", type=float, default=None, help="PPO entropy coefficient (default: the runs')")
    args = parser.parse_args()

    t0 = time.perf_counter()
    if args.trainer == "local":
        run_dir = train_local_budget(args)
    else:
        from population.driver import train_population

        ppo = default_ppo() if args.ent_coef is None else dataclasses.replace(default_ppo(), ent_coef=args.ent_coef)
        cfg = PopulationConfig(name="bench_multiagent", family=args.family, members=2, workers=2, iterations=args.iterations,
                               envs_per_worker=args.envs_per_worker, max_steps=80, eval_tasks=8, record_episodes=1,
                               seed=args.seed, league=LeagueConfig(snapshot_interval=args.interval, max_snapshots=1000,
                                                   fixed_play=args.fixed_play),
                               ppo=ppo)  # fmt: skip
        run_dir = cfg.run_dir()
        if not args.skip_training:
            shutil.rmtree(run_dir, ignore_errors=True)
            train_population(cfg)
    train_minutes = (time.perf_counter() - t0) / 60

    run = open_run(run_dir)
    env = BatchEnv(run.env_config(16, 80))
    tasks = [t for split in held_out_sets(run.family, args.eval_tasks).values() for t in split.tasks]
    co_players = {"random": RandomPolicy(env.single_action_space), "scripted": ScriptedExpert()}
    snapshots = sorted((n for n in run.policy_dirs if "@" in n), key=lambda n: (int(n.split("@")[1]), n))
    results: dict[str, dict] = {"random policy": {c: seat_figures(env, tasks, RandomPolicy(env.single_action_space), p, 1)
                                                  for c, p in co_players.items()}}  # fmt: skip
    for name in snapshots + run.members:
        policy, step = restore_policy(run, name, env.num_envs)
        iteration = int(name.split("@")[1]) if "@" in name else step
        results[f"{name} (it {iteration})"] = {c: seat_figures(env, tasks, policy, p, 1) for c, p in co_players.items()}
        results[f"{name} (it {iteration})"]["iteration"] = iteration
    body = {"family": args.family, "trainer": args.trainer, "coplayers": args.coplayers, "fixed_play": args.fixed_play,
            "iterations": args.iterations, "train_minutes": train_minutes,
            "held_out_tasks": len(tasks), "results": results}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "multiagent.json").write_text(json.dumps(body, indent=1))

    kinds = sorted({k for r in results.values() for c in co_players for k in r[c]})
    budget = (f"{args.iterations} iterations, fixed_play {args.fixed_play}" if args.trainer == "population"
              else f"local, coplayers {args.coplayers}, {results[next(reversed(results))]['iteration']} updates")
    print(f"{args.family}: {budget} in {train_minutes:.1f} min; {len(tasks)} held-out tasks, both seats")
    print(f"{'policy':28s} {'co-player':9s} " + " ".join(f"{k[:11]:>11s}" for k in kinds) + "   (win rate | success | participation)")
    for name, per in results.items():
        for c in co_players:
            cells = []
            for k in kinds:
                f = per[c].get(k)
                cells.append("-" if f is None else f"{f['win_rate']:.2f}|{f['success']:.2f}|{f['participation']:.2f}")
            print(f"{name:28s} {c:9s} " + " ".join(f"{x:>11s}" for x in cells))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(kinds), figsize=(4 * len(kinds), 3.2), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        metric = "success" if kind == "cooperative" else "win_rate"
        for c in co_players:
            pts = sorted((per["iteration"], per[c][kind][metric]) for n, per in results.items() if "iteration" in per and kind in per[c])
            if pts:
                ax.plot(*zip(*pts), "o-", label=f"agent vs {c}")
            base = results["random policy"][c].get(kind)
            if base:
                ax.axhline(base[metric], ls="--", lw=1, label=f"random vs {c}")
        ax.set_title(f"{kind}: {metric.replace('_', ' ')}")
        ax.set_xlabel("iteration")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / "multiagent.png", dpi=90)
    print(f"-> {OUT / 'multiagent.json'}, {OUT / 'multiagent.png'}")


class OutOfTime(Exception):
    """Raised from the update callback when the wall-clock budget is spent."""


def train_local_budget(args: argparse.Namespace) -> Path:
    """The single-process trainer on ``args.family`` with ``args.coplayers`` until ``args.minutes`` of wall-clock
    time or ``args.total_timesteps``; checkpoints every 5 updates, so the newest is at most 5 updates old."""
    from agents.local_train import LocalTrainConfig, train_local

    ppo = default_ppo() if args.ent_coef is None else dataclasses.replace(default_ppo(), ent_coef=args.ent_coef)
    cfg = LocalTrainConfig(name="bench_multiagent_local", family=args.family, num_envs=args.num_envs,
                           total_timesteps=args.total_timesteps, checkpoint_every=5, eval_every=0, eval_tasks=8,
                           record_episodes=0, seed=args.seed, coplayers=args.coplayers, ppo=ppo, progress=False)  # fmt: skip
    if args.skip_training:
        return cfg.run_dir()
    shutil.rmtree(cfg.run_dir(), ignore_errors=True)
    t0 = time.perf_counter()

    def on_update(update: int, row: dict[str, float]) -> None:
        if update % 20 == 0:
            print(f"  update {update}: {int(row['agent_steps'])} agent-steps, {row['steps_per_second']:.0f}/s, train "
                  f"success {row.get('train_success', float('nan')):.2f}", flush=True)  # fmt: skip
        if time.perf_counter() - t0 > 60 * args.minutes and update % 5 == 0:
            raise OutOfTime

    try:
        train_local(cfg, on_update=on_update)
    except OutOfTime:
        pass  # the budget is spent; the newest checkpoint is this update's
    return cfg.run_dir()


if __name__ == "__main__":
    main()
