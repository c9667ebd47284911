"""``openland eval RUN``: XLand's evaluation of a run's policies on the held-out tasks of its family.

Every policy of the run (each member, or the local agent) and two fixed references, the scripted expert and
the uniform random policy, plays every held-out task in every player slot against every other one as the
co-player (the agent on one slot, the co-player on all the others). A task's entry for (agent, co-player) is
the agent's own mean per-step goal reward, averaged over the slots it played, never averaged with the slots
its co-players played: a competitive game played against oneself is a contest, not a success.
``curriculum.evaluation`` then normalises per task against the reference set (all of them), and reports
p10/p20/p50 of the normalised scores and participation per game kind and player count, with Pareto fronts.
The two held-out splits (unseen worlds; unseen game structures) are reported separately.

Writes ``RUN/eval/<split>.json`` (the report, as ``EvalReport.to_json``, plus the run's step) and
``RUN/eval/eval.html`` (percentile curves and participation). Bad input (a directory that holds no run, a
corrupted checkpoint, a step that does not exist) is an error naming it, raised before anything is written.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import tyro
from tqdm import tqdm

from agents.evaluate import play_episodes
from agents.policies import Policy, RandomPolicy, ScriptedExpert
from curriculum.evaluation import ALL, EvalReport, EvalTable, evaluate
from curriculum.taskset import held_out_sets
from launch.run_policies import Run, open_run, restore_policy
from worlds.envs.batch_env import BatchEnv
from worlds.tasks.game import TaskSpec, task_id

#: The fixed reference policies every evaluation includes beside the run's own.
REFERENCE_POLICIES: tuple[str, ...] = ("scripted", "random")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluate a run's saved policies as XLand does: held-out tasks, fixed co-players, normalised percentiles."""

    run: tyro.conf.Positional[Path]
    """The run directory (``runs/<name>``) of ``openland train`` or ``openland train --local``."""
    step: int | None = None
    """Checkpoint step to evaluate (default: the newest that restores). Any saved step works."""
    tasks: int = 16
    """Held-out tasks per split (unseen worlds; unseen game structures)."""
    num_envs: int = 16
    """Envs stepped together; any value works (the policy does not depend on it)."""
    max_steps: int | None = None
    """Episode length (default: the run's)."""
    snapshots: bool = False
    """Also evaluate the league's frozen snapshots (population runs)."""
    seed: int = 0
    """Seed of the held-out task draw offset and of every policy's action draws."""
    progress: bool = True
    """Show a progress bar."""


def contestants(run: Run, names: Sequence[str], num_envs: int, step: int | None) -> tuple[dict[str, Policy], dict[str, int]]:
    """Policies by name, the run's (restored at ``step``) and the references ("scripted", "random"), and the
    checkpoint step each of the run's policies was restored from."""
    space = BatchEnv(run.env_config(1)).single_action_space
    out: dict[str, Policy] = {}
    steps: dict[str, int] = {}
    for name in names:
        if name == "scripted":
            out[name] = ScriptedExpert(name="scripted")
        elif name == "random":
            out[name] = RandomPolicy(space, name="random")
        else:
            out[name], steps[name] = restore_policy(run, name, num_envs, step)
    return out, steps


def focal_returns(env: BatchEnv, tasks: list[TaskSpec], agent: Policy, co_player: Policy, seed: int) -> np.ndarray:
    """[tasks] the agent's mean per-step goal reward with ``co_player`` on every other slot, averaged over the
    slots the agent took."""
    P = env.num_players
    total = np.zeros(len(tasks))
    for slot in range(P):
        policies = [co_player] * P
        policies[slot] = agent
        records = play_episodes(policies, tasks, env, seed=seed + slot)
        total += np.array([r.returns[slot] / max(r.length, 1) for r in records])
    return total / P


