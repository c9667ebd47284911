"""PPO in JAX/optax, CleanRL/PureJaxRL style, readable top to bottom.

Why this shape: openland's environments are numpy (MuJoCo's C engine, gymnasium), so the environment loop
is Python, but it calls one jitted :meth:`PPO.act` on the *whole* batch ``[N]`` (N = envs × players) per
step, and the learning step is one jitted :meth:`PPO.update` call per rollout. Everything the learner knows
lives in an explicit :class:`TrainState` pytree (parameters, optimiser state, normaliser statistics, RNG key,
counters), so checkpoints and resumes are exact.

Every code-level optimisation from "Implementation Matters in Deep Policy Gradients" (Engstrom et al. 2020)
is a named switch of :class:`PPOConfig`, ON by default: value clipping, reward scaling, orthogonal init,
learning-rate annealing, observation normalisation and clipping, tanh activations, global gradient-norm
clipping, plus advantage normalisation and reward clipping.

Conventions
-----------
* ``done[t]`` (a.k.a. episode start) is True when ``obs[t]`` is the first observation of an episode; the
  recurrent carry is reset before processing it. Terminated and truncated both end an episode (as in
  CleanRL, truncation is not bootstrapped from the value).
* Observation statistics are *used* by ``act`` and *updated* by ``update`` from the rollout's raw
  observations (batched Welford), so ``act`` is a pure function of the state and the rollout's log-probs are
  exactly reproducible in the update. Reward-scaling statistics are also updated inside ``update`` by
  scanning the rollout's rewards in time order, with the running discounted return per env in the state.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Literal

import flax.struct
import gymnasium as gym
import jax
import jax.numpy as jnp
import optax

from agents.networks import (
    ActionSpec,
    ActorCritic,
    Carry,
    ObsTree,
    entropy,
    init_params,
    log_prob,
    make_network,
    mode_action,
    sample_action,
)

# A key for optax.apply_if_finite: it applies a non-finite update anyway after this many consecutive
# failures. We never want that (a NaN update destroys the parameters), so make it unreachable.
_NEVER = 2**30
#: The run-time hyper-parameters, each with the range population-based training may move it in: the one list
#: of their names. They live in ``TrainState.hparams`` (arrays, not compiled constants), so PBT changes them
#: without recompiling; ``PPOConfig`` holds their initial values.
HPARAMS: dict[str, tuple[float, float]] = {
    "lr": (1e-5, 1e-2),
    "ent_coef": (0.0, 0.1),
    "clip_coef": (0.05, 0.5),
    "gae_lambda": (0.8, 0.995),
}


# ----------------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Hyper-parameters and switches of PPO. Defaults are the CleanRL/Implementation-Matters reference."""

    num_envs: int = 8
    """Number of parallel sequences N acting at once (for openland: envs × players)."""
    num_steps: int = 128
    """Steps per sequence per rollout; a rollout holds num_envs × num_steps samples."""
    total_timesteps: int = 1_000_000
    """Total env steps (summed over the N sequences); sets the number of updates and the LR annealing."""
    lr: float = 2.5e-4
    """Adam learning rate (initial value when anneal_lr)."""
    adam_eps: float = 1e-5
    """Adam epsilon (1e-5 as in the reference PPO, not optax's 1e-8)."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda."""
    num_minibatches: int = 4
    """Minibatches per epoch. Recurrent cores split whole sequences (the env axis), so num_envs must be
    divisible by it; core 'none' splits the num_envs × num_steps samples."""
    update_epochs: int = 4
    """Passes over the rollout per update."""
    clip_coef: float = 0.2
    """PPO surrogate clipping range (also the value-clipping range when clip_vloss)."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    aux_coef: float = 1.0
    """Weight of the auxiliary loss: predict, from the observation, the direction of what the goal names (an
    ``aux_target`` observation key that openland trainers add; policies never read it). A dense supervised signal
    that teaches the encoder "where is my goal's object" far faster than the policy gradient alone. 0 disables
    it; observations without the key (CartPole) never use it."""
    max_grad_norm: float = 0.5
    """Global gradient-norm bound used when clip_grad_norm."""
    core: Literal["lstm", "gru", "none"] = "lstm"
    """Recurrent core: 'lstm', 'gru', or 'none' (feed-forward, e.g. CartPole)."""
    core_size: int = 128
    """Width of the recurrent core's state."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and critic MLP torsos."""
    embed_dim: int = 64
    """Width of the observation / goal-token embeddings (Dict observations)."""
    num_heads: int = 2
    """Heads of the goal cross-attention (Dict observations)."""
    seed: int = 0
    """Seed for parameters, acting and minibatch shuffling (envs are seeded from it too)."""
    # --- code-level optimisations (Implementation Matters), all on by default -----------------------------
    clip_vloss: bool = True
    """Value-function clipping: the value loss is the max of the clipped and unclipped squared errors."""
    reward_scaling: bool = True
    """Divide rewards by the running std of the discounted return (not mean-centred)."""
    reward_clip: bool = True
    """Clip (scaled) rewards to ±reward_clip_value."""
    reward_clip_value: float = 10.0
    """Bound used by reward_clip."""
    orthogonal_init: bool = True
    """Orthogonal init with layer scaling (sqrt 2 hidden, 0.01 policy, 1.0 value); else lecun normal."""
    anneal_lr: bool = True
    """Linearly anneal the learning rate to 0 over the updates."""
    norm_obs: bool = True
    """Normalise float observations by running mean/std (Welford); goal tokens are never touched."""
    clip_obs: bool = True
    """Clip (normalised) float observations to ±obs_clip."""
    obs_clip: float = 10.0
    """Bound used by clip_obs."""
    tanh_activations: bool = True
    """tanh activations in the MLPs; else ReLU."""
    clip_grad_norm: bool = True
    """Clip the global gradient norm to max_grad_norm."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""

    @property
    def batch_size(self) -> int:
        """Samples per rollout."""
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        """Number of updates the run makes (sets the LR annealing horizon)."""
        return max(1, self.total_timesteps // self.batch_size)

    def validate(self) -> None:
        """Raise ValueError naming the field whose value cannot work."""
        if self.core not in ("lstm", "gru", "none"):
            raise ValueError(f"PPOConfig.core must be 'lstm', 'gru' or 'none', got {self.core!r}")
        seqs = self.num_envs if self.core != "none" else self.batch_size
        if seqs % self.num_minibatches:
            what = "num_envs" if self.core != "none" else "num_envs*num_steps"
            raise ValueError(
                f"PPOConfig.num_minibatches={self.num_minibatches} must divide {what}={seqs} (core {self.core!r})"
            )
        for name in ("num_envs", "num_steps", "total_timesteps", "num_minibatches", "update_epochs"):
            if getattr(self, name) <= 0:
                raise ValueError(f"PPOConfig.{name} must be positive, got {getattr(self, name)}")

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict (tuples become lists) for checkpoints and run directories."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "PPOConfig":
        """Inverse of :meth:`to_json` (what a run directory or checkpoint holds); unknown fields are an error
        naming them, missing ones take their defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"PPOConfig: unknown fields {unknown} (this version has {sorted(names)})")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


