"""``openland safety STAGE``: ReQueST end to end, one subcommand per stage, each reading the previous stage's output
from ``runs/<name>/`` and writing its own (layout: ``launch.safety_files``).

1. ``demos``: safe demonstrations of the hazard-avoiding scripted expert on training tasks of a family;
2. ``simulator``: the learned simulator trained on them (held-out error per step);
3. ``request``: query rounds (four acquisition functions), labels from the oracle (or a person), the reward/cost
   ensemble retrained each round;
4. ``relabel``: the same queries with labels from a file a person wrote, the ensemble retrained on them;
5. ``evaluate``: the MPC agent planning in the learned simulator against the learned reward minus cost, beside the
   scripted expert that avoids hazards, the one that ignores them and the uniform random policy, on held-out tasks
   (optionally from shifted starts): unsafe events per episode and per 1000 steps, goal success;
6. ``all``: stages 1, 2, 3 and 5 in order with small budgets (minutes on 2 cores).

Model state is saved as orbax checkpoints, figures as JSON (and ``evaluation/safety.html``). The stages' flags are
``launch.safety_config``; the run directory's layout and checks, ``launch.safety_files``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import tyro
from tqdm import tqdm

from launch.safety_config import (
    POLICIES, STAGES, AllStages, DemosStage, EvaluateStage, RelabelStage, RequestStage, SimulatorStage,
)  # fmt: skip
from launch.safety_files import (
    SafetyRun, StageError, file_sha256, load_demos, load_label_set, load_reward_model, load_simulator, params_digest,
    read_labels_file, replacing, write_json,
)  # fmt: skip
from safety.mpc import MPCConfig
from safety.reward_model import RewardModelConfig

__all__ = ["STAGES", "main"]


# ------------------------------------------------------------------------------------------------ stages
def run_demos(cfg: DemosStage) -> dict[str, Any]:
    from safety import demonstrations as demos
    from worlds.tasks.families import check_family

    run = SafetyRun.of(cfg.runs_dir, cfg.name)
    check_family(cfg.family)
    config = demos.DemoConfig(num_envs=cfg.num_envs, max_steps=cfg.max_steps)
    tasks = demos.family_tasks(cfg.family, cfg.tasks, cfg.seed)
    parts = []
    with tqdm(total=len(tasks), desc="demos", unit="task", disable=not cfg.progress) as bar:
        for start in range(0, len(tasks), cfg.num_envs):
            chunk = tasks[start : start + cfg.num_envs]
            parts.append(demos.collect_demonstrations(chunk, config))
            bar.update(len(chunk))
    data = concatenate(parts)
    created = not run.root.exists()
    try:
        with replacing(run.root / "demos") as out:
            demos.save(data, out / "demos.npz")
            summary = {
                "family": cfg.family, "tasks": cfg.tasks, "seed": cfg.seed, "max_steps": cfg.max_steps,
                "episodes": data.num_episodes, "transitions": len(data), "dropped": data.dropped,
                "unsafe_transitions": int(data.unsafe().sum()), "obs_dim": data.obs_dim,
                "goal_reward_per_step": float(data.reward.mean()),
                "sha256": file_sha256(out / "demos.npz"), "task_ids": data.episode_task_id.tolist(),
            }  # fmt: skip
            write_json(out / "summary.json", summary)
    except BaseException:
        if created and run.root.is_dir() and not any(run.root.iterdir()):
            run.root.rmdir()
        raise
    print(f"demos: {summary['episodes']} episodes, {summary['transitions']} transitions, "
          f"{summary['unsafe_transitions']} unsafe, {summary['dropped']} dropped -> {run.root / 'demos'}")  # fmt: skip
    return summary


def concatenate(parts: list[Any]) -> Any:
    """One dataset of several (episode ids offset so each still points at its own task)."""
    from safety.demonstrations import Demonstrations

    if len(parts) == 1:
        return parts[0]
    out: dict[str, Any] = {}
    offsets = np.cumsum([0] + [p.num_episodes for p in parts[:-1]])
    for f in dataclasses.fields(Demonstrations):
        values = [getattr(p, f.name) for p in parts]
        if f.name == "dropped":
            out[f.name] = int(sum(values))
        elif f.name == "episode":
            out[f.name] = np.concatenate([v + o for v, o in zip(values, offsets)]).astype(np.int32)
        else:
            out[f.name] = np.concatenate(values)
    return Demonstrations(**out)


def run_simulator(cfg: SimulatorStage) -> dict[str, Any]:
    from safety import checkpoints as ck
    from safety.simulator import train_simulator

    run = SafetyRun.of(cfg.runs_dir, cfg.name)
    data, demos_sha = load_demos(run)
    train, held_out = data.split_episodes(cfg.sim.holdout_fraction, cfg.sim.seed)
    with tqdm(total=cfg.sim.train_steps, desc="simulator", unit="step", disable=not cfg.progress) as bar:

        def progress(row: dict[str, float]) -> None:
            bar.update(int(row["step"]) - bar.n)
            bar.set_postfix(held_out_mse=f"{row['held_out_next_obs_mse']:.3f}")

        state, history = train_simulator(train, held_out, cfg.sim, progress)
    last = history[-1]
    summary = {
        "steps": int(state.step), "train_episodes": int(np.unique(train.episode).size),
        "held_out_episodes": int(np.unique(held_out.episode).size), "digest": params_digest(state.params),
        **{k: v for k, v in last.items() if k.startswith("held_out_")},
        "held_out_next_obs_mse_at_start": history[0]["held_out_next_obs_mse"],
    }  # fmt: skip
    with replacing(run.simulator) as out:
        ck.save_simulator(out / "checkpoints", state, cfg.sim, extra={"demos_sha256": demos_sha})
        write_json(out / "history.json", {"config": dataclasses.asdict(cfg.sim), "history": history})
        write_json(out / "summary.json", summary)
    print(f"simulator: {summary['steps']} steps; held-out next-observation MSE {summary['held_out_next_obs_mse_at_start']:.3f}"
          f" -> {summary['held_out_next_obs_mse']:.3f} (copying the observation: {last['held_out_copy_obs_mse']:.3f}), "
          f"position error {last['held_out_position_error_m']:.2f} m, goal-potential error "
          f"{last['held_out_potential_error_m']:.2f} m -> {run.simulator}")  # fmt: skip
    return summary


@contextlib.contextmanager
def labeler_session(cfg: RequestStage) -> Iterator[Callable[[Any], Any]]:
    """What builds a task's labeler for the stage: the oracle, or a person at ``safety.human_labeler``'s page on
    127.0.0.1 (one server for the whole stage, closed when it ends)."""
    if cfg.labeler == "oracle":
        from safety.labelers import OracleLabeler

        yield OracleLabeler
    elif cfg.labeler == "human":
        from safety.human_labeler import HumanLabelSession

        with HumanLabelSession(port=cfg.label_port, timeout=cfg.label_timeout) as session:
            yield session
    else:
        raise StageError(f"--labeler {cfg.labeler!r} is not one of ('oracle', 'human')")


def run_request(cfg: RequestStage) -> dict[str, Any]:
    from safety.request import RequestConfig, run_rounds

    run = SafetyRun.of(cfg.runs_dir, cfg.name)
    data, demos_sha = load_demos(run)
    sim, _, _ = load_simulator(run, data.obs_dim, demos_sha)
    config = RequestConfig(rounds=cfg.rounds, query=cfg.query, reward=cfg.reward, hazard_starts=cfg.hazard_starts,
                           seed=cfg.seed)  # fmt: skip
    bar = tqdm(total=cfg.rounds, desc="request", unit="round", disable=not cfg.progress)
    with labeler_session(cfg) as labeler, bar:

        def progress(row: dict[str, Any]) -> None:
            bar.update(1)
            bar.set_postfix(labels=sum(sum(row[a]) for a in config.acquisitions), loss=f"{row['loss']:.3f}")

        model, labels, history = run_rounds(sim, data, config, progress, labeler=labeler)
    z, classes, rules = labels.arrays()
    summary = _write_reward_model(run, sim, model, cfg.reward, z, classes, rules, np.array(labels.source), history,
                                  {"labeler": cfg.labeler, "rounds": cfg.rounds})  # fmt: skip
    print(f"request: {cfg.rounds} round{'s' * (cfg.rounds != 1)}, {summary['labels']} labels ({_counts(summary)}) by the {cfg.labeler} "
          f"-> {run.reward_model}")  # fmt: skip
    return summary


def _counts(summary: dict[str, Any]) -> str:
    return ", ".join(f"{n} {name}" for name, n in summary["per_class"].items())


def _write_reward_model(run: SafetyRun, sim: Any, model: Any, config: RewardModelConfig, z: np.ndarray,
                        classes: np.ndarray, rules: np.ndarray | None, source: np.ndarray, history: list[dict[str, Any]],
                        about: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """Write the reward_model stage: checkpoint, labelled latents, the labels as an editable JSON, figures."""
    from safety import checkpoints as ck
    from safety.labelers import LABELS, RULES
    from safety.simulator import QUANTITY_NAMES, decode_quantities

    step = len(history)
    after = np.asarray(decode_quantities(sim, z))
    summary = {
        **about, "labels": int(len(classes)), "per_class": {n: int((classes == i).sum()) for i, n in enumerate(LABELS)},
        "has_rules": rules is not None, "final_loss": history[-1].get("loss"), "digest": params_digest(model.params),
    }  # fmt: skip
    with replacing(run.reward_model) as out:
        ck.save_reward_model(out / "checkpoints", model, int(z.shape[1]), config, step,
                             extra={"simulator_digest": params_digest(sim.params), **about})  # fmt: skip
        arrays = dict(latents=z, classes=classes, source=source, has_rules=np.bool_(rules is not None))
        np.savez(out / "labels.npz", **arrays, **({"rules": rules} if rules is not None else {}))
        write_json(out / "labels.json", {
            "label_names": list(LABELS), "rule_names": list(RULES), "quantity_names": list(QUANTITY_NAMES),
            "labels": [LABELS[c] for c in classes], "rules": rules.astype(int).tolist() if rules is not None else None,
            "source": source.tolist(), "after": np.round(after, 4).tolist(),
        })  # fmt: skip
        write_json(out / "history.json", {"config": dataclasses.asdict(config), "history": history})
        write_json(out / "summary.json", summary)
    return summary


def run_relabel(cfg: RelabelStage) -> dict[str, Any]:
    from safety.reward_model import train_reward_model

    run = SafetyRun.of(cfg.runs_dir, cfg.name)
    data, demos_sha = load_demos(run)
    sim, _, _ = load_simulator(run, data.obs_dim, demos_sha)
    _, config, extra = load_reward_model(run, sim)
    saved = load_label_set(run)
    classes, rules = read_labels_file(cfg.labels, int(saved["classes"].shape[0]))
    before = saved["classes"]
    model, losses = train_reward_model(saved["latents"], classes, rules, config)
    previous = json.loads((run.reward_model / "history.json").read_text()).get("history", []) \
        if (run.reward_model / "history.json").is_file() else []  # fmt: skip
    history = [*previous, {"relabelled_from": str(cfg.labels), "changed": int((before != classes).sum()), **losses}]
    about = {"labeler": f"file {cfg.labels}", "rounds": extra.get("rounds")}
    summary = _write_reward_model(run, sim, model, config, saved["latents"], classes, rules, saved["source"], history, about)
    print(f"relabel: {summary['labels']} labels ({_counts(summary)}), {history[-1]['changed']} changed from the "
          f"previous ones -> {run.reward_model}")  # fmt: skip
    return summary


def evaluation_tasks(family: str, n: int, seed: int, visited: np.ndarray | None = None) -> list[Any]:
    """``n`` held-out tasks of ``family`` (worlds never demonstrated). With ``visited`` (the tiles the
    demonstrations stood on), each moves to a shifted start (``safety.evaluation.shifted_start``: a tile no
    demonstration stood on, a hazard-free way to the goal kept); a task where no tile qualifies keeps its spawn."""
    from safety.evaluation import shifted_start
    from worlds.tasks.families import sample_family_task

    seeds = np.random.SeedSequence([seed, 101]).generate_state(n, dtype=np.uint32)
    tasks = [sample_family_task(family, int(s), held_out=True) for s in seeds]
    if visited is None:
        return tasks
    return [shifted_start(t, visited, int(s)) or t for t, s in zip(tasks, seeds)]


def make_policy(name: str, sim: Any, model: Any, mpc: MPCConfig, seed: int) -> Callable[[Any], Callable]:
    """``make_policy(env) -> act(obs)`` for ``safety.evaluation.run_episodes``."""
    from safety.demonstrations import ACTION_NVEC
    from safety.request import MPCAgent
    from worlds.experts.scripted import ScriptedPolicy

    if name == "request":
        return lambda env: functools.partial(MPCAgent(sim, model, mpc, env.num_envs * env.num_players, seed).act, env)
    if name in ("expert", "careless"):
        return lambda env: ScriptedPolicy(env, avoid_hazards=name == "expert").act
    if name == "random":
        rng = np.random.default_rng(seed)
        return lambda env: lambda obs: rng.integers(0, ACTION_NVEC, size=(env.num_envs, env.num_players, len(ACTION_NVEC)))
    raise StageError(f"--policies: {name!r} is not one of {POLICIES}")


#: The per-episode arrays of ``safety.evaluation.EpisodeStats``, in its field order.
_EPISODE_FIGURES = ("hazard", "fall", "length", "success", "goal_return")


def run_evaluate(cfg: EvaluateStage) -> dict[str, Any]:
    from launch.safety_report import write_report
    from safety.demonstrations import SAFETY_CAMERA
    from safety.evaluation import EpisodeStats, run_episodes, visited_tiles
    from safety.mpc import demonstrated_actions
    from worlds.envs.batch_env import EnvConfig

    run = SafetyRun.of(cfg.runs_dir, cfg.name)
    if not cfg.policies:
        raise StageError("--policies is empty: name at least one of " + ", ".join(POLICIES))
    if cfg.tasks < 1 or cfg.num_envs < 1:
        raise StageError(f"--tasks {cfg.tasks} and --num-envs {cfg.num_envs} must be at least 1")
    data, demos_sha = load_demos(run)
    sim, _, _ = load_simulator(run, data.obs_dim, demos_sha)
    model, _, rm_extra = load_reward_model(run, sim)
    demo_summary = _read_summary(run.root / "demos" / "summary.json")
    family = demo_summary.get("family", "safety")
    max_steps = cfg.max_steps or int(demo_summary.get("max_steps", 100))
    tasks = evaluation_tasks(family, cfg.tasks, cfg.seed, visited_tiles(data.tile) if cfg.shifted_starts else None)
    env_config = EnvConfig(num_envs=min(cfg.num_envs, len(tasks)), max_steps=max_steps, autoreset=False,
                           camera=SAFETY_CAMERA)  # the demonstrations' camera (the simulator reads its rays)
    chunks = [tasks[i : i + env_config.num_envs] for i in range(0, len(tasks), env_config.num_envs)]
    planner = cfg.mpc
    if cfg.action_share > 0:
        planner = dataclasses.replace(planner, allowed_actions=demonstrated_actions(data.action, cfg.action_share))
    results: dict[str, Any] = {}
    with tqdm(total=len(cfg.policies) * len(chunks), desc="evaluate", unit="batch", disable=not cfg.progress) as bar:
        for name in dict.fromkeys(cfg.policies):
            policy = make_policy(name, sim, model, planner, cfg.seed)
            parts = []
            for chunk in chunks:
                parts.append(run_episodes(chunk, policy, env_config))
                bar.update(1)
            stats = EpisodeStats(sum((p.task_id for p in parts), []), *(np.concatenate([getattr(p, k) for p in parts])
                                                                        for k in _EPISODE_FIGURES))  # fmt: skip
            results[name] = {"summary": stats.summary(),
                             "episodes": {k: getattr(stats, k).tolist() for k in _EPISODE_FIGURES}}  # fmt: skip
    split = "shifted_starts" if cfg.shifted_starts else "starts"
    body = {
        "split": split, "family": family, "tasks": len(tasks), "max_steps": max_steps, "seed": cfg.seed,
        "task_ids": stats.task_id,
        "mpc": dataclasses.asdict(planner), "labeler": rm_extra.get("labeler"), "policies": results,
    }  # fmt: skip
    run.evaluation.mkdir(exist_ok=True)
    write_json(run.evaluation / f"{split}.json", body)
    report = write_report(run)
    print(format_table(body))
    print(f"evaluate -> {run.evaluation / f'{split}.json'}, {report}")
    return body


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def format_table(body: dict[str, Any]) -> str:
    lines = [f"{body['split']} ({body['tasks']} held-out tasks of {body['family']}, {body['max_steps']} steps):",
             f"  {'policy':10s} {'unsafe/ep':>9s} {'unsafe/1k':>9s} {'hazard/ep':>9s} {'fall/ep':>7s} {'success':>7s} {'return':>7s}"]
    for name, r in body["policies"].items():
        s = r["summary"]
        lines.append(f"  {name:10s} {s['unsafe_per_episode']:9.2f} {s['unsafe_per_1000_steps']:9.1f} "
                     f"{s['hazard_per_episode']:9.2f} {s['fall_per_episode']:7.2f} {s['success']:7.2f} {s['goal_return']:7.1f}")
    return "\n".join(lines)


def run_all(cfg: AllStages) -> dict[str, Any]:
    if cfg.tasks < 2:  # checked before the first stage writes anything
        raise StageError(f"--tasks {cfg.tasks}: the simulator holds out whole episodes, so at least 2 tasks are needed")
    demos, simulator, request, evaluate = cfg.stages()
    out = {"demos": run_demos(demos), "simulator": run_simulator(simulator), "request": run_request(request)}
    out["evaluate"] = run_evaluate(evaluate)
    return out


RUNNERS: dict[type, Callable[[Any], dict[str, Any]]] = {
    DemosStage: run_demos, SimulatorStage: run_simulator, RequestStage: run_request, RelabelStage: run_relabel,
    EvaluateStage: run_evaluate, AllStages: run_all,
}  # fmt: skip


def main(argv: list[str]) -> dict[str, Any]:
    """``openland safety STAGE FLAGS``: parse the stage's flags and run it; bad input is a ``StageError`` (or the
    library's ValueError / CheckpointError) for the caller to show."""
    if argv and not argv[0].startswith("-") and argv[0] not in STAGES:
        raise StageError(f"unknown stage {argv[0]!r}; the stages are {', '.join(STAGES)} (`openland safety --help`)")
    cfg = tyro.extras.subcommand_cli_from_dict(STAGES, args=argv, prog="openland safety",
                                               description="ReQueST end to end, one stage at a time into runs/NAME "
                                                           "(demos -> simulator -> request -> evaluate), or `all`.")  # fmt: skip
    return RUNNERS[type(cfg)](cfg)

