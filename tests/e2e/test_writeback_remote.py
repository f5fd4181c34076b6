"""Api write-back and run.files() through a real team server (issue 19 points 6, 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tracker
from tests._server import TrackerServer, make_key
from tracker.api import Api
from tracker.api._files import RemoteFile
from tracker.cli import main
from tracker.errors import CommError, StorageError
from tracker.server._auth import AuthStore


def test_an_editor_writes_back_through_the_server(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fastapi")
    with tracker.init(project="p", id="r1", config={"lr": 0.1}) as run:
        run.log({"loss": 0.5})
    server_root = tmp_path / "server"
    store = AuthStore(server_root)
    editor = make_key(store, "ci", "ci")
    viewer = make_key(store, "ci", "reader", "viewer")
    srv = TrackerServer(server_root)
    try:
        monkeypatch.setenv("TRACKER_BASE_URL", srv.url)
        monkeypatch.setenv("TRACKER_API_KEY", editor)
        assert main(["sync", "--all"]) == 0
        monkeypatch.delenv("TRACKER_BASE_URL")
        monkeypatch.delenv("TRACKER_API_KEY")

        remote = Api(base_url=srv.url, api_key=editor).run("p/r1")
        remote.summary["best"] = 0.25
        remote.summary.update()
        again = Api(base_url=srv.url, api_key=editor).run("p/r1")
        again.config["lr"] = 0.01
        again.tags = ["tuned"]
        again.name = "tuned run"
        again.update()  # the summary edit made before is kept, not replaced

        fresh = Api(base_url=srv.url, api_key=viewer).run("p/r1")
        assert fresh.summary["best"] == 0.25
        assert fresh.summary["loss"] == 0.5
        assert fresh.config == {"lr": 0.01}
        assert fresh.tags == ["tuned"]
        assert fresh.name == "tuned run"
        assert Api(server_root).run("p/r1").summary["best"] == 0.25  # the server's own data root
        with pytest.raises(CommError, match=r"403|editor|role"):
            fresh.summary.update({"x": 1})
        assert "x" not in Api(base_url=srv.url, api_key=editor).run("p/r1").summary
    finally:
        srv.stop()


def test_run_files_through_the_server(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("fastapi")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with tracker.init(project="p", id="f1", config={"lr": 0.1}) as run:
        run.log({"loss": 0.5})
        run.save(str(notes), base_path=str(tmp_path))
    server_root = tmp_path / "server"
    store = AuthStore(server_root)
    editor = make_key(store, "ci", "ci")
    viewer = make_key(store, "ci", "reader", "viewer")
    srv = TrackerServer(server_root)
    try:
        monkeypatch.setenv("TRACKER_BASE_URL", srv.url)
        monkeypatch.setenv("TRACKER_API_KEY", editor)
        assert main(["sync", "--all"]) == 0
        monkeypatch.delenv("TRACKER_BASE_URL")
        monkeypatch.delenv("TRACKER_API_KEY")
        remote = Api(base_url=srv.url, api_key=viewer).run("p/f1")
        local = Api(root).run("p/f1")
        assert [f.name for f in remote.files()] == [f.name for f in local.files()]
        out = tmp_path / "out"
        got = {f.name: f.download(str(out)).read_bytes() for f in remote.files()}
        assert got["notes.txt"] == b"hello"
        assert got["config.yaml"] == local.file("config.yaml").content()
        assert json.loads(got["wandb-summary.json"])["loss"] == 0.5
        with pytest.raises(StorageError, match="no file named"):
            RemoteFile(remote._api._remote, "/projects/p/runs/f1", "../../etc/passwd", 0, None).content()
    finally:
        srv.stop()
