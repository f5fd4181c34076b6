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
Row codecs live in :mod:`tracker.storage._sqlite_rows`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracker.errors import CorruptRecordError, StorageError
from tracker.storage._base import (
    STREAMS,
    ChunkStats,
    IndexBackend,
    IndexChangedError,
    KeyInfo,
    ProjectInfo,
    RunRecord,
    Series,
    _skip_unreadable,
)
from tracker.storage._format import HEADER_SIZE
from tracker.storage._ingest import (
    HISTORY_STREAM,
    Delta,
    Objects,
    Points,
    Segment,
    fold,
)
from tracker.storage._replay import RunState
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
from tracker.storage._sqlite_rows import (
    NUM,
    OBJ,
    append_rows,
    assemble_series,
    decode_objects,
    read_slice,
    restore_state,
    rewound_row,
    run_blobs,
    run_record,
    slice_series,
    unpackb,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["SQLiteIndex"]

#: 5: run records carry the problems of their log (a rebuild reads damaged logs anew).
SCHEMA_VERSION: Final = "5"
INDEX_NAME: Final = "index.sqlite"
#: Bytes of log read per ingest transaction (a slice ends at a whole frame). Small, so that
#: a big upload is indexed in many short steps: other runs' writes get the write lock
#: between them, and each step's decoded records (and the garbage collection passes over
#: them, which hold the GIL) stay small enough not to stall the server's other requests.
SLICE_BYTES: Final = 2 * 1024 * 1024

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

_RUN_COLUMNS: Final = "project, run_id, record"
_CHUNK_COLUMNS: Final = "n, seq0, seq_stride, seqs, step0, step_stride, steps, ts, vals, is_int"
# Values come before timestamps in a row, so that reading values skips the timestamps'
# overflow pages; column lists are spelled out wherever rows are written.
_INSERT: Final = (
    "INSERT OR REPLACE INTO chunks (rid, stream, key, kind, cno, n, seq_min, seq_max, step_min, step_max, "
    "is_int, vmin, vmax, vfirst, vlast, seq0, seq_stride, seqs, step0, step_stride, steps, ts, vals) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


class SQLiteIndex(IndexBackend):
    """The :class:`~tracker.storage._base.IndexBackend` of a local data root.

    Args:
        root: The data root whose run logs are indexed.
        path: The index file (default ``index_dir(root)/index.sqlite``).

    Example:
        >>> index = SQLiteIndex(root)  # doctest: +SKIP
        >>> index.refresh("demo")  # doctest: +SKIP
        >>> [r.id for r in index.runs("demo")]  # doctest: +SKIP
    """

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

    # ---------------------------------------------------------------- ingest
    def log_positions(
        self, project: str | None = None, run_id: str | None = None
    ) -> dict[tuple[str, str], tuple[int, int]]:
        """``(size, mtime_ns)`` of each run log when it was last read to its end."""
        conn = self._conn
        with errors(self.path, "reading the index"):
            if project is None:
                rows = conn.execute("SELECT project, run_id, size, mtime_ns FROM runs").fetchall()
            elif run_id is not None:
                rows = conn.execute(
                    "SELECT project, run_id, size, mtime_ns FROM runs WHERE project = ? AND run_id = ?",
                    (project, run_id),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT project, run_id, size, mtime_ns FROM runs WHERE project = ?", (project,)
                ).fetchall()
        return {(p, r): (s, m) for p, r, s, m in rows}

    def forget(self, project: str, run_id: str) -> None:
        """Drop a run whose log disappeared."""
        conn = self._conn
        with errors(self.path, "updating the index"), transaction(conn):
            row = conn.execute(
                "SELECT rid FROM runs WHERE project = ? AND run_id = ?", (project, run_id)
            ).fetchone()
            if row is not None:
                self._drop(conn, row[0])

    @staticmethod
    def _drop(conn: sqlite3.Connection, rid: int) -> None:
        conn.execute("DELETE FROM chunks WHERE rid = ?", (rid,))
        conn.execute("DELETE FROM keys WHERE rid = ?", (rid,))
        conn.execute("DELETE FROM runs WHERE rid = ?", (rid,))

    def ingest(self, project: str, run_id: str, path: Path) -> int:
        """Index the records of ``path`` past the stored offset, slice by slice.

        Returns:
            The number of records read.

        Raises:
            StorageError: The log or the index cannot be read or written.
        """
        total = 0
        while True:
            prep = self._prepare(project, run_id, path)
            if prep is None:
                return total
            with errors(self.path, "updating the index"), transaction(self._conn):
                committed = self._commit(prep)
            if committed:
                total += prep.records
                if prep.at_end:
                    return total

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

    def _ingest_many(self, items: list[tuple[str, str, Path]]) -> None:
        batch: list[_Prepared] = []
        size = 0
        later: list[tuple[str, str, Path]] = []

        def flush() -> None:
            nonlocal size
            if not batch:
                return
            with errors(self.path, "updating the index"), transaction(self._conn):
                for prep in batch:
                    if not self._commit(prep) or not prep.at_end:
                        later.append((prep.project, prep.run_id, prep.path))
            batch.clear()
            size = 0

        for project, run_id, path in items:
            try:
                prep = self._prepare(project, run_id, path)
            except StorageError as exc:  # the log's (an index error is raised again)
                _skip_unreadable(path, exc)
                continue
            if prep is None:
                continue
            batch.append(prep)
            size += prep.bytes
            if len(batch) >= _BATCH_RUNS or size >= SLICE_BYTES:
                flush()
        flush()
        for project, run_id, path in later:  # big logs, or logs another process was indexing
            try:
                self.ingest(project, run_id, path)
            except StorageError as exc:  # the log's (an index error is raised again)
                _skip_unreadable(path, exc)

    def _prepare(self, project: str, run_id: str, path: Path) -> _Prepared | None:
        """Read and fold the next slice of a log, outside any lock; None when nothing is new."""
        conn = self._conn
        with errors(self.path, "reading the index"):
            row = conn.execute(
                "SELECT rid, log_offset, size, mtime_ns, next_seq, next_sys, record, extra "
                "FROM runs WHERE project = ? AND run_id = ?",
                (project, run_id),
            ).fetchone()
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self.forget(project, run_id)
            return None
        except OSError as exc:
            raise StorageError(f"cannot read run log {path}: {exc}", path=str(path)) from exc
        stat = (st.st_size, st.st_mtime_ns)
        if row is None and st.st_size < HEADER_SIZE:
            return None  # a log being created right now: no header yet
        offset = 0 if row is None else int(row[1])
        if row is not None and (row[2], row[3]) == stat:
            return None
        reset = row is not None and st.st_size < offset  # the log was replaced: start over
        if reset:
            offset = 0
        read = read_slice(path, offset, SLICE_BYTES)
        if row is None and not read.records and not read.problems:
            return None  # only a header so far: list the run once its run record is there
        state = RunState(keep_rows=False) if row is None or reset else restore_state(row)
        state.report(read.problems)  # records set aside (corrupt) and damaged bytes skipped
        next_seq = 0 if row is None or reset else int(row[4])
        next_sys = 0 if row is None or reset else int(row[5])
        try:
            delta = fold(read.records, state, next_seq, next_sys)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
            # Records fit the schema (scan sets the others aside), so this is a reader bug:
            # it must still not fail a listing. The caller skips this run with a warning.
            raise CorruptRecordError(f"{path}: cannot fold its records: {exc!r}", path=str(path)) from exc
        # Done when this slice reached the end of what the stat saw: a later append
        # changes size/mtime and triggers another read.
        at_end = read.end >= read.size or read.torn
        expected = None if row is None else (int(row[0]), int(row[1]))
        if read.deferred:  # damaged bytes a live writer may still be writing: look again next time
            stat = (-1, -1)
        return _Prepared(
            project, run_id, path, expected, reset, delta, read.end, stat, at_end, read.end - offset
        )

    def _commit(self, prep: _Prepared) -> bool:
        """Store a prepared slice; False when another process moved the offset meanwhile.

        Runs inside the caller's ``BEGIN IMMEDIATE`` transaction.
        """
        conn = self._conn
        now = conn.execute(
            "SELECT rid, log_offset FROM runs WHERE project = ? AND run_id = ?", (prep.project, prep.run_id)
        ).fetchone()
        if (None if now is None else (int(now[0]), int(now[1]))) != prep.expected:
            return False  # someone else indexed these bytes: look again
        if now is None:
            # Inside BEGIN IMMEDIATE: no other writer can take the same number.
            rid = int(conn.execute("SELECT COALESCE(MAX(rid), 0) + 1 FROM runs").fetchone()[0])
            conn.execute(
                "INSERT INTO runs (project, run_id, rid, path) VALUES (?, ?, ?, ?)",
                (prep.project, prep.run_id, rid, str(prep.path)),
            )
        else:
            rid = int(now[0])
            if prep.reset:
                conn.execute("DELETE FROM chunks WHERE rid = ?", (rid,))
                conn.execute("DELETE FROM keys WHERE rid = ?", (rid,))
        delta = prep.delta
        if delta.ops:
            self._apply(conn, rid, delta.ops, new=now is None or prep.reset)
            self._update_keys(conn, rid)
        self._store_run(conn, rid, delta, prep.end, prep.stat if prep.at_end else (-1, -1))
        return True

    def _apply(self, conn: sqlite3.Connection, rid: int, ops: list[Segment | int], *, new: bool) -> None:
        for op in ops:
            if isinstance(op, int):
                self._rewind(conn, rid, op)
                new = False
                continue
            for (stream, key), points in op.numeric.items():
                self._append_numeric(conn, rid, stream, key, points, new=new)
            for (stream, key), objs in op.objects.items():
                self._append_objects(conn, rid, stream, key, objs, new=new)
            new = False

    @staticmethod
    def _last_chunk(conn: sqlite3.Connection, rid: int, stream: int, key: str, kind: int) -> Any:
        return conn.execute(
            f"SELECT cno, {_CHUNK_COLUMNS} FROM chunks WHERE rid = ? AND stream = ? AND key = ? AND kind = ? "
            "ORDER BY cno DESC LIMIT 1",
            (rid, stream, key, kind),
        ).fetchone()

    def _append_numeric(
        self, conn: sqlite3.Connection, rid: int, stream: int, key: str, pts: Points, *, new: bool
    ) -> None:
        # A run indexed for the first time has no chunk to extend.
        last = None if new else self._last_chunk(conn, rid, stream, key, NUM)
        conn.executemany(_INSERT, append_rows(rid, stream, key, NUM, last, pts))

    def _append_objects(
        self, conn: sqlite3.Connection, rid: int, stream: int, key: str, objs: Objects, *, new: bool
    ) -> None:
        last = None if new else self._last_chunk(conn, rid, stream, key, OBJ)
        conn.executemany(_INSERT, append_rows(rid, stream, key, OBJ, last, objs))

    def _rewind(self, conn: sqlite3.Connection, rid: int, step: int) -> None:
        """Hide history points with ``_step > step`` logged so far (``resume_from``)."""
        rows = conn.execute(
            f"SELECT key, kind, cno, {_CHUNK_COLUMNS} FROM chunks "
            "WHERE rid = ? AND stream = ? AND step_max > ?",
            (rid, HISTORY_STREAM, step),
        ).fetchall()
        for key, kind, cno, *cols in rows:
            conn.execute(
                "DELETE FROM chunks WHERE rid = ? AND stream = ? AND key = ? AND kind = ? AND cno = ?",
                (rid, HISTORY_STREAM, key, kind, cno),
            )
            kept = rewound_row(rid, HISTORY_STREAM, key, kind, cno, cols, step)
            if kept is not None:
                conn.execute(_INSERT, kept)

    @staticmethod
    def _update_keys(conn: sqlite3.Connection, rid: int) -> None:
        conn.execute("DELETE FROM keys WHERE rid = ?", (rid,))
        conn.execute(
            "INSERT INTO keys (rid, stream, key, count, numeric, is_int, vmin, vmax, last_step) "
            "SELECT rid, stream, key, SUM(n), SUM(CASE WHEN kind = 0 THEN n ELSE 0 END), "
            "MIN(CASE WHEN kind = 0 THEN is_int ELSE 0 END), MIN(vmin), MAX(vmax), MAX(step_max) "
            "FROM chunks WHERE rid = ? GROUP BY stream, key",
            (rid,),
        )

    @staticmethod
    def _store_run(
        conn: sqlite3.Connection, rid: int, delta: Delta, offset: int, stat: tuple[int, int]
    ) -> None:
        created_at, record, extra = run_blobs(delta)
        conn.execute(
            "UPDATE runs SET log_offset = ?, size = ?, mtime_ns = ?, next_seq = ?, next_sys = ?, "
            "created_at = ?, record = ?, extra = ? WHERE rid = ?",
            (offset, stat[0], stat[1], delta.next_seq, delta.next_sys, created_at, record, extra, rid),
        )

    # ---------------------------------------------------------------- reads
    def projects(self) -> list[ProjectInfo]:
        """Indexed projects with their run counts."""
        with errors(self.path, "reading the index"):
            rows = self._conn.execute(
                "SELECT project, COUNT(*), MAX(created_at) FROM runs GROUP BY project ORDER BY project"
            ).fetchall()
        return [ProjectInfo(p, int(n), last) for p, n, last in rows]

    def runs(self, project: str) -> list[RunRecord]:
        """Every indexed run of ``project``."""
        with errors(self.path, "reading the index"):
            rows = self._conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE project = ?", (project,)
            ).fetchall()
        return [run_record(r) for r in rows]

    def run(self, project: str, run_id: str) -> RunRecord | None:
        """One indexed run, or None."""
        with errors(self.path, "reading the index"):
            row = self._conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE project = ? AND run_id = ?", (project, run_id)
            ).fetchone()
        return None if row is None else run_record(row)

    def details(self, project: str, run_id: str) -> dict[str, Any]:
        """Alerts, capture, define_metric records, files and artifacts of a run."""
        with errors(self.path, "reading the index"):
            row = self._conn.execute(
                "SELECT extra FROM runs WHERE project = ? AND run_id = ?", (project, run_id)
            ).fetchone()
        extra = unpackb(row[0]) if row is not None else None
        return extra if isinstance(extra, dict) else {}

    def keys(self, project: str, run_id: str, stream: str = "default") -> dict[str, KeyInfo]:
        """The key catalog of one stream of a run."""
        with errors(self.path, "reading the index"):
            rows = self._conn.execute(
                "SELECT k.key, k.count, k.numeric, k.is_int, k.vmin, k.vmax, k.last_step FROM keys k "
                "JOIN runs r ON r.rid = k.rid WHERE r.project = ? AND r.run_id = ? AND k.stream = ? "
                "ORDER BY k.key",
                (project, run_id, _stream(stream)),
            ).fetchall()
        return {k: KeyInfo(k, int(c), int(n), bool(i), lo, hi, last) for k, c, n, i, lo, hi, last in rows}

    def series(
        self,
        project: str,
        run_id: str,
        keys: Iterable[str],
        *,
        stream: str = "default",
        min_seq: int | None = None,
        max_seq: int | None = None,
    ) -> dict[str, Series]:
        """The points of ``keys`` in row order (absent keys are left out)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        conn = self._conn
        stream_no = _stream(stream)
        # Numeric timestamps are not read here: most reads need them for few rows of
        # one key (see _Timestamps); they are fetched, and checked, on first use.
        sql = (
            "SELECT c.key, c.kind, c.rid, c.cno, c.n, c.seq0, c.seq_stride, c.seqs, c.step0, c.step_stride, "
            "c.steps, CASE WHEN c.kind = 1 THEN c.ts END, c.vals, c.is_int "
            "FROM chunks c JOIN runs r ON r.rid = c.rid "
            "WHERE r.project = ? AND r.run_id = ? AND c.stream = ? "
        )
        params: list[Any] = [project, run_id, stream_no]
        if min_seq is not None:
            sql += "AND c.seq_max >= ? "
            params.append(min_seq)
        if max_seq is not None:
            sql += "AND c.seq_min < ? "
            params.append(max_seq)
        found: dict[str, tuple[list[Any], list[int], list[Objects]]] = {}
        rid = -1
        with errors(self.path, "reading the index"), snapshot(conn):
            # Bounded IN lists: SQLite limits the number of host parameters.
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                query = sql + f"AND c.key IN ({','.join('?' * len(part))}) ORDER BY c.key, c.kind, c.cno"
                for key, kind, chunk_rid, cno, *cols in conn.execute(query, [*params, *part]):
                    rid = chunk_rid
                    nums, cnos, objs = found.setdefault(key, ([], [], []))
                    if kind == NUM:
                        nums.append(cols)
                        cnos.append(cno)
                    else:
                        objs.append(decode_objects(cols))
        out: dict[str, Series] = {}
        for key in wanted:
            if key in found:
                nums, cnos, objs = found[key]
                stamps = _Timestamps(self, rid, stream_no, key, cnos, [(c[0], c[1]) for c in nums])
                series = assemble_series(nums, objs, stamps)
                if min_seq is not None or max_seq is not None:
                    series = slice_series(series, min_seq, max_seq)
                if len(series):
                    out[key] = series
        return out

    def numeric_chunks(
        self,
        project: str,
        run_id: str,
        keys: Iterable[str],
        *,
        stream: str = "default",
        step_min: float | None = None,
        step_max: float | None = None,
        values: bool = True,
    ) -> dict[str, list[ChunkStats]] | None:
        """Per-chunk statistics of numeric keys (see :meth:`IndexBackend.numeric_chunks`)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        conn = self._conn
        sql = (
            "SELECT c.key, c.kind, c.cno, c.n, c.step_min, c.step_max, c.step0, c.step_stride, c.steps, "
            f"c.vmin, c.vmax, c.vfirst, c.vlast, {'c.vals' if values else 'NULL'} "
            "FROM chunks c JOIN runs r ON r.rid = c.rid "
            "WHERE r.project = ? AND r.run_id = ? AND c.stream = ? "
        )
        params: list[Any] = [project, run_id, _stream(stream)]
        if step_min is not None:
            sql += "AND c.step_max >= ? "
            params.append(step_min)
        if step_max is not None:
            sql += "AND c.step_min <= ? "
            params.append(step_max)
        found: dict[str, list[ChunkStats]] = {}
        mixed: set[str] = set()
        with errors(self.path, "reading the index"), snapshot(conn):
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                query = sql + f"AND c.key IN ({','.join('?' * len(part))}) ORDER BY c.key, c.kind, c.cno"
                for row in conn.execute(query, [*params, *part]):
                    key, kind, cno, n, smin, smax, step0, stride, steps, vmin, vmax, first, last, vals = row
                    if kind != NUM:
                        mixed.add(key)
                        continue
                    found.setdefault(key, []).append(
                        ChunkStats(
                            cno,
                            n,
                            smin,
                            smax,
                            step0,
                            stride,
                            steps,
                            vmin,
                            vmax,
                            first,
                            last,
                            vals if vals is None or len(vals) == n * 8 else vals[: n * 8],
                        )
                    )
            if step_min is not None or step_max is not None:
                # A key with non-numeric points outside the range is still mixed.
                left = [k for k in found if k not in mixed]
                for i in range(0, len(left), 500):
                    part = left[i : i + 500]
                    mixed.update(
                        k
                        for (k,) in conn.execute(
                            "SELECT DISTINCT c.key FROM chunks c JOIN runs r ON r.rid = c.rid "
                            "WHERE r.project = ? AND r.run_id = ? AND c.stream = ? AND c.kind = ? "
                            f"AND c.key IN ({','.join('?' * len(part))})",
                            [project, run_id, _stream(stream), OBJ, *part],
                        )
                    )
        return {k: v for k, v in found.items() if k not in mixed}


