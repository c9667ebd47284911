"""The compiled per-step path of ``BatchEnv``: numba kernels over [envs, players, ...] arrays.

Why compiled: a step of a small batch is a few hundred tiny array operations (controls, support and fall
flags, ray geometry, entity state, predicate truth, shaping potential, observations). In numpy each costs a
microsecond or more of dispatch whatever the batch size, which at one env came to four times the physics it
drives. Each kernel here is one call that loops over envs and players in machine code (``numba.njit``; the
loops are compiled, not Python), so the fixed cost of a step is a dozen calls.

- ``physics``: what ``worlds.sim.world_batch.WorldBatch`` does around the C physics step (actions to controls, grabs,
  support, hazard and fall flags, instability, the ray geometry of cameras and probes) and the reading of its
  state into ``BatchEnv``'s arrays;
- ``perception``: what ``worlds.sim.predicates`` and ``worlds.sim.observations`` compute from that state (entities,
  predicate truth, reward, shaping potential, ray features, proprioception).

Every kernel is a pure function of its arguments, or writes only into the arrays it is handed for that purpose
(named ``out_*``, or said in its docstring). float32 rounding is kept where the data are float32. Compiled code
is cached beside the sources (``cache=True``), so only the first process after an install pays the compile
time (about 15 s).
"""

import numba

#: How every kernel is compiled: no Python objects, cached on disk, the GIL released (so Ray's and JAX's
#: threads run meanwhile).
jit = numba.njit(cache=True, nogil=True)

from worlds.sim.kernels import perception, physics  # noqa: E402  (they use ``jit`` above)

__all__ = ["jit", "perception", "physics"]
