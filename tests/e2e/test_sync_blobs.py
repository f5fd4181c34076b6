"""``tracker sync``, ``--watch`` and online mode: media, saved files and artifacts to a real server and S3."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tracker
from tests._server import TrackerServer as Server
from tests._server import make_key
from tracker.api import Api
from tracker.cli import main
from tracker.server._auth import AuthStore
from tracker.server._blobs import read_links
from tracker.storage._objects import ObjectStore, blob_key, open_store
from tracker.storage._sqlite_state import SQLiteStateStore

DEADLINE = 60.0


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for srv in started:
        srv.stop()


def admin_key(server_root: Path | AuthStore) -> str:
    return make_key(server_root, "ci", "sync", site_admin=True)


def get(url: str, key: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def sha_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sync_ships_media_files_and_an_artifact_to_s3(
    root: Path,
    tmp_path: Path,
    s3_url: str,
    s3_server: Any,
    servers: list[Server],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import numpy as np

    server_root = tmp_path / "server"
    key = admin_key(server_root)
    srv = Server(server_root, "--store", s3_url, env=s3_server.env)
    servers.append(srv)
    run = tracker.init(project="p", id="r1", settings=tracker.Settings(disable_git=True))
    for step in range(3):
        pixels = np.full((6, 6, 3), 40 * step, dtype=np.uint8)
        run.log({"loss": 1.0 / (step + 1), "img": tracker.Image(pixels)}, step=step)
    (tmp_path / "ckpt.txt").write_text("checkpoint")
    run.save(str(tmp_path / "ckpt.txt"), base_path=str(tmp_path), policy="now")
    (tmp_path / "w.bin").write_bytes(bytes(range(256)) * 400)
    art = tracker.Artifact("model", "model")
    art.add_file(str(tmp_path / "w.bin"))
    run.log_artifact(art, aliases=["best"])
    run.finish()
    run_dir = root / "projects" / "p" / "runs" / "r1"
    images = sorted((run_dir / "media" / "image").iterdir())
    assert len(images) == 3

    monkeypatch.setenv("TRACKER_BASE_URL", srv.url)
    monkeypatch.setenv("TRACKER_API_KEY", key)
    assert main(["sync", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "p/r1: sent 3 rows" in out
    assert "4 files, 5 blobs" in out
    assert "1 artifacts" in out

    store = open_store(s3_url)
    expected = {sha_of(p) for p in [*images, run_dir / "files" / "ckpt.txt", tmp_path / "w.bin"]}
    assert store.list("blobs/") == sorted(blob_key(s) for s in expected)
    server_run = server_root / "projects" / "p" / "runs" / "r1"
    assert (server_run / "run.tlog").read_bytes() == (run_dir / "run.tlog").read_bytes()
    assert not (server_run / "media").exists()  # S3: fetched when first read
    # The dashboard API serves the image bytes and the saved file from the store.
    api = f"{srv.url}/api/projects/p/runs/r1"
    rows = list(Api(root).run("p/r1").scan_history())
    for step in range(3):
        status, body = get(f"{api}/media/img/at/{step}/0", key)
        assert status == 200
        assert body == (run_dir / rows[step]["img"]["path"]).read_bytes()
    assert get(f"{api}/files/ckpt.txt", key) == (200, b"checkpoint")
    status, body = get(f"{srv.url}/api/projects/p/artifacts", key)
    assert status == 200
    assert b'"best"' in body
    state = SQLiteStateStore.for_root(server_root)
    try:
        (version,) = state.artifact_versions("p", "model")
    finally:
        state.close()
    assert (version.version, version.aliases, version.run_id) == (0, ("best", "latest"), "r1")
    assert version.digest == art.digest

    assert main(["sync", str(run_dir)]) == 0  # again: nothing to send
    assert "p/r1: up to date" in capsys.readouterr().out
    assert store.list("blobs/") == sorted(blob_key(s) for s in expected)


LIVE_RUN = """
import pathlib
import sys

import numpy as np
import tracker

work = pathlib.Path(sys.argv[1])
notes = work / "notes.txt"
notes.write_text("first")
(work / "data.bin").write_bytes(b"dataset" * 1000)
run = tracker.init(project="p", id="live", settings=tracker.Settings(disable_git=True))
run.save(str(notes), base_path=str(work), policy="live")
for step in range(200):
    row = {"loss": 1.0 / (step + 1)}
    if step % 50 == 0:
        row["img"] = tracker.Image(np.full((4, 4, 3), step, dtype=np.uint8))
    run.log(row, step=step)
    if step == 99:
        run._writer.flush(10)
        print("HALF", flush=True)
        sys.stdin.readline()
notes.write_text("second version")
art = tracker.Artifact("data", "dataset")
art.add_file(str(work / "data.bin"))
run.log_artifact(art, aliases=["final"])
run.finish()
print("DONE", flush=True)
"""


def snapshot(server_root: Path, store: ObjectStore) -> dict[str, Any]:
    """The server's state of run p/live: log, links, the bytes they name, artifact versions."""
    run_dir = server_root / "projects" / "p" / "runs" / "live"
    links = read_links(run_dir)
    state = SQLiteStateStore.for_root(server_root)
    try:
        versions = [(v.version, v.digest, v.aliases) for v in state.artifact_versions("p", "data")]
    finally:
        state.close()
    return {
        "log": (run_dir / "run.tlog").read_bytes(),
        "links": links,
        "bytes": {path: store.get(blob_key(sha)) for path, sha in links.items()},
        "artifacts": versions,
    }


