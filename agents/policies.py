"""Who plays the player slots that do not learn: the co-players of :class:`agents.rollout.RolloutRunner`.

A runner splits an env's player slots into learning slots (the PPO learner acts there and its samples form the
training batch) and co-player slots, all played by one :class:`Policy`: a frozen PPO policy (self-play, a past
snapshot, the evaluated agent), the uniform random policy (the reference every success figure is read
against), or the privileged scripted expert (``worlds.experts.scripted``). A policy acts for all its slots of
all envs in one call: observations ``[E, S, ...]`` in, actions ``[E, S, ...]`` out, with its recurrent state
carried explicitly by the runner and every random draw taken from the key the runner hands it.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import jax
import numpy as np

from agents.networks import Carry
from agents.ppo import PPO, TrainState


class Policy(Protocol):
    """What a runner needs from a co-player."""

    name: str
    """Shown in every :class:`agents.rollout.EpisodeRecord` it played in (the league reads it)."""

    def bind(self, env: Any, slots: np.ndarray) -> None:
        """Called once by the runner: the env and the player slots (int array) this policy plays."""

    def initial_carry(self, num_envs: int, num_slots: int) -> Carry | None:
        """Zero recurrent state for ``num_envs`` × ``num_slots`` sequences (None: the policy keeps none)."""

    def act(self, obs: Any, carry: Carry | None, done: np.ndarray, key: np.ndarray) -> tuple[Carry | None, np.ndarray]:
        """Actions ``[E, S, ...]`` for observations ``[E, S, ...]``; ``done[E]`` marks episode starts."""


class PPOPolicy:
    """A PPO policy with given parameters (one jitted ``PPO.act`` over all its slots of all envs).

    ``state`` may be swapped between rollouts (the league's co-player changes) without recompiling: only the
    arrays change. ``greedy`` takes the mode of the action distribution instead of a sample."""

    def __init__(self, ppo: PPO, state: TrainState | None, name: str = "ppo", greedy: bool = False) -> None:
        self.ppo, self.state, self.name, self.greedy = ppo, state, name, greedy

    def bind(self, env: Any, slots: np.ndarray) -> None:
        """Nothing to bind: it acts from the observations the runner hands it."""

    def initial_carry(self, num_envs: int, num_slots: int) -> Carry:
        return self.ppo.initial_carry(num_envs * num_slots)

    def act(self, obs: Any, carry: Carry, done: np.ndarray, key: np.ndarray) -> tuple[Carry, np.ndarray]:
        if self.state is None:
            raise ValueError(f"PPOPolicy {self.name!r}: state is None; set the parameters before acting")
        E, S = done.shape[0], jax.tree_util.tree_leaves(obs)[0].shape[1]
        flat = jax.tree_util.tree_map(lambda v: v.reshape((E * S,) + v.shape[2:]), obs)
        done_flat = np.repeat(done, S)
        if self.greedy:
            carry, action = self.ppo.act_greedy(self.state, flat, carry, done_flat)
        else:
            carry, action, _, _ = self.ppo.act(self.state, flat, carry, done_flat, key)
        action = np.asarray(action)
        return carry, action.reshape((E, S) + action.shape[1:])


class RandomPolicy:
    """Every action drawn uniformly from the per-player action space, from the runner's key (so the same key
    gives the same actions): the reference a trained agent's success is read against."""

    def __init__(self, action_space: gym.Space, name: str = "random") -> None:
        if not isinstance(action_space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.Box)):
            raise ValueError(f"RandomPolicy: unsupported action_space {action_space}")
        self.space, self.name = action_space, name

    def bind(self, env: Any, slots: np.ndarray) -> None:
        """Nothing to bind: its draws depend only on the key and the action space."""

    def initial_carry(self, num_envs: int, num_slots: int) -> None:
        return None

    def act(self, obs: Any, carry: None, done: np.ndarray, key: np.ndarray) -> tuple[None, np.ndarray]:
        rng = np.random.default_rng(np.asarray(key, dtype=np.uint32))
        space = self.space
        lead = (done.shape[0], jax.tree_util.tree_leaves(obs)[0].shape[1])
        if isinstance(space, gym.spaces.Discrete):
            return None, rng.integers(space.start, space.start + space.n, size=lead)
        if isinstance(space, gym.spaces.MultiDiscrete):
            return None, rng.integers(0, space.nvec, size=lead + space.nvec.shape)
        return None, rng.uniform(space.low, space.high, size=lead + space.shape).astype(space.dtype)


