"""The learned simulator, trained on a tiny set of real scripted demonstrations: its held-out prediction error
falls with training, its rollouts are exact model roll-outs, batched, and far faster than the real env; the
planner's walled steps stop at seen walls and a radius inside the world's own."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from safety import demonstrations as demos
from safety import sightings
from safety import simulator as sim
from safety.floor_map import TILE, map_features

CONFIG = sim.SimConfig(latent_dim=8, hidden=64, train_steps=400, batch_size=64, log_every=200, seed=0)


@pytest.fixture(scope="module")
def trained() -> tuple[sim.SimState, list[dict[str, float]], demos.Demonstrations]:
    data = demos.collect_demonstrations(demos.family_tasks("near", 8, seed=3), demos.DemoConfig(num_envs=4, max_steps=25))
    train, held_out = data.split_episodes(0.25, seed=0)
    state, history = sim.train_simulator(train, held_out, CONFIG)
    return state, history, held_out


def test_held_out_prediction_error_falls_with_training(trained) -> None:
    state, history, held_out = trained
    first, last = history[0], history[-1]
    assert first["step"] == 0 and last["step"] == CONFIG.train_steps and int(state.step) == CONFIG.train_steps
    assert last["held_out_next_obs_mse"] < 0.6 * first["held_out_next_obs_mse"], history
    assert last["held_out_position_error_m"] < first["held_out_position_error_m"], history
    assert last["train_loss"] < history[1]["train_loss"]
    assert all(row.get("train_skipped", 0.0) == 0.0 for row in history)
    assert sim.evaluate(state, held_out) == pytest.approx({k[9:]: v for k, v in last.items() if k.startswith("held_out_")})


def test_imagined_rollout_is_the_model_stepped_exactly(trained) -> None:
    state, _, held_out = trained
    B, H = 3, 4
    obs = jnp.asarray(held_out.obs[:B])
    pose = jnp.asarray(sim.pose_of(held_out.prev_position[:B], held_out.prev_yaw[:B]))
    actions = sim.action_onehot(np.random.default_rng(0).integers(0, sim.ACTION_NVEC, size=(B, H, 5)))
    maps = jnp.asarray(sim.demonstration_maps(held_out)[:B])
    zs, obs_hat, q_hat = sim.imagine(state, obs, pose, actions, maps)
    assert zs.shape == (B, H + 1, CONFIG.latent_dim + sim.STATE_WIDTH) and state.latent_width == zs.shape[-1] and obs_hat.shape == (B, H + 1, held_out.obs_dim)
    assert q_hat.shape == (B, H + 1, len(sim.QUANTITY_NAMES))
    z = sim.encode(state, obs, pose, maps)
    for t in range(H):
        z = state.model.apply(state.params, z, actions[:, t], state.norm.pose_mean, state.norm.pose_std, method=sim.WorldModel.step)
        # the floor map's numbers are not learned: read from the start's map at the imagined position
        z = z.at[:, sim.MAP_SLICE].set(map_features(maps, sim.latent_pose(state, z)))
        np.testing.assert_allclose(zs[:, t + 1], z, rtol=1e-5, atol=1e-5)
    # the pose the latent carries decodes to the real starting pose
    np.testing.assert_allclose(q_hat[:, 0, :3], held_out.prev_position[:B], atol=1e-4)
    # soft actions: probabilities per component sum to one, and their argmax is the discrete action
    logits = jax.random.normal(jax.random.PRNGKey(1), (2, sim.ACTION_WIDTH))
    p = sim.action_probs(logits)
    np.testing.assert_allclose(p[:, :3].sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(sim.action_argmax(p), sim.action_argmax(logits))
    np.testing.assert_array_equal(sim.action_onehot(sim.action_argmax(logits)).argmax(-1), np.asarray(sim.action_onehot(sim.action_argmax(p))).argmax(-1))


def test_walled_steps_stop_at_a_seen_wall(trained) -> None:
    state, _, held_out = trained
    B, H = 4, 12
    obs = jnp.asarray(held_out.obs[:B])
    position = held_out.prev_position[:B]
    pose = jnp.asarray(sim.pose_of(position, held_out.prev_yaw[:B]))
    forward = sim.action_onehot(np.tile(np.array([2, 1, 1, 0, 0]), (B, 1)))
    maps = np.asarray(sim.demonstration_maps(held_out)[:B]).copy()
    tile = np.floor(position[:, :2] / TILE)

    def walk(step: object, floor_maps: np.ndarray) -> np.ndarray:
        z, path = sim.encode(state, obs, pose, jnp.asarray(floor_maps)), []
        for _ in range(H):
            z = jax.vmap(step, in_axes=((None, 0), 0, 0))((state, jnp.asarray(floor_maps)), z, forward)
            path.append(np.asarray(sim.latent_pose(state, z))[:, :2])
        return np.stack(path, 1)

    free = walk(sim.walled_step, maps)
    np.testing.assert_allclose(free, walk(sim.latent_step, maps), atol=1e-5)  # no wall seen in the way: the same
    assert (np.abs(np.floor(free[:, -1] / TILE) - tile).max(-1) > 0).all(), free  # each start leaves its tile
    # walls seen all round the start's tile: the same walk stays within it, its centre a radius from every edge
    maps[:, 3] = 1.0
    maps[np.arange(B), 3, tile[:, 1].astype(int), tile[:, 0].astype(int)] = 0.0
    walled = walk(sim.walled_step, maps)
    r = sim.AVATAR_RADIUS - 1e-4
    assert (walled >= tile[:, None] * TILE + r).all() and (walled <= (tile[:, None] + 1) * TILE - r).all(), walled
    assert (np.abs(walled[:, -1] - walled[:, 0]).max(-1) > 0.1).all()  # it slides along the walls, not frozen
    # the plain learned step (query synthesis) walks through
    assert (np.abs(np.floor(walk(sim.latent_step, maps)[:, -1] / TILE) - tile).max(-1) > 0).all()
    # facing the world's west wall (the map's x = 0) a metre away: the centre stops a radius from it
    pose = pose.at[:, 0].set(1.0).at[:, 3].set(0.0).at[:, 4].set(-1.0)
    maps[:, 3] = 0.0
    assert walk(sim.latent_step, maps)[:, -1, 0].max() < 0.0  # the learned step walks out of the world
    west = walk(sim.walled_step, maps)[..., 0]
    assert west.min() >= sim.AVATAR_RADIUS - 1e-4 and west[:, -1].max() < 0.5, west


def test_rollouts_are_far_faster_than_the_real_env(trained) -> None:
    state, _, _ = trained
    model = sim.rollout_throughput(state, batch=64, horizon=20, repeats=3)
    real = sim.env_throughput(demos.family_tasks("near", 2, seed=3), num_envs=2, steps=20)
    assert model["transitions_per_second"] > 10 * real["transitions_per_second"], (model, real)


def test_bad_config_is_named() -> None:
    with pytest.raises(ValueError, match="latent_dim=0"):
        sim.SimConfig(latent_dim=0)
    with pytest.raises(ValueError, match="learning_rate=-1"):
        sim.SimConfig(learning_rate=-1.0)


def test_goal_sighting_reads_the_goal_distance_from_the_observation(trained) -> None:
    state, history, held_out = trained
    s = np.asarray(sightings.goal_sighting(held_out.next_obs))
    seen = s[:, 0] > 0.5
    assert 0.3 < seen.mean() and set(np.unique(s[:, 0])) <= {0.0, 1.0}
    # the nearest ray on the goal's object: its distance tracks the distance the goal potential counts (a ray meets
    # the object's surface, the potential its centre, less the near distance)
    far = seen & (held_out.potential < -0.5)
    assert np.corrcoef(s[far, 1], -held_out.potential[far])[0, 1] > 0.9
    np.testing.assert_allclose(np.linalg.norm(s[seen, 2:4], axis=-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(s[~seen], np.tile([0.0, 1.0, 0.0, 0.0], (int((~seen).sum()), 1)))
    # the hazard sighting sees hazards only in worlds that have some, and nothing is (0, 0, 1, 0, 0)
    h = np.asarray(sightings.hazard_sighting(held_out.next_obs))
    has_hazards = np.array([len(held_out.task(int(e)).world.terrain.hazards) > 0 for e in held_out.episode])
    seen_h = h[:, 2] < 1.0
    assert not (seen_h & ~has_hazards).any() and ((h[:, 0] > 0) <= seen_h).all() and (h[:, :2] <= 1.0).all()
    np.testing.assert_array_equal(h[~seen_h], np.tile([0.0, 0.0, 1.0, 0.0, 0.0], (int((~seen_h).sum()), 1)))
    # the decoded goal potential improves with training
    assert history[-1]["held_out_potential_error_m"] < history[0]["held_out_potential_error_m"], history
