"""The team server's state store: cross-run state in PostgreSQL, journalled.

The same methods as :class:`~tracker.storage._sqlite_state.SQLiteStateStore`
(:class:`~tracker.storage._sql_state.SQLStateStore`'s), whose
``BEGIN IMMEDIATE`` becomes a transaction-scoped advisory lock: every write method is
one transaction that first takes ``pg_advisory_xact_lock(STATE_LOCK)``, so writers on
every server process and host serialise (version numbers, alias moves and claims stay
consistent) and journal entries commit in ``seq`` order, which a reader paging through
the journal with ``since`` relies on. Under READ COMMITTED each statement after the
lock sees every transaction committed before it. A claim is also guarded by its
primary key (``ON CONFLICT DO NOTHING``): a grid point is handed out once.

Tables are described in :mod:`tracker.storage._pg_migrations` (``state_*``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tracker.storage._dialect import postgres
from tracker.storage._pg import STATE_LOCK, Connections, errors
from tracker.storage._sql_state import TABLES, SQLStateStore

if TYPE_CHECKING:
    from tracker.storage._pg import Conn

__all__ = ["PostgresStateStore"]


class PostgresStateStore(SQLStateStore):
    """The :class:`~tracker.storage._base.StateStore` of a team server, in PostgreSQL.

    Args:
        url: ``postgresql://user:password@host:port/dbname`` of a database migrated with
            ``tracker server migrate``.

    Raises:
        StorageError: On first use, when the database cannot be reached or its schema is
            not the one this tracker uses.

    Example:
        >>> store = PostgresStateStore("postgresql://tracker@127.0.0.1/tracker")  # doctest: +SKIP
        >>> store.claim("sweep1", "lr=0.1", "agent-a")  # doctest: +SKIP
        True
    """

    dialect = postgres("state_", TABLES)

    def __init__(self, url: str) -> None:
        self._conns = Connections(url)
        self.url = url

    def close(self) -> None:
        """Close this process's connections."""
        self._conns.close()

    @contextlib.contextmanager
    def _write(self, what: str) -> Iterator[Conn]:
        """One transaction holding the store's write lock; psycopg errors become StorageError."""
        with errors(self.url, what):
            conn = self._conns.conn
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (STATE_LOCK,))
                yield conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[Conn]:
        """One read-only REPEATABLE READ transaction: several SELECTs see one state."""
        with errors(self.url, "reading the state store"):
            conn = self._conns.conn
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield conn
