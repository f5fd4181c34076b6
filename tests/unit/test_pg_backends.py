"""The PostgreSQL index and state store: both contract suites on a real server, migrations, processes.

Needs psycopg (the ``[server]`` extra): CI's no-extras unit session skips this module,
the full session runs it against the server ``tests/_postgres.py`` starts.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("psycopg")

from tests.contracts.index import IndexContract, MakeIndex, snapshot, values
from tests.contracts.state import MakeStore, StateStoreContract
from tracker.errors import MissingExtraError, StorageError, UsageError
from tracker.storage._base import IndexBackend, StateStore


@pytest.fixture
def db(pg_url: str) -> str:
    """A fresh database with the schema migrated."""
    from tracker.storage._pg import migrate
    from tracker.storage._pg_migrations import LATEST

    assert migrate(pg_url) == list(range(1, LATEST + 1))
    return pg_url


def sql(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


class TestPostgresIndex(IndexContract):
    @pytest.fixture
    def make_index(self, db: str) -> Iterator[MakeIndex]:
        from tracker.storage._pg_index import PostgresIndex

        opened: list[IndexBackend] = []

        def make(root: Path) -> IndexBackend:
            index = PostgresIndex(root, db)
            opened.append(index)
            return index

        yield make
        for index in opened:
            index.close()

    @pytest.fixture
    def drop_index(self, db: str) -> Callable[[Path], None]:
        def drop(root: Path) -> None:
            sql(db, "TRUNCATE index_runs, index_chunks, index_keys, index_meta")

        return drop

    def test_same_rows_as_sqlite(self, index: IndexBackend, root: Path, logs: Any) -> None:
        from tracker.storage._ingest import CHUNK_POINTS
        from tracker.storage._sqlite_index import SQLiteIndex

        run = logs.run("p", "a", config={"lr": 0.1}, tags=["t"])
        run.series(CHUNK_POINTS + 50, {"loss": lambda s: 1 / (s + 1), "tag": lambda s: f"s{s % 3}"})
        run.resume(rewind=70).series(30, {"loss": lambda s: -1.0, "n": int}, start=71)
        logs.run("p", "b").system([(1.0, {"system.cpu": 3.0})]).log({"x": [1, 2], "y": None}).exit(
            "failed", 1
        )
        local = SQLiteIndex(root)
        try:
            index.refresh()
            local.refresh()
            assert snapshot(index, "p") == snapshot(local, "p")
            for lo, hi in [(None, None), (10.0, 60.0), (4000.0, None)]:
                assert index.numeric_chunks("p", "a", ["loss", "tag", "n"], step_min=lo, step_max=hi) == (
                    local.numeric_chunks("p", "a", ["loss", "tag", "n"], step_min=lo, step_max=hi)
                )
            got = index.series("p", "a", ["loss"], min_seq=20, max_seq=90)["loss"]
            want = local.series("p", "a", ["loss"], min_seq=20, max_seq=90)["loss"]
            assert (got.seq.tolist(), values(got)) == (want.seq.tolist(), values(want))
        finally:
            local.close()

    def test_lazy_timestamps_detect_a_rewrite(self, index: IndexBackend, logs: Any) -> None:
        from tracker.storage._base import IndexChangedError

        run = logs.run("p", "a")
        run.series(100, {"x": float})
        index.refresh()
        series = index.series("p", "a", ["x"])["x"]
        run.resume(rewind=10).series(5, {"x": float}, start=11)
        index.refresh()
        with pytest.raises(IndexChangedError, match="rewritten"):
            series.ts  # noqa: B018

    def test_another_data_root_is_refused(self, make_index: MakeIndex, root: Path, tmp_path: Path) -> None:
        make_index(root).projects()
        with pytest.raises(StorageError, match="same data root"):
            make_index(tmp_path / "elsewhere").projects()


class TestPostgresStateStore(StateStoreContract):
    @pytest.fixture
    def make_store(self, db: str) -> Iterator[MakeStore]:
        from tracker.storage._pg_state import PostgresStateStore

        opened: list[StateStore] = []

        def make() -> StateStore:
            store = PostgresStateStore(db)
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()

    def test_sweeps_listed_per_project_oldest_first(self, store: StateStore) -> None:
        store.create_sweep("s1", "a", {"method": "grid"})
        store.create_sweep("s2", "b", {"method": "random"})
        store.create_sweep("s3", "a", {"method": "bayes"}, state="running")
        assert [s.id for s in store.sweeps()] == ["s1", "s2", "s3"]
        assert [s.id for s in store.sweeps("a")] == ["s1", "s3"]
        assert StateStore.sweeps(store, "a") == store.sweeps("a")


# --------------------------------------------------------------------------- migrations
def test_migrate_applies_once_and_records_versions(pg_url: str) -> None:
    from tracker.storage._pg import migrate
    from tracker.storage._pg_migrations import LATEST

    assert migrate(pg_url) == list(range(1, LATEST + 1))
    assert migrate(pg_url) == []
    assert [r[0] for r in sql(pg_url, "SELECT version FROM schema_migrations ORDER BY version")] == list(
        range(1, LATEST + 1)
    )
    tables = {r[0] for r in sql(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"index_runs", "index_chunks", "index_keys", "state_journal", "state_sweep_claims"} <= tables


MIGRATOR = """
import sys
from tracker.storage._pg import migrate
print(migrate(sys.argv[1]))
"""


def test_concurrent_migrations_apply_each_version_once(pg_url: str) -> None:
    import psycopg

    from tracker.storage._pg import MIGRATE_LOCK

    # Hold the migration lock so that every process is waiting on it at once, then let go.
    with psycopg.connect(pg_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
        procs = [
            subprocess.Popen([sys.executable, "-c", MIGRATOR, pg_url], stdout=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            waiting = holder.execute(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()
            if waiting is not None and waiting[0] == 3:
                break
        else:
            pytest.fail("the migrating processes never waited on the lock")
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))
        outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    from tracker.storage._pg_migrations import LATEST

    versions = list(range(1, LATEST + 1))
    assert sorted(outs) == [str(versions), "[]", "[]"]
    assert sql(pg_url, "SELECT version FROM schema_migrations ORDER BY version") == [(v,) for v in versions]


def test_a_newer_schema_is_refused(pg_url: str) -> None:
    from tracker.storage._pg import migrate
    from tracker.storage._pg_index import PostgresIndex
    from tracker.storage._pg_migrations import LATEST
    from tracker.storage._pg_state import PostgresStateStore

    migrate(pg_url)
    sql(pg_url, "INSERT INTO schema_migrations (version, name) VALUES (99, 'future')")
    with pytest.raises(StorageError, match="newer than this tracker"):
        migrate(pg_url)
    store = PostgresStateStore(pg_url)
    with pytest.raises(StorageError, match="newer than this tracker"):
        store.claims("sw")
    store.close()
    assert sql(pg_url, "SELECT COUNT(*) FROM schema_migrations") == [(LATEST + 1,)]  # nothing was dropped
    index = PostgresIndex("/nowhere", pg_url)
    with pytest.raises(StorageError, match="upgrade tracker"):
        index.projects()
    index.close()


def test_a_database_behind_asks_for_migrate(pg_url: str, root: Path) -> None:
    from tracker.storage._pg_index import PostgresIndex

    index = PostgresIndex(root, pg_url)
    with pytest.raises(StorageError, match="tracker server migrate"):
        index.refresh()
    index.close()


def test_connection_errors_are_clear(pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tracker.storage._pg import connect, migrate
    from tracker.storage._pg_state import PostgresStateStore

    with pytest.raises(UsageError, match="not a PostgreSQL URL"):
        PostgresStateStore("sqlite:///x.db")
    # Nothing listens on port 1: the error names the database but never the password.
    with pytest.raises(StorageError, match="cannot connect") as info:
        migrate("postgresql://u:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(info.value)
    assert "u:***@127.0.0.1:1/db" in str(info.value)
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'tracker\[server\]'"):
        connect(pg_server.url())


# --------------------------------------------------------------------------- across processes
INGESTER = """
import os, sys
from tracker.storage._pg_index import PostgresIndex

