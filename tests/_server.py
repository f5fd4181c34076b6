"""A real ``tracker server`` subprocess and API keys for it (used by the e2e and server tests).

:class:`TrackerServer` runs ``python -m tracker.cli server --root <root> --port <port> <args>``
and reads its URL from the first line it prints; its stderr goes to a temporary file whose
tail is in the failure message. :meth:`~TrackerServer.start` again reuses the port the first
start got (a client's URL survives a restart); :meth:`~TrackerServer.kill` is SIGKILL;
:meth:`~TrackerServer.stop` ends it (SIGKILL unless ``graceful``). :func:`make_key` creates
a user on the server's auth store (unless it exists) and an API key for it.

Like ``tests/_postgres.py`` and ``tests/_s3.py`` this module holds the plumbing once, so the
tests that start a server say only what is particular to them (options, users, keys).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

from tracker.server._auth import AuthStore

_STOP_TIMEOUT_S = 30.0


class TrackerServer:
    """``tracker server`` in a subprocess; ``url`` and ``port`` are read from its first stdout line.

    Args:
        root: The server's data root (``--root``).
        *args: More ``tracker server`` options (``--db``, ``--store``, limits, ...).
        port: The port to listen on; 0 (the default) takes a free one.
        env: Variables added to this process's environment for the server.
        start: Start at once (the default), else call :meth:`start`.
    """

    def __init__(
        self,
        root: Path,
        *args: str,
        port: int = 0,
        env: dict[str, str] | None = None,
        start: bool = True,
    ) -> None:
        self.root = Path(root)
        self.args = args
        self.port = port
        self.url = ""
        self.errors = ""
        self._env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        if start:
            self.start()

    def start(self) -> None:
        """Start the server (on the port of the last start, if any) and wait for its URL."""
        cmd = [sys.executable, "-m", "tracker.cli", "server", "--root", str(self.root),
               "--port", str(self.port), *self.args]  # fmt: skip
        self._stderr = tempfile.TemporaryFile()
        out = subprocess.PIPE
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=self._stderr, text=True, env=self._env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise AssertionError(f"server did not start: {line!r} {self.errors}")
        self.url = line.rstrip("/")
        self.port = int(self.url.rsplit(":", 1)[1])

    def kill(self) -> None:
        """SIGKILL the server (as a crash would) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.stop()

    def stop(self, *, graceful: bool = False) -> None:
        """End the server (SIGTERM when ``graceful``, else SIGKILL); keep its stderr's tail in ``errors``."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            if graceful:
                proc.terminate()
            else:
                proc.kill()
        proc.wait(_STOP_TIMEOUT_S)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.seek(0)
            self.errors = self._stderr.read()[-3000:].decode(errors="replace")
            self._stderr.close()
            self._stderr = None


def make_key(
    store: AuthStore | Path,
    user: str = "ci",
    name: str = "ci",
    role: str = "editor",
    *,
    site_admin: bool = False,
) -> str:
    """An API key of ``user`` on ``store`` (a server root or an :class:`AuthStore`).

    The user is created first (password ``<user>-password-1``) when it does not exist yet.
    """
    auth = store if isinstance(store, AuthStore) else AuthStore(store)
    if user not in {u.name for u in auth.users()}:
        auth.create_user(user, f"{user}-password-1", site_admin=site_admin)
    return auth.create_key(user, name, role)[0]
