"""Probe tasks: hand-authored tasks stored as frozen JSON beside this module, registered by file name.

XLand measures its agents on hand-authored probe games as well as on held-out generated ones: a probe asks one
recognisable question (can it hide? use a ramp? cooperate?), so a result reads as behaviour, not as a number on
a random task. Each probe fixes, besides its task:

- ``agent_player``: the slot the evaluated policy plays;
- ``co_players``: what plays every other slot: ``"agent"`` (the evaluated policy again, as a teammate),
  ``"scripted"`` (the privileged goal-seeking expert, ``worlds.experts.scripted``) or ``"random"``;
- ``score``: ``"success"`` (the agent's goal holds on the last step) or ``"held_fraction"`` (the share of
  steps on which it holds: the rule for games that go on, such as tag and hide and seek);
- ``scripted_scores``: whether the scripted expert in the agent's slot is expected to score (tested). It is
  false where the expert has no way to work on the goal (hiding from a seeker) or meets its mirror image (king
  of the hill against itself).

The files are data: their ``task_id`` is checked against the task's content on load, so an edited task is an
error, not a silently different probe. Probe ids are never sampled for training (``tests/test_probes.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from worlds.tasks.codec import SpecError
from worlds.tasks.game import TaskSpec, task_from_json, task_id

PROBE_DIR = Path(__file__).parent
PROBE_FORMAT = 1
CO_PLAYER_POLICIES: tuple[str, ...] = ("agent", "scripted", "random")
SCORE_RULES: tuple[str, ...] = ("success", "held_fraction")

CoPlayer = Literal["agent", "scripted", "random"]
ScoreRule = Literal["success", "held_fraction"]


@dataclass(frozen=True)
class Probe:
    """One probe task and how it is played and scored."""

    name: str
    description: str
    task: TaskSpec
    task_id: str
    agent_player: int
    co_players: tuple[tuple[int, CoPlayer], ...]
    """(slot, policy) for every slot but the agent's, in slot order."""
    score: ScoreRule
    scripted_scores: bool

    @property
    def num_players(self) -> int:
        return len(self.task.world.spawns)

    @property
    def policy_of_slot(self) -> tuple[str, ...]:
        """Per slot, ``"agent"`` or the co-player policy that plays it."""
        slots = dict(self.co_players)
        return tuple("agent" if p == self.agent_player else slots[p] for p in range(self.num_players))


def _field(data: dict, key: str, kind: type, where: str) -> object:
    if key not in data:
        raise SpecError(f"{where}.{key}", "missing")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SpecError(f"{where}.{key}", f"expected {kind.__name__}, got {value!r}")
    return value


def load_probe(path: Path) -> Probe:
    """Read and check one probe file: format, fields, the task (validated by the codec) and its id."""
    where = path.name
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SpecError(where, f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(where, f"expected a JSON object, got {type(data).__name__}")
    if data.get("format") != PROBE_FORMAT:
        raise SpecError(f"{where}.format", f"expected probe format {PROBE_FORMAT}, got {data.get('format')!r}")
    name = _field(data, "name", str, where)
    if name != path.stem:
        raise SpecError(f"{where}.name", f"{name!r} differs from the file name {path.stem!r}")
    task = task_from_json(json.dumps(_field(data, "task", dict, where)))
    stored_id = _field(data, "task_id", str, where)
    if task_id(task) != stored_id:
        raise SpecError(f"{where}.task_id", f"the file says {stored_id} but its task's content id is {task_id(task)}")
    players = len(task.world.spawns)
    agent = _field(data, "agent_player", int, where)
    if not 0 <= agent < players:
        raise SpecError(f"{where}.agent_player", f"{agent} is not a slot of this {players}-player task")
    raw = _field(data, "co_players", dict, where)
    slots = {}
    for key, policy in raw.items():
        if not key.isdigit() or int(key) == agent or int(key) >= players:
            raise SpecError(f"{where}.co_players", f"slot {key!r} is not a co-player slot of this {players}-player task")
        if policy not in CO_PLAYER_POLICIES:
            raise SpecError(f"{where}.co_players[{key}]", f"expected one of {CO_PLAYER_POLICIES}, got {policy!r}")
        slots[int(key)] = policy
    missing = sorted(set(range(players)) - {agent} - set(slots))
    if missing:
        raise SpecError(f"{where}.co_players", f"slots {missing} have no co-player policy")
    score = _field(data, "score", str, where)
    if score not in SCORE_RULES:
        raise SpecError(f"{where}.score", f"expected one of {SCORE_RULES}, got {score!r}")
    return Probe(
        name=name,
        description=str(_field(data, "description", str, where)),
        task=task,
        task_id=stored_id,
        agent_player=agent,
        co_players=tuple(sorted(slots.items())),
        score=score,  # type: ignore[arg-type]
        scripted_scores=bool(_field(data, "scripted_scores", bool, where)),
    )


@cache
def probes() -> dict[str, Probe]:
    """Every registered probe, by name (the JSON files beside this module, in name order)."""
    return {path.stem: load_probe(path) for path in sorted(PROBE_DIR.glob("*.json"))}


def probe_names() -> tuple[str, ...]:
    return tuple(probes())


def get_probe(name: str) -> Probe:
    """The probe of this name; an unknown name is an error that lists the known ones."""
    registry = probes()
    if name not in registry:
        raise KeyError(f"probe: unknown probe {name!r}; known probes: {', '.join(registry)}")
    return registry[name]


def probe_ids() -> frozenset[str]:
    """Task ids of every probe: no training split may contain one."""
    return frozenset(p.task_id for p in probes().values())
