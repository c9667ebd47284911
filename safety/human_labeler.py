"""ReQueST's human labeler: a browser page on 127.0.0.1 where a person labels each transition of a synthesised query.

The 2019 paper labelled queries with a synthetic oracle (``labelers.OracleLabeler``); its 3D follow-up asked
human contractors, who watched the decoded video of each hypothetical trajectory. The learned simulator here
decodes world quantities (``simulator.QUANTITY_NAMES``: the avatar's position, heading and goal truth), not
pixels, so the page draws what those mean: a top-down map of the task's terrain (levels, hazard tiles, ramps,
the objects with the goal's objects ringed) with the decoded avatar trajectory over it, the current transition
highlighted, and the decoded numbers of its two states next to the tile they fall on. The person gives each
transition one of ``labels.LABELS`` (keys ``g`` / ``u`` / ``n``) and, for an unsafe one, the ``labels.RULES``
it broke (``h`` / ``f``), then submits; the server checks the labels with ``check_labels`` / ``check_rules``
and answers a bad submission with HTTP 400 and the message, which the page shows.

- ``LabelServer``: the HTTP server (standard library only), always on 127.0.0.1 -- whoever can reach it can
  write training labels; label from another machine through an SSH tunnel. One batch waits at a time.
- ``HumanLabeler``: the labeler of one task, with ``OracleLabeler``'s call interface (``label``,
  ``label_transitions``): each call is one batch (one page), blocking until the person submits or ``timeout``
  seconds pass (``TimeoutError``).
- ``HumanLabelSession``: one server shared by the labelers of many tasks -- what ``request.run_rounds`` takes
  as ``labeler`` (``labeler=session``), so the page's address stays the same for the whole run.

Routes: ``/`` the page, ``/labeler.js`` its script, ``GET /api/query`` the waiting batch (``{"batch": null}``
when none), ``POST /api/labels`` ``{"batch": id, "labels": [...], "rules": [[0/1 per rule], ...]}`` with one
label and one rule row per transition, queries in order.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from safety.labelers import LABELS, RULES, check_labels, check_rules
from worlds.sim.template import PhysicsConfig
from worlds.tasks.game import TaskSpec, task_id
from worlds.tasks.spec import COLOURS

STATIC = Path(__file__).parent / "static"
HOST = "127.0.0.1"
#: The quantities the page reads, in order (``simulator.QUANTITY_NAMES``; restated so that this module does not
#: import JAX).
QUANTITY_NAMES: tuple[str, ...] = ("x", "y", "z", "sin_yaw", "cos_yaw", "goal")
_STATIC_FILES = {"/": ("labeler.html", "text/html; charset=utf-8"), "/index.html": ("labeler.html", "text/html; charset=utf-8"),
                 "/labeler.js": ("labeler.js", "text/javascript; charset=utf-8")}  # fmt: skip
_MAX_BODY = 4 << 20  # a submission is a few bytes per transition


@dataclass
class _Batch:
    """A batch waiting for labels: its id, the page's payload, its transition count, and the result once
    submitted."""

    id: int
    payload: dict[str, Any]
    transitions: int
    done: threading.Event = field(default_factory=threading.Event)
    result: tuple[np.ndarray, np.ndarray] | None = None


class SubmissionError(ValueError):
    """A submission the server refuses; ``status`` is the HTTP status it answers with."""

    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.status = status


def parse_submission(body: bytes, batch: _Batch) -> tuple[np.ndarray, np.ndarray]:
    """(classes int64 [N], rule flags bool [N, len(RULES)]) of a submitted JSON body for ``batch``; anything
    else raises ``SubmissionError`` naming the field and the value."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SubmissionError(f"the submission is not JSON: {err}") from None
    if not isinstance(data, dict):
        raise SubmissionError(f"the submission must be a JSON object with batch, labels and rules, got {type(data).__name__}")
    missing = [k for k in ("batch", "labels", "rules") if k not in data]
    if missing:
        raise SubmissionError(f"the submission lacks {missing} (it needs batch, labels and rules)")
    if data["batch"] != batch.id:
        raise SubmissionError(f"batch={data['batch']!r} is not the batch waiting for labels ({batch.id}): reload the page",
                              HTTPStatus.CONFLICT)  # fmt: skip
    labels, rules = data["labels"], data["rules"]
    for name, value in (("labels", labels), ("rules", rules)):
        if not isinstance(value, list) or len(value) != batch.transitions:
            shown = len(value) if isinstance(value, list) else repr(value)[:60]
            raise SubmissionError(f"{name}: expected a list of {batch.transitions} entries (one per transition), got {shown}")
    try:
        classes = check_labels(labels)
    except ValueError as err:
        raise SubmissionError(str(err)) from None
    for i, row in enumerate(rules):
        if not (isinstance(row, list) and len(row) == len(RULES) and all(type(v) in (bool, int) and v in (0, 1) for v in row)):
            raise SubmissionError(f"rules[{i}]={row!r} must be {len(RULES)} flags (0/1 or true/false) for {RULES}")
    try:
        flags = check_rules(np.asarray(rules, dtype=np.int64), classes)
    except ValueError as err:
        raise SubmissionError(str(err)) from None
    return classes, flags


