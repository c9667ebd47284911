"""Simulation: the MuJoCo template loaded in place, avatars, the batched physics (``WorldBatch``), the ray camera,
predicate truth and observations, and the compiled per-step kernels. Imports ``worlds.tasks`` only."""
