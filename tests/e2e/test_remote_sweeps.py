"""Sweeps shared through a real ``tracker server``: agents on "different machines" (own data roots)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tracker
from tests._server import TrackerServer as Server
from tests._server import make_key
from tracker.api import Api
from tracker.cli import main
from tracker.server._auth import AuthStore
from tracker.storage._sqlite_state import SQLiteStateStore

AGENT_TIMEOUT = 180.0

TRAIN = """
import tracker

run = tracker.init()
run.log({"score": float(run.config["x"]) * 10 + float(run.config.get("y", 0))})
run.finish()
"""


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    root = tmp_path / "server"
    store = AuthStore(root)
    key = make_key(store)
    store.claim("sw", "ci")  # the sweeps' project, owned by the key's user
    srv = Server(root)
    monkeypatch.setenv("TRACKER_BASE_URL", srv.url)
    monkeypatch.setenv("TRACKER_API_KEY", key)
    monkeypatch.setenv("TRACKER_DISABLE_GIT", "1")
    (tmp_path / "train.py").write_text(TRAIN)
    try:
        yield {"url": srv.url, "key": key, "root": root, "cwd": tmp_path}
    finally:
        srv.stop()


def create(cfg: str, cwd: Path, capsys: pytest.CaptureFixture[str]) -> str:
    path = cwd / "sweep.yaml"
    path.write_text(cfg)
    assert main(["sweep", str(path)]) == 0
    out = capsys.readouterr().out
    return out.split("Created sweep with ID: ")[1].split()[0]


def start_agents(
    server: dict[str, Any], sweep_id: str, machines: list[Path], *extra: str, urls: list[str] | None = None
) -> list[int]:
    """Run one ``tracker agent`` per machine at once (each against its server); return the runs each took."""
    procs = []
    for n, machine in enumerate(machines):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "WANDB_"))}
        env.update(
            TRACKER_DIR=str(machine),
            TRACKER_BASE_URL=urls[n] if urls else server["url"],
            TRACKER_API_KEY=server["key"],
            TRACKER_STRICT="1",
            TRACKER_CONSOLE="off",
            TRACKER_DISABLE_GIT="1",
        )
        cmd = [sys.executable, "-m", "tracker.cli", "agent", sweep_id, *extra]
        log = open(machine.with_suffix(".log"), "wb")  # closed below, once the agent exited
        procs.append(
            (subprocess.Popen(cmd, env=env, cwd=server["cwd"], stdout=log, stderr=log), log, machine)
        )
    for proc, log, machine in procs:
        try:
            code = proc.wait(AGENT_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            log.close()
        assert code == 0, machine.with_suffix(".log").read_text()
    return [
        int(m.with_suffix(".log").read_text().split("agent finished after ")[1].split()[0]) for m in machines
    ]


def local_runs(machines: list[Path]) -> list[Any]:
    return [run for m in machines for run in Api(m).runs("sw") if m.exists()]


GRID = """
method: grid
project: sw
program: train.py
metric: {name: score, goal: maximize}
parameters:
  x: {values: [1, 2, 3]}
  y: {values: [0, 1]}
"""


def test_grid_two_agents_on_two_machines(
    server: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep_id = create(GRID, server["cwd"], capsys)
    assert SQLiteStateStore.for_root(server["root"]).sweep(sweep_id) is not None  # made on the server
    assert not (tmp_path / "tracker-root" / "index").exists() or (
        SQLiteStateStore.for_root(tmp_path / "tracker-root").sweep(sweep_id) is None
    )
    machines = [tmp_path / "machine-a", tmp_path / "machine-b"]
    taken = start_agents(server, sweep_id, machines)
    assert sum(taken) == 6
    runs = local_runs(machines)
    points = sorted((r.config["x"], r.config["y"]) for r in runs)
    assert points == [(x, y) for x in (1, 2, 3) for y in (0, 1)]  # every point once, none twice
    assert all(r.state == "finished" and r.sweep_id == sweep_id for r in runs)
    store = SQLiteStateStore.for_root(server["root"])
    claims = store.claims(sweep_id)
    grid = {k: v for k, v in claims.items() if k.startswith("grid:")}
    numbers = {k: v for k, v in claims.items() if k.startswith("run:")}
    assert len(grid) == 6
    assert sorted(numbers) == [f"run:{i}" for i in range(6)]
    assert sorted(grid.values()) == sorted(numbers.values()) == sorted(r.id for r in runs)
    remote = Api()
    sweep = remote.sweep(sweep_id)
    assert sweep.state == "finished"
    # The runs went online: the server has them, and the best one.
    assert sorted(r.id for r in sweep.runs) == sorted(r.id for r in runs)
    best = sweep.best_run()
    assert best is not None
    assert (best.config["x"], best.config["y"]) == (3, 1)
    # What hyperband reads on the agents' side comes from the server too.
    from tracker.sweeps._remote import RemoteController, open_controller

    ctl = open_controller(sweep_id, None)
    assert isinstance(ctl, RemoteController)
    observed = {(o.params[("x",)], o.params[("y",)]): list(o.history) for o in ctl.observations()}
    assert observed == {(x, y): [x * 10.0 + y] for x in (1, 2, 3) for y in (0, 1)}
    with pytest.warns(tracker.TrackerWarning, match="finished"):
        assert main(["agent", sweep_id]) == 0  # a late agent finds no work


RANDOM = """
method: random
project: sw
program: train.py
parameters:
  x: {distribution: uniform, min: 0, max: 1}
