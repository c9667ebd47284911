"""The pieces connect: real safe demonstrations -> learned simulator -> queries by all four acquisition functions
-> oracle labels from decoded states and the hidden truth -> reward/cost ensemble -> an MPC agent acting in the
real env, planning against the learned reward less a price on floor never seen. Tiny sizes: this checks the wiring
and contracts, not the quality of what is learned."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from safety import acquisition as acq
from safety import demonstrations as demos
from safety import mpc
from safety.labelers import LABELS
from safety.floor_map import CHANNELS, GRID
from safety.request import (GOAL_DISTANCE_FEATURE, GOAL_KNOWN_FEATURE, UNSEEN_FEATURE, MPCAgent, RequestConfig, ScoreParams,
                            goal_potential, learned_reward, run_rounds)
from safety.route import detour, detour_field, tile_costs
from safety.reward_model import RewardModelConfig
from safety.simulator import STATE_WIDTH, SimConfig, decode_progress, train_simulator
from worlds.envs.batch_env import BatchEnv, EnvConfig


def test_request_rounds_and_mpc_agent_in_the_real_env() -> None:
    tasks = demos.family_tasks("near", 4, seed=7)
    data = demos.collect_demonstrations(tasks, demos.DemoConfig(num_envs=4, max_steps=20))
    sim, _ = train_simulator(data, None, SimConfig(latent_dim=8, hidden=32, train_steps=100, batch_size=64, log_every=100))
    config = RequestConfig(rounds=2, query=acq.QueryConfig(horizon=5, max_iterations=30),
                           reward=RewardModelConfig(hidden=16, train_steps=50, batch_size=32))  # fmt: skip
    rows = []
    model, labels, history = run_rounds(sim, data, config, progress=rows.append)
    assert len(history) == 2 and rows == history
    assert len(labels) == 2 * 4 * 5  # rounds x acquisition functions x horizon
    z, classes, rules = labels.arrays()
    assert z.shape == (40, 8 + STATE_WIDTH) and set(classes.tolist()) <= {0, 1, 2} and rules.shape == (40, 2)
    assert (rules.any(1) == (classes == LABELS.index("unsafe"))).all()
    assert {s.split("@")[0] for s in labels.source} == set(acq.ACQUISITIONS)
    assert np.isfinite(history[-1]["loss"])

    env = BatchEnv(EnvConfig(num_envs=2, max_steps=10, camera=demos.SAFETY_CAMERA))  # the demonstrations' camera
    obs, _ = env.load_tasks(tasks[:2])
    agent = MPCAgent(sim, model, mpc.MPCConfig(horizon=4, iterations=5, restarts=2), num_players_total=2)
    for _ in range(3):
        actions = agent.act(env, obs)
        assert actions.shape == (2, 1, 5)
        obs, reward, terminated, truncated, info = env.step(actions)  # valid actions: the env would refuse others
    assert (np.asarray(agent.maps)[:, 1].sum((1, 2)) > 0).all()  # each player's floor map holds what it saw
    agent.reset(np.array([1]), 1)
    assert float(np.abs(np.asarray(agent.state.plan[1])).sum()) == 0.0
    assert float(np.asarray(agent.maps[1]).sum()) == 0.0 and float(np.asarray(agent.maps[0]).sum()) > 0.0
    # the planner's reward: the learned one, less unseen_cost on floor never seen (the latent's unseen_here number)
    seen, unseen = (jnp.asarray(z[:4]).at[:, UNSEEN_FEATURE].set(v) for v in (0.0, 1.0))
    params = ScoreParams(model, sim, jnp.float32(1.0), jnp.zeros((GRID, GRID)), jnp.float32(3.0))
    np.testing.assert_allclose(np.asarray(learned_reward(params, seen)), np.asarray(model.reward(seen)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(learned_reward(params, unseen)), np.asarray(model.reward(unseen)) - 3.0, rtol=1e-5)
    # the goal's potential: minus the distance to a remembered goal, whatever the learned features say (the learned
    # dynamics drift them); the simulator's decoded one while no goal is remembered
    known = jnp.asarray(z[:4]).at[:, GOAL_KNOWN_FEATURE].set(1.0).at[:, GOAL_DISTANCE_FEATURE].set(0.4)
    drifted = known.at[:, STATE_WIDTH:].add(3.0)
    np.testing.assert_allclose(np.asarray(goal_potential(sim, known)), -4.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(goal_potential(sim, drifted)), -4.0, rtol=1e-6)
    unknown = jnp.asarray(z[:4]).at[:, GOAL_KNOWN_FEATURE].set(0.0)
    np.testing.assert_allclose(np.asarray(goal_potential(sim, unknown)), np.asarray(decode_progress(sim, unknown)), rtol=1e-6)
    # the route prices every tile as floor seen (a way walked ahead is seen before it is walked): what the map
    # has seen of the floor changes no detour
    floor_map = np.zeros((CHANNELS, GRID, GRID), np.float32)
    floor_map[2, 6, 6] = 1.0  # the goal remembered at row 6, column 6
    floor_map[0, 3, 2:9] = 1.0  # a hazard band seen across row 3
    unseen_floor, seen_floor = jnp.asarray(floor_map), jnp.asarray(floor_map).at[1].set(1.0)
    unseen_price, seen_price = (np.asarray(tile_costs(model, sim, known[0], m)) for m in (unseen_floor, seen_floor))
    assert np.abs(unseen_price - seen_price).max() > 1e-3  # the model prices floor never seen otherwise
    field = np.asarray(detour_field(model, sim, known[0], unseen_floor, 100.0))
    np.testing.assert_allclose(field, np.asarray(detour_field(model, sim, known[0], seen_floor, 100.0)), atol=1e-4)
    np.testing.assert_allclose(field, np.asarray(detour(tile_costs(model, sim, known[0], seen_floor), unseen_floor, 100.0)),
                               atol=1e-4)  # fmt: skip
    with pytest.raises(ValueError, match="unseen_cost=-1"):
        mpc.MPCConfig(unseen_cost=-1.0)
    with pytest.raises(ValueError, match="hazard_starts=1.5"):
        RequestConfig(hazard_starts=1.5)