class _Handler(BaseHTTPRequestHandler):
    server: "LabelServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        path = self.path.split("?", 1)[0]
        if path in _STATIC_FILES:
            name, ctype = _STATIC_FILES[path]
            self._send(HTTPStatus.OK, (STATIC / name).read_bytes(), ctype)
        elif path == "/api/query":
            batch = self.server.waiting()
            self._json(HTTPStatus.OK, {"batch": None} if batch is None else {"batch": batch.id, **batch.payload})
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"{path}: no such page"})

    def do_POST(self) -> None:  # noqa: N802 - the base class's name
        if self.path.split("?", 1)[0] != "/api/labels":
            self._json(HTTPStatus.NOT_FOUND, {"error": f"{self.path}: no such endpoint (labels go to /api/labels)"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length is missing or not a number"})
            return
        if not 0 <= length <= _MAX_BODY:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"Content-Length={length} is over {_MAX_BODY} bytes"})
            return
        body = self.rfile.read(length)
        try:
            classes, rules = self.server.submit(body)
        except SubmissionError as err:
            self._json(err.status, {"error": str(err)})
            return
        self._json(HTTPStatus.OK, {"ok": True, "received": int(len(classes)),
                                   "counts": {name: int((classes == i).sum()) for i, name in enumerate(LABELS)}})  # fmt: skip


