"""Team-server ingest: run logs over HTTP by offset, and API keys with roles.

``PUT`` (or ``POST``) ``/api/v1/runs/{project}/{run_id}/log?offset=N`` carries raw
run-log bytes from offset ``N`` (the 16-byte file header included when ``N`` is 0) and
states the log format version in the ``X-Tracker-Format-Version`` header. The server
keeps a byte-for-byte copy under ``<root>/projects/<project>/runs/<id>/run.tlog`` and
appends only whole, CRC-valid frames at exactly its current size:

- bytes the server already has are compared and skipped (a batch sent twice changes
  nothing; the answer is the server's offset);
- ``N`` past the server's size is a gap: 409 ``{"reason": "gap", "offset": size}``, and
  the client resumes from ``offset``;
- bytes that differ from what the server holds: 409 ``{"reason": "conflict"}``;
- a newer format version than the server's: 400; a batch that is not whole, valid
  frames: 400; a body over the limit: 413.

``GET .../log/offset`` answers ``{"offset": size, "format_version": v}``. The index is a
projection of the logs, so readers (``Api``, the dashboard) pick new bytes up by offset.

Who may call what is decided in front of every route by :mod:`tracker.server._gate`
(accounts and project ownership: :mod:`tracker.server._auth`): ingest needs the editor
role on the project, and a run shipped to a new project name creates that project, owned
by the key's user.
"""

# The endpoints are in :mod:`tracker.server._routes_ingest`; :func:`install` adds them.

import fcntl
import hmac
import logging
import os
import threading
from pathlib import Path
from typing import Any, Final

from tracker._naming import ID_RE, LOG_NAME, NAME_RE, name_problem, run_dir_for
from tracker.errors import StorageError
from tracker.server._auth import ROLES, AuthStore
from tracker.storage._format import (
    FORMAT_VERSION,
    HEADER_SIZE,
    LogRead,
    file_header,
    parse_header,
    repair,
    scan,
)
from tracker.storage._schema import refusal

_log = logging.getLogger(__name__)

__all__ = ["ROLES", "IngestState", "RefusedError", "check_version", "install"]

MAX_BODY: Final = 64 * 1024 * 1024
VERSION_HEADER: Final = "x-tracker-format-version"
PREFIX: Final = "/api/v1/runs/"


# ---------------------------------------------------------------------------- logs
class RefusedError(Exception):
    """A refused upload: answered ``status`` with the JSON ``data`` (``detail`` and more)."""

    def __init__(self, status: int, data: dict[str, Any]) -> None:
        super().__init__(data.get("detail", ""))
        self.status = status
        self.data = data

    def __reduce__(self) -> tuple[Any, ...]:  # raised in the upload worker (tracker.server._offload)
        return (type(self), (self.status, self.data))


