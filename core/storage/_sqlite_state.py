"""The local state store: cross-run state in one SQLite file, journalled.

Every method is one ``BEGIN IMMEDIATE`` transaction: it takes the write lock before it
reads what it changes, so concurrent processes serialise instead of racing (version
numbers, alias moves and claims stay consistent). ``synchronous=FULL``: unlike the
index, this data cannot be rebuilt.

Schema (version :data:`SCHEMA_VERSION`): ``artifacts`` (per project and name: type and
the next version number, which only grows), ``artifact_versions``, ``aliases``
(primary key: project, name, alias, so an alias names one version), ``registry``
(collections' next link number) and ``registry_links``, ``sweeps``, ``sweep_claims``
(primary key: sweep, key), ``run_edits`` and ``journal`` (append-only).

The methods are :class:`~tracker.storage._sql_state.SQLStateStore`'s (shared with
PostgreSQL); this module holds the file, its schema and the transactions.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from tracker.storage._base import STATE_NAME
from tracker.storage._dialect import sqlite
from tracker.storage._sql_state import TABLES, SQLStateStore
from tracker.storage._sqlite import Database, errors, transaction

__all__ = ["SQLiteStateStore"]

SCHEMA_VERSION: Final = "1"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS artifacts (
    project TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, next_version INTEGER NOT NULL,
    PRIMARY KEY (project, name)
);
CREATE TABLE IF NOT EXISTS artifact_versions (
    project TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, digest TEXT NOT NULL,
    metadata TEXT NOT NULL, run_id TEXT, created_at REAL NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project, name, version), UNIQUE (project, name, digest)
);
CREATE TABLE IF NOT EXISTS aliases (
    project TEXT NOT NULL, name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (project, name, alias)
);
CREATE TABLE IF NOT EXISTS registry (collection TEXT PRIMARY KEY, next_version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS registry_links (
    collection TEXT NOT NULL, version INTEGER NOT NULL, project TEXT NOT NULL, name TEXT NOT NULL,
    artifact_version INTEGER NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (collection, version), UNIQUE (collection, project, name, artifact_version)
);
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, config TEXT NOT NULL, state TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sweep_claims (
    sweep_id TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (sweep_id, key)
);
CREATE TABLE IF NOT EXISTS run_edits (
    project TEXT NOT NULL, run_id TEXT NOT NULL, tags TEXT, notes TEXT, deleted INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL, config TEXT, summary TEXT, name TEXT, PRIMARY KEY (project, run_id)
);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, op TEXT NOT NULL, data TEXT NOT NULL
);
"""


class SQLiteStateStore(SQLStateStore):
    """The :class:`~tracker.storage._base.StateStore` of a local data root.

    Args:
        path: The database file, usually ``index_dir(root)/state.sqlite``
            (see :meth:`for_root`).

    Example:
        >>> store = SQLiteStateStore.for_root(root)  # doctest: +SKIP
        >>> v = store.add_artifact_version("demo", "model", "model", "sha256:...")  # doctest: +SKIP
        >>> v.version  # doctest: +SKIP
        0
    """

    dialect = sqlite(TABLES)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._db = Database(self.path, self._setup, ready=self._ready, synchronous="FULL")

    @classmethod
    def for_root(cls, root: str | os.PathLike[str]) -> SQLiteStateStore:
        """The state store of a data root (``TRACKER_INDEX_DIR`` moves it to local disk)."""
        from tracker._settings import index_dir

        return cls(index_dir(Path(root)) / STATE_NAME)

    @staticmethod
    def _ready(conn: sqlite3.Connection) -> bool:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'journal'").fetchone():
            return False
        if "name" not in _columns(conn, "run_edits"):  # a store from before Api write-back
            return False
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return row is not None and row[0] == SCHEMA_VERSION

    @staticmethod
    def _setup(conn: sqlite3.Connection) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        # Api write-back (config, summary, name) added nullable columns: older trackers read
        # the table as before, so the schema version stays.
        have = _columns(conn, "run_edits")
        for column in ("config", "summary", "name"):
            if column not in have:
                conn.execute(f"ALTER TABLE run_edits ADD COLUMN {column} TEXT")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        elif row[0] != SCHEMA_VERSION:
            from tracker.errors import StorageError

            # Never drop this store: it cannot be rebuilt. A newer tracker wrote it.
            raise StorageError(
                f"state store {row[0]!r} schema is not {SCHEMA_VERSION!r}; upgrade tracker to read it",
            )

    def close(self) -> None:
        """Close this process's connections."""
        self._db.close()

    @contextlib.contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction; sqlite errors become StorageError."""
        with errors(self.path, what):
            conn = self._db.conn
            with transaction(conn):
                yield conn

    def _conn(self) -> sqlite3.Connection:
        with errors(self.path, "opening the state store"):
            return self._db.conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection (no transaction: WAL reads see committed states)."""
        conn = self._conn()
        with errors(self.path, "reading the state store"):
            yield conn


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