def test_sync_three_times_one_while_logging_equals_once(
    root: Path,
    tmp_path: Path,
    s3_url: str,
    s3_server: Any,
    servers: list[Server],
    spawn: Callable[..., Any],
    write_script: Callable[[str, str], Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server_root = tmp_path / "server"
    key = admin_key(server_root)
    srv = Server(server_root, "--store", s3_url, env=s3_server.env)
    servers.append(srv)
    monkeypatch.setenv("TRACKER_BASE_URL", srv.url)
    monkeypatch.setenv("TRACKER_API_KEY", key)
    work = tmp_path / "work"
    work.mkdir()
    run_dir = root / "projects" / "p" / "runs" / "live"
    victim = spawn(write_script("live.py", LIVE_RUN), str(work))
    victim.expect_line("HALF")
    assert main(["sync", str(run_dir)]) == 0  # 1: while the run is still being written
    assert "p/live: sent" in capsys.readouterr().out
    early = read_links(server_root / "projects" / "p" / "runs" / "live")
    assert sorted(early) == sorted(
        ["files/notes.txt", *(f"media/image/{p.name}" for p in (run_dir / "media" / "image").iterdir())]
    )
    assert victim.proc.stdin is not None
    victim.proc.stdin.write(b"go\n")
    victim.proc.stdin.flush()
    victim.expect_line("DONE")
    assert victim.wait() == 0
    assert main(["sync", "--all"]) == 0  # 2: the rest
    assert "p/live: sent" in capsys.readouterr().out
    store = open_store(s3_url)
    second = snapshot(server_root, store)
    assert main(["sync", str(run_dir)]) == 0  # 3: nothing left
    assert "p/live: up to date" in capsys.readouterr().out
    third = snapshot(server_root, store)
    assert third == second

    # The same finished run shipped once to a fresh server ends in the same state.
    once_root = tmp_path / "server-once"
    once_key = admin_key(once_root)
    once_store = once_root / "objects"
    once = Server(once_root, "--store", str(once_store))
    servers.append(once)
    monkeypatch.setenv("TRACKER_BASE_URL", once.url)
    monkeypatch.setenv("TRACKER_API_KEY", once_key)
    assert main(["sync", str(run_dir)]) == 0
    assert snapshot(once_root, open_store(once_store)) == third
    assert third["log"] == (run_dir / "run.tlog").read_bytes()
    assert third["bytes"]["files/notes.txt"] == b"second version"
    assert [v[2] for v in third["artifacts"]] == [("final", "latest")]
    assert [row["_step"] for row in Api(server_root).run("p/live").scan_history()] == list(range(200))


def test_watch_ships_a_live_run_and_exits_when_it_finishes(
    root: Path,
    tmp_path: Path,
    servers: list[Server],
    spawn: Callable[..., Any],
    write_script: Callable[[str, str], Path],
) -> None:
    server_root = tmp_path / "server"
    key = admin_key(server_root)
    srv = Server(server_root)
    servers.append(srv)
    work = tmp_path / "work"
    work.mkdir()
    run_dir = root / "projects" / "p" / "runs" / "live"
    victim = spawn(write_script("live.py", LIVE_RUN), str(work))
    victim.expect_line("HALF")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(TRACKER_DIR=str(root), TRACKER_BASE_URL=srv.url, TRACKER_API_KEY=key)
    cmd = [sys.executable, "-m", "tracker.cli", "sync", "--watch", str(run_dir), "--interval", "0.2"]
    watcher = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        server_run = server_root / "projects" / "p" / "runs" / "live"
        deadline = time.monotonic() + DEADLINE
        while len(read_links(server_run)) < 3:  # notes.txt and the images of steps 0 and 50
            assert watcher.poll() is None, watcher.communicate()
            assert time.monotonic() < deadline, "watch shipped nothing of the live run"
            time.sleep(0.05)
        assert watcher.poll() is None  # still watching: the run is not finished
        assert victim.proc.stdin is not None
        victim.proc.stdin.write(b"go\n")
        victim.proc.stdin.flush()
        victim.expect_line("DONE")
        assert victim.wait() == 0
        out, err = watcher.communicate(timeout=DEADLINE)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()
    assert watcher.returncode == 0, err
    assert "p/live: finished; sent 200 rows" in out, (out, err)
    assert "1 artifacts" in out
    assert (server_run / "run.tlog").read_bytes() == (run_dir / "run.tlog").read_bytes()
    assert (server_run / "files" / "notes.txt").read_text() == "second version"
    assert Api(server_root).run("p/live").state == "finished"


ONLINE_RUN = """
import pathlib
import sys

import numpy as np
import tracker

url, key, work = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
settings = tracker.Settings(disable_git=True, base_url=url, api_key=key, upload_timeout=60)
run = tracker.init(project="p", id="online", mode="online", settings=settings)
(work / "cfg.yaml").write_text("lr: 0.1")
run.save(str(work / "cfg.yaml"), base_path=str(work), policy="now")
for step in range(20):
    img = tracker.Image(np.full((4, 4, 3), step, dtype=np.uint8))
    run.log({"loss": 1.0 / (step + 1), "img": img}, step=step)
(work / "model.bin").write_bytes(b"weights" * 5000)
art = tracker.Artifact("model", "model")
art.add_file(str(work / "model.bin"))
run.log_artifact(art)
run.finish()
print("DONE", flush=True)
"""


def test_online_mode_ships_media_files_and_artifacts_before_finish_returns(
    root: Path,
    tmp_path: Path,
    servers: list[Server],
    spawn: Callable[..., Any],
    write_script: Callable[[str, str], Path],
) -> None:
    server_root = tmp_path / "server"
    key = admin_key(server_root)
    srv = Server(server_root)
    servers.append(srv)
    work = tmp_path / "work"
    work.mkdir()
    victim = spawn(write_script("online.py", ONLINE_RUN), srv.url, key, str(work))
    victim.expect_line("DONE")
    assert victim.wait() == 0
    local = root / "projects" / "p" / "runs" / "online"
    server_run = server_root / "projects" / "p" / "runs" / "online"
    images = sorted(p.name for p in (local / "media" / "image").iterdir())
    assert len(images) == 20
    assert sorted(read_links(server_run)) == sorted(["files/cfg.yaml", *(f"media/image/{n}" for n in images)])
    for name in images:
        assert (server_run / "media" / "image" / name).read_bytes() == (
            local / "media" / "image" / name
        ).read_bytes()
    assert (server_run / "files" / "cfg.yaml").read_text() == "lr: 0.1"
    assert (server_run / "run.tlog").read_bytes() == (local / "run.tlog").read_bytes()
    state = SQLiteStateStore.for_root(server_root)
    try:
        assert [(v.version, v.run_id) for v in state.artifact_versions("p", "model")] == [(0, "online")]
    finally:
        state.close()


def test_watch_stops_on_ctrl_c_and_reports(
    root: Path,
    tmp_path: Path,
    servers: list[Server],
    spawn: Callable[..., Any],
    write_script: Callable[[str, str], Path],
) -> None:
    server_root = tmp_path / "server"
    key = admin_key(server_root)
    srv = Server(server_root)
    servers.append(srv)
    work = tmp_path / "work"
    work.mkdir()
    victim = spawn(write_script("live.py", LIVE_RUN), str(work))
    victim.expect_line("HALF")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(TRACKER_DIR=str(root), TRACKER_BASE_URL=srv.url, TRACKER_API_KEY=key)
    cmd = [sys.executable, "-m", "tracker.cli", "sync", "--watch", "--all", "--interval", "0.2"]
    watcher = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        server_run = server_root / "projects" / "p" / "runs" / "live"
        deadline = time.monotonic() + DEADLINE
        while len(read_links(server_run)) < 3:
            assert watcher.poll() is None, watcher.communicate()
            assert time.monotonic() < deadline, "watch shipped nothing of the live run"
            time.sleep(0.05)
        watcher.send_signal(signal.SIGINT)
        out, err = watcher.communicate(timeout=DEADLINE)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()
    assert watcher.returncode == 130, err
    assert "stopped (Ctrl-C)" in err
    rows = len(list(Api(server_root).run("p/live").scan_history()))
    assert rows >= 99  # step 99 may stay open until the next step arrives
    assert f"p/live: running, not all shipped; sent {rows} rows" in out


def test_artifact_versions_land_in_the_servers_postgres_state_store(
    root: Path,
    tmp_path: Path,
    pg_url: str,
    servers: list[Server],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tracker.storage._pg_state import PostgresStateStore

    server_root = tmp_path / "server"
    srv = Server(server_root, "--db", pg_url, "--migrate")
    servers.append(srv)
    key = admin_key(AuthStore.postgres(server_root, pg_url))  # accounts live in the database too
    run = tracker.init(project="p", id="pg", settings=tracker.Settings(disable_git=True))
    (tmp_path / "d.bin").write_bytes(b"data" * 100)
    art = tracker.Artifact("ds", "dataset")
    art.add_file(str(tmp_path / "d.bin"))
    run.log_artifact(art, aliases=["gold"])
    run.finish()
    monkeypatch.setenv("TRACKER_BASE_URL", srv.url)
    monkeypatch.setenv("TRACKER_API_KEY", key)
    for _ in range(2):
        assert main(["sync", str(root / "projects" / "p" / "runs" / "pg")]) == 0
    state = PostgresStateStore(pg_url)
    try:
        versions = [(v.version, v.digest, v.aliases, v.run_id) for v in state.artifact_versions("p", "ds")]
    finally:
        state.close()
    assert versions == [(0, art.digest, ("gold", "latest"), "pg")]
    assert not (server_root / "state.sqlite").exists()  # nothing went to a SQLite store by mistake
