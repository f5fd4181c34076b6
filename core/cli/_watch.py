"""Shipping one run to the team server, once (``tracker sync``) or until it ends (``--watch``).

:class:`Shipping` does one round for one run: the log by offset
(:func:`tracker._upload.ship`), then media, saved files and logged artifacts by hash
(:class:`tracker._upload_files.FileShipper`); it counts what was sent and reads the
shipped records to know when the run has ended. :func:`watch` repeats rounds over a
set of runs every ``interval`` seconds until each has ended and is fully shipped (an
exit record, or its process gone) or the user presses Ctrl-C.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracker.errors import CommError, StorageError

__all__: list[str] = []


class Shipping:
    """One run being shipped; totals accumulate over rounds.

    Args:
        client: The server (:class:`tracker._upload.Client`).
        project: Project of the run.
        run_id: Id of the run.
        log: The local run log.
    """

    def __init__(self, client: Any, project: str, run_id: str, log: Path) -> None:
        from tracker._naming import has_root, root_of
        from tracker._upload_files import FileShipper
        from tracker.artifacts._store import BlobStore

        self.client = client
        self.project = project
        self.run_id = run_id
        self.log = log
        blobs = BlobStore(root_of(log.parent)) if has_root(log.parent) else None
        self.files = FileShipper(client, log.parent, project, run_id, blobs=blobs)
        self.offset: int | None = None
        self.rows = self.log_bytes = self.blob_bytes = self.linked = self.blobs = self.artifacts = 0
        self.problems: list[str] = []
        self.error: str | None = None
        self.shipped = False  # the server holds everything there is (as of the last round)
        self._scanned = 0
        self._exit: str | None = None
        self._meta: dict[str, Any] = {}
        self._last_growth = time.monotonic()
        self._gone = False

    @property
    def name(self) -> str:
        """``project/run_id``."""
        return f"{self.project}/{self.run_id}"

    def round(self) -> bool:
        """Ship what the server lacks; True when anything was sent.

        Raises:
            CommError: The server is unreachable or refused a request.
            StorageError: The local run cannot be read.
        """
        from tracker._upload import ship

        # Liveness before shipping: a writer that was gone already wrote all it ever will.
        self._gone = self._exit is None and self._process_gone()
        before = self.client.offset(self.project, self.run_id) if self.offset is None else self.offset
        try:
            result = ship(self.client, self.log, self.project, self.run_id, offset=before)
        except CommError:
            self.offset = None  # ask the server again next round
            raise
        self.offset = result.offset
        self.log_bytes += result.sent
        if result.sent:
            self._last_growth = time.monotonic()
        self._read(before, result.offset)
        files = self.files.ship()
        self.linked += files.files
        self.blobs += files.blobs
        self.blob_bytes += files.bytes
        self.artifacts += files.artifacts
        self.problems = files.problems
        self.shipped = result.done and not files.pending
        self.error = None
        return bool(result.sent or files.files or files.blobs or files.artifacts)

    def _read(self, counted_from: int, end: int) -> None:
        """Fold the shipped records in: rows sent (from ``counted_from``), run/exit state."""
        from tracker.storage._format import R, read_frames

        if end <= self._scanned:
            return
        for off, rec in read_frames(self.log, self._scanned).records:
            if off >= end:
                break
            kind = rec[0]
            if kind == R.HISTORY and off >= counted_from:
                self.rows += len(rec[2])
            elif kind in (R.RUN, R.RESUME):
                self._exit = None
                info = rec[1] if isinstance(rec[1], dict) else {}
                self._meta.update({k: info[k] for k in ("pid", "host", "start_time") if k in info})
            elif kind == R.EXIT:
                self._exit = str(rec[1].get("state", "finished")) if isinstance(rec[1], dict) else "finished"
        self._scanned = end

    def _process_gone(self) -> bool:
        from tracker.storage._liveness import STALE_AFTER, process_alive, this_host

        pid, host = self._meta.get("pid"), self._meta.get("host")
        if isinstance(pid, int) and host == this_host():
            return process_alive(pid, self._meta.get("start_time")) is False
        return time.monotonic() - self._last_growth > STALE_AFTER

    @property
    def state(self) -> str:
        """``running``, the exit state, or ``crashed`` (no exit record and the process was gone)."""
        if self._exit is not None:
            return self._exit
        return "crashed" if self._gone else "running"

    @property
    def over(self) -> bool:
        """True once the server holds the whole run, exit record included (or its writer died).

        Liveness is judged before a round's shipping, never after: a writer that exits
        between the two may have appended its exit record meanwhile.
        """
        return self.shipped and (self._exit is not None or self._gone)

    def describe(self) -> str:
        """What was sent so far, in words (sizes for people: ``446.2 MB``)."""
        from tracker.cli._progress import format_size

        return (
            f"{self.rows} rows ({format_size(self.log_bytes)} of log), {self.linked} files, "
            f"{self.blobs} blobs ({format_size(self.blob_bytes)}), {self.artifacts} artifacts"
        )


def watch(client: Any, list_runs: Callable[[], list[tuple[str, str, Path]]], interval: float) -> int:
    """``tracker sync --watch``: ship rounds until every run has ended and is shipped.

    Args:
        client: The server.
        list_runs: The runs to ship, ``(project, run_id, log)``; asked every round, so
            ``--all`` picks up runs started meanwhile.
        interval: Seconds between rounds.

    Returns:
        0 when every run was shipped to its end, 130 after Ctrl-C.
    """
    jobs: dict[tuple[str, str], Shipping] = {}
    pause = threading.Event()  # never set: a bounded wait that Ctrl-C interrupts
    status = 0
    try:
        while True:
            for project, run_id, log in list_runs():
                if (project, run_id) not in jobs:
                    jobs[(project, run_id)] = Shipping(client, project, run_id, log)
            for job in jobs.values():
                if job.over:
                    continue
                try:
                    job.round()
                except (CommError, StorageError) as exc:
                    if str(exc) != job.error:
                        print(f"{job.name}: {exc} (retrying)", file=sys.stderr, flush=True)
                    job.error = str(exc)
                    continue
                if job.over:
                    print(f"{job.name}: {job.state}; sent {job.describe()}", flush=True)
            if not jobs:
                print("no runs to watch", file=sys.stderr)
                break
            if all(job.over for job in jobs.values()):
                break
            pause.wait(interval)
    except KeyboardInterrupt:
        status = 130
        print("stopped (Ctrl-C)", file=sys.stderr)
        for job in jobs.values():
            if not job.over:
                print(f"{job.name}: {job.state}, not all shipped; sent {job.describe()}", flush=True)
    print(f"watched {len(jobs)} runs", file=sys.stderr)
    return status