index = PostgresIndex(sys.argv[1], sys.argv[2])
stop = sys.argv[3]
changed = 0
while not os.path.exists(stop):
    changed += index.refresh("p")
changed += index.refresh("p")
index.close()
print(changed)
"""


def wait_indexed(url: str, run_id: str, offset: int) -> None:
    import psycopg

    deadline = time.monotonic() + 60
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            query = "SELECT 1 FROM index_runs WHERE run_id = %s AND log_offset >= %s"
            if conn.execute(query, (run_id, offset)).fetchone():
                return
    pytest.fail(f"run {run_id} was not indexed up to {offset} within 60 s")


def test_processes_ingesting_one_run_store_each_point_once(db: str, root: Path, logs: Any) -> None:
    from tracker.storage._pg_index import PostgresIndex

    run = logs.run("p", "a")
    logs.run("p", "b").series(500, {"z": float})
    stop = root / "stop"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", INGESTER, str(root), db, str(stop)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    try:
        wait_indexed(db, "b", (root / "projects/p/runs/b/run.tlog").stat().st_size)  # the processes are up
        n = 12_000
        for lo in range(0, n, 400):
            run.series(
                400, {"x": float, "y": lambda s: s % 7, "s": lambda s: f"v{s % 3}"}, start=lo, batch=100
            )
            # Every slice is raced for by all three processes.
            wait_indexed(db, "a", run.path.stat().st_size)
        stop.touch()
        outs = [p.communicate(timeout=120)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(30)
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert sum(int(o) for o in outs) >= 1
    index = PostgresIndex(root, db)
    try:
        assert index.refresh() == 0  # the processes indexed everything
        s = index.series("p", "a", ["x", "y", "s"])
        assert s["x"].seq.tolist() == list(range(n))
        assert values(s["x"]) == [float(i) for i in range(n)]
        assert values(s["y"]) == [i % 7 for i in range(n)]
        assert values(s["s"]) == [f"v{i % 3}" for i in range(n)]
        assert index.keys("p", "a")["x"].points == n
        assert len(index.series("p", "b", ["z"])["z"]) == 500
    finally:
        index.close()
    stored = sql(
        db,
        "SELECT SUM(c.n), COUNT(DISTINCT c.cno) FROM index_chunks c JOIN index_runs r ON r.rid = c.rid "
        "WHERE r.run_id = 'a' AND c.key = 'x'",
    )
    assert stored == [(n, -(-n // 4096))]


CLAIMER = """
import sys
from tracker.storage._pg_state import PostgresStateStore

