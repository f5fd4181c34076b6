"""Who may use a stored blob: the users who uploaded it and the projects that reference it.

The object store keeps each content once, named by its SHA-256, for the whole server. A
hash is not a secret (a file's hash can leak in a log or a manifest), so knowing it must
not be enough to read the blob: a caller may link a blob into a run or an artifact, or
be told it exists, only when

- they uploaded it themselves (all of its bytes, hashed by the server: proof that they
  hold the content), or
- it is referenced from a project they can read (a run file or an artifact version of
  that project links it), or
- they are a server admin.

Anyone else who has the content uploads it: the server hashes the bytes and keeps its
single copy. The records live in the auth store's ``auth_blobs`` table (SQLite beside
the accounts, or PostgreSQL, migration 3): ``(sha, 'user', name)`` for an upload and
``(sha, 'project', name)`` for a reference. Blobs stored before this table existed have
no record: the first client that needs one sends its bytes again, once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Final

from tracker.server._auth import AuthStore, Principal

__all__ = ["BlobOwners"]

_BATCH: Final = 500  # SHA-256s per query (well under SQLite's bound on parameters)
_INSERT: Final = (
    "INSERT INTO auth_blobs (sha, kind, name, created) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (sha, kind, name) DO NOTHING"
)


class BlobOwners:
    """The ``auth_blobs`` records of a server's auth store (see the module docstring).

    Args:
        auth: The server's accounts (None: a server without accounts, where every caller
            may use every blob).
    """

    def __init__(self, auth: AuthStore | None) -> None:
        self.auth = auth

    def uploaded(self, sha: str, user: str) -> None:
        """Record that ``user`` uploaded every byte of ``sha``."""
        self._add([sha], "user", user)

    def referenced(self, shas: Iterable[str], project: str) -> None:
        """Record that ``project`` references each blob of ``shas``."""
        self._add(list(shas), "project", project)

    def _add(self, shas: list[str], kind: str, name: str) -> None:
        if self.auth is None or not shas:
            return
        now = time.time()
        with self.auth._db(write=True) as run:
            for sha in dict.fromkeys(shas):
                run(_INSERT, sha, kind, name, now)

    def usable(self, who: Principal | None, shas: Iterable[str], project: str | None = None) -> set[str]:
        """The blobs of ``shas`` that ``who`` may use.

        Args:
            who: The caller (None: no accounts on this server, every blob is usable).
            shas: SHA-256 hex digests.
            project: Only count references from this project (whose read access the gate
                has checked); None: from any project the caller can read.
        """
        wanted = list(dict.fromkeys(shas))
        if self.auth is None or who is None or who.site_admin:
            return set(wanted)
        rows: list[tuple[Any, ...]] = []
        with self.auth._db() as run:
            for i in range(0, len(wanted), _BATCH):
                part = wanted[i : i + _BATCH]
                marks = ", ".join("?" * len(part))
                rows += run(f"SELECT sha, kind, name FROM auth_blobs WHERE sha IN ({marks})", *part)
        out = {str(sha) for sha, kind, name in rows if kind == "user" and name == who.user}
        refs = [(str(sha), str(name)) for sha, kind, name in rows if kind == "project" and sha not in out]
        if project is not None:
            return out | {sha for sha, name in refs if name == project}
        roles = self.auth.roles_on(who, {name for _sha, name in refs}) if refs else {}
        return out | {sha for sha, name in refs if roles.get(name) is not None}
