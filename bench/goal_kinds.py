"""Goal success per kind of goal: which parts of a family a policy solves and which it does not.

Run: ``.venv/bin/python bench/goal_kinds.py [--family broad] [--tasks 200] [--runs runs/NAME ...]``.
Plays ``--tasks`` tasks of each split with the random policy, a do-nothing policy (the share of goals that hold
without acting), the privileged scripted expert and the agent of every ``--runs`` directory, and prints goal
success (the goal holds on the last step) per kind of literal: the tasks whose goal is that single literal,
and all tasks whose goal contains it. A literal's kind is its relation, its arguments' kinds (me, object,
floor) and its sign, e.g. ``!see(me,object)``. Figures are never part of the test verdict.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

SPLITS = ("held_out_world", "held_out_game", "train")


def literal_kind(pred: Any) -> str:
    """``[!]relation(a_kind,b_kind)`` with the player as ``me`` (one-player families)."""
    a = "me" if pred.a.kind == "player" else pred.a.kind
    b = "me" if pred.b.kind == "player" else pred.b.kind
    return f"{'!' if pred.negated else ''}{pred.relation}({a},{b})"


def goal_labels(task: Any) -> tuple[str | None, set[str], str]:
    """(kind of the single literal or None, kinds of all literals, shape "options x predicates")."""
    goal = task.game.goals[0]
    kinds = {literal_kind(p) for option in goal.options for p in option}
    single = literal_kind(goal.options[0][0]) if len(goal.options) == 1 and len(goal.options[0]) == 1 else None
    shape = "+".join(str(len(o)) for o in goal.options)
    return single, kinds, shape


class DoNothing:
    """Stands still and never grabs: the goals that hold without acting."""

    name = "noop"

    def bind(self, env: Any, slots: np.ndarray) -> None:
        """Nothing to bind."""

    def initial_carry(self, num_envs: int, num_slots: int) -> None:
        return None

    def act(self, obs: Any, carry: None, done: np.ndarray, key: np.ndarray) -> tuple[None, np.ndarray]:
        from worlds.envs.batch_env import DISCRETE_NVEC

        action = np.zeros((done.shape[0], 1, len(DISCRETE_NVEC)), dtype=np.int64)
        action[..., :3] = 1  # forward, strafe, turn centred on 0
        return None, action


def play(policy: Any, tasks: list, env_config: Any, seed: int) -> list[tuple[bool, float]]:
    """(success, held fraction) of one episode of each task, ``policy`` playing."""
    from agents.rollout import RolloutRunner
    from worlds.envs.batch_env import BatchEnv

    runner = RolloutRunner(BatchEnv(env_config), learning=(), coplayer=policy, seed=seed)
    return [(bool(r.success[0]), float(r.held_fraction[0])) for r in runner.play_tasks(tasks, env_config.max_steps)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="broad")
    parser.add_argument("--tasks", type=int, default=200, help="tasks per split")
    parser.add_argument("--splits", default="held_out_world,held_out_game,train")
    parser.add_argument("--runs", nargs="*", default=[], help="run directories of openland train (--local or not)")
    parser.add_argument("--policies", default="random,noop,scripted")
    parser.add_argument("--num-envs", type=int, default=50)
    parser.add_argument("--max-steps", type=int, default=0, help="episode length; 0: the family's default")
    parser.add_argument("--out", default="", help="write the per-episode results as JSON here")
    args = parser.parse_args()

    from agents.policies import RandomPolicy, ScriptedExpert
    from launch.run_policies import open_run, restore_policy
    from worlds.envs.batch_env import BatchEnv, EnvConfig
    from worlds.tasks.families import default_config, family_task

    family = default_config(args.family)
    env_config = EnvConfig(num_envs=args.num_envs, num_players=1, max_steps=args.max_steps or family.episode_length)
    space = BatchEnv(dataclasses.replace(env_config, num_envs=1)).single_action_space
    policies: dict[str, Any] = {}
    for name in [p for p in args.policies.split(",") if p]:
        policies[name] = {"random": lambda: RandomPolicy(space), "noop": DoNothing, "scripted": ScriptedExpert}[name]()
    for path in args.runs:
        run = open_run(path)
        name = next(n for n in run.members)
        policies[Path(path).name], _ = restore_policy(run, name, args.num_envs)

    splits = [s for s in args.splits.split(",") if s]
    tasks = {s: [family_task(family, 10_000 + i, s) for i in range(args.tasks)] for s in splits}  # type: ignore[arg-type]
    results: dict[str, dict[str, list[tuple[bool, float]]]] = {}
    for name, policy in policies.items():
        results[name] = {}
        for split in splits:
            t0 = time.perf_counter()
            results[name][split] = play(policy, tasks[split], env_config, seed=1)
            ok = np.mean([s for s, _ in results[name][split]])
            print(f"{name:>12} {split:>15}: success {ok:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)

    names = list(policies)
    for split in splits:
        rows: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
        for name in names:
            for task, (ok, _) in zip(tasks[split], results[name][split]):
                single, kinds, shape = goal_labels(task)
                rows["all"][name].append(ok)
                rows[f"shape {shape}"][name].append(ok)
                if single is not None:
                    rows[f"only {single}"][name].append(ok)
                for k in kinds:
                    rows[f"has {k}"][name].append(ok)
                if any(k.startswith("!") for k in kinds):
                    rows["has a negation"][name].append(ok)
        print(f"\n### {split} ({args.tasks} tasks, {env_config.max_steps} steps)\n")
        print("| goal | n | " + " | ".join(names) + " |")
        print("|---|---|" + "---|" * len(names))
        order = sorted(rows, key=lambda k: (k != "all", not k.startswith("shape"), not k.startswith("only"), k))
        for key in order:
            n = len(rows[key][names[0]])
            print(f"| {key} | {n} | " + " | ".join(f"{np.mean(rows[key][m]):.2f}" for m in names) + " |")
    if args.out:
        Path(args.out).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
