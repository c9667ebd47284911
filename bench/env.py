"""BatchEnv throughput against the physics it drives. Prints figures; never part of the test verdict.

Run: ``.venv/bin/python bench/env.py [--players 2] [--seconds 3] [--threads 1]``. For 1, 16 and 64 envs it
measures, in the same run and on the same compiled worlds:

- agent-steps/s of ``BatchEnv.step`` with observations (rays, proprio, goal), predicates, rewards, auto-reset,
  on ``--threads`` physics threads;
- raw physics: ``mj_step`` with the same substeps on the same models, in a plain single-threaded loop over one
  ``MjData`` per world, started from the env's own states (the reference);
- the ratio env/raw (goal: >= 0.5, the env costs at most as much as the physics), and where the env's time goes.

Env and reference alternate in short rounds and the ratio is the median of the rounds' ratios: this machine's
speed drifts by up to 1.7x within seconds (shared), and a ratio of two rates measured at different times would
carry that drift.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

import mujoco
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worlds.envs.batch_env import BatchEnv, EnvConfig  # noqa: E402
from worlds.sim.world_batch import STATE_SPEC  # noqa: E402


def measure(fn, seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` of wall time (after one warm-up call)."""
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def bench(num_envs: int, players: int, seconds: float, threads: int, rounds: int = 6) -> dict[str, float]:
    """Env and raw-physics rates, interleaved over ``rounds`` rounds (this machine's speed drifts within
    seconds); the ratio is the median of the per-round ratios."""
    env = BatchEnv(EnvConfig(num_envs=num_envs, num_players=players, max_steps=250, threads=threads))
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, env.single_action_space.nvec, size=(num_envs, players, 5)) for _ in range(64)]
    k = [0]

    def env_step() -> None:
        env.step(actions[k[0] % 64])
        k[0] += 1

    substeps = env.config.physics.substeps
    datas = [mujoco.MjData(m) for m in env.models]  # the same worlds, stepped on their own

    def raw_rate(seconds: float, window: int = 25) -> float:
        """mj_step rate from the env's current states, re-synchronised (untimed) every ``window`` steps so that
        the reference physics stays that of the env's worlds (avatars walking, not long fallen off)."""
        steps, busy = 0, 0.0
        while busy < seconds:
            for e, d in enumerate(datas):
                mujoco.mj_setState(env.models[e], d, env.world.sim.state[e], STATE_SPEC)
            t0 = time.perf_counter()
            for _ in range(window):
                for m, d in zip(env.models, datas):
                    mujoco.mj_step(m, d, nstep=substeps)
            busy += time.perf_counter() - t0
            steps += window
        return steps / busy

    env_rates, raw_rates = [], []
    for _ in range(rounds):
        env_rates.append(measure(env_step, seconds / rounds))
        raw_rates.append(raw_rate(seconds / rounds))
    ratios = [a / b for a, b in zip(env_rates, raw_rates)]
    agents = num_envs * players
    return {"env": float(np.median(env_rates)) * agents, "raw": float(np.median(raw_rates)) * agents,
            "ratio": float(np.median(ratios)), "spread": float(np.ptp(ratios))}  # fmt: skip


def where_time_goes(num_envs: int, players: int) -> None:
    env = BatchEnv(EnvConfig(num_envs=num_envs, num_players=players))
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, env.single_action_space.nvec, size=(num_envs, players, 5)) for _ in range(50)]
    profile = cProfile.Profile()
    profile.enable()
    for a in actions:
        env.step(a)
    profile.disable()
    print(f"\nwhere the time goes ({num_envs} envs x {players} players, 50 steps, top functions by own time):")
    pstats.Stats(profile).sort_stats("tottime").print_stats(8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--players", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=1, help="EnvConfig.threads of the env (the reference: 1)")
    parser.add_argument("--profile", action="store_true", help="also print a profile of the step")
    args = parser.parse_args()
    print(f"mujoco {mujoco.__version__}; {args.players} players per env; env on {args.threads} thread(s); ratio = "
          f"env steps/s over raw single-threaded mj_step (same models, same substeps) steps/s, in the same run")
    print(f"{'envs':>5} {'env agent-steps/s':>18} {'raw physics agent-steps/s':>26} {'ratio':>7} {'spread':>7}")
    for n in (1, 16, 64):
        r = bench(n, args.players, args.seconds, args.threads)
        print(f"{n:>5} {r['env']:>18.0f} {r['raw']:>26.0f} {r['ratio']:>7.2f} {r['spread']:>7.2f}")
    if args.profile:
        where_time_goes(16, args.players)


if __name__ == "__main__":
    main()
