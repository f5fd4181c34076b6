"""Shipping run logs to a team server by offset: the HTTP client, ``ship`` and the uploader thread.

The server keeps a byte-for-byte copy of each run log. Shipping asks the server for its
offset, reads whole frames of the local log from there (never a torn tail, so a run that
is still being written is safe to ship) and ``PUT``\\s them in batches to
``/api/v1/runs/<project>/<run_id>/log?offset=N``. The server appends only at exactly its
current size, so a batch sent twice changes nothing, and a gap is answered with 409 and
the server's offset, from which the next batch resumes.

Used by ``tracker sync`` and, in online mode, by :class:`Uploader`, a daemon thread that
never touches the training loop's hot path. Requests go through the shared transport of
:mod:`tracker._client`.
"""

from __future__ import annotations

import os
import random
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracker import _client
from tracker._client import comm_error
from tracker.errors import CommError, StorageError, _LazyLogger
from tracker.storage._format import FORMAT_VERSION, FRAME_HEADER_SIZE, HEADER_SIZE, MAX_PAYLOAD, parse_header

if TYPE_CHECKING:
    from tracker._upload_files import ArtifactBlobs

__all__ = ["BATCH_BYTES", "Client", "ShipResult", "Uploader", "ship"]

_log = _LazyLogger("tracker.upload")

BATCH_BYTES: Final = 4 * 1024 * 1024
VERSION_HEADER: Final = "X-Tracker-Format-Version"
_BACKOFF_MIN: Final = 0.2
_BACKOFF_MAX: Final = 30.0


class Client(_client.Client):
    """The ingest endpoints of a team server, on the shared transport (:class:`tracker._client.Client`).

    Every request states the run log's format version (``X-Tracker-Format-Version``).

    Args:
        base_url: The server's URL, e.g. ``http://127.0.0.1:8080``.
        api_key: Sent as ``Authorization: Bearer <key>``.
        timeout: Seconds per request.
    """

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 30.0) -> None:
        super().__init__(base_url, api_key, timeout=timeout)
        self.headers[VERSION_HEADER] = str(FORMAT_VERSION)
        #: Bytes per blob upload request; halved when the server answers 413 to a part.
        self.blob_part = BATCH_BYTES

    def _url(self, project: str, run_id: str, suffix: str) -> str:
        return self.api(self.run_path(project, run_id) + "/log" + suffix)

    def offset(self, project: str, run_id: str) -> int:
        """The server's offset of this run's log (0 when it has none)."""
        status, data = self.request("GET", self._url(project, run_id, "/offset"))
        return _offset_of(status, data, f"{project}/{run_id}")

    def put(self, project: str, run_id: str, offset: int, body: bytes) -> tuple[int, int, int]:
        """Send bytes of the log from ``offset``; return ``(status, server offset, bytes appended)``.

        Status 200 means appended (or already there), 409 a gap: resume from the offset.
        """
        status, data = self.request("PUT", self._url(project, run_id, f"?offset={offset}"), body)
        if status == 409 and isinstance(data.get("offset"), int) and data.get("reason") == "gap":
            return status, int(data["offset"]), 0
        server = _offset_of(status, data, f"{project}/{run_id}")
        appended = data.get("appended")
        return status, server, int(appended) if isinstance(appended, int) else 0

    # ------------------------------------------------------------ blobs (tracker._upload_files)
    def has_blob(self, sha256: str, project: str | None = None) -> bool:
        """True when the server holds the blob and this key may use it.

        ``HEAD /projects/<project>/blobs/<sha256>`` (the project references it, or this
        user uploaded it), or ``HEAD /blobs/<sha256>`` without a project.
        """
        where = f"blobs/{sha256}"
        if project is not None:
            where = f"projects/{_client.quote(project)}/{where}"
        status, _data = self.request("HEAD", self.api(where))
        if status in (200, 404):
            return status == 200
        raise comm_error(f"team server refused HEAD of blob {sha256}: HTTP {status}", status)

    def staged(self, sha256: str) -> tuple[int, bool]:
        """``(bytes the server has staged, complete)`` of an upload."""
        status, data = self.request("GET", self.api(f"uploads/{sha256}"))
        if status == 200 and isinstance(data.get("offset"), int):
            return int(data["offset"]), bool(data.get("complete"))
        raise comm_error(
            f"team server refused upload {sha256}: HTTP {status}: {data.get('detail', data)}", status
        )


def _offset_of(status: int, data: dict[str, Any], what: str) -> int:
    if status == 200 and isinstance(data.get("offset"), int):
        return int(data["offset"])
    detail = data.get("detail", data)
    raise comm_error(f"team server refused {what}: HTTP {status}: {detail}", status)


@dataclass
class ShipResult:
    """What one :func:`ship` call did.

    Attributes:
        sent: Bytes the server appended.
        batches: Requests that carried bytes.
        offset: The server's offset afterwards.
        local_end: Offset just after the last whole frame of the local log.
    """

    sent: int = 0
    batches: int = 0
    offset: int = 0
    local_end: int = 0

    @property
    def done(self) -> bool:
        """True when the server holds every whole frame of the local log."""
        return self.offset >= self.local_end


def _whole_frames(f: Any, start: int, limit: int) -> bytes:
    """Bytes of the whole, CRC-valid frames at ``start`` (at most ``limit`` unless one frame is bigger)."""
    from tracker.storage._format import scan

    f.seek(start)
    buf: bytes = f.read(limit)
    head = 0
    if start == 0:
        if len(buf) < HEADER_SIZE:
            return b""
        parse_header(buf[:HEADER_SIZE], getattr(f, "name", ""))
        head = HEADER_SIZE
    found = scan(buf, head)
    if found.end > head or found.end == len(buf):
        return buf[: found.end]
    # No whole frame fits in `limit`: read exactly the first frame if it is complete.
    if len(buf) - head >= FRAME_HEADER_SIZE:
        (n,) = struct.unpack_from("<I", buf, head)
        if 0 < n <= MAX_PAYLOAD and head + FRAME_HEADER_SIZE + n > len(buf):
            f.seek(start)
            buf = bytes(f.read(head + FRAME_HEADER_SIZE + n))
            found = scan(buf, head)
            if found.end > head:
                return buf[: found.end]
    return buf[:head]


