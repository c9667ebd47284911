"""``openland probe RUN``: the run's policies on the hand-authored probe tasks (``curriculum.probes``), beside
the uniform random policy and the scripted expert in the same slots against the same co-players.

Each probe fixes which slot the evaluated policy plays (and any teammate slot it also plays), what plays the
other slots (scripted, random) and its score rule (goal held on the last step, or the share of steps it held).
A probe is played ``episodes`` times (one env each, different action draws). Writes
``RUN/probes/probes.json`` and ``RUN/probes/probes.html`` (a bar chart and the table); prints the table.
Bad input (a directory that holds no run, an unknown probe name, a corrupted checkpoint) is an error naming it,
raised before anything is written.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tyro
from tqdm import tqdm

from agents.evaluate import play_episodes
from agents.policies import Policy, RandomPolicy, ScriptedExpert
from curriculum.probes import Probe, get_probe, probe_names
from launch.eval_run import contestants, png_base64
from launch.run_policies import Run, RunError, open_run
from worlds.envs.batch_env import BatchEnv


@dataclass(frozen=True)
class ProbeConfig:
    """Play the probe tasks with a run's policies, the random policy and the scripted expert side by side."""

    run: tyro.conf.Positional[Path]
    """The run directory (``runs/<name>``) of ``openland train`` or ``openland train --local``."""
    probes: tuple[str, ...] = ()
    """Probe names (default: every registered probe)."""
    episodes: int = 4
    """Episodes per probe and policy (one env each; the policies' action draws differ)."""
    step: int | None = None
    """Checkpoint step (default: the newest that restores)."""
    seed: int = 0
    """Seed of the policies' action draws."""
    progress: bool = True
    """Show a progress bar."""


def check_fill(run: Run, probe: Probe, policy_name: str) -> None:
    """A probe the run's policy cannot play (its observation or action space differs from the run's) is an
    error naming both. Player count alone never is: observations are per player and goals are relative."""
    run_env = BatchEnv(run.env_config(1))
    probe_env = BatchEnv(dataclasses.replace(run.env_config(1), num_players=probe.num_players))
    for what in ("single_observation_space", "single_action_space"):
        if getattr(run_env, what) != getattr(probe_env, what):
            raise RunError(f"probe {probe.name!r} ({probe.num_players} players) cannot be filled by {policy_name!r} of "
                           f"{run.path}: {what} differs ({getattr(probe_env, what)} vs {getattr(run_env, what)})")


def probe_score(probe: Probe, agent: Policy, episodes: int, max_steps: int, run: Run, seed: int) -> float:
    """The probe's score of ``agent`` on its slots (its co-players as the probe says), over ``episodes``."""
    space = BatchEnv(run.env_config(1)).single_action_space
    co = {"scripted": ScriptedExpert(name="scripted"), "random": RandomPolicy(space, name="random"), "agent": agent}
    policies = [co[name] for name in probe.policy_of_slot]
    env_config = dataclasses.replace(run.env_config(episodes, max_steps), num_players=probe.num_players)
    records = play_episodes(policies, [probe.task] * episodes, env_config, seed=seed)
    slot = probe.agent_player
    values = [float(r.success[slot]) if probe.score == "success" else float(r.held_fraction[slot]) for r in records]
    return float(np.mean(values))


def run_probes(cfg: ProbeConfig, max_steps: int = 250) -> dict[str, dict[str, float]]:
    """Score every (probe, policy) pair and write the results; returns probe -> policy -> score."""
    run = open_run(cfg.run)
    names = list(cfg.probes) or list(probe_names())
    chosen = [get_probe(n) for n in names]  # unknown names fail here, before any work
    members = run.members
    for probe in chosen:
        check_fill(run, probe, members[0])
    policies, steps = contestants(run, members, num_envs=cfg.episodes, step=cfg.step)
    space = BatchEnv(run.env_config(1)).single_action_space
    policies["random"] = RandomPolicy(space, name="random")
    policies["scripted"] = ScriptedExpert(name="scripted")
    results: dict[str, dict[str, float]] = {}
    pairs = [(p, n) for p in chosen for n in policies]
    for probe, name in tqdm(pairs, desc="probes", disable=not cfg.progress):
        results.setdefault(probe.name, {})[name] = probe_score(probe, policies[name], cfg.episodes, max_steps, run, cfg.seed)
    out = run.path / "probes"
    out.mkdir(exist_ok=True)
    body = {"run": str(run.path), "steps": steps, "episodes": cfg.episodes, "max_steps": max_steps,
            "rules": {p.name: p.score for p in chosen}, "results": results}
    (out / "probes.json").write_text(json.dumps(body, indent=1))
    (out / "probes.html").write_text(probe_page(run, chosen, results))
    return results


def format_table(results: dict[str, dict[str, float]]) -> str:
    policies = list(next(iter(results.values())))
    lines = [f"{'probe':22s}" + "".join(f"{p:>12s}" for p in policies)]
    for probe, row in results.items():
        lines.append(f"{probe:22s}" + "".join(f"{row[p]:12.3f}" for p in policies))
    return "\n".join(lines)


def probe_page(run: Run, probes: list[Probe], results: dict[str, dict[str, float]]) -> str:
    """A static page: grouped bars per probe (the run's policies, random, scripted) and the table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    policies = list(next(iter(results.values())))
    fig, ax = plt.subplots(figsize=(8, 3.4))
    x = np.arange(len(probes))
    width = 0.8 / len(policies)
    for i, name in enumerate(policies):
        ax.bar(x + i * width, [results[p.name][name] for p in probes], width, label=name)
    ax.set_xticks(x + 0.4 - width / 2, [p.name for p in probes], rotation=20, fontsize=8)
    ax.set_ylabel("probe score")
    ax.legend(fontsize=7)
    rows = "".join(
        f"<tr><td>{p.name}</td><td>{p.score}</td>" + "".join(f"<td>{results[p.name][n]:.3f}</td>" for n in policies)
        + f"<td>{p.description}</td></tr>" for p in probes
    )
    head = "".join(f"<th>{n}</th>" for n in policies)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>openland probes</title></head><body>"
            f"<h1>Probes of {run.path.name}</h1><img alt='probe scores' src='data:image/png;base64,{png_base64(fig)}'>"
            f"<table border=1><tr><th>probe</th><th>score rule</th>{head}<th>what it asks</th></tr>{rows}</table>"
            "</body></html>")
