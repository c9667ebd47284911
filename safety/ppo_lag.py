"""PPO-Lagrangian on the real env: the constrained baseline ReQueST is measured against.

As OmniSafe's PPOLag (REFERENCES: Safety-Gymnasium / OmniSafe), on openland's ``BatchEnv``:

- per-step cost = the env's unsafe flag (a hazard stood on or a fall), collected with the rollout per rule
  (``RolloutRunner(cost_keys=("hazard", "fell"))``, ``Rollout.costs [T, N, 2]``); the cost of a step is 1 when
  any rule is broken, so an episode's cost is the env's own unsafe count (``EpisodeRecord.unsafe``);
- a cost critic: a second copy of the policy network whose value head alone is trained (MSE to the cost
  returns, its own Adam), because the cost has other dynamics than the reward and sharing a head would mix them;
- cost GAE with the reward's γ and GAE λ (PPO's own ``_gae``) from the cost critic's values at collection time;
- λ ← max(0, λ + η (J_C − d)) after each rollout, on the mean cost of the episodes that ended in it
  (``safety.lagrange``), *before* the policy update, as OmniSafe's ``PPOLag._update`` orders them;
- the clipped surrogate on (A_R − λ A_C) / (1 + λ) (``lagrange.penalised_advantage``), injected through PPO's
  ``_policy_advantages`` hook so the update is PPO's own code. With ``norm_adv`` the reward advantage is
  standardised and the cost advantage centred over the rollout first, as OmniSafe's buffer does
  (``standardized_adv_r`` / ``standardized_adv_c``), so λ weighs quantities of a fixed scale.

``constrained=False`` trains plain PPO on the same training reward, through the same loop (the policy update is
PPO's, bit for bit; no cost critic is trained), while still counting the unsafe steps it causes: the unconstrained
reference. Training-time unsafe steps (per rule and in all) are counted from every step of every rollout and kept
in the checkpointed state. Checkpoints (``agents.checkpoint.Checkpointer``) hold the policy's ``TrainState``,
the cost critic, λ, the counters, the runner and the env, so a resume continues exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import flax.struct
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax

from agents.checkpoint import Checkpointer, Restored
from agents.networks import Carry, ObsTree
from agents.ppo import PPO, PPOConfig, Rollout, TrainState
from agents.rollout import EpisodeRecord, RolloutRunner
from agents.run import default_ppo
from safety.demonstrations import SAFETY_CAMERA
from safety.lagrange import LagrangeConfig, LagrangeState, init_lagrange, penalised_advantage, update_lagrange
from worlds.envs.batch_env import BatchEnv, EnvConfig
from worlds.sim.template import PhysicsConfig
from worlds.tasks.families import FamilySampler, check_family, default_config, family_players

#: The env's per-step flags that are costs, one per rule (``info["hazard"]``, ``info["fell"]``).
COST_RULES: tuple[str, ...] = ("hazard", "fell")


# ----------------------------------------------------------------------------------------------------------
# The learner
# ----------------------------------------------------------------------------------------------------------
class CostCritic(flax.struct.PyTreeNode):
    """The cost value function's parameters, Adam state and recurrent carry at the start of the next rollout."""

    params: Any
    opt_state: Any
    carry: Carry


class LagState(flax.struct.PyTreeNode):
    """What PPO-Lag adds to PPO's ``TrainState``: the cost critic, λ, and the training-time unsafe counts."""

    cost: CostCritic
    lagrange: LagrangeState
    train_unsafe: jax.Array
    """int32 [R + 1]: unsafe steps the learner caused in the real env during training, per rule, then in all."""


