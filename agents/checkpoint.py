"""Orbax checkpoints of the full training state, with walk-back restore and mismatch refusal.

What is saved per step (one orbax ``Composite``):

* ``state`` — the array pytree (TrainState: params, optimiser state, normaliser stats, RNG key, counters; plus
  the runner's last observation / episode-start flags / core carry), ``StandardSave``;
* ``meta`` — JSON: format version, the config, each leaf's key path/shape/dtype, and a SHA-256 over all
  leaf bytes (orbax does not checksum values, so a garbled byte could otherwise restore silently);
* ``env`` — JSON: the VecEnv state (``get_state()``), so the environments resume exactly;
* ``extra`` — JSON: anything else the caller owns (curriculum state, league, ...).

Why: the reliability rules in ARCHITECTURE.md. A save is reported only after ``wait_until_finished()``; orbax writes
each step into a temporary directory and renames it when complete, so a crash mid-save leaves earlier steps
intact and the partial one invisible. Restore walks back from the newest step to the newest one that
restores and validates, logging each skipped step and why; a config or shape mismatch is a refusal (it is not
corruption — an older step would not match either), naming the field or key path and both values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Iterable

import jax
import numpy as np
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint directory is missing, or no step in it restores and validates."""


class CheckpointMismatchError(CheckpointError):
    """The checkpoint was written for a different config or network shape than the one restoring it."""


@dataclasses.dataclass
class Restored:
    """Result of :meth:`Checkpointer.restore`: the step used, the restored pieces, and the steps skipped."""

    step: int
    tree: Any
    config: dict[str, Any]
    env_state: Any
    extra: dict[str, Any]
    skipped: list[tuple[int, str]]


def _leaf_table(tree: Any) -> list[tuple[str, list[int], str]]:
    """(key path, shape, dtype) of every leaf, in flatten order."""
    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        arr = np.asarray(leaf)
        out.append((jax.tree_util.keystr(path), list(arr.shape), str(arr.dtype)))
    return out


def _digest(tree: Any) -> str:
    h = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(tree):
        arr = np.ascontiguousarray(np.asarray(leaf))
        h.update(str(arr.dtype).encode())
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _json_roundtrip(x: Any) -> Any:
    return json.loads(json.dumps(x))


def config_diff(saved: dict[str, Any], current: dict[str, Any], ignore: Iterable[str] = ()) -> list[str]:
    """Human-readable differences ``"field: checkpoint X, current Y"`` between two JSON configs."""
    ignore = set(ignore)
    saved, current = _json_roundtrip(saved), _json_roundtrip(current)
    diffs = []
    for k in sorted(set(saved) | set(current)):
        if k in ignore:
            continue
        a, b = saved.get(k, "<absent>"), current.get(k, "<absent>")
        if a != b:
            diffs.append(f"{k}: checkpoint {a!r}, current {b!r}")
    return diffs


