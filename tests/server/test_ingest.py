"""Team-server ingest over HTTP against a real ``tracker server`` (uvicorn) on 127.0.0.1."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tracker
from tests._server import TrackerServer as Server
from tracker.api import Api
from tracker.cli import main
from tracker.server._auth import AuthStore
from tracker.storage._format import HEADER_SIZE, read_frames


def request(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    key: str | None = None,
    version: str | None = "1",
) -> tuple[int, dict[str, Any]]:
    headers = {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if version is not None:
        headers["X-Tracker-Format-Version"] = version
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"{}")
        except ValueError:
            return exc.code, {"raw": raw.decode(errors="replace")}


@pytest.fixture
def server_root(tmp_path: Path) -> Path:
    return tmp_path / "server"


@pytest.fixture
def keys(server_root: Path) -> dict[str, str]:
    store = AuthStore(server_root)
    store.create_user("alice", "alice-password")
    return {
        role: store.create_key("alice", f"test-{role}", role)[0] for role in ("viewer", "editor", "admin")
    }


@pytest.fixture
def server(server_root: Path, keys: dict[str, str]) -> Iterator[Server]:
    srv = Server(server_root, "--max-request-bytes", "65536")
    yield srv
    srv.stop()


@pytest.fixture
def log(root: Path) -> tuple[bytes, list[int]]:
    """A finished run's log bytes and the offsets of its frames (plus the end)."""
    run = tracker.init(project="p", id="r1", settings=tracker.Settings(disable_git=True))
    for step in range(50):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    run.finish()
    path = root / "projects" / "p" / "runs" / "r1" / "run.tlog"
    data = path.read_bytes()
    bounds = [off for off, _ in read_frames(path).records] + [len(data)]
    return data, bounds


def log_url(server: Server, project: str = "p", run_id: str = "r1", offset: int | None = None) -> str:
    url = f"{server.url}/api/v1/runs/{project}/{run_id}/log"
    return url + ("/offset" if offset is None else f"?offset={offset}")


def test_whole_log_then_resend_changes_nothing(
    server: Server, server_root: Path, keys: dict[str, str], log: tuple[bytes, list[int]]
) -> None:
    data, _ = log
    key = keys["editor"]
    assert request(log_url(server), key=key) == (200, {"offset": 0, "format_version": 1})
    status, body = request(log_url(server, offset=0), "PUT", data, key)
    assert (status, body) == (200, {"offset": len(data), "appended": len(data)})
    copy = server_root / "projects" / "p" / "runs" / "r1" / "run.tlog"
    for _ in range(2):  # the same batch again, and via POST
        for method in ("PUT", "POST"):
            assert request(log_url(server, offset=0), method, data, key) == (
                200,
                {"offset": len(data), "appended": 0},
            )
    assert copy.read_bytes() == data
    steps = [row["_step"] for row in Api(server_root).run("p/r1").scan_history()]
    assert steps == list(range(50))


def test_batches_by_offset_gap_and_overlap(
    server: Server, server_root: Path, keys: dict[str, str], log: tuple[bytes, list[int]]
) -> None:
    data, bounds = log
    key = keys["admin"]
    a, b, c = bounds[1], bounds[3], bounds[-1]
    assert request(log_url(server, offset=0), "PUT", data[:a], key) == (200, {"offset": a, "appended": a})
    # A gap: the server answers 409 with its offset, and nothing is written.
    status, body = request(log_url(server, offset=b), "PUT", data[b:c], key)
    assert status == 409
    assert body["reason"] == "gap"
    assert body["offset"] == a
    # Overlapping what the server has: only the new frames are appended.
    assert request(log_url(server, offset=0), "PUT", data[:b], key) == (200, {"offset": b, "appended": b - a})
    assert request(log_url(server), key=key)[1]["offset"] == b
    # Different bytes where the server already has some: a conflict, not an overwrite.
    forged = bytearray(data[:b])
    forged[HEADER_SIZE + 20] ^= 0xFF
    status, body = request(log_url(server, offset=0), "PUT", bytes(forged), key)
    assert status == 409
    assert body["reason"] == "conflict"
    # A batch that ends inside a frame, or a corrupted frame: refused whole.
    assert request(log_url(server, offset=b), "PUT", data[b : c - 3], key)[0] == 400
    bad = bytearray(data[b:c])
    bad[-1] ^= 0xFF
    assert request(log_url(server, offset=b), "PUT", bytes(bad), key)[0] == 400
    assert (server_root / "projects" / "p" / "runs" / "r1" / "run.tlog").read_bytes() == data[:b]


