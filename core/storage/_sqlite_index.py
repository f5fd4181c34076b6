"""The local index: run logs projected into one SQLite file (WAL) for fast reads.

Schema (version :data:`SCHEMA_VERSION`; an index with another version is dropped and
rebuilt, since it is disposable):

* ``meta(key, value)``: ``schema_version`` and the data ``root`` it indexes.
* ``runs``: one row per run log: where reading stopped (``log_offset``, plus the
  file's ``size``/``mtime_ns`` at that moment for a cheap "unchanged?" test), the next
  row numbers, the folded scalars (name, state, host, pid, ...) as columns, and
  ``config``/``summary``/``extra`` as msgpack blobs (``extra``: run record, exit,
  alerts, capture, define_metric, files, artifacts).
* ``chunks``: per ``(run, stream, key, kind)`` numbered chunks of at most
  :data:`~tracker.storage._ingest.CHUNK_POINTS` points. ``kind`` 0 holds numeric
  points as little-endian column blobs (row number and step as int64, stored as
  ``first + stride * i`` when arithmetic; timestamp and value as float64) with the
  chunk's row and step range and min/max/first/last of the values; ``kind`` 1 holds
  other values (strings, bools, lists, media references) as one msgpack array.
* ``keys``: the key catalog per run and stream (counts, min, max, last step).

Ingest reads a log from ``log_offset`` in slices, decodes and builds the columns
outside any lock, then inside ``BEGIN IMMEDIATE`` checks that the stored offset has
not moved (another process may have ingested the same bytes) and writes the chunks
and the new offset in the same transaction.
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
    IndexBackend,
    KeyInfo,
    ProjectInfo,
    RunRecord,
    Series,
    _skip_unreadable,
)
from tracker.storage._format import HEADER_SIZE, LogRead, parse_header, scan
from tracker.storage._ingest import (
    CHUNK_POINTS,
    HISTORY_STREAM,
    OBJECT_CHUNK_POINTS,
    Delta,
    Objects,
    Points,
    Segment,
    chunk_bounds,
    fold,
    pack_ints,
    pack_objects,
    stats,
    unpack_ints,
    unpack_objects,
)
from tracker.storage._replay import RunState
from tracker.storage._sqlite import Database, errors, snapshot, transaction

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["SQLiteIndex"]

SCHEMA_VERSION: Final = "1"
INDEX_NAME: Final = "index.sqlite"
#: Bytes of log read per ingest transaction (a slice ends at a whole frame).
SLICE_BYTES: Final = 64 * 1024 * 1024
_NUM: Final = 0
_OBJ: Final = 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    rid INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    run_id TEXT NOT NULL,
    path TEXT NOT NULL,
    log_offset INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT -1,
    mtime_ns INTEGER NOT NULL DEFAULT -1,
    next_seq INTEGER NOT NULL DEFAULT 0,
    next_sys INTEGER NOT NULL DEFAULT 0,
    name TEXT,
    entity TEXT,
    grp TEXT,
    job_type TEXT,
    tags BLOB,
    notes TEXT,
    sweep_id TEXT,
    created_at REAL,
    state TEXT,
    exit_code INTEGER,
    runtime REAL,
    host TEXT,
    pid INTEGER,
    start_time INTEGER,
    last_time REAL,
    max_step INTEGER,
    sessions INTEGER,
    config BLOB,
    summary BLOB,
    extra BLOB,
    UNIQUE (project, run_id)
);
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
    ts BLOB NOT NULL,
    vals BLOB NOT NULL,
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

_RUN_COLUMNS: Final = (
    "project, run_id, name, entity, grp, job_type, tags, notes, sweep_id, created_at, state, exit_code, "
    "runtime, host, pid, start_time, last_time, next_seq, max_step, sessions, config, summary"
)
_CHUNK_COLUMNS: Final = "n, seq0, seq_stride, seqs, step0, step_stride, steps, ts, vals, is_int"


def _packb(value: Any) -> bytes:
    import msgpack

    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def _unpackb(blob: bytes | None) -> Any:
    if blob is None:
        return None
    import msgpack

    return msgpack.unpackb(blob, raw=False, strict_map_key=False)


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
        if path is None:
            from tracker._settings import index_dir

            path = index_dir(self.root) / INDEX_NAME
        self.path = Path(path)
        self._db = Database(
            self.path, self._setup, ready=self._ready, synchronous="NORMAL", page_size=65536, cache_kib=65536
        )

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
        with errors(self.path, "opening the index"):
            return self._db.conn

    # ---------------------------------------------------------------- ingest
    def log_positions(self, project: str | None = None) -> dict[tuple[str, str], tuple[int, int]]:
        """``(size, mtime_ns)`` of each run log when it was last read to its end."""
        conn = self._conn
        with errors(self.path, "reading the index"):
            if project is None:
                rows = conn.execute("SELECT project, run_id, size, mtime_ns FROM runs").fetchall()
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
        """Index several logs, many small ones per transaction (a first index of 10,000 runs)."""
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
            except CorruptRecordError as exc:
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
            except CorruptRecordError as exc:
                _skip_unreadable(path, exc)

    def _prepare(self, project: str, run_id: str, path: Path) -> _Prepared | None:
        """Read and fold the next slice of a log, outside any lock; None when nothing is new."""
        conn = self._conn
        with errors(self.path, "reading the index"):
            row = conn.execute(
                "SELECT rid, log_offset, size, mtime_ns, next_seq, next_sys, config, summary, extra, "
                "sessions, last_time, max_step FROM runs WHERE project = ? AND run_id = ?",
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
        read = _read_slice(path, offset, SLICE_BYTES)
        if row is None and not read.records:
            return None  # only a header so far: list the run once its run record is there
        state = RunState(keep_rows=False) if row is None or reset else _restore(row)
        next_seq = 0 if row is None or reset else int(row[4])
        next_sys = 0 if row is None or reset else int(row[5])
        delta = fold(read.records, state, next_seq, next_sys)
        # Done when this slice reached the end of what the stat saw: a later append
        # changes size/mtime and triggers another read.
        at_end = read.end >= read.size or read.torn
        expected = None if row is None else (int(row[0]), int(row[1]))
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
            rid = conn.execute(
                "INSERT INTO runs (project, run_id, path) VALUES (?, ?, ?)",
                (prep.project, prep.run_id, str(prep.path)),
            ).lastrowid
            assert rid is not None
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
        import numpy as np

        # A run indexed for the first time has no chunk to extend.
        last = None if new else self._last_chunk(conn, rid, stream, key, _NUM)
        cno = 0
        if last is not None:
            cno = int(last[0])
            if last[1] < CHUNK_POINTS:
                old = _decode_numeric(last[1:])
                ints = None
                if pts.ints is not None or old.ints is not None:
                    ints = np.concatenate(
                        [
                            old.ints if old.ints is not None else np.zeros(len(old), dtype=bool),
                            pts.ints if pts.ints is not None else np.zeros(len(pts), dtype=bool),
                        ]
                    )
                pts = Points(
                    np.concatenate([old.seq, pts.seq]),
                    np.concatenate([old.step, pts.step]),
                    np.concatenate([old.ts, pts.ts]),
                    np.concatenate([old.val, pts.val]),
                    ints,
                )
            else:
                cno += 1
        rows = []
        for a, b in chunk_bounds(len(pts), 0, CHUNK_POINTS):
            rows.append(_numeric_row(rid, stream, key, cno, pts, a, b))
            cno += 1
        conn.executemany(
            "INSERT OR REPLACE INTO chunks VALUES (?,?,?,0,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
        )

    def _append_objects(
        self, conn: sqlite3.Connection, rid: int, stream: int, key: str, objs: Objects, *, new: bool
    ) -> None:
        import numpy as np

        last = None if new else self._last_chunk(conn, rid, stream, key, _OBJ)
        cno = 0
        if last is not None:
            cno = int(last[0])
            if last[1] < OBJECT_CHUNK_POINTS:
                old = _decode_objects(last[1:])
                objs = Objects(
                    np.concatenate([old.seq, objs.seq]),
                    np.concatenate([old.step, objs.step]),
                    np.concatenate([old.ts, objs.ts]),
                    old.values + objs.values,
                )
            else:
                cno += 1
        rows = []
        for a, b in chunk_bounds(len(objs), 0, OBJECT_CHUNK_POINTS):
            rows.append(_object_row(rid, stream, key, cno, objs, a, b))
            cno += 1
        conn.executemany(
            "INSERT OR REPLACE INTO chunks VALUES (?,?,?,1,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
        )

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
            if kind == _NUM:
                pts = _decode_numeric(cols)
                keep = pts.step <= step
                if keep.any():
                    kept = Points(
                        pts.seq[keep],
                        pts.step[keep],
                        pts.ts[keep],
                        pts.val[keep],
                        None if pts.ints is None else pts.ints[keep],
                    )
                    conn.execute(
                        "INSERT INTO chunks VALUES (?,?,?,0,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        _numeric_row(rid, HISTORY_STREAM, key, cno, kept, 0, len(kept)),
                    )
            else:
                objs = _decode_objects(cols)
                idx = [i for i, s in enumerate(objs.step.tolist()) if s <= step]
                if idx:
                    kept_objs = Objects(
                        objs.seq[idx], objs.step[idx], objs.ts[idx], [objs.values[i] for i in idx]
                    )
                    conn.execute(
                        "INSERT INTO chunks VALUES (?,?,?,1,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        _object_row(rid, HISTORY_STREAM, key, cno, kept_objs, 0, len(kept_objs)),
                    )

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
        st = delta.state
        meta = st.meta
        exit_rec = st.exit or {}
        tags = meta.get("tags") or []
        extra = {
            "meta": meta,
            "exit": st.exit,
            "alerts": st.alerts,
            "capture": st.capture,
            "metrics": st.metrics,
            "files": st.files,
            "artifacts": st.artifacts,
        }
        pid = meta.get("pid")
        start_time = meta.get("start_time")
        conn.execute(
            "UPDATE runs SET log_offset = ?, size = ?, mtime_ns = ?, next_seq = ?, next_sys = ?, "
            "name = ?, entity = ?, grp = ?, job_type = ?, tags = ?, notes = ?, sweep_id = ?, "
            "created_at = ?, state = ?, exit_code = ?, runtime = ?, host = ?, pid = ?, "
            "start_time = ?, last_time = ?, max_step = ?, sessions = ?, config = ?, summary = ?, "
            "extra = ? WHERE rid = ?",
            (
                offset,
                stat[0],
                stat[1],
                delta.next_seq,
                delta.next_sys,
                meta.get("name"),
                meta.get("entity"),
                meta.get("group"),
                meta.get("job_type"),
                _packb(list(tags)),
                meta.get("notes"),
                meta.get("sweep_id"),
                float(meta.get("created") or 0.0),
                st.state,
                exit_rec.get("exit_code"),
                exit_rec.get("runtime"),
                meta.get("host"),
                int(pid) if isinstance(pid, int) else None,
                int(start_time) if isinstance(start_time, int) else None,
                st.last_time,
                st.max_step,
                st.sessions,
                _packb(st.config),
                _packb(st.summary),
                _packb(extra),
                rid,
            ),
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
        return [_record(r) for r in rows]

    def run(self, project: str, run_id: str) -> RunRecord | None:
        """One indexed run, or None."""
        with errors(self.path, "reading the index"):
            row = self._conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE project = ? AND run_id = ?", (project, run_id)
            ).fetchone()
        return None if row is None else _record(row)

    def details(self, project: str, run_id: str) -> dict[str, Any]:
        """Alerts, capture, define_metric records, files and artifacts of a run."""
        with errors(self.path, "reading the index"):
            row = self._conn.execute(
                "SELECT extra FROM runs WHERE project = ? AND run_id = ?", (project, run_id)
            ).fetchone()
        extra = _unpackb(row[0]) if row is not None else None
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
        sql = (
            f"SELECT c.key, c.kind, {', '.join('c.' + c.strip() for c in _CHUNK_COLUMNS.split(','))} "
            "FROM chunks c JOIN runs r ON r.rid = c.rid "
            "WHERE r.project = ? AND r.run_id = ? AND c.stream = ? "
        )
        params: list[Any] = [project, run_id, _stream(stream)]
        if min_seq is not None:
            sql += "AND c.seq_max >= ? "
            params.append(min_seq)
        if max_seq is not None:
            sql += "AND c.seq_min < ? "
            params.append(max_seq)
        found: dict[str, tuple[list[Any], list[Objects]]] = {}
        with errors(self.path, "reading the index"), snapshot(conn):
            # Bounded IN lists: SQLite limits the number of host parameters.
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                query = sql + f"AND c.key IN ({','.join('?' * len(part))}) ORDER BY c.key, c.kind, c.cno"
                for key, kind, *cols in conn.execute(query, [*params, *part]):
                    nums, objs = found.setdefault(key, ([], []))
                    if kind == _NUM:
                        nums.append(cols)
                    else:
                        objs.append(_decode_objects(cols))
        out: dict[str, Series] = {}
        for key in wanted:
            if key in found:
                series = _series(*found[key])
                if min_seq is not None or max_seq is not None:
                    series = _slice(series, min_seq, max_seq)
                if len(series):
                    out[key] = series
        return out


# --------------------------------------------------------------------------- helpers
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


def _read_slice(path: Path, offset: int, limit: int) -> LogRead:
    """Whole frames of ``path`` from ``offset``, at most ``limit`` bytes unless one frame is bigger."""
    p = str(path)
    try:
        with open(p, "rb") as f:
            if offset <= 0:
                parse_header(f.read(HEADER_SIZE), p)
                offset = HEADER_SIZE
            f.seek(0, os.SEEK_END)
            size = f.tell()
            while True:
                f.seek(offset)
                data = f.read(limit)
                out = scan(data, 0)
                if out.records or len(data) < limit:
                    break
                limit *= 2  # a single frame larger than the slice
    except FileNotFoundError as exc:
        raise StorageError(f"run log {p} does not exist", path=p) from exc
    except CorruptRecordError:
        raise
    except OSError as exc:
        raise StorageError(f"cannot read run log {p}: {exc}", path=p) from exc
    out.records = [(offset + o, r) for o, r in out.records]
    out.end += offset
    out.size = max(size, offset + len(data))
    # A frame cut by the slice limit is not a torn tail: only the file's end can be.
    out.torn = out.torn and len(data) < limit
    return out


def _restore(row: tuple[Any, ...]) -> RunState:
    state = RunState(keep_rows=False)
    state.config = _unpackb(row[6]) or {}
    state.summary = _unpackb(row[7]) or {}
    extra = _unpackb(row[8]) or {}
    state.meta = extra.get("meta") or {}
    state.exit = extra.get("exit")
    state.alerts = extra.get("alerts") or []
    state.capture = extra.get("capture") or {}
    state.metrics = extra.get("metrics") or {}
    state.files = extra.get("files") or []
    state.artifacts = extra.get("artifacts") or []
    state.sessions = int(row[9] or 0)
    state.last_time = float(row[10] or 0.0)
    state.max_step = int(row[11] if row[11] is not None else -1)
    return state


def _record(row: tuple[Any, ...]) -> RunRecord:
    (project, run_id, name, entity, grp, job_type, tags, notes, sweep_id, created_at, state,
     exit_code, runtime, host, pid, start_time, last_time, next_seq, max_step, sessions, config,
     summary) = row  # fmt: skip
    return RunRecord(
        project=project,
        id=run_id,
        name=name or run_id,
        entity=entity,
        group=grp,
        job_type=job_type,
        tags=tuple(_unpackb(tags) or ()),
        notes=notes,
        sweep_id=sweep_id,
        created_at=float(created_at or 0.0),
        state=state or "running",
        exit_code=exit_code,
        runtime=runtime,
        host=host,
        pid=pid,
        start_time=start_time,
        last_time=float(last_time or 0.0),
        rows_logged=int(next_seq or 0),
        max_step=int(max_step if max_step is not None else -1),
        sessions=int(sessions or 0),
        config=_unpackb(config) or {},
        summary=_unpackb(summary) or {},
    )


def _numeric_row(rid: int, stream: int, key: str, cno: int, p: Points, a: int, b: int) -> tuple[Any, ...]:
    seq = p.seq[a:b]
    step = p.step[a:b]
    val = p.val[a:b]
    seq0, seq_stride, seqs = pack_ints(seq)
    step0, step_stride, steps = pack_ints(step)
    lo, hi, first, last = stats(val)
    is_int = int(p.ints is not None and bool(p.ints[a:b].all()))
    return (
        rid, stream, key, cno, b - a, int(seq[0]), int(seq[-1]), int(step.min()), int(step.max()), is_int,
        lo, hi, first, last, seq0, seq_stride, seqs, step0, step_stride, steps,
        p.ts[a:b].astype("<f8").tobytes(), val.astype("<f8").tobytes(),
    )  # fmt: skip


def _object_row(rid: int, stream: int, key: str, cno: int, o: Objects, a: int, b: int) -> tuple[Any, ...]:
    seq = o.seq[a:b]
    step = o.step[a:b]
    seq0, seq_stride, seqs = pack_ints(seq)
    step0, step_stride, steps = pack_ints(step)
    return (
        rid, stream, key, cno, b - a, int(seq[0]), int(seq[-1]), int(step.min()), int(step.max()), 0,
        None, None, None, None, seq0, seq_stride, seqs, step0, step_stride, steps,
        o.ts[a:b].astype("<f8").tobytes(), pack_objects(o.values[a:b]),
    )  # fmt: skip


def _decode_numeric(cols: Any) -> Points:
    import numpy as np

    n, seq0, seq_stride, seqs, step0, step_stride, steps, ts, vals, is_int = cols
    return Points(
        unpack_ints(seq0, seq_stride, seqs, n),
        unpack_ints(step0, step_stride, steps, n),
        np.frombuffer(ts, dtype="<f8"),
        np.frombuffer(vals, dtype="<f8"),
        np.ones(n, dtype=bool) if is_int else None,
    )


def _decode_objects(cols: Any) -> Objects:
    import numpy as np

    n, seq0, seq_stride, seqs, step0, step_stride, steps, ts, vals, _is_int = cols
    return Objects(
        unpack_ints(seq0, seq_stride, seqs, n),
        unpack_ints(step0, step_stride, steps, n),
        np.frombuffer(ts, dtype="<f8"),
        unpack_objects(vals),
    )


def _series(chunks: list[Any], objs: list[Objects]) -> Series:
    """Assemble a key's chunks; numeric ``_step``/timestamps are decoded only when used."""
    import numpy as np

    if not objs:
        values = np.concatenate([np.frombuffer(c[8], dtype="<f8") for c in chunks])
        is_int = all(c[9] for c in chunks)
        seq_range = _contiguous(chunks)
        seq = None if seq_range else np.concatenate([unpack_ints(c[1], c[2], c[3], c[0]) for c in chunks])

        def step() -> NDArray[np.int64]:
            return np.concatenate([unpack_ints(c[4], c[5], c[6], c[0]) for c in chunks])

        def ts() -> NDArray[np.float64]:
            return np.concatenate([np.frombuffer(c[7], dtype="<f8") for c in chunks])

        return Series(seq, step, ts, values, is_int, seq_range)
    # Mixed or non-numeric: merge both kinds by row number into Python values.
    nums = [_decode_numeric(c) for c in chunks]
    seq = np.concatenate([p.seq for p in nums] + [o.seq for o in objs])
    order = np.argsort(seq, kind="stable")
    merged: list[Any] = []
    for p in nums:
        merged.extend(int(v) for v in p.val.tolist()) if p.ints is not None else merged.extend(p.val.tolist())
    for o in objs:
        merged.extend(o.values)
    step_all = np.concatenate([p.step for p in nums] + [o.step for o in objs])
    ts_all = np.concatenate([p.ts for p in nums] + [o.ts for o in objs])
    return Series(seq[order], step_all[order], ts_all[order], [merged[i] for i in order.tolist()], False)