class Checkpointer:
    """Saves and restores full training states under ``directory`` (one orbax CheckpointManager)."""

    def __init__(self, directory: str | Path, max_to_keep: int | None = 3, create: bool = True) -> None:
        self.directory = Path(directory).absolute()
        if not create and not self.directory.is_dir():
            raise CheckpointError(f"checkpoint directory {self.directory} does not exist")
        self._mngr = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=create),
            item_names=("state", "meta", "env", "extra"),
        )

    def close(self) -> None:
        """Finish pending writes and release the manager."""
        self._mngr.wait_until_finished()
        self._mngr.close()

    def __enter__(self) -> "Checkpointer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def steps(self) -> list[int]:
        """Completed steps on disk (orbax hides unfinished temporary directories), ascending."""
        self._mngr.reload()
        return sorted(self._mngr.all_steps())

    def saved_config(self, step: int | None = None) -> dict[str, Any]:
        """The config a step (default: the newest) was saved with: what a reader that did not train the run
        (an evaluation) builds its template from."""
        steps = self.steps()
        if not steps:
            raise CheckpointError(f"no completed checkpoint in {self.directory}")
        step = steps[-1] if step is None else step
        if step not in steps:
            raise CheckpointError(f"no checkpoint step {step} in {self.directory} (steps: {steps})")
        try:
            meta = self._mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except Exception as e:
            raise CheckpointError(f"{self.step_dir(step)}: metadata does not read ({type(e).__name__}: {e})") from e
        if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION or "config" not in meta:
            raise CheckpointError(f"{self.step_dir(step)}: unreadable or unknown-format metadata")
        return meta["config"]

    def step_dir(self, step: int) -> Path:
        """Directory of one step (for tooling and tests)."""
        return self.directory / str(step)

    def save(
        self,
        step: int,
        tree: Any,
        config: dict[str, Any],
        env_state: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """Save and *wait until it is on disk*; returns the step directory. JSON parts must be JSON-able."""
        meta = {
            "format_version": FORMAT_VERSION,
            "config": _json_roundtrip(config),
            "leaves": _leaf_table(tree),
            "sha256": _digest(tree),
        }
        self._mngr.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(tree),
                meta=ocp.args.JsonSave(meta),
                env=ocp.args.JsonSave({"env_state": env_state}),
                extra=ocp.args.JsonSave(extra or {}),
            ),
            force=True,
        )
        self._mngr.wait_until_finished()
        path = self.step_dir(step)
        if step not in self.steps():
            raise CheckpointError(f"save of step {step} to {path} did not complete")
        return path

    def restore(
        self,
        template: Any,
        config: dict[str, Any],
        step: int | None = None,
        allow_config_changes: Iterable[str] = (),
        batch_leaves: Iterable[str] = (),
    ) -> Restored:
        """Restore into the structure of ``template``, from ``step`` or walking back from the newest step.

        ``batch_leaves``: key-path prefixes (as ``jax.tree_util.keystr`` writes them, e.g. ``"['runner']"``) of
        leaves sized by the batch (envs) rather than by the network; their shape may differ from the
        checkpoint's, and they keep the template's values. With ``allow_config_changes=("num_envs",)`` this is
        how an evaluation restores a policy at another batch size (the network does not depend on it).

        Raises :class:`CheckpointMismatchError` (naming the field / key path and both values) when the
        checkpoint was written for another config or network shape, and :class:`CheckpointError` (naming the
        directory and each step's failure) when nothing restores.
        """
        if not self.directory.is_dir():
            raise CheckpointError(f"checkpoint directory {self.directory} does not exist")
        steps = [step] if step is not None else sorted(self.steps(), reverse=True)
        if not steps:
            raise CheckpointError(f"no completed checkpoint in {self.directory}")
        skipped: list[tuple[int, str]] = []
        for s in steps:
            try:
                restored = self._restore_step(s, template, config, allow_config_changes, tuple(batch_leaves))
            except CheckpointMismatchError:
                raise
            except Exception as e:  # corrupted or unreadable: walk back
                reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                log.warning("checkpoint step %d in %s does not restore (%s); trying an older step", s, self.directory, reason)
                skipped.append((s, reason))
                continue
            restored.skipped = skipped
            if skipped:
                log.warning(
                    "restored checkpoint step %d from %s after skipping steps %s", s, self.directory, [k for k, _ in skipped]
                )
            else:
                log.info("restored checkpoint step %d from %s", s, self.directory)
            return restored
        details = "; ".join(f"step {k}: {r}" for k, r in skipped)
        raise CheckpointError(f"no checkpoint in {self.directory} restores ({details})")

    def _restore_step(
        self, step: int, template: Any, config: dict[str, Any], allow: Iterable[str], batch_leaves: tuple[str, ...] = ()
    ) -> Restored:
        path = self.step_dir(step)
        meta = self._mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: unreadable or unknown-format metadata")
        diffs = config_diff(meta["config"], config, ignore=allow)
        if diffs:
            raise CheckpointMismatchError(f"checkpoint {path} was written for a different config: " + "; ".join(diffs))
        saved = {p: (tuple(s), d) for p, s, d in meta["leaves"]}
        want = {p: (tuple(s), d) for p, s, d in _leaf_table(template)}
        resized = {p for p in set(saved) & set(want) if p.startswith(batch_leaves) and saved[p] != want[p]} if batch_leaves else set()
        shape_diffs = [
            f"{p}: checkpoint {saved.get(p, '<absent>')}, current {want.get(p, '<absent>')}"
            for p in sorted(set(saved) | set(want))
            if saved.get(p) != want.get(p) and p not in resized
        ]
        if shape_diffs:
            raise CheckpointMismatchError(
                f"checkpoint {path} has a different state/network shape (shape, dtype): " + "; ".join(shape_diffs[:10])
                + (f"; ... {len(shape_diffs) - 10} more" if len(shape_diffs) > 10 else "")
            )
        def abstract_leaf(path: Any, leaf: Any) -> Any:
            key = jax.tree_util.keystr(path)
            if key in resized:  # restored at the saved shape, then replaced by the template's leaf
                return jax.ShapeDtypeStruct(tuple(saved[key][0]), np.dtype(saved[key][1]))
            return ocp.utils.to_shape_dtype_struct(leaf)

        abstract = jax.tree_util.tree_map_with_path(abstract_leaf, template)
        out = self._mngr.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract),
                env=ocp.args.JsonRestore(),
                extra=ocp.args.JsonRestore(),
            ),
        )
        tree = out["state"]
        if _digest(tree) != meta["sha256"]:
            raise ValueError(f"{path}: array contents do not match the checksum written at save time")
        if resized:
            tree = jax.tree_util.tree_map_with_path(
                lambda p, restored, mine: mine if jax.tree_util.keystr(p) in resized else restored, tree, template
            )
        return Restored(
            step=step,
            tree=tree,
            config=meta["config"],
            env_state=out["env"]["env_state"],
            extra=out["extra"],
            skipped=[],
        )


