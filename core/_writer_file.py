"""The run log as the writer thread appends to it: whole frames or nothing, held on failure.

:class:`LogFile` owns the file descriptor. :meth:`LogFile.append` hands encoded frames to
the OS with ``write(2)``; a write that fails part-way is cut back (``ftruncate``) to the
last whole frame, because a partial frame would corrupt everything appended after it, and
the bytes are held in memory and retried on the next call (a full disk never reaches the
training loop: it is one problem, reported once). :meth:`LogFile.sync` fsyncs at most once
a :data:`FSYNC_EVERY` unless asked to, and :meth:`LogFile.close` fsyncs and closes.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

__all__: list[str] = []

#: Seconds between two fsyncs of the log (when the run asks for fsync at all).
FSYNC_EVERY: Final = 1.0
# Bytes held after failed writes before the oldest are dropped (the newest are kept).
_MAX_UNWRITTEN: Final = 256 * 1024 * 1024


class LogFile:
    """One run's log, opened for appending; used by the writer thread only.

    Args:
        path: The log file.
        fsync: Whether :meth:`sync` and :meth:`close` fsync.
        problem: Called as ``problem(key, message)`` for a failure worth one warning.
    """

    def __init__(self, path: Path, fsync: bool, problem: Callable[[str, str], None]) -> None:
        self.path = path
        self._fsync = fsync
        self._problem = problem
        self._fd = -1
        self._end = 0
        self._unwritten: list[bytes] = []
        self._unwritten_bytes = 0
        self._last_fsync = 0.0

    @property
    def held(self) -> bool:
        """True while bytes of a failed write wait for the next :meth:`append`."""
        return bool(self._unwritten)

    def open(self, header: bytes | None) -> None:
        """Open for appending (the caller has created or repaired the file); write ``header``."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(self.path, flags, 0o644)
        if header is not None:
            os.write(self._fd, header)
        self._end = os.fstat(self._fd).st_size

    def write_now(self, data: bytes) -> None:
        """Append ``data`` at once, failures raised (init's run record, before the thread)."""
        os.write(self._fd, data)
        self._end += len(data)

    def append(self, out: list[bytes]) -> bool | None:
        """Write ``out`` after any held bytes: True if written, False if held, None if nothing to write."""
        if out:
            self._unwritten.extend(out)
            self._unwritten_bytes += sum(map(len, out))
        if not self._unwritten:
            return None
        try:
            self._write_all(b"".join(self._unwritten))
        except OSError as exc:
            self._failed(exc)
            return False
        self._unwritten.clear()
        self._unwritten_bytes = 0
        return True

    def sync(self, force: bool) -> None:
        """fsync when asked to (``force``) or when the last one is :data:`FSYNC_EVERY` old."""
        now = time.time()
        if self._fsync and (force or now - self._last_fsync >= FSYNC_EVERY):
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self._problem("fsync", f"fsync of {self.path} failed: {exc}")
            self._last_fsync = now

    def close(self) -> None:
        """fsync (if enabled) and close; a failure is a problem, not an exception."""
        if self._fd >= 0:
            try:
                if self._fsync:
                    os.fsync(self._fd)
                os.close(self._fd)
            except OSError as exc:
                self._problem("close", f"closing {self.path} failed: {exc}")
            self._fd = -1

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        start = self._end
        try:
            while view:
                n = write(self._fd, view)
                view = view[n:]
                self._end += n
        except OSError:
            # A partial frame at the end would corrupt everything appended after it.
            if self._end != start:
                os.ftruncate(self._fd, start)
                self._end = start
            raise

    def _failed(self, exc: OSError) -> None:
        cause = "disk full" if exc.errno == errno.ENOSPC else errno.errorcode.get(exc.errno or 0, "error")
        self._problem(
            f"write:{cause}",
            f"cannot write to {self.path} ({exc.strerror or exc}); keeping "
            f"{self._unwritten_bytes} bytes in memory and retrying; training continues",
        )
        while self._unwritten_bytes > _MAX_UNWRITTEN and len(self._unwritten) > 1:
            dropped = self._unwritten.pop(0)
            self._unwritten_bytes -= len(dropped)


# Indirection so tests can simulate a full disk without touching the real os module.
write: Callable[[int, memoryview], int] = os.write
