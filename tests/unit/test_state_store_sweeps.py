"""``StateStore.sweeps()``: the SQLite query and the base class's journal-based default agree."""

from __future__ import annotations

from pathlib import Path

from tracker.storage._base import StateStore
from tracker.storage._sqlite_state import SQLiteStateStore


def test_sweeps_listed_per_project_oldest_first(tmp_path: Path) -> None:
    store = SQLiteStateStore(tmp_path / "state.sqlite")
    try:
        assert store.sweeps() == []
        store.create_sweep("s1", "a", {"method": "grid"})
        store.create_sweep("s2", "b", {"method": "random"})
        store.create_sweep("s3", "a", {"method": "bayes"}, state="running")
        assert [s.id for s in store.sweeps()] == ["s1", "s2", "s3"]
        assert [s.id for s in store.sweeps("a")] == ["s1", "s3"]
        assert store.sweeps("a")[1].state == "running"
        assert store.sweeps("a")[0].config == {"method": "grid"}
        assert store.sweeps("none") == []
        # The base class's default (from the journal) gives the same records.
        assert StateStore.sweeps(store, "a") == store.sweeps("a")
        assert StateStore.sweeps(store) == store.sweeps()
    finally:
        store.close()
