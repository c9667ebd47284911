"""Benchmarks of the worlds simulator side. Prints figures; never part of the test verdict.

Run: ``.venv/bin/python bench/worlds.py``. The machines are shared and noisy, so every figure that matters is
printed as a ratio against a reference measured in the same run.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import mujoco
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worlds.sim.avatar import step  # noqa: E402
from worlds.tasks.generator import WorldGenConfig, generate_world  # noqa: E402
from worlds.tasks.spec import MAX_PLAYERS, validate_world  # noqa: E402
from worlds.sim.template import WorldTemplate  # noqa: E402


def timed(fn, repeat: int) -> float:
    """Median seconds per call over ``repeat`` calls (median: robust to other jobs on the machine)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def bench_generation(seconds: float = 2.0) -> None:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        validate_world(generate_world(n))
        n += 1
    rate = n / (time.perf_counter() - t0)
    print(f"worlds generated+validated: {rate:8.0f} /s   (goal >= 1000/s on one core)")


def bench_load(template: WorldTemplate) -> None:
    specs = [generate_world(s) for s in range(50)]
    model = template.new_model()
    data = mujoco.MjData(model)
    for s in specs[:5]:
        template.load(model, data, s)
    it = iter(range(10**9))
    load = timed(lambda: template.load(model, data, specs[next(it) % len(specs)], cache=False), 500)
    warm = timed(lambda: template.load(model, data, specs[next(it) % len(specs)]), 500)
    compile_only = timed(lambda: template.mjspec.compile(), 15)
    build_compile = timed(template.compile_fresh, 7)
    print(f"load in place (cold):      {load * 1e3:8.3f} ms")
    print(f"load in place (cached):    {warm * 1e3:8.3f} ms   ({load / warm:.1f}x faster than cold)")
    print(f"build spec + compile:      {build_compile * 1e3:8.3f} ms   -> load is {build_compile / load:6.1f}x faster"
          "  (goal >= 50x)")
    print(f"                                         cached load is {build_compile / warm:6.1f}x faster")
    print(f"compile a built spec only: {compile_only * 1e3:8.3f} ms   -> load is {compile_only / load:6.1f}x faster")


def bench_physics(template: WorldTemplate) -> None:
    config = dataclasses.replace(WorldGenConfig(), players=(MAX_PLAYERS, MAX_PLAYERS), objects=(8, 8))
    spec = generate_world(7, config)
    model = template.new_model()
    data = mujoco.MjData(model)
    world = template.load(model, data, spec)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(MAX_PLAYERS, 5))
    actions[:, 3] = 0.0  # no jumping: measure the typical contact load
    n = 400
    for _ in range(50):
        step(template, model, data, actions)

    def env_steps() -> None:
        for _ in range(n):
            step(template, model, data, actions)

    def raw_world() -> None:
        mujoco.mj_step(model, data, nstep=n * template.physics.substeps)

    minimal = mujoco.MjModel.from_xml_string(
        "<mujoco><worldbody><body><freejoint/><geom size='0.1'/></body></worldbody></mujoco>"
    )
    mdata = mujoco.MjData(minimal)

    def raw_minimal() -> None:
        mujoco.mj_step(minimal, mdata, nstep=n * template.physics.substeps)

    sub = template.physics.substeps
    t_min = timed(raw_minimal, 5) / (n * sub)
    t_world = timed(raw_world, 5) / (n * sub)
    t_env = timed(env_steps, 5) / n
    print(f"world: {spec.terrain.rows}x{spec.terrain.cols}, {world.n_terrain_boxes} terrain boxes, "
          f"{len(spec.terrain.ramps)} ramps, {len(spec.objects)} objects, {len(spec.spawns)} players, "
          f"ncon ~{data.ncon}")
    print(f"raw mj_step, minimal one-body model: {1 / t_min:10.0f} steps/s")
    print(f"raw mj_step, generated world:        {1 / t_world:10.0f} steps/s   ratio to minimal {t_min / t_world:.3f}")
    print(f"env step (actions + {sub} substeps + flags): {1 / t_env:8.0f} env steps/s = "
          f"{sub / t_env:.0f} physics steps/s   ratio to raw world {sub * t_world / t_env:.3f}")


def main() -> None:
    print(f"mujoco {mujoco.__version__}")
    bench_generation()
    template = WorldTemplate()
    bench_load(template)
    bench_physics(template)


if __name__ == "__main__":
    main()
