"""The smaller holes of issue 14 (point 9) and the body cap, each as it was reported.

A deeply nested JSON body (was a 500), login back-off per address (locked out a whole NAT),
``Host: 127.0.0.1:1@evil.com`` (was accepted), a saved-file record naming ``..`` (served
other files of the run), a run directory linked out of the data root (was served), and a
body over the cap (refused before a byte of it is read).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
from fastapi.testclient import TestClient

import tracker
from tests.server.conftest import seed_run
from tests.server.test_security_identity import BASE
from tracker.errors import TrackerWarning
from tracker.server import create_app
from tracker.server._identity import MAX_DEPTH
from tracker.storage._format import frame

TOKEN = {"X-Tracker-Token": "sekrit"}


def nested(depth: int) -> bytes:
    return (
        b'{"project": "alpha", "runs": ["r1"], "keys": ["loss"], "x_min": '
        + b"[" * depth
        + b"]" * depth
        + b"}"
    )


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 30_000])  # 30,000: a RecursionError (500) before
def test_deeply_nested_json_is_400_on_every_json_route(team: Any, root: Path, depth: int) -> None:
    body = nested(depth)
    assert len(body) < team.max_body  # under every cap: it is the nesting that is refused
    root_key = team.client("root", raise_server_exceptions=False)
    local = TestClient(
        create_app(root, token="sekrit"), base_url=BASE, headers=TOKEN, raise_server_exceptions=False
    )
    posts = [
        (root_key, "POST", "/api/series"),
        (root_key, "PUT", "/api/projects/alpha/access"),
        (root_key, "POST", "/api/v1/sweeps"),
        (root_key, "POST", "/api/v1/sweeps/s1/state"),
        (root_key, "POST", "/api/v1/artifacts/alpha/model"),
        (root_key, "PUT", "/api/v1/runs/alpha/r1/files/files/a.txt"),
        (local, "POST", "/api/series"),
    ]
    for client, method, path in posts:
        res = client.request(method, path, content=body, headers={"Content-Type": "application/json"})
        assert res.status_code == 400, (method, path, res.status_code, res.text[:200])
        assert "nested too deeply" in res.json()["detail"]
    # Nesting within the bound is fine.
    ok = root_key.post(
        "/api/series", content=nested(MAX_DEPTH - 2), headers={"Content-Type": "application/json"}
    )
    assert ok.status_code == 400  # x_min is not a number: the handler's own message, not the nesting
    assert "x_min" in ok.json()["detail"]


def test_login_backoff_spares_other_users_behind_one_address(team: Any) -> None:
    web = team.client()  # every request from the same client address
    for _ in range(5):
        assert web.post("/login", data={"username": "bob", "password": "nope nope"}).status_code == 401
    # Bob's guesser is slowed down...
    res = web.post("/login", data={"username": "bob", "password": team.password})
    assert res.status_code == 429
    assert int(res.headers["retry-after"]) >= 1
    # ...but alice, behind the same address (one NAT), still signs in.
    res = web.post("/login", data={"username": "alice", "password": team.password}, follow_redirects=False)
    assert res.status_code == 303
    # Guessing bob from other addresses: slowed too once the account has had 20 failures.
    for i in range(15):
        other = team.client(client=(f"10.0.0.{i + 2}", 40000))
        assert other.post("/login", data={"username": "bob", "password": "nope nope"}).status_code == 401
    fresh = team.client(client=("10.0.1.1", 40000))
    assert fresh.post("/login", data={"username": "bob", "password": team.password}).status_code == 429
    res = fresh.post("/login", data={"username": "carol", "password": team.password}, follow_redirects=False)
    assert res.status_code == 303


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:1@evil.com",
        "127.0.0.1@evil.com",
        "localhost:8765@evil.com:8765",
        "127.0.0.1:80:80",
        "127.0.0.1:http",
        "127.0.0.1 ",
        "127.0.0.1/evil",
        "[::1]x",
        "evil.com#127.0.0.1",
    ],
)
def test_host_header_is_parsed_strictly(root: Path, host: str) -> None:
    client = TestClient(create_app(root, token="sekrit"), base_url=BASE, headers=TOKEN)
    assert client.get("/api/projects", headers={"Host": host}).status_code == 421
    if "@" in host:  # an Origin naming the same place
        assert client.get("/api/projects", headers={"Origin": f"http://{host}"}).status_code == 403


def test_host_header_allowed_forms(root: Path) -> None:
    app = create_app(root, token="sekrit", allowed_hosts=["127.0.0.1", "localhost", "[::1]", "tracker_web"])
    client = TestClient(app, base_url=BASE, headers=TOKEN)
    for host in ("127.0.0.1", "127.0.0.1:8765", "LOCALHOST:1", "[::1]:8765", "[::1]", "tracker_web:8080"):
        assert client.get("/api/projects", headers={"Host": host}).status_code == 200, host
    assert client.get("/api/projects", headers={"Host": "tracker_web.evil.com"}).status_code == 421


def append_files_record(run_dir: Path, entries: list[dict[str, Any]]) -> None:
    with open(run_dir / "run.tlog", "ab") as fh:
        fh.write(frame(msgpack.packb([11, entries])))


def test_saved_file_record_with_dotdot_serves_nothing(root: Path) -> None:
    seed_run("demo", "r1")
    run_dir = root / "projects" / "demo" / "runs" / "r1"
    (run_dir / "files").mkdir(exist_ok=True)
    (run_dir / "files" / "ok.txt").write_text("fine")
    (run_dir / "files" / "link.txt").symlink_to(run_dir / "run.tlog")
    entry = {"size": 4, "sha256": "0" * 64, "policy": "now", "ts": time.time()}
    append_files_record(
        run_dir, [{**entry, "path": p} for p in ("../run.tlog", "a/../../run.tlog", "ok.txt", "link.txt")]
    )
    client = TestClient(create_app(root, token="sekrit"), base_url=BASE, headers=TOKEN)
    assert client.get("/api/projects/demo/runs/r1/files/ok.txt").text == "fine"
    for name in ("..%2Frun.tlog", "a%2F..%2F..%2Frun.tlog", "link.txt"):
        res = client.get(f"/api/projects/demo/runs/r1/files/{name}")
        assert res.status_code in (400, 404), (name, res.status_code)
        assert (run_dir / "run.tlog").read_bytes()[:16] not in res.content


def test_run_directory_linked_out_of_the_root_is_not_served(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "elsewhere"
    seed_run("demo", "r1")
    run_dir = root / "projects" / "demo" / "runs" / "r1"
    (run_dir / "files").mkdir(exist_ok=True)
    (run_dir / "files" / "secret.txt").write_text("outside the root")
    entry = {"path": "secret.txt", "size": 16, "sha256": "0" * 64, "policy": "now", "ts": time.time()}
    append_files_record(run_dir, [entry])
    os.rename(run_dir, outside)
    run_dir.symlink_to(outside, target_is_directory=True)
    monkeypatch.delenv("TRACKER_STRICT")  # strict mode raises where a listing skips a run
    client = TestClient(create_app(root, token="sekrit"), base_url=BASE, headers=TOKEN)
    # Not listed, charted or counted (the index never reads through the link), nor served.
    with pytest.warns(TrackerWarning, match="symbolic link"):
        listed = client.get("/api/projects/demo/runs")
    for part in ("files/secret.txt", "console", "system", ""):
        res = client.get(f"/api/projects/demo/runs/r1/{part}".rstrip("/"))
        assert res.status_code == 404, (part, res.status_code, res.text[:200])
        assert "outside the root" not in res.text
        assert "data root" in res.json()["detail"]
    assert listed.status_code == 200
    assert "r1" not in listed.text
    assert len(tracker.Api(str(root)).runs("demo")) == 0


def raw_request(port: int, head: bytes, body: bytes = b"") -> tuple[bytes, float]:
    """Send ``head`` (and ``body``) on a socket; the answer's first bytes and how long it took."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(head + body)
        answer = sock.recv(65536)
    return answer, time.monotonic() - start


