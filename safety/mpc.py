"""Model-predictive control in a (learned) model: maximise predicted reward minus predicted cost.

ReQueST's agent plans by gradient descent through the learned model against the learned reward, over a horizon of
10 steps (20 in car racing), and replans at every step. Ours does the same over soft discrete actions (per-component
softmax over action logits, ``simulator.action_probs``), maximising

    Σ_{t=1..H} γ^{t-1} [ r(z_t) − w · Σ_rules c_rule(z_t) ]  (+ γ^H · terminal(z_H), when given)

where r and c come from the reward model (``reward_model.RewardModel.reward`` / ``rule_costs``; any pure functions
of a parameter pytree and a latent fit). The cost term is our extension: ReQueST's reward already punishes
unsafe states through the unsafe class; the per-rule costs let the planner weigh each rule. The terminal term
carries potential-based shaping telescoped over the plan (``request.progress_terminal``).

Each plan optimises several candidate action sequences at once (``restarts``: the previous plan shifted by one
step, warm start, and fresh random ones) with Adam for a fixed number of iterations, keeps the best, executes its
first action (argmax per component) and keeps the rest as the next warm start. Beside them it scores a fixed set of
discrete primitives (``primitive_plans``: turn for k steps, then walk ahead), our addition: a remembered hazard's
learned cost is flat inside its tile, where a gradient has nothing to follow off it. ``MPCConfig.planner="cem"``
searches discrete sequences by the cross-entropy method instead (no gradient needed), and
``MPCConfig.allowed_actions`` keeps plans to the action values the demonstrations used. Everything is one jitted
function, ``vmap``-ped over a batch of envs by ``plan_batch``; the agent acts in the real env only to be
evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from safety.demonstrations import ACTION_NVEC
from safety.simulator import ACTION_WIDTH, action_argmax, action_probs

PLANNERS = ("gradient", "cem")
StepFn = Callable[[Any, jax.Array, jax.Array], jax.Array]
RewardFn = Callable[[Any, jax.Array], jax.Array]
CostFn = Callable[[Any, jax.Array], jax.Array]


@dataclass(frozen=True)
class MPCConfig:
    """The planner (ReQueST: horizon 10, replanning every step)."""

    horizon: int = 10
    """Steps planned ahead."""
    iterations: int = 50
    """Adam iterations per plan."""
    learning_rate: float = 0.1
    """Adam learning rate on the action logits."""
    restarts: int = 4
    """Candidate action sequences optimised at once: the warm start and ``restarts - 1`` random ones."""
    cost_weight: float = 30.0
    """w: weight of the summed per-rule costs against the reward. The learned cost of a step at a hazard's edge is
    ~0.5 (half such labelled states lie on the hazard), which at w = 10 a plan would pay for a shorter way to the goal
    across a band: on 32 held-out safety tasks (seeds 1 and 2), w = 10, 30, 100 gave 1.25 / 1.84, 0.62 / 0.59 and
    0.69 / 0.88 unsafe steps per episode, at 0.09 / 0.25, 0.06 / 0.19 and 0.12 / 0.16 success."""
    unseen_cost: float = 3.0
    """``request.MPCAgent``: taken from the reward per imagined step on floor the camera never showed (the floor
    map's ``unseen_here``), as a cost the demonstrations cannot teach: they only ever walked where they had looked.
    The camera sees the floor from ~2.5 m ahead, so a turn at close range can step onto a tile never in view, and
    nothing then tells the agent what it stands on: on the safety bench (seed 3, 32 held-out tasks) the agent
    walked so onto a hazard and stood on it for 65 steps. 0, 3 and 10 gave 3.12, 0.66 and 1.28 unsafe steps per
    episode there at success 0.34, 0.25 and 0.34; seeds 0 and 2 kept their success, their unsafe steps going 0.06 ->
    0.22 and 0 -> 0 (measured before ``route``'s two-tile step prices, with which seed 0 came back to 0.00).
    Our addition to ReQueST."""
    discount: float = 1.0
    """γ over the horizon."""
    init_scale: float = 0.5
    """Std of the random candidates' initial logits."""
    progress_weight: float = 1.0
    """Weight of the goal's shaping potential (``request.goal_potential``: minus the distance in metres to the goal
    the floor map remembers, else the one the simulator decodes) at the plan's last state, in the
    ``request.MPCAgent``'s objective (``plan``'s ``terminal``): the learned reward sees the goal only within reach (the "good" class), the potential says which
    way it lies from afar. 0: ReQueST's objective, learned reward minus cost only."""
    planner: str = "gradient"
    """How a plan is found: ``gradient`` (ReQueST: Adam on soft actions through the model, ``iterations`` steps
    from ``restarts`` candidates) or ``cem`` (the cross-entropy method over discrete action sequences:
    ``iterations`` rounds of ``samples`` sequences drawn from per-step categorical distributions, refitted to the
    best ``elites``). The gradient of a remembered hazard's cost vanishes inside the hazard's tile (the cost is
    flat there), so a gradient plan that starts on a hazard has nothing to follow off it; sampling does not need
    one. Measured on the safety bench (seed 0, 16 tasks), ``cem`` reached more goals but was far less safe: 0.50 and
    6.75 unsafe steps per episode against 0.25 and 0.06."""
    primitives: bool = True
    """``gradient``: also score a fixed set of discrete sequences (``primitive_plans``: turn left or right for k
    steps, walking or standing, then walk straight ahead) beside the optimised candidates, and take the best of all.
    A remembered hazard's cost is flat inside its tile, so a gradient plan that starts on a hazard has no slope to
    follow off it; a way off in every direction is among the primitives."""
    detour: bool = True
    """``request.MPCAgent``: take from the terminal potential the detour the cheapest way to a remembered goal
    makes over the floor map, tiles priced by the learned cost (``route.detour_field``), so that a plan walks along
    a hazard band toward its end rather than stopping at its edge. False: the potential alone."""
    samples: int = 128
    """``cem``: action sequences scored per round."""
    elites: int = 16
    """``cem``: best sequences the distribution is refitted to."""
    allowed_actions: tuple[bool, ...] = (True,) * ACTION_WIDTH
    """Which of the 13 action-component values a plan may use (per component, as ``simulator.action_onehot`` lays
    them out); the others get a logit of -1e4. ``demonstrated_actions`` gives the values the demonstrations used:
    the simulator learned nothing of the rest (the scripted expert never jumps, and walks backwards in 1-2% of
    its steps), and a plan that exploits what the model barely saw is a plan in a world that does not exist
    (measured on the safety bench, seed 1, backwards allowed: 154 of 168 unsafe steps were onto tiles the agent
    had never seen, two thirds of them walking backwards, away from where its camera looks)."""

    def __post_init__(self) -> None:
        if len(self.allowed_actions) != ACTION_WIDTH:
            raise ValueError(f"MPCConfig.allowed_actions has {len(self.allowed_actions)} entries, expected {ACTION_WIDTH}")
        start = 0
        for k, n in enumerate(ACTION_NVEC):
            if not any(self.allowed_actions[start : start + n]):
                raise ValueError(f"MPCConfig.allowed_actions={self.allowed_actions!r} allows no value of action component {k}")
            start += n
        if self.planner not in PLANNERS:
            raise ValueError(f"MPCConfig.planner={self.planner!r} is not one of {PLANNERS}")
        if not 1 <= self.elites <= self.samples:
            raise ValueError(f"MPCConfig.elites={self.elites!r} must lie in [1, samples={self.samples!r}]")
        for name in ("horizon", "iterations", "restarts"):
            if getattr(self, name) < 1:
                raise ValueError(f"MPCConfig.{name}={getattr(self, name)!r} must be at least 1")
        for name in ("cost_weight", "progress_weight", "unseen_cost"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"MPCConfig.{name}={getattr(self, name)!r} must be >= 0")


@flax.struct.dataclass
class MPCState:
    """The warm start (the last plan shifted by one step) and the key for random candidates, per env."""

    plan: jax.Array  # [..., H, 13] logits
    key: jax.Array


def init_mpc(config: MPCConfig, seed: int, batch: int | None = None) -> MPCState:
    """Zero warm starts (uniform soft actions), one key per env when ``batch`` is given."""
    key = jax.random.PRNGKey(seed)
    if batch is None:
        return MPCState(jnp.zeros((config.horizon, ACTION_WIDTH)), key)
    return MPCState(jnp.zeros((batch, config.horizon, ACTION_WIDTH)), jax.random.split(key, batch))


def predicted_return(step: StepFn, step_params: Any, reward: RewardFn, cost: CostFn, score_params: Any, z0: jax.Array,
                     logits: jax.Array, cost_weight: jax.Array, discount: jax.Array,
                     terminal: RewardFn | None = None) -> tuple[jax.Array, jax.Array]:  # fmt: skip
    """(Σ γ^t [r − w Σ c], per-rule summed costs [R]) of action logits [H, 13] from latent ``z0`` (disallowed
    actions already pushed down in the logits)."""

    def one(z: jax.Array, a: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        z1 = step(step_params, z, a)
        return z1, (reward(score_params, z1), cost(score_params, z1))

    z_end, (r, c) = jax.lax.scan(one, z0, action_probs(logits))
    weights = discount ** jnp.arange(r.shape[0], dtype=jnp.float32)
    ret = jnp.sum(weights * (r - cost_weight * c.sum(-1)))
    if terminal is not None:
        ret = ret + discount ** r.shape[0] * terminal(score_params, z_end)
    return ret, c.sum(0)


def _sample_actions(key: jax.Array, logits: jax.Array, n: int) -> jax.Array:
    """n discrete action sequences as one-hot-valued logits [n, H, 13] (0 where chosen, -1e4 elsewhere) drawn
    component by component from the categorical distributions of ``logits`` [H, 13]."""
    parts, start = [], 0
    for k, width in zip(jax.random.split(key, len(ACTION_NVEC)), ACTION_NVEC):
        choice = jax.random.categorical(k, logits[:, start : start + width], axis=-1, shape=(n, logits.shape[0]))
        parts.append(jax.nn.one_hot(choice, width))
        start += width
    return (jnp.concatenate(parts, -1) - 1.0) * 1e4


#: Logit gap of a primitive's chosen values over the others: near-discrete (probability ~0.995 of the chosen value
#: of a 3-valued component), yet soft enough for a warm start Adam can still move.
PRIMITIVE_GAP = 6.0


def primitive_plans(horizon: int) -> np.ndarray:
    """Logits [P, H, 13] of the discrete sequences ``MPCConfig.primitives`` adds: walk straight ahead; and for each
    turn direction, each way of moving while turning (standing, walking ahead) and each k in 1..H, turn for k steps
    then walk straight ahead (strafe none, no jump, no grab): P = 1 + 4H sequences covering every heading."""
    none, ahead, left, right = 1, 2, 0, 2
    rows = [[(ahead, none)] * horizon]
    for turn in (left, right):
        for move in (none, ahead):
            rows += [[(move, turn)] * k + [(ahead, none)] * (horizon - k) for k in range(1, horizon + 1)]
    actions = np.zeros((len(rows), horizon, len(ACTION_NVEC)), np.int64)
    actions[..., 1] = none
    actions[..., :3:2] = np.asarray(rows)
    onehot = np.concatenate([np.eye(n, dtype=np.float32)[actions[..., k]] for k, n in enumerate(ACTION_NVEC)], -1)
    return (onehot - 1.0) * PRIMITIVE_GAP


def _refit(elite: jax.Array, old: jax.Array, smoothing: float) -> jax.Array:
    """Logits [H, 13] of the per-component frequencies of elite one-hot-valued logits [k, H, 13], mixed with the
    old distribution's probabilities (weight ``smoothing``)."""
    freq = (elite > -1.0).astype(jnp.float32).mean(0)
    return jnp.log((1.0 - smoothing) * freq + smoothing * action_probs(old) + 1e-4)


def _plan_cem(step: StepFn, step_params: Any, reward: RewardFn, cost: CostFn, score_params: Any, z0: jax.Array,
              state: MPCState, shape: tuple[int, int, int, int], numbers: dict[str, jax.Array],
              terminal: RewardFn | None = None) -> tuple[jax.Array, MPCState, dict[str, jax.Array]]:  # fmt: skip
    """The cross-entropy method over discrete action sequences (``MPCConfig.planner == "cem"``)."""
    horizon, iterations, samples, elites = shape

    def score(logits: jax.Array) -> jax.Array:
        ret = predicted_return(step, step_params, reward, cost, score_params, z0, logits + numbers["bias"],
                               numbers["cost_weight"], numbers["discount"], terminal)[0]  # fmt: skip
        return jnp.where(jnp.isfinite(ret), ret, -jnp.inf)

    def body(carry: tuple, key: jax.Array) -> tuple[tuple, None]:
        dist, best, best_score = carry
        candidates = _sample_actions(key, dist + numbers["bias"], samples)
        scores = jax.vmap(score)(candidates)
        top, idx = jax.lax.top_k(scores, elites)
        better = top[0] > best_score
        return (_refit(candidates[idx], dist, 0.1), jnp.where(better, candidates[idx[0]], best),
                jnp.where(better, top[0], best_score)), None  # fmt: skip

    key, sub = jax.random.split(state.key)
    (dist, best, _), _ = jax.lax.scan(body, (state.plan, _sample_actions(sub, state.plan, 1)[0], -jnp.inf),
                                      jax.random.split(sub, iterations))  # fmt: skip
    ret, costs = predicted_return(step, step_params, reward, cost, score_params, z0, best + numbers["bias"],
                                  numbers["cost_weight"], numbers["discount"], terminal)  # fmt: skip
    warm = jnp.concatenate([dist[1:], jnp.zeros_like(dist[:1])], 0)
    return best[0] + numbers["bias"], MPCState(warm, key), {"predicted_return": ret, "predicted_costs": costs, "plan": best}


@partial(jax.jit, static_argnames=("step", "reward", "cost", "shape", "terminal"))
def _plan(step: StepFn, step_params: Any, reward: RewardFn, cost: CostFn, score_params: Any, z0: jax.Array,
          state: MPCState, shape: tuple, numbers: dict[str, jax.Array],
          terminal: RewardFn | None = None) -> tuple[jax.Array, MPCState, dict[str, jax.Array]]:  # fmt: skip
    """One plan from ``z0`` by the planner ``shape`` names (``_shape``)."""
    planner, horizon, iterations, restarts, samples, elites, primitives = shape
    if planner == "cem":
        return _plan_cem(step, step_params, reward, cost, score_params, z0, state, (horizon, iterations, samples, elites),
                         numbers, terminal)  # fmt: skip
    return _plan_gradient(step, step_params, reward, cost, score_params, z0, state,
                          (horizon, iterations, restarts, primitives), numbers, terminal)  # fmt: skip


def _plan_gradient(step: StepFn, step_params: Any, reward: RewardFn, cost: CostFn, score_params: Any, z0: jax.Array,
                   state: MPCState, shape: tuple[int, int, int, bool], numbers: dict[str, jax.Array],
                   terminal: RewardFn | None = None) -> tuple[jax.Array, MPCState, dict[str, jax.Array]]:  # fmt: skip
    """ReQueST's planner: Adam on soft actions through the model (``MPCConfig.planner == "gradient"``)."""
    horizon, iterations, restarts, primitives = shape
    key, sub = jax.random.split(state.key)
    fresh = numbers["init_scale"] * jax.random.normal(sub, (restarts - 1, horizon, ACTION_WIDTH))
    candidates = jnp.concatenate([state.plan[None], fresh], 0)

    def score(logits: jax.Array) -> jax.Array:
        return predicted_return(step, step_params, reward, cost, score_params, z0, logits + numbers["bias"],
                                numbers["cost_weight"], numbers["discount"], terminal)[0]  # fmt: skip

    tx = optax.adam(numbers["lr"])
    grad = jax.vmap(jax.grad(lambda x: -score(x)))

    def body(_: int, carry: tuple[jax.Array, Any]) -> tuple[jax.Array, Any]:
        x, opt = carry
        g = grad(x)
        updates, opt = tx.update(jnp.where(jnp.isfinite(g), g, 0.0), opt, x)  # a non-finite gradient moves nothing
        return optax.apply_updates(x, updates), opt

    candidates, _ = jax.lax.fori_loop(0, iterations, body, (candidates, tx.init(candidates)))
    scores = jax.vmap(score)(candidates)
    if primitives:
        fixed = jnp.asarray(primitive_plans(horizon))
        # a primitive using a value the config disallows is not a plan this agent may follow
        usable = jnp.all(jnp.where(fixed == 0.0, numbers["bias"], 0.0) == 0.0, axis=(-2, -1))
        candidates = jnp.concatenate([candidates, fixed], 0)
        scores = jnp.concatenate([scores, jnp.where(usable, jax.vmap(score)(fixed), -jnp.inf)], 0)
    scores = jnp.where(jnp.isfinite(scores), scores, -jnp.inf)
    best = candidates[jnp.argmax(scores)]
    ret, costs = predicted_return(step, step_params, reward, cost, score_params, z0, best + numbers["bias"],
                                  numbers["cost_weight"], numbers["discount"], terminal)  # fmt: skip
    warm = jnp.concatenate([best[1:], jnp.zeros_like(best[:1])], 0)
    return best[0] + numbers["bias"], MPCState(warm, key), {"predicted_return": ret, "predicted_costs": costs, "plan": best}


def plan(step: StepFn, step_params: Any, reward: RewardFn, cost: CostFn, score_params: Any, z0: jax.Array,
         state: MPCState, config: MPCConfig, terminal: RewardFn | None = None) -> tuple[np.ndarray, MPCState, dict[str, jax.Array]]:  # fmt: skip
    """One replanning step from latent ``z0`` [L]: (the discrete action int64 [5] to execute, the next MPC state,
    the plan's predicted return, per-rule predicted costs and logits). ``terminal``: a reward of the plan's last
    state, added once (discounted by γ^H) to the per-step sum."""
    logits, state, info = _plan(step, step_params, reward, cost, score_params, z0, state, _shape(config), _numbers(config),
                                terminal)  # fmt: skip
    return action_argmax(logits), state, info


@partial(jax.jit, static_argnames=("step", "reward", "cost", "shape", "step_axes", "score_axes", "terminal"))
def _plan_batch(step: StepFn, step_params: Any, reward: RewardFn, cost: CostFn, score_params: Any, z0: jax.Array,
                state: MPCState, shape: tuple, numbers: dict[str, jax.Array], step_axes: Any = None,
                score_axes: Any = None, terminal: RewardFn | None = None) -> tuple[jax.Array, MPCState, dict[str, jax.Array]]:  # fmt: skip
    one = lambda z, s, p, q: _plan(step, p, reward, cost, q, z, s, shape, numbers, terminal)  # noqa: E731
    return jax.vmap(one, in_axes=(0, 0, step_axes, score_axes))(z0, state, step_params, score_params)


def plan_batch(step: StepFn, step_params: Any, reward: RewardFn, cost: CostFn, score_params: Any, z0: jax.Array,
               state: MPCState, config: MPCConfig, step_axes: Any = None, score_axes: Any = None,
               terminal: RewardFn | None = None) -> tuple[np.ndarray, MPCState, dict[str, jax.Array]]:  # fmt: skip
    """``plan`` for a batch of latents [B, L] with a batched ``MPCState`` (``init_mpc(..., batch=B)``): actions
    int64 [B, 5], in one jitted call. ``step_axes`` says which parts of ``step_params`` are per latent (a
    ``jax.vmap`` ``in_axes`` prefix: None shares them all; (None, 0) for the learned simulator's (state, floor maps
    [B, ...])); ``score_axes`` likewise for ``score_params``."""
    logits, state, info = _plan_batch(step, step_params, reward, cost, score_params, z0, state, _shape(config),
                                      _numbers(config), step_axes, score_axes, terminal)  # fmt: skip
    return action_argmax(logits), state, info


def _shape(config: MPCConfig) -> tuple[str, int, int, int, int, int, bool]:
    return (config.planner, config.horizon, config.iterations, config.restarts, config.samples, config.elites,
            config.primitives)  # fmt: skip


def _numbers(config: MPCConfig) -> dict[str, jax.Array]:
    return {
        "lr": jnp.float32(config.learning_rate), "cost_weight": jnp.float32(config.cost_weight),
        "discount": jnp.float32(config.discount), "init_scale": jnp.float32(config.init_scale),
        "bias": jnp.where(jnp.asarray(config.allowed_actions), 0.0, -1e4).astype(jnp.float32),
    }  # fmt: skip


#: Index of the strafe component among ``ACTION_NVEC``'s, and its value that stands still sideways.
STRAFE, STRAFE_NONE = 1, 1


def demonstrated_actions(actions: np.ndarray, min_share: float = 0.03, strafe: bool = False) -> tuple[bool, ...]:
    """``MPCConfig.allowed_actions`` from integer actions [N, 5] (``Demonstrations.action``): each component value
    used in at least ``min_share`` of the steps (and, per component, at least its most used value). Without
    ``strafe`` the sideways steps are left out, the demonstrations' or not: the camera looks ahead, so a sideways
    step lands on a tile the agent may never have seen, whose learned cost says only what unseen floor usually is
    (measured on 32 held-out safety tasks, seeds 1 and 2, with ``route`` detours: 0.69 and 2.12 unsafe steps per
    episode with sideways steps, 0.56 and 0.53 without, at 0.38 / 0.41 and 0.38 / 0.44 success)."""
    a = np.asarray(actions, dtype=np.int64).reshape(-1, len(ACTION_NVEC))
    allowed: list[bool] = []
    for k, n in enumerate(ACTION_NVEC):
        share = np.bincount(a[:, k], minlength=n)[:n] / max(len(a), 1)
        keep = [bool(s >= min_share or s == share.max()) for s in share]
        allowed += [v == STRAFE_NONE for v in range(n)] if k == STRAFE and not strafe else keep
    return tuple(allowed)
