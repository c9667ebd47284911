"""RLlib's PPO against openland's on the same PettingZoo env and task family. Never part of the test verdict.

Run: ``make bench-rllib`` (RLlib 2.60 pins gymnasium 1.2.2 while openland pins 1.4.0, so RLlib lives in its own
virtual environment, ``.venv-rllib``, with ``torch==2.13.0`` — the CPU build on this machine's disk).

Both sides train on the "near" family for ``--minutes`` of training time each, on the unshaped goal reward,
with the same batch (1024 agent-steps per update, 4 epochs of 4 minibatches), the same PPO settings
(``agents.run.default_ppo``: lr, gamma, lambda, clip, entropy and value coefficients, gradient clipping) and a
64-wide network: RLlib's new API stack, ``ParallelPettingZooEnv`` over ``worlds.parallel_env``, 1 env runner,
a 64x64 MLP; openland's single-process PPO on ``BatchEnv``. Every ``--eval-every`` updates (the same number of
agent-steps on both sides) each is evaluated on the same 64 held-out tasks, one stochastic-policy episode each,
with goal success = the goal holds on the episode's last step (``agents.evaluate``); RLlib evaluates through its
own evaluation env runner and reads success from the env's final info. Evaluation time is not counted as
training time on either side.

With ``--parallel`` (what ``make bench-rllib`` runs) the two sides run at the same time, each pinned to one
core with one compute thread (the fair split of a 2-core machine); otherwise one after the other, each with the
whole machine. Run it on an otherwise idle machine: Ray starts its workers at niceness 15, so anything else
running takes RLlib's env runner's core before it takes ours.

Reported: agent-steps per second and their ratio (goal >= 3), held-out success along training (a plot), and
when each side first reached RLlib's best held-out success (goal: openland sooner).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FAMILY = "near"
MAX_STEPS = 60
OUT_DIR = Path("runs/bench_rllib")


def run_rllib(minutes: float, batch: int, eval_every: int, eval_tasks: int) -> list[dict[str, float]]:
    """RLlib PPO for ``minutes`` of training time: one row per iteration (training ``minutes``, agent-``steps``,
    ``train_return``), with held-out ``success`` every ``eval_every`` iterations."""
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.callbacks.callbacks import RLlibCallback
    from ray.rllib.connectors.env_to_module import FlattenObservations
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.tune.registry import register_env

    from agents.local_train import held_out_tasks
    from agents.run import default_ppo
    from worlds import parallel_env
    from worlds.tasks.families import FamilySampler

    def make_env(env_config: dict) -> ParallelPettingZooEnv:
        if env_config.get("held_out"):
            # one pass over the held-out tasks per evaluation of exactly len(tasks) episodes, whatever the seed
            tasks = itertools.cycle(held_out_tasks(FAMILY, eval_tasks))
            sampler = lambda seed: next(tasks)  # noqa: E731
        else:
            sampler = FamilySampler(FAMILY)
        return ParallelPettingZooEnv(parallel_env(num_players=1, max_steps=MAX_STEPS, task_sampler=sampler))

    class GoalSuccess(RLlibCallback):
        """Logs each finished episode's goal success from the env's final info (as ``agents.evaluate``)."""

        def on_episode_end(self, *, episode, metrics_logger=None, **kwargs) -> None:  # noqa: ANN001
            for info in episode.get_infos(-1).values():
                if "episode" in info:
                    metrics_logger.log_value("goal_success", float(info["episode"]["success"]), reduce="mean",
                                             window=eval_tasks)  # fmt: skip

    register_env("openland_near", make_env)
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1")
    ours = default_ppo()
    config = (
        PPOConfig()
        .environment("openland_near")
        .env_runners(num_env_runners=1, num_envs_per_env_runner=1,
                     env_to_module_connector=lambda env, spaces=None, device=None: FlattenObservations(multi_agent=True))
        .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent_id, episode, **kw: "shared")
        .training(train_batch_size_per_learner=batch, minibatch_size=batch // ours.num_minibatches,
                  num_epochs=ours.update_epochs, lr=ours.lr, gamma=ours.gamma, lambda_=ours.gae_lambda,
                  clip_param=ours.clip_coef, entropy_coeff=ours.ent_coef, vf_loss_coeff=ours.vf_coef,
                  grad_clip=ours.max_grad_norm, use_kl_loss=False)
        .rl_module(model_config={"fcnet_hiddens": [64, 64]})
        .callbacks(GoalSuccess)
        # evaluation only when called (interval never reached), on a local env runner over the held-out tasks
        .evaluation(evaluation_interval=10**9, evaluation_num_env_runners=0, evaluation_duration=eval_tasks,
                    evaluation_duration_unit="episodes", evaluation_config={"env_config": {"held_out": True}})
    )  # fmt: skip
    algo = config.build_algo()
    curve: list[dict[str, float]] = []
    t0, eval_seconds = time.perf_counter(), 0.0
    try:
        for iteration in itertools.count(1):
            result = algo.train()
            runners = result["env_runners"]
            sampled = runners["num_agent_steps_sampled_lifetime"]
            returns = runners.get("agent_episode_returns_mean", {})
            point = {"steps": float(sum(sampled.values()) if isinstance(sampled, dict) else sampled),
                     "train_return": float(np.mean(list(returns.values()))) if returns else float("nan")}  # fmt: skip
            if iteration % eval_every == 0:
                start = time.perf_counter()
                evaluation = algo.evaluate()["env_runners"]
                eval_seconds += time.perf_counter() - start
                point["success"] = float(evaluation["goal_success"])
                point["eval_episodes"] = float(evaluation.get("num_episodes", float("nan")))
            point["minutes"] = (time.perf_counter() - t0 - eval_seconds) / 60
            curve.append(point)
            _print_point("RLlib", point)
            if point["minutes"] > minutes:
                break
    finally:
        algo.stop()
        ray.shutdown()
    return curve


def run_openland(minutes: float, batch: int, eval_every: int, eval_tasks: int) -> list[dict[str, float]]:
    """openland's single-process PPO for ``minutes`` of training time with the same batch and evaluations."""
    import shutil

    from agents.local_train import LocalTrainConfig
    from bench.learn import run_curve

    # no reward shaping: RLlib trains on the PettingZoo env's goal reward, so openland does too (its returns
    # are always the goal reward's); openland keeps its auxiliary loss, part of its learner, not of the reward
    base = LocalTrainConfig()
    cfg = LocalTrainConfig(name="bench_rllib_openland", family=FAMILY, num_envs=batch // base.ppo.num_steps,
                           max_steps=MAX_STEPS, shaping=0.0, total_timesteps=50_000_000, eval_every=eval_every,
                           eval_tasks=eval_tasks, record_episodes=0, progress=False)  # fmt: skip
    shutil.rmtree(cfg.run_dir(), ignore_errors=True)
    curve = run_curve(cfg, minutes, verbose=False)
    for point in curve:
        if "success" in point:
            _print_point("openland", point)
    return curve


