"""Where media files go: the writer's side of media (``<run_dir>/media/<kind>/<sha256>.<ext>``).

One :class:`MediaStore` per writer. The writer's msgpack ``default`` hook hands it each
queued :class:`~tracker.media._base.Pending`; it encodes the object, writes the file
content-addressed (an identical file is written once per run) through a temporary
name and ``os.replace`` (a reader never sees half a file), and returns the reference
dict stored in the record. Media files are not fsynced one by one: the run log is the
source of truth, and after a power loss a referenced file may be missing, never torn.

:class:`Budget` is the queue's bound: the caller adds the bytes of each media snapshot
it enqueues, the writer releases them once encoded, and ``log()`` blocks above the bound
until the writer catches up. The bound is what the writer encodes in ``BACKLOG_SECONDS``
at the pace it has measured, never above ``queue_max_bytes`` (a setting, 256 MiB by
default): rows queued behind media wait for at most that much encoding before they are
written, so a row reaches the disk well within a second of ``log()`` even under a media
backlog (the writer encodes media in log order, just ahead of the rows that name them).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from tracker.media._base import Media, Pending

__all__: list[str] = []

#: Seconds of encoding the media queue may hold (a quarter of the 1 s durability target:
#: the rest is for the flush interval, the writes, and a pace that changes faster than
#: its estimate, as on a machine shared with other work).
BACKLOG_SECONDS: Final = 0.25
#: The bound until the writer has timed an encode, and its floor (one large image
#: still queues without waiting for the one before it).
FIRST_BOUND: Final = 4 << 20
MIN_BOUND: Final = 1 << 20
# How much of the pace measured so far each new encode keeps (a decayed window of
# about 1 / (1 - _KEEP) encodes).
_KEEP: Final = 0.9
# An encode that starts within this many seconds of the previous one's end continues the
# same stretch of work: the time between them (rows packed, frames written, the GIL
# waited for) counts towards the pace, which is the writer's, not the encoder's alone.
_GAP: Final = 0.05


class Budget:
    """Bytes of media snapshots queued and not yet encoded, with a blocking wait.

    ``limit`` is ``queue_max_bytes``; ``bound`` (at most ``limit``) is what ``log()``
    checks: ``BACKLOG_SECONDS`` of encoding at the pace :meth:`learn` measures.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.bound = min(limit, FIRST_BOUND)
        self.pending = 0
        # Decayed sums of bytes encoded and seconds spent: their ratio is the pace. (Not an
        # average of per-encode rates: one re-logged, already-encoded image would skew it.)
        self._bytes = 0.0
        self._seconds = 0.0
        self._last_end = -1.0
        # An RLock: Pending.__del__ may release bytes while this thread holds the lock.
        self._cond = threading.Condition(threading.RLock())

    def add(self, n: int) -> int:
        """Count ``n`` more bytes; return the count before them."""
        with self._cond:
            before = self.pending
            self.pending = before + n
            return before

    def learn(self, n: int, began: float, ended: float) -> None:
        """The writer encoded ``n`` bytes from ``began`` to ``ended`` (``perf_counter``).

        Moves the bound to the new pace. Called in the writer thread only; ``bound`` is
        one int, read without the lock.
        """
        last, self._last_end = self._last_end, ended
        if n <= 0:
            return
        seconds = ended - (last if 0.0 <= began - last < _GAP else began)
        self._bytes = self._bytes * _KEEP + n
        self._seconds = self._seconds * _KEEP + seconds
        if self._seconds > 0.0:
            pace = self._bytes / self._seconds
            self.bound = int(min(self.limit, max(MIN_BOUND, pace * BACKLOG_SECONDS)))

    def release(self, n: int) -> None:
        """The writer encoded (or dropped) ``n`` bytes."""
        with self._cond:
            self.pending -= n
            self._cond.notify_all()

    def wait(self, below: int, busy: Callable[[], bool], poll: float = 0.5) -> None:
        """Block while more than ``below`` bytes are pending and ``busy()`` says the writer works.

        Returns as soon as a poll interval passes with no release and ``busy()`` is false
        (the bytes are held by an open ``commit=False`` row, which no writer can drain).
        """
        with self._cond:
            while self.pending > below:
                if not self._cond.wait(poll) and not busy():
                    return


