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
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from tracker._naming import NAME_RE
from tracker.errors import UsageError
from tracker.storage._base import (
    STATE_NAME,
    ArtifactInfo,
    ArtifactVersion,
    JournalEntry,
    RegistryLink,
    RunEdit,
    StateStore,
    SweepRecord,
)
from tracker.storage._sqlite import Database, errors, transaction

__all__ = ["SQLiteStateStore"]

SCHEMA_VERSION: Final = "1"
_VERSION_RE: Final = re.compile(r"^v(\d+)$")

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
    updated_at REAL NOT NULL, PRIMARY KEY (project, run_id)
);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, op TEXT NOT NULL, data TEXT NOT NULL
);
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True, default=repr)


class SQLiteStateStore(StateStore):
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
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return row is not None and row[0] == SCHEMA_VERSION

    @staticmethod
    def _setup(conn: sqlite3.Connection) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
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

    @staticmethod
    def _journal(conn: sqlite3.Connection, op: str, data: Mapping[str, Any]) -> None:
        conn.execute(
            "INSERT INTO journal (ts, op, data) VALUES (?, ?, ?)", (time.time(), op, _dumps(dict(data)))
        )

    # ---------------------------------------------------------------- artifacts
    def add_artifact_version(
        self,
        project: str,
        name: str,
        type: str,
        digest: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        aliases: Iterable[str] = (),
    ) -> ArtifactVersion:
        """Register a version by digest (idempotent) and set ``aliases`` on it."""
        wanted = [_check_alias(a) for a in aliases]
        if not digest:
            raise UsageError("an artifact version needs a non-empty manifest digest.")
        with self._write("adding an artifact version") as conn:
            art = conn.execute(
                "SELECT type, next_version FROM artifacts WHERE project = ? AND name = ?", (project, name)
            ).fetchone()
            if art is not None and art[0] != type:
                raise UsageError(
                    f"artifact {project}/{name} has type {art[0]!r}, not {type!r}; use another name.",
                    key=name,
                )
            row = conn.execute(
                "SELECT version FROM artifact_versions WHERE project = ? AND name = ? AND digest = ?",
                (project, name, digest),
            ).fetchone()
            if row is not None:
                version = int(row[0])
            else:
                version = 0 if art is None else int(art[1])
                if art is None:
                    conn.execute(
                        "INSERT INTO artifacts (project, name, type, next_version) VALUES (?, ?, ?, 1)",
                        (project, name, type),
                    )
                else:
                    conn.execute(
                        "UPDATE artifacts SET next_version = ? WHERE project = ? AND name = ?",
                        (version + 1, project, name),
                    )
                conn.execute(
                    "INSERT INTO artifact_versions "
                    "(project, name, version, digest, metadata, run_id, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (project, name, version, digest, _dumps(dict(metadata or {})), run_id, time.time()),
                )
                self._journal(
                    conn,
                    "artifact.add",
                    {"project": project, "name": name, "type": type, "version": version, "digest": digest,
                     "run_id": run_id},
                )  # fmt: skip
            for alias in wanted:
                self._set_alias(conn, project, name, alias, version)
            found = self._version(conn, project, name, version)
        assert found is not None
        return found

    def _set_alias(self, conn: sqlite3.Connection, project: str, name: str, alias: str, version: int) -> None:
        row = conn.execute(
            "SELECT version FROM aliases WHERE project = ? AND name = ? AND alias = ?", (project, name, alias)
        ).fetchone()
        if row is not None and int(row[0]) == version:
            return
        conn.execute(
            "INSERT INTO aliases (project, name, alias, version) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (project, name, alias) DO UPDATE SET version = excluded.version",
            (project, name, alias, version),
        )
        self._journal(
            conn,
            "alias.set",
            {"project": project, "name": name, "alias": alias, "version": version,
             "previous": None if row is None else int(row[0])},
        )  # fmt: skip

    def _version(
        self, conn: sqlite3.Connection, project: str, name: str, version: int
    ) -> ArtifactVersion | None:
        row = conn.execute(
            "SELECT v.version, v.digest, v.metadata, v.run_id, v.created_at, v.deleted, a.type "
            "FROM artifact_versions v JOIN artifacts a ON a.project = v.project AND a.name = v.name "
            "WHERE v.project = ? AND v.name = ? AND v.version = ?",
            (project, name, version),
        ).fetchone()
        if row is None:
            return None
        aliases = [
            r[0]
            for r in conn.execute(
                "SELECT alias FROM aliases WHERE project = ? AND name = ? AND version = ? ORDER BY alias",
                (project, name, version),
            )
        ]
        return _artifact(project, name, row, aliases)

    def artifact_version(self, project: str, name: str, ref: str | int) -> ArtifactVersion | None:
        """A version by number (``3``/``"v3"``), alias, or manifest digest."""
        conn = self._conn()
        with errors(self.path, "reading the state store"):
            if isinstance(ref, bool) or not isinstance(ref, (int, str)):
                raise UsageError(
                    f"artifact reference {ref!r}: use a version number, 'v<N>', an alias or a digest."
                )
            if isinstance(ref, int):
                return self._version(conn, project, name, ref)
            match = _VERSION_RE.match(ref)
            if match:
                return self._version(conn, project, name, int(match.group(1)))
            row = conn.execute(
                "SELECT version FROM aliases WHERE project = ? AND name = ? AND alias = ?",
                (project, name, ref),
            ).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT version FROM artifact_versions WHERE project = ? AND name = ? AND digest = ?",
                    (project, name, ref),
                ).fetchone()
            return None if row is None else self._version(conn, project, name, int(row[0]))

    def artifact_versions(
        self, project: str, name: str, *, include_deleted: bool = False
    ) -> list[ArtifactVersion]:
        """All versions of an artifact, oldest first."""
        conn = self._conn()
        with errors(self.path, "reading the state store"):
            rows = conn.execute(
                "SELECT v.version, v.digest, v.metadata, v.run_id, v.created_at, v.deleted, a.type "
                "FROM artifact_versions v JOIN artifacts a ON a.project = v.project AND a.name = v.name "
                "WHERE v.project = ? AND v.name = ? ORDER BY v.version",
                (project, name),
            ).fetchall()
            aliases: dict[int, list[str]] = {}
            for alias, version in conn.execute(
                "SELECT alias, version FROM aliases WHERE project = ? AND name = ? ORDER BY alias",
                (project, name),
            ):
                aliases.setdefault(int(version), []).append(alias)
        return [
            _artifact(project, name, row, aliases.get(int(row[0]), []))
            for row in rows
            if include_deleted or not row[5]
        ]

    def artifacts(self, project: str | None = None) -> list[ArtifactInfo]:
        """Every artifact (of ``project``) with its type, latest live version and live count."""
        conn = self._conn()
        sql = (
            "SELECT a.project, a.name, a.type, MAX(CASE WHEN v.deleted = 0 THEN v.version END), "
            "COUNT(CASE WHEN v.deleted = 0 THEN 1 END) "
            "FROM artifacts a LEFT JOIN artifact_versions v ON v.project = a.project AND v.name = a.name"
        )
        params: tuple[str, ...] = ()
        if project is not None:
            sql += " WHERE a.project = ?"
            params = (project,)
        sql += " GROUP BY a.project, a.name, a.type ORDER BY a.project, a.name"
        with errors(self.path, "reading the state store"):
            rows = conn.execute(sql, params).fetchall()
        return [
            ArtifactInfo(p, n, t, None if latest is None else int(latest), int(count))
            for p, n, t, latest, count in rows
        ]

    def set_alias(self, project: str, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at ``version`` (moving it)."""
        _check_alias(alias)
        with self._write("setting an alias") as conn:
            row = conn.execute(
                "SELECT deleted FROM artifact_versions WHERE project = ? AND name = ? AND version = ?",
                (project, name, version),
            ).fetchone()
            if row is None or row[0]:
                raise UsageError(f"artifact {project}/{name}:v{version} does not exist.", key=name)
            self._set_alias(conn, project, name, alias, version)

    def remove_alias(self, project: str, name: str, alias: str) -> bool:
        """Remove an alias; False when it did not exist."""
        with self._write("removing an alias") as conn:
            row = conn.execute(
                "SELECT version FROM aliases WHERE project = ? AND name = ? AND alias = ?",
                (project, name, alias),
            ).fetchone()
            if row is None:
                return False
            conn.execute(
                "DELETE FROM aliases WHERE project = ? AND name = ? AND alias = ?", (project, name, alias)
            )
            self._journal(
                conn,
                "alias.remove",
                {"project": project, "name": name, "alias": alias, "version": int(row[0])},
            )
            return True

    def delete_artifact_version(self, project: str, name: str, version: int) -> bool:
        """Mark a version deleted and drop its aliases (the number stays taken)."""
        with self._write("deleting an artifact version") as conn:
            cur = conn.execute(
                "UPDATE artifact_versions SET deleted = 1 WHERE project = ? AND name = ? AND version = ? "
                "AND deleted = 0",
                (project, name, version),
            )
            if cur.rowcount == 0:
                return False
            conn.execute(
                "DELETE FROM aliases WHERE project = ? AND name = ? AND version = ?", (project, name, version)
            )
            self._journal(conn, "artifact.delete", {"project": project, "name": name, "version": version})
            return True

    # ---------------------------------------------------------------- registry
    def link_artifact(self, collection: str, project: str, name: str, version: int) -> RegistryLink:
        """Link an artifact version into a collection (idempotent per source version)."""
        with self._write("linking an artifact") as conn:
            exists = conn.execute(
                "SELECT deleted FROM artifact_versions WHERE project = ? AND name = ? AND version = ?",
                (project, name, version),
            ).fetchone()
            if exists is None or exists[0]:
                raise UsageError(f"artifact {project}/{name}:v{version} does not exist.", key=name)
            row = conn.execute(
                "SELECT version, created_at FROM registry_links "
                "WHERE collection = ? AND project = ? AND name = ? AND artifact_version = ?",
                (collection, project, name, version),
            ).fetchone()
            if row is not None:
                return RegistryLink(collection, int(row[0]), project, name, version, float(row[1]))
            nxt = conn.execute(
                "SELECT next_version FROM registry WHERE collection = ?", (collection,)
            ).fetchone()
            number = 0 if nxt is None else int(nxt[0])
            conn.execute(
                "INSERT INTO registry (collection, next_version) VALUES (?, ?) "
                "ON CONFLICT (collection) DO UPDATE SET next_version = excluded.next_version",
                (collection, number + 1),
            )
            now = time.time()
            conn.execute(
                "INSERT INTO registry_links VALUES (?, ?, ?, ?, ?, ?)",
                (collection, number, project, name, version, now),
            )
            self._journal(
                conn,
                "registry.link",
                {"collection": collection, "version": number, "project": project, "name": name,
                 "artifact_version": version},
            )  # fmt: skip
            return RegistryLink(collection, number, project, name, version, now)

    def registry_links(self, collection: str) -> list[RegistryLink]:
        """Links of a collection, oldest first."""
        conn = self._conn()
        with errors(self.path, "reading the state store"):
            rows = conn.execute(
                "SELECT version, project, name, artifact_version, created_at FROM registry_links "
                "WHERE collection = ? ORDER BY version",
                (collection,),
            ).fetchall()
        return [RegistryLink(collection, int(v), p, n, int(av), float(t)) for v, p, n, av, t in rows]

    # ---------------------------------------------------------------- sweeps
    def create_sweep(
        self, sweep_id: str, project: str, config: Mapping[str, Any], state: str = "pending"
    ) -> SweepRecord:
        """Store a new sweep."""
        _check_state(state)
        with self._write("creating a sweep") as conn:
            if conn.execute("SELECT 1 FROM sweeps WHERE id = ?", (sweep_id,)).fetchone():
                raise UsageError(f"sweep {sweep_id!r} already exists.", key=sweep_id)
            now = time.time()
            conn.execute(
                "INSERT INTO sweeps VALUES (?, ?, ?, ?, ?, ?)",
                (sweep_id, project, _dumps(dict(config)), state, now, now),
            )
            self._journal(conn, "sweep.create", {"id": sweep_id, "project": project, "state": state})
            return SweepRecord(sweep_id, project, json.loads(_dumps(dict(config))), state, now, now)

    def sweep(self, sweep_id: str) -> SweepRecord | None:
        """A sweep, or None."""
        conn = self._conn()
        with errors(self.path, "reading the state store"):
            row = conn.execute(
                "SELECT project, config, state, created_at, updated_at FROM sweeps WHERE id = ?", (sweep_id,)
            ).fetchone()
        if row is None:
            return None
        return SweepRecord(sweep_id, row[0], json.loads(row[1]), row[2], float(row[3]), float(row[4]))

    def sweeps(self, project: str | None = None) -> list[SweepRecord]:
        """Every sweep (of ``project`` when given), oldest first."""
        conn = self._conn()
        sql = "SELECT id, project, config, state, created_at, updated_at FROM sweeps"
        args: tuple[str, ...] = ()
        if project is not None:
            sql += " WHERE project = ?"
            args = (project,)
        with errors(self.path, "reading the state store"):
            rows = conn.execute(sql + " ORDER BY created_at, id", args).fetchall()
        return [SweepRecord(r[0], r[1], json.loads(r[2]), r[3], float(r[4]), float(r[5])) for r in rows]

    def set_sweep_state(self, sweep_id: str, state: str) -> SweepRecord:
        """Change a sweep's state."""
        _check_state(state)
        with self._write("updating a sweep") as conn:
            row = conn.execute("SELECT state FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
            if row is None:
                raise UsageError(f"no sweep {sweep_id!r}.", key=sweep_id)
            conn.execute(
                "UPDATE sweeps SET state = ?, updated_at = ? WHERE id = ?", (state, time.time(), sweep_id)
            )
            self._journal(conn, "sweep.state", {"id": sweep_id, "state": state, "previous": row[0]})
        found = self.sweep(sweep_id)
        assert found is not None
        return found

    def claim(self, sweep_id: str, key: str, owner: str) -> bool:
        """Claim ``key`` of a sweep for ``owner``; True only for the first caller."""
        with self._write("claiming") as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO sweep_claims VALUES (?, ?, ?, ?)", (sweep_id, key, owner, time.time())
            )
            if cur.rowcount != 1:
                return False
            self._journal(conn, "sweep.claim", {"id": sweep_id, "key": key, "owner": owner})
            return True

    def claims(self, sweep_id: str) -> dict[str, str]:
        """Every claim of a sweep as ``{key: owner}``."""
        conn = self._conn()
        with errors(self.path, "reading the state store"):
            rows = conn.execute(
                "SELECT key, owner FROM sweep_claims WHERE sweep_id = ? ORDER BY created_at, key", (sweep_id,)
            ).fetchall()
        return dict(rows)

    # ---------------------------------------------------------------- run edits
    def edit_run(
        self,
        project: str,
        run_id: str,
        *,
        tags: Iterable[str] | None = None,
        notes: str | None = None,
        deleted: bool | None = None,
    ) -> RunEdit:
        """Record user edits of a run (None leaves a field unchanged)."""
        new_tags = None if tags is None else [str(t) for t in tags]
        if tags is not None and isinstance(tags, str):
            raise UsageError("tags must be a list of strings, not a string.")
        with self._write("editing a run") as conn:
            row = conn.execute(
                "SELECT tags, notes, deleted FROM run_edits WHERE project = ? AND run_id = ?",
                (project, run_id),
            ).fetchone()
            cur_tags, cur_notes, cur_deleted = row if row is not None else (None, None, 0)
            values = (
                _dumps(new_tags) if new_tags is not None else cur_tags,
                notes if notes is not None else cur_notes,
                int(deleted) if deleted is not None else int(cur_deleted),
                time.time(),
            )
            conn.execute(
                "INSERT INTO run_edits (project, run_id, tags, notes, deleted, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project, run_id) DO UPDATE SET "
                "tags = excluded.tags, notes = excluded.notes, deleted = excluded.deleted, "
                "updated_at = excluded.updated_at",
                (project, run_id, *values),
            )
            change: dict[str, Any] = {"project": project, "run_id": run_id}
            if new_tags is not None:
                change["tags"] = new_tags
            if notes is not None:
                change["notes"] = notes
            if deleted is not None:
                change["deleted"] = bool(deleted)
            self._journal(conn, "run.edit", change)
        return _edit(project, run_id, *values)

    def run_edits(self, project: str) -> dict[str, RunEdit]:
        """Edits of every edited run of a project, by run id."""
        conn = self._conn()
        with errors(self.path, "reading the state store"):
            rows = conn.execute(
                "SELECT run_id, tags, notes, deleted, updated_at FROM run_edits WHERE project = ?", (project,)
            ).fetchall()
        return {r[0]: _edit(project, *r) for r in rows}

    # ---------------------------------------------------------------- journal
    def journal(self, since: int = 0, limit: int | None = None) -> list[JournalEntry]:
        """Journal entries after ``since``, oldest first."""
        conn = self._conn()
        sql = "SELECT seq, ts, op, data FROM journal WHERE seq > ? ORDER BY seq"
        params: list[Any] = [since]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with errors(self.path, "reading the state store"):
            rows = conn.execute(sql, params).fetchall()
        return [JournalEntry(int(s), float(t), op, json.loads(d)) for s, t, op, d in rows]


def _check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not NAME_RE.match(alias) or _VERSION_RE.match(alias):
        raise UsageError(
            f"alias {alias!r} is not valid: use 1-128 letters, digits, '.', '_' or '-', and not 'v<number>' "
            "(those name versions).",
            key=str(alias),
        )
    return alias


def _check_state(state: str) -> None:
    if not isinstance(state, str) or not state:
        raise UsageError(f"sweep state {state!r} must be a non-empty string.")


def _artifact(project: str, name: str, row: tuple[Any, ...], aliases: list[str]) -> ArtifactVersion:
    version, digest, metadata, run_id, created_at, deleted, type_ = row
    return ArtifactVersion(
        project=project,
        name=name,
        type=type_,
        version=int(version),
        digest=digest,
        aliases=tuple(sorted(aliases)),
        metadata=json.loads(metadata),
        run_id=run_id,
        created_at=float(created_at),
        deleted=bool(deleted),
    )


def _edit(project: str, run_id: str, tags: str | None, notes: str | None, deleted: int, ts: float) -> RunEdit:
    return RunEdit(
        project=project,
        run_id=run_id,
        tags=None if tags is None else tuple(json.loads(tags)),
        notes=notes,
        deleted=bool(deleted),
        updated_at=float(ts),
    )
