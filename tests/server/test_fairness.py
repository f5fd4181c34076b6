"""One user's upload does not stall another user's reads (issue 14, point 7).

Alice's upload is held while its run is being indexed: inside the index's write
transaction for her run (a real SQLite file or PostgreSQL database whose commit of that
run waits on an event). While it is held, Bob's reads of his own small run, his
project's listing, the projects listing and a chart all answer, with his data. Before
the fix every read waited for the server-wide refresh lock the upload held.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.server._auth import AuthStore
from tracker.storage._sqlite_index import SQLiteIndex

from .conftest import BASE, PASSWORD, seed_run

HOLD_S = 60.0  # upper bound on a held upload; the test releases it itself
READ_S = 15.0  # Bob's reads take milliseconds; before the fix they never came back while held


class _Hold:
    """Holds the index's commit of one project's runs until released."""

    def __init__(self, project: str) -> None:
        self.project = project
        self.entered = threading.Event()
        self.release = threading.Event()

    def wait(self, project: str) -> None:
        if project == self.project:
            self.entered.set()
            if not self.release.wait(HOLD_S):
                raise AssertionError("the held upload was never released")


def _held_sqlite(root: Path, hold: _Hold) -> Any:
    class HeldSQLiteIndex(SQLiteIndex):
        def _commit(self, prep: Any) -> bool:  # inside BEGIN IMMEDIATE
            hold.wait(prep.project)
            return super()._commit(prep)

    return HeldSQLiteIndex(root)


def _held_postgres(root: Path, hold: _Hold, url: str) -> Any:
    from tracker.storage._pg import migrate
    from tracker.storage._pg_index import PostgresIndex

    migrate(url)

    class HeldPostgresIndex(PostgresIndex):
        def _commit(self, conn: Any, prep: Any) -> bool:  # inside the run's transaction
            hold.wait(prep.project)
            return super()._commit(conn, prep)

    return HeldPostgresIndex(root, url)


def _log_bytes(tmp: Path) -> bytes:
    """Alice's run log, written by a real run on her machine."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = tracker.init(
            project="alpha", id="big", dir=str(tmp), settings=tracker.Settings(disable_git=True)
        )
        for step in range(500):
            run.log({"loss": float(step)}, step=step)
        run.finish()
    return (tmp / "projects" / "alpha" / "runs" / "big" / "run.tlog").read_bytes()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_reads_of_another_run_do_not_wait_for_an_upload_being_indexed(
    backend: str, root: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    seed_run("beta", "r1", config={"lr": 0.1})
    store = AuthStore(root)
    keys = {}
    for user in ("alice", "bob"):
        store.create_user(user, PASSWORD)
        keys[user] = store.create_key(user, "full")[0]
    store.set_owner("beta", user="bob")
    data = _log_bytes(tmp_path / "alice-machine")

    hold = _Hold("alpha")
    if backend == "sqlite":
        index = _held_sqlite(root, hold)
    else:
        index = _held_postgres(root, hold, request.getfixturevalue("pg_url"))
    try:
        _race(root, index, store, keys, data, hold)
    finally:
        index.close()


def _race(root: Path, index: Any, store: AuthStore, keys: dict[str, str], data: bytes, hold: _Hold) -> None:
    from fastapi.testclient import TestClient

    from tracker.server import create_app
    from tracker.server._ingest import install
    from tracker.server._remote import install_remote

    app = create_app(root, token=None, poll_interval=0.05, index=index)
    install(app, root, store=store)
    install_remote(app, root)

    def client(user: str) -> Any:
        return TestClient(app, base_url=BASE, headers={"Authorization": f"Bearer {keys[user]}"})

    bob = client("bob")
    assert bob.get("/api/v1/projects/beta/runs/r1").status_code == 200  # indexed before the upload

    upload: dict[str, Any] = {}

    def alice_uploads() -> None:
        response = client("alice").put(
            "/api/v1/runs/alpha/big/log?offset=0", content=data, headers={"X-Tracker-Format-Version": "1"}
        )
        upload["status"], upload["body"] = response.status_code, response.json()

    reads: dict[str, Any] = {}
    read_done = threading.Event()

    def bob_reads() -> None:
        try:
            reads["run"] = bob.get("/api/v1/projects/beta/runs/r1")
            reads["runs"] = bob.get("/api/projects/beta/runs")
            reads["projects"] = bob.get("/api/v1/projects")
            reads["series"] = bob.post(
                "/api/series", json={"project": "beta", "runs": ["r1"], "keys": ["loss"], "buckets": 50}
            )
        finally:
            read_done.set()

    uploader = threading.Thread(target=alice_uploads)
    uploader.start()
    reader = threading.Thread(target=bob_reads)
    try:
        assert hold.entered.wait(HOLD_S), f"alice's upload never reached the index: {upload}"
        reader.start()
        answered = read_done.wait(READ_S)
        still_indexing = not hold.release.is_set() and uploader.is_alive()
    finally:
        hold.release.set()
        uploader.join(HOLD_S)
        if reader.is_alive() or reader.ident is not None:
            reader.join(HOLD_S)
    assert answered, "bob's reads waited for alice's upload to be indexed"
    assert still_indexing
    assert upload["status"] == 200, upload
    assert upload["body"]["offset"] == len(data)

    assert reads["run"].status_code == 200
    assert reads["run"].json()["record"]["config"] == {"lr": 0.1}
    assert [r["id"] for r in reads["runs"].json()] == ["r1"]
    assert [p["name"] for p in reads["projects"].json()["projects"]] == ["beta"]
    series = reads["series"].json()["series"]["loss"]["r1"]
    assert series["y"] == pytest.approx([1.0 / (step + 1) for step in range(20)])
    # Once released, alice's run is fully indexed and readable.
    big = client("alice").get("/api/v1/projects/alpha/runs/big")
    assert big.status_code == 200
    assert (big.json()["record"]["rows_logged"], big.json()["record"]["max_step"]) == (500, 499)
