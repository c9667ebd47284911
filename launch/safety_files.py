"""The run directory of ``openland safety``: where each ReQueST stage writes, and how the next one reads it back.

::

    runs/<name>/
      demos/          demos.npz (safety.demonstrations.save), summary.json
      simulator/      checkpoints/ (orbax, safety.checkpoints), history.json (held-out error per step), summary.json
      reward_model/   checkpoints/ (orbax), labels.npz (labelled latents), labels.json (the queries' labels, editable
                      for ``openland safety relabel``), history.json (labels per class per round), summary.json
      evaluation/     starts.json / shifted_starts.json (unsafe events and success per policy), safety.html

Why the care: a stage reads what the stage before it wrote, so

- a stage that is missing is named with the command that makes it;
- a stage's directory is written beside the old one and swapped in only once complete (``replacing``): a command
  that fails changes nothing already in the run directory, and a rerun never mixes old and new checkpoints;
- each stage records what it was made from (the demonstrations' SHA-256, the simulator's parameter digest), so a
  reward model trained on another simulator than the one now on disk is refused, not silently misused (the
  latent space it classifies would be another one).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import jax
import numpy as np

from agents.checkpoint import Checkpointer
from safety import checkpoints as ck
from safety import demonstrations as demos
from safety.reward_model import RewardModel, RewardModelConfig
from safety.simulator import SimConfig, SimState


class StageError(ValueError):
    """Bad input to a stage: a missing or stale earlier stage, a bad labels file, a bad name. The CLI shows the
    message and exits."""


@dataclass(frozen=True)
class SafetyRun:
    """Paths of one run directory ``runs_dir/name``."""

    root: Path

    @classmethod
    def of(cls, runs_dir: Path, name: str) -> "SafetyRun":
        if not name or name in (".", "..") or "/" in name or os.sep in name:
            raise StageError(f"--name {name!r} must be a plain directory name (no '/', not '.' or '..')")
        return cls(Path(runs_dir) / name)

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def demos(self) -> Path:
        return self.root / "demos" / "demos.npz"

    @property
    def simulator(self) -> Path:
        return self.root / "simulator"

    @property
    def reward_model(self) -> Path:
        return self.root / "reward_model"

    @property
    def evaluation(self) -> Path:
        return self.root / "evaluation"

    def command(self, stage: str) -> str:
        runs_dir = self.root.parent
        where = "" if runs_dir == Path("runs") else f" --runs-dir {runs_dir}"
        return f"`openland safety {stage} --name {self.name}{where}`"


# ------------------------------------------------------------------------------------------------ writing
@contextlib.contextmanager
def replacing(final: Path) -> Iterator[Path]:
    """Yield a fresh directory beside ``final``; on success it replaces ``final`` whole, on failure it is removed
    and ``final`` is left as it was."""
    tmp = final.with_name(f".{final.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, body: Any) -> Path:
    """Write JSON atomically (beside, then renamed over): a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body, indent=1))
    os.replace(tmp, path)
    return path


