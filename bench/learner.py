"""Learner throughput against env throughput, in the same run: which one bounds training.

Run: ``.venv/bin/python bench/learner.py [--family near] [--iterations 8]``. Builds the single-process trainer of
``openland train --local`` with its default config (the real ``BatchEnv``, ``PlayerVecEnv`` with shaping and the
auxiliary target, the default PPO network and batch) and times its iterations split three ways:

- env: ``PlayerVecEnv.step`` (physics, rays, predicates, observations, shaping), in agent-steps/s;
- act: the jitted policy call of each rollout step, in samples/s;
- update: the jitted PPO update (all epochs and minibatches) over the rollout, in rollout samples/s.

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
    ap.add_argument("--family", default="near")
    ap.add_argument("--num-envs", type=int, default=LocalTrainConfig().num_envs)
    ap.add_argument("--iterations", type=int, default=8, help="timed iterations, after one warm-up (compile)")
    args = ap.parse_args()
    cfg = LocalTrainConfig(family=args.family, num_envs=args.num_envs, progress=False)
    trainer, _ = build_trainer(cfg)
    timed = TimedEnv(trainer.env)
    trainer.env = timed  # type: ignore[assignment]
    trainer.iteration()  # compile act, value and update
    collect_s = update_s = 0.0
    timed.seconds = 0.0
    for _ in range(args.iterations):
        t0 = time.perf_counter()
        rollout = trainer.collect()
        t1 = time.perf_counter()
        trainer.state, metrics = trainer.ppo.update(trainer.state, rollout)
        jax.block_until_ready(metrics)
        update_s += time.perf_counter() - t1
        collect_s += t1 - t0
    env_s = timed.seconds
    act_s = collect_s - env_s
    total = collect_s + update_s
    samples = args.iterations * trainer.cfg.num_steps * trainer.cfg.num_envs
    ppo = trainer.cfg
    params = sum(x.size for x in jax.tree_util.tree_leaves(trainer.state.params))
    print(f"family {args.family!r}, device {jax.devices()[0]}, {params} parameters, core {ppo.core!r}; rollout "
          f"{ppo.num_envs} sequences x {ppo.num_steps} steps, update {ppo.update_epochs} epochs x "
          f"{ppo.num_minibatches} minibatches; {args.iterations} iterations after a warm-up")
    print(f"{'part':>8} {'samples/s':>11} {'share of iteration':>19}")
    for name, seconds in (("env", env_s), ("act", act_s), ("update", update_s)):
        print(f"{name:>8} {samples / seconds:11.0f} {seconds / total:19.0%}")
    print(f"{'training':>8} {samples / total:11.0f}   (agent-steps/s of the whole loop)")
    bound = max((("env", env_s), ("learner (act + update)", act_s + update_s)), key=lambda kv: kv[1])[0]
    print(f"update samples/s over env agent-steps/s: {env_s / update_s:.2f}; training is bound by the {bound}")


if __name__ == "__main__":
    main()
