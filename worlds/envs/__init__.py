"""Environments: ``BatchEnv`` (the fast [envs, players] core) and its PettingZoo and Gymnasium adapters.
Imports ``worlds.tasks`` and ``worlds.sim``."""
