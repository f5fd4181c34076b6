"""``tracker gc`` and ``tracker artifact ls``: real blobs on disk, concurrency rule checked step by step."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tracker.artifacts import Artifact
from tracker.artifacts._gc import collect
from tracker.artifacts._ops import store_version
from tracker.artifacts._store import BlobStore
from tracker.cli import main
from tracker.errors import StorageError
from tracker.storage._base import ArtifactVersion
from tracker.storage._sqlite_state import SQLiteStateStore

HOUR = 3600.0


@pytest.fixture
def state(root: Path) -> SQLiteStateStore:
    return SQLiteStateStore.for_root(root)


def _put(
    root: Path,
    state: SQLiteStateStore,
    tmp_path: Path,
    name: str,
    files: dict[str, bytes],
    project: str = "p",
) -> ArtifactVersion:
    src = tmp_path / "src" / f"{name}-{len(list(tmp_path.glob('src/*')))}"
    src.mkdir(parents=True)
    art = Artifact(name, "dataset")
    for fname, data in files.items():
        (src / fname).write_bytes(data)
        art.add_file(src / fname, name=fname)
    return store_version(art, root, project, None, [], state)


def _digest(root: Path, tmp_path: Path, data: bytes) -> str:
    from tracker.artifacts._store import hash_file

    f = tmp_path / "probe.bin"
    f.write_bytes(data)
    return hash_file(f)[0]


def _age(root: Path, seconds: float = 2 * HOUR) -> None:
    """Make every blob look stored ``seconds`` ago."""
    old = time.time() - seconds
    for path in (root / "artifacts" / "blobs").rglob("*"):
        if path.is_file():
            os.utime(path, (old, old))


def _orphan(root: Path, tmp_path: Path, data: bytes) -> Path:
    """A blob no manifest references (a writer stored it and never registered a version)."""
    f = tmp_path / "orphan.bin"
    f.write_bytes(data)
    store = BlobStore(root)
    digest, _size, _copied = store.put_file(f)
    return store.blob_path(digest)


# --------------------------------------------------------------------------- collect()
def test_unreferenced_deleted_referenced_kept_and_deleted_versions_protect_nothing(
    root: Path, state: SQLiteStateStore, tmp_path: Path
) -> None:
    v0 = _put(root, state, tmp_path, "ds", {"a": b"AAAA", "b": b"BBBBBBBB"})
    v1 = _put(root, state, tmp_path, "ds", {"a": b"AAAA", "c": b"CC"})
    store = BlobStore(root)
    paths = {
        k: store.blob_path(_digest(root, tmp_path, d))
        for k, d in {"a": b"AAAA", "b": b"BBBBBBBB", "c": b"CC"}.items()
    }
    _age(root)
    # Every blob is referenced by a live version: nothing to do.
    assert collect(root, state, delete=True, grace=0).removed == []
    assert state.delete_artifact_version("p", "ds", v0.version)
    result = collect(root, state, delete=True, grace=0)
    assert result.removed == [(_digest(root, tmp_path, b"BBBBBBBB"), 8)]
    assert (result.freed, result.referenced, result.recent, result.dry_run) == (8, 2, 0, False)
    assert not paths["b"].exists()
    assert paths["a"].is_file()
    assert paths["c"].is_file()
    assert store.manifest_path(v0.digest).is_file()  # manifests are kept
    # The surviving version still downloads and verifies.
    art = Artifact._from_version(v1, root)
    out = Path(art.download(str(tmp_path / "dl")))
    assert (out / "a").read_bytes() == b"AAAA"
    assert (out / "c").read_bytes() == b"CC"


def test_dry_run_deletes_nothing(root: Path, state: SQLiteStateStore, tmp_path: Path) -> None:
    _put(root, state, tmp_path, "ds", {"a": b"kept"})
    orphan = _orphan(root, tmp_path, b"orphan bytes")
    _age(root)
    before = sorted(p for p in (root / "artifacts").rglob("*") if p.is_file())
    result = collect(root, state, delete=False, grace=0)
    assert result.dry_run
    assert result.removed == [(_digest(root, tmp_path, b"orphan bytes"), 12)]
    assert sorted(p for p in (root / "artifacts").rglob("*") if p.is_file()) == before
    assert orphan.is_file()


def test_registry_links_protect_their_blobs(root: Path, state: SQLiteStateStore, tmp_path: Path) -> None:
    from tracker.artifacts._ops import link_version

    v0 = _put(root, state, tmp_path, "model", {"w": b"weights"})
    link_version(Artifact._from_version(v0, root), "best", ["production"], root, state)
    state.delete_artifact_version("p", "model", 0)
    _age(root)
    assert collect(root, state, delete=True, grace=0).removed == []
    assert BlobStore(root).has(_digest(root, tmp_path, b"weights"))


def test_blobs_younger_than_the_grace_period_are_kept(
    root: Path, state: SQLiteStateStore, tmp_path: Path
) -> None:
    orphan = _orphan(root, tmp_path, b"recent")
    _age(root, 60)
    result = collect(root, state, delete=True, grace=HOUR)
    assert (result.removed, result.recent) == ([], 1)
    assert orphan.is_file()
    assert collect(root, state, delete=True, grace=30).removed == [(_digest(root, tmp_path, b"recent"), 6)]
    assert not orphan.exists()


def test_blobs_written_after_gc_listed_the_manifests_are_kept(
    root: Path, state: SQLiteStateStore, tmp_path: Path
) -> None:
    old = _orphan(root, tmp_path, b"old orphan")
    _age(root)
    written: dict[str, Path] = {}

    def writer(stage: str) -> None:
        if stage == "listed":  # a concurrent log_artifact, in both of its phases
            v = _put(root, state, tmp_path, "late", {"x": b"registered late"})
            written["registered"] = BlobStore(root).blob_path(
                BlobStore(root).read_manifest(v.digest)["x"]["digest"]
            )
            written["unregistered"] = _orphan(root, tmp_path, b"stored, not registered yet")

    result = collect(root, state, delete=True, grace=0, _hook=writer)
    assert [d for d, _ in result.removed] == [_digest(root, tmp_path, b"old orphan")]
    assert not old.exists()
    assert written["registered"].is_file()
    assert written["unregistered"].is_file()


def test_an_old_blob_reused_by_a_concurrent_writer_is_kept(
    root: Path, state: SQLiteStateStore, tmp_path: Path
) -> None:
    orphan = _orphan(root, tmp_path, b"reused content")
    _age(root)

    def writer(stage: str) -> None:
        if stage == "scanned":  # gc chose the blob; a writer now stores the same content
            _orphan(root, tmp_path, b"reused content")  # dedup: touches the blob

    result = collect(root, state, delete=True, grace=0, _hook=writer)
    assert (result.removed, result.recent) == ([], 1)
    assert orphan.is_file()


def test_a_blob_touched_between_the_check_and_the_move_is_restored(
    root: Path, state: SQLiteStateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan = _orphan(root, tmp_path, b"raced")
    _age(root)
    real_rename = os.rename

    def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        os.utime(src)  # a writer's dedup touch lands just before the move
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    result = collect(root, state, delete=True, grace=0)
    assert (result.removed, result.recent) == ([], 1)
    assert orphan.read_bytes() == b"raced"
    assert not list((root / "artifacts" / "tmp").glob("gc-*"))


def test_a_writer_after_the_move_copies_the_blob_in_again(
    root: Path, state: SQLiteStateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan = _orphan(root, tmp_path, b"moved")
    _age(root)
    real_rename = os.rename

    def rename(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        real_rename(src, dst)
        monkeypatch.setattr(os, "rename", real_rename)
        _, _, copied = BlobStore(root).put_file(tmp_path / "orphan.bin")  # finds it gone
        assert copied

    monkeypatch.setattr(os, "rename", rename)
    result = collect(root, state, delete=True, grace=0)
    assert result.removed == [(_digest(root, tmp_path, b"moved"), 5)]  # the old copy went
    assert orphan.read_bytes() == b"moved"  # the writer's copy stays


def test_a_version_registered_during_the_scan_protects_old_blobs(
    root: Path, state: SQLiteStateStore, tmp_path: Path
) -> None:
    orphan = _orphan(root, tmp_path, b"slow writer")
    digest = _digest(root, tmp_path, b"slow writer")
    _age(root)

    def register(stage: str) -> None:
        if stage == "scanned":  # stored long ago, registered now (no touch)
            m = BlobStore(root).write_manifest({"f": {"digest": digest, "size": 11}})
            state.add_artifact_version("p", "slow", "dataset", m)

    result = collect(root, state, delete=True, grace=0, _hook=register)
    assert (result.removed, result.referenced) == ([], 1)
    assert orphan.is_file()


def test_a_missing_manifest_refuses_to_collect(root: Path, state: SQLiteStateStore, tmp_path: Path) -> None:
    v = _put(root, state, tmp_path, "ds", {"a": b"data"})
    orphan = _orphan(root, tmp_path, b"orphan")
    _age(root)
    BlobStore(root).manifest_path(v.digest).unlink()
    with pytest.raises(StorageError, match="manifest"):
        collect(root, state, delete=True, grace=0)
    assert orphan.is_file()


def test_progress_lines_on_long_work(root: Path, state: SQLiteStateStore, tmp_path: Path) -> None:
    for i in range(3):
        _put(root, state, tmp_path, "ds", {"a": f"v{i}".encode()})
    lines: list[str] = []
    collect(root, state, grace=0, progress=lines.append, progress_interval=0)
    assert any(line.startswith("gc: read ") and "manifests" in line for line in lines)
    assert any(line.startswith("gc: scanned ") for line in lines)


# --------------------------------------------------------------------------- CLI
def test_cli_gc_dry_run_then_yes(
    root: Path, state: SQLiteStateStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _put(root, state, tmp_path, "ds", {"a": b"keep me"})
    orphan = _orphan(root, tmp_path, b"delete me!")
    digest = _digest(root, tmp_path, b"delete me!")
    _age(root)
    assert main(["gc", "--grace", "0"]) == 0
    out = capsys.readouterr().out
    assert f"would delete {digest}\t10" in out
    assert "dry run: 1 unreferenced blob(s), 10 bytes (10 B) would be freed" in out
    assert "--yes" in out
    assert orphan.is_file()
    assert main(["gc"]) == 0  # default grace: an hour; the blob is two hours old
    assert "dry run: 1 unreferenced" in capsys.readouterr().out
    assert main(["gc", "--yes", "--grace", "0"]) == 0
    out = capsys.readouterr().out
    assert f"deleted {digest}\t10" in out
    assert "deleted 1 unreferenced blob(s), freed 10 bytes" in out
    assert "kept 1 referenced" in out
    assert not orphan.exists()
    assert main(["gc", "--yes", "--grace", "0", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("deleted 0 unreferenced blob(s), freed 0 bytes")
    assert main(["artifact", "get", "p/ds:latest", "--dir", str(tmp_path / "dl")]) == 0
    assert (tmp_path / "dl" / "a").read_bytes() == b"keep me"


def test_cli_gc_errors(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc"]) == 0
    assert "nothing to collect" in capsys.readouterr().out
    assert main(["gc", "--grace", "-1"]) == 2
    assert "--grace" in capsys.readouterr().err
    orphan = _orphan(root, tmp_path, b"no state store")  # blobs, but the state store is elsewhere
    assert main(["gc", "--yes", "--grace", "0"]) == 1
    assert "refusing" in capsys.readouterr().err
    assert orphan.is_file()


def test_cli_ls_lists_from_the_state_store(
    root: Path, state: SQLiteStateStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _put(root, state, tmp_path, "ds", {"a": b"1"})
    _put(root, state, tmp_path, "ds", {"a": b"2"})
    _put(root, state, tmp_path, "gone", {"a": b"3"})
    _put(root, state, tmp_path, "other", {"a": b"4"}, project="q")
    state.delete_artifact_version("p", "gone", 0)
    state.delete_artifact_version("p", "ds", 0)
    assert main(["artifact", "ls", "p", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["project"], r["name"], r["version"]) for r in rows] == [("p", "ds", "v1")]
    assert main(["artifact", "ls"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["ARTIFACT", "TYPE", "SIZE"]  # a header, then aligned columns
    assert [line.split()[0] for line in out[1:]] == ["p/ds:v1", "q/other:v0"]
