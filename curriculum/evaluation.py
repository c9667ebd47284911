"""XLand's evaluation arithmetic: per-task scores normalised against a reference set of agents, percentiles,
participation, the same per game kind and per player count, and Pareto dominance between agents.

Pure numpy (and scipy's linear programming for the Nash value of a zero-sum meta-game); nothing here runs an
episode. The caller fills an :class:`EvalTable` with the *focal* return of each agent on each task against
each fixed co-player — the mean per-step reward of the agent's own slot, never an average over slots played
by the same policy, so a competitive game played against oneself is not a success.

Normalisation (XLand: the score on a task is divided by the Nash-equilibrium value of that task over the
reference agents; tasks whose normaliser is 0 are excluded and counted):

- single-player tasks: the normaliser is the best reference agent's return; the co-player axis is unused
  (the table must hold the same value along it).
- multi-player tasks: the meta-game ``G[i, j]`` = return of reference agent ``i`` when the other slots are
  played by reference agent ``j`` (so every reference agent must also be a co-player of the table).
  *Competitive and mixed* (ours): the zero-sum value ``v = min_q max_i (G q)_i`` by linear programming, and
  ``q`` the co-players' equilibrium mixture. *Cooperative* (ours): the best team, ``v = max G`` with ``q`` the
  partner of that team (the payoff-dominant equilibrium of a common-payoff game). Every agent's score on the
  task is its expected return against ``q`` (``Σ_j q_j return[agent, task, j]``), divided by ``v``; scores
  can exceed 1.

Participation (XLand: share of tasks with any reward): an agent participates in a task when its return is
positive against some co-player the score weighs (``q_j > 0``; for single-player tasks, its own return),
over every task of the group, excluded ones included. Percentiles (p10, p20, p50, numpy's linear
interpolation) are over the group's included tasks; NaN when none is included.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
from scipy.optimize import linprog

from worlds.tasks.game import GAME_KINDS

#: The percentiles reported, in order (XLand reports p10, p20, p50 among others; ours).
PERCENTILES: tuple[int, ...] = (10, 20, 50)
#: The group holding every task.
ALL = "all"


@dataclass(frozen=True)
class EvalTable:
    """Focal returns of every agent on every task against every fixed co-player."""

    agents: tuple[str, ...]
    """Names of the evaluated agents (rows)."""
    co_players: tuple[str, ...]
    """Names of the fixed co-player policies (random, scripted, frozen snapshots, members); an agent that is
    also a co-player has the same name in both."""
    task_ids: tuple[str, ...]
    """One id per task (column)."""
    kinds: tuple[str, ...]
    """Game kind of each task, one of ``worlds.tasks.game.GAME_KINDS``."""
    num_players: tuple[int, ...]
    """Player count of each task; 1 exactly when the kind is "single"."""
    returns: np.ndarray
    """[agents, tasks, co_players] mean per-step reward of the agent's own slot, in [0, 1]."""

    def __post_init__(self) -> None:
        a, t, c = len(self.agents), len(self.task_ids), len(self.co_players)
        r = np.asarray(self.returns, dtype=np.float64)
        object.__setattr__(self, "returns", r)
        for name, names in (("agents", self.agents), ("co_players", self.co_players), ("task_ids", self.task_ids)):
            if len(set(names)) != len(names):
                raise ValueError(f"EvalTable.{name} has duplicates: {list(names)}")
        if a == 0 or t == 0 or c == 0:
            raise ValueError(f"EvalTable needs at least one agent, task and co-player; got shape ({a}, {t}, {c})")
        if r.shape != (a, t, c):
            raise ValueError(f"EvalTable.returns has shape {r.shape}; expected (agents, tasks, co_players) = {(a, t, c)}")
        if not np.isfinite(r).all() or (r < 0).any() or (r > 1).any():
            raise ValueError("EvalTable.returns must be finite per-step rewards in [0, 1]")
        if len(self.kinds) != t or len(self.num_players) != t:
            raise ValueError(f"EvalTable.kinds ({len(self.kinds)}) and num_players ({len(self.num_players)}) need {t}")
        for k, (kind, n) in enumerate(zip(self.kinds, self.num_players)):
            if kind not in GAME_KINDS:
                raise ValueError(f"EvalTable.kinds[{k}]={kind!r}; known: {list(GAME_KINDS)}")
            if (kind == "single") != (int(n) == 1) or int(n) < 1:
                raise ValueError(f"EvalTable.num_players[{k}]={n} does not fit kind {kind!r}")
            if n == 1 and np.ptp(r[:, k, :], axis=1).max() > 0:
                raise ValueError(f"EvalTable.returns[:, {k}, :]: a single-player task must not vary with the co-player")


