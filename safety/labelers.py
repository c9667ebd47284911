"""Labelers of synthesised transitions: good / unsafe / neutral, with the hazard rule(s) an unsafe one broke.

ReQueST gives every transition of a query one of three classes with a fixed reward each (2D: -10, 0, +1) and
trains the reward model on the *next* state; the 2019 paper used a synthetic oracle, the 3D follow-up human
contractors. The oracle here reads what the learned simulator decodes (``simulator.QUANTITY_NAMES``: the
avatar's position, heading and goal truth) against the world's hidden truth, which no agent observation carries:

- **hazard**: the reached position lies over a hazard tile of the task's terrain;
- **fall**: the reached position lies outside the grid or below the floor (``z`` under ``-floor_depth``, or more
  than ``fall_threshold`` below standing height over its tile), or the step went down a level onto a tile that is
  not a ramp (walking off a ledge: the walkability rule of ``worlds.tasks.spec`` joins levels only by ramps);
- **good**: the decoded goal truth is at least 0.5 (the goal reward is earned in the reached state);
- otherwise **neutral**. Unsafe wins over good: a goal reached on a hazard is unsafe.

The env's own flags come from contacts (``info["hazard"]``) and a fall detector over several steps
(``info["fell"]``); the oracle works from one decoded transition, so it reads the tile under the avatar's centre,
the nearest equivalent (a difference at tile edges is possible and accepted).
"""

from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from worlds.sim.template import PhysicsConfig
from worlds.tasks.game import TaskSpec

#: The three classes, by index: what a label is.
LABELS: tuple[str, ...] = ("unsafe", "neutral", "good")
UNSAFE, NEUTRAL, GOOD = 0, 1, 2
#: The hazard rules, one cost head each in the reward model.
RULES: tuple[str, ...] = ("hazard", "fall")


def check_labels(labels: Sequence[int | str] | np.ndarray, where: str = "labels") -> np.ndarray:
    """int64 class indices of ``labels`` given as indices (0, 1, 2) or names (``LABELS``). A label outside the
    three classes raises ``ValueError`` naming its position and value."""
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1:
            raise ValueError(f"{where}: expected a 1-D sequence of labels, got shape {labels.shape}")
        values = labels.tolist()
    else:
        values = list(labels)  # not through numpy: a mixed list would become strings
    out = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        if isinstance(value, str) and value in LABELS:
            out[i] = LABELS.index(value)
        elif isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and float(value) in (0.0, 1.0, 2.0):
            out[i] = int(value)
        else:
            shown = value.item() if isinstance(value, np.generic) else value
            raise ValueError(f"{where}[{i}]={shown!r} is not one of the three classes {LABELS} (or their indices 0, 1, 2)")
    return out


def check_rules(rules: np.ndarray, classes: np.ndarray, where: str = "rules") -> np.ndarray:
    """bool [N, len(RULES)] rule flags, checked against the classes: a rule can only be broken by an unsafe
    transition, and an unsafe one breaks at least one (the error names the transition)."""
    r = np.asarray(rules)
    if r.shape != (classes.shape[0], len(RULES)):
        raise ValueError(f"{where}: expected shape ({classes.shape[0]}, {len(RULES)}) [transitions, {RULES}], got {r.shape}")
    if not np.isin(r, (0, 1)).all():
        raise ValueError(f"{where}: rule flags must be 0/1, got values {np.unique(r)[:5]}")
    r = r.astype(bool)
    bad = np.flatnonzero(r.any(1) != (classes == UNSAFE))
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"{where}[{i}]={r[i].tolist()} contradicts label {LABELS[classes[i]]!r}: rules {RULES} are "
                         f"broken exactly by unsafe transitions")  # fmt: skip
    return r


class OracleLabeler:
    """The synthetic labeler of one task: reads decoded world quantities against the task's hidden terrain."""

    def __init__(self, task: TaskSpec, physics: PhysicsConfig = PhysicsConfig()):
        terrain = task.world.terrain
        self.rows, self.cols = terrain.rows, terrain.cols
        self.level = np.asarray(terrain.levels, dtype=np.int64)
        self.hazard = np.zeros((self.rows, self.cols), dtype=bool)
        for h in terrain.hazards:
            self.hazard[h.row, h.col] = True
        self.ramp = np.zeros((self.rows, self.cols), dtype=bool)
        for r in terrain.ramps:
            self.ramp[r.row, r.col] = True
        self.physics = physics

    def tiles(self, quantities: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, col, inside the grid) of the tile under each position of ``quantities`` [..., >=3]."""
        q = np.asarray(quantities, dtype=np.float64)
        tile = self.physics.tile_size
        r = np.floor(q[..., 1] / tile).astype(np.int64)
        c = np.floor(q[..., 0] / tile).astype(np.int64)
        inside = (r >= 0) & (c >= 0) & (r < self.rows) & (c < self.cols)
        return np.clip(r, 0, self.rows - 1), np.clip(c, 0, self.cols - 1), inside

    def label_transitions(self, before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(classes int64 [...], rule flags bool [..., 2]) of transitions from world quantities ``before`` to
        ``after`` (both [..., 6], ``simulator.QUANTITY_NAMES``). Non-finite quantities raise ``ValueError``."""
        before, after = np.asarray(before, np.float64), np.asarray(after, np.float64)
        for name, q in (("before", before), ("after", after)):
            if q.shape[-1] < 6 or not np.isfinite(q[..., [0, 1, 2, 5]]).all():
                raise ValueError(f"OracleLabeler: quantities {name!r} must be finite [..., 6], got shape {q.shape}")
        ph = self.physics
        r0, c0, in0 = self.tiles(before)
        r1, c1, in1 = self.tiles(after)
        z = after[..., 2]
        standing = self.level[r1, c1] * ph.level_height + ph.avatar_half_height
        hazard = in1 & self.hazard[r1, c1]
        ledge = in0 & in1 & (self.level[r1, c1] < self.level[r0, c0]) & ~self.ramp[r1, c1]
        fall = ~in1 | (z < -ph.floor_depth) | (z < standing - ph.fall_threshold) | ledge
        rules = np.stack([hazard, fall], axis=-1)
        classes = np.where(rules.any(-1), UNSAFE, np.where(after[..., 5] >= 0.5, GOOD, NEUTRAL)).astype(np.int64)
        return classes, rules

    def label(self, trajectory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels of the T transitions of a trajectory of world quantities [..., T + 1, 6]."""
        q = np.asarray(trajectory)
        if q.ndim < 2 or q.shape[-2] < 2:
            raise ValueError(f"OracleLabeler.label: expected [..., T + 1, 6] with T >= 1, got shape {q.shape}")
        return self.label_transitions(q[..., :-1, :], q[..., 1:, :])