# ----------------------------------------------------------------------------------------------------------
# State
# ----------------------------------------------------------------------------------------------------------
class RunningMeanStd(flax.struct.PyTreeNode):
    """Running mean / variance (Chan et al. parallel Welford), float32, as gym's RunningMeanStd."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array

    @classmethod
    def create(cls, shape: tuple[int, ...]) -> "RunningMeanStd":
        return cls(jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32), jnp.asarray(1e-4, jnp.float32))

    def update(self, x: jax.Array) -> "RunningMeanStd":
        """Fold in a batch ``x[B, *shape]``."""
        x = x.astype(jnp.float32)
        b_mean, b_var, b_count = x.mean(0), x.var(0), jnp.asarray(x.shape[0], jnp.float32)
        delta = b_mean - self.mean
        tot = self.count + b_count
        mean = self.mean + delta * b_count / tot
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / tot
        return RunningMeanStd(mean, m2 / tot, tot)


class TrainState(flax.struct.PyTreeNode):
    """Everything the learner knows; a pytree of arrays, so it is jitted, checkpointed and restored whole.

    ``ret`` is each sequence's running discounted return used by reward scaling; ``key`` is a raw uint32[2]
    PRNG key (raw, so it checkpoints as a plain array); counters are int32 (env_steps wraps past 2^31).
    """

    params: Any
    opt_state: Any
    obs_rms: Any  # RunningMeanStd, or a dict of them for the float parts of a Dict observation
    ret_rms: RunningMeanStd
    ret: jax.Array
    key: jax.Array
    env_steps: jax.Array
    updates: jax.Array
    skipped_updates: jax.Array
    hparams: dict[str, jax.Array]
    """The hyper-parameters population-based training perturbs (lr, ent_coef, clip_coef, gae_lambda), as
    arrays in the state rather than constants in the compiled code: PBT changes them without recompiling."""


class Rollout(flax.struct.PyTreeNode):
    """One rollout, time-major ``[T, N, ...]``, as the Python loop collects it.

    ``obs`` are raw (unnormalised) env observations; ``dones[t]`` marks ``obs[t]`` as an episode start;
    ``rewards[t]`` is the raw reward for ``actions[t]``; ``init_carry`` is the core's carry *before* obs[0];
    ``last_done``/``last_value`` describe the observation after the last step (for bootstrapping).
    """

    obs: ObsTree
    dones: jax.Array
    actions: jax.Array
    logprobs: jax.Array
    values: jax.Array
    rewards: jax.Array
    init_carry: Carry
    last_done: jax.Array
    last_value: jax.Array
    costs: Any = None
    """Per-step costs ``[T, N, R]`` of the learner's samples, one column per rule the runner was asked to record
    (``RolloutRunner(cost_keys=...)``, e.g. the env's hazard and fall flags), or None. Plain PPO never reads them;
    a constrained learner (``safety.ppo_lag``) does."""
    extras: Any = None
    """Whatever a PPO subclass's :meth:`PPO._policy_advantages` reads (PPO-Lag: the cost advantages and the
    multiplier); None for plain PPO."""


# ----------------------------------------------------------------------------------------------------------
# The algorithm
# ----------------------------------------------------------------------------------------------------------
class PPO:
    """PPO for one network and one pair of spaces. Holds only static things; all state is a TrainState.

    ``act``, ``value`` and ``update`` are jitted once; calling them with same-shaped inputs never recompiles
    (tests assert the jit cache sizes stay at 1).
    """

    def __init__(self, cfg: PPOConfig, obs_space: gym.Space, action_space: gym.Space) -> None:
        cfg.validate()
        self.cfg = cfg
        self.net: ActorCritic = make_network(
            obs_space,
            action_space,
            core=cfg.core,
            core_size=cfg.core_size,
            hidden_sizes=cfg.hidden_sizes,
            embed_dim=cfg.embed_dim,
            num_heads=cfg.num_heads,
            tanh=cfg.tanh_activations,
            orthogonal=cfg.orthogonal_init,
        )
        self.action_spec: ActionSpec = self.net.action_spec
        self.tx = self._make_optimizer()
        # Jitted with ``self`` static: PPO objects with equal (config, network) share compiled code, so a
        # fresh Trainer (e.g. after a restore) does not compile again.
        self.act = functools.partial(PPO._jit_act, self)
        self.act_greedy = functools.partial(PPO._jit_act_greedy, self)
        self.value = functools.partial(PPO._jit_value, self)
        self.update = functools.partial(PPO._jit_update, self)

    def __hash__(self) -> int:
        return hash((self.cfg, self.net))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PPO) and (self.cfg, self.net) == (other.cfg, other.net)

    @staticmethod
    def compile_cache_sizes() -> dict[str, int]:
        """Number of compiled variants of each jitted function (for no-recompilation checks)."""
        return {
            "act": PPO._jit_act._cache_size(),
            "act_greedy": PPO._jit_act_greedy._cache_size(),
            "value": PPO._jit_value._cache_size(),
            "update": PPO._jit_update._cache_size(),
        }

    # -- construction -----------------------------------------------------------------------------------
    def _lr_now(self, state: "TrainState") -> jax.Array:
        """Learning rate of this update: the state's lr, linearly annealed to 0 over the run when anneal_lr."""
        if not self.cfg.anneal_lr:
            return state.hparams["lr"]
        frac = 1.0 - state.updates / self.cfg.num_updates
        return state.hparams["lr"] * jnp.maximum(frac, 0.0)

    def _make_optimizer(self) -> optax.GradientTransformation:
        """Adam's direction; the step size (-lr) is applied in the update from ``TrainState.hparams``."""
        cfg = self.cfg
        parts = [optax.clip_by_global_norm(cfg.max_grad_norm)] if cfg.clip_grad_norm else []
        parts.append(optax.scale_by_adam(eps=cfg.adam_eps))
        # Non-finite gradients (from a NaN/inf loss or parameters) leave params and Adam moments untouched.
        return optax.apply_if_finite(optax.chain(*parts), max_consecutive_errors=_NEVER)

    def init(self, key: jax.Array | int) -> TrainState:
        """Fresh state. ``key`` is a raw uint32[2] key or an int seed."""
        if isinstance(key, int):
            key = jax.random.PRNGKey(key)
        key, pkey = jax.random.split(key)
        params = init_params(self.net, pkey)
        spec = self.net.obs_spec
        if spec.kind == "box":
            obs_rms: Any = RunningMeanStd.create(spec.shape)
        else:
            # Rays share one feature space, so their statistics are per feature channel, pooled over rays (as
            # image channels are): a colour seen rarely by one particular ray is not blown up to the clip value,
            # and the constant ray-direction channels are not normalised to zero.
            obs_rms = {"rays": RunningMeanStd.create(spec.rays[-1:]), "proprio": RunningMeanStd.create(spec.proprio)}
        zero = jnp.asarray(0, jnp.int32)
        return TrainState(
            params=params,
            opt_state=self.tx.init(params),
            obs_rms=obs_rms,
            ret_rms=RunningMeanStd.create(()),
            ret=jnp.zeros((self.cfg.num_envs,), jnp.float32),
            key=key,
            env_steps=zero,
            updates=zero,
            skipped_updates=zero,
            hparams={k: jnp.asarray(v, jnp.float32) for k, v in hparams_of(self.cfg).items()},
        )

    def initial_carry(self, batch: int | None = None) -> Carry:
        """Zero core state for ``batch`` (default num_envs) sequences."""
        return self.net.initialize_carry(self.cfg.num_envs if batch is None else batch)

    # -- observation normalisation ------------------------------------------------------------------------
    def _norm_one(self, rms: RunningMeanStd, x: jax.Array) -> jax.Array:
        x = x.astype(jnp.float32)
        if self.cfg.norm_obs:
            x = (x - rms.mean) / jnp.sqrt(rms.var + 1e-8)
        if self.cfg.clip_obs:
            x = jnp.clip(x, -self.cfg.obs_clip, self.cfg.obs_clip)
        return x

    def normalize_obs(self, obs_rms: Any, obs: ObsTree) -> ObsTree:
        """Normalise/clip the float parts of ``obs`` (any leading axes); goal tokens pass through."""
        if isinstance(obs, dict):
            out = dict(obs)
            for k, rms in obs_rms.items():
                out[k] = self._norm_one(rms, obs[k])
            return out
        return self._norm_one(obs_rms, obs)

    def _update_obs_rms(self, obs_rms: Any, obs: ObsTree) -> Any:
        def upd(rms: RunningMeanStd, x: jax.Array) -> RunningMeanStd:
            return rms.update(x.reshape((-1,) + rms.mean.shape))

        if isinstance(obs_rms, dict):
            return {k: upd(rms, obs[k]) for k, rms in obs_rms.items()}
        return upd(obs_rms, obs)

    # -- acting -------------------------------------------------------------------------------------------
    def _forward(self, state: TrainState, obs: ObsTree, carry: Carry, done: jax.Array):
        obs_n = self.normalize_obs(state.obs_rms, obs)
        obs_t = jax.tree_util.tree_map(lambda x: x[None], obs_n)
        carry, pi, v = self.net.apply(state.params, carry, obs_t, done[None])
        return carry, pi[0], v[0]

    def _act(
        self, state: TrainState, obs: ObsTree, carry: Carry, done: jax.Array, key: jax.Array
    ) -> tuple[Carry, jax.Array, jax.Array, jax.Array]:
        """One step for N sequences: ``(obs[N..], carry, done[N], key) -> (carry, action, logprob, value)``.

        ``done`` resets the carry of sequences whose ``obs`` starts a new episode. Box actions are unclipped.
        """
        carry, pi, v = self._forward(state, obs, carry, done)
        log_std = ActorCritic.log_std(state.params, self.action_spec)
        action = sample_action(self.action_spec, pi, log_std, key)
        return carry, action, log_prob(self.action_spec, pi, log_std, action), v

    def _act_greedy(self, state: TrainState, obs: ObsTree, carry: Carry, done: jax.Array) -> tuple[Carry, jax.Array]:
        """Deterministic action (argmax / Gaussian mean), for evaluation."""
        carry, pi, _ = self._forward(state, obs, carry, done)
        return carry, mode_action(self.action_spec, pi)

    def _value(self, state: TrainState, obs: ObsTree, carry: Carry, done: jax.Array) -> jax.Array:
        """Value of ``obs`` (used to bootstrap the last step of a rollout)."""
        return self._forward(state, obs, carry, done)[2]

    # -- learning -----------------------------------------------------------------------------------------
    def _scale_rewards(self, state: TrainState, rewards: jax.Array, ends: jax.Array):
        """Reward scaling as gym's NormalizeReward, scanned in time order; then optional clipping."""
        cfg = self.cfg

        def step(carry, inp):
            ret, rms = carry
            r, end = inp
            ret = ret * cfg.gamma + r
            rms = rms.update(ret[:, None])  # a batch of N scalar samples
            scaled = r / jnp.sqrt(rms.var[0] + 1e-8)
            return (ret * (1.0 - end), rms), scaled

        if cfg.reward_scaling:
            rms0 = RunningMeanStd(state.ret_rms.mean[None], state.ret_rms.var[None], state.ret_rms.count)
            (ret, rms), scaled = jax.lax.scan(step, (state.ret, rms0), (rewards, ends))
            ret_rms = RunningMeanStd(rms.mean[0], rms.var[0], rms.count)
        else:
            scaled, ret, ret_rms = rewards, state.ret, state.ret_rms
        if cfg.reward_clip:
            scaled = jnp.clip(scaled, -cfg.reward_clip_value, cfg.reward_clip_value)
        return scaled, ret, ret_rms

    def _gae(self, rewards, values, ends, last_value, gae_lambda):
        """Generalised advantage estimation; ``ends[t]`` means the episode ended after step t."""
        cfg = self.cfg
        next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)
        nonterm = 1.0 - ends
        deltas = rewards + cfg.gamma * next_values * nonterm - values

        def step(adv, inp):
            delta, nt = inp
            adv = delta + cfg.gamma * gae_lambda * nt * adv
            return adv, adv

        _, adv = jax.lax.scan(step, jnp.zeros_like(last_value), (deltas, nonterm), reverse=True)
        return adv, adv + values

    def _loss(self, params, batch, hp):
        cfg = self.cfg
        obs = batch["obs"]
        with_aux = cfg.aux_coef > 0 and isinstance(obs, dict) and "aux_target" in obs
        if with_aux:
            (_, pi, v), inter = self.net.apply(
                params, batch["init_carry"], obs, batch["dones"], mutable=["intermediates"]
            )
            pred = inter["intermediates"]["goal_direction"][0]  # [T * B, 2]
            target = obs["aux_target"].reshape(-1, 3)
            mask = target[:, 2]
            aux_loss = (mask * ((pred - target[:, :2]) ** 2).sum(-1)).sum() / jnp.maximum(mask.sum(), 1.0)
        else:
            _, pi, v = self.net.apply(params, batch["init_carry"], obs, batch["dones"])
            aux_loss = jnp.zeros(())
        log_std = ActorCritic.log_std(params, self.action_spec)
        logp = log_prob(self.action_spec, pi, log_std, batch["actions"])
        ent = entropy(self.action_spec, pi, log_std).mean()
        logratio = logp - batch["logprobs"]
        ratio = jnp.exp(logratio)
        adv = batch["advantages"]
        if cfg.norm_adv:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        clip = hp["clip_coef"]
        pg_loss = jnp.maximum(-adv * ratio, -adv * jnp.clip(ratio, 1 - clip, 1 + clip)).mean()
        if cfg.clip_vloss:
            v_clipped = batch["values"] + jnp.clip(v - batch["values"], -clip, clip)
            v_loss = 0.5 * jnp.maximum((v - batch["returns"]) ** 2, (v_clipped - batch["returns"]) ** 2).mean()
        else:
            v_loss = 0.5 * ((v - batch["returns"]) ** 2).mean()
        loss = pg_loss - hp["ent_coef"] * ent + cfg.vf_coef * v_loss + cfg.aux_coef * aux_loss
        aux = {
            "pg_loss": pg_loss,
            "v_loss": v_loss,
            "aux_loss": aux_loss,
            "entropy": ent,
            "approx_kl": ((ratio - 1) - logratio).mean(),
            "clipfrac": (jnp.abs(ratio - 1.0) > clip).mean(),
        }
        return loss, aux

    def _policy_advantages(self, advantages: jax.Array, ro: Rollout) -> jax.Array:
        """The advantages the clipped surrogate uses, from the reward advantages ``[T, N]``: the hook a constrained
        subclass overrides (PPO-Lag's (A_R − λ A_C) / (1 + λ)). Plain PPO uses them as they are; the value
        function always learns the reward returns."""
        return advantages

    def _minibatch_epochs(self, step: Callable, carry: Any, data: dict[str, Any], init_carry: Carry,
                          key: jax.Array) -> tuple[Any, Any]:  # fmt: skip
        """update_epochs passes over a rollout's ``data`` ([T, N, ...] leaves, with "dones") in num_minibatches
        shuffled minibatches: ``step(carry, minibatch, minibatch_init_carry) -> (carry, aux)`` for each, scanned.
        A feed-forward core makes every sample its own length-1 sequence (shuffled across time and envs); a
        recurrent one keeps whole sequences from ``init_carry``. Returns (carry, aux stacked [epochs, minibatches])."""
        cfg = self.cfg
        T, N = data["dones"].shape
        if cfg.core == "none":
            data = jax.tree_util.tree_map(lambda x: x.reshape((1, T * N) + x.shape[2:]), data)
            init_carry = self.net.initialize_carry(T * N)
        num_seqs = data["dones"].shape[1]
        mb_size = num_seqs // cfg.num_minibatches

        def minibatch_step(c, idx):
            mb = jax.tree_util.tree_map(lambda x: jnp.take(x, idx, axis=1), data)
            return step(c, mb, jax.tree_util.tree_map(lambda x: jnp.take(x, idx, axis=0), init_carry))

        def epoch_step(c, k):
            perm = jax.random.permutation(k, num_seqs).reshape(cfg.num_minibatches, mb_size)
            return jax.lax.scan(minibatch_step, c, perm)

        return jax.lax.scan(epoch_step, carry, jax.random.split(key, cfg.update_epochs))

    @staticmethod
    def _float_leaves(ro: Rollout) -> list[jax.Array]:
        obs = [x for x in jax.tree_util.tree_leaves(ro.obs) if jnp.issubdtype(x.dtype, jnp.floating)]
        return obs + [ro.rewards, ro.values, ro.logprobs, ro.last_value]

    def _update(self, state: TrainState, ro: Rollout) -> tuple[TrainState, dict[str, jax.Array]]:
        """One PPO update from a rollout: GAE, then update_epochs × num_minibatches clipped-surrogate steps."""
        cfg = self.cfg
        T, N = ro.dones.shape
        ends = jnp.concatenate([ro.dones[1:], ro.last_done[None]], axis=0).astype(jnp.float32)
        rewards, ret, ret_rms = self._scale_rewards(state, ro.rewards.astype(jnp.float32), ends)
        hp = state.hparams
        advantages, returns = self._gae(rewards, ro.values, ends, ro.last_value, hp["gae_lambda"])
        lr_now = self._lr_now(state)

        data = {
            "obs": self.normalize_obs(state.obs_rms, ro.obs),  # the stats act used: log-probs match exactly
            "dones": ro.dones,
            "actions": ro.actions,
            "logprobs": ro.logprobs,
            "values": ro.values,
            "advantages": self._policy_advantages(advantages, ro),
            "returns": returns,
        }
        def minibatch_step(carry, mb, mb_carry):
            params, opt_state = carry
            mb["init_carry"] = mb_carry
            (loss, aux), grads = jax.value_and_grad(self._loss, has_aux=True)(params, mb, hp)
            updates, opt_state = self.tx.update(grads, opt_state, params)
            params = optax.apply_updates(params, jax.tree_util.tree_map(lambda u: -lr_now * u, updates))
            aux["loss"] = loss
            aux["grad_norm"] = optax.tree.norm(grads)
            return (params, opt_state), aux

        key, ekey = jax.random.split(state.key)
        skipped_before = state.opt_state.total_notfinite
        (params, opt_state), aux = self._minibatch_epochs(minibatch_step, (state.params, state.opt_state), data,
                                                          ro.init_carry, ekey)  # fmt: skip
        skipped = opt_state.total_notfinite - skipped_before

        y, pred = returns.reshape(-1), ro.values.reshape(-1)
        var_y = jnp.var(y)
        metrics = {k: jnp.nanmean(v) for k, v in aux.items()}
        metrics.update(
            skipped_steps=skipped,
            lr=lr_now,
            explained_variance=jnp.where(var_y == 0, jnp.nan, 1 - jnp.var(y - pred) / var_y),
            scaled_reward_mean=rewards.mean(),
            raw_reward_mean=ro.rewards.mean(),
        )
        # A rollout with a non-finite reward/observation/value must not poison the running statistics
        # (every later update would be NaN): keep the old ones and count it, like the skipped steps.
        finite_in = jnp.all(
            jnp.asarray([jnp.all(jnp.isfinite(x)) for x in self._float_leaves(ro)])
        )
        keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(finite_in, a, b), new, old)
        obs_rms = self._update_obs_rms(state.obs_rms, ro.obs) if cfg.norm_obs else state.obs_rms
        metrics["nonfinite_rollout"] = (~finite_in).astype(jnp.int32)
        new_state = state.replace(
            params=params,
            opt_state=opt_state,
            obs_rms=keep(obs_rms, state.obs_rms),
            ret_rms=keep(ret_rms, state.ret_rms),
            ret=keep(ret, state.ret),
            key=key,
            env_steps=state.env_steps + T * N,
            updates=state.updates + 1,
            skipped_updates=state.skipped_updates + ((skipped > 0) | ~finite_in).astype(jnp.int32),
        )
        return new_state, metrics


PPO._jit_act = jax.jit(PPO._act, static_argnums=0)
PPO._jit_act_greedy = jax.jit(PPO._act_greedy, static_argnums=0)
PPO._jit_value = jax.jit(PPO._value, static_argnums=0)
PPO._jit_update = jax.jit(PPO._update, static_argnums=0)


def hparams_of(cfg: PPOConfig) -> dict[str, float]:
    """The initial values of the run-time hyper-parameters (:data:`HPARAMS`) in ``cfg``."""
    return {k: float(getattr(cfg, k)) for k in HPARAMS}


def with_hparams(state: TrainState, hparams: dict[str, float]) -> TrainState:
    """The state with some hyper-parameters replaced (PBT's explore step); unknown names are refused."""
    unknown = sorted(set(hparams) - set(HPARAMS))
    if unknown:
        raise ValueError(f"unknown hyper-parameter(s) {unknown}; PPO's run-time hyper-parameters are {list(HPARAMS)}")
    new = dict(state.hparams)
    new.update({k: jnp.asarray(v, jnp.float32) for k, v in hparams.items()})
    return state.replace(hparams=new)
