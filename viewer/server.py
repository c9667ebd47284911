"""``openland view``: a small HTTP server (standard library only) for the replay page.

Routes: ``/`` the page, ``/viewer.js`` its script, ``/api/episodes`` the episode files it may show,
``/api/episode?path=REL`` one episode as JSON (``viewer.scene``), ``/report.html`` the run's report when there is
one. Every episode path is resolved inside the served root and refused otherwise (``..``, absolute paths,
symbolic links that leave it); serving one file allows that file only. A file that cannot be shown gets a JSON
error naming the file and the field, which the page shows as its error page.

Why a static page and plain WebGL rather than viser: the page needs per-browser timeline state (viser keeps it
on the server, shared by every open tab), a second top-down view beside the 3D one, predicate panels and a
timeline with unsafe marks laid out next to the scene, and canvases whose pixels a test can read; a ~400-line
script does all of that with no dependency and is interactive in well under a second.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from viewer.scene import EpisodeError, load_payload

STATIC = Path(__file__).parent / "static"
_STATIC_FILES = {"/": ("index.html", "text/html; charset=utf-8"), "/index.html": ("index.html", "text/html; charset=utf-8"),
                 "/viewer.js": ("viewer.js", "text/javascript; charset=utf-8")}  # fmt: skip


class PathRefused(ValueError):
    """A requested path outside what the server was asked to serve."""


class EpisodeSource:
    """What one server shows: every ``*.npz`` under a run directory, or a single episode file."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"view: {path} does not exist (give an episode file or a run directory)")
        if path.is_dir():
            self.root, self.only = path.resolve(), None
        elif path.suffix == ".npz":
            self.root, self.only = path.resolve().parent, path.resolve()
        else:
            raise ValueError(f"view: {path} is neither a directory nor an episode file (*.npz)")
        self._cache: dict[Path, tuple[tuple[float, int], bytes]] = {}
        self._lock = threading.Lock()

    def episodes(self) -> list[str]:
        """Episode files, as paths relative to the root (what ``/api/episode`` takes)."""
        if self.only is not None:
            return [self.only.name]
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*.npz") if p.is_file())

    def report(self) -> str | None:
        """The run's report page, when it has one (``openland report`` writes it)."""
        return "report.html" if self.only is None and (self.root / "report.html").is_file() else None

    def resolve(self, rel: str) -> Path:
        """The file ``rel`` names, refusing anything outside the root (or other than the one file served)."""
        if not rel or "\x00" in rel or Path(rel).is_absolute():
            raise PathRefused(f"path {rel!r} refused: give a path relative to {self.root}")
        target = (self.root / rel).resolve()
        if not target.is_relative_to(self.root):
            raise PathRefused(f"path {rel!r} refused: it leads outside {self.root}")
        if self.only is not None and target != self.only:
            raise PathRefused(f"path {rel!r} refused: this viewer serves {self.only.name} only")
        if target.suffix != ".npz":
            raise PathRefused(f"path {rel!r} refused: not an episode file (*.npz)")
        return target

    def payload(self, rel: str) -> bytes:
        """The episode's JSON, cached by file modification time and size."""
        target = self.resolve(rel)
        if not target.is_file():
            raise FileNotFoundError(f"{rel}: no such episode file under {self.root}")
        stat = target.stat()
        key = (stat.st_mtime, stat.st_size)
        with self._lock:
            hit = self._cache.get(target)
            if hit is not None and hit[0] == key:
                return hit[1]
            body = json.dumps(load_payload(target, rel), separators=(",", ":")).encode("utf-8")
            self._cache[target] = (key, body)
            return body


class _Handler(BaseHTTPRequestHandler):
    server: "ViewerServer"

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
        url = urlsplit(self.path)
        source = self.server.source
        if url.path in _STATIC_FILES:
            name, ctype = _STATIC_FILES[url.path]
            self._send(HTTPStatus.OK, (STATIC / name).read_bytes(), ctype)
        elif url.path == "/api/episodes":
            self._json(HTTPStatus.OK, {"root": str(source.root), "episodes": source.episodes(), "report": source.report()})
        elif url.path == "/api/episode":
            rel = parse_qs(url.query).get("path", [""])[0]
            try:
                self._send(HTTPStatus.OK, source.payload(rel), "application/json")
            except PathRefused as err:
                self._json(HTTPStatus.FORBIDDEN, {"error": str(err)})
            except FileNotFoundError as err:
                self._json(HTTPStatus.NOT_FOUND, {"error": str(err)})
            except EpisodeError as err:
                self._json(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(err)})
        elif url.path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        elif url.path == "/report.html" and source.report():
            self._send(HTTPStatus.OK, (source.root / "report.html").read_bytes(), "text/html; charset=utf-8")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"{url.path}: no such page"})


class ViewerServer(ThreadingHTTPServer):
    """The viewer's HTTP server; ``url`` is where to point a browser."""

    daemon_threads = True

    def __init__(self, source: EpisodeSource, host: str = "127.0.0.1", port: int = 0, verbose: bool = False):
        self.source = source
        self.verbose = verbose
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def warm(self) -> threading.Thread:
        """Prepare the first episode in the background (compiling the world template takes about a second), so
        the first page opens fast."""

        def run() -> None:
            episodes = self.source.episodes()
            if episodes:
                try:
                    self.source.payload(episodes[0])
                except (EpisodeError, PathRefused, OSError):
                    pass  # the page shows the error when it asks for this episode

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


def start_server(path: str | Path, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> ViewerServer:
    """Serve ``path`` (an episode file or a run directory) in a background thread; ``shutdown()`` stops it."""
    server = ViewerServer(EpisodeSource(path), host, port, verbose)
    server.warm()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
