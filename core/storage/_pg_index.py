"""The team server's index: run logs projected into PostgreSQL, shared by server processes.

Same projection as :class:`~tracker.storage._sqlite_index.SQLiteIndex`, row for row
(the codecs in :mod:`tracker.storage._sqlite_rows` and the decoding in
:mod:`tracker.storage._ingest` are shared), in the ``index_*`` tables of
:mod:`tracker.storage._pg_migrations`; reads return the same results.

Ingest reads a log slice and folds it outside any transaction, then commits it in one
transaction that first takes a transaction-scoped advisory lock on the run
(``pg_advisory_xact_lock(INDEX_LOCK_CLASS, hashtext(project/run))``), re-reads the
stored offset and discards the slice when another process (or host) moved it
meanwhile: every record lands exactly once however many servers refresh the same
run. Several runs committed together (:meth:`PostgresIndex.ingest_many`) take their
locks in sorted order, so two such batches cannot deadlock. New chunk rows go in with
one binary ``COPY`` per segment; the last chunk of a key is looked up for all keys of
a segment in one query, and a chunk that is extended is deleted and written again.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracker.errors import CorruptRecordError, StorageError
from tracker.storage._base import (
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
from tracker.storage._ingest import HISTORY_STREAM, Segment, fold
from tracker.storage._pg import INDEX_LOCK_CLASS, Connections, errors, redact
from tracker.storage._replay import RunState
from tracker.storage._sqlite_index import _BATCH_RUNS, SLICE_BYTES, _Prepared, _stream
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

    from tracker.storage._pg import Conn

__all__ = ["PostgresIndex"]

_CHUNK_COLUMNS: Final = "n, seq0, seq_stride, seqs, step0, step_stride, steps, ts, vals, is_int"
# In the order numeric_row/object_row build a row.
_COPY: Final = (
    "COPY index_chunks (rid, stream, key, kind, cno, n, seq_min, seq_max, step_min, step_max, is_int, "
    "vmin, vmax, vfirst, vlast, seq0, seq_stride, seqs, step0, step_stride, steps, ts, vals) "
    "FROM STDIN (FORMAT BINARY)"
)
_INSERT: Final = (
    "INSERT INTO index_chunks (rid, stream, key, kind, cno, n, seq_min, seq_max, step_min, step_max, is_int, "
    "vmin, vmax, vfirst, vlast, seq0, seq_stride, seqs, step0, step_stride, steps, ts, vals) "
    f"VALUES ({', '.join(['%s'] * 23)})"
)
#: Slices of at most this many points are committed in pipeline mode with INSERTs.
_PIPELINE_POINTS: Final = 20_000
_COPY_TYPES: Final = [
    "int8", "int2", "text", "int2", "int4", "int4", "int8", "int8", "int8", "int8", "int2",
    "float8", "float8", "float8", "float8", "int8", "int8", "bytea", "int8", "int8", "bytea",
    "bytea", "bytea",
]  # fmt: skip


class PostgresIndex(IndexBackend):
    """The :class:`~tracker.storage._base.IndexBackend` of a team server, in PostgreSQL.

    Args:
        root: The data root whose run logs are indexed (the same path for every server
            process sharing the database).
        url: ``postgresql://user:password@host:port/dbname`` of a database migrated with
            ``tracker server migrate``.

    Raises:
        StorageError: On first use, when the database cannot be reached, its schema is
            not the one this tracker uses, or it indexes another data root.

    Example:
        >>> index = PostgresIndex(root, "postgresql://tracker@127.0.0.1/tracker")  # doctest: +SKIP
        >>> index.refresh("demo")  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike[str], url: str) -> None:
        super().__init__(root)
        self.url = url
        self._conns = Connections(url)
        self._root_checked = False

    def close(self) -> None:
        """Close this process's connections."""
        self._conns.close()

    @property
    def _conn(self) -> Conn:
        conn = self._conns.conn
        if not self._root_checked:
            self._check_root(conn)
            self._root_checked = True
        return conn

    def _check_root(self, conn: Conn) -> None:
        here = str(self.root.absolute())
        with errors(self.url, "reading the index"):
            conn.execute(
                "INSERT INTO index_meta (key, value) VALUES ('root', %s) ON CONFLICT (key) DO NOTHING",
                (here,),
            )
            row = conn.execute("SELECT value FROM index_meta WHERE key = 'root'").fetchone()
        if row is not None and row[0] != here:
            raise StorageError(
                f"{redact(self.url)} indexes the run logs under {row[0]}, not {here}: every server "
                "sharing a database must use the same data root (or use another database).",
                path=here,
            )

    # ---------------------------------------------------------------- ingest
    def log_positions(
        self, project: str | None = None, run_id: str | None = None
    ) -> dict[tuple[str, str], tuple[int, int]]:
        """``(size, mtime_ns)`` of each run log when it was last read to its end."""
        sql = "SELECT project, run_id, size, mtime_ns FROM index_runs"
        params: tuple[str, ...] = ()
        if project is not None and run_id is not None:
            sql += " WHERE project = %s AND run_id = %s"
            params = (project, run_id)
        elif project is not None:
            sql += " WHERE project = %s"
            params = (project,)
        conn = self._conn
        with errors(self.url, "reading the index"):
            rows = conn.execute(sql, params).fetchall()
        return {(p, r): (int(s), int(m)) for p, r, s, m in rows}

    @staticmethod
    def _lock_run(conn: Conn, project: str, run_id: str) -> None:
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s::int4, hashtext(%s))", (INDEX_LOCK_CLASS, f"{project}/{run_id}")
        )

    def forget(self, project: str, run_id: str) -> None:
        """Drop a run whose log disappeared (its chunks and keys go with it)."""
        conn = self._conn
        with errors(self.url, "updating the index"), conn.transaction():
            self._lock_run(conn, project, run_id)
            conn.execute("DELETE FROM index_runs WHERE project = %s AND run_id = %s", (project, run_id))

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
            conn = self._conn
            with errors(self.url, "updating the index"), conn.transaction():
                committed = self._commit(conn, prep)
            if committed:
                total += prep.records
                if prep.at_end:
                    return total

    def ingest_many(self, items: list[tuple[str, str, Path]]) -> None:
        """Index several logs, many small ones per transaction (a first index of a big project)."""
        batch: list[_Prepared] = []
        size = 0
        later: list[tuple[str, str, Path]] = []

        def flush() -> None:
            nonlocal size
            if not batch:
                return
            # Sorted: every process takes the runs' locks in the same order (no deadlock).
            batch.sort(key=lambda p: (p.project, p.run_id))
            conn = self._conn
            with errors(self.url, "updating the index"), conn.transaction():
                for prep in batch:
                    if not self._commit(conn, prep) or not prep.at_end:
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
        """Read and fold the next slice of a log, outside any transaction; None when nothing is new."""
        conn = self._conn
        with errors(self.url, "reading the index"):
            row = conn.execute(
                "SELECT rid, log_offset, size, mtime_ns, next_seq, next_sys, record, extra "
                "FROM index_runs WHERE project = %s AND run_id = %s",
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
        if row is not None and (int(row[2]), int(row[3])) == stat:
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
        at_end = read.end >= read.size or read.torn
        expected = None if row is None else (int(row[0]), int(row[1]))
        if read.deferred:  # damaged bytes a live writer may still be writing: look again next time
            stat = (-1, -1)
        return _Prepared(
            project, run_id, path, expected, reset, delta, read.end, stat, at_end, read.end - offset
        )

    def _commit(self, conn: Conn, prep: _Prepared) -> bool:
        """Store a prepared slice; False when another process moved the offset meanwhile.

        Runs inside the caller's transaction; holds the run's lock until it ends. A small
        slice (the common case: a live run's last seconds) goes through pipeline mode
        with plain INSERTs, so that its statements share a few round trips; a large one
        uses COPY, which pipeline mode does not support.
        """
        points = sum(
            len(v) for op in prep.delta.ops if not isinstance(op, int) for part in (op.numeric, op.objects)
            for v in part.values()
        )  # fmt: skip
        small = points <= _PIPELINE_POINTS and _pipelines()
        with conn.pipeline() if small else contextlib.nullcontext():
            return self._commit_slice(conn, prep, small)

    def _commit_slice(self, conn: Conn, prep: _Prepared, small: bool) -> bool:
        self._lock_run(conn, prep.project, prep.run_id)
        now = conn.execute(
            "SELECT rid, log_offset FROM index_runs WHERE project = %s AND run_id = %s",
            (prep.project, prep.run_id),
        ).fetchone()
        if (None if now is None else (int(now[0]), int(now[1]))) != prep.expected:
            return False  # someone else indexed these bytes: look again
        if now is None:
            found = conn.execute(
                "INSERT INTO index_runs (project, run_id, path) VALUES (%s, %s, %s) RETURNING rid",
                (prep.project, prep.run_id, str(prep.path)),
            ).fetchone()
            assert found is not None
            rid = int(found[0])
        else:
            rid = int(now[0])
            if prep.reset:
                conn.execute("DELETE FROM index_chunks WHERE rid = %s", (rid,))
                conn.execute("DELETE FROM index_keys WHERE rid = %s", (rid,))
        delta = prep.delta
        if delta.ops:
            self._apply(conn, rid, delta.ops, new=now is None or prep.reset, insert=small)
            self._update_keys(conn, rid)
        stat = prep.stat if prep.at_end else (-1, -1)
        created_at, record, extra = run_blobs(delta)
        conn.execute(
            "UPDATE index_runs SET log_offset = %s, size = %s, mtime_ns = %s, next_seq = %s, next_sys = %s, "
            "created_at = %s, record = %s, extra = %s WHERE rid = %s",
            (prep.end, stat[0], stat[1], delta.next_seq, delta.next_sys, created_at, record, extra, rid),
        )
        return True

    def _apply(self, conn: Conn, rid: int, ops: list[Segment | int], *, new: bool, insert: bool) -> None:
        for op in ops:
            if isinstance(op, int):
                self._rewind(conn, rid, op, insert)
                new = False
                continue
            wanted = [(s, k, NUM) for s, k in op.numeric] + [(s, k, OBJ) for s, k in op.objects]
            # A run indexed for the first time has no chunk to extend.
            lasts = {} if new else self._last_chunks(conn, rid, wanted)
            rows: list[tuple[Any, ...]] = []
            replaced: list[tuple[int, str, int, int]] = []
            items: list[tuple[int, str, int, Any]] = [(s, k, NUM, p) for (s, k), p in op.numeric.items()]
            items += [(s, k, OBJ, o) for (s, k), o in op.objects.items()]
            for stream, key, kind, points in items:
                last = lasts.get((stream, key, kind))
                added = append_rows(rid, stream, key, kind, last, points)
                if last is not None and added and added[0][4] == last[0]:
                    replaced.append((stream, key, kind, int(last[0])))
                rows += added
            if replaced:
                conn.execute(
                    "DELETE FROM index_chunks c USING unnest(%s::int2[], %s::text[], %s::int2[], %s::int4[]) "
                    "AS x(stream, key, kind, cno) WHERE c.rid = %s AND c.stream = x.stream AND c.key = x.key "
                    "AND c.kind = x.kind AND c.cno = x.cno",
                    ([r[0] for r in replaced], [r[1] for r in replaced], [r[2] for r in replaced],
                     [r[3] for r in replaced], rid),
                )  # fmt: skip
            self._write(conn, rows, insert)
            new = False

    @staticmethod
    def _write(conn: Conn, rows: list[tuple[Any, ...]], insert: bool) -> None:
        if not rows:
            return
        if insert:
            conn.cursor().executemany(_INSERT, rows)
            return
        with conn.cursor().copy(_COPY) as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                copy.write_row(row)

    @staticmethod
    def _last_chunks(
        conn: Conn, rid: int, wanted: list[tuple[int, str, int]]
    ) -> dict[tuple[int, str, int], tuple[Any, ...]]:
        """The last chunk (``cno, *chunk columns``) of each ``(stream, key, kind)``, in one query."""
        if not wanted:
            return {}
        rows = conn.execute(
            f"SELECT x.stream, x.key, x.kind, c.cno, c.{_CHUNK_COLUMNS.replace(', ', ', c.')} "
            "FROM unnest(%s::int2[], %s::text[], %s::int2[]) AS x(stream, key, kind) "
            "CROSS JOIN LATERAL (SELECT * FROM index_chunks i WHERE i.rid = %s AND i.stream = x.stream "
            "AND i.key = x.key AND i.kind = x.kind ORDER BY i.cno DESC LIMIT 1) c",
            ([w[0] for w in wanted], [w[1] for w in wanted], [w[2] for w in wanted], rid),
            binary=True,
        ).fetchall()
        return {(int(r[0]), r[1], int(r[2])): tuple(r[3:]) for r in rows}

    def _rewind(self, conn: Conn, rid: int, step: int, insert: bool) -> None:
        """Hide history points with ``_step > step`` logged so far (``resume_from``)."""
        rows = conn.execute(
            f"DELETE FROM index_chunks WHERE rid = %s AND stream = %s AND step_max > %s "
            f"RETURNING key, kind, cno, {_CHUNK_COLUMNS}",
            (rid, HISTORY_STREAM, step),
            binary=True,
        ).fetchall()
        kept = []
        for key, kind, cno, *cols in rows:
            row = rewound_row(rid, HISTORY_STREAM, key, kind, cno, cols, step)
            if row is not None:
                kept.append(row)
        self._write(conn, kept, insert)

    @staticmethod
    def _update_keys(conn: Conn, rid: int) -> None:
        conn.execute("DELETE FROM index_keys WHERE rid = %s", (rid,))
        conn.execute(
            "INSERT INTO index_keys (rid, stream, key, count, numeric, is_int, vmin, vmax, last_step) "
            "SELECT rid, stream, key, SUM(n), SUM(CASE WHEN kind = 0 THEN n ELSE 0 END), "
            "MIN(CASE WHEN kind = 0 THEN is_int ELSE 0 END), MIN(vmin), MAX(vmax), MAX(step_max) "
            "FROM index_chunks WHERE rid = %s GROUP BY rid, stream, key",
            (rid,),
        )

    # ---------------------------------------------------------------- reads
    def projects(self) -> list[ProjectInfo]:
        """Indexed projects with their run counts."""
        conn = self._conn
        with errors(self.url, "reading the index"):
            rows = conn.execute(
                "SELECT project, COUNT(*), MAX(created_at) FROM index_runs "
                'GROUP BY project ORDER BY project COLLATE "C"'
            ).fetchall()
        return [ProjectInfo(p, int(n), last) for p, n, last in rows]

    def runs(self, project: str) -> list[RunRecord]:
        """Every indexed run of ``project``."""
        conn = self._conn
        with errors(self.url, "reading the index"):
            rows = conn.execute(
                "SELECT project, run_id, record FROM index_runs WHERE project = %s", (project,), binary=True
            ).fetchall()
        return [run_record(r) for r in rows]

    def run(self, project: str, run_id: str) -> RunRecord | None:
        """One indexed run, or None."""
        conn = self._conn
        with errors(self.url, "reading the index"):
            row = conn.execute(
                "SELECT project, run_id, record FROM index_runs WHERE project = %s AND run_id = %s",
                (project, run_id),
                binary=True,
            ).fetchone()
        return None if row is None else run_record(row)

    def details(self, project: str, run_id: str) -> dict[str, Any]:
        """Alerts, capture, define_metric records, files and artifacts of a run."""
        conn = self._conn
        with errors(self.url, "reading the index"):
            row = conn.execute(
                "SELECT extra FROM index_runs WHERE project = %s AND run_id = %s",
                (project, run_id),
                binary=True,
            ).fetchone()
        extra = unpackb(row[0]) if row is not None else None
        return extra if isinstance(extra, dict) else {}

    def keys(self, project: str, run_id: str, stream: str = "default") -> dict[str, KeyInfo]:
        """The key catalog of one stream of a run."""
        conn = self._conn
        with errors(self.url, "reading the index"):
            rows = conn.execute(
                "SELECT k.key, k.count, k.numeric, k.is_int, k.vmin, k.vmax, k.last_step FROM index_keys k "
                "JOIN index_runs r ON r.rid = k.rid WHERE r.project = %s AND r.run_id = %s AND k.stream = %s "
                'ORDER BY k.key COLLATE "C"',
                (project, run_id, _stream(stream)),
            ).fetchall()
        return {
            k: KeyInfo(k, int(c), int(n), bool(i), lo, hi, None if last is None else int(last))
            for k, c, n, i, lo, hi, last in rows
        }

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
        stream_no = _stream(stream)
        # Numeric timestamps are fetched on first use only (see _Timestamps).
        sql = (
            "SELECT c.key, c.kind, c.rid, c.cno, c.n, c.seq0, c.seq_stride, c.seqs, c.step0, c.step_stride, "
            "c.steps, CASE WHEN c.kind = 1 THEN c.ts END, c.vals, c.is_int "
            "FROM index_chunks c JOIN index_runs r ON r.rid = c.rid "
            "WHERE r.project = %s AND r.run_id = %s AND c.stream = %s AND c.key = ANY(%s::text[]) "
        )
        params: list[Any] = [project, run_id, stream_no, wanted]
        if min_seq is not None:
            sql += "AND c.seq_max >= %s "
            params.append(min_seq)
        if max_seq is not None:
            sql += "AND c.seq_min < %s "
            params.append(max_seq)
        sql += "ORDER BY c.key, c.kind, c.cno"
        found: dict[str, tuple[list[Any], list[int], list[Any]]] = {}
        rid = -1
        conn = self._conn
        with errors(self.url, "reading the index"):
            rows = conn.execute(sql, params, binary=True).fetchall()
        for key, kind, chunk_rid, cno, *cols in rows:
            rid = int(chunk_rid)
            nums, cnos, objs = found.setdefault(key, ([], [], []))
            if kind == NUM:
                nums.append(cols)
                cnos.append(int(cno))
            else:
                objs.append(decode_objects(cols))
        out: dict[str, Series] = {}
        for key in wanted:
            if key in found:
                nums, cnos, objs = found[key]
                stamps = _Timestamps(self, rid, stream_no, key, cnos, [(int(c[0]), int(c[1])) for c in nums])
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
        # One statement (one snapshot): numeric chunks in the step range, plus every
        # non-numeric chunk, which marks its key mixed wherever it lies.
        vals_sql = "CASE WHEN c.kind = 0 THEN c.vals END" if values else "NULL"
        sql = (
            "SELECT c.key, c.kind, c.cno, c.n, c.step_min, c.step_max, c.step0, c.step_stride, c.steps, "
            f"c.vmin, c.vmax, c.vfirst, c.vlast, {vals_sql} "
            "FROM index_chunks c JOIN index_runs r ON r.rid = c.rid "
            "WHERE r.project = %s AND r.run_id = %s AND c.stream = %s AND c.key = ANY(%s::text[]) "
        )
        params: list[Any] = [project, run_id, _stream(stream), wanted]
        cond = []
        if step_min is not None:
            cond.append("c.step_max >= %s")
            params.append(float(step_min))
        if step_max is not None:
            cond.append("c.step_min <= %s")
            params.append(float(step_max))
        if cond:
            sql += f"AND (c.kind = {OBJ} OR ({' AND '.join(cond)})) "
        sql += "ORDER BY c.key, c.kind, c.cno"
        conn = self._conn
        with errors(self.url, "reading the index"):
            rows = conn.execute(sql, params, binary=True).fetchall()
        found: dict[str, list[ChunkStats]] = {}
        mixed: set[str] = set()
        for key, kind, cno, n, smin, smax, step0, stride, steps, vmin, vmax, first, last, vals in rows:
            if kind != NUM:
                mixed.add(key)
                continue
            n = int(n)
            found.setdefault(key, []).append(
                ChunkStats(
                    int(cno),
                    n,
                    int(smin),
                    int(smax),
                    int(step0),
                    int(stride),
                    steps,
                    vmin,
                    vmax,
                    first,
                    last,
                    vals if vals is None or len(vals) == n * 8 else vals[: n * 8],
                )
            )
        return {k: v for k, v in found.items() if k not in mixed}


@functools.cache
def _pipelines() -> bool:
    """Whether the libpq in use supports pipeline mode (14 or newer)."""
    import psycopg

    return bool(psycopg.Pipeline.is_supported())


class _Timestamps:
    """Loads the timestamps of a key's numeric chunks when first needed (see the SQLite index).

    Each chunk must still start at the same row and hold at least as many points as
    when its values were read; anything else means a rewind or rebuild rewrote the key
    in between: IndexChangedError, and the caller reads again.
    """

    __slots__ = ("cnos", "index", "key", "rid", "shape", "stream")

    def __init__(
        self,
        index: PostgresIndex,
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
        conn = self.index._conn
        with errors(self.index.url, "reading the index"):
            rows = conn.execute(
                "SELECT cno, n, seq0, ts FROM index_chunks WHERE rid = %s AND stream = %s AND key = %s "
                "AND kind = 0 AND cno BETWEEN %s AND %s",
                (self.rid, self.stream, self.key, self.cnos[0], self.cnos[-1]),
                binary=True,
            ).fetchall()
        by_cno = {int(cno): (int(n), int(seq0), ts) for cno, n, seq0, ts in rows}
        out = []
        for cno, (n, seq0) in zip(self.cnos, self.shape, strict=True):
            found = by_cno.get(cno)
            if found is None or found[1] != seq0 or found[0] < n:
                raise IndexChangedError(
                    f"{redact(self.index.url)}: {self.key!r} was rewritten while being read"
                )
            out.append(bytes(found[2][: n * 8]))
        return out

    def load(self) -> NDArray[np.float64]:
        import numpy as np

        blobs = self.blobs()
        if not blobs:
            return np.zeros(0, dtype=np.float64)
        return np.concatenate([np.frombuffer(b, dtype="<f8") for b in blobs])