store = PostgresStateStore(sys.argv[1])
won = [k for k in range(80) if store.claim("sw", f"k{k}", sys.argv[2])]
store.close()
print(" ".join(map(str, won)))
"""


def test_processes_claim_each_grid_point_once(db: str) -> None:
    from tracker.storage._pg_state import PostgresStateStore

    procs = [
        subprocess.Popen([sys.executable, "-c", CLAIMER, db, f"proc-{i}"], stdout=subprocess.PIPE, text=True)
        for i in range(4)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    won = [int(k) for out in outs for k in out.split()]
    assert sorted(won) == list(range(80))
    store = PostgresStateStore(db)
    try:
        claims = store.claims("sw")
        assert len(claims) == 80
        for i, out in enumerate(outs):
            assert {f"k{k}" for k in out.split()} == {k for k, o in claims.items() if o == f"proc-{i}"}
        assert len([e for e in store.journal() if e.op == "sweep.claim"]) == 80
    finally:
        store.close()


# --------------------------------------------------------------------------- wiring
def test_api_and_dashboard_read_from_postgres(db: str, root: Path, logs: Any) -> None:
    from tracker.api import Api
    from tracker.storage._pg_index import PostgresIndex
    from tracker.storage._pg_state import PostgresStateStore

    run = logs.run("p", "a", config={"lr": 0.1}, tags=["t"])
    run.series(300, {"loss": lambda s: 1 / (s + 1), "acc": lambda s: s / 300}).exit("finished", 0)
    logs.run("p", "b").series(50, {"loss": float})
    index, state = PostgresIndex(root, db), PostgresStateStore(db)
    state.edit_run("p", "b", tags=["edited"])
    pg, local = Api(root, index=index, state=state), Api(root)
    try:
        assert [r.id for r in pg.runs("p")] == [r.id for r in local.runs("p")]
        history = pg.run("p/a").history(keys=["loss"], pandas=False)
        assert history == local.run("p/a").history(keys=["loss"], pandas=False)
        assert len(history) == 300
        assert pg.run("p/b").tags == ["edited"]
        assert local.run("p/b").tags == []
        pg.close()  # the caller's stores stay in use
        assert pg.run("p/a").config == {"lr": 0.1}
    finally:
        pg.close()
        local.close()

    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from tracker.server import create_app

    base = "http://127.0.0.1:8765"
    with TestClient(create_app(root, index=index, state=state), base_url=base) as pg_client:
        pg_runs = pg_client.get("/api/projects/p/runs").json()
        pg_projects = pg_client.get("/api/projects").json()
    with TestClient(create_app(root), base_url=base) as local_client:
        local_runs = local_client.get("/api/projects/p/runs").json()
        assert pg_projects == local_client.get("/api/projects").json()
    index.close()
    state.close()
    assert [r["id"] for r in pg_runs] == [r["id"] for r in local_runs]
    assert {r["id"]: r["tags"] for r in pg_runs}["b"] == ["edited"]
    assert pg_projects[0]["name"] == "p"
    assert pg_projects[0]["run_count"] == 2


def test_cli_migrate_and_server_refusal(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from tracker.cli import main

    assert main(["server", "migrate", "--db", pg_url]) == 0
    assert "applied migrations 1" in capsys.readouterr().out
    assert main(["server", "migrate", "--db", pg_url]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["server", "migrate", "--db", "mysql://x"]) == 2
    assert "not a PostgreSQL URL" in capsys.readouterr().err


def test_cli_server_refuses_a_schema_behind(pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from tracker.cli import main

    assert main(["server", "--db", pg_url, "--port", "0"]) == 1
    assert "run `tracker server migrate" in capsys.readouterr().err
    assert main(["server", "--migrate", "--port", "0"]) == 2
    assert "--migrate needs --db" in capsys.readouterr().err
