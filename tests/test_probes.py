"""The probe registry: every entry is a valid, reachable task whose stored id matches its content, the scripted
expert scores where the entry says it can (and beats a random policy there), probes never appear in training
samples, and a damaged probe file is an error that names the field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from curriculum.probes import PROBE_DIR, Probe, get_probe, load_probe, probe_ids, probe_names, probes
from worlds.envs.batch_env import DISCRETE_NVEC, BatchEnv, EnvConfig
from worlds.experts.scripted import ScriptedPolicy
from worlds.tasks.codec import SpecError
from worlds.tasks.families import FAMILIES, sample_family_task
from worlds.tasks.game import task_id, task_problems, validate_task
from worlds.tasks.spec import reachable_tiles

EXPECTED = {"capture_the_flag", "cooperation", "hide_and_seek", "king_of_the_hill", "object_rearrangement",
            "ramp_use", "tag"}  # fmt: skip
STEPS = 250


def test_registry_holds_every_probe_the_design_names() -> None:
    assert set(probe_names()) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_probe_is_valid_and_reachable(name: str) -> None:
    probe = get_probe(name)
    validate_task(probe.task)
    assert task_problems(probe.task) == []
    assert task_id(probe.task) == probe.task_id
    world = probe.task.world
    floor = np.asarray(world.terrain.floor_colours)
    for s, spawn in enumerate(world.spawns):
        reach = reachable_tiles(world.terrain, (spawn.row, spawn.col), avoid_hazards=True)
        for obj in world.objects:
            assert reach[obj.row, obj.col], f"{name}: spawn {s} cannot reach the {obj.colour} {obj.shape}"
        for goal in probe.task.game.goals:
            for option in goal.options:
                for pred in option:
                    if pred.b.kind == "floor":
                        assert (reach & (floor == pred.b.colour)).any(), f"{name}: spawn {s}: no {pred.b.colour} floor in reach"
    policies = probe.policy_of_slot
    assert len(policies) == probe.num_players and policies[probe.agent_player] == "agent"


def _play(probe: Probe, agent: str, seed: int = 0) -> float:
    """The agent slot's probe score over 2 envs with the agent slots played by ``agent`` (scripted | random)."""
    n, envs = probe.num_players, 2
    env = BatchEnv(EnvConfig(num_envs=envs, num_players=n, max_steps=STEPS, autoreset=False))
    env.load_tasks([probe.task] * envs)
    scripted = ScriptedPolicy(env, avoid_hazards=True)
    rng = np.random.default_rng(seed)
    policies = np.asarray(probe.policy_of_slot)
    random_slots = (policies == "random") | ((policies == "agent") & (agent == "random"))
    held = np.zeros(envs)
    for _ in range(STEPS):
        actions = scripted.act(None)
        actions[:, random_slots] = rng.integers(0, DISCRETE_NVEC, size=(envs, int(random_slots.sum()), 5))
        _, reward, *_ = env.step(actions)
        goal_holds = reward[:, probe.agent_player] > 0
        held += goal_holds
    return float(held.mean() / STEPS) if probe.score == "held_fraction" else float(goal_holds.mean())


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if get_probe(n).scripted_scores))
def test_scripted_expert_scores_where_it_can(name: str) -> None:
    probe = get_probe(name)
    scripted, random = _play(probe, "scripted"), _play(probe, "random")
    assert scripted > 0, f"{name}: the scripted expert never scored"
    assert scripted > random, f"{name}: scripted {scripted:.2f} vs random {random:.2f}"


def test_probes_are_never_training_tasks() -> None:
    ids = probe_ids()
    assert len(ids) == len(EXPECTED)
    for family in FAMILIES:
        sampled = {task_id(sample_family_task(family, seed)) for seed in range(40)}
        assert not sampled & ids, family


def _damaged(tmp_path: Path, edit) -> Path:
    data = json.loads((PROBE_DIR / "tag.json").read_text())
    edit(data)
    path = tmp_path / "tag.json"
    path.write_text(json.dumps(data))
    return path


def test_damaged_probe_files_are_named_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="task_id.*content id"):
        load_probe(_damaged(tmp_path, lambda d: d["task"]["world"]["spawns"][0].update(row=1)))
    with pytest.raises(SpecError, match="format"):
        load_probe(_damaged(tmp_path, lambda d: d.update(format=99)))
    with pytest.raises(SpecError, match=r"co_players.*\[1\]"):
        load_probe(_damaged(tmp_path, lambda d: d.update(co_players={})))
    with pytest.raises(SpecError, match="co_players\\[1\\].*'teacher'"):
        load_probe(_damaged(tmp_path, lambda d: d.update(co_players={"1": "teacher"})))
    with pytest.raises(KeyError, match="unknown probe 'tig'.*tag"):
        get_probe("tig")
    assert len(probes()) == len(EXPECTED)  # the registry itself is untouched
