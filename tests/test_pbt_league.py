"""PBT and league logic, as pure functions (no Ray, no training)."""

import numpy as np
import pytest

from population.league import League, LeagueConfig, Snapshot, choose_coplayer, pfsp_weights
from population.pbt import PBTConfig, PBTState, dominates, explore, pbt_round, validate_hparams

HP = {"lr": 3e-4, "ent_coef": 0.01}


def test_dominates_is_pareto():
    assert dominates([0.5, 0.3], [0.4, 0.3])
    assert not dominates([0.5, 0.3], [0.5, 0.3])
    assert not dominates([0.6, 0.2], [0.5, 0.3])


def test_pareto_exploit_copies_dominator_and_perturbs():
    state = PBTState(last_exploit=[0, 0, 0])
    fitness = np.array([[0.1, 0.1], [0.9, 0.8], [0.5, 0.9]])
    events = pbt_round(10, fitness, [dict(HP)] * 3, state, np.random.default_rng(0))
    assert [(e.target, e.source, e.reason) for e in events] == [(0, 1, "pareto")]
    new = events[0].new_hparams
    for name in HP:
        assert new[name] == pytest.approx(HP[name] * 0.8) or new[name] == pytest.approx(HP[name] * 1.2)
    assert state.last_exploit == [10, 0, 0] and state.history == events


def test_truncation_fallback_when_nobody_dominates():
    state = PBTState(last_exploit=[0] * 5)
    fitness = np.array([[0.1, 0.9], [0.9, 0.1], [0.5, 0.5], [0.2, 0.8], [0.8, 0.2]])
    events = pbt_round(10, fitness, [dict(HP)] * 5, state, np.random.default_rng(1))
    assert len(events) == 1 and events[0].reason == "truncation"
    assert events[0].target == 0 and events[0].source == 1  # lexicographic order on the fitness vector


def test_members_not_ready_do_not_copy_and_ties_are_kept():
    state = PBTState(last_exploit=[9, 0])
    assert pbt_round(10, np.array([0.0, 1.0]), [dict(HP)] * 2, state, np.random.default_rng(0), PBTConfig(ready_after=2)) == []
    state = PBTState(last_exploit=[0, 0])
    assert pbt_round(10, np.array([0.5, 0.5]), [dict(HP)] * 2, state, np.random.default_rng(0)) == []


def test_explore_is_seeded_and_bounded():
    a = explore({"lr": 1e-2, "ent_coef": 0.0}, np.random.default_rng(3))
    b = explore({"lr": 1e-2, "ent_coef": 0.0}, np.random.default_rng(3))
    assert a == b and a["lr"] <= 1e-2 and a["ent_coef"] == 0.0


def test_gae_lambda_is_perturbed_by_its_distance_to_one():
    out = {round(explore({"gae_lambda": 0.95}, np.random.default_rng(seed))["gae_lambda"], 9) for seed in range(20)}
    assert sorted(out) == [0.94, 0.96]


def test_validate_hparams_names_field_and_value():
    with pytest.raises(ValueError, match="'momentum' is unknown"):
        validate_hparams({"momentum": 0.9})
    with pytest.raises(ValueError, match=r"lr=5\.0 is outside"):
        validate_hparams({"lr": 5.0})


def test_pfsp_matches_definitions():
    x = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(pfsp_weights(x, "hard", 2.0), (1 - x) ** 2 / ((1 - x) ** 2).sum())
    np.testing.assert_allclose(pfsp_weights(x, "variance"), x * (1 - x) / (x * (1 - x)).sum())
    np.testing.assert_allclose(pfsp_weights(np.array([1.0, 1.0]), "hard"), [0.5, 0.5])


def test_league_prefers_hard_opponents_and_round_trips():
    league = League(members=1)
    for i, name in enumerate(["easy", "hard"]):
        league.add_snapshot(Snapshot(name, 0, i, f"/tmp/{name}"), max_snapshots=8)
    for _ in range(200):
        league.record(0, "easy", 1.0, decay=0.9)
        league.record(0, "hard", 0.0, decay=0.9)
    cfg = LeagueConfig(self_play=0.0, snapshot_play=1.0)
    rng = np.random.default_rng(0)
    picks = [choose_coplayer(league, 0, rng, cfg) for _ in range(200)]
    assert picks.count("hard") > 190
    again = League.from_json(league.to_json())
    assert again == league


def test_league_snapshot_cap_drops_oldest():
    league = League(members=2)
    for i in range(5):
        league.add_snapshot(Snapshot(f"s{i}", 0, i, ""), max_snapshots=3)
    assert [s.name for s in league.snapshots] == ["s2", "s3", "s4"]
    rng = np.random.default_rng(0)
    choices = {choose_coplayer(league, 0, rng, LeagueConfig(self_play=0.0, snapshot_play=0.0)) for _ in range(20)}
    assert choices == {"member1"}


def test_population_learning_rate_anneals_over_the_runs_own_budget():
    """The learners' PPO anneals to 0 at the run's last iteration, whatever PPOConfig's default budget."""
    import jax
    import jax.numpy as jnp

    from agents.ppo import PPO
    from population.config import PopulationConfig
    from worlds.envs.batch_env import BatchEnv, EnvConfig
    from worlds.tasks.families import FamilySampler

    probe = BatchEnv(EnvConfig(num_envs=1), FamilySampler("near"))
    for iterations, envs in ((7, 4), (300, 16)):
        cfg = PopulationConfig(iterations=iterations, envs_per_worker=envs)
        ppo_cfg = cfg.ppo_config()
        assert ppo_cfg.total_timesteps == iterations * envs * cfg.ppo.num_steps
        assert ppo_cfg.num_updates == iterations
        ppo = PPO(ppo_cfg, probe.single_observation_space, probe.single_action_space)
        state = jax.jit(ppo.init)(jax.random.PRNGKey(0))
        lr = float(state.hparams["lr"])
        lr_at = lambda u: float(ppo._lr_now(state.replace(updates=jnp.asarray(u, state.updates.dtype))))  # noqa: E731
        assert lr_at(0) == pytest.approx(lr)
        assert lr_at(iterations // 2) == pytest.approx(lr * (1 - (iterations // 2) / iterations), rel=1e-5)
        assert lr_at(iterations - 1) == pytest.approx(lr / iterations, rel=1e-5)  # the last update's rate
        assert lr_at(iterations) == 0.0  # after the budget: annealed to 0 (the old default ended at 88% of the start)
