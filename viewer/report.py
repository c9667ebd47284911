"""``openland report RUN``: one self-contained HTML page of plots for a run directory.

It reads only the files runs write (``agents.run``, ``agents.local_train``, ``population.driver``):
``config.json``, ``metrics.jsonl`` (one row per update or iteration), ``summary.json`` (final held-out
evaluation and the random policy's success on the same tasks), ``state.json`` (population: hyper-parameters,
league win rates), ``pbt_history.jsonl`` (population: exploit/explore events) and ``episodes/*.npz``. Evaluation
reports (JSON with ``agents`` and ``figures``, as ``curriculum.evaluation.EvalReport.to_json`` writes), probe
results (``*probe*.json``) and curriculum statistics (``curriculum/*`` metrics or ``*curriculum*.json``) are
plotted when the run has them. Plots are matplotlib PNGs embedded in the page, so the file can be copied or
mailed alone; the episode links open in ``openland view RUN``, which serves this page as ``/report.html``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

import numpy as np

_SKIP_DIRS = {"checkpoints", "tb", "episodes", "members"}


@dataclass
class RunFiles:
    """What a run directory holds, parsed."""

    root: Path
    config: dict[str, Any]
    metrics: list[dict[str, float]]
    summary: dict[str, Any]
    state: dict[str, Any] | None
    pbt_events: list[dict[str, Any]]
    episodes: list[str]
    extra_json: dict[str, Any]
    """Other JSON files of the run (relative path -> content): evaluation reports, probes, curriculum."""

    @property
    def population(self) -> bool:
        return "members" in self.config


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"report: {path} is not readable JSON ({err})") from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file; a last line cut short by a crash is skipped (the run may still be going)."""
    rows = []
    if not path.exists():
        return rows
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            if i != len(lines) - 1:
                raise ValueError(f"report: {path} line {i + 1} is not JSON: {line[:80]!r}") from None
    return rows


def read_run(run_dir: str | Path) -> RunFiles:
    """Parse a run directory; a directory that is not a run is refused, naming what is missing."""
    root = Path(run_dir)
    if not (root / "config.json").is_file():
        raise FileNotFoundError(f"report: {root} is not a run directory (no config.json)")
    extra = {}
    for path in sorted(root.rglob("*.json")):
        rel = path.relative_to(root)
        if rel.parts[0] in _SKIP_DIRS or rel.name in ("config.json", "summary.json", "state.json"):
            continue
        try:
            extra[str(rel)] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a file being written, or not ours
    return RunFiles(
        root=root,
        config=_read_json(root / "config.json"),
        metrics=_read_jsonl(root / "metrics.jsonl"),
        summary=_read_json(root / "summary.json") if (root / "summary.json").is_file() else {},
        state=_read_json(root / "state.json") if (root / "state.json").is_file() else None,
        pbt_events=_read_jsonl(root / "pbt_history.jsonl"),
        episodes=sorted(str(p.relative_to(root)) for p in (root / "episodes").rglob("*.npz")) if (root / "episodes").is_dir() else [],
        extra_json=extra,
    )


