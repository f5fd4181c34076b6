"""A real PostgreSQL server for the tests (a pytest plugin, see ``tests/conftest.py``).

``pg_server`` (session) runs ``initdb`` into a fresh temporary directory and starts
``postgres`` on 127.0.0.1 with a free port, a unix socket in that directory, trust
authentication for 127.0.0.1 only, and durability off (``fsync=off``: test data need not
survive a power loss); it is stopped at the end of the session. ``pg_url`` (function)
gives each test a fresh, empty database (no migrations applied) and drops it afterwards.

The binaries are found with ``pg_config --bindir`` or under ``/usr/lib/postgresql/*/bin``
(Debian's packages do not put them on PATH). PostgreSQL refuses to run as root: under
uid 0 (CI) ``initdb`` and ``postgres`` run as the ``postgres`` system user, owning the
temporary directory. Without binaries the fixtures fail when ``TRACKER_CI`` is set
and skip otherwise.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

# Read at import: the autouse isolation fixture clears TRACKER_* variables per test.
_CI = bool(os.environ.get("TRACKER_CI"))
_START_TIMEOUT_S = 60.0


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``, or None."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0:
                candidates.append(out.stdout.strip())

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit()) or (0,)

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for cand in candidates:
        path = Path(cand)
        if (path / "initdb").is_file() and (path / "postgres").is_file():
            return path
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running PostgreSQL server owned by the test session.

    Attributes:
        bindir: Directory of the server binaries.
        host: Always 127.0.0.1.
        port: TCP port.
        base: Temporary directory holding ``data/`` and the unix socket.
        proc: The ``postgres`` process.
    """

    bindir: Path
    host: str
    port: int
    base: Path
    proc: subprocess.Popen[bytes]
    log: Path
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def url(self, dbname: str = "postgres") -> str:
        """A URL of one database of this server (user ``postgres``, trust auth)."""
        return f"postgresql://postgres@{self.host}:{self.port}/{dbname}"

    def create_database(self) -> str:
        """Create a fresh empty database; return its name."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any session still connected to it."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _as_postgres() -> dict[str, Any]:
    """subprocess arguments that run a child as the ``postgres`` user when we are root."""
    if os.getuid() != 0:
        return {}
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail(
            "running as root, PostgreSQL needs the 'postgres' system user (apt-get install postgresql)"
        )
    return {
        "user": pw.pw_uid,
        "group": pw.pw_gid,
        "extra_groups": [],
        "env": {**os.environ, "HOME": str(pw.pw_dir)},
    }


def _unavailable(message: str) -> NoReturn:
    if _CI:
        pytest.fail(
            f"{message} (TRACKER_CI is set: CI must run the PostgreSQL tests; apt-get install postgresql)"
        )
    pytest.skip(message)


def start_server(bindir: Path, *, durable: bool = False) -> PostgresServer:
    """Start a server from ``bindir`` (see :func:`find_bindir`); :func:`stop_server` ends it.

    ``durable`` keeps fsync and synchronous commit (benchmarks), else they are off. Public for
    the benchmarks, which start their own server outside pytest.
    """
    base = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
    data = base / "data"
    log = base / "postgres.log"
    run_as = _as_postgres()
    if run_as:
        os.chown(base, run_as["user"], run_as["group"])
    init = subprocess.run(
        [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
         "--locale=C", "--no-sync"],
        capture_output=True, text=True, timeout=120, **run_as,
    )  # fmt: skip
    if init.returncode != 0:
        pytest.fail(f"initdb failed ({init.returncode}): {init.stderr or init.stdout}")
    # Trust, but only over the unix socket in our private directory and 127.0.0.1.
    (data / "pg_hba.conf").write_text(
        "local all all trust\nhost all all 127.0.0.1/32 trust\n", encoding="utf-8"
    )
    last_error = ""
    for _attempt in range(3):  # a free port can be taken between probing and binding
        port = _free_port()
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
                 "-k", str(base),
                 *([] if durable else ["-c", "fsync=off", "-c", "synchronous_commit=off",
                                       "-c", "full_page_writes=off"]),
                 "-c", "max_connections=300", "-c", "listen_addresses=127.0.0.1"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **run_as,
            )  # fmt: skip
        server = PostgresServer(bindir, "127.0.0.1", port, base, proc, log)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline and proc.poll() is None:
            ready = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-t", "1"],
                capture_output=True, timeout=30,
            )  # fmt: skip
            if ready.returncode == 0:
                return server
        last_error = log.read_text(errors="replace")[-2000:]
        stop_server(server, remove=False)
    shutil.rmtree(base, ignore_errors=True)
    pytest.fail(f"postgres did not start on 127.0.0.1: {last_error}")


def stop_server(server: PostgresServer, *, remove: bool = True) -> None:
    """Stop a server of :func:`start_server` (fast shutdown); ``remove`` deletes its directory."""
    proc = server.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # fast shutdown: end sessions, checkpoint, exit
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
    if remove:
        shutil.rmtree(server.base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1 for the whole session (trust auth, user ``postgres``)."""
    bindir = find_bindir()
    if bindir is None:
        _unavailable("PostgreSQL server binaries not found (pg_config --bindir, /usr/lib/postgresql/*/bin)")
    try:
        import psycopg  # noqa: F401 - the fixtures talk to the server through it
    except ImportError:
        _unavailable("psycopg is not installed: pip install 'tracker[server]'")
    server = start_server(bindir)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh, empty database of ``pg_server`` (migrations NOT applied), dropped afterwards."""
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)
