"""The SQLite index: the index contract (``tests/contracts/index.py``) and what is SQLite's own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.contracts.index import IndexContract, MakeIndex
from tracker.storage._base import IndexBackend


class TestSQLiteIndex(IndexContract):
    @pytest.fixture
    def make_index(self) -> MakeIndex:
        from tracker.storage._sqlite_index import SQLiteIndex

        return SQLiteIndex

    @pytest.fixture
    def drop_index(self) -> Callable[[Path], None]:
        def drop(root: Path) -> None:
            for suffix in ("", "-wal", "-shm"):
                (root / f"index.sqlite{suffix}").unlink(missing_ok=True)

        return drop

    def test_index_lives_in_index_dir(self, root: Path, tmp_path: Path, logs: Any, monkeypatch: Any) -> None:
        from tracker.storage._sqlite_index import SQLiteIndex

        monkeypatch.setenv("TRACKER_INDEX_DIR", str(tmp_path / "local"))
        logs.run("p", "a").log({"x": 1.0})
        index = SQLiteIndex(root)
        index.refresh()
        assert index.path == tmp_path / "local" / "index.sqlite"
        assert index.path.exists()
        assert not (root / "index.sqlite").exists()

    def test_an_index_of_another_root_is_rebuilt(self, root: Path, tmp_path: Path, logs: Any) -> None:
        from tracker.storage._sqlite_index import SQLiteIndex

        logs.run("p", "a").log({"x": 1.0})
        shared = tmp_path / "shared.sqlite"
        SQLiteIndex(root, shared).refresh()
        other = SQLiteIndex(tmp_path / "other-root", shared)
        other.refresh()
        assert other.projects() == []

    def test_lazy_timestamps_detect_a_rewrite(self, root: Path, logs: Any) -> None:
        from tracker.storage._base import IndexChangedError
        from tracker.storage._sqlite_index import SQLiteIndex

        run = logs.run("p", "a")
        run.series(10, {"x": float})
        reader, writer = SQLiteIndex(root), SQLiteIndex(root)
        reader.refresh()
        appended = reader.series("p", "a", ["x"])["x"]
        rewritten = reader.series("p", "a", ["x"])["x"]
        run.series(5, {"x": float}, start=10)
        writer.refresh()  # an append extends the last chunk: earlier reads stay valid
        assert appended.ts.tolist() == [run.created + 1 + s for s in range(10)]
        run.resume(rewind=3)
        writer.refresh()  # a rewind rewrites the chunk: a lazy read must not mix versions
        with pytest.raises(IndexChangedError):
            rewritten.ts  # noqa: B018

    def test_sqlite_errors_become_storage_errors(self, root: Path, tmp_path: Path) -> None:
        from tracker.errors import StorageError
        from tracker.storage._sqlite_index import SQLiteIndex

        # (A garbage index file is moved aside and rebuilt: tests/unit/test_corrupt_files.py.)
        (tmp_path / "a-file").write_bytes(b"not a folder")
        bad = tmp_path / "a-file" / "not-a-db.sqlite"
        with pytest.raises(StorageError, match="not-a-db"):
            SQLiteIndex(root, bad).projects()


def test_logs_being_created_or_unreadable(root: Path, logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker.errors import CorruptRecordError, TrackerWarning
    from tracker.storage._format import file_header
    from tracker.storage._sqlite_index import SQLiteIndex

    empty = root / "projects/p/runs/new/run.tlog"
    empty.parent.mkdir(parents=True)
    empty.write_bytes(file_header()[:7])  # the writer has created it, the header is on its way
    garbage = root / "projects/p/runs/junk/run.tlog"
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(b"definitely not a run log")
    logs.run("p", "ok").log({"x": 1.0})
    index = SQLiteIndex(root)
    with pytest.raises(CorruptRecordError):  # strict mode (the test suite's default) raises
        index.refresh("p")
    monkeypatch.setenv("TRACKER_STRICT", "0")
    with pytest.warns(TrackerWarning, match="junk"):
        index.refresh("p")
    assert [r.id for r in index.runs("p")] == ["ok"]
    logs.run("p", "new").log({"y": 2.0})
    index.refresh("p")
    assert sorted(r.id for r in index.runs("p")) == ["new", "ok"]


def test_public_storage_names() -> None:
    import tracker.storage as storage
    from tracker.storage._base import StateStore
    from tracker.storage._sqlite_index import SQLiteIndex
    from tracker.storage._sqlite_state import SQLiteStateStore

    assert (storage.IndexBackend, storage.StateStore) == (IndexBackend, StateStore)
    assert (storage.SQLiteIndex, storage.SQLiteStateStore) == (SQLiteIndex, SQLiteStateStore)
    assert issubclass(SQLiteIndex, IndexBackend)
    assert issubclass(SQLiteStateStore, StateStore)
    assert sorted(storage.__all__) == storage.__dir__()
    with pytest.raises(AttributeError):
        storage.Nope  # noqa: B018
