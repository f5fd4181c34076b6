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

Keys (:class:`KeyStore`) live in ``<root>/server-keys.sqlite``: only a salted SHA-256 of
each key's secret is stored, comparison is constant-time, and a key can be revoked.
Every ``/api/`` request needs a key (``Authorization: Bearer <key>``): ingest needs the
editor or admin role, reads need any role. Missing or unknown key: 401; a viewer
writing: 403.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations of the
# closures in :func:`install` at runtime.

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tracker.errors import StorageError, UsageError
from tracker.storage._format import FORMAT_VERSION, HEADER_SIZE, file_header, parse_header, repair, scan

__all__ = ["ROLES", "KeyInfo", "KeyStore", "install"]

ROLES: Final = ("viewer", "editor", "admin")
MAX_BODY: Final = 64 * 1024 * 1024
VERSION_HEADER: Final = "x-tracker-format-version"
PREFIX: Final = "/api/v1/runs/"
_PROJECT: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_RUN_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_KEY: Final = re.compile(r"trk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})")
KEYS_FILE: Final = "server-keys.sqlite"


# ---------------------------------------------------------------------------- keys
@dataclass(frozen=True)
class KeyInfo:
    """One API key, without its secret."""

    key_id: str
    name: str
    role: str
    created: float
    revoked: float | None