def _contiguous(chunks: list[Any]) -> tuple[int, int] | None:
    """``(first, stop)`` when the chunks' row numbers are one unbroken ``range``."""
    first = chunks[0][1]
    expect = first
    for n, seq0, stride, blob in (c[:4] for c in chunks):
        if seq0 != expect or blob is not None or (stride != 1 and n > 1):
            return None
        expect = seq0 + n
    return int(first), int(expect)


def _slice(series: Series, min_seq: int | None, max_seq: int | None) -> Series:
    import numpy as np

    lo_seq = -(2**62) if min_seq is None else min_seq
    hi_seq = 2**62 if max_seq is None else max_seq
    values = series.values
    if series.seq_range is not None:
        first, stop = series.seq_range
        i = min(max(lo_seq - first, 0), stop - first)
        j = max(min(hi_seq - first, stop - first), i)
        if (i, j) == (0, stop - first):
            return series
        whole = series
        return Series(
            None,
            lambda: whole.step[i:j],
            lambda: whole.ts[i:j],
            values[i:j],
            series.is_int,
            (first + i, first + j),
        )
    seq = series.seq
    keep = (seq >= lo_seq) & (seq < hi_seq)
    if keep.all():
        return series
    idx = np.flatnonzero(keep)
    sliced: Any = values[idx] if not isinstance(values, list) else [values[k] for k in idx.tolist()]
    return Series(seq[idx], series.step[idx], series.ts[idx], sliced, series.is_int)
