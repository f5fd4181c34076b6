"""Index refreshes in a server process: one lock per run, never one for the whole index.

The server indexes from many threads: every read refreshes the runs it reads (one
``stat`` each when nothing changed), and every upload indexes its run before it
answers. Two threads must not decode the same new bytes (all but one would discard
their work at commit: a cold 100 x 100k-point project took 15 s alone, 45-54 s with two
page requests racing), but one user's 60 MiB upload must not hold up another user's
reads either. So :class:`RunLocks` wraps the index's ``ingest_many`` with a lock per
``(project, run)``:

- runs are indexed in groups of at most :data:`GROUP_BYTES` of log (or one big log
  alone), each group under the locks of its own runs only, released as soon as the
  group is stored: a small run indexed together with a big one never waits for it;
- a run whose lock another thread holds is left to that thread; the refresh waits for
  it afterwards (holding no lock) and finds nothing new, so it reads what that thread
  stored (the page requests of a cold project still decode each log once);
- a refresh of every project (the projects listing) does not wait for runs another
  thread is indexing: it lists what is stored so far;
- a read of a run whose log has not changed takes no lock at all.

Across server processes the index backends keep runs apart themselves (PostgreSQL: a
transaction-scoped advisory lock per run; SQLite: ``BEGIN IMMEDIATE`` with an offset
check), one slice of a log per transaction.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from tracker.storage._base import IndexBackend

__all__ = ["GROUP_BYTES", "RunLocks"]

#: Log bytes indexed under one group of run locks (a bigger log is indexed alone).
GROUP_BYTES: Final = 4 * 1024 * 1024
#: Runs indexed under one group of run locks (the index may commit them together).
GROUP_RUNS: Final = 256

Item = tuple[str, str, Path]


class RunLocks:
    """Per-run locks around an index's ``refresh``/``ingest_many`` (see the module docstring).

    Args:
        index: The index to wrap; its ``refresh`` and ``ingest_many`` are replaced on the
            instance, so every reader of this index (``Api``, the dashboard, the team
            server's endpoints, the ingest indexer) goes through the locks.
    """

    def __init__(self, index: IndexBackend) -> None:
        self.index = index
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self._local = threading.local()
        self._refresh = index.refresh
        self._ingest_many = index.ingest_many
        index.refresh = self.refresh  # type: ignore[method-assign]
        index.ingest_many = self.ingest_many  # type: ignore[method-assign]

    def lock(self, project: str, run_id: str) -> threading.Lock:
        """The lock of one run in this process."""
        with self._guard:
            return self._locks.setdefault((project, run_id), threading.Lock())

    def refresh(self, project: str | None = None, run_id: str | None = None) -> int:
        """The index's ``refresh``; a refresh of every project skips runs being indexed."""
        self._local.skip_busy = project is None
        try:
            return self._refresh(project, run_id)
        finally:
            self._local.skip_busy = False

    def ingest_many(self, items: list[Item]) -> None:
        """Index ``items`` group by group under their runs' locks (see the module docstring)."""
        busy: list[Item] = []
        for group in _groups(items):
            held: list[tuple[threading.Lock, Item]] = []
            try:
                for item in group:
                    lock = self.lock(item[0], item[1])
                    if lock.acquire(blocking=False):
                        held.append((lock, item))
                    else:
                        busy.append(item)
                if held:
                    self._ingest_many([item for _, item in held])
            finally:
                for lock, _ in held:
                    lock.release()
        if getattr(self._local, "skip_busy", False):
            return
        for item in busy:  # another thread is indexing it: wait, then take what is left
            with self.lock(item[0], item[1]):
                self._ingest_many([item])


def _groups(items: list[Item]) -> Iterator[list[Item]]:
    """``items`` in groups of at most GROUP_BYTES of log and GROUP_RUNS runs (a big log alone)."""
    group: list[Item] = []
    size = 0
    for item in items:
        try:
            n = os.stat(item[2]).st_size
        except OSError:
            n = 0  # gone or unreadable: the index reports it
        if group and (size + n > GROUP_BYTES or len(group) >= GROUP_RUNS):
            yield group
            group, size = [], 0
        group.append(item)
        size += n
    if group:
        yield group
