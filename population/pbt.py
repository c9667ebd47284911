"""Population-based training (Jaderberg et al., 2017) as pure functions over member records.

Exploit: as in XLand, member A replaces member B when A Pareto-dominates B on the fitness vector (every entry
at least as good, one strictly better). When no member dominates another, fall back to truncation selection:
the bottom share copies a member drawn from the top share. Explore: each perturbable hyper-parameter of the
copier is multiplied by 0.8 or 1.2 (clipped to its bounds). Everything is deterministic given the numpy
Generator passed in, and every event is returned so the driver can log it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agents.ppo import HPARAMS

#: Hyper-parameters PBT may perturb, with their bounds: PPO's run-time hyper-parameters (``agents.ppo.HPARAMS``,
#: where the names are defined once; ``agents.ppo.hparams_of(cfg)`` reads their values from a config).
PERTURBABLE: dict[str, tuple[float, float]] = HPARAMS


@dataclass(frozen=True)
class PBTConfig:
    """Population-based training switches."""

    interval: int = 5
    """Iterations between two PBT rounds."""
    truncation: float = 0.2
    """Share of the population that copies the top share when nobody Pareto-dominates (at least one member)."""
    perturb_factors: tuple[float, float] = (0.8, 1.2)
    """Factors of the explore step, one drawn per hyper-parameter."""
    ready_after: int = 2
    """A member takes part only after this many iterations since its last exploit (so fitness is measured)."""


@dataclass(frozen=True)
class PBTEvent:
    """One exploit-and-explore: ``target`` took ``source``'s weights and optimiser state, then perturbed."""

    iteration: int
    target: int
    source: int
    reason: str
    old_hparams: dict[str, float]
    new_hparams: dict[str, float]


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """True when fitness vector ``a`` Pareto-dominates ``b`` (higher is better in every entry)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.all(a >= b) and np.any(a > b))


#: Hyper-parameters close to 1 whose distance to 1 is what is perturbed (a x1.2 on 0.95 would leave [0, 1]).
COMPLEMENT_PERTURBED = ("gae_lambda",)


def explore(hparams: dict[str, float], rng: np.random.Generator, factors: tuple[float, float] = (0.8, 1.2)) -> dict[str, float]:
    """Perturb each perturbable hyper-parameter by one of ``factors`` (for ``gae_lambda``, its distance to 1),
    clipped to its bounds; others are kept as they are."""
    new = dict(hparams)
    for name in sorted(hparams):
        if name not in PERTURBABLE:
            continue
        low, high = PERTURBABLE[name]
        factor = factors[int(rng.integers(len(factors)))]
        value = 1.0 - (1.0 - hparams[name]) * factor if name in COMPLEMENT_PERTURBED else hparams[name] * factor
        new[name] = float(np.clip(value, low, high))
    return new


def validate_hparams(hparams: dict[str, float]) -> None:
    """Refuse unknown member hyper-parameters and values outside their bounds, naming them."""
    for name, value in hparams.items():
        if name not in PERTURBABLE:
            raise ValueError(f"member hyper-parameter {name!r} is unknown; known: {sorted(PERTURBABLE)}")
        low, high = PERTURBABLE[name]
        if not (low <= value <= high):
            raise ValueError(f"member hyper-parameter {name}={value!r} is outside [{low}, {high}]")


@dataclass
class PBTState:
    """What PBT remembers between rounds: when each member last copied, and every event so far."""

    last_exploit: list[int]
    history: list[PBTEvent] = field(default_factory=list)


def pbt_round(
    iteration: int,
    fitness: np.ndarray,
    hparams: list[dict[str, float]],
    state: PBTState,
    rng: np.random.Generator,
    config: PBTConfig = PBTConfig(),
) -> list[PBTEvent]:
    """Decide this round's exploit/explore events. ``fitness`` is [members, metrics], higher is better.

    Each member copies at most once per round, and a member that copied is not copied from in the same round.
    The caller applies the events (copy weights and optimiser state, set ``new_hparams``).
    """
    fitness = np.asarray(fitness, dtype=float)
    if fitness.ndim == 1:
        fitness = fitness[:, None]
    members = fitness.shape[0]
    ready = [iteration - state.last_exploit[m] >= config.ready_after for m in range(members)]
    events: list[PBTEvent] = []
    copied: set[int] = set()
    sources: set[int] = set()
    for target in range(members):
        if not ready[target]:
            continue
        dominators = [s for s in range(members) if s != target and ready[s] and s not in copied and dominates(fitness[s], fitness[target])]
        if dominators:
            # The one that dominates most others is the strongest teacher.
            source = max(dominators, key=lambda s: (sum(dominates(fitness[s], fitness[o]) for o in range(members)), -s))
            copied.add(target)
            sources.add(source)
            events.append(PBTEvent(iteration, target, source, "pareto", hparams[target], explore(hparams[source], rng, config.perturb_factors)))
    if not events and members > 1:
        order = np.lexsort(tuple(fitness[:, k] for k in reversed(range(fitness.shape[1]))))  # ascending
        cut = max(1, int(np.floor(config.truncation * members)))
        bottom, top = [int(m) for m in order[:cut]], [int(m) for m in order[-cut:]]
        for target in bottom:
            if not ready[target] or target in top:
                continue
            source = top[int(rng.integers(len(top)))]
            if np.array_equal(fitness[source], fitness[target]):
                continue  # a tie is no evidence that one is better
            events.append(PBTEvent(iteration, target, source, "truncation", hparams[target], explore(hparams[source], rng, config.perturb_factors)))
    for event in events:
        state.last_exploit[event.target] = iteration
        state.history.append(event)
    return events
