"""The reward/cost ensemble learns a planted reward and planted per-rule costs on synthetic latent states, and
refuses labels outside the three classes."""

from __future__ import annotations

import numpy as np
import pytest

from safety import labelers
from safety.reward_model import RewardModelConfig, init_reward_model, train_reward_model


def planted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latents [n, 6]; unsafe by the hazard rule when z0 > 1, by the fall rule when z1 < -1, else good when
    z2 > 0.3, else neutral."""
    z = np.random.default_rng(seed).normal(size=(n, 6)).astype(np.float32)
    rules = np.stack([z[:, 0] > 1.0, z[:, 1] < -1.0], 1)
    classes = np.where(rules.any(1), labelers.UNSAFE, np.where(z[:, 2] > 0.3, labelers.GOOD, labelers.NEUTRAL))
    return z, classes, rules


def test_ensemble_learns_a_planted_reward_and_costs_per_rule() -> None:
    z, classes, rules = planted(2000, 0)
    config = RewardModelConfig(members=4, hidden=32, train_steps=600, batch_size=128, seed=0)
    model, losses = train_reward_model(z, classes, rules, config)
    assert np.isfinite(list(losses.values())).all()
    zt, ct, rt = planted(1000, 1)
    probs = np.asarray(model.class_probs(zt))
    assert probs.shape == (4, 1000, 3)
    accuracy = (probs.mean(0).argmax(-1) == ct).mean()
    assert accuracy > 0.9, accuracy
    for m in range(4):  # every member learned it, not only the mean
        assert (probs[m].argmax(-1) == ct).mean() > 0.85
    reward = np.asarray(model.reward(zt))
    expected = np.array(config.class_rewards)[ct]
    assert np.corrcoef(reward, expected)[0, 1] > 0.9
    # (a good state near the unsafe boundary keeps some unsafe probability, worth -10: compare medians)
    assert np.median(reward[ct == labelers.UNSAFE]) < -8 and np.median(reward[ct == labelers.GOOD]) > 0.5
    costs = np.asarray(model.rule_costs(zt))
    assert costs.shape == (1000, 2)
    for k in range(2):
        assert ((costs[:, k] > 0.5) == rt[:, k]).mean() > 0.9, labelers.RULES[k]
    # the member-wise rewards average to the ensemble reward
    np.testing.assert_allclose(np.asarray(model.member_rewards(zt)).mean(0), reward, rtol=1e-5, atol=1e-5)


def test_members_start_different_and_labels_are_checked() -> None:
    model = init_reward_model(6, RewardModelConfig(members=4, hidden=8))
    z = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    probs = np.asarray(model.class_probs(z))
    assert np.abs(probs[0] - probs[1]).max() > 1e-3
    with pytest.raises(ValueError, match=r"labels\[2\]=3 is not one of the three classes"):
        train_reward_model(z, np.array([0, 1, 3, 2, 1]), None, RewardModelConfig(train_steps=1))
    with pytest.raises(ValueError, match=r"labels\[1\]='dangerous' is not one of the three classes"):
        train_reward_model(z, ["good", "dangerous", "neutral", "good", "unsafe"], None, RewardModelConfig(train_steps=1))
    with pytest.raises(ValueError, match=r"rules\[0\]=\[True, False\] contradicts label 'good'"):
        train_reward_model(z, ["good"] * 5, np.array([[1, 0]] + [[0, 0]] * 4), RewardModelConfig(train_steps=1))
    with pytest.raises(ValueError, match=r"latents: expected shape \(4, L\)"):
        train_reward_model(z, [0, 1, 2, 1], None, RewardModelConfig(train_steps=1))
    assert labelers.check_labels(["unsafe", 1, 2.0]).tolist() == [0, 1, 2]


def test_members_read_only_their_window_of_the_latent() -> None:
    z, classes, rules = planted(300, 2)
    config = RewardModelConfig(members=2, hidden=16, train_steps=50, skip_features=1, read_features=4, seed=0)
    model, _ = train_reward_model(z, classes, rules, config)
    moved = z.copy()
    moved[:, 0] += 5.0  # before the window
    moved[:, 4:] -= 5.0  # after it
    np.testing.assert_array_equal(np.asarray(model.reward(moved)), np.asarray(model.reward(z)))
    inside = z.copy()
    inside[:, 2] += 5.0
    assert not np.allclose(np.asarray(model.reward(inside)), np.asarray(model.reward(z)))
    with pytest.raises(ValueError, match="read_features=2 must exceed skip_features=3"):
        RewardModelConfig(skip_features=3, read_features=2)
    with pytest.raises(ValueError, match="read_features=9 exceeds the latent width 6"):
        init_reward_model(6, RewardModelConfig(read_features=9))


def test_cost_heads_read_only_their_own_window() -> None:
    z, classes, rules = planted(300, 2)
    config = RewardModelConfig(members=2, hidden=16, train_steps=50, skip_features=1, read_features=5,
                               cost_skip_features=3, seed=0)  # fmt: skip
    model, _ = train_reward_model(z, classes, rules, config)
    moved = z.copy()
    moved[:, 1:3] += 5.0  # read by the class head, before the cost heads' window
    np.testing.assert_array_equal(np.asarray(model.rule_costs(moved)), np.asarray(model.rule_costs(z)))
    assert not np.allclose(np.asarray(model.reward(moved)), np.asarray(model.reward(z)))
    inside = z.copy()
    inside[:, 3] += 5.0
    assert not np.allclose(np.asarray(model.rule_costs(inside)), np.asarray(model.rule_costs(z)))
    with pytest.raises(ValueError, match="cost_skip_features=5 must be -1 or lie in"):
        RewardModelConfig(read_features=5, cost_skip_features=5)