class ScriptedExpert:
    """The privileged goal-seeking expert of ``worlds.experts.scripted`` as a co-player: it reads the env's state
    rather than the observation, so it needs a ``BatchEnv`` with discrete actions. It plans per env and player
    in Python (it is a demonstrator, not the training hot path), and keeps its plans itself (no carry)."""

    def __init__(self, avoid_hazards: bool = True, name: str = "scripted") -> None:
        self.avoid_hazards, self.name = avoid_hazards, name
        self._expert: Any = None
        self._slots = np.zeros(0, dtype=np.int64)

    def bind(self, env: Any, slots: np.ndarray) -> None:
        from worlds.envs.batch_env import BatchEnv
        from worlds.experts.scripted import ScriptedPolicy

        if not isinstance(env, BatchEnv):
            raise ValueError(f"ScriptedExpert needs a worlds BatchEnv (it reads the world's state), got {type(env).__name__}")
        self._expert = ScriptedPolicy(env, self.avoid_hazards)
        self._slots = np.asarray(slots, dtype=np.int64)

    def initial_carry(self, num_envs: int, num_slots: int) -> None:
        return None

    def act(self, obs: Any, carry: None, done: np.ndarray, key: np.ndarray) -> tuple[None, np.ndarray]:
        if self._expert is None:
            raise ValueError("ScriptedExpert.act before bind(): hand it to a RolloutRunner first")
        return None, self._expert.act()[:, self._slots]


class SlotPolicies:
    """Different policies on different co-player slots: the evaluated agent on its slot, a scripted opponent
    or a frozen snapshot on the others (evaluation against fixed co-players, probes). Policies given as the
    same object share one call over all their slots; each gets its own key and carry."""

    def __init__(self, by_slot: "list[Policy]", name: str | None = None) -> None:
        if not by_slot:
            raise ValueError("SlotPolicies: by_slot is empty; give one policy per player slot")
        self.by_slot = list(by_slot)
        self.groups: list[tuple[Policy, np.ndarray]] = []  # (policy, positions among the bound slots)
        self.name = name or "+".join(dict.fromkeys(p.name for p in self.by_slot))

    def bind(self, env: Any, slots: np.ndarray) -> None:
        slots = np.asarray(slots, dtype=np.int64)
        if len(self.by_slot) != env.num_players:
            raise ValueError(f"SlotPolicies: {len(self.by_slot)} policies for an env of {env.num_players} player slots")
        self.groups = []
        for policy in dict.fromkeys(self.by_slot):  # distinct objects, first-use order
            where = np.array([i for i, s in enumerate(slots) if self.by_slot[s] is policy], dtype=np.int64)
            if len(where):
                policy.bind(env, slots[where])
                self.groups.append((policy, where))

    def initial_carry(self, num_envs: int, num_slots: int) -> list[Carry | None]:
        return [policy.initial_carry(num_envs, len(where)) for policy, where in self.groups]

    def act(self, obs: Any, carry: list, done: np.ndarray, key: np.ndarray) -> tuple[list, np.ndarray]:
        keys = np.asarray(jax.random.split(np.asarray(key, dtype=np.uint32), len(self.groups)))
        out, new_carry = None, []
        for (policy, where), c, k in zip(self.groups, carry, keys):
            sub = jax.tree_util.tree_map(lambda v: v[:, where], obs)
            c, action = policy.act(sub, c, done, k)
            new_carry.append(c)
            action = np.asarray(action)
            if out is None:
                out = np.empty((action.shape[0], sum(len(w) for _, w in self.groups)) + action.shape[2:], action.dtype)
            out[:, where] = action
        return new_carry, out


