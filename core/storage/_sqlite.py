"""SQLite plumbing shared by the index and the state store.

One connection per thread (and per process: a connection is never used after
``fork``), WAL journalling so readers never block the writer, a long busy timeout so
that contention waits instead of failing, and ``BEGIN IMMEDIATE`` for every write so
that a transaction takes the write lock before it reads what it will change.
Every ``sqlite3.Error`` leaves this layer as a :class:`tracker.errors.StorageError`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from tracker.errors import StorageError

__all__: list[str] = []

#: How long a statement waits for another connection's lock before failing.
BUSY_TIMEOUT_S: Final = 120.0


class Database:
    """A SQLite database file opened lazily, one connection per thread and process.

    Args:
        path: The database file (created with its parent directory when missing).
        setup: Called with a new connection inside ``BEGIN IMMEDIATE`` to create the
            schema (idempotently) unless ``ready`` says it exists.
        ready: Called with a new connection, outside any transaction: True when the
            schema is in place (so that opening takes no write lock).
        synchronous: ``NORMAL`` for disposable data, ``FULL`` for data that must survive
            a power loss.
        page_size: Page size for a new file (larger pages read large blobs faster).
        cache_kib: Page cache per connection, KiB (SQLite's default is 2,000: only 31
            pages of 64 KiB, too few for random row lookups).
        mmap_bytes: Read the file through a memory map of up to this size (0: off),
            which saves a copy per page on large reads.
        disposable: The file is a projection that can be rebuilt (the index): when it is
            not a SQLite database (garbage, a damaged page), it is moved aside to
            ``<name>.corrupt-<time>`` with one warning and a new one is created.
    """

    def __init__(
        self,
        path: Path,
        setup: Callable[[sqlite3.Connection], None],
        *,
        ready: Callable[[sqlite3.Connection], bool] | None = None,
        synchronous: str = "NORMAL",
        page_size: int = 4096,
        cache_kib: int = 2000,
        mmap_bytes: int = 0,
        disposable: bool = False,
    ) -> None:
        self.path = path
        self._disposable = disposable
        self._setup = setup
        self._ready = ready
        self._synchronous = synchronous
        self._page_size = page_size
        self._cache_kib = cache_kib
        self._mmap_bytes = mmap_bytes
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():
            conn = self._open()
            local.conn = conn
            local.pid = os.getpid()
        return conn

    def _open(self) -> sqlite3.Connection:
        with errors(self.path, "open"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Switching a new file to WAL (and its first schema) needs locks that SQLite does
            # not wait for through the busy handler: two processes creating the same file at
            # once can get "database is locked" straight away. Retry with backoff, bounded.
            deadline = time.monotonic() + BUSY_TIMEOUT_S
            delay = 0.001
            moved = False
            while True:
                try:
                    conn = self._open_once()
                    break
                except sqlite3.OperationalError as exc:
                    text = str(exc).lower()
                    if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                        raise
                    time.sleep(delay)  # backoff between retries, not synchronisation
                    delay = min(delay * 2, 0.05)
                except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed"
                    if not self._disposable or moved:
                        raise
                    moved = self._move_aside(exc)
        with self._lock:
            self._all.append(conn)
        return conn

    def _open_once(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            # page_size only applies to a file that has no tables yet, and must be set
            # before the switch to WAL; on an existing file it is a harmless no-op.
            conn.execute(f"PRAGMA page_size={int(self._page_size)}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute(f"PRAGMA cache_size=-{int(self._cache_kib)}")
            if self._mmap_bytes:
                conn.execute(f"PRAGMA mmap_size={int(self._mmap_bytes)}")
            if self._ready is None or not self._ready(conn):
                with transaction(conn):
                    self._setup(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _move_aside(self, exc: sqlite3.DatabaseError) -> bool:
        """Move a damaged disposable database (and its WAL files) aside, to be rebuilt."""
        import logging

        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}-{os.getpid()}")
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return True  # another process moved it first: open the new one
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
        logging.getLogger("tracker").warning(
            "tracker: %s is not a usable SQLite index (%s); moved it aside to %s and rebuilding it "
            "from the run logs",
            self.path,
            exc,
            aside.name,
        )
        return True

    def close(self) -> None:
        """Close every connection this object opened in this process."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextlib.contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction: several SELECTs that see one consistent state."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("COMMIT")


@contextlib.contextmanager
def errors(path: Path, what: str) -> Iterator[None]:
    """Translate ``sqlite3.Error`` into :class:`StorageError` naming the file."""
    try:
        yield
    except sqlite3.Error as exc:
        hint = ""
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            hint = " (another process held the lock too long; try again)"
        raise StorageError(f"{path}: {what} failed: {exc}{hint}", path=str(path)) from exc
    except OSError as exc:
        raise StorageError(f"{path}: {what} failed: {exc}", path=str(path)) from exc


# --------------------------------------------------------------------------- where the index lives
#: SQLite and OS messages of a folder a database cannot be written in.
_UNWRITABLE: Final = ("unable to open database", "readonly", "read-only", "disk is full", "disk i/o error")
#: Data roots whose index moved to the cache dir in this process (announced once each).
_moved: set[str] = set()


def unwritable(exc: StorageError) -> bool:
    """Whether ``exc`` (from :func:`errors`) says the database's folder cannot be written."""
    cause = exc.__cause__
    if isinstance(cause, OSError):
        import errno

        return cause.errno in {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}
    return isinstance(cause, sqlite3.Error) and any(m in str(cause).lower() for m in _UNWRITABLE)


def with_hint(exc: StorageError) -> StorageError:
    """The error, plus where to put the index instead when its folder cannot be written."""
    if not unwritable(exc):
        return exc
    from tracker._settings import ENV_INDEX_DIR

    return StorageError(f"{exc}; set {ENV_INDEX_DIR} to a writable folder for the index", path=exc.path)


def cache_dir(root: Path) -> Path:
    """The index folder of ``root`` on local disk: ``~/.cache/tracker/index/<root digest>``.

    The same folder :func:`tracker._settings.index_dir` picks for a root on a network
    filesystem.
    """
    import hashlib

    return Path.home() / ".cache" / "tracker" / "index" / hashlib.sha256(str(root).encode()).hexdigest()[:16]


def announce_move(root: Path, old: Path, new: Path, exc: StorageError) -> None:
    """One warning per data root and process: the index moved, and how to choose its folder."""
    if str(root) in _moved:
        return
    _moved.add(str(root))
    import logging

    from tracker._settings import ENV_INDEX_DIR

    logging.getLogger("tracker").warning(
        "tracker: cannot write the index %s (%s); keeping it in %s instead (set %s to choose)",
        old,
        exc.__cause__ or exc,
        new.parent,
        ENV_INDEX_DIR,
    )
