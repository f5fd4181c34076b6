"""tracker.storage: the run-log format, replay, the index and the state store.

The interfaces (:class:`IndexBackend`, :class:`StateStore`), their SQLite
implementations (:class:`SQLiteIndex`, :class:`SQLiteStateStore`) and the team server's
PostgreSQL ones (:class:`PostgresIndex`, :class:`PostgresStateStore`, which need the
``[server]`` extra) are loaded on first access, so that the write path, which imports
the log format, stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.storage._base import IndexBackend, StateStore
    from tracker.storage._pg_index import PostgresIndex
    from tracker.storage._pg_state import PostgresStateStore
    from tracker.storage._sqlite_index import SQLiteIndex
    from tracker.storage._sqlite_state import SQLiteStateStore

__all__ = [
    "IndexBackend",
    "PostgresIndex",
    "PostgresStateStore",
    "SQLiteIndex",
    "SQLiteStateStore",
    "StateStore",
]

_LAZY = {
    "IndexBackend": "tracker.storage._base",
    "StateStore": "tracker.storage._base",
    "PostgresIndex": "tracker.storage._pg_index",
    "PostgresStateStore": "tracker.storage._pg_state",
    "SQLiteIndex": "tracker.storage._sqlite_index",
    "SQLiteStateStore": "tracker.storage._sqlite_state",
}


def __getattr__(name: str) -> Any:
    # PEP 562: the backends import sqlite3 and numpy helpers; load them when asked for.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tracker.storage' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