def eval_table(run: Run, tasks: list[TaskSpec], policies: dict[str, Policy], num_envs: int, seed: int,
               progress: bool = True, desc: str = "eval", max_steps: int | None = None) -> EvalTable:
    """Fill the (agent, task, co-player) table: single-player tasks once per agent, the others per pair."""
    names = list(policies)
    env = BatchEnv(run.env_config(num_envs, max_steps))
    returns = np.zeros((len(names), len(tasks), len(names)))
    pairs = [(i, j) for i in range(len(names)) for j in range(len(names))] if run.players > 1 else [(i, 0) for i in range(len(names))]
    for i, j in tqdm(pairs, desc=desc, disable=not progress):
        returns[i, :, j] = focal_returns(env, tasks, policies[names[i]], policies[names[j]], seed)
    if run.players == 1:
        returns[:] = returns[:, :, :1]
    return EvalTable(
        agents=tuple(names), co_players=tuple(names), task_ids=tuple(task_id(t) for t in tasks),
        kinds=tuple(t.game.kind for t in tasks), num_players=tuple(len(t.world.spawns) for t in tasks),
        returns=np.clip(returns, 0.0, 1.0),
    )  # fmt: skip


def run_eval(cfg: EvalConfig) -> dict[str, EvalReport]:
    """Evaluate and write the reports; returns them by split."""
    run = open_run(cfg.run)
    names = [n for n in run.policy_dirs if cfg.snapshots or "@" not in n]
    policies, steps = contestants(run, names + list(REFERENCE_POLICIES), cfg.num_envs, cfg.step)  # restore first
    reports: dict[str, EvalReport] = {}
    tables: dict[str, EvalTable] = {}
    for split, taskset in held_out_sets(run.family, cfg.tasks, seed=12345 + cfg.seed).items():
        tables[split] = eval_table(run, list(taskset.tasks), policies, cfg.num_envs, cfg.seed, cfg.progress,
                                   f"eval {split}", cfg.max_steps)
        reports[split] = evaluate(tables[split], reference=tuple(policies))
    out = run.path / "eval"
    out.mkdir(exist_ok=True)
    for split, report in reports.items():
        body = json.loads(report.to_json())
        body.update(split=split, family=run.family, steps=steps, task_ids=list(tables[split].task_ids),
                    kinds=list(tables[split].kinds), returns=tables[split].returns.tolist())
        (out / f"{split}.json").write_text(json.dumps(body, indent=1))
    (out / "eval.html").write_text(eval_page(run, reports))
    return reports


def png_base64(fig) -> str:
    """A matplotlib figure as base64 PNG, for a self-contained page."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def eval_page(run: Run, reports: dict[str, EvalReport]) -> str:
    """One static page: per split, each agent's normalised-score percentile curve and a table of figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [f"<h1>Evaluation of {run.path.name}</h1><p>family {run.family}, {run.players} player(s); scores "
             "normalised per task against the reference set (every agent listed); curves over included tasks.</p>"]
    for split, report in reports.items():
        fig, ax = plt.subplots(figsize=(6, 3.2))
        qs = np.linspace(0, 100, 101)
        for i, agent in enumerate(report.agents):
            s = report.normalised.scores[i]
            s = s[~np.isnan(s)]
            if len(s):
                ax.plot(qs, np.percentile(s, qs), label=agent)
        ax.set_xlabel("percentile of tasks")
        ax.set_ylabel("normalised score")
        ax.set_title(split)
        ax.legend(fontsize=7)
        parts.append(f"<h2>{split}</h2><img alt='percentile curves {split}' src='data:image/png;base64,{png_base64(fig)}'>")
        plt.close(fig)
        rows = "".join(
            f"<tr><td>{group}</td><td>{agent}</td><td>{f.p10:.3f}</td><td>{f.p20:.3f}</td><td>{f.p50:.3f}</td>"
            f"<td>{f.participation:.3f}</td><td>{f.tasks}</td><td>{f.excluded}</td></tr>"
            for group, per in report.figures.items() for agent, f in per.items()
        )
        front = ", ".join(report.pareto_front(ALL))
        parts.append(f"<table border=1><tr><th>group</th><th>agent</th><th>p10</th><th>p20</th><th>p50</th>"
                     f"<th>participation</th><th>tasks</th><th>excluded</th></tr>{rows}</table><p>Pareto front: {front}</p>")
    return "<!doctype html><html><head><meta charset='utf-8'><title>openland eval</title></head><body>" + "".join(parts) + "</body></html>"


def print_summary(reports: dict[str, EvalReport]) -> None:
    for split, report in reports.items():
        print(f"{split}: p10 / p20 / p50 / participation (all tasks)")
        for agent in report.agents:
            f = report.figures[ALL][agent]
            print(f"  {agent:12s} {f.p10:6.3f} {f.p20:6.3f} {f.p50:6.3f} {f.participation:6.3f}")
