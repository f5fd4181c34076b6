"""Big uploads are checked, stored and indexed in a worker process, off the server's GIL.

Checking a run-log upload against the schema and folding it into the index is pure Python:
tens of seconds of CPU for the 64 MiB bodies the server accepts. Done in a thread of the
server process, that work holds the interpreter lock the event loop and every other
request need, and on a machine with idle cores each of those requests waits its turn for
the lock many times (the "convoy" of CPython's GIL): another user's small reads took over a
second while one upload was indexed (issue 14, point 7). So a body of at least
:data:`OFFLOAD_BYTES` goes to one worker process (started on first use, ``spawn``: the
server is threaded) that appends it exactly as :meth:`tracker.server._ingest._Logs.append`
would, under the same ``flock``, and indexes it into the same index; the request's thread
only waits on the answer, without the lock. Small batches, the common case (clients ship
every few seconds), stay in-process: no pickling, no hop.

Correctness does not depend on which process did the work: appends to one log are kept
apart by the per-run ``flock`` across processes, and the index checks each slice's stored
offset inside its write transaction (a slice another process indexed first is dropped).
A worker that dies is replaced on the next upload; the upload that was in flight gets a
500 and the client resends it (the bytes it had appended are recognised then).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Final

from tracker.errors import StorageError

_log = logging.getLogger(__name__)

#: Uploads at least this large are checked and indexed in the worker process.
OFFLOAD_BYTES: Final = 4 * 1024 * 1024
#: How often the worker checks that the server that started it is still there.
PARENT_POLL_S: Final = 0.5


class Offload:
    """One worker process for big uploads of a server (``root``, and ``db`` when PostgreSQL)."""

    def __init__(self, root: Path, db: str | None = None) -> None:
        self._root = str(root)
        self._db = db
        self._pool: ProcessPoolExecutor | None = None
        self._guard = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        import multiprocessing

        with self._guard:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start,
                    initargs=(self._root, self._db, os.getpid()),
                )
            return self._pool

    def start(self) -> None:
        """Start the worker now, in the background (the first big upload then finds it ready)."""
        self._executor().submit(_ready)

    def worker_pid(self) -> int:
        """The worker's process id (starting it if needed)."""
        return self._executor().submit(_ready).result()

    def append(self, project: str, run_id: str, offset: int, body: bytes) -> tuple[int, int]:
        """``_Logs.append`` then index, in the worker; ``(server offset, bytes appended)``.

        Raises:
            RefusedError: The upload is refused (as in-process).
            StorageError: The log cannot be written, or the worker died.
        """
        pool = self._executor()
        try:
            return pool.submit(_work, project, run_id, offset, body).result()
        except BrokenProcessPool as exc:
            with self._guard:
                if self._pool is pool:
                    self._pool = None
            raise StorageError("the upload worker stopped; send the batch again") from exc

    def close(self) -> None:
        """Stop the worker (the server is shutting down)."""
        with self._guard:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


_worker: tuple[Any, Any] | None = None


def _start(root: str, db: str | None, server: int) -> None:
    """The worker's logs and index: those of the server (process ``server``) that started it."""
    global _worker
    _exit_with(server)
    from tracker.server._ingest import _Logs

    if db:
        from tracker.storage._pg_index import PostgresIndex

        index: Any = PostgresIndex(Path(root), db)
    else:
        from tracker.storage._sqlite_index import SQLiteIndex

        index = SQLiteIndex(Path(root))
    _worker = (_Logs(Path(root)), index)


def _exit_with(parent: int) -> None:
    """End this worker when the server that started it is gone (killed -9, say).

    A pool worker holds both ends of its task queue's pipe, so it never reads an end of file
    when the server dies: without this it would wait on that pipe forever.
    """

    def watch() -> None:
        while os.getppid() == parent:  # also false at once if the server died while we started
            time.sleep(PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="tracker-offload-parent", daemon=True).start()


def _ready() -> int:
    return os.getpid()


def _work(project: str, run_id: str, offset: int, body: bytes) -> tuple[int, int]:
    assert _worker is not None, "the upload worker was not started"
    logs, index = _worker
    end, appended = logs.append(project, run_id, offset, body)
    if appended:
        try:
            index.ingest_many([(project, run_id, logs.path(project, run_id))])
        except Exception as exc:  # noqa: BLE001 - a projection: the next upload or read retries
            _log.warning("indexing %s/%s after ingest failed: %s", project, run_id, exc)
    return end, appended
