"""Artifacts through a real ``tracker server``: log on machine A, use and download on machine B.

Machine A and machine B are two data roots that share nothing but the server on
127.0.0.1. A logs a run in online mode with ``log_artifact`` (the run ships the blobs and
the version before ``finish`` returns); B resolves ``use_artifact("...:latest")`` through
the server and downloads the files from it, each checked against its digest.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tracker
from tests._server import TrackerServer as Server
from tests._server import make_key
from tracker.api import Api
from tracker.errors import StorageError, UnsupportedError, UsageError
from tracker.server._auth import AuthStore
from tracker.storage._objects import blob_key, open_store


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _online(url: str, key: str, **kwargs: Any) -> tracker.Settings:
    return tracker.Settings(disable_git=True, base_url=url, api_key=key, upload_timeout=60, **kwargs)


def _log_on_machine_a(machine_a: Path, url: str, key: str, name: str, source: Path) -> str:
    """An online run of machine A that logs ``source`` (a folder) as artifact ``name``; its id."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRACKER_DIR", str(machine_a))
        run = tracker.init(project="p", mode="online", settings=_online(url, key))
        art = tracker.Artifact(name, "dataset", metadata={"rows": 3})
        art.add_dir(str(source))
        run.log_artifact(art, aliases=["gold"])
        run.log({"loss": 0.5})
        run.finish()
        assert art.version == "v0"
        return run.id


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server, its keys, and the artifact ``p/dataset`` logged by machine A in online mode."""
    base = tmp_path_factory.mktemp("team")
    server_root = base / "server"
    auth = AuthStore(server_root)
    keys = {
        "alice": make_key(auth, "alice", "train"),
        "alice-viewer": make_key(auth, "alice", "read", "viewer"),
        "bob": make_key(auth, "bob", "b"),
    }
    source = base / "data"
    (source / "images").mkdir(parents=True)
    (source / "labels.csv").write_text("id,label\n0,cat\n1,dog\n2,cat\n")
    (source / "images" / "weights.bin").write_bytes(os.urandom(1024 * 1024 + 17))  # not one chunk
    (source / "images" / "empty.txt").write_bytes(b"")
    mp = pytest.MonkeyPatch()
    srv = Server(server_root)
    try:
        for var in [k for k in os.environ if k.startswith(("TRACKER_", "WANDB_"))]:
            mp.delenv(var)
        mp.setenv("TRACKER_STRICT", "1")
        mp.setenv("TRACKER_CONSOLE", "off")
        trainer = _log_on_machine_a(base / "machine-a", srv.url, keys["alice"], "dataset", source)
        yield {"url": srv.url, "keys": keys, "server_root": server_root, "source": source, "trainer": trainer}
    finally:
        srv.stop()
        mp.undo()


def _get(url: str, key: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_machine_b_uses_and_downloads_what_machine_a_logged(
    team: dict[str, Any], root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_BASE_URL", team["url"])
    monkeypatch.setenv("TRACKER_API_KEY", team["keys"]["alice"])
    run = tracker.init(project="p", mode="online", settings=tracker.Settings(disable_git=True))
    art = run.use_artifact("dataset:latest", type="dataset")
    assert (art.qualified_name, art.type, art.metadata) == ("p/dataset:v0", "dataset", {"rows": 3})
    assert sorted(art.aliases) == ["gold", "latest"]
    want = _files(team["source"])
    listed = {e.path: (e.size, e.digest) for e in art.files()}
    assert listed == {p: (len(b), "sha256:" + hashlib.sha256(b).hexdigest()) for p, b in want.items()}
    target = tmp_path / "dl"
    assert art.download(root=target) == str(target)
    assert _files(target) == want
    art.verify(root=target)
    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in target.rglob("*") if p.is_file()}
    art.download(root=target)  # everything is there with the right digest: nothing is fetched
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in stamps} == stamps
    assert not [p for p in target.rglob("*") if p.name.endswith(".part")]
    assert (
        Path(art.get_entry("labels.csv").download(root=tmp_path / "one")).read_bytes() == want["labels.csv"]
    )
    logged_by = art.logged_by()
    assert logged_by is not None
    assert (logged_by.project, logged_by.id) == ("p", team["trainer"])
    with pytest.raises(UnsupportedError, match="used_by"):
        art.used_by()
    with pytest.raises(UsageError, match="root="):
        art.verify()
    run_id = run.id
    run.finish()
    # The use is in the run log (lineage), with the server's version: the server sees it.
    assert not (root / "artifacts" / "blobs").exists()  # nothing went through B's blob store
    users = Api(team["server_root"]).artifact("p/dataset:v0").used_by()
    assert run_id in [r.id for r in users]
    assert [a.qualified_name for a in Api(team["server_root"]).run(f"p/{run_id}").used_artifacts()] == [
        "p/dataset:v0"
    ]


def test_api_with_base_url_downloads_and_a_local_artifact_stays_local(
    team: dict[str, Any], root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = Api(base_url=team["url"], api_key=team["keys"]["alice-viewer"])
    art = api.artifact("p/dataset:gold")
    assert art.version == "v0"
    assert _files(Path(art.download(root=tmp_path / "api"))) == _files(team["source"])
    # A version the local data root has is used from there, even in online mode.
    with tracker.init(project="p", settings=tracker.Settings(disable_git=True)) as offline:
        local = tracker.Artifact("dataset", "dataset")
        (tmp_path / "mine.txt").write_text("local copy")
        local.add_file(str(tmp_path / "mine.txt"))
        offline.log_artifact(local).wait()
    monkeypatch.setenv("TRACKER_BASE_URL", team["url"])
    monkeypatch.setenv("TRACKER_API_KEY", team["keys"]["alice"])
    with tracker.init(project="p", mode="online", settings=tracker.Settings(disable_git=True)) as run:
        used = run.use_artifact("dataset:latest")
        assert used._remote is None
        assert _files(Path(used.download(root=tmp_path / "local"))) == {"mine.txt": b"local copy"}


def test_a_project_the_key_may_not_read_is_404(team: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    url, bob = team["url"], team["keys"]["bob"]
    base = f"{url}/api/v1/projects/p/artifacts/dataset/versions/latest"
    for path in ("", "/manifest", "/files/labels.csv"):
        status, body = _get(base + path, bob)
        assert status == 404, (path, body)
        assert b"cat" not in body
    assert _get(base + "/files/labels.csv", team["keys"]["alice-viewer"])[0] == 200
    with pytest.raises(StorageError, match="may not read its project"):
        Api(base_url=url, api_key=bob).artifact("p/dataset:latest")
    monkeypatch.setenv("TRACKER_BASE_URL", url)
    monkeypatch.setenv("TRACKER_API_KEY", bob)
    with tracker.init(project="q", mode="online", settings=tracker.Settings(disable_git=True)) as run:
        with pytest.raises(StorageError, match="nor on the team server"):
            run.use_artifact("p/dataset:latest")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("files/..%2F..%2Fauth.db", 400),
        ("files/images/..%2F..%2F..%2Fauth.db", 400),
        ("files/%2Fetc%2Fpasswd", 400),
        ("files/labels.csv%00", 400),
        ("files/images%5Cweights.bin", 400),
        ("files/nope.txt", 404),
        ("files/images", 404),
    ],
)
def test_file_paths_are_looked_up_in_the_manifest(team: dict[str, Any], path: str, status: int) -> None:
    url = f"{team['url']}/api/v1/projects/p/artifacts/dataset/versions/v0/{path}"
    got, body = _get(url, team["keys"]["alice"])
    assert got == status, body
    assert b"detail" in body


def test_manifest_endpoint(team: dict[str, Any]) -> None:
    import json

    url = f"{team['url']}/api/v1/projects/p/artifacts/dataset/versions/gold/manifest"
    status, body = _get(url, team["keys"]["alice-viewer"])
    assert status == 200
    data = json.loads(body)
    assert sorted(data["entries"]) == ["images/empty.txt", "images/weights.bin", "labels.csv"]
    assert data["entries"]["images/weights.bin"]["size"] == 1024 * 1024 + 17
    assert data["version"]["version"] == 0
    assert data["digest"] == data["version"]["digest"]


def test_a_tampered_blob_fails_the_download_and_writes_nothing(
    team: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "model.bin").write_bytes(os.urandom(300_000))
    (source / "ok.txt").write_text("fine")
    _log_on_machine_a(tmp_path / "machine-a", team["url"], team["keys"]["alice"], "fragile", source)
    digest = hashlib.sha256((source / "model.bin").read_bytes()).hexdigest()
    store = open_store(team["server_root"] / "objects")
    blob = Path(store.path(blob_key(digest)))  # type: ignore[attr-defined]
    data = bytearray(blob.read_bytes())
    data[1000] ^= 0xFF  # same size, one byte changed
    blob.write_bytes(bytes(data))
    monkeypatch.setenv("TRACKER_BASE_URL", team["url"])
    monkeypatch.setenv("TRACKER_API_KEY", team["keys"]["alice"])
    with tracker.init(project="p", mode="online", settings=tracker.Settings(disable_git=True)) as run:
        art = run.use_artifact("fragile:latest")
        target = tmp_path / "dl"
        with pytest.raises(
            StorageError, match=r"'model.bin'.*hash to sha256:[0-9a-f]{64}.*manifest says"
        ) as err:
            art.download(root=target)
        assert f"sha256:{digest}" in str(err.value)
    assert not (target / "model.bin").exists()
    assert [p.name for p in target.iterdir()] in ([], ["ok.txt"])  # no partial file left


def test_files_stream_from_an_s3_object_store(
    tmp_path: Path, s3_url: str, s3_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_root = tmp_path / "server"
    auth = AuthStore(server_root)
    auth.create_user("alice", "alice-password-1")
    key = auth.create_key("alice", "k", "editor")[0]
    source = tmp_path / "src"
    source.mkdir()
    (source / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    (source / "small.txt").write_text("s3")
    srv = Server(server_root, "--store", s3_url, env=s3_server.env)
    try:
        _log_on_machine_a(tmp_path / "machine-a", srv.url, key, "weights", source)
        assert not (server_root / "artifacts" / "blobs").exists()  # the blobs are in the bucket only
        monkeypatch.setenv("TRACKER_BASE_URL", srv.url)
        monkeypatch.setenv("TRACKER_API_KEY", key)
        with tracker.init(project="p", mode="online", settings=tracker.Settings(disable_git=True)) as run:
            art = run.use_artifact("weights:latest")
            assert _files(Path(art.download(root=tmp_path / "dl"))) == _files(source)
    finally:
        srv.stop()
