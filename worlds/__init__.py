"""openland worlds, in layers; each sub-package imports only the ones listed before it:

- ``tasks``: world and game specs, their JSON codec and content ids, the walkability rule, the world and game
  generators, task families (pure Python and numpy);
- ``sim``: the MuJoCo template a world is loaded into in place (``config``, ``layout``, ``build``, ``slots``,
  ``loading``, tied together by ``template``), avatars, the batched physics, compiled kernels, predicates,
  observations, rendering;
- ``envs``: ``BatchEnv`` (the [envs, players] core) and its PettingZoo and Gymnasium adapters;
- ``episodes``: recording and exact replay;
- ``experts``: the scripted expert, which reads the env only through its public read-only state.

``parallel_env`` and ``gym_env`` (and the adapter classes) are imported lazily from ``worlds.envs.adapters`` so that
``import worlds.tasks.spec`` stays light. Importing ``worlds`` registers the Gymnasium id ``openland/GoalWorld-v0``
(entry point ``worlds.envs.adapters:GoalWorldEnv``), so ``gymnasium.make("openland/GoalWorld-v0")`` works after
``import worlds``.
"""

from __future__ import annotations

from typing import Any

GOAL_WORLD_ID = "openland/GoalWorld-v0"

_ADAPTER_NAMES = ("parallel_env", "gym_env", "GoalWorldEnv", "OpenlandParallelEnv")

__all__ = ["GOAL_WORLD_ID", *_ADAPTER_NAMES]


def __getattr__(name: str) -> Any:
    if name in _ADAPTER_NAMES:
        from worlds.envs import adapters

        return getattr(adapters, name)
    raise AttributeError(f"module 'worlds' has no attribute {name!r}")


def _register() -> None:
    import gymnasium

    if GOAL_WORLD_ID not in gymnasium.registry:  # guarded: re-imports and reloads must not register twice
        gymnasium.register(id=GOAL_WORLD_ID, entry_point="worlds.envs.adapters:GoalWorldEnv")


_register()
