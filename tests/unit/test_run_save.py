"""run.save() / tracker.save(): files copied into the run, FILES records, live re-copies."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker import _files, media
from tracker.errors import UsageError


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a few files, made the current directory."""
    d = tmp_path / "work"
    (d / "ckpt" / "sub").mkdir(parents=True)
    (d / "ckpt" / "a.pt").write_bytes(b"A" * 10)
    (d / "ckpt" / "b.pt").write_bytes(b"B" * 20)
    (d / "ckpt" / "sub" / "c.pt").write_bytes(b"C")
    (d / "notes.txt").write_text("hello")
    monkeypatch.chdir(d)
    return d


def _files_of(run: tracker.Run) -> dict[str, dict[str, object]]:
    return media.run_files(run.dir)


def test_now_copies_matching_files_keeping_folders(work: Path) -> None:
    run = tracker.init(project="files")
    dest = run.save("ckpt/*.pt", policy="now")
    assert sorted(dest) == [str(Path(run.dir, "files", "ckpt", n)) for n in ("a.pt", "b.pt")]
    (work / "ckpt" / "a.pt").write_bytes(b"changed")  # "now" does not follow changes
    run.finish()
    files = _files_of(run)
    assert sorted(files) == ["ckpt/a.pt", "ckpt/b.pt"]
    entry = files["ckpt/b.pt"]
    assert entry["size"] == 20
    assert entry["policy"] == "now"
    assert entry["sha256"] == hashlib.sha256(b"B" * 20).hexdigest()
    assert Path(run.dir, "files", "ckpt", "b.pt").read_bytes() == b"B" * 20


def test_recursive_glob_and_base_path(work: Path) -> None:
    run = tracker.init(project="files")
    run.save(str(work / "ckpt" / "**" / "*.pt"), base_path=str(work / "ckpt"), policy="now")
    run.finish()
    assert sorted(_files_of(run)) == ["a.pt", "b.pt", "sub/c.pt"]


def test_absolute_glob_without_base_path_is_flat(work: Path) -> None:
    run = tracker.init(project="files")
    run.save(str(work / "ckpt" / "sub" / "c.pt"), policy="now")
    run.finish()
    assert list(_files_of(run)) == ["c.pt"]
    assert Path(run.dir, "files", "c.pt").read_bytes() == b"C"


def test_end_copies_at_finish(work: Path) -> None:
    run = tracker.init(project="files")
    assert run.save("later.bin", policy="end") == []
    (work / "later.bin").write_bytes(b"final")
    run.finish()
    files = _files_of(run)
    assert files["later.bin"]["policy"] == "end"
    assert files["later.bin"]["size"] == 5
    assert Path(run.dir, "files", "later.bin").read_bytes() == b"final"


def test_live_recopies_changes_and_new_files(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_files, "LIVE_EVERY", 0.0)  # check on every writer cycle
    run = tracker.init(project="files")
    tracker.save("*.txt")  # module level, default policy "live"
    writer = run._writer
    assert writer is not None
    writer.flush(5)
    (work / "notes.txt").write_text("hello again, longer")
    (work / "new.txt").write_text("new")
    writer.flush(5)
    writer.flush(5)  # an unchanged file is not copied again
    (work / "notes.txt").write_text("last")
    run.finish()
    state = tracker._init.read_log(Path(run.dir) / "run.tlog")
    notes = [e for e in state.files if e["path"] == "notes.txt"]
    assert [e["size"] for e in notes] == [5, 19, 4]
    assert all(e["policy"] == "live" for e in state.files)
    assert Path(run.dir, "files", "notes.txt").read_text() == "last"
    assert Path(run.dir, "files", "new.txt").read_text() == "new"


def test_the_runs_own_files_are_never_copied(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_DIR", str(work / "store"))
    run = tracker.init(project="files")
    run.log({"img": tracker.Image(np.zeros((2, 2), np.uint8))})
    run.save("**/*", policy="end")
    run.finish()
    assert all(not p.startswith("store/") for p in _files_of(run))
    assert "notes.txt" in _files_of(run)


def test_save_errors(work: Path) -> None:
    run = tracker.init(project="files")
    with pytest.raises(UsageError, match="policy"):
        run.save("*.txt", policy="sometimes")
    with pytest.raises(UsageError, match="URL"):
        run.save("s3://bucket/x")
    with pytest.raises(UsageError, match="above base_path"):
        run.save("../*.txt", base_path=".")
    with pytest.raises(UsageError, match="file path or glob"):
        run.save(None)
    run.finish()
    with pytest.raises(UsageError, match="finished"):
        run.save("*.txt")
    with pytest.raises(UsageError, match=r"before tracker\.init"):
        tracker.save("*.txt")


def test_a_failed_copy_is_a_background_problem(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: object, src: Path, rel: str, policy: str) -> None:
        raise PermissionError(13, "Permission denied", str(src))

    monkeypatch.setattr(_files.FileSaver, "_copy", refuse)
    run = tracker.init(project="files")
    run.save("notes.txt", policy="now")
    run.log({"loss": 1.0})
    with pytest.raises(tracker.Error, match="could not copy"):
        run.finish()  # strict mode; otherwise one warning, and the run goes on
    assert tracker._init.read_log(Path(run.dir) / "run.tlog").rows[0][2] == {"loss": 1.0}