class PPOLag(PPO):
    """PPO whose surrogate uses the penalised advantage (see the module docstring); ``constrained=False`` is plain
    PPO with the cost bookkeeping only. All state is explicit: PPO's ``TrainState`` plus a :class:`LagState`."""

    def __init__(self, cfg: PPOConfig, obs_space: gym.Space, action_space: gym.Space,
                 lagrange: LagrangeConfig = LagrangeConfig(), constrained: bool = True,
                 rules: tuple[str, ...] = COST_RULES) -> None:  # fmt: skip
        super().__init__(cfg, obs_space, action_space)
        if not rules:
            raise ValueError("PPOLag: rules is empty; name at least one per-step cost flag (e.g. 'hazard')")
        self.lagrange_config, self.constrained, self.rules = lagrange, constrained, tuple(rules)
        parts = [optax.clip_by_global_norm(cfg.max_grad_norm)] if cfg.clip_grad_norm else []
        parts.append(optax.adam(cfg.lr, eps=cfg.adam_eps))
        self.cost_tx = optax.apply_if_finite(optax.chain(*parts), max_consecutive_errors=2**30)
        self.lag_update = functools.partial(PPOLag._jit_lag_update, self)

    def __hash__(self) -> int:
        return hash((type(self), self.cfg, self.net, self.lagrange_config, self.constrained, self.rules))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and (self.cfg, self.net, self.lagrange_config, self.constrained, self.rules) == (
            other.cfg, other.net, other.lagrange_config, other.constrained, other.rules)  # type: ignore[attr-defined]

    def init_lag(self, seed: int) -> LagState:
        """Fresh cost critic (its own parameters, drawn from ``seed``), λ₀ and zero counts."""
        from agents.networks import init_params

        params = init_params(self.net, jax.random.fold_in(jax.random.PRNGKey(seed), 7919))
        cost = CostCritic(params, self.cost_tx.init(params), self.initial_carry())
        return LagState(cost, init_lagrange(self.lagrange_config), jnp.zeros(len(self.rules) + 1, jnp.int32))

    # -- the advantage hook -----------------------------------------------------------------------------------
    def _policy_advantages(self, advantages: jax.Array, ro: Rollout) -> jax.Array:
        """(A_R − λ A_C) / (1 + λ) when the rollout carries cost advantages and λ (``ro.extras``), else A_R."""
        if ro.extras is None:
            return advantages
        a_r, a_c = advantages, ro.extras["cost_advantages"]
        if self.cfg.norm_adv:
            a_r = (a_r - a_r.mean()) / (a_r.std() + 1e-8)
            a_c = a_c - a_c.mean()
        return penalised_advantage(a_r, a_c, ro.extras["multiplier"])

    # -- the cost critic --------------------------------------------------------------------------------------
    def cost_values(self, state: TrainState, cost: CostCritic, obs: ObsTree, dones: jax.Array, last_obs: ObsTree,
                    last_done: jax.Array) -> tuple[jax.Array, jax.Array, Carry]:  # fmt: skip
        """Cost values [T, N] of a rollout's observations (from the carry the critic had at its start), the
        bootstrap value [N] of the observation after it, and the carry after its last step (the next rollout's
        start: the bootstrap step does not advance it). Observations are normalised with the statistics ``act``
        used for this rollout."""
        obs_n = self.normalize_obs(state.obs_rms, obs)
        carry, _, values = self.net.apply(cost.params, cost.carry, obs_n, dones)
        last_n = jax.tree_util.tree_map(lambda x: x[None], self.normalize_obs(state.obs_rms, last_obs))
        _, _, last = self.net.apply(cost.params, carry, last_n, last_done[None])
        return values, last[0], carry

    def cost_advantages(self, state: TrainState, cost: CostCritic, ro: Rollout, last_obs: ObsTree
                        ) -> tuple[jax.Array, jax.Array, jax.Array, Carry]:  # fmt: skip
        """Cost GAE of a rollout with costs: (A_C [T, N], cost returns [T, N], cost values [T, N], the critic's
        carry for the next rollout). The per-step cost is 1 when any rule is broken (the env's unsafe flag: a
        step both on a hazard and falling costs 1, as the env counts it); γ and GAE λ are the reward's."""
        if ro.costs is None:
            raise ValueError("PPOLag: the rollout has no costs (make the RolloutRunner with cost_keys)")
        unsafe = jnp.asarray(ro.costs, jnp.float32).max(-1)
        ends = jnp.concatenate([ro.dones[1:], ro.last_done[None]], axis=0).astype(jnp.float32)
        values, last_value, carry_end = self.cost_values(state, cost, ro.obs, ro.dones, last_obs, ro.last_done)
        adv, returns = self._gae(unsafe, values, ends, last_value, state.hparams["gae_lambda"])
        return adv, returns, values, carry_end

    def _cost_update(self, cost: CostCritic, obs_n: ObsTree, dones: jax.Array, returns: jax.Array,
                     key: jax.Array) -> tuple[Any, Any, jax.Array]:  # fmt: skip
        """update_epochs × num_minibatches Adam steps on ½ (V_C − R_C)², split as PPO splits (whole sequences for a
        recurrent core, samples for 'none'); returns (params, opt_state, mean loss)."""
        def loss_fn(params: Any, mb: dict[str, Any], carry: Carry) -> jax.Array:
            _, _, v = self.net.apply(params, carry, mb["obs"], mb["dones"])
            return 0.5 * ((v - mb["returns"]) ** 2).mean()

        def minibatch_step(c: tuple[Any, Any], mb: dict[str, Any], carry: Carry) -> tuple[tuple[Any, Any], jax.Array]:
            params, opt_state = c
            loss, grads = jax.value_and_grad(loss_fn)(params, mb, carry)
            updates, opt_state = self.cost_tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        data = {"obs": obs_n, "dones": dones, "returns": returns}
        (params, opt_state), losses = self._minibatch_epochs(minibatch_step, (cost.params, cost.opt_state), data,
                                                             cost.carry, key)  # fmt: skip
        return params, opt_state, losses.mean()

    def _lag_update(self, state: TrainState, lag: LagState, ro: Rollout, last_obs: ObsTree
                    ) -> tuple[TrainState, LagState, dict[str, jax.Array]]:  # fmt: skip
        """One PPO-Lag update from a rollout with costs (λ already updated for it; see :meth:`PPOLagTrainer.iteration`).
        Cost GAE from the critic's values at collection time; PPO's update on the penalised advantage; then the
        cost critic's regression on the cost returns."""
        cost_adv, cost_ret, values, carry_end = self.cost_advantages(state, lag.cost, ro, last_obs)
        costs = ro.costs.astype(jnp.float32)
        unsafe = costs.max(-1)
        if self.constrained:
            ro = ro.replace(extras={"cost_advantages": cost_adv, "multiplier": lag.lagrange.multiplier})
        new_state, metrics = self._update(state, ro)
        cost = lag.cost.replace(carry=carry_end)
        if self.constrained:
            key = jax.random.fold_in(state.key, 1)  # the policy's epoch keys come from state.key's split
            params, opt_state, v_loss = self._cost_update(lag.cost, self.normalize_obs(state.obs_rms, ro.obs), ro.dones,
                                                          cost_ret, key)  # fmt: skip
            cost = cost.replace(params=params, opt_state=opt_state)
            metrics["cost_v_loss"] = v_loss
        counts = jnp.concatenate([costs.sum((0, 1)), unsafe.sum()[None]]).astype(jnp.int32)
        metrics.update(cost_rate=unsafe.mean(), cost_adv_mean=cost_adv.mean(), cost_value_mean=values.mean(),
                       multiplier=lag.lagrange.multiplier)  # fmt: skip
        return new_state, lag.replace(cost=cost, train_unsafe=lag.train_unsafe + counts), metrics