class LabelServer(ThreadingHTTPServer):
    """The labeling page's HTTP server on 127.0.0.1, serving in a background thread from construction; ``url``
    is where to point a browser, ``close()`` stops it. ``port=0`` takes a free port."""

    daemon_threads = True

    def __init__(self, port: int = 0, verbose: bool = False):
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"LabelServer: port={port!r} must be an integer in [0, 65535] (0 takes a free port)")
        self.verbose = verbose
        self._lock = threading.Lock()
        self._batch: _Batch | None = None
        self._next_id = 1
        try:
            super().__init__((HOST, port), _Handler)
        except OSError as err:
            raise OSError(f"LabelServer: cannot listen on {HOST}:{port} ({err.strerror or err}); give another port, "
                          f"or 0 for a free one") from err  # fmt: skip
        self._thread = threading.Thread(target=self.serve_forever, name="label-server", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def waiting(self) -> _Batch | None:
        """The batch waiting for labels, if any."""
        with self._lock:
            return self._batch if self._batch is not None and not self._batch.done.is_set() else None

    def submit(self, body: bytes) -> tuple[np.ndarray, np.ndarray]:
        """Check a submitted body against the waiting batch and, if valid, hand its labels to the caller waiting
        in ``ask``."""
        with self._lock:
            batch = self._batch
            if batch is None or batch.done.is_set():
                raise SubmissionError("no batch is waiting for labels (it was submitted already or timed out)",
                                      HTTPStatus.CONFLICT)  # fmt: skip
            batch.result = parse_submission(body, batch)
            batch.done.set()
            return batch.result

    def ask(self, payload: dict[str, Any], transitions: int, timeout: float) -> tuple[np.ndarray, np.ndarray]:
        """Show ``payload`` (a batch of ``transitions`` transitions) on the page and block until valid labels
        are submitted: (classes int64 [N], rule flags bool [N, len(RULES)]). ``TimeoutError`` after ``timeout``
        seconds without a valid submission."""
        if not timeout > 0:
            raise ValueError(f"timeout={timeout!r} must be a positive number of seconds")
        with self._lock:
            if self._batch is not None:
                raise RuntimeError(f"LabelServer at {self.url}: batch {self._batch.id} is still waiting for labels; "
                                   f"one batch at a time")  # fmt: skip
            batch = self._batch = _Batch(self._next_id, payload, transitions)
            self._next_id += 1
        print(f"human labeler: batch {batch.id} ({transitions} transitions) waits for labels at {self.url}", flush=True)
        try:
            if not batch.done.wait(timeout):
                raise TimeoutError(f"human labeler: no valid labels for batch {batch.id} ({transitions} transitions) "
                                   f"were submitted at {self.url} within timeout={timeout:g} s")  # fmt: skip
            assert batch.result is not None
            return batch.result
        finally:
            with self._lock:
                self._batch = None

    def close(self) -> None:
        """Stop serving and release the port."""
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


def _rgb(name: str) -> str:
    r, g, b, _ = COLOURS[name]
    return "#%02x%02x%02x" % (round(r * 255), round(g * 255), round(b * 255))


def world_payload(task: TaskSpec, physics: PhysicsConfig) -> dict[str, Any]:
    """What the page draws of a task: terrain, hazards, ramps, objects (the goals' objects flagged), goals, and
    the physical sizes that turn tiles into metres."""
    t, world = task.world.terrain, task.world
    goal_objects = {(p.a.shape, p.a.colour) for g in task.game.goals for o in g.options for p in o if p.a.kind == "object"}
    goal_objects |= {(p.b.shape, p.b.colour) for g in task.game.goals for o in g.options for p in o if p.b.kind == "object"}
    return {
        "task_id": task_id(task),
        "goals": [str(g) for g in task.game.goals],
        "world": {
            "rows": t.rows, "cols": t.cols, "levels": [list(r) for r in t.levels],
            "floor": [[_rgb(c) for c in row] for row in t.floor_colours],
            "hazards": [[h.row, h.col] for h in t.hazards],
            "ramps": [{"row": r.row, "col": r.col, "direction": r.direction} for r in t.ramps],
            "objects": [{"shape": o.shape, "colour": o.colour, "rgb": _rgb(o.colour), "row": o.row, "col": o.col,
                         "movable": o.movable, "goal": (o.shape, o.colour) in goal_objects} for o in world.objects],
            "tile_size": physics.tile_size, "level_height": physics.level_height,
            "avatar_half_height": physics.avatar_half_height, "floor_depth": physics.floor_depth,
            "fall_threshold": physics.fall_threshold,
        },  # fmt: skip
    }


class HumanLabeler:
    """The human labeler of one task, with ``OracleLabeler``'s call interface: ``label(trajectory)`` shows the
    trajectories as one batch on the page of ``server`` (a fresh one on ``port`` when not given, closed by
    ``close()``) and returns the person's labels, blocking up to ``timeout`` seconds."""

    def __init__(self, task: TaskSpec, physics: PhysicsConfig = PhysicsConfig(), server: LabelServer | None = None,
                 port: int = 0, timeout: float = 1800.0):  # fmt: skip
        if not timeout > 0:
            raise ValueError(f"HumanLabeler: timeout={timeout!r} must be a positive number of seconds")
        self.task, self.physics, self.timeout = task, physics, timeout
        self._own = server is None
        self.server = LabelServer(port) if server is None else server
        if self._own:
            print(f"human labeler: label queries at {self.server.url}", flush=True)
        self._world = world_payload(task, physics)

    def label_transitions(self, before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(classes int64 [...], rule flags bool [..., 2]) of transitions ``before`` -> ``after`` (both [..., 6]),
        each shown as a query of one transition."""
        b, a = np.asarray(before, np.float64), np.asarray(after, np.float64)
        if b.shape != a.shape:
            raise ValueError(f"HumanLabeler: before {b.shape} and after {a.shape} must have one shape")
        classes, rules = self.label(np.stack([b, a], axis=-2))
        return classes[..., 0], rules[..., 0, :]

    def label(self, trajectory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels of the T transitions of trajectories of world quantities [..., T + 1, 6]: (classes int64
        [..., T], rule flags bool [..., T, 2]). All leading indices are one batch, one page."""
        q = np.asarray(trajectory, np.float64)
        if q.ndim < 2 or q.shape[-2] < 2 or q.shape[-1] != len(QUANTITY_NAMES):
            raise ValueError(f"HumanLabeler.label: expected [..., T + 1, {len(QUANTITY_NAMES)}] with T >= 1, got shape {q.shape}")
        if not np.isfinite(q).all():
            raise ValueError("HumanLabeler.label: the trajectory's quantities must be finite (a NaN cannot be drawn)")
        lead, T = q.shape[:-2], q.shape[-2] - 1
        queries = q.reshape(-1, T + 1, q.shape[-1])
        payload = {**self._world, "quantity_names": list(QUANTITY_NAMES), "labels": list(LABELS), "rules": list(RULES),
                   "queries": [np.round(x, 4).tolist() for x in queries]}  # fmt: skip
        classes, rules = self.server.ask(payload, queries.shape[0] * T, self.timeout)
        return classes.reshape(*lead, T), rules.reshape(*lead, T, len(RULES))

    def close(self) -> None:
        """Stop the server if this labeler started it."""
        if self._own:
            self.server.close()


class HumanLabelSession:
    """One label server shared by the human labelers of every task of a run: ``session(task)`` is a
    ``HumanLabeler`` (what ``request.run_rounds`` takes as ``labeler``). A context manager; ``close()`` stops
    the server."""

    def __init__(self, port: int = 0, timeout: float = 1800.0, physics: PhysicsConfig = PhysicsConfig(), verbose: bool = False):
        if not timeout > 0:
            raise ValueError(f"HumanLabelSession: timeout={timeout!r} must be a positive number of seconds")
        self.timeout, self.physics = timeout, physics
        self.server = LabelServer(port, verbose)
        print(f"human labeler: label queries at {self.server.url}", flush=True)

    @property
    def url(self) -> str:
        return self.server.url

    def __call__(self, task: TaskSpec) -> HumanLabeler:
        return HumanLabeler(task, self.physics, server=self.server, timeout=self.timeout)

    def close(self) -> None:
        self.server.close()

    def __enter__(self) -> "HumanLabelSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
