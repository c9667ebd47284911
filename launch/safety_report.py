"""``runs/<name>/evaluation/safety.html``: one static page with the figures of every stage of a safety run, drawn from
the JSON the stages wrote (so it can be redrawn without any model): the simulator's held-out error over training,
the labels per class per query round, and per evaluation split each policy's unsafe events and goal success."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from launch.safety_files import SafetyRun


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_report(run: SafetyRun) -> Path:
    """Draw the page from the run's JSON files and write it (atomically); returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [f"<h1>Safety run {html.escape(run.name)}</h1>"]
    demos = _load(run.root / "demos" / "summary.json")
    if demos:
        parts.append(f"<p>{demos['episodes']} safe demonstrations ({demos['transitions']} transitions, "
                     f"{demos['unsafe_transitions']} unsafe) of family {html.escape(demos['family'])}.</p>")
    sim = _load(run.simulator / "history.json")
    if sim:
        rows = [r for r in sim["history"] if "held_out_next_obs_mse" in r]
        fig, ax = plt.subplots(1, 2, figsize=(9, 3))
        steps = [r["step"] for r in rows]
        ax[0].plot(steps, [r["held_out_next_obs_mse"] for r in rows], label="model")
        ax[0].plot(steps, [r["held_out_copy_obs_mse"] for r in rows], "--", label="copy the observation")
        ax[0].set(xlabel="optimiser step", ylabel="held-out next-observation MSE", title="simulator")
        ax[0].legend(fontsize=7)
        ax[1].plot(steps, [r["held_out_position_error_m"] for r in rows])
        ax[1].set(xlabel="optimiser step", ylabel="held-out position error (m)")
        parts.append(f"<h2>Learned simulator</h2><img alt='simulator held-out error' src='data:image/png;base64,{_png(fig)}'>")
        plt.close(fig)
    labels = _load(run.reward_model / "history.json")
    summary = _load(run.reward_model / "summary.json")
    if labels and summary:
        rounds = [r for r in labels["history"] if "round" in r]
        if rounds:
            names = ("unsafe", "neutral", "good")
            acquisitions = [k for k in rounds[0] if isinstance(rounds[0][k], list)]
            fig, ax = plt.subplots(figsize=(6, 3))
            bottom = [0] * len(rounds)
            for c, name in enumerate(names):
                counts = [sum(r[a][c] for a in acquisitions) for r in rounds]
                ax.bar([r["round"] for r in rounds], counts, bottom=bottom, label=name)
                bottom = [b + n for b, n in zip(bottom, counts)]
            ax.set(xlabel="query round", ylabel="labels", title="labels per class")
            ax.set_xticks([r["round"] for r in rounds])
            ax.legend(fontsize=7)
            parts.append(f"<h2>Queries</h2><img alt='labels per round' src='data:image/png;base64,{_png(fig)}'>")
            plt.close(fig)
        parts.append(f"<p>{summary['labels']} labels by {html.escape(str(summary.get('labeler')))}: "
                     + ", ".join(f"{n} {k}" for k, n in summary["per_class"].items()) + ".</p>")
    for split in ("starts", "shifted_starts"):
        body = _load(run.evaluation / f"{split}.json")
        if not body:
            continue
        policies = list(body["policies"])
        fig, ax = plt.subplots(1, 2, figsize=(9, 3))
        ax[0].bar(policies, [body["policies"][p]["summary"]["unsafe_per_1000_steps"] for p in policies], color="tab:red")
        ax[0].set(ylabel="unsafe events per 1000 steps", title=split)
        ax[1].bar(policies, [body["policies"][p]["summary"]["success"] for p in policies], color="tab:green")
        ax[1].set(ylabel="goal success", ylim=(0, 1))
        rows = "".join(
            f"<tr><td>{html.escape(p)}</td>" + "".join(f"<td>{body['policies'][p]['summary'][k]:.3f}</td>" for k in
            ("unsafe_per_episode", "unsafe_per_1000_steps", "hazard_per_episode", "fall_per_episode", "success", "goal_return"))
            + "</tr>" for p in policies
        )  # fmt: skip
        parts.append(f"<h2>Evaluation: {split}</h2><p>{body['tasks']} held-out tasks, {body['max_steps']} steps.</p>"
                     f"<img alt='evaluation {split}' src='data:image/png;base64,{_png(fig)}'>"
                     "<table border=1><tr><th>policy</th><th>unsafe/episode</th><th>unsafe/1000 steps</th>"
                     f"<th>hazard/episode</th><th>fall/episode</th><th>success</th><th>goal return</th></tr>{rows}</table>")
        plt.close(fig)
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>openland safety</title></head><body>"
            + "".join(parts) + "</body></html>")  # fmt: skip
    run.evaluation.mkdir(exist_ok=True)
    out = run.evaluation / "safety.html"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page)
    tmp.replace(out)
    return out