PPOLag._jit_lag_update = jax.jit(PPOLag._lag_update, static_argnums=0)


# ----------------------------------------------------------------------------------------------------------
# The trainer
# ----------------------------------------------------------------------------------------------------------
def _safety_lagrange() -> LagrangeConfig:
    return LagrangeConfig(cost_limit=0.5)


@dataclass(frozen=True)
class PPOLagTrainConfig:
    """PPO-Lag (or, with ``constrained=False``, plain PPO with unsafe counting) on one task family."""

    family: str = "safety"
    """Task family (worlds.tasks.families); one player per env."""
    num_envs: int = 16
    """Worlds stepped together (one PPO sequence each)."""
    max_steps: int = 0
    """Episode length in agent decisions; 0: the family's default (safety: 120)."""
    total_timesteps: int = 200_000
    """Agent-steps to train for."""
    shaping: float = 1.0
    """Potential-based shaping of the training reward toward the goal (agents.shaping), the same for PPO and
    PPO-Lag; never a cost, never seen by evaluation."""
    seed: int = 0
    """Seed of parameters, acting and the training task draws."""
    ppo: PPOConfig = field(default_factory=default_ppo)
    """PPO hyper-parameters (num_envs, total_timesteps and seed are set from this config)."""
    lagrange: LagrangeConfig = field(default_factory=_safety_lagrange)
    """λ's rule. The cost limit is in unsafe steps per episode: OmniSafe's 25 is for 1000-step episodes whose
    cost a random policy racks up by the hundred; here episodes are 120 steps and the goal can be reached
    without any, so the default allows 0.5."""
    constrained: bool = True
    """PPO-Lag; False: plain PPO on the training reward (the costs are only counted)."""
    checkpoint_dir: Path | None = None
    """Orbax checkpoints of the whole state here (resumed from when it holds one); None: no checkpoints."""
    checkpoint_every: int = 10
    """Updates between checkpoints."""
    env_threads: int = 1
    """Physics / ray-casting threads of the BatchEnv (results are the same at any count)."""
    substeps: int = PhysicsConfig().substeps
    """Physics steps of 10 ms per decision."""

    def __post_init__(self) -> None:
        check_family(self.family)
        if family_players(self.family) != 1:
            raise ValueError(f"PPOLagTrainConfig.family={self.family!r}: PPO-Lag here trains one-player families")
        for name in ("num_envs", "total_timesteps", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"PPOLagTrainConfig.{name}={getattr(self, name)!r} must be at least 1")
        if self.max_steps < 0:
            raise ValueError(f"PPOLagTrainConfig.max_steps={self.max_steps!r} must be positive (0: the family's default)")

    def episode_steps(self) -> int:
        return self.max_steps or default_config(self.family).episode_length

    def ppo_config(self) -> PPOConfig:
        return dataclasses.replace(self.ppo, num_envs=self.num_envs, total_timesteps=self.total_timesteps, seed=self.seed)

    def env_config(self) -> EnvConfig:
        # the safety pipeline's camera (floor row looking ~2.5 m ahead), so every method compared sees the same
        return EnvConfig(num_envs=self.num_envs, num_players=1, max_steps=self.episode_steps(),
                         physics=PhysicsConfig(substeps=self.substeps), threads=self.env_threads,
                         camera=SAFETY_CAMERA)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """What a checkpoint must match (where it is written and how fast the env runs are not part of it)."""
        out = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("checkpoint_dir", "env_threads", "ppo")}
        out["ppo"] = self.ppo_config().to_json()
        out["lagrange"] = {k: (repr(v) if isinstance(v, float) and not math.isfinite(v) else v)
                           for k, v in dataclasses.asdict(self.lagrange).items()}  # fmt: skip
        return out


