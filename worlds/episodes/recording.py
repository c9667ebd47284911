"""Episode recording: one compressed ``.npz`` file per episode, small enough to keep thousands.

A recording holds the task JSON (world + game), the seed and the environment config it ran under, and per-step
arrays: body poses (players: position and yaw; objects: position and quaternion), actions, rewards, predicate
truth and unsafe flags. Poses are stored as float32 (enough for the viewer; well under 1 MB for a 4-player
episode of 900 steps); replaying the recorded actions from the same task and seed reproduces the episode bit
for bit, which ``tests/test_recording.py`` checks against the float64 simulator state.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Per-step arrays every recording has, with their dtype.
STEP_ARRAYS: dict[str, Any] = {
    "player_pos": np.float32,  # [T, P, 3]
    "player_yaw": np.float32,  # [T, P]
    "object_pos": np.float32,  # [T, O, 3]
    "object_quat": np.float32,  # [T, O, 4]
    "actions": np.float32,  # [T, P, A]
    "rewards": np.float32,  # [T, P]
    "truth": np.bool_,  # [T, P, options, predicates]
    "unsafe": np.bool_,  # [T, P]
    "held": np.int8,  # [T, P]
}


class RecordingError(ValueError):
    """A recording file that is missing, truncated or inconsistent; the message names the file and the field."""


@dataclass
class Episode:
    """A recorded episode: the task, how it was run, and its per-step arrays (time on axis 0)."""

    task_json: str
    seed: int
    env_config: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_steps(self) -> int:
        return int(self.arrays["rewards"].shape[0]) if self.arrays else 0

    @property
    def returns(self) -> np.ndarray:
        """Per-player undiscounted return."""
        return self.arrays["rewards"].sum(axis=0)


class EpisodeRecorder:
    """Accumulates the steps of one env of a batch; ``finish`` turns them into an Episode."""

    def __init__(self, task_json: str, seed: int, env_config: dict[str, Any]):
        self.task_json = task_json
        self.seed = seed
        self.env_config = env_config
        self._steps: dict[str, list[np.ndarray]] = {name: [] for name in STEP_ARRAYS}

    def add(self, **step: np.ndarray) -> None:
        """Add one step; every name of STEP_ARRAYS must be given exactly once."""
        missing = set(STEP_ARRAYS) - set(step)
        unknown = set(step) - set(STEP_ARRAYS)
        if missing or unknown:
            raise ValueError(f"recording step: missing {sorted(missing)}, unknown {sorted(unknown)}")
        for name, value in step.items():
            self._steps[name].append(np.asarray(value, dtype=STEP_ARRAYS[name]))

    def __len__(self) -> int:
        return len(self._steps["rewards"])

    def finish(self) -> Episode:
        arrays = {name: np.stack(values) for name, values in self._steps.items() if values}
        return Episode(self.task_json, self.seed, dict(self.env_config), arrays)


def save_episode(episode: Episode, path: str | Path) -> Path:
    """Write the episode atomically (temporary file, then rename), so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"task": json.loads(episode.task_json), "seed": episode.seed, "env_config": episode.env_config})
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=np.frombuffer(meta.encode("utf-8"), dtype=np.uint8), **episode.arrays)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)
    return path


def load_episode(path: str | Path) -> Episode:
    """Read a recording, checking that every per-step array is there and has the same length."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"{path}: no such recording")
    try:
        with np.load(path, allow_pickle=False) as archive:
            contents = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise RecordingError(f"{path}: not a readable recording ({err})") from None
    if "meta" not in contents:
        raise RecordingError(f"{path}: field 'meta' is missing")
    try:
        meta = json.loads(contents.pop("meta").tobytes().decode("utf-8"))
        task_json = json.dumps(meta["task"], sort_keys=True, separators=(",", ":"))
        seed, env_config = int(meta["seed"]), dict(meta["env_config"])
    except (ValueError, KeyError, TypeError) as err:
        raise RecordingError(f"{path}: field 'meta' is malformed ({err})") from None
    lengths = {}
    for name in STEP_ARRAYS:
        if name not in contents:
            raise RecordingError(f"{path}: field {name!r} is missing")
        lengths[name] = contents[name].shape[0]
    if len(set(lengths.values())) != 1:
        raise RecordingError(f"{path}: per-step arrays differ in length: {lengths}")
    return Episode(task_json, seed, env_config, contents)