def test_newer_or_missing_format_version_refused(
    server: Server, server_root: Path, keys: dict[str, str], log: tuple[bytes, list[int]]
) -> None:
    data, _ = log
    key = keys["editor"]
    status, body = request(log_url(server, offset=0), "PUT", data, key, version="2")
    assert status == 400
    assert "v2" in body["detail"]
    assert "upgrade" in body["detail"]
    assert request(log_url(server, offset=0), "PUT", data, key, version=None)[0] == 400
    v2 = bytearray(data)
    v2[8] = 2  # the header's version field (its CRC no longer matches either)
    assert request(log_url(server, offset=0), "PUT", bytes(v2), key)[0] == 400
    assert not (server_root / "projects" / "p").exists()


def test_keys_and_roles(
    server: Server, server_root: Path, keys: dict[str, str], log: tuple[bytes, list[int]]
) -> None:
    data, _ = log
    put = log_url(server, offset=0)
    assert request(put, "PUT", data, None)[0] == 401
    assert request(log_url(server), key=None)[0] == 401
    assert request(put, "PUT", data, "trk_000000000000_" + "x" * 43)[0] == 401
    assert request(put, "PUT", data, keys["editor"] + "x")[0] == 401
    assert request(put, "PUT", data, keys["viewer"])[0] == 403
    assert request(log_url(server), key=keys["viewer"])[0] == 403
    assert request(f"{server.url}/api/projects", key=None)[0] == 401
    assert request(f"{server.url}/api/projects", key=keys["viewer"])[0] == 200
    assert request(put, "PUT", data, keys["editor"])[0] == 200
    store = AuthStore(server_root)
    editor_id = keys["editor"].split("_")[1]
    assert store.revoke_key(editor_id)
    assert request(log_url(server), key=keys["editor"])[0] == 401
    # Only a salted hash is stored.
    raw = (server_root / "server-auth.sqlite").read_bytes()
    for key in keys.values():
        assert key.split("_", 2)[2].encode() not in raw


@pytest.mark.parametrize(
    ("project", "run_id"),
    [
        ("..", "r1"),
        ("%2e%2e", "r1"),
        ("p", ".."),
        ("p", "..%2F..%2Fx"),
        ("%2E%2E%2F%2E%2E", "x"),
        (".hidden", "r"),
    ],
)
def test_path_traversal_rejected(
    server: Server,
    tmp_path: Path,
    keys: dict[str, str],
    log: tuple[bytes, list[int]],
    project: str,
    run_id: str,
) -> None:
    before = sorted(p for p in tmp_path.rglob("*") if "server" not in p.parts)
    status, _ = request(log_url(server, project, run_id, offset=0), "PUT", log[0], keys["admin"])
    assert status in (400, 404)
    assert request(log_url(server, project, run_id), key=keys["admin"])[0] in (400, 404)
    assert sorted(p for p in tmp_path.rglob("*") if "server" not in p.parts) == before
    assert not list((tmp_path / "server").glob("projects/*/runs/*/run.tlog"))


def test_oversized_request_rejected(server: Server, server_root: Path, keys: dict[str, str]) -> None:
    status, body = request(log_url(server, offset=0), "PUT", b"\0" * 70_000, keys["editor"])
    assert status == 413
    assert "smaller batches" in body["detail"]
    assert not (server_root / "projects").exists()


def test_cli_keys_and_login(
    server_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    AuthStore(server_root).create_user("alice", "alice-password")
    cmd = ["server", "keys", "create", "--user", "alice", "--name", "ci", "--role", "viewer"]
    assert main([*cmd, "--root", str(server_root)]) == 0
    key = capsys.readouterr().out.strip()
    found = AuthStore(server_root).verify_key(key)
    assert found is not None
    assert (found.user, found.cap) == ("alice", "viewer")
    assert main(["server", "keys", "ls", "--root", str(server_root)]) == 0
    assert any(line.split()[2:4] == ["viewer", "active"] for line in capsys.readouterr().out.splitlines())
    assert main(["server", "keys", "revoke", key.split("_")[1], "--root", str(server_root)]) == 0
    assert AuthStore(server_root).verify_key(key) is None
    assert main(["server", "keys", "create", "--name", "x", "--role", "owner"]) == 2
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert main(["login", "--host", "http://127.0.0.1:9/", "--key", "trk_k"]) == 0
    cred = tmp_path / "cfg" / "tracker" / "credentials"
    assert stat.S_IMODE(os.stat(cred).st_mode) == 0o600
    assert json.loads(cred.read_text()) == {"host": "http://127.0.0.1:9", "key": "trk_k"}
    from tracker._settings import server_target

    assert server_target() == ("http://127.0.0.1:9", "trk_k")
    monkeypatch.setattr(sys, "stdin", io.StringIO("trk_from_stdin\n"))  # no --key: read, not argv
    assert main(["login", "--host", "http://127.0.0.1:9/"]) == 0
    assert json.loads(cred.read_text())["key"] == "trk_from_stdin"
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert main(["login", "--host", "http://127.0.0.1:9/"]) == 2
    with pytest.raises(tracker.errors.UsageError):
        tracker.login(key="k", host="ftp://x")