# --------------------------------------------------------------------------- helpers
class _Timestamps:
    """Loads the timestamps of a key's numeric chunks when first needed.

    The chunks are looked up again by number; each must still start at the same row and
    hold at least as many points as when its values were read (appends only extend the
    last chunk, so its first ``n`` timestamps are unchanged). Anything else means a
    rewind or a rebuild rewrote the key in between: IndexChangedError, and the caller
    reads again.
    """

    __slots__ = ("cnos", "index", "key", "rid", "shape", "stream")

    def __init__(
        self,
        index: SQLiteIndex,
        rid: int,
        stream: int,
        key: str,
        cnos: list[int],
        shape: list[tuple[int, int]],
    ) -> None:
        self.index = index
        self.rid = rid
        self.stream = stream
        self.key = key
        self.cnos = cnos
        self.shape = shape

    def blobs(self) -> list[bytes]:
        if not self.cnos:
            return []
        with errors(self.index.path, "reading the index"):
            rows = self.index._conn.execute(
                "SELECT cno, n, seq0, ts FROM chunks WHERE rid = ? AND stream = ? AND key = ? AND kind = 0 "
                "AND cno BETWEEN ? AND ?",
                (self.rid, self.stream, self.key, self.cnos[0], self.cnos[-1]),
            ).fetchall()
        by_cno = {cno: (n, seq0, ts) for cno, n, seq0, ts in rows}
        out = []
        for cno, (n, seq0) in zip(self.cnos, self.shape, strict=True):
            found = by_cno.get(cno)
            if found is None or found[1] != seq0 or found[0] < n:
                raise IndexChangedError(f"{self.index.path}: {self.key!r} was rewritten while being read")
            out.append(found[2][: n * 8])
        return out

    def load(self) -> NDArray[np.float64]:
        import numpy as np

        blobs = self.blobs()
        if not blobs:
            return np.zeros(0, dtype=np.float64)
        return np.concatenate([np.frombuffer(b, dtype="<f8") for b in blobs])


#: Small logs committed together by ingest_many (one transaction, not one per run).
_BATCH_RUNS: Final = 256


class _Prepared:
    """One slice of one log, read and folded, waiting to be committed."""

    __slots__ = ("at_end", "bytes", "delta", "end", "expected", "path", "project", "reset", "run_id", "stat")

    def __init__(
        self,
        project: str,
        run_id: str,
        path: Path,
        expected: tuple[int, int] | None,
        reset: bool,
        delta: Delta,
        end: int,
        stat: tuple[int, int],
        at_end: bool,
        size: int,
    ) -> None:
        self.project = project
        self.run_id = run_id
        self.path = path
        self.expected = expected
        self.reset = reset
        self.delta = delta
        self.end = end
        self.stat = stat
        self.at_end = at_end
        self.bytes = size

    @property
    def records(self) -> int:
        return self.delta.records


def _stream(name: str) -> int:
    try:
        return STREAMS[name]
    except KeyError:
        from tracker.errors import UsageError

        raise UsageError(f"stream={name!r}: use 'default' or 'events' (alias 'system').") from None
