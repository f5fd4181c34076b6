"""One bad file never breaks too much (issue 14, point 8).

Before: a directory named ``run.tlog`` made the whole project unreadable (IsADirectoryError
on every read); a garbage ``index.sqlite`` was not rebuilt though it is disposable ("file
is not a database" on every read); on a read-only root (or a full disk) every read failed
with no hint at ``TRACKER_INDEX_DIR``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._poison import good_log, write_log
from tracker.api import Api
from tracker.errors import StorageError, TrackerWarning


@pytest.fixture
def lenient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strict mode (on in tests) raises where a user gets a warning: turn it off."""
    monkeypatch.delenv("TRACKER_STRICT")


def test_a_directory_named_run_tlog_is_skipped_with_a_warning(root: Path, lenient: None) -> None:
    write_log(root, "p", "ok", good_log("ok", "p"))
    weird = root / "projects" / "p" / "runs" / "weird" / "run.tlog"
    weird.mkdir(parents=True)
    with pytest.warns(TrackerWarning, match=f"skipping {weird}: it is a directory, not a run log"):
        runs = Api(root).runs("p")
    assert [r.id for r in runs] == ["ok"]
    assert runs[0].summary["loss"] == 0.5
    assert [(p.name, p.run_count) for p in Api(root).projects()] == [("p", 1)]


def test_a_run_tlog_link_loop_is_skipped_with_a_warning(root: Path, lenient: None) -> None:
    write_log(root, "p", "ok", good_log("ok", "p"))
    loop = root / "projects" / "p" / "runs" / "loop" / "run.tlog"
    loop.parent.mkdir(parents=True)
    loop.symlink_to(loop)
    with pytest.warns(TrackerWarning, match=f"skipping {loop}: cannot read it"):
        assert [r.id for r in Api(root).runs("p")] == ["ok"]


def test_a_project_whose_runs_cannot_be_listed_is_skipped(root: Path, lenient: None) -> None:
    write_log(root, "p", "ok", good_log("ok", "p"))
    runs = root / "projects" / "q" / "runs"
    runs.parent.mkdir(parents=True)
    runs.symlink_to(runs)
    with pytest.warns(TrackerWarning, match=f"skipping {runs}: cannot list it"):
        assert [(p.name, p.run_count) for p in Api(root).projects()] == [("p", 1)]


def test_a_directory_named_run_tlog_raises_in_strict_mode(root: Path) -> None:
    write_log(root, "p", "ok", good_log("ok", "p"))
    weird = root / "projects" / "p" / "runs" / "weird" / "run.tlog"
    weird.mkdir(parents=True)
    with pytest.raises(StorageError, match="it is a directory, not a run log") as info:
        Api(root).runs("p")
    assert info.value.path == str(weird)


@pytest.mark.parametrize("garbage", [b"not a database at all\n" * 500, b"SQLite format 3\x00" + bytes(4080)])
def test_a_garbage_index_is_moved_aside_and_rebuilt(
    root: Path, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    write_log(root, "p", "ok", good_log("ok", "p"))
    (root / "index.sqlite").write_bytes(garbage)
    with caplog.at_level(logging.WARNING, logger="tracker"):
        runs = Api(root).runs("p")
    assert [r.id for r in runs] == ["ok"]
    assert runs[0].config == {"lr": 0.1}
    [aside] = [p for p in root.iterdir() if p.name.startswith("index.sqlite.corrupt-")]
    assert aside.read_bytes() == garbage  # kept, not deleted
    [line] = [r.getMessage() for r in caplog.records if "not a usable SQLite index" in r.getMessage()]
    assert aside.name in line
    assert str(root / "index.sqlite") in line
    # The new index is a real one: a second reader uses it as is.
    caplog.clear()
    assert [r.id for r in Api(root).runs("p")] == ["ok"]
    assert not [r for r in caplog.records if "not a usable" in r.getMessage()]


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make ``path`` a folder nobody can create files in (root included), then undo it."""
    undo: list[list[str]] = []
    if os.geteuid() != 0:
        path.chmod(0o555)
        undo.append([])
    elif (
        shutil.which("chattr")
        and subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
    ):
        undo.append(["chattr", "-i", str(path)])
    elif (
        subprocess.run(["mount", "--bind", "-o", "ro", str(path), str(path)], capture_output=True).returncode
        == 0
    ):
        undo.append(["umount", str(path)])
    else:
        pytest.skip("cannot make a read-only folder here (root without chattr or mount)")
    try:
        probe = path / ".probe"
        with pytest.raises(OSError):
            probe.touch()
        yield
    finally:
        if undo[0]:
            subprocess.run(undo[0], check=True)
        else:
            path.chmod(0o755)


def test_a_read_only_root_keeps_the_index_in_the_cache_dir(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write_log(root, "p", "ok", good_log("ok", "p"))
    with read_only(root), caplog.at_level(logging.WARNING, logger="tracker"):
        runs = Api(root).runs("p")
        assert [r.id for r in runs] == ["ok"]
        assert Api(root).run("p/ok").history(pandas=False)[-1]["loss"] == 0.5
        assert not (root / "index.sqlite").exists()
        [index] = (tmp_path / "home" / ".cache" / "tracker" / "index").glob("*/index.sqlite")
        lines = [r.getMessage() for r in caplog.records if "cannot write the index" in r.getMessage()]
        assert len(lines) == 1  # one line, however many readers
        assert str(index.parent) in lines[0]
        assert "TRACKER_INDEX_DIR" in lines[0]
        # Where the user chose the folder, nothing moves: the error says what to do.
        monkeypatch.setenv("TRACKER_INDEX_DIR", str(root))
        with pytest.raises(StorageError, match="set TRACKER_INDEX_DIR to a writable folder"):
            Api(root).runs("p")


def test_a_full_disk_keeps_the_index_in_the_cache_dir(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if os.geteuid() != 0:
        pytest.skip("a full filesystem needs a small tmpfs mount (root only)")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    root.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(root)], check=True)
    try:
        rows = [[0, s, 1.7e9 + s, s * 0.5] for s in range(2000)]
        import msgpack

        from tracker.storage._format import frame

        data = good_log("big", "p") + frame(msgpack.packb([3, [["x"]], rows]))
        write_log(root, "p", "big", data)
        with caplog.at_level(logging.WARNING, logger="tracker"):
            run = Api(root).run("p/big")
        assert [r["x"] for r in run.history(keys=["x"], pandas=False)] == [s * 0.5 for s in range(2000)]
        lines = [r.getMessage() for r in caplog.records if "cannot write the index" in r.getMessage()]
        assert len(lines) == 1
        assert "TRACKER_INDEX_DIR" in lines[0]
        assert list((tmp_path / "home" / ".cache" / "tracker" / "index").glob("*/index.sqlite"))
    finally:
        subprocess.run(["umount", str(root)], check=True)
