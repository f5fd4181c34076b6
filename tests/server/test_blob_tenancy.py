"""Blobs belong to the projects that reference them (issue 14, point 5).

Knowing a blob's SHA-256 must not be enough to read it: a blob can be linked into a run
or an artifact only by a caller who uploaded it (all of its bytes) or who can read a
project that references it; ``HEAD`` answers the same way; ``model-registry`` is the
server's, not the first poster's. ``team`` (tests/server/conftest.py): ``alpha`` of
alice, ``beta`` of bob, ``gamma`` of team crew (carol viewer, dave editor), root a
server admin.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._server import TrackerServer as Server
from tests._server import make_key
from tracker._upload import Client
from tracker._upload_files import upload_blob
from tracker.artifacts._store import manifest_digest
from tracker.server._auth import AuthStore


def _blob(n: int, seed: int) -> tuple[bytes, str]:
    data = random.Random(seed).randbytes(n)
    return data, hashlib.sha256(data).hexdigest()


def _put(c: Any, sha: str, data: bytes, offset: int = 0, size: int | None = None) -> Any:
    return c.put(f"/api/v1/blobs/{sha}?offset={offset}&size={len(data) if size is None else size}",
                 content=data[offset:] if size is None else data)  # fmt: skip


def _link(c: Any, project: str, run_id: str, path: str, sha: str) -> Any:
    return c.put(f"/api/v1/runs/{project}/{run_id}/files/{path}", content=json.dumps({"sha256": sha}))


def _artifact(c: Any, project: str, name: str, entries: dict[str, Any]) -> Any:
    body = {"type": "model", "digest": manifest_digest(entries)[0], "entries": entries}
    return c.post(f"/api/v1/artifacts/{project}/{name}", content=json.dumps(body))


@pytest.fixture
def secret(team: Any) -> tuple[bytes, str]:
    """A blob alice uploaded and linked into her private project ``alpha``."""
    data, sha = _blob(5000, seed=41)
    with team.client("alice") as alice:
        assert _put(alice, sha, data).json() == {"offset": len(data), "complete": True}
        assert _link(alice, "alpha", "r1", "files/secret.bin", sha).json()["linked"] is True
    return data, sha


def test_knowing_the_hash_of_anothers_blob_gives_nothing(team: Any, secret: tuple[bytes, str]) -> None:
    data, sha = secret
    with team.client("bob") as bob:
        assert bob.head(f"/api/v1/blobs/{sha}").status_code == 404
        assert bob.get(f"/api/v1/uploads/{sha}").json() == {"offset": 0, "complete": False}
        got = _link(bob, "beta", "r1", "files/stolen.bin", sha)
        assert (got.status_code, got.json()["missing"]) == (409, [sha])
        assert not (team.root / "projects" / "beta" / "runs" / "r1" / "files" / "stolen.bin").exists()
        assert bob.get("/api/v1/runs/beta/r1/files").json() == {"files": {}}
        got = _artifact(bob, "beta", "loot", {"w.bin": {"digest": f"sha256:{sha}", "size": len(data)}})
        assert (got.status_code, got.json()["missing"]) == (409, [sha])
        # Claiming the upload is done with a few bytes does not work: all of them are needed.
        assert _put(bob, sha, data[:10], size=len(data)).json() == {"offset": 10, "complete": False}
        assert _link(bob, "beta", "r1", "files/stolen.bin", sha).status_code == 409
        # The project-scoped HEAD: bob cannot see alpha at all.
        assert bob.head(f"/api/v1/projects/alpha/blobs/{sha}").status_code == 404
    with team.client("alice") as alice:
        assert alice.head(f"/api/v1/blobs/{sha}").status_code == 200
        assert alice.head(f"/api/v1/projects/alpha/blobs/{sha}").status_code == 200
        assert alice.head(f"/api/v1/projects/alpha/blobs/{'0' * 64}").status_code == 404


def test_all_the_bytes_prove_possession_and_the_blob_is_stored_once(
    team: Any, secret: tuple[bytes, str]
) -> None:
    data, sha = secret
    stored = team.root / "objects" / "blobs" / "sha256" / sha[:2] / sha
    before = stored.stat()
    with team.client("bob") as bob:
        assert _put(bob, sha, data[:10], size=len(data)).json() == {"offset": 10, "complete": False}
        assert _put(bob, sha, data, offset=10).json() == {"offset": len(data), "complete": True}
        assert bob.head(f"/api/v1/blobs/{sha}").status_code == 200
        assert _link(bob, "beta", "r1", "files/mine.bin", sha).json()["linked"] is True
        assert bob.head(f"/api/v1/projects/beta/blobs/{sha}").status_code == 200
    after = stored.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not stored again
    assert stored.read_bytes() == data
    assert list((team.root / ".uploads").rglob("*.part")) == []
    # Wrong bytes under alice's hash from bob: refused, alice's blob untouched.
    wrong = bytes(b ^ 1 for b in data)
    with team.client("dave") as dave:
        got = _put(dave, sha, wrong)
        assert (got.status_code, got.json()["reason"]) == (400, "hash")
    assert stored.read_bytes() == data


def test_readers_of_a_project_may_link_its_blobs(team: Any, secret: tuple[bytes, str]) -> None:
    data, sha = secret
    with team.client("dave") as dave:  # dave edits gamma, cannot see alpha
        assert _link(dave, "gamma", "r1", "files/x.bin", sha).status_code == 409
    with team.client("root") as admin:  # a server admin reads every project
        assert admin.head(f"/api/v1/blobs/{sha}").status_code == 200
        assert _link(admin, "gamma", "r1", "files/x.bin", sha).json()["linked"] is True
    # Now gamma references it: its members may use it, in gamma and in their own projects.
    with team.client("dave") as dave:
        assert dave.head(f"/api/v1/blobs/{sha}").status_code == 200
        assert dave.head(f"/api/v1/projects/gamma/blobs/{sha}").status_code == 200
        got = _artifact(dave, "gamma", "w", {"w.bin": {"digest": f"sha256:{sha}", "size": len(data)}})
        assert got.status_code == 200, got.json()
    with team.client("bob") as bob:
        assert bob.head(f"/api/v1/blobs/{sha}").status_code == 404


def test_model_registry_is_the_servers(team: Any) -> None:
    data, sha = _blob(300, seed=42)
    entries = {"m.bin": {"digest": f"sha256:{sha}", "size": len(data)}}
    with team.client("bob") as bob:
        assert _put(bob, sha, data).json()["complete"] is True
        got = _artifact(bob, "model-registry", "best", entries)
        assert got.status_code == 404, got.json()
        log = bob.put("/api/v1/runs/model-registry/r1/log?offset=0", content=b"")
        assert log.status_code == 404
        assert _link(bob, "model-registry", "r1", "files/m.bin", sha).status_code == 404
    info = team.store.project("model-registry")
    assert info is not None
    assert (info.owner_kind, info.visibility) == ("server", "private")
    with team.client("root") as admin:
        assert _put(admin, sha, data).json()["complete"] is True
        assert _artifact(admin, "model-registry", "best", entries).status_code == 200
    # A role granted on it (here: the registry handed to team crew) lets its editors link.
    team.store.set_owner("model-registry", team="crew")
    with team.client("dave") as dave:
        assert _put(dave, sha, data).json()["complete"] is True
        assert _artifact(dave, "model-registry", "other", entries).status_code == 200
    with team.client("carol") as carol:
        assert _artifact(carol, "model-registry", "third", entries).status_code == 403


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Server, dict[str, str]]]:
    root = tmp_path / "server"
    auth = AuthStore(root)
    keys = {u: make_key(auth, u, "k") for u in ("alice", "bob")}
    srv = Server(root)
    yield srv, keys
    srv.stop()


def test_the_uploader_skips_its_own_blobs_and_proves_others(live: tuple[Server, dict[str, str]]) -> None:
    import io

    srv, keys = live
    data, sha = _blob(200_000, seed=43)
    alice, bob = Client(srv.url, keys["alice"]), Client(srv.url, keys["bob"])
    assert upload_blob(alice, sha, len(data), lambda: io.BytesIO(data)) == len(data)
    assert alice.request("PUT", alice.api("runs/p/r1/files/files/w.bin"), json_body={"sha256": sha})[0] == 200
    assert upload_blob(alice, sha, len(data), lambda: io.BytesIO(data)) == 0  # dedup: hers
    assert not bob.has_blob(sha)
    assert alice.has_blob(sha, "p")  # p references it
    assert upload_blob(bob, sha, len(data), lambda: io.BytesIO(data)) == len(data)  # proves it
    assert upload_blob(bob, sha, len(data), lambda: io.BytesIO(data)) == 0
    assert bob.has_blob(sha)


def test_the_records_on_postgres(pg_url: str, tmp_path: Path) -> None:
    from tracker.server._auth import Principal
    from tracker.server._blob_owners import BlobOwners
    from tracker.storage._pg import migrate

    migrate(pg_url)
    auth = AuthStore.postgres(tmp_path, pg_url)
    info = auth.project("model-registry")  # created by migration 3
    assert info is not None
    assert (info.owner_kind, info.owner, info.visibility) == ("server", "", "private")
    auth.create_user("alice", "alice-password-1")
    auth.create_user("bob", "bob-password-1")
    auth.set_owner("p", user="alice")
    alice, bob = Principal("alice", False, None), Principal("bob", False, "editor")
    owners = BlobOwners(auth)
    shas = [hashlib.sha256(bytes([i])).hexdigest() for i in range(3)]
    owners.uploaded(shas[0], "alice")
    owners.uploaded(shas[0], "alice")  # idempotent
    owners.referenced(shas[:2], "p")
    assert owners.usable(alice, shas) == set(shas[:2])
    assert owners.usable(bob, shas) == set()
    auth.set_visibility("p", "public")
    assert owners.usable(bob, shas) == set(shas[:2])
    assert owners.usable(bob, shas, "q") == set()
