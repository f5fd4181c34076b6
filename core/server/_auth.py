"""Team-server accounts and access: users, teams, API keys, sessions and project ownership.

One :class:`AuthStore` holds everything in ``<root>/server-auth.sqlite`` by default, or in
the server's PostgreSQL database (``tracker server --db``, :meth:`AuthStore.postgres`).
Its SQL is a portable subset (``TEXT``, ``INTEGER``, ``DOUBLE PRECISION``, ``ON CONFLICT
DO NOTHING``, no blobs, no ``user`` column, tables prefixed ``auth_``) written with ``?``
placeholders and passed through :func:`_sql`, so both are the same class over another
connection factory.

Secrets are never stored: a password is kept as a salted ``scrypt`` hash, an API key
(``trk_<id>_<secret>``) as a salted SHA-256 of its 256-bit secret, a session cookie as the
SHA-256 of its value; comparisons are constant-time. A key is shown once, when created.

Who may do what (:meth:`AuthStore.role_on`), for a project:

- a disabled user may do nothing; a *server admin* (``users create --admin``) is admin of
  every project, including projects nobody owns yet;
- a project owned by a user: that user is admin;
- a project owned by a team: each member has their team role (viewer, editor or admin);
- visibility ``team``: on a user-owned project, anyone sharing a team with the owner may
  read (viewer); on a team-owned project it is the same as ``private``;
- visibility ``public``: every signed-in user may read. Nothing is readable without
  signing in (the login page, static assets and the OpenAPI schema are the only open URLs);
- ``model-registry`` is created owned by the server (private): only server admins have a
  role on it until one of them gives it to a team or user (``projects set-owner``);
  writing to it never claims it;
- a project without an ownership record (data written into the root outside the server)
  is visible to server admins only until one of them runs ``projects set-owner``;
- an API key carries a role cap: the caller's role on any project is at most the key's
  role (``keys create --role viewer`` makes a read-only key). Sessions carry no cap.

A run ingested into a new project name claims it: the project is created owned by the
key's user (or by the user's default team, when one is set and the user is at least an
editor there), private. Project names are one namespace for the whole server.
"""

from __future__ import annotations

import hmac
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from tracker.errors import StorageError, UsageError
from tracker.server._principals import (
    DUMMY_HASH,
    ROLES,
    SESSION_SECONDS,
    VISIBILITIES,
    KeyInfo,
    Principal,
    ProjectInfo,
    UserInfo,
    at_least,
    capped,
    check_account_name,
    check_password,
    check_project,
    check_role,
    digest,
    hash_password,
)

__all__ = [
    "AUTH_FILE",
    "ROLES",
    "SERVER_OWNER",
    "VISIBILITIES",
    "AuthStore",
    "KeyInfo",
    "Principal",
    "ProjectInfo",
    "UserInfo",
    "at_least",
    "check_project",
    "hash_password",
]

AUTH_FILE: Final = "server-auth.sqlite"
_KEY: Final = re.compile(r"trk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})")

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS auth_users (name TEXT PRIMARY KEY, pw TEXT NOT NULL, "
    "created DOUBLE PRECISION NOT NULL, disabled DOUBLE PRECISION, "
    "site_admin INTEGER NOT NULL DEFAULT 0, default_team TEXT)",
    "CREATE TABLE IF NOT EXISTS auth_teams (name TEXT PRIMARY KEY, created DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS auth_members (team TEXT NOT NULL, member TEXT NOT NULL, "
    "role TEXT NOT NULL, PRIMARY KEY (team, member))",
    "CREATE TABLE IF NOT EXISTS auth_keys (id TEXT PRIMARY KEY, owner TEXT NOT NULL, "
    "name TEXT NOT NULL, role TEXT NOT NULL, salt TEXT NOT NULL, hash TEXT NOT NULL, "
    "created DOUBLE PRECISION NOT NULL, revoked DOUBLE PRECISION)",
    "CREATE TABLE IF NOT EXISTS auth_projects (name TEXT PRIMARY KEY, owner_kind TEXT NOT NULL, "
    "owner TEXT NOT NULL, visibility TEXT NOT NULL, created DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS auth_sessions (id TEXT PRIMARY KEY, member TEXT NOT NULL, "
    "created DOUBLE PRECISION NOT NULL, expires DOUBLE PRECISION NOT NULL)",
    # Who may use a stored blob (tracker.server._blob_owners): kind 'user' (uploaded it) or
    # 'project' (a run file or an artifact of that project references it).
    "CREATE TABLE IF NOT EXISTS auth_blobs (sha TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, "
    "created DOUBLE PRECISION NOT NULL, PRIMARY KEY (sha, kind, name))",
)
#: The owner kind of a project that belongs to the server itself (``model-registry``): only
#: server admins, and whoever an admin gives it to (``projects set-owner``), have a role on it.
SERVER_OWNER: Final = "server"


