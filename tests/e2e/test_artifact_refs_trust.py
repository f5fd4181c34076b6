"""Hostile references through a real ``tracker server``: an editor posts, a viewer downloads.

Issue 14, point 4, as it was found: an editor of a project posts a manifest whose
references point at the downloader's own machine (``file://.../.ssh/id_rsa``) or at a
host only the downloader can reach (``http://127.0.0.1:<port>/...``); a viewer on
another machine (their own data root) reads it with ``Api(base_url=...)`` and calls
``download()``. The server runs with ``--allow-private-references`` so that the loopback
reference gets in at all (a default server refuses it: tests/server/test_artifact_refs_posted.py).
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._http import http_service
from tests._server import TrackerServer, make_key
from tracker.api import Api
from tracker.artifacts._store import manifest_digest
from tracker.errors import StorageError
from tracker.server._auth import AuthStore


@pytest.fixture
def internal() -> Iterator[tuple[str, list[str]]]:
    """An HTTP service only the viewer's machine reaches; the paths it was asked for."""
    with http_service(b"internal service") as served:
        yield served


@pytest.fixture
def team(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A server where alice (editor) owns the public project ``p`` and carol only reads."""
    server_root = tmp_path / "server"
    auth = AuthStore(server_root)
    keys = {"alice": make_key(auth, "alice", "k"), "carol": make_key(auth, "carol", "k", "viewer")}
    auth.set_owner("p", user="alice")
    auth.set_visibility("p", "public")
    srv = TrackerServer(server_root, "--allow-private-references")
    try:
        yield {"url": srv.url, "keys": keys}
    finally:
        srv.stop()


def _post(url: str, key: str, name: str, entries: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"type": "dataset", "digest": manifest_digest(entries)[0], "entries": entries})
    req = urllib.request.Request(
        f"{url}/api/v1/artifacts/p/{name}", data=body.encode(), method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_viewers_download_follows_no_hostile_reference(
    team: dict[str, Any], tmp_path: Path, internal: tuple[str, list[str]]
) -> None:
    url, (service, hits) = team["url"], internal
    victim_key = tmp_path / "carol-home" / ".ssh" / "id_rsa"  # on the viewer's machine
    victim_key.parent.mkdir(parents=True)
    victim_key.write_bytes(b"-----BEGIN OPENSSH PRIVATE KEY-----\ncarol's\n")
    status, body = _post(team["url"], team["keys"]["alice"], "evil", {
        "keys/id_rsa": {"ref": victim_key.as_uri()},
        "admin.html": {"ref": f"{service}/admin?action=drop"},
    })  # fmt: skip
    assert status == 200, body
    status, body = _post(team["url"], team["keys"]["alice"], "inline", {"x": {"ref": "data:,pwned"}})
    assert (status, "'x'" in body["detail"]) == (400, True)
    art = Api(base_url=url, api_key=team["keys"]["carol"]).artifact("p/evil:latest")
    target = tmp_path / "carol-downloads"
    with pytest.raises(StorageError, match=r"'admin.html'.*scheme 'http'.*allow_references=True"):
        art.download(root=target)
    with pytest.raises(StorageError, match=r"'keys/id_rsa'.*scheme 'file'.*allow_roots"):
        art.download(root=target, allow_references=True)  # http:// allowed, this file:// not
    assert hits == []  # every reference is checked before any is followed
    assert not (target / "keys" / "id_rsa").exists()
    # Opting in fetches them (the reader's decision, for a manifest they trust).
    out = Path(art.download(root=target, allow_roots=[victim_key.parent], allow_references=True))
    assert (out / "admin.html").read_bytes() == b"internal service"
    assert hits == ["/admin?action=drop"]


def test_an_allowed_shared_folder_is_read_and_checked(team: dict[str, Any], tmp_path: Path) -> None:
    shared = tmp_path / "nfs" / "datasets"
    shared.mkdir(parents=True)
    data = b"id,label\n0,cat\n"
    (shared / "labels.csv").write_bytes(data)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    entry = {"ref": (shared / "labels.csv").as_uri(), "digest": digest, "size": len(data)}
    assert _post(team["url"], team["keys"]["alice"], "shared", {"labels.csv": entry})[0] == 200
    art = Api(base_url=team["url"], api_key=team["keys"]["carol"]).artifact("p/shared:latest")
    out = Path(art.download(root=tmp_path / "dl", allow_roots=[tmp_path / "nfs"]))
    assert (out / "labels.csv").read_bytes() == data
    art.verify(root=out)
    (shared / "labels.csv").write_bytes(b"id,label\n0,dog\n")  # changed on the share since
    with pytest.raises(StorageError, match="changed since it was logged"):
        art.download(root=tmp_path / "dl2", allow_roots=[tmp_path / "nfs"])
    assert list((tmp_path / "dl2").rglob("*")) == []
