"""The ``openland`` command: one subcommand per job, each configured by a dataclass that tyro turns into flags."""

from __future__ import annotations

import contextlib
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


@dataclasses.dataclass(frozen=True)
class View:
    """Serve the replay viewer for an episode file or a run directory (its episodes/ and report) on loopback."""

    path: tyro.conf.Positional[Path]
    """An episode file (``*.npz``, as runs record them) or a run directory (every episode under it)."""
    port: int = 8000
    """TCP port on 127.0.0.1 (0: any free port)."""
    host: str = "127.0.0.1"
    """Address to listen on. Keep loopback: the viewer has no authentication; reach it from another machine
    through an SSH tunnel (``ssh -L 8000:127.0.0.1:8000 HOST``)."""
    open_browser: bool = False
    """Open the page in the default browser."""


@dataclasses.dataclass(frozen=True)
class Report:
    """Write RUN/report.html: learning curves, PBT, league, evaluations and links to the recorded episodes."""

    run: tyro.conf.Positional[Path]
    """The run directory (``runs/<name>``) of ``openland train`` or ``openland train --local``."""
    out: Path | None = None
    """Where to write the page (default: RUN/report.html, which ``openland view RUN`` links to)."""


def run_view(cfg: View) -> None:
    import threading

    from viewer.server import start_server

    server = start_server(cfg.path, cfg.host, cfg.port)
    print(f"openland viewer: {server.url} (serving {server.source.root}; Ctrl-C stops)", flush=True)
    if cfg.open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a user stops the viewer
            threading.Event().wait()  # the server runs in its own thread until then
    finally:
        server.shutdown()


def run_report(cfg: Report) -> None:
    from viewer.report import write_report

    out = write_report(cfg.run, cfg.out)
    print(f"report -> {out} (open it with `openland view {cfg.run}` to follow the episode links)")


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


def run_eval(cfg) -> None:
    from launch.eval_run import print_summary, run_eval as evaluate_run

    with _clear_errors("eval"):
        reports = evaluate_run(cfg)
    print_summary(reports)
    print(f"eval -> {cfg.run / 'eval'} (eval.html, one JSON per held-out split)")


def run_probe(cfg) -> None:
    from launch.probe_run import format_table, run_probes

    with _clear_errors("probe"):
        results = run_probes(cfg)
    print(format_table(results))
    print(f"probes -> {cfg.run / 'probes'} (probes.html, probes.json)")


@contextlib.contextmanager
def _clear_errors(command: str):
    """Bad input (no run, an unknown probe, a corrupted checkpoint) ends the command with its message, not a
    stack trace."""
    from agents.checkpoint import CheckpointError
    from worlds.tasks.codec import SpecError

    try:
        yield
    except (CheckpointError, SpecError, KeyError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise SystemExit(f"openland {command}: {message}") from err


def _eval_config() -> type:
    from launch.eval_run import EvalConfig

    return EvalConfig


def _probe_config() -> type:
    from launch.probe_run import ProbeConfig

    return ProbeConfig


COMMANDS: dict[str, tuple[type, Callable]] = {
    "render-world": (RenderWorld, run_render_world),
    "describe": (Describe, run_describe),
    "view": (View, run_view),
    "report": (Report, run_report),
}
LAZY_COMMANDS: dict[str, tuple[Callable[[], type], Callable]] = {
    "eval": (_eval_config, run_eval),
    "probe": (_probe_config, run_probe),
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


def run_safety(argv: list[str]) -> None:
    """``openland safety STAGE FLAGS``: one ReQueST stage (``launch.safety_run``), its own subcommands, so the
    safety module (JAX, the learned simulator) is imported only when asked for."""
    from agents import enable_compilation_cache

    enable_compilation_cache()
    with _clear_errors("safety " + argv[0] if argv and not argv[0].startswith("-") else "safety"):
        from launch.safety_run import main as safety_main

        safety_main(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script ``openland``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["train"]:
        run_train(argv[1:])
        return
    if argv[:1] == ["safety"]:
        run_safety(argv[1:])
        return
    commands = dict(COMMANDS)
    if argv[:1] and argv[0] in LAZY_COMMANDS or not argv or argv[0] in ("-h", "--help"):
        commands.update({name: (make(), run) for name, (make, run) in LAZY_COMMANDS.items()})
    configs = {name: cls for name, (cls, _) in commands.items()}
    cfg = tyro.extras.subcommand_cli_from_dict(configs, args=argv, prog="openland",
                                               description="openland: open-ended multi-agent RL in MuJoCo worlds. "
                                                           "Also: `openland train [--local] --help`, `openland safety --help` "
                                                           "(ReQueST: demos, simulator, request, evaluate).")  # fmt: skip
    for cls, run in commands.values():
        if type(cfg) is cls:
            run(cfg)
            return
    raise AssertionError(f"no runner for {type(cfg).__name__}")


if __name__ == "__main__":
    main()