def _print_point(side: str, point: dict[str, float]) -> None:
    if "success" in point:
        print(f"  {side:8s} {point['minutes']:6.1f} min  {int(point['steps']):>9} agent-steps  training return "
              f"{point['train_return']:5.2f}  held-out success {point['success']:.2f}"
              + (f" ({int(point['eval_episodes'])} episodes)" if "eval_episodes" in point else ""), flush=True)  # fmt: skip


def random_success(eval_tasks: int) -> float:
    """The uniform random policy on the same held-out tasks: the floor both sides are read against."""
    from agents.local_train import LocalTrainConfig, random_reference

    return random_reference(LocalTrainConfig(family=FAMILY, max_steps=MAX_STEPS, eval_tasks=eval_tasks))


def first_reaching(curve: list[dict[str, float]], level: float) -> float:
    """Training minutes until a curve's held-out success first reaches ``level`` (inf if never)."""
    return next((p["minutes"] for p in curve if p.get("success", -1.0) >= level), float("inf"))


def _run_side(args: argparse.Namespace) -> None:
    """One side in this process (a child of :func:`main`): train, then write the curve as JSON."""
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # Ray's and JAX's processes and threads inherit it
    run = run_openland if args.side == "openland" else run_rllib
    curve = run(args.minutes, args.batch, args.eval_every, args.eval_tasks)
    Path(args.out).write_text(json.dumps(curve))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0, help="training minutes per side")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--eval-every", type=int, default=12, help="updates (RLlib: iterations) between evaluations")
    parser.add_argument("--eval-tasks", type=int, default=64)
    parser.add_argument("--parallel", action="store_true", help="both sides at once, one core each")
    parser.add_argument("--side", choices=["openland", "rllib"], help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        return _run_side(args)

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    common = [sys.executable, __file__, "--minutes", str(args.minutes), "--batch", str(args.batch),
              "--eval-every", str(args.eval_every), "--eval-tasks", str(args.eval_tasks)]  # fmt: skip
    env = dict(os.environ)
    if args.parallel:
        env.update(XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
                   OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # fmt: skip
    jobs = []
    for cpu, side in enumerate(["openland", "rllib"]):
        command = common + ["--side", side, "--out", str(OUT_DIR / f"{side}.json")]
        if args.parallel:
            command += ["--cpu", str(cpu)]
        jobs.append(subprocess.Popen(command, env=env))
        if not args.parallel:
            jobs[-1].wait()
    for job in jobs:
        if job.wait() != 0:
            raise SystemExit(f"bench/rllib.py: a side failed (exit status {job.returncode})")
    ours, theirs = (json.loads((OUT_DIR / f"{side}.json").read_text()) for side in ["openland", "rllib"])
    report(ours, theirs, random_success(args.eval_tasks), args.parallel)


def report(ours: list[dict[str, float]], theirs: list[dict[str, float]], random: float, parallel: bool) -> None:
    from bench.learn import evaluations, plot

    rate = lambda curve: curve[-1]["steps"] / (curve[-1]["minutes"] * 60)  # noqa: E731
    split = "one core each, at the same time" if parallel else "one after the other, the whole machine each"
    print(f"\n{split}; random policy held-out success {random:.2f}")
    for side, curve in [("openland PPO", ours), ("RLlib PPO", theirs)]:
        evals = evaluations(curve)
        if not evals:
            raise SystemExit(f"{side}: no evaluation within the budget; give it more --minutes or less --eval-every")
        print(f"{side:13s} {rate(curve):7.0f} agent-steps/s, {int(curve[-1]['steps']):>8} agent-steps in "
              f"{curve[-1]['minutes']:.1f} min; held-out success final {evals[-1]['success']:.2f}, "
              f"best {max(p['success'] for p in evals):.2f}")  # fmt: skip
    print(f"ratio openland / RLlib agent-steps/s: {rate(ours) / rate(theirs):.2f}   (goal >= 3)")
    level = max(p["success"] for p in evaluations(theirs))
    print(f"RLlib's best held-out success {level:.2f}: openland first reached it after "
          f"{first_reaching(ours, level):.1f} training minutes, RLlib after {first_reaching(theirs, level):.1f}")
    plot({"openland PPO": evaluations(ours), "RLlib PPO": evaluations(theirs)}, random, OUT_DIR / "curves.png",
         f"{FAMILY}: held-out goal success, same batch and tasks")  # fmt: skip
    print(f"curves: {OUT_DIR / 'curves.png'}")


if __name__ == "__main__":
    main()
