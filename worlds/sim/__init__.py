"""Simulation: the MuJoCo template loaded in place (``template``, built from ``config``, ``layout``, ``build``,
``slots`` and ``loading``), avatars, the batched physics (``WorldBatch``), the ray camera, predicate truth and
observations, the compiled per-step kernels, and offscreen rendering. Imports ``worlds.tasks`` only."""
