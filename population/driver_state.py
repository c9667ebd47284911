"""What the driver checkpoints beside the members (``state.json``), and the fitness it keeps per member.

Everything the driver's own decisions depend on is here, so that a resumed driver decides exactly as an
uninterrupted one: the iteration, hyper-parameters, league (snapshots, win rates), PBT history, each member's
recent episodes, and the state of the numpy generator that draws co-players and PBT's explore steps.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from population.league import League
from population.pbt import PBTEvent, PBTState

#: Episodes per member that the fitness is measured over.
FITNESS_WINDOW = 100


@dataclass
class DriverState:
    """The driver's checkpointed state: ``state.json``."""

    iteration: int
    hparams: list[dict[str, float]]
    league: League
    pbt: PBTState
    fitness_window: list[list[dict[str, float]]]
    rng_state: dict[str, Any] = field(default_factory=dict)
    """``np.random.Generator.bit_generator.state`` at the checkpoint (empty: not saved yet)."""
    agent_steps: int = 0
    """Agent-steps collected by all members so far."""
    worker_restarts: int = 0
    """Rollouts lost to a dead worker and submitted again."""
    inexact_since: int | None = None
    """First iteration after which a fault (a worker restart) broke the guarantee that this run reproduces an
    uninterrupted one exactly; None while it holds."""

    def record_episodes(self, member: int, episodes: list[dict[str, float]]) -> None:
        self.fitness_window[member] = (self.fitness_window[member] + episodes)[-FITNESS_WINDOW:]

    def to_json(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "hparams": self.hparams,
            "league": self.league.to_json(),
            "pbt": {"last_exploit": self.pbt.last_exploit, "history": [dataclasses.asdict(e) for e in self.pbt.history]},
            "fitness_window": self.fitness_window,
            "rng_state": self.rng_state,
            "agent_steps": self.agent_steps,
            "worker_restarts": self.worker_restarts,
            "inexact_since": self.inexact_since,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DriverState":
        return cls(
            iteration=int(data["iteration"]),
            hparams=[dict(h) for h in data["hparams"]],
            league=League.from_json(data["league"]),
            pbt=PBTState(list(data["pbt"]["last_exploit"]), [PBTEvent(**e) for e in data["pbt"]["history"]]),
            fitness_window=data["fitness_window"],
            rng_state=data.get("rng_state", {}),
            agent_steps=int(data.get("agent_steps", 0)),
            worker_restarts=int(data.get("worker_restarts", 0)),
            inexact_since=data.get("inexact_since"),
        )

    def save(self, path: Path) -> None:
        """Write atomically: a driver killed mid-write leaves the previous ``state.json`` whole."""
        write_json_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> "DriverState":
        return cls.from_json(json.loads(path.read_text()))


def new_generator(seed: int, state: dict[str, Any]) -> np.random.Generator:
    """The driver's generator: seeded from the run's seed, then set to ``state`` when resuming."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 9]))
    if state:
        rng.bit_generator.state = state
    return rng


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def fitness(window: list[dict[str, float]]) -> np.ndarray:
    """XLand-style fitness vector of a member from its recent episodes: (mean goal success, participation =
    share of episodes with any reward). Higher is better in both."""
    if not window:
        return np.zeros(2)
    return np.array([np.mean([e["success"] for e in window]), np.mean([e["return"] > 0 for e in window])])
