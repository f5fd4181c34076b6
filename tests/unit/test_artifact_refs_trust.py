"""Which references ``download()`` follows, and that a bad one leaves nothing (issue 14, point 4).

A manifest is data written by whoever logged the version. Here the hostile ones are put
in the data root the way a team server on this host stores a posted manifest (its own
handler, :func:`tracker.server._blobs._artifact`), or written straight into the stores,
and read with ``tracker.Api()`` as a reader on that machine would.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tracker
from tests._http import http_service
from tracker.artifacts._store import BlobStore, manifest_digest
from tracker.errors import StorageError


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _post(root: Path, project: str, name: str, entries: dict[str, Any]) -> None:
    """Store a version as the team server does when an editor posts it (no trust record)."""
    from tracker.server._blobs import _artifact
    from tracker.storage._objects import open_store
    from tracker.storage._sqlite_state import SQLiteStateStore

    state = SQLiteStateStore.for_root(root)
    try:
        body = {"type": "dataset", "digest": manifest_digest(entries)[0], "entries": entries}
        _artifact(root, open_store(root / "objects"), state, project, name, body)
    finally:
        state.close()


def _store(root: Path, project: str, name: str, entries: dict[str, Any]) -> None:
    """Write a manifest and its version straight into the stores (any origin)."""
    from tracker.storage._sqlite_state import SQLiteStateStore

    digest = BlobStore(root).write_manifest(entries)
    state = SQLiteStateStore.for_root(root)
    try:
        state.add_artifact_version(project, name, "dataset", digest, aliases=["latest"])
    finally:
        state.close()


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """The reader's private key."""
    key = tmp_path / "home" / ".ssh" / "id_rsa"
    key.parent.mkdir(parents=True)
    key.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    return key


def test_a_posted_manifest_does_not_read_the_readers_files(root: Path, tmp_path: Path, secret: Path) -> None:
    _post(root, "p", "evil", {"id_rsa": {"ref": secret.as_uri()}, "x": {"ref": "file:///etc/hostname"}})
    art = tracker.Api().artifact("p/evil:latest")
    target = tmp_path / "dl"
    with pytest.raises(StorageError, match=r"entry 'id_rsa'.*scheme 'file'.*allow_roots") as err:
        art.download(root=target)
    assert str(secret) in str(err.value)
    assert not target.exists() or list(target.rglob("*")) == []  # checked before writing anything
    with pytest.raises(StorageError, match="allow_roots"):
        art.get_entry("id_rsa").download(root=target)
    assert not (target / "id_rsa").exists()


def test_allowed_roots_are_followed_with_their_digest_and_no_symlink_out(
    root: Path, tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "a.csv").write_bytes(b"1,2\n")
    (shared / "leak").symlink_to(secret)  # inside the allowed folder, pointing out of it
    entries = {"a.csv": {"ref": (shared / "a.csv").as_uri(), "digest": _sha(b"1,2\n"), "size": 4}}
    _post(root, "p", "ok", entries)
    _post(root, "p", "sneaky", {"leak": {"ref": (shared / "leak").as_uri()}})
    target = tmp_path / "dl"
    assert tracker.Api().artifact("p/ok:latest").download(root=target, allow_roots=[shared]) == str(target)
    assert (target / "a.csv").read_bytes() == b"1,2\n"
    with pytest.raises(StorageError, match=r"reads .*id_rsa, which is outside"):
        tracker.Api().artifact("p/sneaky:latest").download(root=tmp_path / "dl2", allow_roots=[shared])
    assert not (tmp_path / "dl2" / "leak").exists()
    # The setting: TRACKER_ARTIFACT_ROOTS.
    monkeypatch.setenv("TRACKER_ARTIFACT_ROOTS", os.pathsep.join([str(tmp_path / "nope"), str(shared)]))
    out = Path(tracker.Api().artifact("p/ok:latest").download(root=tmp_path / "dl3"))
    assert (out / "a.csv").read_bytes() == b"1,2\n"


