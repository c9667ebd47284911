"""The ``openland`` command: one subcommand per job, each configured by a dataclass that tyro turns into flags."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Callable

import tyro


@dataclasses.dataclass(frozen=True)
class RenderWorld:
    """Draw a generated world (perspective and top-down) to a PNG with MuJoCo's offscreen renderer."""

    seed: int = 0
    """Seed of the world generator: the same seed always draws the same world."""
    out: Path = Path("world.png")
    """Where to write the PNG."""
    width: int = 640
    """Width in pixels of each of the two views."""
    height: int = 480
    """Height in pixels."""


@dataclasses.dataclass(frozen=True)
class Describe:
    """Print a generated task (world and game) as JSON, with its id."""

    seed: int = 0
    """Seed of the task generator."""
    world_only: bool = False
    """Print only the world, not the game."""


def run_render_world(cfg: RenderWorld) -> None:
    from worlds.tasks.generator import generate_world
    from worlds.sim.render import render_world_png
    from worlds.tasks.spec import world_id

    spec = generate_world(cfg.seed)
    render_world_png(spec, cfg.out, width=cfg.width, height=cfg.height)
    print(f"world {world_id(spec)} (seed {cfg.seed}, {spec.terrain.rows}x{spec.terrain.cols} tiles, "
          f"{len(spec.objects)} objects, {len(spec.spawns)} players) -> {cfg.out}")


def run_describe(cfg: Describe) -> None:
    from worlds.tasks import codec

    if cfg.world_only:
        from worlds.tasks.generator import generate_world
        from worlds.tasks.spec import world_id

        spec = generate_world(cfg.seed)
        print(json.dumps({"id": world_id(spec), "world": codec.to_jsonable(spec)}, indent=2))
        return
    from worlds.tasks.game import generate_task, task_id

    task = generate_task(cfg.seed)
    print(json.dumps({"id": task_id(task), "task": codec.to_jsonable(task)}, indent=2))


COMMANDS: dict[str, tuple[type, Callable]] = {
    "render-world": (RenderWorld, run_render_world),
    "describe": (Describe, run_describe),
}


def run_train(argv: list[str]) -> None:
    """``openland train [--local] FLAGS``: the population on Ray, or with ``--local`` one agent in one process.

    Two configs with different flags, so ``--local`` picks which dataclass tyro parses the rest into.
    """
    from agents import enable_compilation_cache

    enable_compilation_cache()  # this process compiles the policy: load what earlier runs compiled
    if "--local" in argv:
        from agents.local_train import LocalTrainConfig, train_local

        rest = [a for a in argv if a != "--local"]
        cfg = tyro.cli(LocalTrainConfig, args=rest, prog="openland train --local",
                       description="Train one agent in one process (no Ray).")  # fmt: skip
        summary = train_local(cfg)
    else:
        from population.addresses import keep_ray_on_loopback
        from population.config import PopulationConfig

        cfg = tyro.cli(PopulationConfig, args=argv, prog="openland train",
                       description="Train a population of agents on Ray (local Ray on loopback unless --address). "
                                   "Add --local for the single-process trainer.")  # fmt: skip
        keep_ray_on_loopback(cfg.address)  # decided before Ray is first imported (by population.driver)
        from population.driver import train_population

        summary = train_population(cfg)
    print(json.dumps(summary, indent=2))
    print(f"run directory: {cfg.run_dir()}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script ``openland``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:
        run_train(argv[1:])
        return
    configs = {name: cls for name, (cls, _) in COMMANDS.items()}
    cfg = tyro.extras.subcommand_cli_from_dict(configs, args=argv, prog="openland",
                                               description="openland: open-ended multi-agent RL in MuJoCo worlds. "
                                                           "Also: `openland train [--local] --help`.")  # fmt: skip
    for cls, run in COMMANDS.values():
        if type(cfg) is cls:
            run(cfg)
            return
    raise AssertionError(f"no runner for {type(cfg).__name__}")


if __name__ == "__main__":
    main()
