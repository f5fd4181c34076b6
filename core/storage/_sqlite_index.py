"""The local index: run logs projected into one SQLite file (WAL) for fast reads.

Schema (version :data:`SCHEMA_VERSION`; an index with another version or of another
data root is dropped and rebuilt, since it is disposable). 64 KiB pages, a 64 MiB page
cache and a memory map: chunks are read as whole blobs.

* ``meta(key, value)``: ``schema_version`` and the data ``root`` it indexes.
* ``runs``: one row per run log, clustered by ``(project, run_id)`` (``WITHOUT ROWID``,
  so listing a project is one range scan; ``rid`` numbers the run for the chunks):
  where reading stopped (``log_offset``, plus the file's ``size``/``mtime_ns`` at that
  moment for a cheap "unchanged?" test), the next row numbers, ``created_at``, and two
  msgpack blobs: ``record`` (what a listing needs: name, tags, state, host, pid, ...,
  config and summary) and ``extra`` (what folding and details need: the run record,
  exit, alerts, capture, define_metric, files, artifacts, raw summary and its tail).
* ``chunks``: per ``(run, stream, key, kind)`` numbered chunks of at most
  :data:`~tracker.storage._ingest.CHUNK_POINTS` points. ``kind`` 0 holds numeric
  points as little-endian column blobs (row number and step as int64, stored as
  ``first + stride * i`` when arithmetic; value and timestamp as float64) with the
  chunk's row and step range and min/max/first/last of the values; ``kind`` 1 holds
  other values (strings, bools, lists, media references) as one msgpack array.
  Appends fill the last chunk before starting another, so chunk boundaries depend only
  on the log, not on when it was read.
* ``keys``: the key catalog per run and stream (counts, min, max, last step).

Ingest reads a log from ``log_offset`` in slices, decodes and builds the columns
outside any lock, then inside ``BEGIN IMMEDIATE`` checks that the stored offset has
not moved (another process may have ingested the same bytes) and writes the chunks
and the new offset in the same transaction. A rewind (``RESUME.rewind = N``) deletes
the points with ``_step > N`` logged before it, in the same transaction. Many small
logs (a first index of a big project) share transactions (:meth:`ingest_many`).
The algorithm is :class:`~tracker.storage._sql_index.SQLIndex`'s (shared with PostgreSQL);
this module holds what is SQLite's own: the file (its schema, versioning, relocation to the
cache dir) and the statements whose SQL differs in more than spelling.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any, Final

from tracker.errors import StorageError
from tracker.storage._base import IndexBackend
from tracker.storage._dialect import sqlite
from tracker.storage._ingest import HISTORY_STREAM
from tracker.storage._sql_index import CHUNK_COLUMNS, ROW_COLUMNS, SQLIndex
from tracker.storage._sql_index import SLICE_BYTES as SLICE_BYTES  # named here before issue 15
from tracker.storage._sql_parts import _Prepared
from tracker.storage._sql_parts import _Timestamps as _Timestamps  # tests patch it here
from tracker.storage._sqlite import (
    Database,
    announce_move,
    cache_dir,
    errors,
    snapshot,
    transaction,
    unwritable,
    with_hint,
)

__all__ = ["SQLiteIndex"]

#: 5: run records carry the problems of their log (a rebuild reads damaged logs anew).
SCHEMA_VERSION: Final = "5"
INDEX_NAME: Final = "index.sqlite"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    project TEXT NOT NULL,
    run_id TEXT NOT NULL,
    rid INTEGER NOT NULL UNIQUE,
    path TEXT NOT NULL,
    log_offset INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT -1,
    mtime_ns INTEGER NOT NULL DEFAULT -1,
    next_seq INTEGER NOT NULL DEFAULT 0,
    next_sys INTEGER NOT NULL DEFAULT 0,
    created_at REAL,
    record BLOB,
    extra BLOB,
    PRIMARY KEY (project, run_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    rid INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    key TEXT NOT NULL,
    kind INTEGER NOT NULL,
    cno INTEGER NOT NULL,
    n INTEGER NOT NULL,
    seq_min INTEGER NOT NULL,
    seq_max INTEGER NOT NULL,
    step_min INTEGER NOT NULL,
    step_max INTEGER NOT NULL,
    is_int INTEGER NOT NULL,
    vmin REAL,
    vmax REAL,
    vfirst REAL,
    vlast REAL,
    seq0 INTEGER NOT NULL,
    seq_stride INTEGER NOT NULL,
    seqs BLOB,
    step0 INTEGER NOT NULL,
    step_stride INTEGER NOT NULL,
    steps BLOB,
    vals BLOB NOT NULL,
    ts BLOB NOT NULL,
    PRIMARY KEY (rid, stream, key, kind, cno)
);
CREATE TABLE IF NOT EXISTS keys (
    rid INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    key TEXT NOT NULL,
    count INTEGER NOT NULL,
    numeric INTEGER NOT NULL,
    is_int INTEGER NOT NULL,
    vmin REAL,
    vmax REAL,
    last_step INTEGER,
    PRIMARY KEY (rid, stream, key)
) WITHOUT ROWID;
"""

