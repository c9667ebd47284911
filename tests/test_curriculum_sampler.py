"""CurriculumSampler: deterministic from its seeds, resumes exactly from a state_dict (through an npz file),
plugs into BatchEnv and learns from its finished episodes, and the filter steers draws away from easy tasks."""

import hashlib

import numpy as np
import pytest

from curriculum.curricula import DynamicFilter, PLR
from curriculum.sampler import CurriculumSampler, FamilyPool
from curriculum.taskset import TaskSet
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.tasks.game import task_id


@pytest.fixture(scope="module")
def pool() -> FamilyPool:
    return FamilyPool("broad", range(30))


def _fake_return(tid: str, k: int) -> float:
    """A deterministic 'episode outcome' per task and episode: some tasks easy, some hard, some in between."""
    h = int(hashlib.sha256(f"{tid}:{k}".encode()).hexdigest()[:8], 16) / 2**32
    level = int(tid[:2], 16) / 255
    return float(np.clip(level + 0.3 * (h - 0.5), 0.0, 1.0))


def _run(sampler: CurriculumSampler, env_seeds: range, batch: int = 3) -> list[str]:
    """Draw a batch of tasks per round (as BatchEnv's resets do), then feed back their episodes."""
    drawn = []
    for r in env_seeds:
        ids = [task_id(sampler(r * batch + j)) for j in range(batch)]
        drawn += ids
        sampler.observe(ids, [_fake_return(t, r * batch + i) for i, t in enumerate(ids)])
    return drawn


def _curricula():
    return ["uniform", DynamicFilter(rollouts=2, max_rejections=20), PLR(buffer_size=8, beta=0.3, rho=0.3)]


@pytest.mark.parametrize("curriculum", _curricula(), ids=["uniform", "filter", "plr"])
def test_resume_continues_the_same_curriculum(pool, curriculum, tmp_path):
    whole = CurriculumSampler(pool, curriculum, seed=7)
    uninterrupted = _run(whole, range(40))
    first = CurriculumSampler(pool, curriculum, seed=7)
    head = _run(first, range(20))
    state = first.state_dict()
    flat = {f"{k}/{k2}" if isinstance(v, dict) else k: v2 if isinstance(v, dict) else v
            for k, v in state.items() for k2, v2 in (v.items() if isinstance(v, dict) else [(None, v)])}
    np.savez(tmp_path / "sampler.npz", **flat)  # plain arrays only: what a checkpoint stores
    loaded = dict(np.load(tmp_path / "sampler.npz"))
    restored = {k: {k2.split("/")[1]: v for k2, v in loaded.items() if k2.startswith(k + "/")} if isinstance(v, dict) else loaded[k]
                for k, v in state.items()}
    resumed = CurriculumSampler(pool, curriculum, seed=7)
    resumed.load_state_dict(restored)
    tail = _run(resumed, range(20, 40))
    assert head + tail == uninterrupted
    assert len(set(uninterrupted)) > 3


def test_draws_depend_only_on_the_seeds(pool):
    a = _run(CurriculumSampler(pool, "plr", seed=1), range(15))
    assert a == _run(CurriculumSampler(pool, "plr", seed=1), range(15))
    assert a != _run(CurriculumSampler(pool, "plr", seed=2), range(15))


def test_filter_stops_drawing_easy_tasks():
    tasks = TaskSet.from_family("near", range(12))
    easy = set(tasks.ids[:6])  # goal always held: too easy; the rest: sometimes rewarded, never "high"
    sampler = CurriculumSampler(tasks, DynamicFilter(rollouts=3), seed=0)
    late = []
    for r in range(150):
        tid = task_id(sampler(r))
        sampler.observe([tid], [1.0 if tid in easy else (0.3 if r % 2 else 0.0)])
        if r >= 100:
            late.append((tid, sampler.last_kind))
    assert all(tid not in easy for tid, _ in late) and {k for _, k in late} == {"admitted"}


def test_plugs_into_batch_env_and_learns_from_finished_episodes():
    sampler = CurriculumSampler(FamilyPool("near", range(10)), "plr", seed=3)
    env = BatchEnv(EnvConfig(num_envs=2, num_players=1, max_steps=4), sampler)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    finished = 0
    for _ in range(12):
        actions = rng.integers(0, [3, 3, 3, 2, 2], size=(2, 1, 5))
        *_, info = env.step(actions)
        if "final" in info:
            sampler.observe_final(info["final"])
            finished += len(info["final"]["env"])
    assert finished == 6 and sampler.stats.count.sum() == 6
    assert sampler.state.clock == 2 + 6  # two first resets, six auto-resets
    assert sampler.state.in_buffer.sum() >= 1


def test_bad_input_is_named(pool):
    sampler = CurriculumSampler(pool, "uniform", seed=0)
    with pytest.raises(ValueError, match="task 0123456789abcdef was not drawn by this sampler"):
        sampler.observe(["0123456789abcdef"], [1.0])
    state = sampler.state_dict()
    with pytest.raises(ValueError, match="checkpoint curriculum=uniform, this sampler curriculum=plr"):
        CurriculumSampler(pool, "plr", seed=0).load_state_dict(state)
    with pytest.raises(ValueError, match="checkpoint pool_id=[0-9a-f]{16}, this sampler pool_id="):
        CurriculumSampler(FamilyPool("broad", range(31)), "uniform", seed=0).load_state_dict(state)
    with pytest.raises(ValueError, match="curriculum='hard' is not a known curriculum"):
        CurriculumSampler(pool, "hard")
