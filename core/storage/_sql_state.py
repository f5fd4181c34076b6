"""The state store over SQL, written once: artifacts, aliases, registry, sweeps, run edits, journal.

:class:`SQLStateStore` holds every method of the SQLite store
(:mod:`tracker.storage._sqlite_state`) and the PostgreSQL one (:mod:`tracker.storage._pg_state`),
with statements written once and rendered by their :class:`~tracker.storage._dialect.Dialect`
(table names, placeholders, booleans). A backend supplies :meth:`SQLStateStore._write`, one
transaction that holds the store's write lock (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's
advisory lock), and :meth:`SQLStateStore._read`. Every write method is one such transaction:
it takes the lock before it reads what it changes, so concurrent writers serialise instead of
racing (version numbers, alias moves and claims stay consistent), and journal entries commit
in ``seq`` order, which a reader paging through the journal with ``since`` relies on.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Final

from tracker._naming import NAME_RE
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

if TYPE_CHECKING:
    from tracker.storage._dialect import Dialect

__all__: list[str] = []

#: The tables of a state store (PostgreSQL names them ``state_<table>``).
TABLES: Final = (
    "artifacts",
    "artifact_versions",
    "aliases",
    "registry",
    "registry_links",
    "sweeps",
    "sweep_claims",
    "run_edits",
    "journal",
)
_VERSION_RE: Final = re.compile(r"^v(\d+)$")
_VERSION: Final = (
    "SELECT v.version, v.digest, v.metadata, v.run_id, v.created_at, v.deleted, a.type "
    "FROM {artifact_versions} v JOIN {artifacts} a ON a.project = v.project AND a.name = v.name "
)
_LIVE: Final = "SELECT deleted FROM {artifact_versions} WHERE project = ? AND name = ? AND version = ?"
_ALIAS: Final = "SELECT version FROM {aliases} WHERE project = ? AND name = ? AND alias = ?"
_BY_DIGEST: Final = "SELECT version FROM {artifact_versions} WHERE project = ? AND name = ? AND digest = ?"
_SWEEP: Final = "SELECT project, config, state, created_at, updated_at FROM {sweeps} WHERE id = ?"


class SQLStateStore(StateStore):
    """The state store's methods over one SQL database; backends give transactions."""

    dialect: ClassVar[Dialect]

    def _write(self, what: str) -> AbstractContextManager[Any]:
        """One transaction holding the store's write lock; driver errors become StorageError."""
        raise NotImplementedError

    def _read(self) -> AbstractContextManager[Any]:
        """A connection to read with; driver errors become StorageError."""
        raise NotImplementedError

    def _x(self, conn: Any, template: str, params: Any = ()) -> Any:
        """Run ``template`` rendered in this store's dialect; the cursor."""
        return conn.execute(self.dialect.sql(template), params)

    def _journal(self, conn: Any, op: str, data: Mapping[str, Any]) -> None:
        self._x(
            conn,
            "INSERT INTO {journal} (ts, op, data) VALUES (?, ?, ?)",
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
            art = self._x(
                conn,
                "SELECT type, next_version FROM {artifacts} WHERE project = ? AND name = ?",
                (project, name),
            ).fetchone()
            if art is not None and art[0] != type:
                raise UsageError(
                    f"artifact {project}/{name} has type {art[0]!r}, not {type!r}; use another name.",
                    key=name,
                )
            row = self._x(conn, _BY_DIGEST, (project, name, digest)).fetchone()
            if row is not None:
                version = int(row[0])
            else:
                version = 0 if art is None else int(art[1])
                self._new_version(conn, project, name, type, version, digest, metadata, run_id)
            for alias in wanted:
                self._set_alias(conn, project, name, alias, version)
            found = self._version(conn, project, name, version)
        assert found is not None
        return found

    def _new_version(
        self,
        conn: Any,
        project: str,
        name: str,
        type: str,
        version: int,
        digest: str,
        metadata: Mapping[str, Any] | None,
        run_id: str | None,
    ) -> None:
        self._x(
            conn,
            "INSERT INTO {artifacts} (project, name, type, next_version) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (project, name) DO UPDATE SET next_version = excluded.next_version",
            (project, name, type, version + 1),
        )
        self._x(
            conn,
            "INSERT INTO {artifact_versions} (project, name, version, digest, metadata, run_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (project, name, version, digest, _dumps(dict(metadata or {})), run_id, time.time()),
        )
        self._journal(
            conn,
            "artifact.add",
            {"project": project, "name": name, "type": type, "version": version, "digest": digest,
             "run_id": run_id},
        )  # fmt: skip

    def _set_alias(self, conn: Any, project: str, name: str, alias: str, version: int) -> None:
        row = self._x(conn, _ALIAS, (project, name, alias)).fetchone()
        if row is not None and int(row[0]) == version:
            return
        self._x(
            conn,
            "INSERT INTO {aliases} (project, name, alias, version) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (project, name, alias) DO UPDATE SET version = excluded.version",
            (project, name, alias, version),
        )
        self._journal(
            conn,
            "alias.set",
            {"project": project, "name": name, "alias": alias, "version": version,
             "previous": None if row is None else int(row[0])},
        )  # fmt: skip

    def _version(self, conn: Any, project: str, name: str, version: int) -> ArtifactVersion | None:
        sql = _VERSION + "WHERE v.project = ? AND v.name = ? AND v.version = ?"
        row = self._x(conn, sql, (project, name, version)).fetchone()
        if row is None:
            return None
        sql = "SELECT alias FROM {aliases} WHERE project = ? AND name = ? AND version = ? ORDER BY alias"
        aliases = [r[0] for r in self._x(conn, sql, (project, name, version))]
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
            row = self._x(conn, _ALIAS, (project, name, ref)).fetchone()
            if row is None:
                row = self._x(conn, _BY_DIGEST, (project, name, ref)).fetchone()
            return None if row is None else self._version(conn, project, name, int(row[0]))

    def artifact_versions(
        self, project: str, name: str, *, include_deleted: bool = False
    ) -> list[ArtifactVersion]:
        """All versions of an artifact, oldest first."""
        with self._read() as conn:
            sql = _VERSION + "WHERE v.project = ? AND v.name = ? ORDER BY v.version"
            rows = self._x(conn, sql, (project, name)).fetchall()
            aliases: dict[int, list[str]] = {}
            sql = "SELECT alias, version FROM {aliases} WHERE project = ? AND name = ? ORDER BY alias"
            for alias, version in self._x(conn, sql, (project, name)):
                aliases.setdefault(int(version), []).append(alias)
        return [
            _artifact(project, name, row, aliases.get(int(row[0]), []))
            for row in rows
            if include_deleted or not row[5]
        ]

    def artifacts(self, project: str | None = None) -> list[ArtifactInfo]:
        """Every artifact (of ``project``) with its type, latest live version and live count."""
        sql = (
            "SELECT a.project, a.name, a.type, MAX(CASE WHEN v.deleted = {false} THEN v.version END), "
            "COUNT(CASE WHEN v.deleted = {false} THEN 1 END) "
            "FROM {artifacts} a LEFT JOIN {artifact_versions} v ON v.project = a.project AND v.name = a.name"
        )
        params: tuple[str, ...] = ()
        if project is not None:
            sql += " WHERE a.project = ?"
            params = (project,)
        sql += " GROUP BY a.project, a.name, a.type ORDER BY a.project, a.name"
        with self._read() as conn:
            rows = self._x(conn, sql, params).fetchall()
        return [
            ArtifactInfo(p, n, t, None if latest is None else int(latest), int(count))
            for p, n, t, latest, count in rows
        ]

    def set_alias(self, project: str, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at ``version`` (moving it)."""
        _check_alias(alias)
        with self._write("setting an alias") as conn:
            row = self._x(conn, _LIVE, (project, name, version)).fetchone()
            if row is None or row[0]:
                raise UsageError(f"artifact {project}/{name}:v{version} does not exist.", key=name)
            self._set_alias(conn, project, name, alias, version)

    def remove_alias(self, project: str, name: str, alias: str) -> bool:
        """Remove an alias; False when it did not exist."""
        with self._write("removing an alias") as conn:
            row = self._x(conn, _ALIAS, (project, name, alias)).fetchone()
            if row is None:
                return False
            sql = "DELETE FROM {aliases} WHERE project = ? AND name = ? AND alias = ?"
            self._x(conn, sql, (project, name, alias))
            self._journal(
                conn,
                "alias.remove",
                {"project": project, "name": name, "alias": alias, "version": int(row[0])},
            )
            return True

    def delete_artifact_version(self, project: str, name: str, version: int) -> bool:
        """Mark a version deleted and drop its aliases (the number stays taken)."""
        with self._write("deleting an artifact version") as conn:
            cur = self._x(
                conn,
                "UPDATE {artifact_versions} SET deleted = {true} "
                "WHERE project = ? AND name = ? AND version = ? AND deleted = {false}",
                (project, name, version),
            )
            if cur.rowcount == 0:
                return False
            sql = "DELETE FROM {aliases} WHERE project = ? AND name = ? AND version = ?"
            self._x(conn, sql, (project, name, version))
            self._journal(conn, "artifact.delete", {"project": project, "name": name, "version": version})
            return True

    def set_artifact_metadata(
        self, project: str, name: str, version: int, metadata: Mapping[str, Any]
    ) -> None:
        """Replace a version's stored metadata (description and user metadata edited)."""
        with self._write("editing an artifact version") as conn:
            cur = self._x(
                conn,
                "UPDATE {artifact_versions} SET metadata = ? "
                "WHERE project = ? AND name = ? AND version = ? AND deleted = {false}",
                (_dumps(dict(metadata)), project, name, version),
            )
            if cur.rowcount == 0:
                raise UsageError(f"artifact {project}/{name}:v{version} does not exist.", key=name)
            self._journal(
                conn,
                "artifact.metadata",
                {"project": project, "name": name, "version": version, "metadata": dict(metadata)},
            )

    # ---------------------------------------------------------------- registry
    def link_artifact(self, collection: str, project: str, name: str, version: int) -> RegistryLink:
        """Link an artifact version into a collection (idempotent per source version)."""
        with self._write("linking an artifact") as conn:
            exists = self._x(conn, _LIVE, (project, name, version)).fetchone()
            if exists is None or exists[0]:
                raise UsageError(f"artifact {project}/{name}:v{version} does not exist.", key=name)
            row = self._x(
                conn,
                "SELECT version, created_at FROM {registry_links} "
                "WHERE collection = ? AND project = ? AND name = ? AND artifact_version = ?",
                (collection, project, name, version),
            ).fetchone()
            if row is not None:
                return RegistryLink(collection, int(row[0]), project, name, version, float(row[1]))
            nxt = self._x(
                conn, "SELECT next_version FROM {registry} WHERE collection = ?", (collection,)
            ).fetchone()
            number = 0 if nxt is None else int(nxt[0])
            self._x(
                conn,
                "INSERT INTO {registry} (collection, next_version) VALUES (?, ?) "
                "ON CONFLICT (collection) DO UPDATE SET next_version = excluded.next_version",
                (collection, number + 1),
            )
            now = time.time()
            self._x(
                conn,
                "INSERT INTO {registry_links} "
                "(collection, version, project, name, artifact_version, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
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
        sql = (
            "SELECT version, project, name, artifact_version, created_at FROM {registry_links} "
            "WHERE collection = ? ORDER BY version"
        )
        with self._read() as conn:
            rows = self._x(conn, sql, (collection,)).fetchall()
        return [RegistryLink(collection, int(v), p, n, int(av), float(t)) for v, p, n, av, t in rows]

    # ---------------------------------------------------------------- sweeps
    def create_sweep(
        self, sweep_id: str, project: str, config: Mapping[str, Any], state: str = "pending"
    ) -> SweepRecord:
        """Store a new sweep."""
        _check_state(state)
        with self._write("creating a sweep") as conn:
            now = time.time()
            cur = self._x(
                conn,
                "INSERT INTO {sweeps} (id, project, config, state, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (sweep_id, project, _dumps(dict(config)), state, now, now),
            )
            if cur.rowcount != 1:
                raise UsageError(f"sweep {sweep_id!r} already exists.", key=sweep_id)
            self._journal(conn, "sweep.create", {"id": sweep_id, "project": project, "state": state})
            return SweepRecord(sweep_id, project, json.loads(_dumps(dict(config))), state, now, now)

    def sweep(self, sweep_id: str) -> SweepRecord | None:
        """A sweep, or None."""
        with self._read() as conn:
            row = self._x(conn, _SWEEP, (sweep_id,)).fetchone()
        if row is None:
            return None
        return SweepRecord(sweep_id, row[0], json.loads(row[1]), row[2], float(row[3]), float(row[4]))

    def sweeps(self, project: str | None = None) -> list[SweepRecord]:
        """Every sweep (of ``project`` when given), oldest first."""
        sql = "SELECT id, project, config, state, created_at, updated_at FROM {sweeps}"
        args: tuple[str, ...] = ()
        if project is not None:
            sql += " WHERE project = ?"
            args = (project,)
        with self._read() as conn:
            rows = self._x(conn, sql + " ORDER BY created_at, id", args).fetchall()
        return [SweepRecord(r[0], r[1], json.loads(r[2]), r[3], float(r[4]), float(r[5])) for r in rows]

    def set_sweep_state(self, sweep_id: str, state: str) -> SweepRecord:
        """Change a sweep's state."""
        _check_state(state)
        with self._write("updating a sweep") as conn:
            row = self._x(conn, "SELECT state FROM {sweeps} WHERE id = ?", (sweep_id,)).fetchone()
            if row is None:
                raise UsageError(f"no sweep {sweep_id!r}.", key=sweep_id)
            sql = "UPDATE {sweeps} SET state = ?, updated_at = ? WHERE id = ?"
            self._x(conn, sql, (state, time.time(), sweep_id))
            self._journal(conn, "sweep.state", {"id": sweep_id, "state": state, "previous": row[0]})
        found = self.sweep(sweep_id)
        assert found is not None
        return found

    def claim(self, sweep_id: str, key: str, owner: str) -> bool:
        """Claim ``key`` of a sweep for ``owner``; True only for the first caller.

        Also guarded by the claims' primary key: a grid point is handed out once.
        """
        with self._write("claiming") as conn:
            cur = self._x(
                conn,
                "INSERT INTO {sweep_claims} (sweep_id, key, owner, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (sweep_id, key) DO NOTHING",
                (sweep_id, key, owner, time.time()),
            )
            if cur.rowcount != 1:
                return False
            self._journal(conn, "sweep.claim", {"id": sweep_id, "key": key, "owner": owner})
            return True

    def claims(self, sweep_id: str) -> dict[str, str]:
        """Every claim of a sweep as ``{key: owner}``."""
        sql = "SELECT key, owner FROM {sweep_claims} WHERE sweep_id = ? ORDER BY created_at, key"
        with self._read() as conn:
            rows = self._x(conn, sql, (sweep_id,)).fetchall()
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
        config: Mapping[str, Any] | None = None,
        summary: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> RunEdit:
        """Record user edits of a run (None leaves a field unchanged)."""
        if tags is not None and isinstance(tags, str):
            raise UsageError("tags must be a list of strings, not a string.")
        new_tags = None if tags is None else [str(t) for t in tags]
        new_config = None if config is None else _dumps(_check_values(config, "config"))
        new_summary = None if summary is None else _dumps(_check_values(summary, "summary"))
        with self._write("editing a run") as conn:
            sql = (
                "SELECT tags, notes, deleted, config, summary, name FROM {run_edits} "
                "WHERE project = ? AND run_id = ?"
            )
            row = self._x(conn, sql, (project, run_id)).fetchone()
            cur = row if row is not None else (None, None, False, None, None, None)
            values = (
                _dumps(new_tags) if new_tags is not None else cur[0],
                notes if notes is not None else cur[1],
                bool(deleted) if deleted is not None else bool(cur[2]),
                time.time(),
                new_config if new_config is not None else cur[3],
                new_summary if new_summary is not None else cur[4],
                name if name is not None else cur[5],
            )
            self._x(
                conn,
                "INSERT INTO {run_edits} "
                "(project, run_id, tags, notes, deleted, updated_at, config, summary, name) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project, run_id) DO UPDATE SET "
                "tags = excluded.tags, notes = excluded.notes, deleted = excluded.deleted, "
                "updated_at = excluded.updated_at, config = excluded.config, summary = excluded.summary, "
                "name = excluded.name",
                (project, run_id, *values),
            )
            change: dict[str, Any] = {"project": project, "run_id": run_id}
            if new_tags is not None:
                change["tags"] = new_tags
            if notes is not None:
                change["notes"] = notes
            if deleted is not None:
                change["deleted"] = bool(deleted)
            if config is not None:
                change["config"] = dict(config)
            if summary is not None:
                change["summary"] = dict(summary)
            if name is not None:
                change["name"] = name
            self._journal(conn, "run.edit", change)
        return _edit(project, run_id, *values)

    def run_edits(self, project: str) -> dict[str, RunEdit]:
        """Edits of every edited run of a project, by run id."""
        sql = (
            "SELECT run_id, tags, notes, deleted, updated_at, config, summary, name FROM {run_edits} "
            "WHERE project = ?"
        )
        with self._read() as conn:
            rows = self._x(conn, sql, (project,)).fetchall()
        return {r[0]: _edit(project, *r) for r in rows}

    # ---------------------------------------------------------------- journal
    def journal(self, since: int = 0, limit: int | None = None) -> list[JournalEntry]:
        """Journal entries after ``since``, oldest first."""
        sql = "SELECT seq, ts, op, data FROM {journal} WHERE seq > ? ORDER BY seq"
        params: list[Any] = [since]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._read() as conn:
            rows = self._x(conn, sql, params).fetchall()
        return [JournalEntry(int(s), float(t), op, json.loads(d)) for s, t, op, d in rows]


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True, default=repr)


def _check_alias(alias: str) -> str:
    if not isinstance(alias, str) or not NAME_RE.match(alias) or _VERSION_RE.match(alias):
        raise UsageError(
            f"alias {alias!r} is not valid: use 1-128 letters, digits, spaces, '.', '_' or '-', "
            "and not 'v<number>' (those name versions).",
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


def _edit(
    project: str,
    run_id: str,
    tags: str | None,
    notes: str | None,
    deleted: int,
    ts: float,
    config: str | None = None,
    summary: str | None = None,
    name: str | None = None,
) -> RunEdit:
    return RunEdit(
        project=project,
        run_id=run_id,
        tags=None if tags is None else tuple(json.loads(tags)),
        notes=notes,
        deleted=bool(deleted),
        updated_at=float(ts),
        config=None if config is None else json.loads(config),
        summary=None if summary is None else json.loads(summary),
        name=name,
    )


def _check_values(edit: Mapping[str, Any], what: str) -> dict[str, Any]:
    """A config or summary write-back: ``{"set": {key: value}, "del": [key, ...]}``."""
    extra = set(edit) - {"set", "del"}
    sets, dels = edit.get("set", {}), edit.get("del", [])
    if extra or not isinstance(sets, Mapping) or isinstance(dels, str) or not isinstance(dels, (list, tuple)):
        raise UsageError(f"{what} edit must be {{'set': {{key: value}}, 'del': [key, ...]}}; got {edit!r}.")
    return {"set": {str(k): v for k, v in sets.items()}, "del": sorted({str(k) for k in dels})}
