"""The one rollout loop: the local trainer, the population's rollout workers and the held-out evaluation all
step their envs through :class:`RolloutRunner`.

Why one: acting, the split of player slots between the learner and its co-players, potential-based shaping of
the training reward, the auxiliary target and episode bookkeeping (returns, goal success, unsafe steps,
lengths, recordings) used to be written three times and drifted apart. Here they are written once:

* ``learning`` says which player slots learn. Their observations, actions, log-probabilities, values and
  shaped rewards form the PPO :class:`~agents.ppo.Rollout` (``[T, E * L]``, env-major, slot-minor); the other
  slots are played by ``coplayer`` (:mod:`agents.policies`). Training is every slot learning (self-play with
  shared parameters), the population learns in slot 0 against a league co-player, evaluation learns nowhere.
* Per step: one jitted ``PPO.act`` for all learning slots of all envs, one ``coplayer.act`` for the rest, one
  ``env.step``; no Python loop over envs or players, and same-shaped inputs never recompile.
* Every finished episode becomes one :class:`EpisodeRecord` (unshaped goal returns: shaping reaches the
  training reward only) fed to each of ``episode_hooks``, which is where a curriculum or a recorder plugs in.

The env follows ``BatchEnv``'s step contract (see :class:`agents.vecenv.VecEnv`): arrays ``[E, P, ...]``,
auto-reset, finished episodes in ``info["final"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from agents.policies import Policy, random_key
from agents.ppo import PPO, Rollout, TrainState
from agents.shaping import PotentialShaping
from agents.vecenv import VecEnv, state_from_json, state_to_json


@dataclass(frozen=True)
class EpisodeRecord:
    """One finished episode of one env (all its player slots). Figures are the goal reward's, never shaped."""

    env: int
    """Env index in the batch."""
    task_id: str
    """Content id of the task played ("" for envs without tasks)."""
    length: int
    """Agent steps."""
    returns: np.ndarray
    """float [P]: each slot's goal return."""
    success: np.ndarray
    """bool [P]: the slot's goal held on the last step."""
    held_fraction: np.ndarray
    """float [P]: share of steps on which the slot's goal held."""
    unsafe: np.ndarray
    """int [P]: unsafe steps (hidden hazards, falls)."""
    active: np.ndarray
    """bool [P]: the slot has a player in this task."""
    learning: np.ndarray
    """bool [P]: the slot was the learner's."""
    coplayer: str
    """Name of the policy that played the other slots ("" when every slot learned)."""
    recording: Any = None
    """The ``worlds.episodes.recording.Episode`` when this env was recorded, else None."""

    @property
    def learner_slots(self) -> np.ndarray:
        """bool [P]: slots that learned and have a player."""
        return self.learning & self.active

    def outcome(self, slot: int = 0) -> float:
        """1 when ``slot`` out-scored the mean of the other active players, 0.5 on a tie or alone, else 0."""
        others = np.delete(self.returns, slot)[np.delete(self.active, slot)]
        if not len(others):
            return 0.5
        mine, theirs = float(self.returns[slot]), float(others.mean())
        return 1.0 if mine > theirs else 0.5 if mine == theirs else 0.0


EpisodeHook = Callable[[EpisodeRecord], None]


def _slot_mask(learning: Sequence[int] | Sequence[bool] | np.ndarray, players: int) -> np.ndarray:
    """A learning-slot description (indices, or a bool mask of length P) as a bool mask [P]."""
    arr = np.asarray(learning)
    if arr.dtype == bool:
        if arr.shape != (players,):
            raise ValueError(f"learning: a bool mask needs one entry per player slot ({players}), got shape {arr.shape}")
        return arr.copy()
    idx = arr.astype(np.int64).reshape(-1) if arr.size else np.zeros(0, np.int64)
    if not np.array_equal(idx, arr.reshape(-1)) or np.any(idx < 0) or np.any(idx >= players) or len(set(idx.tolist())) != len(idx):
        raise ValueError(f"learning={arr.reshape(-1).tolist()!r}: slot indices must be distinct integers in 0..{players - 1}")
    mask = np.zeros(players, dtype=bool)
    mask[idx] = True
    return mask