def _series(rows: list[dict[str, float]], key: str, x: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(r[x], r[key]) for r in rows if key in r and x in r and isinstance(r[key], (int, float)) and math.isfinite(r[key])]
    if not pts:
        return np.zeros(0), np.zeros(0)
    a = np.array(pts, dtype=float)
    return a[:, 0], a[:, 1]


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(ncols: int = 1, width: float = 6.0, height: float = 3.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


@dataclass
class Plot:
    """One plot of the page: its id (``plot-<key>`` in the HTML), title, PNG or the reason it is absent."""

    key: str
    title: str
    png: str | None = None
    absent: str | None = None
    note: str = ""


def _x_key(run: RunFiles) -> tuple[str, str]:
    return ("iteration", "iteration") if run.population else ("step", "agent steps")


def _members(run: RunFiles) -> list[int]:
    found = {int(m.group(1)) for r in run.metrics for k in r for m in [re.match(r"member(\d+)/", k)] if m}
    return sorted(found)


def plot_returns(run: RunFiles) -> Plot:
    """Shaped return (what PPO trained on: goal reward plus potential-based shaping) against the unshaped goal
    return. Runs log the shaped reward per step (``raw_reward_mean``) and the goal return per finished episode
    (``train_return``); each is shown per step and per episode (times / over the episode length)."""
    plot = Plot("returns", "Returns: shaped (trained on) and unshaped (goal reward only)")
    x, xlabel = _x_key(run)
    length = float(run.config.get("max_steps") or 1)
    fig, (a, b) = _figure(2)
    xs, shaped = _series(run.metrics, "raw_reward_mean", x)
    if len(xs):
        a.plot(xs, shaped, label="shaped reward / step")
        b.plot(xs, shaped * length, label=f"shaped return (reward / step x {length:g} steps)")
    xs, goal = _series(run.metrics, "train_return", x)
    if len(xs):
        a.plot(xs, goal / length, marker=".", label=f"goal reward / step (return / {length:g})")
        b.plot(xs, goal, marker=".", label="goal return / episode (unshaped)")
    for m in _members(run):
        xs, ys = _series(run.metrics, f"member{m}/participation", x)
        if len(xs):
            b.plot(xs, ys, label=f"member{m} participation (share of episodes with reward)")
        xs, ys = _series(run.metrics, f"member{m}/loss", x)
        if len(xs):
            a.plot(xs, ys, label=f"member{m} PPO loss")
    if not (a.lines or b.lines):
        plot.absent = "metrics.jsonl has no reward or return columns yet"
        return plot
    for ax, title in ((a, "per step"), (b, "per episode")):
        ax.set_xlabel(xlabel), ax.set_title(title), ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    plot.png = _png(fig)
    return plot


def plot_success(run: RunFiles) -> Plot:
    """Goal success in training, on held-out tasks, and the uniform random policy on the same held-out tasks."""
    plot = Plot("success", "Success: training, held-out, and the random policy on the same held-out tasks")
    x, xlabel = _x_key(run)
    fig, (ax,) = _figure(1, 8.0)
    for key, label, style in (("train_success", "training success", "-"), ("eval_success", "held-out success", "o-")):
        xs, ys = _series(run.metrics, key, x)
        if len(xs):
            ax.plot(xs, ys, style, label=label)
    for m in _members(run):
        xs, ys = _series(run.metrics, f"member{m}/success", x)
        if len(xs):
            ax.plot(xs, ys, label=f"member{m} training success")
        final = run.summary.get(f"member{m}/eval_success")
        if final is not None and len(xs):
            ax.plot([xs[-1]], [final], "s", markersize=9, label=f"member{m} held-out success (final)")
    final = run.summary.get("eval_success")
    if final is not None and run.metrics and not run.population:
        ax.axhline(final, color="tab:orange", ls=":", lw=1, label=f"held-out success at the end ({final:.2f})")
    rnd = run.summary.get("random_eval_success")
    if rnd is not None:
        ax.axhline(rnd, color="k", ls="--", lw=1, label=f"random policy, same held-out tasks ({rnd:.2f})")
    if not ax.lines:
        plot.absent = "no success figures in metrics.jsonl or summary.json yet"
        return plot
    ax.set_ylim(-0.02, 1.02), ax.set_xlabel(xlabel), ax.set_ylabel("share of episodes"), ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if rnd is None:
        plot.note = "The random policy's success is written to summary.json when the run ends."
    plot.png = _png(fig)
    return plot


def plot_pbt(run: RunFiles) -> Plot:
    """Hyper-parameters of every member over iterations, with PBT's exploit events marked."""
    plot = Plot("pbt", "Population-based training: hyper-parameters over time and exploit events")
    if not run.population:
        plot.absent = "single-process run (openland train --local): no population, no PBT"
        return plot
    members = _members(run)
    names = sorted({k for e in run.pbt_events for k in e.get("new_hparams", {})} | {"lr"})
    fig, axes = _figure(len(names), 4.2)
    for ax, name in zip(axes, names):
        for m in members:
            xs, ys = _series(run.metrics, f"member{m}/{name}", "iteration")
            if len(xs):
                ax.plot(xs, ys, label=f"member{m}")
            else:  # only events carry it: a step line from the events
                pts = [(e["iteration"], e["new_hparams"][name]) for e in run.pbt_events if e["target"] == m and name in e["new_hparams"]]
                if pts:
                    ax.step(*zip(*pts), where="post", marker="o", label=f"member{m}")
        for e in run.pbt_events:
            ax.axvline(e["iteration"], color="tab:red", alpha=0.3, lw=1)
        ax.set_title(name), ax.set_xlabel("iteration"), ax.grid(alpha=0.3)
        if name == "lr":
            ax.set_yscale("log")
        if ax.lines:
            ax.legend(fontsize=7)
    plot.note = (f"{len(run.pbt_events)} exploit events (red lines): "
                 + "; ".join(f"it {e['iteration']}: member{e['target']} <- member{e['source']} ({e['reason']})"
                             for e in run.pbt_events[:20]) if run.pbt_events else "No exploit event happened in this run.")  # fmt: skip
    plot.png = _png(fig)
    return plot


def plot_league(run: RunFiles) -> Plot:
    """Running win rates of each member against each opponent the league chose."""
    plot = Plot("league", "League: win rates against co-players")
    if not run.population:
        plot.absent = "single-process run (openland train --local): no league"
        return plot
    league = (run.state or {}).get("league", {})
    table = league.get("win_rate", {})
    members = [f"member{m}" for m in range(int(league.get("members", len(_members(run)))))]
    opponents = sorted({o for row in table.values() for o in row})
    fig, (ax,) = _figure(1, 7.0, 3.0)
    if opponents:
        grid = np.array([[table.get(m, {}).get(o, np.nan) for o in opponents] for m in members], dtype=float)
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
        ax.set_xticks(range(len(opponents)), opponents, rotation=30, ha="right", fontsize=7)
        ax.set_yticks(range(len(members)), members)
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8)
        fig.colorbar(im, ax=ax, label="P(win)")
        plot.note = f"{len(league.get('snapshots', []))} past snapshots in the league."
    else:
        ax.text(0.5, 0.5, "no match against another player recorded yet\n(1-player family, or only self-play so far)",
                ha="center", va="center")
        ax.set_axis_off()
    ax.set_title("win rate of member (row) against opponent (column)")
    plot.png = _png(fig)
    return plot