def read_json(path: Path, made_by: str) -> Any:
    if not path.is_file():
        raise StageError(f"{path} does not exist; it is written by {made_by}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise StageError(f"{path} is not valid JSON ({err}); rerun {made_by}") from err


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def params_digest(tree: Any) -> str:
    """SHA-256 over a parameter pytree's leaves (dtype, shape, bytes): what identifies a trained model."""
    h = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(tree):
        arr = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ reading
def load_demos(run: SafetyRun) -> tuple[demos.Demonstrations, str]:
    """(the run's demonstrations, their file's SHA-256). A run without them names the command that makes them;
    an empty or corrupted file is ``demonstrations.load``'s ValueError, naming the file."""
    if not run.root.is_dir():
        raise StageError(f"run directory {run.root} does not exist; start it with {run.command('demos')}")
    if not run.demos.exists():
        raise StageError(f"{run.root} has no demonstrations ({run.demos} is missing); make them with {run.command('demos')}")
    return demos.load(run.demos), file_sha256(run.demos)


def _saved_config(directory: Path, kind: str, run: SafetyRun, stage: str) -> dict[str, Any]:
    if not directory.is_dir():
        raise StageError(f"{run.root} has no {kind} ({directory} is missing); make it with {run.command(stage)}")
    with Checkpointer(directory, create=False) as ckpt:
        return ckpt.saved_config()


def _config_from(cls: type, saved: dict[str, Any]) -> Any:
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in saved:
            v = saved[f.name]
            values[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**values)


def load_simulator(run: SafetyRun, obs_dim: int, demos_sha256: str) -> tuple[SimState, SimConfig, dict[str, Any]]:
    """(the simulator, its config, the saved extra) restored from the run. Refused, naming the command to rerun,
    when it was trained on other demonstrations than those now in the run; a checkpoint of another observation
    width is ``CheckpointMismatchError``."""
    directory = run.simulator / "checkpoints"
    config = _config_from(SimConfig, _saved_config(directory, "simulator", run, "simulator"))
    state, extra = ck.restore_simulator(directory, obs_dim, config)
    if extra.get("demos_sha256") != demos_sha256:
        raise StageError(f"{run.simulator} was trained on other demonstrations than {run.demos} holds now; "
                         f"retrain it with {run.command('simulator')}")  # fmt: skip
    return state, config, extra


def load_reward_model(run: SafetyRun, sim: SimState) -> tuple[RewardModel, RewardModelConfig, dict[str, Any]]:
    """(the reward/cost ensemble, its config, the saved extra). Its latent width must be the simulator's
    (``CheckpointMismatchError`` names ``latent_dim`` otherwise), and it must have been trained on this very
    simulator (refused, naming the command to rerun)."""
    directory = run.reward_model / "checkpoints"
    config = _config_from(RewardModelConfig, _saved_config(directory, "reward model", run, "request"))
    latent_dim = sim.latent_width
    model, extra = ck.restore_reward_model(directory, latent_dim, config)
    if extra.get("simulator_digest") != params_digest(sim.params):
        raise StageError(f"{run.reward_model} was trained on another simulator than {run.simulator} holds now; "
                         f"rerun {run.command('request')}")  # fmt: skip
    return model, config, extra


def load_label_set(run: SafetyRun) -> dict[str, np.ndarray]:
    """The labelled latents of the run's queries (``reward_model/labels.npz``)."""
    path = run.reward_model / "labels.npz"
    if not path.is_file():
        raise StageError(f"{run.root} has no labelled queries ({path} is missing); make them with {run.command('request')}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError) as err:
        raise StageError(f"{path} is corrupted ({err}); rerun {run.command('request')}") from err


def read_labels_file(path: Path, expected: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(class indices [N], rule flags [N, 2] or None) from a labels file a person wrote or edited: a JSON list of
    labels, or an object with ``labels`` and optionally ``rules`` (the layout of ``reward_model/labels.json``).
    Labels are class names (``unsafe``, ``neutral``, ``good``) or their indices; the error names the position and
    value of a label outside the three classes, and a count that is not the number of queried transitions."""
    from safety.labelers import check_labels, check_rules

    if not path.is_file():
        raise StageError(f"labels file {path} does not exist")
    try:
        body = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise StageError(f"labels file {path} is not valid JSON ({err})") from err
    if isinstance(body, dict):
        if "labels" not in body:
            raise StageError(f"labels file {path}: an object needs a 'labels' list (keys found: {sorted(body)})")
        labels, rules = body["labels"], body.get("rules")
    else:
        labels, rules = body, None
    if not isinstance(labels, list):
        raise StageError(f"labels file {path}: 'labels' must be a list, got {type(labels).__name__}")
    if len(labels) != expected:
        raise StageError(f"labels file {path} has {len(labels)} labels; the run's queries have {expected} transitions "
                         f"(one label each, in the order of reward_model/labels.json)")  # fmt: skip
    classes = check_labels(labels, f"labels file {path}: labels")
    if rules is None:
        return classes, None
    try:
        flags = np.asarray(rules, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise StageError(f"labels file {path}: 'rules' must be a [{expected}, 2] list of 0/1 flags ({err})") from err
    return classes, check_rules(flags, classes, f"labels file {path}: rules")