@dataclass(frozen=True)
class Normalised:
    """Per-task normalisers and every agent's normalised score."""

    normaliser: np.ndarray
    """[tasks] Nash value of each task over the reference agents (0: the task is excluded)."""
    weights: np.ndarray
    """[tasks, co_players] co-player mixture each task's score is taken against (zeros on single-player tasks)."""
    raw: np.ndarray
    """[agents, tasks] expected return against the mixture (single-player tasks: the agent's return)."""
    scores: np.ndarray
    """[agents, tasks] raw / normaliser; NaN on excluded tasks."""
    participated: np.ndarray
    """[agents, tasks] bool: any reward against a co-player of the mixture (or alone)."""

    @property
    def included(self) -> np.ndarray:
        return self.normaliser > 0


def zero_sum_value(payoff: np.ndarray) -> tuple[float, np.ndarray]:
    """Value ``min_q max_i (payoff @ q)_i`` of the zero-sum matrix game where the row player maximises, and the
    column player's equilibrium mixture ``q``, by linear programming (HiGHS)."""
    g = np.asarray(payoff, dtype=np.float64)
    m, n = g.shape
    # variables: q_1..q_n, v; minimise v subject to G q - v <= 0, sum q = 1, q >= 0
    cost = np.zeros(n + 1)
    cost[-1] = 1.0
    a_ub = np.hstack([g, -np.ones((m, 1))])
    a_eq = np.concatenate([np.ones(n), [0.0]])[None]
    bounds = [(0.0, None)] * n + [(None, None)]
    res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(m), A_eq=a_eq, b_eq=[1.0], bounds=bounds, method="highs")
    if not res.success:  # a bounded feasible LP: only a solver fault lands here
        raise RuntimeError(f"zero-sum LP failed: {res.message}")
    q = np.clip(res.x[:n], 0.0, None)
    q /= q.sum()
    return float(max(res.x[-1], 0.0)), q