def _numeric_leaves(data: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(_numeric_leaves(v, f"{prefix}/{k}" if prefix else str(k)))
    elif isinstance(data, (int, float)) and not isinstance(data, bool) and math.isfinite(data):
        out[prefix] = float(data)
    return out


def _bars(title: str, values: dict[str, float], limit: int = 40):
    items = list(values.items())[:limit]
    fig, (ax,) = _figure(1, 8.0, 0.25 * len(items) + 1.2)
    ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="tab:blue")
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(title), ax.grid(alpha=0.3, axis="x")
    return fig


def plot_evaluation(run: RunFiles) -> Plot:
    """Normalised-score percentiles (p10, p20, p50) and participation per agent and task group."""
    plot = Plot("evaluation", "Evaluation: normalised score percentiles and participation")
    reports = {k: v for k, v in run.extra_json.items() if isinstance(v, dict) and "figures" in v and "agents" in v}
    if not reports:
        plot.absent = "no evaluation report in the run (openland eval writes one)"
        return plot
    name, rep = next(iter(reports.items()))
    groups = list(rep["figures"])
    fig, axes = _figure(min(len(groups), 4), 4.0)
    stats = ("p10", "p20", "p50", "participation")
    for ax, group in zip(axes, groups):
        agents = list(rep["figures"][group])
        width = 0.8 / max(len(agents), 1)
        for i, agent in enumerate(agents):
            f = rep["figures"][group][agent]
            ax.bar(np.arange(len(stats)) + i * width, [f.get(s) if f.get(s) is not None else np.nan for s in stats], width, label=agent)
        ax.set_xticks(np.arange(len(stats)) + 0.4 - width / 2, stats)
        ax.set_title(group), ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    plot.note = f"From {name}."
    plot.png = _png(fig)
    return plot


