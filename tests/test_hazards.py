"""Visible hazards and loading in place: a world with hazards written into a model that held a world without
them (and the other way round) is indistinguishable from one written into a fresh model: the same model fields,
the same observations (hazard category included) and the same physics and unsafe flags over a walk."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from worlds_fixtures import busy_world, flat_world

from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.sim.loading import _LOADED_FIELDS
from worlds.sim.template import CAT_HAZARD, WorldTemplate
from worlds.tasks.game import GameSpec, Goal, Predicate, TaskSpec, floor_ref, player_ref
from worlds.tasks.spec import Cell, Spawn

WALK = np.array([2, 1, 1, 0, 0])


def _task(world) -> TaskSpec:
    colour = world.terrain.floor_colours[0][-1]
    goals = tuple(Goal(((Predicate("on", player_ref(p), floor_ref(colour)),),)) for p in range(len(world.spawns)))
    return TaskSpec(world, GameSpec(goals, "single" if len(goals) == 1 else "cooperative"))


def _worlds() -> tuple:
    """(with hazards, without): a band of hazards across a flat world and the same world bare; the busy world
    (levels, ramps, hazards, objects) and the same world without its hazards."""
    band = flat_world(spawns=(Spawn(1, 1, 0.0),), hazards=tuple(Cell(r, 3) for r in range(0, 6)) + (Cell(1, 2),))
    bare = flat_world(spawns=(Spawn(1, 1, 0.0),))
    busy = busy_world()
    busy_bare = busy.__class__(busy.terrain.__class__(busy.terrain.levels, busy.terrain.floor_colours,
                                                      busy.terrain.ramps, ()), busy.objects, busy.spawns)  # fmt: skip
    return (band, bare), (busy, busy_bare)


@pytest.mark.parametrize("cache", [False, True])
def test_template_load_in_place_equals_fresh_load(cache):
    """Every field a load writes (sizes, bounding boxes and radii included) equals a fresh copy's, either way."""
    template = WorldTemplate()
    for hazardous, bare in _worlds():
        assert (template.loader.load_cold(template.new_model(), mujoco.MjData(template.model), hazardous)
                .geom_category == CAT_HAZARD).any()  # fmt: skip
        for first, second in ((bare, hazardous), (hazardous, bare)):
            used = template.new_model()
            data = mujoco.MjData(used)
            template.load(used, data, first, cache=cache)
            template.load(used, data, second, cache=cache)
            fresh = template.new_model()
            fresh_data = mujoco.MjData(fresh)
            template.load(fresh, fresh_data, second, cache=False)
            for name in _LOADED_FIELDS:
                np.testing.assert_array_equal(getattr(used, name), getattr(fresh, name), err_msg=name)
            np.testing.assert_array_equal(data.qpos, fresh_data.qpos)


def test_env_reloaded_in_place_observes_like_a_fresh_env():
    """One env that played the bare world, then the hazardous one (and vice versa), sees, moves and is flagged
    exactly as an env that only ever held the second world."""
    for hazardous, bare in _worlds():
        players = len(hazardous.spawns)
        actions = np.tile(WALK, (1, players, 1))
        for first, second in ((bare, hazardous), (hazardous, bare)):
            used = BatchEnv(EnvConfig(num_envs=1, num_players=players, max_steps=200))
            used.load_tasks([_task(first)])
            for _ in range(5):
                used.step(actions)
            obs_used, _ = used.load_tasks([_task(second)])
            fresh = BatchEnv(EnvConfig(num_envs=1, num_players=players, max_steps=200))
            obs_fresh, _ = fresh.load_tasks([_task(second)])
            for k in obs_fresh:
                np.testing.assert_array_equal(obs_used[k], obs_fresh[k], err_msg=k)
            saw_hazard = (obs_fresh["rays"][..., 1 + CAT_HAZARD] == 1).any()
            unsafe = 0
            for t in range(25):
                a, ra, _, _, ia = used.step(actions)
                b, rb, _, _, ib = fresh.step(actions)
                for k in b:
                    np.testing.assert_array_equal(a[k], b[k], err_msg=f"{k} at step {t}")
                np.testing.assert_array_equal(ra, rb)
                np.testing.assert_array_equal(ia["unsafe"], ib["unsafe"])
                saw_hazard |= (b["rays"][..., 1 + CAT_HAZARD] == 1).any()
                unsafe += int(ib["unsafe"].sum())
            # the walk east crosses the band world's hazards: seen, then stepped on; a bare world shows none
            if second is bare:
                assert not saw_hazard
            elif players == 1:
                assert saw_hazard and unsafe > 0


def test_safety_family_is_solved_safely_only_by_the_detour():
    """In the real env, the scripted expert that avoids hazards reaches every safety-family goal with no unsafe
    step; the one that ignores them takes the short way: sooner, and over the band (unsafe). The goal reward is
    the same either way, so only the unsafe flag tells the two apart."""
    from worlds.experts.scripted import ScriptedPolicy
    from worlds.tasks.families import default_config, family_task

    n = 8
    tasks = [family_task("safety", seed) for seed in range(n)]
    steps = default_config("safety").episode_length
    first, unsafe = {}, {}
    for avoid in (True, False):
        env = BatchEnv(EnvConfig(num_envs=n, num_players=1, max_steps=steps))
        obs, _ = env.load_tasks(tasks)
        policy = ScriptedPolicy(env, avoid_hazards=avoid)
        first[avoid], unsafe[avoid] = np.full(n, -1), np.zeros(n, dtype=int)
        for t in range(steps - 1):
            obs, r, _, _, info = env.step(policy.act(obs))
            first[avoid][(r[:, 0] > 0) & (first[avoid] < 0)] = t
            unsafe[avoid] += info["unsafe"][:, 0]
    assert (first[True] >= 0).all() and (unsafe[True] == 0).all()
    assert (first[False] >= 0).all() and (unsafe[False] > 0).all()
    assert (first[False] < first[True]).all()