_INSERT: Final = f"INSERT OR REPLACE INTO chunks ({ROW_COLUMNS}) VALUES ({','.join('?' * 23)})"
_LAST_CHUNK: Final = (
    f"SELECT cno, {CHUNK_COLUMNS} FROM chunks WHERE rid = ? AND stream = ? AND key = ? AND kind = ? "
    "ORDER BY cno DESC LIMIT 1"
)


class SQLiteIndex(SQLIndex):
    """The :class:`~tracker.storage._base.IndexBackend` of a local data root.

    Args:
        root: The data root whose run logs are indexed.
        path: The index file (default ``index_dir(root)/index.sqlite``).

    Example:
        >>> index = SQLiteIndex(root)  # doctest: +SKIP
        >>> index.refresh("demo")  # doctest: +SKIP
        >>> [r.id for r in index.runs("demo")]  # doctest: +SKIP
    """

    dialect = sqlite(("meta", "runs", "chunks", "keys"))

    def __init__(self, root: str | os.PathLike[str], path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(root)
        #: Whether the index may move to the user's cache dir when it cannot be written here.
        self._movable = path is None
        if path is None:
            from tracker._settings import ENV_INDEX_DIR, env, index_dir

            path = index_dir(self.root) / INDEX_NAME
            self._movable = env(ENV_INDEX_DIR) is None
        self.path = Path(path)
        self._db = self._database(self.path)

    def _database(self, path: Path) -> Database:
        return Database(
            path,
            self._setup,
            ready=self._ready,
            synchronous="NORMAL",
            page_size=65536,
            cache_kib=65536,
            mmap_bytes=1 << 30,
            disposable=True,
        )

    def _relocate(self, exc: StorageError) -> bool:
        """Move the index to the user's cache dir when its folder is read-only or full.

        The index is disposable, so it can live anywhere: ``~/.cache/tracker/index/<root
        digest>/`` (as for a data root on a network filesystem), announced with one
        warning that names ``TRACKER_INDEX_DIR``. False when it cannot move (a path or
        ``TRACKER_INDEX_DIR`` was given, it moved already, or the error is another one).
        """
        if not self._movable or not unwritable(exc):
            return False
        new = cache_dir(self.root) / INDEX_NAME
        if new == self.path:
            return False
        announce_move(self.root, self.path, new, exc)
        self._db.close()
        self.path = new
        self._db = self._database(new)
        self._movable = False
        return True

    def _ready(self, conn: sqlite3.Connection) -> bool:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
            return False
        found = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        return found.get("schema_version") == SCHEMA_VERSION and found.get("root") == str(
            self.root.absolute()
        )

    def _setup(self, conn: sqlite3.Connection) -> None:
        if self._ready(conn):  # another process set it up while we waited for the lock
            return
        # A different schema or data root: the index is a projection, so start over.
        for table in ("meta", "runs", "chunks", "keys"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        # executescript() would COMMIT the surrounding transaction: one statement at a time.
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("schema_version", SCHEMA_VERSION), ("root", str(self.root.absolute()))],
        )

    def close(self) -> None:
        """Close this process's connections."""
        self._db.close()

    @property
    def _conn(self) -> sqlite3.Connection:
        try:
            with errors(self.path, "opening the index"):
                return self._db.conn
        except StorageError as exc:
            if not self._relocate(exc):
                raise with_hint(exc) from exc.__cause__
        with errors(self.path, "opening the index"):
            return self._db.conn

    # ---------------------------------------------------------------- SQLIndex hooks
    def _where(self) -> str:
        return str(self.path)

    def _errors(self, what: str) -> Any:
        return errors(self.path, what)

    def _transaction(self, conn: sqlite3.Connection) -> Any:
        return transaction(conn)  # BEGIN IMMEDIATE: one writer at a time, every run

    def _snapshot(self, conn: sqlite3.Connection) -> Any:
        return snapshot(conn)

    def ingest_many(self, items: list[tuple[str, str, Path]]) -> None:
        """Index several logs, many small ones per transaction (a first index of 10,000 runs).

        On a full disk the index moves to the user's cache dir once (see :meth:`_relocate`)
        and starts over there.
        """
        try:
            self._ingest_many(items)
        except StorageError as exc:
            if exc.path != str(self.path) or not self._relocate(exc):
                raise
            IndexBackend.refresh(self)  # not an instance wrapper (a server may hold its lock)

    def _commit_prepared(self, conn: sqlite3.Connection, prep: _Prepared) -> bool:
        return self._commit(prep)

    def _commit(self, prep: _Prepared) -> bool:
        """Store a prepared slice; False when another process moved the offset meanwhile.

        Runs inside the caller's ``BEGIN IMMEDIATE`` transaction.
        """
        return self._store(self._conn, prep)

    def _new_rid(self, conn: sqlite3.Connection, prep: _Prepared) -> int:
        # Inside BEGIN IMMEDIATE: no other writer can take the same number.
        rid = int(conn.execute("SELECT COALESCE(MAX(rid), 0) + 1 FROM runs").fetchone()[0])
        conn.execute(
            "INSERT INTO runs (project, run_id, rid, path) VALUES (?, ?, ?, ?)",
            (prep.project, prep.run_id, rid, str(prep.path)),
        )
        return rid

    def _last_chunks(
        self, conn: sqlite3.Connection, rid: int, wanted: list[tuple[int, str, int]]
    ) -> dict[tuple[int, str, int], tuple[Any, ...]]:
        out = {}
        for stream, key, kind in wanted:
            row = conn.execute(_LAST_CHUNK, (rid, stream, key, kind)).fetchone()
            if row is not None:
                out[stream, key, kind] = row
        return out

    def _write_rows(
        self,
        conn: sqlite3.Connection,
        rid: int,
        rows: list[tuple[Any, ...]],
        replaced: list[tuple[int, str, int, int]],
        mode: Any,
    ) -> None:
        conn.executemany(_INSERT, rows)  # OR REPLACE: a rewritten chunk replaces itself

    def _take_after(self, conn: sqlite3.Connection, rid: int, step: int) -> list[Any]:
        where = "WHERE rid = ? AND stream = ? AND step_max > ?"
        params = (rid, HISTORY_STREAM, step)
        rows = conn.execute(f"SELECT key, kind, cno, {CHUNK_COLUMNS} FROM chunks {where}", params).fetchall()
        conn.execute(f"DELETE FROM chunks {where}", params)
        return rows
