import sys, time, pickle, dataclasses
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np, jax, jax.numpy as jnp
import bench.safety as B
from safety import mpc
from safety import demonstrations as demos
from safety.evaluation import run_episodes
from safety.request import MPCAgent
from safety.simulator import decode_progress
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.tasks.families import FamilySampler, default_config
import argparse
p = argparse.ArgumentParser(); p.add_argument("--cache", default="/tmp/req_agent.pkl"); p.add_argument("--retrain", action="store_true")
p.add_argument("--cost-weight", type=float, default=10.0); p.add_argument("--progress-weight", type=float, default=1.0)
p.add_argument("--horizon", type=int, default=10); p.add_argument("--iters", type=int, default=20); p.add_argument("--tasks", type=int, default=16)
p.add_argument("--restarts", type=int, default=4); p.add_argument("--lr", type=float, default=0.1)
a, rest = p.parse_known_args()
args = B.parse_args(rest)
if a.retrain or not Path(a.cache).exists():
    agent, training, visited, allowed = B.train_request(args)
    pickle.dump((agent, allowed), open(a.cache, "wb"))
agent, allowed = pickle.load(open(a.cache, "rb"))
sim, model = agent
sampler = FamilySampler(B.FAMILY, held_out=True)
tasks = [sampler(10_000 + i) for i in range(a.tasks)]
cfg = mpc.MPCConfig(horizon=a.horizon, iterations=a.iters, allowed_actions=allowed, cost_weight=a.cost_weight,
                    progress_weight=a.progress_weight, restarts=a.restarts, learning_rate=a.lr)
env = BatchEnv(EnvConfig(num_envs=len(tasks), max_steps=120, autoreset=False, camera=demos.SAFETY_CAMERA))
obs, _ = env.load_tasks(tasks)
ag = MPCAgent(sim, model, cfg, len(tasks))
pots, dec, haz, acts, succ = [], [], [], [], np.zeros(len(tasks), bool)
t0 = time.time()
for t in range(120):
    act = ag.act(env, obs)
    acts.append(act[:, 0])
    obs, r, term, trunc, info = env.step(act)
    pots.append(info["potential"][:, 0]); haz.append(info["unsafe"][:, 0]); succ |= r[:, 0] > 0
    if "final" in info: break
pots = np.array(pots); haz = np.array(haz); acts = np.array(acts)
print("success", succ.mean(), "unsafe/ep", haz.sum(0).mean(), "time", time.time() - t0)
print("potential start", np.round(pots[0], 1)); print("potential end  ", np.round(pots[-1], 1)); print("min potential", np.round(pots.max(0), 1))
for k, name in enumerate(["fwd", "strafe", "turn", "jump", "grab"]):
    print(name, np.bincount(acts[..., k].ravel(), minlength=3) / acts[..., k].size)
