"""The team server's state store: cross-run state in PostgreSQL, journalled.

Same semantics as :class:`~tracker.storage._sqlite_state.SQLiteStateStore`, whose
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
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from tracker.errors import UsageError
from tracker.storage._base import (
    ArtifactInfo,
    ArtifactVersion,
    JournalEntry,
    RegistryLink,
    RunEdit,
    StateStore,
    SweepRecord,
)
from tracker.storage._pg import STATE_LOCK, Connections, errors

# The argument checks and row decoders are the SQLite store's: both stores must agree.
from tracker.storage._sqlite_state import _VERSION_RE, _artifact, _check_alias, _check_state, _dumps, _edit

if TYPE_CHECKING:
    from tracker.storage._pg import Conn

__all__ = ["PostgresStateStore"]

_VERSION_COLUMNS = "v.version, v.digest, v.metadata, v.run_id, v.created_at, v.deleted, a.type"


class PostgresStateStore(StateStore):
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

    @staticmethod
    def _journal(conn: Conn, op: str, data: Mapping[str, Any]) -> None:
        conn.execute(
            "INSERT INTO state_journal (ts, op, data) VALUES (%s, %s, %s)",
            (time.time(), op, _dumps(dict(data))),
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
                "SELECT type, next_version FROM state_artifacts WHERE project = %s AND name = %s",
                (project, name),
            ).fetchone()
            if art is not None and art[0] != type:
                raise UsageError(
                    f"artifact {project}/{name} has type {art[0]!r}, not {type!r}; use another name.",
                    key=name,
                )
            row = conn.execute(
                "SELECT version FROM state_artifact_versions "
                "WHERE project = %s AND name = %s AND digest = %s",
                (project, name, digest),
            ).fetchone()
            if row is not None:
                version = int(row[0])
            else:
                version = 0 if art is None else int(art[1])
                conn.execute(
                    "INSERT INTO state_artifacts (project, name, type, next_version) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (project, name) DO UPDATE SET next_version = excluded.next_version",
                    (project, name, type, version + 1),
                )
                conn.execute(
                    "INSERT INTO state_artifact_versions "
                    "(project, name, version, digest, metadata, run_id, created_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)",
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

    def _set_alias(self, conn: Conn, project: str, name: str, alias: str, version: int) -> None:
        row = conn.execute(
            "SELECT version FROM state_aliases WHERE project = %s AND name = %s AND alias = %s",
            (project, name, alias),
        ).fetchone()
        if row is not None and int(row[0]) == version:
            return
        conn.execute(
            "INSERT INTO state_aliases (project, name, alias, version) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (project, name, alias) DO UPDATE SET version = excluded.version",
            (project, name, alias, version),
        )
        self._journal(
            conn,
            "alias.set",
            {"project": project, "name": name, "alias": alias, "version": version,
             "previous": None if row is None else int(row[0])},
        )  # fmt: skip

    @staticmethod
    def _version(conn: Conn, project: str, name: str, version: int) -> ArtifactVersion | None:
        row = conn.execute(
            f"SELECT {_VERSION_COLUMNS} FROM state_artifact_versions v "
            "JOIN state_artifacts a ON a.project = v.project AND a.name = v.name "
            "WHERE v.project = %s AND v.name = %s AND v.version = %s",
            (project, name, version),
        ).fetchone()
        if row is None:
            return None
        aliases = [
            r[0]
            for r in conn.execute(
                "SELECT alias FROM state_aliases WHERE project = %s AND name = %s AND version = %s "
                "ORDER BY alias",
                (project, name, version),
            )
        ]
        return _artifact(project, name, row, aliases)

    def artifact_version(self, project: str, name: str, ref: str | int) -> ArtifactVersion | None:
        """A version by number (``3``/``"v3"``), alias, or manifest digest."""
        if isinstance(ref, bool) or not isinstance(ref, (int, str)):
            raise UsageError(
                f"artifact reference {ref!r}: use a version number, 'v<N>', an alias or a digest."
            )
        with self._read() as conn:
            if isinstance(ref, int):
                return self._version(conn, project, name, ref)
            match = _VERSION_RE.match(ref)
            if match:
                return self._version(conn, project, name, int(match.group(1)))
            row = conn.execute(
                "SELECT version FROM state_aliases WHERE project = %s AND name = %s AND alias = %s",
                (project, name, ref),
            ).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT version FROM state_artifact_versions "
                    "WHERE project = %s AND name = %s AND digest = %s",
                    (project, name, ref),
                ).fetchone()
            return None if row is None else self._version(conn, project, name, int(row[0]))

    def artifact_versions(
        self, project: str, name: str, *, include_deleted: bool = False
    ) -> list[ArtifactVersion]:
        """All versions of an artifact, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM state_artifact_versions v "
                "JOIN state_artifacts a ON a.project = v.project AND a.name = v.name "
                "WHERE v.project = %s AND v.name = %s ORDER BY v.version",
                (project, name),
            ).fetchall()
            aliases: dict[int, list[str]] = {}
            for alias, version in conn.execute(
                "SELECT alias, version FROM state_aliases WHERE project = %s AND name = %s ORDER BY alias",
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
        sql = (
            "SELECT a.project, a.name, a.type, MAX(CASE WHEN NOT v.deleted THEN v.version END), "
            "COUNT(CASE WHEN NOT v.deleted THEN 1 END) "
            "FROM state_artifacts a "
            "LEFT JOIN state_artifact_versions v ON v.project = a.project AND v.name = a.name"
        )
        params: tuple[str, ...] = ()
        if project is not None:
            sql += " WHERE a.project = %s"
            params = (project,)
        sql += " GROUP BY a.project, a.name, a.type ORDER BY a.project, a.name"
        with self._read() as conn:
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
                "SELECT deleted FROM state_artifact_versions "
                "WHERE project = %s AND name = %s AND version = %s",
                (project, name, version),
            ).fetchone()
            if row is None or row[0]:
                raise UsageError(f"artifact {project}/{name}:v{version} does not exist.", key=name)
            self._set_alias(conn, project, name, alias, version)

    def remove_alias(self, project: str, name: str, alias: str) -> bool:
        """Remove an alias; False when it did not exist."""
        with self._write("removing an alias") as conn:
            row = conn.execute(
                "DELETE FROM state_aliases WHERE project = %s AND name = %s AND alias = %s RETURNING version",
                (project, name, alias),
            ).fetchone()
            if row is None:
                return False
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
                "UPDATE state_artifact_versions SET deleted = true "
                "WHERE project = %s AND name = %s AND version = %s AND NOT deleted",
                (project, name, version),
            )
            if cur.rowcount == 0:
                return False
            conn.execute(
                "DELETE FROM state_aliases WHERE project = %s AND name = %s AND version = %s",
                (project, name, version),
            )
            self._journal(conn, "artifact.delete", {"project": project, "name": name, "version": version})
            return True

    # ---------------------------------------------------------------- registry
    def link_artifact(self, collection: str, project: str, name: str, version: int) -> RegistryLink:
        """Link an artifact version into a collection (idempotent per source version)."""
        with self._write("linking an artifact") as conn:
            exists = conn.execute(
                "SELECT deleted FROM state_artifact_versions "
                "WHERE project = %s AND name = %s AND version = %s",
                (project, name, version),
            ).fetchone()
            if exists is None or exists[0]:
                raise UsageError(f"artifact {project}/{name}:v{version} does not exist.", key=name)
            row = conn.execute(
                "SELECT version, created_at FROM state_registry_links "
                "WHERE collection = %s AND project = %s AND name = %s AND artifact_version = %s",
                (collection, project, name, version),
            ).fetchone()
            if row is not None:
                return RegistryLink(collection, int(row[0]), project, name, version, float(row[1]))
            nxt = conn.execute(
                "SELECT next_version FROM state_registry WHERE collection = %s", (collection,)
            ).fetchone()
            number = 0 if nxt is None else int(nxt[0])
            conn.execute(
                "INSERT INTO state_registry (collection, next_version) VALUES (%s, %s) "
                "ON CONFLICT (collection) DO UPDATE SET next_version = excluded.next_version",
                (collection, number + 1),
            )
            now = time.time()
            conn.execute(
                "INSERT INTO state_registry_links "
                "(collection, version, project, name, artifact_version, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
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
        with self._read() as conn:
            rows = conn.execute(
                "SELECT version, project, name, artifact_version, created_at FROM state_registry_links "
                "WHERE collection = %s ORDER BY version",
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
            now = time.time()
            cur = conn.execute(
                "INSERT INTO state_sweeps (id, project, config, state, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (sweep_id, project, _dumps(dict(config)), state, now, now),
            )
            if cur.rowcount != 1:
                raise UsageError(f"sweep {sweep_id!r} already exists.", key=sweep_id)
            self._journal(conn, "sweep.create", {"id": sweep_id, "project": project, "state": state})
            return SweepRecord(sweep_id, project, json.loads(_dumps(dict(config))), state, now, now)

    def sweep(self, sweep_id: str) -> SweepRecord | None:
        """A sweep, or None."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT project, config, state, created_at, updated_at FROM state_sweeps WHERE id = %s",
                (sweep_id,),
            ).fetchone()
        if row is None:
            return None
        return SweepRecord(sweep_id, row[0], json.loads(row[1]), row[2], float(row[3]), float(row[4]))

    def sweeps(self, project: str | None = None) -> list[SweepRecord]:
        """Every sweep (of ``project`` when given), oldest first."""
        sql = "SELECT id, project, config, state, created_at, updated_at FROM state_sweeps"
        args: tuple[str, ...] = ()
        if project is not None:
            sql += " WHERE project = %s"
            args = (project,)
        with self._read() as conn:
            rows = conn.execute(sql + " ORDER BY created_at, id", args).fetchall()
        return [SweepRecord(r[0], r[1], json.loads(r[2]), r[3], float(r[4]), float(r[5])) for r in rows]

    def set_sweep_state(self, sweep_id: str, state: str) -> SweepRecord:
        """Change a sweep's state."""
        _check_state(state)
        with self._write("updating a sweep") as conn:
            row = conn.execute("SELECT state FROM state_sweeps WHERE id = %s", (sweep_id,)).fetchone()
            if row is None:
                raise UsageError(f"no sweep {sweep_id!r}.", key=sweep_id)
            conn.execute(
                "UPDATE state_sweeps SET state = %s, updated_at = %s WHERE id = %s",
                (state, time.time(), sweep_id),
            )
            self._journal(conn, "sweep.state", {"id": sweep_id, "state": state, "previous": row[0]})
        found = self.sweep(sweep_id)
        assert found is not None
        return found

    def claim(self, sweep_id: str, key: str, owner: str) -> bool:
        """Claim ``key`` of a sweep for ``owner``; True only for the first caller."""
        with self._write("claiming") as conn:
            cur = conn.execute(
                "INSERT INTO state_sweep_claims (sweep_id, key, owner, created_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (sweep_id, key) DO NOTHING",
                (sweep_id, key, owner, time.time()),
            )
            if cur.rowcount != 1:
                return False
            self._journal(conn, "sweep.claim", {"id": sweep_id, "key": key, "owner": owner})
            return True

    def claims(self, sweep_id: str) -> dict[str, str]:
        """Every claim of a sweep as ``{key: owner}``."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT key, owner FROM state_sweep_claims WHERE sweep_id = %s ORDER BY created_at, key",
                (sweep_id,),
            ).fetchall()
        return {k: o for k, o in rows}

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
        if tags is not None and isinstance(tags, str):
            raise UsageError("tags must be a list of strings, not a string.")
        new_tags = None if tags is None else [str(t) for t in tags]
        with self._write("editing a run") as conn:
            row = conn.execute(
                "SELECT tags, notes, deleted FROM state_run_edits WHERE project = %s AND run_id = %s",
                (project, run_id),
            ).fetchone()
            cur_tags, cur_notes, cur_deleted = row if row is not None else (None, None, False)
            values = (
                _dumps(new_tags) if new_tags is not None else cur_tags,
                notes if notes is not None else cur_notes,
                bool(deleted) if deleted is not None else bool(cur_deleted),
                time.time(),
            )
            conn.execute(
                "INSERT INTO state_run_edits (project, run_id, tags, notes, deleted, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (project, run_id) DO UPDATE SET "
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
        with self._read() as conn:
            rows = conn.execute(
                "SELECT run_id, tags, notes, deleted, updated_at FROM state_run_edits WHERE project = %s",
                (project,),
            ).fetchall()
        return {r[0]: _edit(project, *r) for r in rows}

    # ---------------------------------------------------------------- journal
    def journal(self, since: int = 0, limit: int | None = None) -> list[JournalEntry]:
        """Journal entries after ``since``, oldest first."""
        sql = "SELECT seq, ts, op, data FROM state_journal WHERE seq > %s ORDER BY seq"
        params: list[Any] = [since]
        if limit is not None:
            sql += " LIMIT %s"
            params.append(int(limit))
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [JournalEntry(int(s), float(t), op, json.loads(d)) for s, t, op, d in rows]
