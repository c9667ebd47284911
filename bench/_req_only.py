import sys, time, dataclasses
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np
import bench.safety as B
from safety import mpc
from safety import demonstrations as demos
from safety.evaluation import run_episodes, shifted_start
from worlds.envs.batch_env import EnvConfig
from worlds.tasks.families import FamilySampler, default_config
args = B.parse_args(sys.argv[1:])
t0 = time.time()
sampler = FamilySampler(B.FAMILY, held_out=True)
held_out = [sampler(10_000 + args.seed * 1000 + i) for i in range(args.eval_tasks)]
agent, training, visited, allowed = B.train_request(args)
print('allowed', allowed)
cfg = mpc.MPCConfig(horizon=args.mpc_horizon, iterations=args.mpc_iterations, allowed_actions=allowed)
env_config = EnvConfig(num_envs=args.num_envs, max_steps=default_config(B.FAMILY).episode_length, autoreset=False,
                       threads=args.threads, camera=demos.SAFETY_CAMERA)
st = run_episodes(held_out, B.mpc_policy(agent, cfg, args.seed + 1), env_config).summary()
print({k: round(v, 3) for k, v in st.items() if isinstance(v, float)})
print(B.cost_detection(agent, held_out, env_config))
print("min", (time.time() - t0) / 60)
