"""The league: who plays beside a learning member in multi-player tasks.

Co-players come from three sources, as in XLand and AlphaStar: the member itself (self-play), frozen snapshots
of past members, and other current members. Among snapshots, prioritised fictitious self-play (PFSP) weights
opponent B by f(P[A beats B]) with f_hard(x) = (1 - x)^p (focus on those that beat us) or f_var(x) = x(1 - x)
(focus on even matches). Win rates are running averages of match outcomes reported by the rollout workers.
The league is plain data so it checkpoints as JSON and is tested without Ray or training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import numpy as np


#: Co-players that never learn, which the league can mix into a member's episodes (``LeagueConfig.fixed_play``).
FIXED_COPLAYERS: tuple[str, ...] = ("random", "scripted")


@dataclass(frozen=True)
class LeagueConfig:
    """How co-players are chosen."""

    self_play: float = 0.6
    """Probability that the co-players are the learning member itself."""
    snapshot_play: float = 0.3
    """Probability of a frozen past snapshot chosen by PFSP (the rest: another current member)."""
    snapshot_interval: int = 10
    """Iterations between two snapshots of a member."""
    max_snapshots: int = 8
    """Snapshots kept per league (oldest dropped first)."""
    weighting: Literal["hard", "variance"] = "hard"
    """PFSP weighting: 'hard' = (1-x)^p, 'variance' = x(1-x)."""
    hard_exponent: float = 2.0
    """p in f_hard."""
    win_rate_decay: float = 0.95
    """Weight of the old win rate in its running average."""
    fixed_play: float = 0.0
    """Share of a member's episodes whose co-players are a fixed policy of ``fixed_coplayers`` (drawn per env
    at each episode start by the rollout worker) instead of the league's choice: opponents that do not learn
    back and partners that act give the learner a signal self-play alone may not (bench/multiagent.py)."""
    fixed_coplayers: tuple[str, ...] = ("random", "scripted")
    """The fixed co-players, equally likely: "random" (uniform random policy), "scripted" (the scripted expert)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.fixed_play <= 1.0:
            raise ValueError(f"LeagueConfig.fixed_play={self.fixed_play!r} must be in [0, 1]")
        bad = [n for n in self.fixed_coplayers if n not in FIXED_COPLAYERS]
        if bad or not self.fixed_coplayers or len(set(self.fixed_coplayers)) != len(self.fixed_coplayers):
            raise ValueError(f"LeagueConfig.fixed_coplayers={self.fixed_coplayers!r}: give distinct names from "
                             f"{list(FIXED_COPLAYERS)}")  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    """A frozen copy of a member's policy, stored as a checkpoint path."""

    name: str
    member: int
    iteration: int
    path: str


@dataclass
class League:
    """Snapshots and win rates; ``win_rate[a][b]`` = P[member a beats opponent b]."""

    members: int
    snapshots: list[Snapshot] = field(default_factory=list)
    win_rate: dict[str, dict[str, float]] = field(default_factory=dict)

    def opponent_names(self, member: int) -> list[str]:
        return [s.name for s in self.snapshots] + [f"member{m}" for m in range(self.members) if m != member]

    def record(self, member: int, opponent: str, outcome: float, decay: float) -> None:
        """Fold a match outcome (1 win, 0.5 draw, 0 loss) into the running win rate."""
        table = self.win_rate.setdefault(f"member{member}", {})
        old = table.get(opponent, 0.5)
        table[opponent] = decay * old + (1.0 - decay) * float(outcome)

    def add_snapshot(self, snapshot: Snapshot, max_snapshots: int) -> None:
        self.snapshots.append(snapshot)
        del self.snapshots[: max(0, len(self.snapshots) - max_snapshots)]

    def to_json(self) -> dict:
        return {"members": self.members, "snapshots": [dataclasses.asdict(s) for s in self.snapshots], "win_rate": self.win_rate}

    @classmethod
    def from_json(cls, data: dict) -> "League":
        return cls(int(data["members"]), [Snapshot(**s) for s in data["snapshots"]], {k: dict(v) for k, v in data["win_rate"].items()})


def pfsp_weights(win_rates: np.ndarray, weighting: str = "hard", hard_exponent: float = 2.0) -> np.ndarray:
    """PFSP sampling probabilities from P[A beats B] for each candidate B."""
    x = np.clip(np.asarray(win_rates, dtype=float), 0.0, 1.0)
    if weighting == "hard":
        w = (1.0 - x) ** hard_exponent
    elif weighting == "variance":
        w = x * (1.0 - x)
    else:
        raise ValueError(f"weighting={weighting!r} is not 'hard' or 'variance'")
    if w.sum() <= 0:
        return np.full_like(x, 1.0 / len(x))
    return w / w.sum()


def choose_coplayer(league: League, member: int, rng: np.random.Generator, config: LeagueConfig) -> str:
    """Name of the co-player policy for one rollout: 'self', a snapshot name, or 'member<k>'."""
    u = rng.random()
    if u < config.self_play or (not league.snapshots and league.members == 1):
        return "self"
    table = league.win_rate.get(f"member{member}", {})
    if league.snapshots and (u < config.self_play + config.snapshot_play or league.members == 1):
        names = [s.name for s in league.snapshots]
        probs = pfsp_weights(np.array([table.get(n, 0.5) for n in names]), config.weighting, config.hard_exponent)
        return names[int(rng.choice(len(names), p=probs))]
    others = [m for m in range(league.members) if m != member]
    if not others:
        return "self"
    return f"member{others[int(rng.integers(len(others)))]}"
