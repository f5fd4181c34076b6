"""Accounts through the CLI, then a real ``tracker server`` on 127.0.0.1 enforcing them."""

from __future__ import annotations

import http.client
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests._server import TrackerServer
from tracker.cli import main
from tracker.server._auth import AuthStore


def cli(monkeypatch: pytest.MonkeyPatch, root: Path, *args: str, stdin: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(["server", *args, "--root", str(root)])


def seed_run(project: str) -> None:
    import warnings

    import tracker

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = tracker.init(project=project, id="r1", settings=tracker.Settings(disable_git=True))
        run.log({"loss": 1.0})
        run.finish()


def test_cli_accounts(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pw = "alice-password\n"
    assert cli(monkeypatch, root, "users", "create", "alice", "--password-stdin", stdin=pw) == 0
    assert cli(monkeypatch, root, "users", "create", "boss", "--admin", "--password-stdin", stdin=pw) == 0
    assert cli(monkeypatch, root, "users", "create", "alice", "--password-stdin", stdin=pw) == 2
    assert cli(monkeypatch, root, "users", "create", "eve", "--password-stdin", stdin="short\n") == 2
    # A password is never an argument.
    assert cli(monkeypatch, root, "users", "create", "x", "--password", "secret-password") == 2
    capsys.readouterr()
    assert cli(monkeypatch, root, "users", "ls") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["USER", "KIND", "STATE", "CREATED", "DEFAULT", "TEAM"]
    assert any(line.split()[:3] == ["alice", "user", "active"] for line in out.splitlines())
    assert any(line.split()[:3] == ["boss", "admin", "active"] for line in out.splitlines())
    assert "alice-password" not in (root / "server-auth.sqlite").read_text(errors="replace")
    assert cli(monkeypatch, root, "teams", "create", "crew") == 0
    assert cli(monkeypatch, root, "teams", "add-member", "crew", "alice", "--role", "viewer") == 0
    assert cli(monkeypatch, root, "teams", "add-member", "crew", "ghost") == 2
    capsys.readouterr()
    assert cli(monkeypatch, root, "teams", "ls") == 0
    assert capsys.readouterr().out.splitlines()[1].split() == ["crew", "alice:viewer"]
    assert (
        cli(monkeypatch, root, "keys", "create", "--user", "alice", "--name", "ci", "--role", "editor") == 0
    )
    key = capsys.readouterr().out.strip()
    assert cli(monkeypatch, root, "keys", "create", "--name", "ci") == 2  # --user is required
    who = AuthStore(root).verify_key(key)
    assert who is not None
    assert (who.user, who.cap) == ("alice", "editor")
    assert cli(monkeypatch, root, "projects", "set-visibility", "p", "public") == 2  # no owner yet
    assert cli(monkeypatch, root, "projects", "set-owner", "p", "--team", "crew") == 0
    assert cli(monkeypatch, root, "projects", "set-visibility", "p", "public") == 0
    assert cli(monkeypatch, root, "projects", "set-visibility", "p", "open") == 2
    capsys.readouterr()
    assert cli(monkeypatch, root, "projects", "ls") == 0
    assert ["p", "team:crew", "public"] in [line.split() for line in capsys.readouterr().out.splitlines()]
    assert AuthStore(root).role_on(who, "p") == "viewer"
    assert cli(monkeypatch, root, "users", "disable", "alice") == 0
    assert AuthStore(root).verify_key(key) is None
    assert cli(monkeypatch, root, "users", "disable", "alice") == 2


class Server(TrackerServer):
    """``tracker server`` with a 64 KiB request cap, and a raw HTTP client for it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "--max-request-bytes", "65536")

    def request(
        self, method: str, path: str, body: bytes | None = None, **headers: str
    ) -> tuple[int, Any, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(
                method, path, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()}
            )
            res = conn.getresponse()
            return res.status, res.headers, res.read().decode(errors="replace")
        finally:
            conn.close()


@pytest.fixture
def server(root: Path) -> Iterator[Server]:
    seed_run("mine")
    seed_run("theirs")
    store = AuthStore(root)
    store.create_user("alice", "alice-password")
    store.create_user("bob", "bob-password")
    store.set_owner("mine", user="alice")
    store.set_owner("theirs", user="bob")
    srv = Server(root)
    yield srv
    srv.stop()


def test_real_server_enforces_auth(server: Server, root: Path) -> None:
    store = AuthStore(root)
    alice = {"Authorization": "Bearer " + store.create_key("alice", "k")[0]}
    viewer = {"Authorization": "Bearer " + store.create_key("alice", "v", "viewer")[0]}
    assert server.request("GET", "/api/projects")[0] == 401
    assert server.request("GET", "/api/v1/projects")[0] == 401
    status, _, text = server.request("GET", "/api/projects", **alice)
    assert (status, [p["name"] for p in json.loads(text)]) == (200, ["mine"])
    assert server.request("GET", "/api/projects/theirs/runs", **alice)[0] == 404
    assert server.request("GET", "/api/projects/mine/runs/r1", **alice)[0] == 200
    assert server.request("PUT", "/api/v1/runs/mine/r2/log?offset=0", b"x", **viewer)[0] == 403
    big = b"\0" * 70_000
    assert (
        server.request(
            "PUT", "/api/v1/runs/mine/r2/log?offset=0", big, X_Tracker_Format_Version="1", **alice
        )[0]
        == 413
    )
    assert (
        server.request("POST", "/api/series", b"[" * 2_000_000, Content_Type="application/json", **alice)[0]
        == 413
    )
    assert server.request("GET", "/api/projects/..%2ftheirs/runs", **alice)[0] in (400, 404)
    # The dashboard: a redirect to the login page, then a session cookie.
    status, headers, _ = server.request("GET", "/projects/mine")
    assert (status, headers["location"]) == (303, "/login?next=%2Fprojects%2Fmine")
    form = urlencode({"username": "alice", "password": "alice-password", "next": "/projects/mine"}).encode()
    status, headers, _ = server.request(
        "POST",
        "/login",
        form,
        Content_Type="application/x-www-form-urlencoded",
        Origin=f"http://127.0.0.1:{server.port}",
    )
    assert (status, headers["location"]) == (303, "/projects/mine")
    cookie = headers["set-cookie"].split(";")[0]
    assert server.request("GET", "/projects/mine", Cookie=cookie)[0] == 200
    status, _, text = server.request("GET", "/api/projects", Cookie=cookie)
    assert [p["name"] for p in json.loads(text)] == ["mine"]
    body = json.dumps({"project": "mine", "runs": ["r1"], "keys": ["loss"]}).encode()
    assert (
        server.request("POST", "/api/series", body, Content_Type="application/json", Cookie=cookie)[0] == 403
    )
    status, _, text = server.request(
        "POST", "/api/series", body, Content_Type="application/json", Cookie=cookie, X_Tracker_CSRF="1"
    )
    assert status == 200
    assert "r1" in json.loads(text)["series"]["loss"]
    # Open without signing in: the login page, static assets and the schema only.
    assert server.request("GET", "/login")[0] == 200
    assert server.request("GET", "/api/openapi.json")[0] == 200
    assert server.request("GET", "/static/app.js")[0] == 200