def normalise(table: EvalTable, reference: Sequence[str]) -> Normalised:
    """XLand's per-task normalisation of ``table`` against the ``reference`` agents (see the module doc)."""
    ref = list(reference)
    if not ref:
        raise ValueError("reference: at least one reference agent is needed")
    missing = [r for r in ref if r not in table.agents]
    if missing:
        raise ValueError(f"reference agents {missing} are not agents of the table; agents: {list(table.agents)}")
    rows = [table.agents.index(r) for r in ref]
    multi = any(n > 1 for n in table.num_players)
    if multi:
        absent = [r for r in ref if r not in table.co_players]
        if absent:
            raise ValueError(
                f"reference agents {absent} are not co-players of the table, so the multi-player meta-game cannot "
                f"be built; co_players: {list(table.co_players)}"
            )
        cols = [table.co_players.index(r) for r in ref]
    r = table.returns
    a, t, c = r.shape
    normaliser = np.zeros(t)
    weights = np.zeros((t, c))
    raw = np.zeros((a, t))
    participated = np.zeros((a, t), dtype=bool)
    for k in range(t):
        if table.num_players[k] == 1:
            raw[:, k] = r[:, k, 0]
            normaliser[k] = raw[rows, k].max()
            participated[:, k] = raw[:, k] > 0
            continue
        g = r[np.ix_(rows, [k], cols)][:, 0, :]
        q = np.zeros(len(ref))
        if table.kinds[k] == "cooperative":
            i, j = np.unravel_index(int(np.argmax(g)), g.shape)
            normaliser[k], q[j] = g[i, j], 1.0
        else:
            normaliser[k], q = zero_sum_value(g)
        np.add.at(weights[k], cols, q)
        raw[:, k] = r[:, k, :] @ weights[k]
        participated[:, k] = (r[:, k, :][:, weights[k] > 0] > 0).any(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(normaliser > 0, raw / np.where(normaliser > 0, normaliser, 1.0), np.nan)
    return Normalised(normaliser, weights, raw, scores, participated)


@dataclass(frozen=True)
class Figures:
    """One agent's figures over one group of tasks."""

    p10: float
    p20: float
    p50: float
    participation: float
    """Share of the group's tasks with any reward."""
    tasks: int
    """Tasks in the group."""
    excluded: int
    """Tasks of the group whose normaliser is 0 (left out of the percentiles)."""

    def vector(self) -> np.ndarray:
        """The figures Pareto dominance compares: p10, p20, p50, participation."""
        return np.array([self.p10, self.p20, self.p50, self.participation])


def figures(scores: np.ndarray, participated: np.ndarray) -> Figures:
    """Figures of one agent from its [tasks] normalised scores (NaN = excluded) and participation flags."""
    s = np.asarray(scores, dtype=np.float64)
    ok = ~np.isnan(s)
    p = np.percentile(s[ok], PERCENTILES) if ok.any() else np.full(len(PERCENTILES), np.nan)
    return Figures(
        p10=float(p[0]), p20=float(p[1]), p50=float(p[2]),
        participation=float(np.mean(participated)) if len(s) else float("nan"),
        tasks=len(s), excluded=int((~ok).sum()),
    )  # fmt: skip


def groups(table: EvalTable) -> dict[str, np.ndarray]:
    """Task masks per group: "all", "kind:<kind>" and "players:<n>" for each kind and count present."""
    kinds = np.array(table.kinds)
    players = np.array(table.num_players)
    out = {ALL: np.ones(len(kinds), dtype=bool)}
    for kind in GAME_KINDS:
        if (kinds == kind).any():
            out[f"kind:{kind}"] = kinds == kind
    for n in sorted(set(players.tolist())):
        out[f"players:{n}"] = players == n
    return out


@dataclass(frozen=True)
class EvalReport:
    """Figures per group per agent, with the normalisation they come from."""

    agents: tuple[str, ...]
    reference: tuple[str, ...]
    figures: dict[str, dict[str, Figures]]
    """group -> agent -> figures."""
    normalised: Normalised = field(repr=False)

    def dominates(self, a: str, b: str, group: str = ALL) -> bool:
        """Agent ``a`` Pareto-dominates ``b`` on ``group``'s percentiles and participation."""
        return dominates(self.figures[group][a].vector(), self.figures[group][b].vector())

    def pareto_front(self, group: str = ALL) -> list[str]:
        """Agents no other agent dominates on ``group``."""
        names = list(self.agents)
        return [names[i] for i in pareto_front([self.figures[group][n].vector() for n in names])]

    def to_json(self) -> str:
        """The figures, the front per group, and the per-task normalisers, as JSON (NaN written as null)."""

        def clean(x: object) -> object:
            if isinstance(x, float) and not np.isfinite(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list):
                return [clean(v) for v in x]
            return x

        body = {
            "agents": list(self.agents),
            "reference": list(self.reference),
            "figures": {g: {a: asdict(f) for a, f in per.items()} for g, per in self.figures.items()},
            "pareto_front": {g: self.pareto_front(g) for g in self.figures},
            "normaliser": self.normalised.normaliser.tolist(),
            "scores": self.normalised.scores.tolist(),
        }
        return json.dumps(clean(body), indent=1)


def evaluate(table: EvalTable, reference: Sequence[str]) -> EvalReport:
    """Normalise ``table`` against ``reference`` and summarise every agent on every group of tasks."""
    norm = normalise(table, reference)
    out: dict[str, dict[str, Figures]] = {}
    for name, mask in groups(table).items():
        out[name] = {
            agent: figures(norm.scores[i, mask], norm.participated[i, mask]) for i, agent in enumerate(table.agents)
        }
    return EvalReport(tuple(table.agents), tuple(reference), out, norm)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Pareto dominance: ``a`` is at least as good as ``b`` on every figure and better on one. A NaN figure
    (a group without included tasks) compares as neither better nor worse only when both are NaN; a NaN
    against a number means the two are not comparable (False)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"dominates: figure vectors differ in shape, {x.shape} vs {y.shape}")
    both_nan = np.isnan(x) & np.isnan(y)
    if (np.isnan(x) ^ np.isnan(y)).any():
        return False
    xs, ys = x[~both_nan], y[~both_nan]
    return bool((xs >= ys).all() and (xs > ys).any())


def pareto_front(vectors: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the vectors no other vector dominates, in order."""
    return [i for i, v in enumerate(vectors) if not any(dominates(w, v) for j, w in enumerate(vectors) if j != i)]