class MediaStore:
    """Encodes queued media and writes their files under one run directory."""

    def __init__(self, run_dir: Path, problem: Callable[[str, str], None], max_bytes: int) -> None:
        self.run_dir = run_dir
        self.budget = Budget(max_bytes)
        #: True once anything was encoded: the writer's summary then maps Pending to refs.
        self.used = False
        self._problem = problem
        self._written: set[str] = set()
        self._dirs: set[str] = set()

    # ------------------------------------------------------------- caller side
    def account(self, row: dict[str, Any]) -> int:
        """Count the media bytes of a row about to be queued (caller thread).

        Returns:
            0, or the row's media bytes when the bytes already queued exceed
            :attr:`Budget.bound` (the caller then waits with :meth:`Budget.wait`).
        """
        found: list[Pending] = []
        for value in row.values():
            t = type(value)
            if t is Pending:
                found.append(value)
            elif t is list and value and type(value[0]) is Pending:
                found.extend(v for v in value if type(v) is Pending)
        if not found:
            return 0
        total = 0
        budget = self.budget
        for p in found:
            if p.budget is None and p.ref is None and p.counted:
                p.budget = budget
                total += p.counted
        if not total:
            return 0
        before = budget.add(total)
        return total if before > budget.bound else 0

    # ------------------------------------------------------------- writer side
    def encode(self, media: Media) -> dict[str, Any]:
        """The reference dict of ``media``, or an error reference if it cannot be stored."""
        self.used = True
        try:
            return media._tracker_ref(self)
        except Exception as exc:  # noqa: BLE001 - user data must never cost the row; recorded
            name = type(media).__name__
            self._problem(
                f"media:{name}",
                f"a logged tracker.{name} could not be stored ({exc!r}); its history entry "
                "records the error instead",
            )
            return {"_type": f"{media._kind}-file", "error": repr(exc)}

    def cell(self, value: Any) -> Any:
        """A table cell as plain data: media become references (writer thread)."""
        if isinstance(value, Media):
            return self.encode(value)
        plain = getattr(value, "_tracker_plain", None)
        if plain is not None:
            return plain()
        return value

    def write(self, kind: str, data: bytes, ext: str) -> dict[str, Any]:
        """Write ``data`` as ``media/<kind>/<sha256>.<ext>`` unless it exists.

        Returns:
            ``{"path", "sha256", "size"}`` with the path relative to the run directory.
        """
        import hashlib  # lazily: `import tracker` stays light

        sha = hashlib.sha256(data).hexdigest()
        rel = f"media/{kind}/{sha}.{ext}"
        if not self.has(rel):
            target = self.run_dir / rel
            tmp = self.temp_path(kind, ext)
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
            self._written.add(rel)
        return {"path": rel, "sha256": sha, "size": len(data)}

    def temp_path(self, kind: str, ext: str) -> Path:
        """A fresh temporary path in ``media/<kind>/`` for encoders that write a file."""
        folder = self.run_dir / "media" / kind
        if kind not in self._dirs:
            folder.mkdir(parents=True, exist_ok=True)
            self._dirs.add(kind)
        return folder / f".tmp-{os.getpid()}-{threading.get_ident()}-{id(self)}.{ext}"

    def adopt(self, kind: str, tmp: Path, ext: str) -> dict[str, Any]:
        """Move an encoder's temporary file to its content address (see :meth:`write`)."""
        import hashlib

        h = hashlib.sha256()
        size = 0
        with open(tmp, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
        sha = h.hexdigest()
        rel = f"media/{kind}/{sha}.{ext}"
        if self.has(rel):
            tmp.unlink()
        else:
            os.replace(tmp, self.run_dir / rel)
            self._written.add(rel)
        return {"path": rel, "sha256": sha, "size": size}

    def has(self, rel: Any) -> bool:
        """True when the file ``rel`` (relative to the run directory) exists in this run."""
        if not isinstance(rel, str):
            return False
        if rel in self._written:
            return True
        if (self.run_dir / rel).is_file():
            self._written.add(rel)
            return True
        return False

    def plain(self, summary: dict[str, Any]) -> dict[str, Any]:
        """The summary with encoded media occurrences replaced by their references."""
        out: dict[str, Any] = {}
        for key, value in dict(summary).items():  # a copy: the writer may be updating it
            if type(value) is Pending and value.ref is not None:
                value = value.ref
            elif type(value) is list and value and type(value[0]) is Pending:
                value = [v.ref if type(v) is Pending and v.ref is not None else v for v in value]
            out[key] = value
        return out
