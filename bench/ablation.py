"""The "Implementation Matters" ablation on openland tasks. Prints a table; never part of the test verdict.

Run: ``.venv/bin/python bench/ablation.py [--family near] [--steps 300000] [--seeds 1]``. Trains the same
single-process run with every code-level optimisation on, with each one off in turn, and with all off, and
prints the final held-out goal success of each (mean over seeds), beside a random-policy reference measured in
the same run. Expect hours for the full table at the default budget: pass ``--only`` to run a subset.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.local_train import LocalTrainConfig, random_reference, train_local  # noqa: E402

#: The switches of PPOConfig that Engstrom et al. (2020) ablate, plus advantage normalisation.
SWITCHES = (
    "clip_vloss", "reward_scaling", "reward_clip", "orthogonal_init", "anneal_lr", "norm_obs", "clip_obs",
    "tanh_activations", "clip_grad_norm", "norm_adv",
)  # fmt: skip


def variants() -> dict[str, dict[str, bool]]:
    out = {"all on": {}}
    out.update({f"no {s}": {s: False} for s in SWITCHES})
    out["all off"] = {s: False for s in SWITCHES}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--family", default="near")
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=None, help="variant names, e.g. 'all on' 'no norm_obs'")
    args = parser.parse_args()
    # the run defaults with every switch on (openland runs turn norm_obs off, see agents.run.default_ppo)
    all_on = dataclasses.replace(LocalTrainConfig().ppo, **{s: True for s in SWITCHES})
    base = LocalTrainConfig(name="bench_ablation", family=args.family, total_timesteps=args.steps, eval_every=0,
                            eval_tasks=64, record_episodes=0, progress=False, ppo=all_on)  # fmt: skip
    print(f"family {args.family!r}, {args.steps} agent-steps per run, {args.seeds} seed(s); "
          f"random policy held-out success {random_reference(base):.2f}")
    print(f"{'variant':<22} {'held-out success':>16} {'minutes':>8}")
    for name, off in variants().items():
        if args.only and name not in args.only:
            continue
        scores, t0 = [], time.perf_counter()
        for seed in range(args.seeds):
            cfg = dataclasses.replace(base, name=f"bench_ablation_{name.replace(' ', '_')}_{seed}", seed=seed,
                                      ppo=dataclasses.replace(base.ppo, **off))  # fmt: skip
            shutil.rmtree(cfg.run_dir(), ignore_errors=True)
            scores.append(train_local(cfg)["eval_success"])
        print(f"{name:<22} {np.mean(scores):>16.2f} {(time.perf_counter() - t0) / 60:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