class RolloutRunner:
    """Steps ``env`` with the learner on the ``learning`` slots and ``coplayer`` on the others.

    Holds the runner state a checkpoint must keep (last observation, episode-start flags, both recurrent
    carries, the shaping potential, the co-player's key; see :meth:`checkpoint_tree` and :meth:`get_state`).
    """

    def __init__(
        self,
        env: VecEnv,
        ppo: PPO | None = None,
        learning: Sequence[int] | Sequence[bool] | np.ndarray = (),
        coplayer: Policy | None = None,
        shaping: float = 0.0,
        gamma: float = 0.99,
        aux_targets: bool = False,
        seed: int = 0,
        episode_hooks: Iterable[EpisodeHook] = (),
        cost_keys: Sequence[str] = (),
    ) -> None:
        E, P = env.num_envs, env.num_players
        self.env, self.ppo = env, ppo
        self.learning = _slot_mask(learning, P)
        self.learn_slots = np.flatnonzero(self.learning)
        self.co_slots = np.flatnonzero(~self.learning)
        L, C = len(self.learn_slots), len(self.co_slots)
        if L and ppo is None:
            raise ValueError(f"learning={self.learn_slots.tolist()} needs the learner's ppo (got ppo=None)")
        if L and ppo.cfg.num_envs != E * L:
            raise ValueError(f"PPOConfig.num_envs={ppo.cfg.num_envs} but the env's {E} envs x {L} learning slots "
                             f"make {E * L} sequences")  # fmt: skip
        if C and coplayer is None:
            raise ValueError(f"player slots {self.co_slots.tolist()} do not learn and coplayer is None: give a Policy")
        self.coplayer = coplayer if C else None
        if self.coplayer is not None:
            self.coplayer.bind(env, self.co_slots)
        #: Add ``obs["aux_target"]`` (``BatchEnv.goal_direction``) for PPO's auxiliary loss; policies never read it.
        self.aux_targets = aux_targets
        #: Training reward = goal reward + potential-based shaping; episode figures stay the goal reward's.
        self.shaping = PotentialShaping(env, shaping, gamma)
        self.episode_hooks: list[EpisodeHook] = list(episode_hooks)
        #: Per-step ``info`` flags ([E, P] each) recorded as the rollout's ``costs`` [T, N, len(cost_keys)], for a
        #: constrained learner (``("hazard", "fell")``: the unsafe flag per rule); () records none.
        self.cost_keys = tuple(cost_keys)
        space = env.single_action_space
        self._act_shape = space.shape
        self._act_dtype = np.float32 if isinstance(space, gym.spaces.Box) else np.int64
        self._clip = (np.asarray(space.low), np.asarray(space.high)) if isinstance(space, gym.spaces.Box) else None
        self._all_learn = L == P
        self.key = random_key(seed)
        self.obs: dict[str, np.ndarray] | np.ndarray = {}
        self.done = np.ones(E, dtype=bool)
        self.carry = ppo.initial_carry() if L else None
        self.coplayer_carry = self.coplayer.initial_carry(E, C) if self.coplayer is not None else None
        self._taps: dict[int, Any] = {}

    # -- episodes -------------------------------------------------------------------------------------------
    def reset(self, seed: int) -> None:
        """New episodes in every env (the env's task sequence seeded by ``seed``); carries start afresh."""
        obs, _ = self.env.reset(seed=seed)
        self._start(obs)

    def load_tasks(self, tasks: list) -> None:
        """New episodes of the given tasks, one per env (evaluation, probes)."""
        obs, _ = self.env.load_tasks(tasks)
        self._start(obs)

    def _start(self, obs: Any) -> None:
        self.shaping.sync()
        self.obs = self._with_aux(obs)
        self.done = np.ones(self.env.num_envs, dtype=bool)
        self._taps = {}

    def record(self, envs: Iterable[int]) -> None:
        """Record the episode each of ``envs`` is starting now (after :meth:`reset` or :meth:`load_tasks`); the
        recording arrives in that episode's :class:`EpisodeRecord`."""
        from worlds.episodes.replay import EpisodeTap

        for e in envs:
            tap = EpisodeTap(self.env, int(e))
            tap.start()
            self._taps[int(e)] = tap

    def _with_aux(self, obs: Any) -> Any:
        return dict(obs, aux_target=self.env.goal_direction()) if self.aux_targets else obs

    # -- stepping -------------------------------------------------------------------------------------------
    def _learner_view(self, obs: Any) -> Any:
        """Observations of the learning slots, flat [E * L, ...] (a view when every slot learns)."""
        E, L = self.env.num_envs, len(self.learn_slots)
        pick = (lambda v: v) if self._all_learn else (lambda v: v[:, self.learn_slots])
        return jax.tree_util.tree_map(lambda v: pick(v).reshape((E * L,) + v.shape[2:]), obs)

    def learner_obs(self) -> Any:
        """The learning slots' current observations, flat [E * L, ...]: what the next step acts on, and what a
        learner bootstraps the rollout's last step from."""
        return self._learner_view(self.obs)

    def _coplayer_view(self, obs: Any) -> Any:
        if isinstance(obs, dict):
            obs = {k: v for k, v in obs.items() if k != "aux_target"}
        return jax.tree_util.tree_map(lambda v: v[:, self.co_slots], obs)

    def step(self, state: TrainState | None, key: np.ndarray | None, co_key: np.ndarray) -> tuple[Any, ...]:
        """One step of every env. Returns the learner's (obs, done, action, logprob, value, reward[, costs]) for the
        training batch (None when no slot learns) and the finished episodes' records."""
        env, E, P = self.env, self.env.num_envs, self.env.num_players
        L = len(self.learn_slots)
        obs, done = self.obs, self.done
        actions = np.empty((E, P) + self._act_shape, dtype=self._act_dtype)
        learner = None
        if L:
            own = self._learner_view(obs)
            done_l = done if L == 1 else np.repeat(done, L)
            self.carry, action, logp, value = self.ppo.act(state, own, self.carry, done_l, key)
            a = np.asarray(action)
            actions[:, self.learn_slots] = a.reshape((E, L) + a.shape[1:])
            learner = (own, done_l, a, logp, value)
        if self.coplayer is not None:
            self.coplayer_carry, co = self.coplayer.act(self._coplayer_view(obs), self.coplayer_carry, done, co_key)
            actions[:, self.co_slots] = co
        env_actions = np.clip(actions, *self._clip) if self._clip is not None else actions
        next_obs, reward, terminated, truncated, info = env.step(env_actions)
        ended = terminated | truncated
        train_reward = self.shaping(reward, ended, info)
        records = self._finish(info, env_actions, reward)
        self.obs, self.done = self._with_aux(next_obs), np.asarray(ended)
        if learner is not None:
            r = train_reward if self._all_learn else train_reward[:, self.learn_slots]
            learner = learner + (r.reshape(-1),)
            if self.cost_keys:
                missing = [k for k in self.cost_keys if k not in info]
                if missing:
                    raise ValueError(f"cost_keys={list(self.cost_keys)}: the env's info has no {missing} "
                                     f"(it has {sorted(info)})")  # fmt: skip
                c = np.stack([info[k] for k in self.cost_keys], axis=-1).astype(np.float32)  # [E, P, R]
                c = c if self._all_learn else c[:, self.learn_slots]
                learner = learner + (c.reshape(-1, len(self.cost_keys)),)
        return learner, records

    def _finish(self, info: dict[str, Any], actions: np.ndarray, reward: np.ndarray) -> list[EpisodeRecord]:
        """Feed the recorders, then turn ``info["final"]`` into records and hand each to every hook."""
        for tap in self._taps.values():
            tap.after_step(actions, reward, info, info["poses"])
        final = info.get("final")
        if final is None:
            return []
        name = self.coplayer.name if self.coplayer is not None else ""
        records = []
        for i, e in enumerate(final["env"].tolist()):
            tap = self._taps.pop(e, None)
            records.append(EpisodeRecord(
                env=e, task_id=final["task_id"][i], length=int(final["length"][i]), returns=final["return"][i],
                success=final["success"][i], held_fraction=final["held_fraction"][i], unsafe=final["unsafe"][i],
                active=final["active"][i], learning=self.learning, coplayer=name,
                recording=tap.episodes[-1] if tap is not None and tap.episodes else None,
            ))  # fmt: skip
        for record in records:
            for hook in self.episode_hooks:
                hook(record)
        return records

    def _co_keys(self, steps: int) -> np.ndarray:
        self.key, sub = np.asarray(jax.random.split(self.key))
        return np.asarray(jax.random.split(sub, steps))

    def collect(self, state: TrainState, key: jax.Array, num_steps: int) -> Rollout:
        """``num_steps`` steps of every env; the learning slots' samples as a time-major PPO rollout."""
        if not len(self.learn_slots):
            raise ValueError("collect: no player slot learns (learning=()); use play_tasks to only evaluate")
        keys = np.asarray(jax.random.split(key, num_steps))
        co_keys = self._co_keys(num_steps)
        init_carry = self.carry
        buf: list[tuple[Any, ...]] = []
        for t in range(num_steps):
            learner, _ = self.step(state, keys[t], co_keys[t])
            buf.append(learner)
        obs_b, done_b, act_b, logp_b, val_b, rew_b = list(zip(*buf))[:6]
        last_done = self.done if len(self.learn_slots) == 1 else np.repeat(self.done, len(self.learn_slots))
        last_value = self.ppo.value(state, self._learner_view(self.obs), self.carry, last_done)
        return Rollout(
            obs=jax.tree_util.tree_map(lambda *a: np.stack(a), *obs_b),
            dones=np.stack(done_b),
            actions=np.stack(act_b),
            logprobs=jnp.stack(logp_b),
            values=jnp.stack(val_b),
            rewards=np.stack(rew_b).astype(np.float32),
            init_carry=init_carry,
            last_done=last_done,
            last_value=last_value,
            costs=np.stack([b[6] for b in buf]) if self.cost_keys else None,
        )

    def play_tasks(self, tasks: list, max_steps: int, record: int = 0) -> list[EpisodeRecord]:
        """One episode of every task, ``num_envs`` at a time, with nobody learning (evaluation). Returns the
        records of those episodes in task order (the hooks get exactly these); the first ``record`` are
        recorded. ``max_steps`` bounds an episode (the env truncates there)."""
        if len(self.learn_slots):
            raise ValueError(f"play_tasks: learning={self.learn_slots.tolist()}; an evaluation runner learns nowhere")
        E = self.env.num_envs
        hooks, self.episode_hooks = self.episode_hooks, []  # only the counted episodes reach them
        out: list[EpisodeRecord] = []
        try:
            for start in range(0, len(tasks), E):
                chunk = list(tasks[start : start + E])
                real = len(chunk)
                self.load_tasks(chunk + [chunk[-1]] * (E - real))  # padded envs are not counted
                self.record(range(min(real, max(0, record - start))))
                self.coplayer_carry = self.coplayer.initial_carry(E, len(self.co_slots))
                first: dict[int, EpisodeRecord] = {}
                for co_key in self._co_keys(max_steps):
                    _, records = self.step(None, None, co_key)
                    for rec in records:
                        if rec.env < real:
                            first.setdefault(rec.env, rec)
                    if len(first) == real:
                        break
                if len(first) != real:
                    raise RuntimeError(f"play_tasks: {real - len(first)} episodes did not end within max_steps={max_steps}")
                out.extend(first[e] for e in range(real))
        finally:
            self.episode_hooks = hooks
        for rec in out:
            for hook in hooks:
                hook(rec)
        return out

    # -- checkpoints ----------------------------------------------------------------------------------------
    def checkpoint_tree(self) -> dict[str, Any]:
        """The runner's array state. The shaping potential is stored, not recomputed: positions read right
        after ``mj_step`` lag the state by one substep, so a recomputed potential would differ in the last bits
        and break exact resume."""
        tree = {"obs": self.obs, "done": self.done, "carry": self.carry, "phi": self.shaping.phi, "key": self.key}
        if self.coplayer_carry is not None:
            tree["coplayer_carry"] = self.coplayer_carry
        return {k: v for k, v in tree.items() if v is not None}

    def load_checkpoint_tree(self, tree: dict[str, Any]) -> None:
        """Inverse of :meth:`checkpoint_tree`. Arrays are re-made from host copies: restored arrays come back
        committed to a device, which jit treats as another input signature (a recompile)."""
        host = jax.tree_util.tree_map(np.asarray, tree)
        self.obs = host["obs"]
        self.done = host["done"].astype(bool)
        self.shaping.phi = host["phi"].astype(np.float32)
        self.key = host["key"]
        if "carry" in host:
            self.carry = jax.tree_util.tree_map(jnp.asarray, host["carry"])
        if "coplayer_carry" in host:
            self.coplayer_carry = jax.tree_util.tree_map(jnp.asarray, host["coplayer_carry"])

    def get_state(self) -> dict[str, Any]:
        """The env's state, JSON-able (checkpoints keep it beside the arrays; floats round-trip exactly)."""
        return state_to_json(self.env.get_state())

    def set_state(self, state: dict[str, Any]) -> None:
        self.env.set_state(state_from_json(state))