"""


def test_random_with_count_and_state_changes(
    server: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep_id = create(RANDOM, server["cwd"], capsys)
    machines = [tmp_path / "machine-a", tmp_path / "machine-b"]
    assert start_agents(server, sweep_id, machines, "--count", "2") == [2, 2]
    runs = local_runs(machines)
    assert len(runs) == 4
    assert len({r.config["x"] for r in runs}) == 4
    assert all(0 <= r.config["x"] <= 1 for r in runs)
    claims = SQLiteStateStore.for_root(server["root"]).claims(sweep_id)
    assert sorted(claims) == [f"run:{i}" for i in range(4)]
    assert sorted(claims.values()) == sorted(r.id for r in runs)
    assert Api().sweep(sweep_id).state == "running"
    # The function agent of this process claims from the server too.
    seen: list[float] = []

    def train() -> None:
        run = tracker.init()
        seen.append(run.config["x"])
        run.log({"score": run.config["x"]})

    assert tracker.agent(sweep_id, function=train, count=1) == 1
    assert len(seen) == 1
    assert seen[0] not in {r.config["x"] for r in runs}
    assert len(SQLiteStateStore.for_root(server["root"]).claims(sweep_id)) == 5
    assert main(["sweep", "--stop", sweep_id]) == 0
    assert Api().sweep(sweep_id).state == "finished"
    with pytest.warns(tracker.TrackerWarning, match="finished"):
        assert tracker.agent(sweep_id, function=train) == 0  # finished: nothing more to claim


def test_grid_through_two_servers_on_one_postgres(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two server processes on one PostgreSQL (and data root): agents on each never share a point."""
    from tracker.storage._pg import migrate
    from tracker.storage._pg_state import PostgresStateStore

    migrate(pg_url)
    store = AuthStore.postgres(tmp_path / "srv-a", pg_url)
    key = make_key(store)
    store.claim("sw", "ci")
    (tmp_path / "train.py").write_text(TRAIN)
    servers: list[Server] = []
    try:
        servers.append(Server(tmp_path / "srv-a", "--db", pg_url))
        servers.append(Server(tmp_path / "srv-a", "--db", pg_url))  # a second process, same root
        monkeypatch.setenv("TRACKER_BASE_URL", servers[0].url)
        monkeypatch.setenv("TRACKER_API_KEY", key)
        info = {"url": servers[0].url, "key": key, "root": tmp_path / "srv-a", "cwd": tmp_path}
        sweep_id = create(GRID, tmp_path, capsys)
        machines = [tmp_path / "machine-a", tmp_path / "machine-b"]
        taken = start_agents(info, sweep_id, machines, urls=[s.url for s in servers])
        assert sum(taken) == 6
        runs = local_runs(machines)
        assert sorted((r.config["x"], r.config["y"]) for r in runs) == [
            (x, y) for x in (1, 2, 3) for y in (0, 1)
        ]
        pg = PostgresStateStore(pg_url)
        try:
            claims = pg.claims(sweep_id)
            sweep = pg.sweep(sweep_id)
        finally:
            pg.close()
        assert sorted(k for k in claims if k.startswith("run:")) == [f"run:{i}" for i in range(6)]
        assert len([k for k in claims if k.startswith("grid:")]) == 6
        assert sweep is not None
        assert sweep.state == "finished"
        assert (
            not (tmp_path / "srv-a" / "index").exists()
            or SQLiteStateStore.for_root(tmp_path / "srv-a").sweep(sweep_id) is None
        )  # nothing went to a server's own SQLite store
    finally:
        for srv in servers:
            srv.stop()
