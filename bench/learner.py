"""Learner throughput against env throughput, in the same run: which one bounds training.

Run: ``.venv/bin/python bench/learner.py [--family near] [--curriculum plr] [--iterations 8]``. Builds the
single-process trainer of ``openland train --local`` with its default config (the real ``BatchEnv`` drawing tasks
from the curriculum, the rollout runner with shaping and the auxiliary target, the default PPO network and
batch) and times its iterations split four ways:

- env: ``BatchEnv.step`` (physics, rays, predicates, observations, auto-resets), in agent-steps/s, less the
  curriculum's draws made inside it;
- act: the rest of the rollout (the jitted policy call of each step, shaping, episode bookkeeping), in samples/s;
- update: the jitted PPO update (all epochs and minibatches) over the rollout, in rollout samples/s;
- curriculum: the curriculum's bookkeeping: its task draws at env resets plus feeding it the rollout's finished
  episodes (statistics, PLR scores and buffer). The issue's budget for it is 5% of an iteration.

The share of each in an iteration says what bounds training on this machine; figures are never part of the test
verdict (the machine is shared and noisy, so the shares and ratios are the stable figures).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from agents.local_train import LocalTrainConfig, build_trainer  # noqa: E402


class Timed:
    """Wraps a callable and adds up the wall time spent in it."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.seconds = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = self.fn(*args, **kwargs)
        self.seconds += time.perf_counter() - t0
        return out


class TimedEnv:
    """Forwards to the trainer's env and adds up the wall time spent in ``step``."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    def step(self, actions: np.ndarray) -> Any:
        t0 = time.perf_counter()
        out = self.env.step(actions)
        self.seconds += time.perf_counter() - t0
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--family", default=LocalTrainConfig().family)
    ap.add_argument("--curriculum", default="plr", choices=["uniform", "filter", "plr"],
                    help="plr (default): the curriculum with the most bookkeeping (scores, buffer)")
    ap.add_argument("--num-envs", type=int, default=LocalTrainConfig().num_envs)
    ap.add_argument("--iterations", type=int, default=8, help="timed iterations, after one warm-up (compile)")
    args = ap.parse_args()
    cfg = LocalTrainConfig(family=args.family, curriculum=args.curriculum, num_envs=args.num_envs, progress=False)
    trainer, runner = build_trainer(cfg)
    timed = TimedEnv(runner.env)
    runner.env = timed  # type: ignore[assignment]
    draws = Timed(timed.env.task_sampler)
    timed.env.task_sampler = draws
    feed = trainer.feed
    observe = Timed(feed.after_rollout)
    feed.after_rollout = observe  # type: ignore[method-assign]
    for _ in range(3):  # compile act, value and update; fill the curriculum past its first draws
        trainer.iteration()
    collect_s = update_s = 0.0
    timed.seconds = draws.seconds = observe.seconds = 0.0
    for _ in range(args.iterations):
        t0 = time.perf_counter()
        rollout = trainer.collect()
        t1 = time.perf_counter()
        trainer.state, metrics = trainer.ppo.update(trainer.state, rollout)
        jax.block_until_ready(metrics)
        update_s += time.perf_counter() - t1
        collect_s += t1 - t0
    curriculum_s = draws.seconds + observe.seconds
    env_s = timed.seconds - draws.seconds
    act_s = collect_s - timed.seconds - observe.seconds
    total = collect_s + update_s
    samples = args.iterations * trainer.cfg.num_steps * trainer.cfg.num_envs
    ppo = trainer.cfg
    params = sum(x.size for x in jax.tree_util.tree_leaves(trainer.state.params))
    print(f"family {args.family!r}, curriculum {args.curriculum!r}, device {jax.devices()[0]}, {params} parameters, core {ppo.core!r}; rollout "
          f"{ppo.num_envs} sequences x {ppo.num_steps} steps, update {ppo.update_epochs} epochs x "
          f"{ppo.num_minibatches} minibatches; {args.iterations} iterations after a warm-up")
    print(f"{'part':>8} {'samples/s':>11} {'share of iteration':>19}")
    for name, seconds in (("env", env_s), ("act", act_s), ("update", update_s)):
        print(f"{name:>8} {samples / seconds:11.0f} {seconds / total:19.0%}")
    share = curriculum_s / total
    print(f"curriculum bookkeeping {curriculum_s * 1e3 / args.iterations:.1f} ms per iteration (draws "
          f"{draws.seconds * 1e3 / args.iterations:.1f} ms, feeding episodes {observe.seconds * 1e3 / args.iterations:.1f} "
          f"ms): {share:.2%} of an iteration ({'within' if share <= 0.05 else 'OVER'} the 5% budget)")
    print(f"{'training':>8} {samples / total:11.0f}   (agent-steps/s of the whole loop)")
    bound = max((("env", env_s), ("learner (act + update)", act_s + update_s)), key=lambda kv: kv[1])[0]
    print(f"update samples/s over env agent-steps/s: {env_s / update_s:.2f}; training is bound by the {bound}")


if __name__ == "__main__":
    main()