def _sql(text: str, paramstyle: str) -> str:
    """The one placeholder helper: ``?`` (sqlite3's qmark) or ``%s`` (psycopg's format)."""
    return text if paramstyle == "qmark" else text.replace("?", "%s")


class AuthStore:
    """Users, teams, API keys, sessions and project ownership in one small SQL database.

    Each call opens a short connection (SQLite: ``BEGIN IMMEDIATE`` for multi-statement
    changes), so several server processes may share the file.

    Args:
        root: The server's data root (the default store is ``<root>/server-auth.sqlite``).
        connect: A factory of DB-API connections in autocommit mode (default: SQLite).
        paramstyle: ``"qmark"`` (sqlite3) or ``"format"`` (psycopg) for ``connect``.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        connect: Callable[[], Any] | None = None,
        paramstyle: str = "qmark",
    ) -> None:
        self.root = Path(root)
        self.path = self.root / AUTH_FILE
        self.paramstyle = paramstyle
        self._connect = connect or self._sqlite
        self._begin = "BEGIN IMMEDIATE" if connect is None else "BEGIN"
        self._errors: tuple[type[Exception], ...] = (sqlite3.Error,)
        self.where = str(self.path)
        self._ready = False
        self._pooled = False  # True: connections are the thread's own, kept open

    @classmethod
    def postgres(cls, root: str | Path, url: str, *, pooled: bool = False) -> AuthStore:
        """The same store in a PostgreSQL database (``postgresql://...``; needs ``tracker[server]``).

        The tables come with ``tracker server migrate`` (schema version 2).

        Args:
            root: The server's data root.
            url: The database.
            pooled: Keep one open connection per thread (a server process, which checks a
                key on every request); otherwise each call opens and closes its own (the CLI).

        Raises:
            MissingExtraError: psycopg is not installed.
            StorageError: The database is unreachable or its schema is not migrated.
        """
        from tracker.storage import _pg

        if pooled:
            conns = _pg.Connections(url)  # one per thread; each checks the schema
            conns.conn  # noqa: B018 - fails early: unreachable, or "run tracker server migrate"
            connect: Callable[[], Any] = lambda: conns.conn  # noqa: E731
        else:
            first = _pg.connect(url)  # fails early, with the install hint or a clear message
            try:
                _pg.check_schema(first, url)
            finally:
                first.close()
            connect = lambda: _pg.connect(url)  # noqa: E731
        import psycopg  # after the first connection: a missing psycopg got the install hint

        store = cls(root, connect=connect, paramstyle="format")
        store._errors = (sqlite3.Error, psycopg.Error)
        store.where = _pg.redact(url)
        store._ready = True
        store._pooled = pooled
        return store

    def _sqlite(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 10000")
        return conn

    @contextmanager
    def _db(self, write: bool = False) -> Iterator[Callable[..., list[tuple[Any, ...]]]]:
        """A connection as ``run(sql, *params) -> rows``; ``write`` wraps it in one transaction."""
        errors: tuple[type[Exception], ...] = (OSError, *self._errors)
        try:
            conn = self._connect()
        except errors as exc:
            raise StorageError(f"cannot open the auth store {self.where}: {exc}", path=self.where) from exc
        style = self.paramstyle

        def run(text: str, *params: Any) -> list[tuple[Any, ...]]:
            cur = conn.execute(_sql(text, style), params)
            return list(cur.fetchall()) if cur.description is not None else []

        try:
            if not self._ready:
                for ddl in _SCHEMA:
                    run(ddl)
                _create_registry(run)
                self._ready = True
            if write:
                run(self._begin)
                try:
                    yield run
                except BaseException:
                    run("ROLLBACK")
                    raise
                run("COMMIT")
            else:
                yield run
        except self._errors as exc:
            raise StorageError(f"auth store {self.where}: {exc}", path=self.where) from exc
        finally:
            if not self._pooled:
                conn.close()

    # ------------------------------------------------------------------ users
    def create_user(self, name: str, password: str, *, site_admin: bool = False) -> UserInfo:
        """Create a user.

        Args:
            name: The user name (any printable text, 1-64 characters).
            password: At least 8 characters.
            site_admin: Admin of every project and of the server.

        Raises:
            UsageError: Bad name, short password, or the name is taken.
        """
        check_account_name("user", name)
        if len(password) < 8:
            raise UsageError("a password needs at least 8 characters.", key="password")
        now = time.time()
        pw = hash_password(password)
        with self._db(write=True) as run:
            if run("SELECT 1 FROM auth_users WHERE name = ?", name):
                raise UsageError(f"user {name!r} exists already.", key="user")
            run(
                "INSERT INTO auth_users (name, pw, created, site_admin) VALUES (?, ?, ?, ?)",
                name,
                pw,
                now,
                int(site_admin),
            )
        return UserInfo(name, now, None, site_admin, None)

    def users(self) -> list[UserInfo]:
        """Every user, disabled ones included."""
        with self._db() as run:
            rows = run(
                "SELECT name, created, disabled, site_admin, default_team FROM auth_users ORDER BY created"
            )
        return [UserInfo(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    def disable_user(self, name: str) -> bool:
        """Disable a user: their keys and sessions stop working. False: no such enabled user."""
        with self._db(write=True) as run:
            found = run("SELECT 1 FROM auth_users WHERE name = ? AND disabled IS NULL", name)
            if found:
                run("UPDATE auth_users SET disabled = ? WHERE name = ?", time.time(), name)
                run("DELETE FROM auth_sessions WHERE member = ?", name)
        return bool(found)

    def set_default_team(self, user: str, team: str | None) -> None:
        """Projects the user's keys create go to ``team`` (None: to the user).

        Raises:
            UsageError: No such user or team.
        """
        with self._db(write=True) as run:
            self._need(run, "user", user)
            if team is not None:
                self._need(run, "team", team)
            run("UPDATE auth_users SET default_team = ? WHERE name = ?", team, user)

    def login(self, name: str, password: str) -> str | None:
        """Check a password; return a new session id (for the cookie), or None."""
        with self._db() as run:
            rows = run("SELECT pw FROM auth_users WHERE name = ? AND disabled IS NULL", name)
        ok = check_password(password, rows[0][0] if rows else DUMMY_HASH) and bool(rows)
        if not ok:
            return None
        session = secrets.token_urlsafe(32)
        now = time.time()
        with self._db(write=True) as run:
            run("DELETE FROM auth_sessions WHERE expires < ?", now)
            run(
                "INSERT INTO auth_sessions (id, member, created, expires) VALUES (?, ?, ?, ?)",
                digest(session),
                name,
                now,
                now + SESSION_SECONDS,
            )
        return session

    def logout(self, session: str) -> None:
        """End a session."""
        with self._db() as run:
            run("DELETE FROM auth_sessions WHERE id = ?", digest(session))

    def session(self, session: str) -> Principal | None:
        """The caller behind a live session cookie, or None."""
        if not session or len(session) > 100:
            return None
        with self._db() as run:
            rows = run(
                "SELECT u.name, u.site_admin FROM auth_sessions s JOIN auth_users u ON u.name = s.member "
                "WHERE s.id = ? AND s.expires > ? AND u.disabled IS NULL",
                digest(session),
                time.time(),
            )
        return Principal(rows[0][0], bool(rows[0][1]), None) if rows else None

    # ------------------------------------------------------------------ teams
    def create_team(self, name: str) -> None:
        """Create a team.

        Raises:
            UsageError: Bad or taken name.
        """
        check_account_name("team", name)
        with self._db(write=True) as run:
            if run("SELECT 1 FROM auth_teams WHERE name = ?", name):
                raise UsageError(f"team {name!r} exists already.", key="team")
            run("INSERT INTO auth_teams (name, created) VALUES (?, ?)", name, time.time())

    def add_member(self, team: str, user: str, role: str) -> None:
        """Add ``user`` to ``team`` with ``role`` (or change their role).

        Raises:
            UsageError: Unknown team, user or role.
        """
        check_role(role)
        with self._db(write=True) as run:
            self._need(run, "team", team)
            self._need(run, "user", user)
            run("DELETE FROM auth_members WHERE team = ? AND member = ?", team, user)
            run("INSERT INTO auth_members (team, member, role) VALUES (?, ?, ?)", team, user, role)

    def teams(self) -> dict[str, dict[str, str]]:
        """Every team with its members' roles."""
        with self._db() as run:
            teams: dict[str, dict[str, str]] = {
                r[0]: {} for r in run("SELECT name FROM auth_teams ORDER BY name")
            }
            for team, member, role in run("SELECT team, member, role FROM auth_members ORDER BY member"):
                teams.setdefault(team, {})[member] = role
        return teams

    @staticmethod
    def _need(run: Callable[..., list[tuple[Any, ...]]], kind: str, name: str) -> None:
        """Raise unless the ``kind`` (``user`` or ``team``) named ``name`` exists."""
        table = {"user": "auth_users", "team": "auth_teams"}[kind]
        if not run(f"SELECT 1 FROM {table} WHERE name = ?", name):  # table: one of two literals
            raise UsageError(f"no {kind} {name!r}.", key=kind)

    # ------------------------------------------------------------------ keys
    def create_key(self, user: str, name: str, role: str = "admin") -> tuple[str, KeyInfo]:
        """Create an API key for ``user``; return ``(the key, its info)``. The key is shown only now.

        Args:
            user: The key's user; the key acts with that user's rights.
            name: What the key is for.
            role: The key's cap (``viewer`` makes a read-only key; ``admin``: no cap).

        Raises:
            UsageError: Unknown user or role, or an empty name.
        """
        check_role(role)
        if not name.strip():
            raise UsageError("a key needs a --name.", key="name")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        now = time.time()
        with self._db(write=True) as run:
            self._need(run, "user", user)
            run(
                "INSERT INTO auth_keys (id, owner, name, role, salt, hash, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                key_id,
                user,
                name,
                role,
                salt,
                digest(salt + secret),
                now,
            )
        return f"trk_{key_id}_{secret}", KeyInfo(key_id, user, name, role, now, None)

    def keys(self, user: str | None = None) -> list[KeyInfo]:
        """Every key (of ``user``, when given), revoked ones included."""
        sql = "SELECT id, owner, name, role, created, revoked FROM auth_keys"
        with self._db() as run:
            rows = (
                run(sql + " WHERE owner = ? ORDER BY created", user)
                if user
                else run(sql + " ORDER BY created")
            )
        return [KeyInfo(*row) for row in rows]

    def revoke_key(self, key_id: str) -> bool:
        """Revoke a key by id; False when no such live key exists."""
        with self._db(write=True) as run:
            found = run("SELECT 1 FROM auth_keys WHERE id = ? AND revoked IS NULL", key_id)
            if found:
                run("UPDATE auth_keys SET revoked = ? WHERE id = ?", time.time(), key_id)
        return bool(found)

    def verify_key(self, key: str) -> Principal | None:
        """The caller behind a live key of an enabled user, or None."""
        m = _KEY.fullmatch(key)
        if m is None:
            return None
        with self._db() as run:
            rows = run(
                "SELECT k.owner, k.role, k.salt, k.hash, u.site_admin FROM auth_keys k "
                "JOIN auth_users u ON u.name = k.owner "
                "WHERE k.id = ? AND k.revoked IS NULL AND u.disabled IS NULL",
                m.group(1),
            )
        if not rows:
            return None
        owner, role, salt, stored, site_admin = rows[0]
        if not hmac.compare_digest(digest(salt + m.group(2)), stored):
            return None
        return Principal(owner, bool(site_admin), role, m.group(1))

    # ------------------------------------------------------------------ projects
    def project(self, name: str) -> ProjectInfo | None:
        """A project's ownership record, or None."""
        with self._db() as run:
            rows = run(
                "SELECT name, owner_kind, owner, visibility, created FROM auth_projects WHERE name = ?", name
            )
        return ProjectInfo(*rows[0]) if rows else None

    def projects(self) -> list[ProjectInfo]:
        """Every ownership record."""
        with self._db() as run:
            rows = run("SELECT name, owner_kind, owner, visibility, created FROM auth_projects ORDER BY name")
        return [ProjectInfo(*r) for r in rows]

    def claim(self, project: str, user: str) -> ProjectInfo:
        """Create ``project`` owned by ``user`` (or their default team), private; keep an existing record."""
        check_project(project)
        with self._db(write=True) as run:
            rows = run("SELECT default_team FROM auth_users WHERE name = ?", user)
            team = rows[0][0] if rows else None
            kind, owner = "user", user
            if team and at_least(_member_role(run, team, user), "editor"):
                kind, owner = "team", team
            run(
                "INSERT INTO auth_projects (name, owner_kind, owner, visibility, created) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                project,
                kind,
                owner,
                "private",
                time.time(),
            )
        found = self.project(project)
        assert found is not None  # inserted above, or there before
        return found

    def set_owner(self, project: str, *, user: str | None = None, team: str | None = None) -> None:
        """Give ``project`` to a user or a team (creating its record, private, if it has none).

        Raises:
            UsageError: Not exactly one of ``user``/``team``, or an unknown one.
        """
        check_project(project)
        if (user is None) == (team is None):
            raise UsageError("give exactly one of --user or --team.", key="owner")
        kind, owner = ("user", user) if user is not None else ("team", team)
        assert owner is not None
        with self._db(write=True) as run:
            self._need(run, kind, owner)
            if run("SELECT 1 FROM auth_projects WHERE name = ?", project):
                run("UPDATE auth_projects SET owner_kind = ?, owner = ? WHERE name = ?", kind, owner, project)
            else:
                run(
                    "INSERT INTO auth_projects (name, owner_kind, owner, visibility, created) "
                    "VALUES (?, ?, ?, ?, ?)",
                    project,
                    kind,
                    owner,
                    "private",
                    time.time(),
                )

    def set_visibility(self, project: str, visibility: str) -> None:
        """Set a project's visibility (``private``, ``team`` or ``public``).

        Raises:
            UsageError: Unknown visibility, or the project has no owner yet (``set-owner`` first).
        """
        if visibility not in VISIBILITIES:
            raise UsageError(
                f"visibility {visibility!r}: use one of {', '.join(VISIBILITIES)}.", key="visibility"
            )
        with self._db(write=True) as run:
            if not run("SELECT 1 FROM auth_projects WHERE name = ?", project):
                raise UsageError(
                    f"project {project!r} has no owner yet: run `projects set-owner` first.", key="project"
                )
            run("UPDATE auth_projects SET visibility = ? WHERE name = ?", visibility, project)

    # ------------------------------------------------------------------ access
    def role_on(self, who: Principal, project: str) -> str | None:
        """``who``'s role on ``project`` (None: cannot see it); see the module docstring."""
        return self.roles_on(who, [project])[project]

    def roles_on(self, who: Principal, projects: Iterable[str]) -> dict[str, str | None]:
        """:meth:`role_on` for many projects in one go (the project list)."""
        names = list(projects)
        with self._db() as run:
            me = run("SELECT site_admin FROM auth_users WHERE name = ? AND disabled IS NULL", who.user)
            if not me:
                return dict.fromkeys(names)
            if me[0][0]:
                return {n: capped("admin", who.cap) for n in names}
            mine = dict(run("SELECT team, role FROM auth_members WHERE member = ?", who.user))
            records = {
                r[0]: r[1:]
                for r in run("SELECT name, owner_kind, owner, visibility FROM auth_projects")
                if r[0] in names
            }
            owners = {r[1] for r in records.values() if r[0] == "user" and r[2] == "team"}
            mates: set[str] = set()
            if owners and mine:
                for owner, team in run("SELECT member, team FROM auth_members"):
                    if owner in owners and team in mine:
                        mates.add(owner)
        out: dict[str, str | None] = {}
        for name in names:
            role: str | None = None
            record = records.get(name)
            if record is not None:
                kind, owner, visibility = record
                if kind == "user" and owner == who.user:
                    role = "admin"
                elif kind == "team":
                    role = mine.get(owner)
                if role is None and (
                    visibility == "public" or (visibility == "team" and kind == "user" and owner in mates)
                ):
                    role = "viewer"
            out[name] = capped(role, who.cap)
        return out


def _create_registry(run: Callable[..., list[tuple[Any, ...]]]) -> None:
    """Create ``model-registry``, owned by the server, private (kept if it exists).

    So no write to it claims it (a run or artifact shipped to a new project name makes
    its sender the admin); PostgreSQL gets the same row from migration 3.
    """
    from tracker.artifacts._names import REGISTRY_PROJECT

    run(
        "INSERT INTO auth_projects (name, owner_kind, owner, visibility, created) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        REGISTRY_PROJECT,
        SERVER_OWNER,
        "",
        "private",
        time.time(),
    )


def _member_role(run: Callable[..., list[tuple[Any, ...]]], team: str, user: str) -> str | None:
    rows = run("SELECT role FROM auth_members WHERE team = ? AND member = ?", team, user)
    return str(rows[0][0]) if rows else None