def _plot_files(key: str, title: str, what: str, match: Callable[[str], bool], run: RunFiles, metric_prefix: str | None = None) -> Plot:
    plot = Plot(key, title)
    values: dict[str, float] = {}
    for name, content in run.extra_json.items():
        if match(name):
            values.update({f"{name}:{k}": v for k, v in _numeric_leaves(content).items()})
    if metric_prefix and run.metrics:
        last: dict[str, float] = {}
        for row in run.metrics:
            last.update({k: v for k, v in row.items() if k.startswith(metric_prefix)})
        values.update({f"last {k}": v for k, v in last.items()})
    if not values:
        plot.absent = f"no {what} in the run"
        return plot
    plot.png = _png(_bars(title, values))
    return plot


def plot_probes(run: RunFiles) -> Plot:
    return _plot_files("probes", "Probe tasks", "probe results (openland probe writes them)",
                       lambda n: "probe" in Path(n).name, run)  # fmt: skip


def plot_curriculum(run: RunFiles) -> Plot:
    return _plot_files("curriculum", "Curriculum statistics", "curriculum statistics",
                       lambda n: "curriculum" in Path(n).name, run, metric_prefix="curriculum/")  # fmt: skip


PLOTS: tuple[Callable[[RunFiles], Plot], ...] = (plot_returns, plot_success, plot_pbt, plot_league, plot_evaluation,
                                                 plot_probes, plot_curriculum)  # fmt: skip

_CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:20px auto;max-width:1100px;color:#111}
figure{margin:18px 0;padding:10px;background:#f8fafc;border-radius:6px}figcaption{font-weight:600;margin-bottom:6px}
img{max-width:100%}.absent{color:#666}table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}
.note{color:#444;font-size:13px}code{background:#eef}"""


def render_report(run: RunFiles) -> str:
    """The page as HTML text."""
    esc = html.escape
    kind = "population (openland train)" if run.population else "single process (openland train --local)"
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>openland report: {esc(run.root.name)}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Run <code>{esc(run.root.name)}</code></h1>",
             f"<p>{esc(kind)}, family <code>{esc(str(run.config.get('family')))}</code>, {len(run.metrics)} metric rows.</p>"]  # fmt: skip
    if run.summary:
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{v:.4g}</td></tr>" if isinstance(v, (int, float)) else
                       f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in run.summary.items())  # fmt: skip
        parts.append(f"<h2>Summary</h2><table id='summary'>{rows}</table>")
    else:
        parts.append("<p class='absent'>No summary.json: the run has not finished.</p>")
    parts.append("<h2>Plots</h2>")
    for make in PLOTS:
        plot = make(run)
        if plot.png is not None:
            parts.append(f"<figure class='plot' id='plot-{plot.key}'><figcaption>{esc(plot.title)}</figcaption>"
                         f"<img alt='{esc(plot.title)}' src='data:image/png;base64,{plot.png}'>"
                         + (f"<p class='note'>{esc(plot.note)}</p>" if plot.note else "") + "</figure>")  # fmt: skip
        else:
            parts.append(f"<figure class='absent' id='absent-{plot.key}'><figcaption>{esc(plot.title)}</figcaption>"
                         f"<p>Not in this run: {esc(plot.absent or '')}.</p></figure>")
    parts.append("<h2>Recorded episodes</h2>")
    if run.episodes:
        parts.append(f"<p class='note'>Links open in the replay viewer: run <code>openland view {esc(str(run.root))}</code> "
                     "and open this page from there (its <i>run report</i> link).</p><ul id='episodes'>")
        parts.extend(f"<li><a class='episode' href='./?episode={esc(quote(e))}'>{esc(e)}</a></li>" for e in run.episodes)
        parts.append("</ul>")
    else:
        parts.append("<p class='absent'>No recorded episodes yet (runs record them at each evaluation).</p>")
    parts.append(f"<h2>Config</h2><pre>{esc(json.dumps(run.config, indent=1))}</pre></body></html>")
    return "".join(parts)


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the run's report (default ``RUN/report.html``) atomically; returns its path."""
    run = read_run(run_dir)
    path = Path(out) if out is not None else run.root / "report.html"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_report(run))
    tmp.replace(path)
    return path
