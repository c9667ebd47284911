"""openland curriculum: what to train on and how to measure it. Imports only ``worlds`` (no JAX, no Ray).

- ``taskset``: ``TaskSet``, an immutable content-identified set of tasks (sample, split, filter, describe,
  save/load as one checked file).
- ``stats``: ``TaskStats``, per-task success/return/participation estimates from rollouts, checkpointable.
- ``curricula``: uniform, XLand's dynamic task filter and Robust PLR as pure functions over ``TaskStats``;
  ``make_curriculum(name)``.
- ``sampler``: ``CurriculumSampler``, a curriculum as ``BatchEnv``'s task sampler, fed finished episodes.
- ``evaluation``: XLand's normalised-score arithmetic (percentiles, participation, Pareto dominance).

Families, their default configs and the held-out splits (by world and by game structure) live in
``worlds.tasks.families``.
"""
