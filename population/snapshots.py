"""Frozen snapshots of members, as the league's co-players: real copies on disk, one directory each.

A snapshot is written by the member's learner into ``runs/<name>/snapshots/<snapshot name>/`` (its own
checkpoint directory, never the member's rolling one, which keeps only the newest saves), so a snapshot stays
what it was when it was taken, and survives ``--resume``. In memory the driver keeps an object-store reference
per snapshot; after a resume a snapshot is read back from its copy the first time a rollout needs it.

Directories of snapshots the league has dropped are deleted only after a ``state.json`` that no longer names
them is on disk, so a resumed run always finds every snapshot its ``state.json`` names.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import ray

from population.league import League, Snapshot


class SnapshotStore:
    """The snapshots of one run: where their copies live, and their object-store references."""

    def __init__(self, run_dir: Path):
        self.directory = run_dir / "snapshots"
        self._refs: dict[str, Any] = {}

    def path(self, name: str) -> Path:
        return self.directory / name

    def take(self, learner: Any, member: int, iteration: int) -> Snapshot:
        """Copy ``member``'s current state to disk (waiting until it is there) and keep its reference."""
        name = f"member{member}@{iteration}"
        path = self.path(name)
        ray.get(learner.save_snapshot.remote(str(path), iteration))  # replaces a copy left by a run killed before
        self._refs[name] = learner.get_state.remote()
        return Snapshot(name, member, iteration, str(path))

    def in_memory(self, name: str) -> bool:
        """Whether this driver holds the snapshot's reference (else ``ref`` reads its copy)."""
        return name in self._refs

    def ref(self, snapshot: Snapshot, loader: Any) -> Any:
        """Object-store reference of the snapshot's state; read from its copy (by ``loader``, a learner actor
        with the same network) when this driver has not taken it itself, i.e. after a resume."""
        ref = self._refs.get(snapshot.name)
        if ref is None:
            if not Path(snapshot.path).is_dir():
                raise FileNotFoundError(f"snapshot {snapshot.name!r}: its copy {snapshot.path} is missing")
            ref = self._refs[snapshot.name] = loader.load_snapshot.remote(snapshot.path)
        return ref

    def prune(self, league: League) -> None:
        """Forget and delete the snapshots the league no longer holds (call after ``state.json`` is written)."""
        keep = {s.name for s in league.snapshots}
        for name in [n for n in self._refs if n not in keep]:
            del self._refs[name]
        if self.directory.is_dir():
            for path in self.directory.iterdir():
                if path.name not in keep:
                    shutil.rmtree(path, ignore_errors=True)