class MixturePolicy:
    """Per env and episode, one of ``policies`` plays every co-player slot of that env: drawn (with ``weights``)
    at each episode start from the key the runner hands over, kept until the episode ends. Training against a
    mix of fixed co-players (the random policy, the scripted expert) and the learner's own parameters gives
    the learner opponents that do not move while it learns, and partners that act.

    Every policy acts for every env each step (a mixture of a few policies, each one batched call; a policy no
    env has drawn is skipped) and the actions are picked per env. The draws live in the carry, so a runner's
    checkpoint keeps them."""

    def __init__(self, policies: "list[Policy]", weights: "list[float] | None" = None, name: str | None = None) -> None:
        if not policies:
            raise ValueError("MixturePolicy: policies is empty; give at least one co-player policy")
        if len({id(p) for p in policies}) != len(policies):
            raise ValueError("MixturePolicy: the same policy object is listed twice; list each once and weight it")
        w = np.ones(len(policies)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(policies),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"MixturePolicy: weights={weights!r} must be {len(policies)} non-negative numbers with a "
                             "positive sum")  # fmt: skip
        self.policies, self.weights = list(policies), w / w.sum()
        self.name = name or "|".join(p.name for p in self.policies)

    def bind(self, env: Any, slots: np.ndarray) -> None:
        for policy in self.policies:
            policy.bind(env, slots)

    def initial_carry(self, num_envs: int, num_slots: int) -> dict[str, Any]:
        """The draw of every env (-1: none yet; the first step of an episode draws) and each policy's carry."""
        return {"choice": np.full(num_envs, -1, dtype=np.int32),
                "policies": [p.initial_carry(num_envs, num_slots) for p in self.policies]}  # fmt: skip

    def act(self, obs: Any, carry: dict[str, Any], done: np.ndarray, key: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
        keys = np.asarray(jax.random.split(np.asarray(key, dtype=np.uint32), len(self.policies) + 1))
        drawn = np.random.default_rng(keys[-1]).choice(len(self.policies), size=done.shape[0], p=self.weights)
        choice = np.asarray(carry["choice"])
        choice = np.where(np.asarray(done, bool) | (choice < 0), drawn, choice).astype(np.int32)
        out, carries = None, []
        for i, (policy, c, k) in enumerate(zip(self.policies, carry["policies"], keys)):
            mine = choice == i
            if not mine.any():
                carries.append(c)
                continue
            c, action = policy.act(obs, c, done, k)
            carries.append(c)
            action = np.asarray(action)
            if out is None:
                out = np.empty_like(action)
            out[mine] = action[mine]
        assert out is not None  # every env drew some policy
        return {"choice": choice, "policies": carries}, out


#: Co-player names a trainer accepts (``LocalTrainConfig.coplayers``): the learner's own current parameters
#: (frozen during a rollout), the uniform random policy, the scripted expert.
COPLAYER_NAMES: tuple[str, ...] = ("self", "random", "scripted")


def parse_coplayers(spec: str) -> tuple[str, ...]:
    """``"random,scripted"`` -> ("random", "scripted"); an empty, repeated or unknown name is an error naming it."""
    names = tuple(n.strip() for n in spec.split(","))
    bad = [n for n in names if n not in COPLAYER_NAMES]
    if bad or not names or len(set(names)) != len(names):
        raise ValueError(f"coplayers={spec!r}: give distinct names from {list(COPLAYER_NAMES)}, comma-separated"
                         + (f" (unknown: {bad})" if bad else ""))  # fmt: skip
    return names


def make_coplayers(names: "tuple[str, ...] | list[str]", ppo: PPO, action_space: gym.Space) -> tuple[MixturePolicy, list[PPOPolicy]]:
    """The co-player mixture of ``names`` (equal weights) and the PPO policies in it that must follow the
    learner's current parameters ("self"; the caller sets their ``state`` before each rollout)."""
    policies: list[Any] = []
    live: list[PPOPolicy] = []
    for name in names:
        if name == "self":
            live.append(PPOPolicy(ppo, None, name="self"))
            policies.append(live[-1])
        elif name == "random":
            policies.append(RandomPolicy(action_space))
        elif name == "scripted":
            policies.append(ScriptedExpert())
        else:
            raise ValueError(f"co-player {name!r} is not one of {list(COPLAYER_NAMES)}")
    return MixturePolicy(policies), live


def random_key(seed: int) -> np.ndarray:
    """A raw uint32[2] JAX key on the host (what the runner carries and checkpoints)."""
    return np.asarray(jax.random.PRNGKey(seed))