def test_body_over_the_cap_is_refused_before_it_is_read(root: Path) -> None:
    from tests.server.test_security_server import Server
    from tracker.server._auth import AuthStore

    seed_run("mine", "r1")
    store = AuthStore(root)
    store.create_user("alice", "alice-password")
    store.set_owner("mine", user="alice")
    key = store.create_key("alice", "k")[0]
    server = Server(root)  # --max-request-bytes 65536
    try:
        auth = f"Authorization: Bearer {key}\r\nHost: 127.0.0.1:{server.port}\r\n".encode()
        # A declared length over the cap: answered without sending a byte of the body.
        for method, path in (("POST", "/api/series"), ("PUT", "/api/v1/runs/mine/r2/log?offset=0")):
            head = f"{method} {path} HTTP/1.1\r\nContent-Length: 1000000000\r\n".encode() + auth + b"\r\n"
            answer, _ = raw_request(server.port, head)
            assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        # Chunked (no length): counted as it streams and cut at the cap, long before the end.
        head = (
            b"PUT /api/v1/runs/mine/r2/log?offset=0 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
            b"X-Tracker-Format-Version: 1\r\n" + auth + b"\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (16384, b"\0" * 16384)
        # 8 x 16 KiB, past the 64 KiB cap, and the body never ends (no last chunk): the
        # answer must come from counting, not from reading to the end (else: a timeout).
        answer, _ = raw_request(server.port, head, chunk * 8)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert not (root / "projects" / "mine" / "runs" / "r2").exists()
    finally:
        server.stop()