class PPOLagTrainer:
    """Rollout on the real env (costs per rule recorded), λ step, PPO-Lag update; see the module docstring."""

    def __init__(self, cfg: PPOLagTrainConfig) -> None:
        self.config = cfg
        self.cfg = cfg.ppo_config()
        env = BatchEnv(cfg.env_config(), FamilySampler(cfg.family))
        self.ppo = PPOLag(self.cfg, env.single_observation_space, env.single_action_space, cfg.lagrange,
                          cfg.constrained, COST_RULES)  # fmt: skip
        self.state = self.ppo.init(self.cfg.seed)
        self.lag = self.ppo.init_lag(self.cfg.seed)
        self._finished: list[EpisodeRecord] = []
        self.runner = RolloutRunner(env, self.ppo, learning=np.ones(1, bool), shaping=cfg.shaping, gamma=self.cfg.gamma,
                                    aux_targets=self.cfg.aux_coef > 0, episode_hooks=[self._on_episode],
                                    cost_keys=COST_RULES)  # fmt: skip
        self.runner.reset(seed=self.cfg.seed)

    @property
    def multiplier(self) -> float:
        return float(self.lag.lagrange.multiplier)

    def train_unsafe(self) -> dict[str, int]:
        """Unsafe steps caused in the real env during training so far: per rule and ``unsafe`` (any rule)."""
        counts = np.asarray(self.lag.train_unsafe).tolist()
        return dict(zip((*COST_RULES, "unsafe"), (int(c) for c in counts)))

    def _on_episode(self, record: EpisodeRecord) -> None:
        self._finished.append(record)

    def pop_episodes(self) -> list[EpisodeRecord]:
        """Episodes finished since the last call (and forget them)."""
        out, self._finished = self._finished, []
        return out

    def iteration(self) -> dict[str, float]:
        """One rollout, λ ← max(0, λ + η (J_C − d)) on its finished episodes' mean cost, one PPO-Lag update."""
        key, rkey = jax.random.split(self.state.key)
        self.state = self.state.replace(key=key)
        rollout = self.runner.collect(self.state, rkey, self.cfg.num_steps)
        episodes = self.pop_episodes()
        ep_cost = np.array([c for r in episodes for c in r.unsafe[r.learner_slots].tolist()], np.float64)
        ep_success = np.array([s for r in episodes for s in r.success[r.learner_slots].tolist()], np.float64)
        mean_cost = float(ep_cost.mean()) if len(ep_cost) else math.nan
        if self.config.constrained:
            self.lag = self.lag.replace(lagrange=update_lagrange(self.lag.lagrange, mean_cost, self.config.lagrange))
        self.state, self.lag, metrics = self.ppo.lag_update(self.state, self.lag, rollout, self.runner.learner_obs())
        out = {k: float(v) for k, v in metrics.items()}
        out.update(episodes=float(len(ep_cost)), episode_cost=mean_cost,
                   train_success=float(ep_success.mean()) if len(ep_success) else math.nan,
                   multiplier=self.multiplier, env_steps=float(int(self.state.env_steps)))  # fmt: skip
        out.update({f"train_{k}": float(v) for k, v in self.train_unsafe().items()})
        return out

    # -- checkpoints ------------------------------------------------------------------------------------------
    def checkpoint_tree(self) -> dict[str, Any]:
        return {"train_state": self.state, "lag_state": self.lag, "runner": self.runner.checkpoint_tree()}

    def load_checkpoint_tree(self, tree: dict[str, Any]) -> None:
        """Inverse of :meth:`checkpoint_tree`, arrays re-made from host copies (restored arrays are committed to a
        device, which jit would treat as a new signature)."""
        host = lambda t: jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)), t)  # noqa: E731
        self.state, self.lag = host(tree["train_state"]), host(tree["lag_state"])
        self.runner.load_checkpoint_tree(tree["runner"])

    def save(self, ckpt: Checkpointer) -> Path:
        """Save the whole state at the update count (waits until it is on disk)."""
        return ckpt.save(int(self.state.updates), self.checkpoint_tree(), self.config.to_json(), self.runner.get_state())

    def restore(self, ckpt: Checkpointer, step: int | None = None) -> Restored:
        """Restore in place from ``step`` or the newest step that validates; refuses another config or shape."""
        restored = ckpt.restore(self.checkpoint_tree(), self.config.to_json(), step)
        self.load_checkpoint_tree(restored.tree)
        self.runner.set_state(restored.env_state)
        return restored


def train_ppo_lag(cfg: PPOLagTrainConfig, on_update: Callable[[int, dict[str, float]], None] | None = None
                  ) -> tuple[PPOLagTrainer, list[dict[str, float]]]:  # fmt: skip
    """Train to ``cfg.total_timesteps`` (resuming from ``cfg.checkpoint_dir`` when it holds a checkpoint);
    returns the trainer and one metrics row per update made in this call."""
    trainer = PPOLagTrainer(cfg)
    ckpt = Checkpointer(cfg.checkpoint_dir, max_to_keep=2) if cfg.checkpoint_dir is not None else None
    history: list[dict[str, float]] = []
    try:
        if ckpt is not None and ckpt.steps():
            trainer.restore(ckpt)
        while int(trainer.state.updates) < trainer.cfg.num_updates:
            row = trainer.iteration()
            update = int(trainer.state.updates)
            history.append(row)
            if ckpt is not None and (update % cfg.checkpoint_every == 0 or update == trainer.cfg.num_updates):
                trainer.save(ckpt)
            if on_update is not None:
                on_update(update, row)
    finally:
        if ckpt is not None:
            ckpt.close()
    return trainer, history
