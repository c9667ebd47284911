"""Learner throughput on an openland-sized batch: samples/s of the jitted PPO update, against the jitted act
throughput measured in the same run (the machine is shared and noisy, so the ratio is the stable figure).

Batch: Dict obs (rays 32×12, proprio 10, goal 9×7 tokens), LSTM core, MultiDiscrete([3,3,3,2,2]) actions,
N = envs × players sequences of num_steps steps.  Run: ``.venv/bin/python bench/learner.py [--num-envs 64]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gymnasium as gym  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

from agents.ppo import PPO, PPOConfig, Rollout  # noqa: E402


def obs_space() -> gym.spaces.Dict:
    high = np.tile(np.array([3, 1, 4, 5, 6, 5, 6]), (9, 1))
    return gym.spaces.Dict(
        {
            "rays": gym.spaces.Box(-1, 1, (32, 12), np.float32),
            "proprio": gym.spaces.Box(-1, 1, (10,), np.float32),
            "goal": gym.spaces.Box(0, high, (9, 7), np.int32),
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--num-envs", type=int, default=64, help="N = envs × players")
    ap.add_argument("--num-steps", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cfg = PPOConfig(num_envs=args.num_envs, num_steps=args.num_steps, core="lstm")
    ppo = PPO(cfg, obs_space(), gym.spaces.MultiDiscrete([3, 3, 3, 2, 2]))
    state = ppo.init(0)
    rng = np.random.default_rng(0)
    T, N = cfg.num_steps, cfg.num_envs
    sp = obs_space()
    obs = {
        "rays": rng.normal(size=(T, N, 32, 12)).astype(np.float32),
        "proprio": rng.normal(size=(T, N, 10)).astype(np.float32),
        "goal": rng.integers(0, sp["goal"].high + 1, size=(T, N, 9, 7)).astype(np.int32),
    }
    dones = rng.random((T, N)) < 0.01

    # Reference: jitted act over the whole [N] batch, one call per step (what the rollout loop does).
    carry = ppo.initial_carry()
    o0 = jax.tree_util.tree_map(lambda x: x[0], obs)
    jax.block_until_ready(ppo.act(state, o0, carry, dones[0], jax.random.PRNGKey(0)))
    acts, logps, vals = [], [], []
    t0 = time.perf_counter()
    c = carry
    for t in range(T):
        o = jax.tree_util.tree_map(lambda x: x[t], obs)
        c, a, lp, v = ppo.act(state, o, c, dones[t], jax.random.PRNGKey(t))
        acts.append(np.asarray(a)), logps.append(lp), vals.append(v)
    jax.block_until_ready(vals[-1])
    act_time = time.perf_counter() - t0
    act_sps = T * N / act_time

    ro = Rollout(
        obs=obs, dones=dones, actions=np.stack(acts), logprobs=np.stack(logps), values=np.stack(vals),
        rewards=rng.random((T, N)).astype(np.float32), init_carry=carry, last_done=dones[-1],
        last_value=vals[-1],
    )
    t0 = time.perf_counter()
    jax.block_until_ready(ppo.update(state, ro))
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        s, m = ppo.update(state, ro)
        jax.block_until_ready((s, m))
        times.append(time.perf_counter() - t0)
    upd = min(times)
    upd_sps = T * N / upd
    grad_sps = T * N * cfg.update_epochs / upd
    params = sum(x.size for x in jax.tree_util.tree_leaves(state.params))
    print(f"device: {jax.devices()[0]}, params: {params}, batch: N={N} × T={T} = {T * N} samples, "
          f"{cfg.update_epochs} epochs × {cfg.num_minibatches} minibatches")
    print(f"act (reference):   {act_sps:10.0f} samples/s  ({act_time / T * 1e3:.2f} ms per [N] call)")
    print(f"update:            {upd_sps:10.0f} rollout samples/s  ({upd:.2f} s per update, first call incl. "
          f"compile {compile_s:.1f} s)  = {grad_sps:.0f} sample-gradients/s")
    print(f"ratio update/act:  {upd_sps / act_sps:.3f}  (rollout samples learned per sample acted, time-wise)")
    print(f"compiled variants: {PPO.compile_cache_sizes()}")


if __name__ == "__main__":
    main()
