"""The index over SQL, written once: ingest (prepare, commit, batches), rewinds and reads.

:class:`SQLIndex` holds everything the SQLite index (:mod:`tracker.storage._sqlite_index`)
and the PostgreSQL one (:mod:`tracker.storage._pg_index`) do alike, with statements written
once and rendered by their :class:`~tracker.storage._dialect.Dialect`. A backend supplies its
connection, error mapping and transactions, and the few steps whose SQL differs in more than
spelling: numbering a new run, finding the last chunk of keys, writing chunk rows (SQLite's
``INSERT OR REPLACE``, PostgreSQL's COPY or pipelined INSERTs) and taking the chunks a rewind
cuts.

Ingest reads a log slice and folds it outside any transaction (:meth:`SQLIndex._prepare`),
then stores it in one transaction (:meth:`SQLIndex._store`) that re-reads the stored offset
and discards the slice when another process moved it meanwhile: every record lands exactly
once however many processes refresh the same run. Row codecs live in
:mod:`tracker.storage._rows`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

from tracker.errors import CorruptRecordError, StorageError
from tracker.storage._base import (
    ChunkStats,
    IndexBackend,
    KeyInfo,
    ProjectInfo,
    RunRecord,
    Series,
)
from tracker.storage._discovery import _skip_unreadable
from tracker.storage._format import HEADER_SIZE
from tracker.storage._ingest import HISTORY_STREAM, Objects, Segment, fold
from tracker.storage._replay import RunState
from tracker.storage._rows import (
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
from tracker.storage._sql_parts import _Prepared, _stream, _Timestamps

if TYPE_CHECKING:
    from tracker.storage._dialect import Dialect

__all__: list[str] = []

#: Bytes of log read per ingest transaction (a slice ends at a whole frame). Small, so that
#: a big upload is indexed in many short steps: other runs' writes get the write lock
#: between them, and each step's decoded records (and the garbage collection passes over
#: them, which hold the GIL) stay small enough not to stall the server's other requests.
SLICE_BYTES: Final = 2 * 1024 * 1024
#: Small logs committed together by ingest_many (one transaction, not one per run).
_BATCH_RUNS: Final = 256

#: The chunk columns a reader decodes (``_rows.decode_numeric``), in that order.
CHUNK_COLUMNS: Final = "n, seq0, seq_stride, seqs, step0, step_stride, steps, ts, vals, is_int"
#: Every chunk column, in the order ``numeric_row``/``object_row`` build a row. Values come
#: before timestamps in a row, so that reading values skips the timestamps' overflow pages.
ROW_COLUMNS: Final = (
    "rid, stream, key, kind, cno, n, seq_min, seq_max, step_min, step_max, is_int, "
    "vmin, vmax, vfirst, vlast, seq0, seq_stride, seqs, step0, step_stride, steps, ts, vals"
)
_RUN_ROW: Final = (
    "SELECT rid, log_offset, size, mtime_ns, next_seq, next_sys, record, extra "
    "FROM {runs} WHERE project = ? AND run_id = ?"
)
_RUN_AT: Final = "SELECT rid, log_offset FROM {runs} WHERE project = ? AND run_id = ?"
_STORE_RUN: Final = (
    "UPDATE {runs} SET log_offset = ?, size = ?, mtime_ns = ?, next_seq = ?, next_sys = ?, "
    "created_at = ?, record = ?, extra = ? WHERE rid = ?"
)
_UPDATE_KEYS: Final = (
    "INSERT INTO {keys} (rid, stream, key, count, numeric, is_int, vmin, vmax, last_step) "
    "SELECT rid, stream, key, SUM(n), SUM(CASE WHEN kind = 0 THEN n ELSE 0 END), "
    "MIN(CASE WHEN kind = 0 THEN is_int ELSE 0 END), MIN(vmin), MAX(vmax), MAX(step_max) "
    "FROM {chunks} WHERE rid = ? GROUP BY rid, stream, key"
)
_SERIES: Final = (
    "SELECT c.key, c.kind, c.rid, c.cno, c.n, c.seq0, c.seq_stride, c.seqs, c.step0, c.step_stride, "
    "c.steps, CASE WHEN c.kind = 1 THEN c.ts END, c.vals, c.is_int "
    "FROM {chunks} c JOIN {runs} r ON r.rid = c.rid "
    "WHERE r.project = ? AND r.run_id = ? AND c.stream = ? "
)
_CHUNK_STATS: Final = (
    "SELECT c.key, c.kind, c.cno, c.n, c.step_min, c.step_max, c.step0, c.step_stride, c.steps, "
    "c.vmin, c.vmax, c.vfirst, c.vlast, {vals} "
    "FROM {chunks} c JOIN {runs} r ON r.rid = c.rid "
    "WHERE r.project = ? AND r.run_id = ? AND c.stream = ? "
)


class SQLIndex(IndexBackend):
    """The index algorithm over one SQL database; backends fill in what differs.

    Subclasses set :attr:`dialect` and implement the hooks below the ``backend`` line.
    """

    dialect: ClassVar[Dialect]

    # ---------------------------------------------------------------- backend
    @property
    def _conn(self) -> Any:
        """This thread's connection."""
        raise NotImplementedError

    def _where(self) -> str:
        """The database, as messages name it (never a password)."""
        raise NotImplementedError

    def _errors(self, what: str) -> AbstractContextManager[None]:
        """Maps the driver's errors to StorageError naming the database and ``what``."""
        raise NotImplementedError

    def _transaction(self, conn: Any) -> AbstractContextManager[Any]:
        """One write transaction (it serialises writers of the same runs)."""
        raise NotImplementedError

    def _snapshot(self, conn: Any) -> AbstractContextManager[Any]:
        """Several reads that must see one state (a no-op where one statement suffices)."""
        raise NotImplementedError

    def _exec(self, conn: Any, sql: str, params: Any = (), *, binary: bool = False) -> Any:
        """Run one rendered statement; a cursor (``binary``: bytea columns as bytes, if it matters)."""
        return conn.execute(sql, params)

    def _commit_prepared(self, conn: Any, prep: _Prepared) -> bool:
        """Store a slice inside the caller's transaction (the backend's ``_commit``)."""
        raise NotImplementedError

    def _lock_run(self, conn: Any, project: str, run_id: str) -> None:
        """Hold the run until the transaction ends (no-op where the transaction locks all)."""

    def _new_rid(self, conn: Any, prep: _Prepared) -> int:
        """Insert the run row of a run indexed for the first time; its number."""
        raise NotImplementedError

    def _last_chunks(
        self, conn: Any, rid: int, wanted: list[tuple[int, str, int]]
    ) -> dict[tuple[int, str, int], tuple[Any, ...]]:
        """The last chunk (``cno, *CHUNK_COLUMNS``) of each ``(stream, key, kind)`` that has one."""
        raise NotImplementedError

    def _write_rows(
        self,
        conn: Any,
        rid: int,
        rows: list[tuple[Any, ...]],
        replaced: list[tuple[int, str, int, int]],
        mode: Any,
    ) -> None:
        """Write chunk rows; ``replaced`` (stream, key, kind, cno) are rewritten ones."""
        raise NotImplementedError

    def _take_after(self, conn: Any, rid: int, step: int) -> list[Any]:
        """Delete and return (``key, kind, cno, *CHUNK_COLUMNS``) history chunks past ``step``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- ingest
    def _q(self, template: str) -> str:
        return self.dialect.sql(template)

    def log_positions(
        self, project: str | None = None, run_id: str | None = None
    ) -> dict[tuple[str, str], tuple[int, int]]:
        """``(size, mtime_ns)`` of each run log when it was last read to its end."""
        sql = "SELECT project, run_id, size, mtime_ns FROM {runs}"
        params: tuple[str, ...] = ()
        if project is not None and run_id is not None:
            sql += " WHERE project = ? AND run_id = ?"
            params = (project, run_id)
        elif project is not None:
            sql += " WHERE project = ?"
            params = (project,)
        conn = self._conn
        with self._errors("reading the index"):
            rows = self._exec(conn, self._q(sql), params).fetchall()
        return {(p, r): (s, m) for p, r, s, m in rows}  # ints in both drivers

    def forget(self, project: str, run_id: str) -> None:
        """Drop a run whose log disappeared (its chunks and keys go with it)."""
        conn = self._conn
        with self._errors("updating the index"), self._transaction(conn):
            self._lock_run(conn, project, run_id)
            row = self._exec(conn, self._q(_RUN_AT), (project, run_id)).fetchone()
            if row is not None:
                self._drop(conn, int(row[0]))

    def _drop(self, conn: Any, rid: int) -> None:
        for table in ("{chunks}", "{keys}", "{runs}"):
            self._exec(conn, self._q(f"DELETE FROM {table} WHERE rid = ?"), (rid,))

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
            with self._errors("updating the index"), self._transaction(conn):
                committed = self._commit_prepared(conn, prep)
            if committed:
                total += prep.records
                if prep.at_end:
                    return total

    def ingest_many(self, items: list[tuple[str, str, Path]]) -> None:
        """Index several logs, many small ones per transaction (a first index of a big project)."""
        self._ingest_many(items)

    def _ingest_many(self, items: list[tuple[str, str, Path]]) -> None:
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
            with self._errors("updating the index"), self._transaction(conn):
                for prep in batch:
                    if not self._commit_prepared(conn, prep) or not prep.at_end:
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
        with self._errors("reading the index"):
            row = self._exec(conn, self._q(_RUN_ROW), (project, run_id), binary=True).fetchone()
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
        fresh = row is None or reset
        state = RunState(keep_rows=False) if fresh else restore_state(row)
        state.report(read.problems)  # records set aside (corrupt) and damaged bytes skipped
        try:
            delta = fold(read.records, state, 0 if fresh else int(row[4]), 0 if fresh else int(row[5]))
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

    def _store(self, conn: Any, prep: _Prepared, mode: Any = None) -> bool:
        """Store a prepared slice; False when another process moved the offset meanwhile."""
        self._lock_run(conn, prep.project, prep.run_id)
        now = self._exec(conn, self._q(_RUN_AT), (prep.project, prep.run_id)).fetchone()
        if (None if now is None else (int(now[0]), int(now[1]))) != prep.expected:
            return False  # someone else indexed these bytes: look again
        if now is None:
            rid = self._new_rid(conn, prep)
        else:
            rid = int(now[0])
            if prep.reset:
                self._exec(conn, self._q("DELETE FROM {chunks} WHERE rid = ?"), (rid,))
                self._exec(conn, self._q("DELETE FROM {keys} WHERE rid = ?"), (rid,))
        delta = prep.delta
        if delta.ops:
            self._apply(conn, rid, delta.ops, now is None or prep.reset, mode)
            self._exec(conn, self._q("DELETE FROM {keys} WHERE rid = ?"), (rid,))
            self._exec(conn, self._q(_UPDATE_KEYS), (rid,))
        stat = prep.stat if prep.at_end else (-1, -1)
        created_at, record, extra = run_blobs(delta)
        self._exec(
            conn,
            self._q(_STORE_RUN),
            (prep.end, stat[0], stat[1], delta.next_seq, delta.next_sys, created_at, record, extra, rid),
        )
        return True

    def _apply(self, conn: Any, rid: int, ops: list[Segment | int], new: bool, mode: Any) -> None:
        for op in ops:
            if isinstance(op, int):
                self._rewind(conn, rid, op, mode)
                new = False
                continue
            items: list[tuple[int, str, int, Any]] = [(s, k, NUM, p) for (s, k), p in op.numeric.items()]
            items += [(s, k, OBJ, o) for (s, k), o in op.objects.items()]
            # A run indexed for the first time has no chunk to extend.
            lasts = {} if new else self._last_chunks(conn, rid, [i[:3] for i in items])
            rows: list[tuple[Any, ...]] = []
            replaced: list[tuple[int, str, int, int]] = []
            for stream, key, kind, points in items:
                last = lasts.get((stream, key, kind))
                added = append_rows(rid, stream, key, kind, last, points)
                if last is not None and added and added[0][4] == last[0]:
                    replaced.append((stream, key, kind, int(last[0])))
                rows += added
            self._write_rows(conn, rid, rows, replaced, mode)
            new = False

    def _rewind(self, conn: Any, rid: int, step: int, mode: Any) -> None:
        """Hide history points with ``_step > step`` logged so far (``resume_from``)."""
        kept = []
        for key, kind, cno, *cols in self._take_after(conn, rid, step):
            row = rewound_row(rid, HISTORY_STREAM, key, kind, cno, cols, step)
            if row is not None:
                kept.append(row)
        self._write_rows(conn, rid, kept, [], mode)

    # ---------------------------------------------------------------- reads
    def projects(self) -> list[ProjectInfo]:
        """Indexed projects with their run counts."""
        sql = "SELECT project, COUNT(*), MAX(created_at) FROM {runs} GROUP BY project ORDER BY project"
        sql += "{collate_c}"
        conn = self._conn
        with self._errors("reading the index"):
            rows = self._exec(conn, self._q(sql)).fetchall()
        return [ProjectInfo(p, int(n), last) for p, n, last in rows]

    def runs(self, project: str) -> list[RunRecord]:
        """Every indexed run of ``project``."""
        sql = "SELECT project, run_id, record FROM {runs} WHERE project = ?"
        conn = self._conn
        with self._errors("reading the index"):
            rows = self._exec(conn, self._q(sql), (project,), binary=True).fetchall()
        return [run_record(r) for r in rows]

    def run(self, project: str, run_id: str) -> RunRecord | None:
        """One indexed run, or None."""
        sql = "SELECT project, run_id, record FROM {runs} WHERE project = ? AND run_id = ?"
        conn = self._conn
        with self._errors("reading the index"):
            row = self._exec(conn, self._q(sql), (project, run_id), binary=True).fetchone()
        return None if row is None else run_record(row)

    def details(self, project: str, run_id: str) -> dict[str, Any]:
        """Alerts, capture, define_metric records, files and artifacts of a run."""
        sql = "SELECT extra FROM {runs} WHERE project = ? AND run_id = ?"
        conn = self._conn
        with self._errors("reading the index"):
            row = self._exec(conn, self._q(sql), (project, run_id), binary=True).fetchone()
        extra = unpackb(row[0]) if row is not None else None
        return extra if isinstance(extra, dict) else {}

    def keys(self, project: str, run_id: str, stream: str = "default") -> dict[str, KeyInfo]:
        """The key catalog of one stream of a run."""
        sql = (
            "SELECT k.key, k.count, k.numeric, k.is_int, k.vmin, k.vmax, k.last_step FROM {keys} k "
            "JOIN {runs} r ON r.rid = k.rid WHERE r.project = ? AND r.run_id = ? AND k.stream = ? "
            "ORDER BY k.key{collate_c}"
        )
        conn = self._conn
        with self._errors("reading the index"):
            rows = self._exec(conn, self._q(sql), (project, run_id, _stream(stream))).fetchall()
        return {
            k: KeyInfo(k, int(c), int(n), bool(i), lo, hi, None if last is None else int(last))
            for k, c, n, i, lo, hi, last in rows
        }

    def _chunk_rows(self, sql: str, params: list[Any], keys: list[str]) -> list[Any]:
        """Rows of ``sql`` (ends in a WHERE clause) for ``keys``, by key, kind and chunk number."""
        conn = self._conn
        rows: list[Any] = []
        with self._errors("reading the index"), self._snapshot(conn):
            for part, values in self.dialect.key_parts("c.key", keys):
                query = self._q(sql) + part + "ORDER BY c.key, c.kind, c.cno"
                rows += self._exec(conn, query, [*params, *values], binary=True).fetchall()
        return rows

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
        # Numeric timestamps are not read here: most reads need them for few rows of
        # one key (see _Timestamps); they are fetched, and checked, on first use.
        sql = _SERIES
        params: list[Any] = [project, run_id, stream_no]
        if min_seq is not None:
            sql += "AND c.seq_max >= ? "
            params.append(min_seq)
        if max_seq is not None:
            sql += "AND c.seq_min < ? "
            params.append(max_seq)
        found: dict[str, tuple[list[Any], list[int], list[Objects]]] = {}
        rid = -1
        for key, kind, chunk_rid, cno, *cols in self._chunk_rows(sql, params, wanted):
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
        # One statement per key part: numeric chunks in the step range, plus every
        # non-numeric chunk, which marks its key mixed wherever it lies.
        vals = "CASE WHEN c.kind = 0 THEN c.vals END" if values else "NULL"
        sql = _CHUNK_STATS.replace("{vals}", vals)
        params: list[Any] = [project, run_id, _stream(stream)]
        cond = []
        if step_min is not None:
            cond.append("c.step_max >= ?")
            params.append(float(step_min))
        if step_max is not None:
            cond.append("c.step_min <= ?")
            params.append(float(step_max))
        if cond:
            sql += f"AND (c.kind = {OBJ} OR ({' AND '.join(cond)})) "
        found: dict[str, list[ChunkStats]] = {}
        mixed: set[str] = set()
        for (
            key,
            kind,
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
            v,
        ) in self._chunk_rows(sql, params, wanted):
            if kind != NUM:
                mixed.add(key)
                continue
            n = int(n)
            v = v if v is None or len(v) == n * 8 else v[: n * 8]
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
                    v,
                )
            )
        return {k: v for k, v in found.items() if k not in mixed}
