"""A team server checks the references of a posted manifest (issue 14, point 4).

An editor must not be able to plant a reference that sends readers' downloads to their
own machine's services or the server's network: ``data:`` and unknown schemes, and
loopback, link-local and private targets (unless the server allows them), are 400
naming the entry. ``team``: tests/server/conftest.py (alice owns ``alpha``).
"""

from __future__ import annotations

import json
from typing import Any

from tracker.artifacts._store import manifest_digest


def _post(client: Any, entries: dict[str, Any], name: str = "refs") -> Any:
    body = {"type": "dataset", "digest": manifest_digest(entries)[0], "entries": entries}
    return client.post(f"/api/v1/artifacts/alpha/{name}", content=json.dumps(body))


HOSTILE = [
    "data:text/plain;base64,c2VjcmV0",
    "ftp://example.com/x",
    "javascript:alert(1)",
    "http://127.0.0.1:8080/api/v1/projects",
    "http://localhost/admin",
    "https://169.254.169.254/latest/meta-data/",
    "http://[::1]/x",
    "http://[::ffff:10.0.0.1]/x",
    "http://10.1.2.3/x",
    "http://192.168.0.10/x",
    "http://2130706433/x",
    "http://0x7f.1/x",
    "http://0.0.0.0/x",
    "http://metadata/computeMetadata/v1/",
    "http://db.internal/x",
    "file://otherhost/etc/passwd",
    "file:///data/../etc/passwd",
]


def test_hostile_references_are_refused_naming_the_entry(team: Any) -> None:
    with team.client("alice") as alice:
        for uri in HOSTILE:
            got = _post(alice, {"ok.csv": {"ref": "s3://bucket/ok.csv"}, "bad/entry.bin": {"ref": uri}})
            assert got.status_code == 400, (uri, got.json())
            assert "'bad/entry.bin'" in got.json()["detail"], uri
            assert got.json()["entry"] == "bad/entry.bin"
        assert alice.get("/api/v1/projects/alpha/artifacts").json()["artifacts"] == []


def test_public_and_shared_references_are_accepted(team: Any) -> None:
    entries = {
        "a.csv": {"ref": "https://example.com/data/a.csv", "etag": "x"},
        "b.parquet": {"ref": "s3://bucket/key/b.parquet", "size": 3},
        "c.bin": {"ref": "file:///mnt/shared/c.bin", "digest": "sha256:" + "0" * 64, "size": 1},
        "d.txt": {"ref": "http://8.8.8.8/d.txt"},
    }
    with team.client("alice") as alice:
        got = _post(alice, entries)
    assert got.status_code == 200, got.json()
    assert got.json()["version"] == 0


def test_a_server_may_allow_private_targets(root: Any, team: Any) -> None:
    from fastapi.testclient import TestClient

    from tracker.server import create_app
    from tracker.server._blobs import install_blobs
    from tracker.server._ingest import install
    from tracker.server._remote import install_remote

    app = create_app(team.root, token=None, poll_interval=0.05)
    install(app, team.root, max_body=team.max_body)
    install_remote(app, team.root)
    install_blobs(app, team.root / "objects", team.root, max_body=team.max_body, allow_private_refs=True)
    headers = {"Authorization": f"Bearer {team.keys['alice']}"}
    with TestClient(app, base_url=team.base, headers=headers) as alice:
        assert _post(alice, {"x": {"ref": "http://10.1.2.3/x"}}).status_code == 200
        got = _post(alice, {"x": {"ref": "data:,boom"}}, name="other")
        assert got.status_code == 400  # schemes are checked all the same