class _Logs:
    """Appends to server-side run logs: one lock per log in this process, ``flock`` across processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()
        self._repaired: set[Path] = set()

    def path(self, project: str, run_id: str) -> Path:
        if not NAME_RE.fullmatch(project):
            raise RefusedError(400, {"detail": f"project {project!r}: {name_problem(project)}"})
        if not ID_RE.fullmatch(run_id):
            raise RefusedError(
                400, {"detail": f"run id {run_id!r}: use letters, digits, '_', '-' (at most 64)"}
            )
        return run_dir_for(self.root, project, run_id) / LOG_NAME

    def _lock(self, path: Path) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(path, threading.Lock())

    def _size(self, path: Path) -> int:
        """The log's size after dropping a torn tail a crashed server may have left (once per process)."""
        if path not in self._repaired and path.exists():
            if path.stat().st_size >= HEADER_SIZE:
                repair(path)
            else:
                path.unlink()  # a header cut short: nothing was acknowledged
            self._repaired.add(path)
        try:
            return path.stat().st_size
        except FileNotFoundError:
            return 0

    def offset(self, project: str, run_id: str) -> int:
        path = self.path(project, run_id)
        with self._lock(path):
            return self._size(path)

    def append(self, project: str, run_id: str, offset: int, body: bytes) -> tuple[int, int]:
        """Append ``body`` at ``offset``; return ``(server offset, bytes appended)``."""
        path = self.path(project, run_id)
        if offset < 0:
            raise RefusedError(400, {"detail": "offset must be >= 0"})
        try:
            lock = self.root / ".ingest-locks" / project / f"{run_id}.lock"
            lock.parent.mkdir(parents=True, exist_ok=True)
            with self._lock(path), open(lock, "a+b") as lockf:
                fcntl.flock(lockf.fileno(), fcntl.LOCK_EX)
                return self._append_locked(path, offset, body)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc}", path=str(path)) from exc

    def _append_locked(self, path: Path, offset: int, body: bytes) -> tuple[int, int]:
        size = self._size(path)
        if offset > size:
            raise RefusedError(
                409, {"reason": "gap", "offset": size, "detail": f"the server has {size} bytes"}
            )
        overlap = min(size - offset, len(body))
        if overlap > 0:
            with open(path, "rb") as f:
                f.seek(offset)
                held = f.read(overlap)
            if not hmac.compare_digest(held, body[:overlap]):
                raise RefusedError(
                    409,
                    {
                        "reason": "conflict",
                        "offset": size,
                        "detail": f"bytes from offset {offset} differ from the server's copy of this run log",
                    },
                )
        new = body[overlap:]
        if not new:
            return size, 0
        start = 0
        if size == 0:
            if len(new) < HEADER_SIZE:
                raise RefusedError(400, {"detail": "a run log starts with its 16-byte header"})
            try:
                version = parse_header(new[:HEADER_SIZE], "request body")
            except StorageError as exc:
                raise RefusedError(400, {"detail": str(exc)}) from None
            if new[:HEADER_SIZE] != file_header(version):
                raise RefusedError(400, {"detail": "run log header has unknown flags"})
            start = HEADER_SIZE
        found = _scan_batch(new, start)
        misfit = refusal(found, offset + overlap)  # the trust boundary: every record fits the schema
        if misfit is not None:
            raise RefusedError(400, misfit)
        if found.torn or found.end != len(new):
            bad = offset + overlap + found.end
            raise RefusedError(
                400,
                {"detail": f"the batch must be whole, CRC-valid frames; bytes from {bad} on are not"},
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            view = memoryview(new)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        return size + len(new), len(new)


#: Bytes of an upload decoded at a time while it is checked (see :func:`_scan_batch`).
CHECK_BYTES: Final = 2 * 1024 * 1024


def _scan_batch(body: bytes, start: int) -> LogRead:
    """:func:`~tracker.storage._format.scan` of an upload, a slice at a time.

    Decoding a 64 MiB body at once keeps millions of objects alive, and the garbage
    collector's pass over them holds the GIL for seconds: every other request of the
    server waits. Slice by slice, each slice's records are dropped before the next. The
    answer has the last slice's records only, and ``end``/``torn`` of the whole body; a
    batch with a bad record is scanned again from its start up to that slice, so that
    its ``problems`` and record numbering are those of the whole batch.
    """
    mv = memoryview(body)
    size = len(body)
    pos, step = start, CHECK_BYTES
    while True:
        cut = min(size, pos + step)
        part = scan(mv[:cut], pos, eof=cut == size)
        if part.problems:
            return scan(mv[:cut], start, eof=cut == size)
        if cut == size:
            return part
        if part.end == pos:
            step = size  # one frame larger than a slice: take the rest at once
        pos = part.end


def check_version(headers: Any) -> int:
    """The run-log format version a request states in its header (400 if missing or unsupported)."""
    raw = headers.get(VERSION_HEADER)
    if raw is None:
        raise RefusedError(
            400, {"detail": f"state the run log format version in the {VERSION_HEADER} header"}
        )
    try:
        version = int(raw)
    except ValueError:
        raise RefusedError(400, {"detail": f"{VERSION_HEADER}: {raw!r} is not a number"}) from None
    if version < 1 or version > FORMAT_VERSION:
        raise RefusedError(
            400,
            {
                "detail": f"run log format v{version} is not supported by this server (v{FORMAT_VERSION}); "
                "upgrade the server or ship with a matching tracker",
                "format_version": FORMAT_VERSION,
            },
        )
    return version


def _indexer(app: Any, logs: _Logs) -> Any:
    """``index(project, run_id)``: index a run right after its log grew, or None (no dashboard app).

    The team server's index never waits for a reader: the upload request that appended the
    bytes indexes them before it answers (in the request's worker thread, under that run's
    lock in :mod:`tracker.server._refresh`, so that it never duplicates a read's refresh
    of the same run and never holds up reads or uploads of other runs; other server
    processes sharing the index are kept apart by its per-run locks). A failure is logged
    and left to the next upload or read: the bytes are already stored, and the index is a
    projection of them.
    """
    data = getattr(app.state, "data", None)
    if data is None:
        return None
    index = data.api.index

    def run(project: str, run_id: str) -> None:
        try:
            index.ingest_many([(project, run_id, logs.path(project, run_id))])
        except Exception as exc:  # noqa: BLE001 - a projection: the next upload or read retries
            _log.warning("indexing %s/%s after ingest failed: %s", project, run_id, exc)

    return run


class IngestState:
    """What the run-log endpoints (:mod:`tracker.server._routes_ingest`) read, on ``app.state.ingest``."""

    def __init__(self, logs: _Logs, max_body: int, indexer: Any, offload: Any = None) -> None:
        self.logs = logs
        self.max_body = max_body
        #: ``index(project, run_id)`` after a log grew, or None (see :func:`_indexer`).
        self.indexer = indexer
        #: The worker process for big uploads (:class:`tracker.server._offload.Offload`), or None.
        self.offload = offload

    def append(self, project: str, run_id: str, offset: int, body: bytes) -> tuple[int, int]:
        """Store ``body`` at ``offset`` and index it; ``(server offset, bytes appended)``."""
        from tracker.server._offload import OFFLOAD_BYTES

        if self.offload is not None and len(body) >= OFFLOAD_BYTES:
            return self.offload.append(project, run_id, offset, body)  # type: ignore[no-any-return]
        end, appended = self.logs.append(project, run_id, offset, body)
        if appended and self.indexer is not None:
            self.indexer(project, run_id)
        return end, appended


def install(
    app: Any,
    root: str | os.PathLike[str],
    *,
    max_body: int = MAX_BODY,
    store: AuthStore | None = None,
    offload: Any = None,
) -> AuthStore:
    """Add the ingest routes and the auth gate to the dashboard ``app``; return its auth store.

    Args:
        app: The app from :func:`tracker.server.create_app` (before it starts).
        root: The server's data root.
        max_body: Largest upload body, in bytes (larger: 413).
        store: Accounts and project ownership (default: SQLite in ``root``).
        offload: The worker process that checks and indexes big uploads
            (:class:`tracker.server._offload.Offload`; None: all in-process).
    """
    from tracker.server._app import add_routes
    from tracker.server._gate import protect
    from tracker.server._routes_ingest import logs as log_routes

    logs = _Logs(Path(root))
    auth = store if store is not None else AuthStore(Path(root))
    app.state.ingest = IngestState(logs, max_body, _indexer(app, logs), offload)
    add_routes(app, log_routes)
    protect(app, auth, max_body=max_body)
    return auth