@pytest.mark.parametrize(
    "uri", ["data:text/plain;base64,c2VjcmV0", "ftp://example.com/x", "gopher://h/x", "javascript:alert(1)"]
)
def test_data_and_unknown_schemes_are_never_followed(root: Path, tmp_path: Path, uri: str) -> None:
    _store(root, "p", "odd", {"x.txt": {"ref": uri}})
    art = tracker.Api().artifact("p/odd:latest")
    scheme = uri.split(":", 1)[0]
    with pytest.raises(StorageError, match=rf"entry 'x.txt'.*scheme '{scheme}'.*never followed"):
        art.download(root=tmp_path / "dl", allow_references=True, allow_missing_references=True)
    assert not (tmp_path / "dl" / "x.txt").exists()


@pytest.fixture
def internal() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server only this machine reaches; the paths it was asked for."""
    with http_service(b"internal admin page") as served:
        yield served


def test_remote_references_need_the_readers_opt_in(
    root: Path, tmp_path: Path, internal: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, hits = internal
    _store(root, "p", "web", {"page.html": {"ref": f"{url}/admin"}})
    art = tracker.Api().artifact("p/web:latest")
    with pytest.raises(StorageError, match=r"entry 'page.html'.*scheme 'http'.*allow_references=True"):
        art.download(root=tmp_path / "dl")
    assert hits == []  # never asked
    assert not (tmp_path / "dl" / "page.html").exists()
    out = Path(art.download(root=tmp_path / "dl", allow_references=True))
    assert (out / "page.html").read_bytes() == b"internal admin page"
    assert hits == ["/admin"]
    monkeypatch.setenv("TRACKER_ALLOW_REFERENCES", "1")
    assert Path(art.download(root=tmp_path / "dl2")).joinpath("page.html").is_file()


def test_a_reference_that_changed_leaves_nothing_behind(root: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("a,b\n1,2\n")
    with tracker.init(project="p", settings=tracker.Settings(disable_git=True)) as run:
        art = tracker.Artifact("ds", "dataset")
        art.add_reference(data.as_uri(), name="data")
        run.log_artifact(art).wait()
    (data / "train.csv").write_text("a,b\n9,9\n")  # same size, other bytes
    target = tmp_path / "dl"
    with pytest.raises(StorageError, match=r"'data/train.csv'.*changed since it was logged"):
        tracker.Api().artifact("p/ds:latest").download(root=target)
    assert not (target / "data" / "train.csv").exists()
    assert [p.name for p in target.rglob("*") if p.is_file()] == []  # no partial file either


def test_references_a_run_on_this_root_logged_are_followed(
    root: Path, tmp_path: Path, secret: Path, internal: tuple[str, list[str]]
) -> None:
    url, hits = internal
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "x.bin").write_bytes(b"\x00\x01")
    (data / "y.txt").write_text("y")
    with tracker.init(project="p", settings=tracker.Settings(disable_git=True)) as run:
        art = tracker.Artifact("ds", "dataset")
        art.add_reference(data.as_uri(), name="data")
        art.add_reference((data / "y.txt").as_uri(), name="single.txt")
        art.add_reference(f"{url}/file.txt", name="web.txt")
        run.log_artifact(art).wait()
    out = Path(tracker.Api().artifact("p/ds:latest").download(root=tmp_path / "dl"))
    assert (out / "data" / "sub" / "x.bin").read_bytes() == b"\x00\x01"
    assert (out / "single.txt").read_text() == "y"
    assert (out / "web.txt").read_bytes() == b"internal admin page"
    assert hits == ["/file.txt"]  # the download's GET (logging only asked with HEAD)
    # The trust covers what was added, not its neighbours: a posted manifest naming
    # another file gets nothing from the first version's record.
    _post(root, "p", "other", {"k": {"ref": secret.as_uri()}})
    with pytest.raises(StorageError, match="outside the folders"):
        tracker.Api().artifact("p/other:latest").download(root=tmp_path / "dl2")


def test_a_file_uri_with_a_host_is_refused_when_added(tmp_path: Path) -> None:
    from tracker.errors import UsageError

    art = tracker.Artifact("x", "dataset")
    with pytest.raises(UsageError, match="not the host '~'"):
        art.add_reference("file://~/.ssh/id_rsa")  # would have named /.ssh/id_rsa
    assert art.add_reference("file://localhost" + str(tmp_path / "a.csv"))[0].path == "a.csv"
