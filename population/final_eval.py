"""The held-out evaluation that ends ``openland train``: every member on both held-out splits of its family
(unseen worlds; unseen game structures), beside the uniform random policy on the same tasks.

One-player families report goal success. Multi-player families put each member in every seat against fixed
co-players (the random policy and the scripted expert) and report, per game kind, the member's own win rate,
success and participation: a member is never scored by playing itself and averaging the seats, which made a
1 v 1 competitive game score 0.5 whatever the policy. ``openland eval`` adds the normalised percentiles.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluate import evaluate_policy, seat_figures
from agents.policies import Policy, PPOPolicy, RandomPolicy, ScriptedExpert
from agents.ppo import PPO, PPOConfig, TrainState
from curriculum.taskset import held_out_sets
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.episodes.recording import save_episode


def final_evaluation(family: str, eval_tasks: int, states: list[TrainState], env_config: EnvConfig,
                     ppo_cfg: PPOConfig, run_dir: Path, record: int = 0, seed: int = 0) -> dict[str, Any]:
    """Summary figures (flat keys, as ``summary.json`` holds them); recorded episodes go to ``run_dir/episodes``."""
    probe = BatchEnv(dataclasses.replace(env_config, num_envs=1))
    space = probe.single_action_space
    ppo = PPO(dataclasses.replace(ppo_cfg, num_envs=1), probe.single_observation_space, space)
    members: dict[str, Policy] = {f"member{m}": PPOPolicy(ppo, s, name=f"member{m}") for m, s in enumerate(states)}
    random = RandomPolicy(space, name="random")
    out: dict[str, Any] = {}
    splits = held_out_sets(family, eval_tasks)
    first = next(iter(splits))
    for split, taskset in splits.items():
        tasks = list(taskset.tasks)
        if env_config.num_players == 1:
            for m, (name, policy) in enumerate(members.items()):
                result, episodes = evaluate_policy(policy, tasks, env_config, record=record if split == first else 0,
                                                   seed=seed + m)  # fmt: skip
                for i, episode in enumerate(episodes):
                    save_episode(episode, run_dir / "episodes" / f"{name}_eval_{i}.npz")
                out[f"{name}/eval_success_{split}"] = result.success
                out[f"{name}/eval_unsafe_per_episode_{split}"] = result.unsafe_per_episode
            out[f"random_eval_success_{split}"] = evaluate_policy(random, tasks, env_config, seed=seed)[0].success
            continue
        env = BatchEnv(env_config)
        co_players = {"random": random, "scripted": ScriptedExpert(name="scripted")}
        for name, policy in [*members.items(), ("random", random)]:
            for co_name, co in co_players.items():
                for kind, figs in seat_figures(env, tasks, policy, co, seed).items():
                    for metric in ("win_rate", "success", "participation"):
                        out[f"{name}/{split}/{kind}/vs_{co_name}/{metric}"] = figs[metric]
        if split == first and record:
            for name, policy in members.items():  # recordings to watch (every seat this member's own policy)
                _, episodes = evaluate_policy(policy, tasks[:record], env_config, record=record, seed=seed)
                for i, episode in enumerate(episodes):
                    save_episode(episode, run_dir / "episodes" / f"{name}_eval_{i}.npz")
    # headline figures: held-out success on unseen worlds (one player), or success against the random co-player
    for name in [*members, "random"]:
        if env_config.num_players == 1:
            key = f"{name}/eval_success_{first}" if name != "random" else f"random_eval_success_{first}"
        else:
            vals = [v for k, v in out.items() if k.startswith(f"{name}/{first}/") and k.endswith("/vs_random/success")]
            out[f"{name}/eval_success_vs_random"] = float(np.mean(vals)) if vals else 0.0
            key = f"{name}/eval_success_vs_random"
        out[f"{name}/eval_success" if name != "random" else "random_eval_success"] = out[key]
    out["best_eval_success"] = max(out[f"{name}/eval_success"] for name in members)
    return out
