"""The SQLite state store: the contract of ``tests/contracts/state.py`` and what is SQLite's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.contracts.state import MakeStore, StateStoreContract

CLAIMER = """
import sys
from tracker.storage._sqlite_state import SQLiteStateStore

store = SQLiteStateStore(sys.argv[1])
won = [k for k in range(60) if store.claim("sw", f"k{k}", sys.argv[2])]
print(" ".join(map(str, won)))
"""


class TestSQLiteStateStore(StateStoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> MakeStore:
        from tracker.storage._sqlite_state import SQLiteStateStore

        return lambda: SQLiteStateStore(tmp_path / "state.sqlite")

    def test_claims_across_processes(self, tmp_path: Path) -> None:
        path = tmp_path / "state.sqlite"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", CLAIMER, str(path), f"proc-{i}"], stdout=subprocess.PIPE, text=True
            )
            for i in range(4)
        ]
        outs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0]
        won = [int(k) for out in outs for k in out.split()]
        assert sorted(won) == list(range(60))

    def test_for_root_uses_the_index_dir(self, root: Path, tmp_path: Path, monkeypatch: Any) -> None:
        from tracker.storage._sqlite_state import SQLiteStateStore

        assert SQLiteStateStore.for_root(root).path == root / "state.sqlite"
        monkeypatch.setenv("TRACKER_INDEX_DIR", str(tmp_path / "local"))
        assert SQLiteStateStore.for_root(root).path == tmp_path / "local" / "state.sqlite"

    def test_a_newer_schema_is_refused_not_dropped(self, tmp_path: Path) -> None:
        import sqlite3

        from tracker.errors import StorageError
        from tracker.storage._sqlite_state import SQLiteStateStore

        path = tmp_path / "state.sqlite"
        SQLiteStateStore(path).claim("sw", "k", "a")
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        with pytest.raises(StorageError, match="schema"):
            SQLiteStateStore(path).claims("sw")
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT COUNT(*) FROM sweep_claims").fetchone() == (1,)
