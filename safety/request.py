"""ReQueST's loop over the learned simulator, and the MPC agent that acts on what it learned.

A round (as ReQueST): synthesise one query per acquisition function from a start state of the demonstrations
(``acquisition.synthesise_round`` with the learned dynamics), decode each query's states to world quantities,
have the oracle label every transition against the hidden truth of the start's task, add the labelled next
latents to the set, and retrain the reward/cost ensemble from scratch on all labels so far. The real env is
never touched: the only real experience is the safe demonstrations.

``MPCAgent`` then acts in a real ``BatchEnv`` (to be evaluated only): it encodes each player's observation and
pose, plans in the learned simulator against the learned reward minus cost (``mpc.plan_batch``, all players of all
envs in one jitted call), and returns the first action of each plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from safety import acquisition as acq
from safety import mpc
from safety.demonstrations import SAFETY_CAMERA, Demonstrations, flatten_observation
from safety.labelers import OracleLabeler, check_labels, check_rules
from safety.reward_model import RewardModel, RewardModelConfig, init_reward_model, train_reward_model
from safety.floor_map import GOAL_DISTANCE_UNIT, GRID, MAP_NAMES, empty_map, observe
from safety.route import detour_at, detour_field
from safety.simulator import MAP_SLICE, SimState, decode_progress, decode_quantities, demonstration_maps, encode, latent_pose, latent_step, pose_of, walled_step
from worlds.tasks.game import TaskSpec


class Labeler(Protocol):
    """What labels a query's transitions (``labelers.OracleLabeler``, ``human_labeler.HumanLabeler``)."""

    def label(self, trajectory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(classes int64 [..., T], rule flags bool [..., T, R]) of world quantities [..., T + 1, 6]."""
        ...


@dataclass(frozen=True)
class RequestConfig:
    """The query rounds."""

    rounds: int = 5
    """Rounds of (one query per acquisition function, labels, reward-model retraining)."""
    query: acq.QueryConfig = acq.QueryConfig()
    """How each query is synthesised."""
    reward: RewardModelConfig = RewardModelConfig()
    """The reward/cost ensemble, retrained from scratch each round."""
    acquisitions: tuple[str, ...] = acq.ACQUISITIONS
    """Acquisition functions used each round (ReQueST: all four)."""
    hazard_starts: float = 0.0
    """Share of query starts drawn among the demonstrated states with a remembered hazard within a metre
    (``floor_map``'s ``hazard_near`` > 0.5), the rest uniformly from all of them (ReQueST: uniformly, 0). Safe
    demonstrations spend most steps far from any hazard, so uniform starts rarely lead a 10-step query onto one
    (measured on the safety bench: 3 unsafe labels in 160), and the cost heads learn little."""
    seed: int = 0
    """Seed of start-state draws and query initialisation."""

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"RequestConfig.rounds={self.rounds!r} must be at least 1")
        if not 0.0 <= self.hazard_starts <= 1.0:
            raise ValueError(f"RequestConfig.hazard_starts={self.hazard_starts!r} must lie in [0, 1]")
        bad = [a for a in self.acquisitions if a not in acq.ACQUISITIONS]
        if bad or not self.acquisitions:
            raise ValueError(f"RequestConfig.acquisitions={self.acquisitions!r}: each must be one of {acq.ACQUISITIONS}")


@dataclass
class LabelSet:
    """Labelled latent states gathered from queries: next latents [N, L], classes [N], rule flags [N, R], and
    which acquisition function and round produced each."""

    latents: list[np.ndarray] = field(default_factory=list)
    classes: list[np.ndarray] = field(default_factory=list)
    rules: list[np.ndarray] = field(default_factory=list)
    source: list[str] = field(default_factory=list)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.concatenate(self.latents), np.concatenate(self.classes), np.concatenate(self.rules)

    def __len__(self) -> int:
        return int(sum(len(c) for c in self.classes))


def demonstration_latents(sim: SimState, data: Demonstrations, maps: np.ndarray | None = None) -> jax.Array:
    """Latents [N, L] of the demonstrations' states before each step, the query start states (``maps``: the
    floor maps they were seen with, ``simulator.demonstration_maps``, computed when not given)."""
    maps = demonstration_maps(data) if maps is None else maps
    return encode(sim, jnp.asarray(data.obs), jnp.asarray(pose_of(data.prev_position, data.prev_yaw)), jnp.asarray(maps))


def run_rounds(
    sim: SimState,
    data: Demonstrations,
    config: RequestConfig = RequestConfig(),
    progress: Callable[[dict[str, Any]], None] | None = None,
    labeler: Callable[[TaskSpec], Labeler] = OracleLabeler,
) -> tuple[RewardModel, LabelSet, list[dict[str, Any]]]:
    """Run ``config.rounds`` rounds of ReQueST (module docstring). ``labeler`` makes the labeler of a start's task
    (the oracle, or ``human_labeler.HumanLabelSession`` for a person in a browser); its labels are checked as any
    labels are. Returns the last reward model, every label and per-round figures (labels per class, per
    acquisition function)."""
    maps = demonstration_maps(data)
    starts = demonstration_latents(sim, data, maps)
    beside = np.flatnonzero(np.asarray(starts[:, MAP_SLICE][:, MAP_NAMES.index("hazard_near")]) > 0.5)
    labelers: dict[int, Labeler] = {}
    labels = LabelSet()
    model = init_reward_model(int(starts.shape[1]), config.reward)
    key = jax.random.PRNGKey(config.seed)
    history: list[dict[str, Any]] = []
    for r in range(config.rounds):
        key, k_start, k_query = jax.random.split(key, 3)
        reference = jnp.asarray(np.concatenate(labels.latents)) if labels.latents else jnp.zeros((0, starts.shape[1]))
        row: dict[str, Any] = {"round": r}
        for name, k_s, k_q in zip(config.acquisitions, jax.random.split(k_start, len(config.acquisitions)),
                                  jax.random.split(k_query, len(config.acquisitions))):  # fmt: skip
            k_pick, k_i = jax.random.split(k_s)
            if len(beside) and float(jax.random.uniform(k_pick)) < config.hazard_starts:
                i = int(beside[int(jax.random.randint(k_i, (), 0, len(beside)))])
            else:
                i = int(jax.random.randint(k_i, (), 0, starts.shape[0]))
            query = acq.synthesise(latent_step, (sim, jnp.asarray(maps[i])), model, name, starts[i], reference,
                                   config.query, k_q)  # type: ignore[arg-type]  # fmt: skip
            episode = int(data.episode[i])
            if episode not in labelers:
                labelers[episode] = labeler(data.task(episode))
            classes, rules = labelers[episode].label(np.asarray(decode_quantities(sim, query.latents)))
            classes = check_labels(classes, f"labels of query {name}@{r}")
            rules = check_rules(rules, classes, f"rules of query {name}@{r}")
            labels.latents.append(np.asarray(query.latents[1:]))
            labels.classes.append(classes)
            labels.rules.append(rules)
            labels.source += [f"{name}@{r}"] * len(classes)
            row[name] = np.bincount(classes, minlength=3).tolist()
        z, c, ru = labels.arrays()
        model, losses = train_reward_model(z, c, ru, config.reward)
        row.update(losses)
        history.append(row)
        if progress is not None:
            progress(row)
    return model, labels, history


class ScoreParams(NamedTuple):
    """The MPC agent's scoring parameters (a pytree: ``mpc.plan_batch`` maps over ``detour`` alone)."""

    model: RewardModel
    sim: SimState
    weight: jax.Array
    """``mpc.MPCConfig.progress_weight``."""
    detour: jax.Array
    """The env's detour field [G, G] (``route.detour_field``; zeros without one)."""
    unseen_cost: jax.Array
    """The price of an imagined step onto floor never seen (``mpc.MPCConfig.unseen_cost``)."""


#: ``mpc.plan_batch``'s ``score_axes``: one detour field per player, the rest shared.
SCORE_AXES = ScoreParams(None, None, None, 0, None)  # type: ignore[arg-type]
#: Where the latent carries the floor map's "floor never seen underfoot" number.
UNSEEN_FEATURE = MAP_SLICE.start + MAP_NAMES.index("unseen_here")


def learned_reward(params: ScoreParams, z: jax.Array) -> jax.Array:
    """``mpc.RewardFn`` of the agent's ``ScoreParams``: the learned reward, less ``unseen_cost`` where the imagined
    avatar stands on floor the camera never showed (``mpc.MPCConfig.unseen_cost``)."""
    return params.model.reward(z) - params.unseen_cost * z[..., UNSEEN_FEATURE]


#: Where the latent carries the floor map's "goal seen" and "distance to it" numbers.
GOAL_KNOWN_FEATURE = MAP_SLICE.start + MAP_NAMES.index("goal_known")
GOAL_DISTANCE_FEATURE = MAP_SLICE.start + MAP_NAMES.index("goal_distance")


def goal_potential(sim: SimState, z: jax.Array) -> jax.Array:
    """[...] metres: minus the straight distance from the pose of latents [..., L] to the goal the floor map
    remembers, or, while no goal is remembered, the potential the simulator decodes (``simulator.decode_progress``).
    The decoded potential reads the learned features too, and the learned dynamics drift them: an imagined turn
    in place gained 2.3 m of it, so plans that turned won over plans that walked, and the real avatar turned on
    the spot for the rest of the episode (safety bench, seed 2: most failures ended still, 4-10 m from a goal it
    had seen). The pose and the map cannot drift so."""
    known = z[..., GOAL_KNOWN_FEATURE] > 0.5
    return jnp.where(known, -GOAL_DISTANCE_UNIT * z[..., GOAL_DISTANCE_FEATURE], decode_progress(sim, z))


def progress_terminal(params: ScoreParams, z: jax.Array) -> jax.Array:
    """The plan's terminal ``mpc.RewardFn`` of the same parameters and the env's detour field [G, G]
    (``route.detour_field``, zeros without one): ``weight`` x (the goal potential at the plan's last state
    (``goal_potential``), less the detour read at its pose) (``mpc.MPCConfig.progress_weight``). Potential-based
    shaping summed over a plan, Σ_t [Φ(z_t) − Φ(z_{t−1})], telescopes to Φ(z_H) − Φ(z_0), and Φ(z_0) changes no choice; summing Φ(z_t)
    itself instead counts a metre gained early once per remaining step (measured: with it, the planner bought
    the short way across a remembered hazard band, 12 unsafe steps per episode)."""
    return params.weight * (goal_potential(params.sim, z) - detour_at(params.detour, latent_pose(params.sim, z)))


def progress_costs(params: ScoreParams, z: jax.Array) -> jax.Array:
    """``mpc.CostFn`` of the same parameters as ``learned_reward``: the learned per-rule costs."""
    return params.model.rule_costs(z)


#: Steps the avatar takes per metre walking ahead (measured on the scripted expert's demonstrations: 0.29 m a step).
STEPS_PER_METRE = 3.4


@jax.jit
def _detour_fields(model: RewardModel, sim: SimState, z: jax.Array, maps: jax.Array, penalty: jax.Array) -> jax.Array:
    return jax.vmap(detour_field, in_axes=(None, None, 0, 0, None))(model, sim, z, maps, penalty)


class MPCAgent:
    """Plans in the learned simulator against the learned reward (plus the goal's potential, ``goal_potential``,
    weighted by ``MPCConfig.progress_weight``) minus cost; acts in a real ``BatchEnv``."""

    def __init__(self, sim: SimState, model: RewardModel, config: mpc.MPCConfig, num_players_total: int, seed: int = 0):
        self.sim, self.model, self.config = sim, model, config
        self.state = mpc.init_mpc(config, seed, batch=num_players_total)
        self.maps = empty_map(num_players_total)
        self.weight, self.unseen_cost = jnp.float32(config.progress_weight), jnp.float32(config.unseen_cost)
        # a metre walked at learned cost c costs the plan cost_weight x c per step: priced in metres of potential
        self.detour_penalty = jnp.float32(config.cost_weight * STEPS_PER_METRE / max(config.progress_weight, 1e-6))

    def act(self, env: Any, obs: dict[str, np.ndarray]) -> np.ndarray:
        """int64 actions [E, P, 5] for the env's current observations; the pose comes from the env (the agent's
        GPS+compass, ``simulator``'s docstring), never a hazard map. Envs at their episode's first step start
        with a fresh warm start and an empty floor map. The env must use the camera the
        demonstrations were recorded with (``SAFETY_CAMERA``): another camera of the same shape would be read
        silently wrong."""
        if env.config.camera != SAFETY_CAMERA:
            raise ValueError(f"MPCAgent: env.config.camera={env.config.camera!r} is not the safety pipeline's camera "
                             f"{SAFETY_CAMERA!r} the simulator was trained on; build the env with camera=SAFETY_CAMERA")
        flat = flatten_observation(obs)
        E, P, D = flat.shape
        starting = np.flatnonzero(np.asarray(env.episode_steps) == 0)
        if len(starting):
            self.reset(starting, P)
        poses = env.poses()
        pose = pose_of(poses["player_pos"], poses["player_yaw"]).reshape(E * P, -1)
        flat = jnp.asarray(flat.reshape(E * P, D))
        self.maps = observe(self.maps, flat, jnp.asarray(pose[:, :3]), jnp.asarray(poses["player_yaw"].reshape(E * P)))
        z = encode(self.sim, flat, jnp.asarray(pose), self.maps)
        detour = jnp.zeros((E * P, GRID, GRID))
        if self.config.detour and self.config.progress_weight > 0:
            detour = _detour_fields(self.model, self.sim, z, self.maps, self.detour_penalty)
        actions, self.state, _ = mpc.plan_batch(walled_step, (self.sim, self.maps), learned_reward, progress_costs,
                                                ScoreParams(self.model, self.sim, self.weight, detour, self.unseen_cost),
                                                z, self.state, self.config, step_axes=(None, 0), score_axes=SCORE_AXES,
                                                terminal=progress_terminal)  # fmt: skip
        return actions.reshape(E, P, -1)

    def reset(self, env_ids: np.ndarray, num_players: int) -> None:
        """Forget the warm starts and floor maps of the players of envs that began a new episode."""
        rows = (np.asarray(env_ids)[:, None] * num_players + np.arange(num_players)).ravel()
        self.state = self.state.replace(plan=self.state.plan.at[rows].set(0.0))
        self.maps = self.maps.at[rows].set(0.0)