class KeyStore:
    """API keys in a small SQLite table; only a salted hash of each secret is kept.

    A key reads ``trk_<id>_<secret>``: the id finds the row, the secret is hashed with
    the row's salt and compared in constant time.

    Args:
        root: The server's data root.
    """

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / KEYS_FILE

    def _conn(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
                "role TEXT NOT NULL, salt BLOB NOT NULL, hash BLOB NOT NULL, created REAL NOT NULL, "
                "revoked REAL)"
            )
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the key store {self.path}: {exc}", path=str(self.path)) from exc
        return conn

    @staticmethod
    def _hash(salt: bytes, secret: str) -> bytes:
        return hashlib.sha256(salt + secret.encode()).digest()

    def create(self, name: str, role: str) -> tuple[str, KeyInfo]:
        """Create a key; return ``(the key, its info)``. The key is not stored and cannot be shown again.

        Raises:
            UsageError: Unknown role or empty name.
        """
        if role not in ROLES:
            raise UsageError(f"role {role!r}: use one of {', '.join(ROLES)}.", key="role")
        if not name.strip():
            raise UsageError("a key needs a --name.", key="name")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        now = time.time()
        conn = self._conn()
        try:
            conn.execute(
                "INSERT INTO api_keys (id, name, role, salt, hash, created) VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, name, role, salt, self._hash(salt, secret), now),
            )
        except sqlite3.Error as exc:
            raise StorageError(f"cannot store the key in {self.path}: {exc}", path=str(self.path)) from exc
        finally:
            conn.close()
        return f"trk_{key_id}_{secret}", KeyInfo(key_id, name, role, now, None)

    def list(self) -> list[KeyInfo]:
        """Every key, revoked ones included."""
        conn = self._conn()
        try:
            rows = conn.execute(
                "SELECT id, name, role, created, revoked FROM api_keys ORDER BY created"
            ).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the key store {self.path}: {exc}", path=str(self.path)) from exc
        finally:
            conn.close()
        return [KeyInfo(*row) for row in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key by id; False when no such live key exists."""
        conn = self._conn()
        try:
            cur = conn.execute(
                "UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL", (time.time(), key_id)
            )
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot update the key store {self.path}: {exc}", path=str(self.path)
            ) from exc
        finally:
            conn.close()
        return cur.rowcount > 0

    def check(self, key: str) -> str | None:
        """The role of a live key, or None."""
        m = _KEY.fullmatch(key)
        if m is None:
            return None
        conn = self._conn()
        try:
            row = conn.execute(
                "SELECT role, salt, hash FROM api_keys WHERE id = ? AND revoked IS NULL", (m.group(1),)
            ).fetchone()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the key store {self.path}: {exc}", path=str(self.path)) from exc
        finally:
            conn.close()
        if row is None:
            return None
        role, salt, stored = row
        return str(role) if hmac.compare_digest(self._hash(salt, m.group(2)), stored) else None


class _KeyAuth:
    """ASGI middleware: every ``/api/`` request needs a key; writes need editor or admin."""

    def __init__(self, app: Any, *, keys: KeyStore) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        from starlette.concurrency import run_in_threadpool

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        auth = headers.get("authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        role = await run_in_threadpool(self.keys.check, key) if key else None
        if role is None:
            await _json(send, 401, {"detail": "missing or unknown API key: send Authorization: Bearer <key>"})
            return
        write = scope["path"].startswith(PREFIX)
        if write and role not in ("editor", "admin"):
            await _json(send, 403, {"detail": f"a {role} key cannot ingest runs; use an editor or admin key"})
            return
        scope.setdefault("state", {})["role"] = role
        await self.app(scope, receive, send)


async def _json(send: Any, status: int, data: dict[str, Any]) -> None:
    body = json.dumps(data).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------- logs
class _RefusedError(Exception):
    def __init__(self, status: int, data: dict[str, Any]) -> None:
        super().__init__(data.get("detail", ""))
        self.status = status
        self.data = data


class _Logs:
    """Appends to server-side run logs: one lock per log in this process, ``flock`` across processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()
        self._repaired: set[Path] = set()

    def path(self, project: str, run_id: str) -> Path:
        if not _PROJECT.fullmatch(project):
            raise _RefusedError(400, {"detail": f"project {project!r}: use letters, digits, '.', '_', '-'"})
        if not _RUN_ID.fullmatch(run_id):
            raise _RefusedError(
                400, {"detail": f"run id {run_id!r}: use letters, digits, '_', '-' (at most 64)"}
            )
        return self.root / "projects" / project / "runs" / run_id / "run.tlog"

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
            raise _RefusedError(400, {"detail": "offset must be >= 0"})
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
            raise _RefusedError(
                409, {"reason": "gap", "offset": size, "detail": f"the server has {size} bytes"}
            )
        overlap = min(size - offset, len(body))
        if overlap > 0:
            with open(path, "rb") as f:
                f.seek(offset)
                held = f.read(overlap)
            if not hmac.compare_digest(held, body[:overlap]):
                raise _RefusedError(
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
                raise _RefusedError(400, {"detail": "a run log starts with its 16-byte header"})
            try:
                version = parse_header(new[:HEADER_SIZE], "request body")
            except StorageError as exc:
                raise _RefusedError(400, {"detail": str(exc)}) from None
            if new[:HEADER_SIZE] != file_header(version):
                raise _RefusedError(400, {"detail": "run log header has unknown flags"})
            start = HEADER_SIZE
        found = scan(new, start)
        if found.torn or found.end != len(new):
            bad = offset + overlap + found.end
            raise _RefusedError(
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


def _version(headers: Any) -> int:
    raw = headers.get(VERSION_HEADER)
    if raw is None:
        raise _RefusedError(
            400, {"detail": f"state the run log format version in the {VERSION_HEADER} header"}
        )
    try:
        version = int(raw)
    except ValueError:
        raise _RefusedError(400, {"detail": f"{VERSION_HEADER}: {raw!r} is not a number"}) from None
    if version < 1 or version > FORMAT_VERSION:
        raise _RefusedError(
            400,
            {
                "detail": f"run log format v{version} is not supported by this server (v{FORMAT_VERSION}); "
                "upgrade the server or ship with a matching tracker",
                "format_version": FORMAT_VERSION,
            },
        )
    return version


def install(app: Any, root: str | os.PathLike[str], *, max_body: int = MAX_BODY) -> KeyStore:
    """Add the ingest routes and API-key checks to the dashboard ``app``; return its key store.

    Args:
        app: The app from :func:`tracker.server.create_app` (before it starts).
        root: The server's data root.
        max_body: Largest request body, in bytes (larger: 413).
    """
    from fastapi import Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    root = Path(root)
    logs = _Logs(root)
    keys = KeyStore(root)

    def answer(fn: Any, *args: Any) -> Any:
        try:
            return JSONResponse(fn(*args))
        except _RefusedError as exc:
            return JSONResponse(exc.data, status_code=exc.status)
        except StorageError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=500)

    def get_offset(project: str, run_id: str) -> Any:
        return answer(lambda: {"offset": logs.offset(project, run_id), "format_version": FORMAT_VERSION})

    too_big = f"request body over {max_body} bytes; send smaller batches"

    async def put_log(request: Request, project: str, run_id: str, offset: int) -> Any:
        try:
            _version(request.headers)
            logs.path(project, run_id)
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > max_body):
                raise _RefusedError(413, {"detail": too_big})
            chunks: list[bytes] = []
            total = 0
            async for chunk in request.stream():
                total += len(chunk)
                if total > max_body:
                    raise _RefusedError(
                        413, {"detail": f"request body over {max_body} bytes; send smaller batches"}
                    )
                chunks.append(chunk)
        except _RefusedError as exc:
            return JSONResponse(exc.data, status_code=exc.status)
        body = b"".join(chunks)

        def do() -> dict[str, Any]:
            end, appended = logs.append(project, run_id, offset, body)
            return {"offset": end, "appended": appended}

        return await run_in_threadpool(answer, do)

    base = PREFIX + "{project}/{run_id}/log"
    app.add_api_route(base + "/offset", get_offset, methods=["GET"])
    app.add_api_route(base, put_log, methods=["PUT", "POST"])
    app.add_middleware(_KeyAuth, keys=keys)
    return keys
