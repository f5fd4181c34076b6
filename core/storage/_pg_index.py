"""The team server's index: run logs projected into PostgreSQL, shared by server processes.

Same projection as :class:`~tracker.storage._sqlite_index.SQLiteIndex`, row for row, by the
same algorithm (:class:`~tracker.storage._sql_index.SQLIndex`), in the ``index_*`` tables of
:mod:`tracker.storage._pg_migrations`; reads return the same results. This module holds what
is PostgreSQL's own: connections, the root check, advisory locks, COPY and pipeline mode.

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
from typing import TYPE_CHECKING, Any, Final

from tracker.errors import StorageError
from tracker.storage._dialect import postgres
from tracker.storage._ingest import HISTORY_STREAM
from tracker.storage._pg import INDEX_LOCK_CLASS, Connections, errors, redact
from tracker.storage._sql_index import CHUNK_COLUMNS, ROW_COLUMNS, SQLIndex
from tracker.storage._sql_parts import _Prepared

if TYPE_CHECKING:
    from tracker.storage._pg import Conn

__all__ = ["PostgresIndex"]

_COPY: Final = f"COPY index_chunks ({ROW_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_INSERT: Final = f"INSERT INTO index_chunks ({ROW_COLUMNS}) VALUES ({', '.join(['%s'] * 23)})"
#: Slices of at most this many points are committed in pipeline mode with INSERTs.
_PIPELINE_POINTS: Final = 20_000
_COPY_TYPES: Final = [
    "int8", "int2", "text", "int2", "int4", "int4", "int8", "int8", "int8", "int8", "int2",
    "float8", "float8", "float8", "float8", "int8", "int8", "bytea", "int8", "int8", "bytea",
    "bytea", "bytea",
]  # fmt: skip


class PostgresIndex(SQLIndex):
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

    dialect = postgres("index_", ("meta", "runs", "chunks", "keys"))

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

    # ---------------------------------------------------------------- SQLIndex hooks
    def _where(self) -> str:
        return redact(self.url)

    def _errors(self, what: str) -> Any:
        return errors(self.url, what)

    def _transaction(self, conn: Conn) -> Any:
        return conn.transaction()

    def _snapshot(self, conn: Conn) -> Any:
        return contextlib.nullcontext(conn)  # reads are one statement each

    def _exec(self, conn: Conn, sql: str, params: Any = (), *, binary: bool = False) -> Any:
        return conn.execute(sql, params, binary=binary)

    def _lock_run(self, conn: Conn, project: str, run_id: str) -> None:
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s::int4, hashtext(%s))", (INDEX_LOCK_CLASS, f"{project}/{run_id}")
        )

    def _commit_prepared(self, conn: Conn, prep: _Prepared) -> bool:
        return self._commit(conn, prep)

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
            return self._store(conn, prep, small)

    def _new_rid(self, conn: Conn, prep: _Prepared) -> int:
        found = conn.execute(
            "INSERT INTO index_runs (project, run_id, path) VALUES (%s, %s, %s) RETURNING rid",
            (prep.project, prep.run_id, str(prep.path)),
        ).fetchone()
        assert found is not None
        return int(found[0])

    def _last_chunks(
        self, conn: Conn, rid: int, wanted: list[tuple[int, str, int]]
    ) -> dict[tuple[int, str, int], tuple[Any, ...]]:
        """The last chunk (``cno, *chunk columns``) of each ``(stream, key, kind)``, in one query."""
        if not wanted:
            return {}
        rows = conn.execute(
            f"SELECT x.stream, x.key, x.kind, c.cno, c.{CHUNK_COLUMNS.replace(', ', ', c.')} "
            "FROM unnest(%s::int2[], %s::text[], %s::int2[]) AS x(stream, key, kind) "
            "CROSS JOIN LATERAL (SELECT * FROM index_chunks i WHERE i.rid = %s AND i.stream = x.stream "
            "AND i.key = x.key AND i.kind = x.kind ORDER BY i.cno DESC LIMIT 1) c",
            ([w[0] for w in wanted], [w[1] for w in wanted], [w[2] for w in wanted], rid),
            binary=True,
        ).fetchall()
        return {(int(r[0]), r[1], int(r[2])): tuple(r[3:]) for r in rows}

    def _write_rows(
        self,
        conn: Conn,
        rid: int,
        rows: list[tuple[Any, ...]],
        replaced: list[tuple[int, str, int, int]],
        small: Any,
    ) -> None:
        if replaced:
            conn.execute(
                "DELETE FROM index_chunks c USING unnest(%s::int2[], %s::text[], %s::int2[], %s::int4[]) "
                "AS x(stream, key, kind, cno) WHERE c.rid = %s AND c.stream = x.stream AND c.key = x.key "
                "AND c.kind = x.kind AND c.cno = x.cno",
                ([r[0] for r in replaced], [r[1] for r in replaced], [r[2] for r in replaced],
                 [r[3] for r in replaced], rid),
            )  # fmt: skip
        if not rows:
            return
        if small:
            conn.cursor().executemany(_INSERT, rows)
            return
        with conn.cursor().copy(_COPY) as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                copy.write_row(row)

    def _take_after(self, conn: Conn, rid: int, step: int) -> list[Any]:
        return conn.execute(
            f"DELETE FROM index_chunks WHERE rid = %s AND stream = %s AND step_max > %s "
            f"RETURNING key, kind, cno, {CHUNK_COLUMNS}",
            (rid, HISTORY_STREAM, step),
            binary=True,
        ).fetchall()


@functools.cache
def _pipelines() -> bool:
    """Whether the libpq in use supports pipeline mode (14 or newer)."""
    import psycopg

    return bool(psycopg.Pipeline.is_supported())
