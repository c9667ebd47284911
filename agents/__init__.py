"""Agents: the goal-attentive flax policy, PPO in JAX, orbax checkpoints, the single-process trainer.

JAX compiles the jitted act and update on first use, which takes tens of seconds on a small CPU; the
persistent compilation cache (``~/.cache/openland/jax``, or ``OPENLAND_JAX_CACHE``) makes every later process —
a resumed run, a Ray actor, the next test — load them from disk instead. Importing this package changes no JAX
setting: a process turns the cache on where it starts (the ``openland`` command, the test suite's conftest;
Ray actors get it through :func:`compilation_cache_env`).
"""

from __future__ import annotations

import os

#: Compilations faster than this are not worth a disk entry.
CACHE_MIN_COMPILE_SECONDS = 1.0


def compilation_cache_dir() -> str:
    """Where compiled JAX programs are kept: ``OPENLAND_JAX_CACHE``, else ``~/.cache/openland/jax``."""
    return os.environ.get("OPENLAND_JAX_CACHE", os.path.expanduser("~/.cache/openland/jax"))


def compilation_cache_env() -> dict[str, str]:
    """The same settings as environment variables, for processes JAX starts in (Ray actors)."""
    return {
        "JAX_COMPILATION_CACHE_DIR": compilation_cache_dir(),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": str(CACHE_MIN_COMPILE_SECONDS),
    }


def enable_compilation_cache() -> None:
    """Turn on JAX's persistent compilation cache in this process (call it where a process starts)."""
    import jax

    jax.config.update("jax_compilation_cache_dir", compilation_cache_dir())
    jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_SECONDS)
