"""Agents: the goal-attentive flax policy, PPO in JAX, orbax checkpoints, the single-process trainer.

JAX compiles the jitted act and update on first use, which takes tens of seconds on a small CPU; the
persistent compilation cache (``~/.cache/openland/jax``, or ``OPENLAND_JAX_CACHE``) makes every later process —
a resumed run, a Ray actor, the next test — load them from disk instead.
"""

import os

import jax

jax.config.update("jax_compilation_cache_dir", os.environ.get("OPENLAND_JAX_CACHE", os.path.expanduser("~/.cache/openland/jax")))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
