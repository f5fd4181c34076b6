"""PostgreSQL plumbing of a team server: connections, errors and schema migrations.

psycopg 3 (the ``[server]`` extra) is imported inside the functions that need it, so
that ``import tracker.storage`` stays light. Connections run in autocommit mode and
every write is an explicit transaction; each thread of each process has its own
connection (a connection is never used after ``fork``), reopened when the server
dropped it. Every ``psycopg.Error`` leaves this layer as a
:class:`tracker.errors.StorageError` naming the database (never its password).

Migrations (:mod:`tracker.storage._pg_migrations`) are applied by :func:`migrate`
under a session advisory lock, so that two server processes starting at once apply
each migration exactly once: the second waits, then finds nothing left to do. Each
migration runs in its own transaction together with its row in ``schema_migrations``.
The stores check the schema when they connect: a database behind the code asks for
``tracker server migrate``, one ahead of it (written by a newer tracker) is refused.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

from tracker.errors import StorageError, UsageError
from tracker.storage._pg_migrations import LATEST, MIGRATIONS

if TYPE_CHECKING:
    from typing import TypeAlias

    import psycopg

    #: A connection returning rows as tuples (psycopg's default row factory).
    Conn: TypeAlias = psycopg.Connection[tuple[Any, ...]]

__all__: list[str] = []

#: Advisory lock keys (``pg_advisory_lock(MIGRATE_LOCK)``, ``pg_advisory_xact_lock(class, id)``).
MIGRATE_LOCK: Final = 0x7472_6B00  # "trk\0"
INDEX_LOCK_CLASS: Final = 0x7472_6B01
STATE_LOCK: Final = 0x7472_6B02
#: Seconds to wait for a TCP connection before failing.
CONNECT_TIMEOUT_S: Final = 10

_SCHEMES: Final = ("postgresql://", "postgres://")
_PASSWORD_RE: Final = re.compile(r"(://[^:/@]*:)[^@]*@")


def is_postgres_url(url: str) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return isinstance(url, str) and url.startswith(_SCHEMES)


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and logs)."""
    return _PASSWORD_RE.sub(r"\1***@", url)


def connect(url: str, *, autocommit: bool = True) -> Conn:
    """Open a connection with psycopg 3.

    Args:
        url: A ``postgresql://user:password@host:port/dbname`` URL.
        autocommit: Autocommit mode (writes then use explicit transactions).

    Returns:
        The open connection.

    Raises:
        UsageError: ``url`` is not a PostgreSQL URL.
        MissingExtraError: psycopg is not installed (``pip install 'tracker[server]'``).
        StorageError: The server cannot be reached or refuses the connection.
    """
    if not is_postgres_url(url):
        raise UsageError(f"database URL {url!r} is not a PostgreSQL URL: use postgresql://user@host:port/db.")
    from tracker._optional import require_extra

    require_extra("psycopg", feature="The PostgreSQL backend", extra="server")
    import psycopg

    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise StorageError(f"cannot connect to {redact(url)}: {exc}".strip()) from exc


@contextlib.contextmanager
def errors(url: str, what: str) -> Iterator[None]:
    """Translate ``psycopg.Error`` into :class:`StorageError` naming the database."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise StorageError(f"{redact(url)}: {what} failed: {exc}".strip()) from exc


class Connections:
    """One connection per thread and process to one database, opened lazily.

    Args:
        url: The database URL.
        check: Verify on each new connection that the schema is exactly :data:`LATEST`.
    """

    def __init__(self, url: str, *, check: bool = True) -> None:
        if not is_postgres_url(url):
            raise UsageError(
                f"database URL {url!r} is not a PostgreSQL URL: use postgresql://user@host:port/db."
            )
        self.url = url
        self._check = check
        self._local = threading.local()
        self._all: list[tuple[int, Conn]] = []
        self._lock = threading.Lock()

    @property
    def conn(self) -> Conn:
        """This thread's connection (opened on first use, reopened when it broke)."""
        local = self._local
        conn: Conn | None = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid() or conn.closed or conn.broken:
            conn = connect(self.url)
            try:
                if self._check:
                    check_schema(conn, self.url)
            except BaseException:
                conn.close()
                raise
            local.conn = conn
            local.pid = os.getpid()
            with self._lock:
                self._all.append((local.pid, conn))
        return conn

    def close(self) -> None:
        """Close every connection this object opened in this process."""
        import psycopg

        with self._lock:
            conns, self._all = self._all, []
        for pid, conn in conns:
            # A connection inherited through fork belongs to the parent: closing it here
            # would end the parent's session on the shared socket.
            if pid == os.getpid():
                with contextlib.suppress(psycopg.Error):
                    conn.close()
        self._local = threading.local()


# --------------------------------------------------------------------------- migrations
_CREATE_MIGRATIONS: Final = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
)


def schema_version(conn: Conn) -> int:
    """The newest migration applied to the database (0 when none is)."""
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    found = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(found[0]) if found is not None else 0


def check_schema(conn: Conn, url: str) -> None:
    """Raise unless the database's schema is the one this code uses.

    Raises:
        StorageError: The schema is behind (run ``tracker server migrate``) or ahead
            (written by a newer tracker) of this code.
    """
    with errors(url, "reading the schema version"):
        version = schema_version(conn)
    if version < LATEST:
        raise StorageError(
            f"{redact(url)}: the database schema is at version {version}, this tracker needs {LATEST}; "
            f"run `tracker server migrate --db URL` (or start the server with --migrate)."
        )
    _refuse_newer(version, url)


def _refuse_newer(version: int, url: str) -> None:
    if version > LATEST:
        raise StorageError(
            f"{redact(url)}: the database schema is at version {version}, newer than this tracker "
            f"understands ({LATEST}); upgrade tracker on this host to use it."
        )


def migrate(url: str, on_applied: Callable[[int], None] | None = None) -> list[int]:
    """Apply the pending migrations, in order, each in its own transaction.

    Safe to run from several processes at once (an advisory lock serialises them) and
    to repeat (a second run applies nothing).

    Args:
        url: The database URL.
        on_applied: Called with each version once it is applied (the CLI's progress).

    Returns:
        The versions applied by this call, in order (empty when up to date).

    Raises:
        StorageError: The database cannot be reached, a migration failed (it is rolled
            back), or its schema is newer than this code.
    """
    applied: list[int] = []
    with connect(url) as conn, errors(url, "migrating the schema"):
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
        try:
            conn.execute(_CREATE_MIGRATIONS)
            done = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
            _refuse_newer(max(done, default=0), url)
            for version, name, sql in MIGRATIONS:
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name)
                    )
                applied.append(version)
                if on_applied is not None:
                    on_applied(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))
    return applied
