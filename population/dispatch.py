"""One iteration's rollouts: a task per member on the workers, lost tasks submitted again, each result counted once.

Member ``m`` runs on worker ``(m + iteration) % workers``, so members rotate over workers. Workers are Ray actors
with unlimited restarts and task retries; should a task still fail with the actor's death, it is submitted
again here. Results carry (member, iteration): a duplicate from a retried task is dropped, never counted twice.
"""

from __future__ import annotations

from typing import Any, Callable

import ray


def collect_rollouts(
    workers: list[Any],
    iteration: int,
    states: list[Any],
    coplayers: list[tuple[str, Any]],
    on_lost: Callable[[int, Exception], None],
) -> dict[int, dict[str, Any]]:
    """Rollouts of every member for ``iteration``. ``states[m]``: member m's parameters (object reference);
    ``coplayers[m]``: (name, reference or None for self-play). ``on_lost(member, error)`` is told of every
    rollout lost to a dead worker before it is submitted again."""
    pending: dict[Any, int] = {}

    def submit(m: int) -> None:
        name, co = coplayers[m]
        ref = workers[(m + iteration) % len(workers)].rollout.remote(m, iteration, states[m], co, name)
        pending[ref] = m

    for m in range(len(states)):
        submit(m)
    results: dict[int, dict[str, Any]] = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        m = pending.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as err:
            on_lost(m, err)
            submit(m)
            continue
        if (result["member"], result["iteration"]) != (m, iteration) or m in results:
            continue  # a duplicate from a retried task: never count it twice
        results[m] = result
    return results