def ship(
    client: Client,
    path: Path,
    project: str,
    run_id: str,
    *,
    batch_bytes: int = BATCH_BYTES,
    offset: int | None = None,
    stop: threading.Event | None = None,
) -> ShipResult:
    """Ship the whole frames of the run log ``path`` that the server does not have yet.

    Args:
        client: The server.
        path: The local run log.
        project: Project of the run.
        run_id: Id of the run.
        batch_bytes: Bytes per request (a frame is never split).
        offset: The server's offset if known (otherwise it is asked).
        stop: Stop early (between batches) when set.

    Raises:
        CommError: The server is unreachable or refused a batch.
        StorageError: The local log cannot be read.
    """
    out = ShipResult()
    pos = client.offset(project, run_id) if offset is None else offset
    out.offset = pos
    gaps = 0
    try:
        with open(path, "rb") as f:
            while stop is None or not stop.is_set():
                size = os.fstat(f.fileno()).st_size
                if pos > size:
                    raise comm_error(
                        f"the team server holds {pos} bytes of {project}/{run_id} but the local log "
                        f"{path} has only {size}: they are not the same run",
                        409,
                    )
                body = _whole_frames(f, pos, batch_bytes)
                if not body:
                    break
                status, server, appended = client.put(project, run_id, pos, body)
                if status == 409:  # a gap or a shorter server log: resume where the server is
                    gaps += 1
                    if gaps > 3:
                        raise comm_error(
                            f"team server keeps refusing offset {pos} of {project}/{run_id}", 409
                        )
                    pos = server
                    out.offset = pos
                    continue
                if appended:
                    out.sent += appended
                    out.batches += 1
                pos = server
                out.offset = pos
            out.local_end = pos + len(_whole_frames(f, pos, batch_bytes))
    except OSError as exc:
        raise StorageError(f"cannot read run log {path}: {exc}", path=str(path)) from exc
    return out


class Uploader:
    """Online mode: a daemon thread that ships a run's log to the server while it is written.

    It wakes every ``interval`` seconds (or when poked), ships what is there (the log by
    offset first, then media, saved files and logged artifacts by content hash, see
    :mod:`tracker._upload_files`), and on a network failure retries with exponential
    backoff and jitter. Failures never reach the training loop; they are logged at
    DEBUG once per cause.

    Args:
        client: The server.
        path: The run log.
        project: Project of the run.
        run_id: Id of the run.
        interval: Seconds between shipping rounds while the run is live.
        blobs: The data root's artifact store, for the artifact versions the run logs
            (see :class:`tracker._upload_files.ArtifactBlobs`).
    """

    def __init__(
        self,
        client: Client,
        path: Path,
        project: str,
        run_id: str,
        *,
        interval: float = 1.0,
        blobs: ArtifactBlobs | None,
    ) -> None:
        self.client = client
        self.path = path
        self.project = project
        self.run_id = run_id
        self.interval = interval
        self.offset: int | None = None
        self.local_end = 0
        self.error: str | None = None
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._done = threading.Event()
        self._abort = threading.Event()
        self._logged: set[str] = set()
        self._thread: threading.Thread | None = None
        from tracker._upload_files import FileShipper

        self.files = FileShipper(client, path.parent, project, run_id, blobs=blobs)

    def start(self) -> None:
        """Start the thread (``tracker-uploader-<id>``)."""
        self._thread = threading.Thread(
            target=self._main, name=f"tracker-uploader-{self.run_id}", daemon=True
        )
        self._thread.start()

    def _round(self) -> bool:
        """Ship once; True when the server holds every whole frame there is."""
        result = ship(self.client, self.path, self.project, self.run_id, offset=self.offset, stop=self._abort)
        self.offset = result.offset
        self.local_end = result.local_end
        files = self.files.ship(self._abort)
        for problem in files.problems:
            self._debug_once("files:" + problem.split(":", 1)[0], problem)
        self.error = files.problems[0] if files.problems else None
        return result.done and not files.pending

    def _debug_once(self, cause: str, message: str, exc: BaseException | None = None) -> None:
        if cause not in self._logged:
            self._logged.add(cause)
            _log.debug("run %s: %s", self.run_id, message, exc_info=exc)

    def _main(self) -> None:
        backoff = _BACKOFF_MIN
        while not self._abort.is_set():
            closing = self._closing.is_set()
            try:
                done = self._round()
            except (CommError, StorageError) as exc:
                self.offset = None  # ask the server again after a failure
                self.error = str(exc)
                cause = type(exc).__name__ + str(getattr(exc, "status", ""))
                self._debug_once(cause, f"upload failed, retrying: {exc}", exc)
                self._wake.wait(backoff * (0.5 + random.random() / 2))
                self._wake.clear()
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            backoff = _BACKOFF_MIN
            if closing and done:
                self._done.set()
                return
            self._wake.wait(self.interval)
            self._wake.clear()
        self._done.set()

    def close(self, timeout: float) -> bool:
        """Ship the rest (the log is complete); wait at most ``timeout`` s. True when all is on the server."""
        if self._thread is None:
            return True
        self._closing.set()
        self._wake.set()
        ok = self._done.wait(timeout)
        if not ok:
            self._abort.set()
            self._wake.set()
        return ok