# ----------------------------------------------------------------------------------------------------------
# Trainer helpers: the whole training state in one call
# ----------------------------------------------------------------------------------------------------------
def save_trainer(ckpt: Checkpointer, trainer: Any, extra: dict[str, Any] | None = None) -> Path:
    """Save a :class:`agents.trainer.Trainer` (learner + runner + env state + ``extra``) at its update count.
    A trainer with a curriculum also saves the curriculum's state (``extra["curriculum"]``, JSON): statistics,
    replay buffer, draw clock and the running episodes' PLR score sums, so a resume draws the same tasks."""
    step = int(trainer.state.updates)
    curriculum = trainer.curriculum_state() if hasattr(trainer, "curriculum_state") else None
    if curriculum is not None:
        extra = dict(extra or {}, curriculum=curriculum)
    return ckpt.save(step, trainer.checkpoint_tree(), trainer.cfg.to_json(), trainer.env.get_state(), extra)


def restore_trainer(
    ckpt: Checkpointer, trainer: Any, step: int | None = None, allow_config_changes: Iterable[str] = ()
) -> Restored:
    """Restore a freshly built Trainer in place (state, runner, env, curriculum) so it continues as if never
    stopped. A trainer with a curriculum refuses a checkpoint without curriculum state, and the reverse."""
    restored = ckpt.restore(trainer.checkpoint_tree(), trainer.cfg.to_json(), step, allow_config_changes)
    has_curriculum = getattr(trainer, "feed", None) is not None
    if has_curriculum != ("curriculum" in restored.extra):
        raise CheckpointMismatchError(
            f"checkpoint {ckpt.step_dir(restored.step)} "
            + ("has no curriculum state but this run has a curriculum" if has_curriculum
               else "holds curriculum state but this run has no curriculum")
        )  # fmt: skip
    trainer.load_checkpoint_tree(restored.tree)
    if restored.env_state is not None:
        trainer.env.set_state(restored.env_state)
    if has_curriculum:
        trainer.load_curriculum_state(restored.extra["curriculum"])
    return restored
