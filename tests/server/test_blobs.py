"""Blob, file-link and artifact endpoints against a real ``tracker server`` on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import random
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._server import TrackerServer as Server
from tracker._upload import Client
from tracker._upload_files import ChangedError, upload_blob
from tracker.artifacts._store import manifest_digest
from tracker.server._auth import AuthStore

MAX_REQUEST = 65536
MAX_BLOB = 1_000_000


def http(
    url: str, method: str = "GET", body: bytes | None = None, key: str | None = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, hdrs, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        status, hdrs, raw = exc.code, dict(exc.headers), exc.read()
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        data = {"raw": raw.decode(errors="replace")}
    return status, {k.lower(): v for k, v in hdrs.items()}, data


@pytest.fixture
def server_root(tmp_path: Path) -> Path:
    return tmp_path / "server"


@pytest.fixture
def keys(server_root: Path) -> dict[str, str]:
    auth = AuthStore(server_root)
    auth.create_user("alice", "correct horse", site_admin=True)
    return {role: auth.create_key("alice", f"test-{role}", role)[0] for role in ("viewer", "editor", "admin")}


@pytest.fixture
def server(server_root: Path, keys: dict[str, str]) -> Iterator[Server]:
    srv = Server(server_root, "--max-request-bytes", str(MAX_REQUEST), "--max-blob-bytes", str(MAX_BLOB))
    yield srv
    srv.stop()


def blob(n: int, seed: int = 0) -> tuple[bytes, str]:
    data = random.Random(seed).randbytes(n)
    return data, hashlib.sha256(data).hexdigest()


def put(
    server: Server, sha: str, offset: int, size: int, body: bytes, key: str
) -> tuple[int, dict[str, Any]]:
    status, _, data = http(f"{server.url}/api/v1/blobs/{sha}?offset={offset}&size={size}", "PUT", body, key)
    return status, data


def test_upload_resumes_after_a_cut_connection(
    server: Server, server_root: Path, keys: dict[str, str]
) -> None:
    key = keys["editor"]
    data, sha = blob(200_000)
    assert http(f"{server.url}/api/v1/blobs/{sha}", "HEAD", key=key)[0] == 404
    assert put(server, sha, 0, len(data), data[:50_000], key) == (200, {"offset": 50_000, "complete": False})
    # A part cut off mid-body (the client dies): nothing of it is staged.
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            f"PUT /api/v1/blobs/{sha}?offset=50000&size={len(data)} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Length: 60000\r\n\r\n"
        )
        sock.sendall(head.encode() + data[50_000:80_000])
    status, _, staged = http(f"{server.url}/api/v1/uploads/{sha}", key=key)
    assert (status, staged) == (200, {"offset": 50_000, "complete": False})
    # The client library resumes from the staged size, in parts under the request limit.
    client = Client(server.url, key)
    taken = upload_blob(client, sha, len(data), lambda: open_bytes(data), part=32768)
    assert taken == len(data) - 50_000
    status, headers, _ = http(f"{server.url}/api/v1/blobs/{sha}", "HEAD", key=key)
    assert (status, headers["content-length"]) == (200, str(len(data)))
    stored = server_root / "objects" / "blobs" / "sha256" / sha[:2] / sha
    assert stored.read_bytes() == data
    assert list((server_root / ".uploads").glob("*.part")) == []
    # Sending it again changes nothing.
    assert put(server, sha, 0, len(data), data[:1000], key) == (200, {"offset": len(data), "complete": True})
    assert upload_blob(client, sha, len(data), lambda: open_bytes(data)) == 0


def test_client_halves_parts_the_server_finds_too_large(server: Server, keys: dict[str, str]) -> None:
    data, sha = blob(3 * MAX_REQUEST, seed=12)
    client = Client(server.url, keys["editor"])
    assert upload_blob(client, sha, len(data), lambda: open_bytes(data)) == len(data)  # 4 MiB parts at first
    assert http(f"{server.url}/api/v1/blobs/{sha}", "HEAD", key=keys["editor"])[0] == 200
    assert client.blob_part == MAX_REQUEST  # remembered for the next blob


def test_bytes_that_changed_under_the_client_are_reported(server: Server, keys: dict[str, str]) -> None:
    data, sha = blob(5000, seed=13)
    client = Client(server.url, keys["editor"])
    changed = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(ChangedError, match="changed while it was uploaded"):
        upload_blob(client, sha, len(data), lambda: open_bytes(changed))
    assert http(f"{server.url}/api/v1/uploads/{sha}", key=keys["editor"])[2] == {
        "offset": 0,
        "complete": False,
    }
    with pytest.raises(ChangedError, match="shrank"):
        upload_blob(client, sha, len(data), lambda: open_bytes(data[:100]))
    assert upload_blob(client, sha, len(data), lambda: open_bytes(data)) == len(data)


def open_bytes(data: bytes) -> Any:
    import io

    return io.BytesIO(data)


def test_a_gap_answers_the_staged_offset(server: Server, keys: dict[str, str]) -> None:
    data, sha = blob(10_000, seed=1)
    key = keys["editor"]
    assert put(server, sha, 0, len(data), data[:100], key)[0] == 200
    status, body = put(server, sha, 500, len(data), data[500:600], key)
    assert (status, body["reason"], body["offset"]) == (409, "gap", 100)
    # Overlapping bytes are skipped: resending from 50 appends only what is new.
    assert put(server, sha, 50, len(data), data[50:300], key) == (200, {"offset": 300, "complete": False})


def test_wrong_hash_is_refused_and_the_staging_dropped(
    server: Server, server_root: Path, keys: dict[str, str]
) -> None:
    key = keys["editor"]
    data, _ = blob(5000, seed=2)
    _, other = blob(5000, seed=3)
    assert put(server, other, 0, len(data), data[:2000], key)[0] == 200
    status, body = put(server, other, 2000, len(data), data[2000:], key)
    assert status == 400
    assert body["reason"] == "hash"
    assert other in body["detail"]
    assert http(f"{server.url}/api/v1/uploads/{other}", key=key)[2] == {"offset": 0, "complete": False}
    assert http(f"{server.url}/api/v1/blobs/{other}", "HEAD", key=key)[0] == 404
    assert not (server_root / "objects" / "blobs" / "sha256" / other[:2] / other).exists()


def test_bad_digests_and_sizes(server: Server, keys: dict[str, str]) -> None:
    key = keys["editor"]
    data, sha = blob(100, seed=4)
    assert put(server, "ABC", 0, 100, data, key)[0] == 400
    assert put(server, sha.upper(), 0, 100, data, key)[0] == 400
    assert put(server, sha, 0, 50, data, key)[0] == 400  # bytes past the declared size
    assert http(f"{server.url}/api/v1/blobs/{'0' * 63}", "HEAD", key=key)[0] == 400


def test_limits_are_413(server: Server, keys: dict[str, str]) -> None:
    key = keys["editor"]
    data, sha = blob(MAX_REQUEST + 1, seed=5)
    status, body = put(server, sha, 0, len(data), data, key)
    assert status == 413, body
    status, body = put(server, sha, 0, MAX_BLOB + 1, b"", key)
    assert status == 413
    assert str(MAX_BLOB) in body["detail"]
    status, _, body = http(
        f"{server.url}/api/v1/runs/p/r1/files/files/x.txt", "PUT", b"{" + b" " * MAX_REQUEST + b"}", key
    )
    assert status == 413, body


def test_keys_and_roles(server: Server, keys: dict[str, str]) -> None:
    data, sha = blob(100, seed=6)
    blob_url = f"{server.url}/api/v1/blobs/{sha}"
    link = f"{server.url}/api/v1/runs/p/r1/files/files/a.txt"
    art = f"{server.url}/api/v1/artifacts/p/model"
    link_body = json.dumps({"sha256": sha}).encode()
    for key in (None, "trk_000000000000_" + "x" * 40):
        assert http(blob_url, "HEAD", key=key)[0] == 401
        assert http(f"{server.url}/api/v1/uploads/{sha}", key=key)[0] == 401
        assert http(blob_url + "?offset=0&size=100", "PUT", data, key)[0] == 401
        assert http(link, "PUT", link_body, key)[0] == 401
        assert http(art, "POST", b"{}", key)[0] == 401
        assert http(f"{server.url}/api/v1/runs/p/r1/files", key=key)[0] == 401
    viewer = keys["viewer"]
    assert http(blob_url, "HEAD", key=viewer)[0] == 404  # reads are allowed
    assert http(blob_url + "?offset=0&size=100", "PUT", data, viewer)[0] == 403
    assert http(link, "PUT", link_body, viewer)[0] == 403
    assert http(art, "POST", b"{}", viewer)[0] == 403
    assert http(blob_url, "HEAD", key=viewer)[0] == 404  # nothing was stored
    assert put(server, sha, 0, 100, data, keys["admin"]) == (200, {"offset": 100, "complete": True})


@pytest.mark.parametrize(
    "path",
    [
        "media/../../../../etc/passwd",
        "files/%2e%2e/%2e%2e/x",
        "files/%2Fetc%2Fpasswd",
        "files/a%5Cb",
        "files/a%00b",
        "files/./x",
        "run.tlog",
        "media",
        "other/x.txt",
        "files//x",
    ],
)
def test_link_paths_outside_media_and_files_are_refused(
    server: Server, server_root: Path, keys: dict[str, str], path: str
) -> None:
    key = keys["editor"]
    data, sha = blob(64, seed=7)
    assert put(server, sha, 0, len(data), data, key)[0] == 200
    status, _, body = http(
        f"{server.url}/api/v1/runs/p/r1/files/{path}", "PUT", json.dumps({"sha256": sha}).encode(), key
    )
    assert status == 400, body
    assert "media/ or files/" in body["detail"]
    assert not (server_root / "etc").exists()
    run_dir = server_root / "projects" / "p" / "runs" / "r1"
    assert not (run_dir / ".blob-links.jsonl").exists()


def test_link_makes_the_file_readable_and_is_idempotent(
    server: Server, server_root: Path, keys: dict[str, str]
) -> None:
    key = keys["editor"]
    data, sha = blob(3000, seed=8)
    url = f"{server.url}/api/v1/runs/p/r1/files/files/sub/w.bin"
    body = json.dumps({"sha256": sha}).encode()
    status, _, answer = http(url, "PUT", body, key)
    assert status == 409
    assert answer["missing"] == [sha]
    assert put(server, sha, 0, len(data), data, key)[0] == 200
    assert http(url, "PUT", body, key)[2] == {"path": "files/sub/w.bin", "sha256": sha, "linked": True}
    assert http(url, "PUT", body, key)[2]["linked"] is False
    assert (server_root / "projects" / "p" / "runs" / "r1" / "files" / "sub" / "w.bin").read_bytes() == data
    assert http(f"{server.url}/api/v1/runs/p/r1/files", key=key)[2] == {"files": {"files/sub/w.bin": sha}}
    # Relinking a path to new content replaces the file.
    new, new_sha = blob(10, seed=9)
    assert put(server, new_sha, 0, len(new), new, key)[0] == 200
    assert http(url, "PUT", json.dumps({"sha256": new_sha}).encode(), key)[2]["linked"] is True
    assert (server_root / "projects" / "p" / "runs" / "r1" / "files" / "sub" / "w.bin").read_bytes() == new
    status, _, answer = http(f"{url}/deeper", "PUT", json.dumps({"sha256": new_sha}).encode(), key)
    assert status == 409  # w.bin is a file, not a folder
    assert "clashes" in answer["detail"]
    assert http(url, "PUT", b'{"sha256": "nope"}', key)[0] == 400
    assert http(url, "PUT", b"not json", key)[0] == 400


def test_artifact_versions_need_their_blobs_and_are_idempotent(
    server: Server, server_root: Path, keys: dict[str, str]
) -> None:
    from tracker.storage._sqlite_state import SQLiteStateStore

    key = keys["editor"]
    a, sha_a = blob(1000, seed=10)
    b, sha_b = blob(2000, seed=11)
    entries = {
        "weights.bin": {"digest": f"sha256:{sha_a}", "size": len(a)},
        "sub/config.json": {"digest": f"sha256:{sha_b}", "size": len(b)},
        "remote.csv": {"ref": "s3://elsewhere/data.csv"},
    }
    digest, _ = manifest_digest(entries)
    version = {"type": "model", "digest": digest, "entries": entries, "aliases": ["best"], "run_id": "r1"}
    url = f"{server.url}/api/v1/artifacts/p/model"
    assert put(server, sha_a, 0, len(a), a, key)[0] == 200
    status, _, body = http(url, "POST", json.dumps(version).encode(), key)
    assert (status, body["missing"]) == (409, [sha_b])
    assert put(server, sha_b, 0, len(b), b, key)[0] == 200
    status, _, body = http(url, "POST", json.dumps(version).encode(), key)
    assert status == 200, body
    assert (body["version"], body["created"], body["aliases"]) == (0, True, ["best", "latest"])
    # Sending it again returns the same version and moves no alias.
    other = {"x": {"digest": f"sha256:{sha_a}", "size": len(a)}}
    v1 = {"type": "model", "digest": manifest_digest(other)[0], "entries": other}
    assert http(url, "POST", json.dumps(v1).encode(), key)[2]["version"] == 1
    status, _, body = http(url, "POST", json.dumps(version).encode(), key)
    assert (status, body["version"], body["created"], body["aliases"]) == (200, 0, False, ["best"])
    state = SQLiteStateStore.for_root(server_root)
    try:
        assert [v.version for v in state.artifact_versions("p", "model")] == [0, 1]
        assert state.artifact_version("p", "model", "latest").version == 1  # type: ignore[union-attr]
    finally:
        state.close()
    bad = dict(version, digest="sha256:" + "0" * 64)
    status, _, body = http(url, "POST", json.dumps(bad).encode(), key)
    assert status == 400
    assert digest in body["detail"]
    escape = {"../x": {"digest": f"sha256:{sha_a}", "size": 1}}
    bad = {"type": "model", "digest": manifest_digest(escape)[0], "entries": escape}
    assert http(url, "POST", json.dumps(bad).encode(), key)[0] == 400
    assert http(url, "POST", b"[1, 2]", key)[0] == 400
