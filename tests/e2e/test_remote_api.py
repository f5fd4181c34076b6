"""``Api()`` reading from a real ``tracker server`` on 127.0.0.1 answers as the local Api does.

Runs are logged locally, shipped with ``tracker sync``, then the same queries go to the
local data root and to the server (``Api(base_url=...)`` and ``TRACKER_BASE_URL``).
"""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tracker
from tests._server import TrackerServer, make_key
from tracker.api import Api
from tracker.cli import main
from tracker.errors import CommError, RunNotFoundError, StorageError, UsageError
from tracker.server._auth import AuthStore

LONG = 5000  # more rows than one index chunk (4096): scan_history needs several pages


def _log_runs(root: Path) -> None:
    settings = tracker.Settings(disable_git=True)
    with tracker.init(project="p", id="long", name="long-run", config={"lr": 0.1, "opt": {"name": "adam"}},
                      tags=["base", "gpu"], settings=settings) as run:  # fmt: skip
        for step in range(LONG):
            row: dict[str, Any] = {"loss": 1.0 / (step + 1), "acc": step / LONG}
            if step % 10 == 0:
                row["val/loss"] = 2.0 / (step + 1)
            if step == 1234:
                row["loss"] = 50.0  # a spike that downsampling must keep
            if step == 7:
                row["odd"] = math.nan
            if step == 8:
                row["odd"] = math.inf
            if step % 1000 == 0:
                row["phase"] = f"phase-{step // 1000}"
            run.log(row)
        run.summary["best"] = 0.5
    run = tracker.init(project="p", id="short", name="short-run", config={"lr": 0.01, "opt": {"name": "sgd"}},
                       tags=["gpu"], settings=settings)  # fmt: skip
    for step in range(30):
        run.log({"loss": 0.5 + step, "acc": 0.9}, step=step * 2)
    run.summary["nan"] = math.nan
    run.finish(exit_code=1)
    config = {"lr": "auto", "name": "x'; DROP TABLE--"}
    run = tracker.init(project="p", id="third", name="third", config=config, settings=settings)
    run.log({"loss": 3.0})
    run.finish()
    with tracker.init(project="other", id="o1", config={"k": 1}, settings=settings) as run:
        run.log({"m": 1})


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Runs logged in a local data root and synced to a server with its own data root."""
    base = tmp_path_factory.mktemp("remote")
    local, server_root = base / "local", base / "server"
    mp = pytest.MonkeyPatch()
    try:
        for key in ("TRACKER_BASE_URL", "TRACKER_API_KEY", "TRACKER_HOST", "TRACKER_MODE"):
            mp.delenv(key, raising=False)
        mp.setenv("TRACKER_DIR", str(local))
        mp.setenv("TRACKER_CONSOLE", "off")
        mp.setenv("TRACKER_STRICT", "1")
        _log_runs(local)
        store = AuthStore(server_root)
        editor = make_key(store, "ci", "ci")
        viewer = make_key(store, "ci", "reader", "viewer")
        outsider = make_key(store, "outsider", "o")
        srv = TrackerServer(server_root)
        try:
            mp.setenv("TRACKER_BASE_URL", srv.url)
            mp.setenv("TRACKER_API_KEY", editor)
            assert main(["sync", "--all"]) == 0
            mp.delenv("TRACKER_BASE_URL")
            mp.delenv("TRACKER_API_KEY")
            yield {"url": srv.url, "viewer": viewer, "outsider": outsider, "local": local,
                   "server_root": server_root}  # fmt: skip
        finally:
            srv.stop()
    finally:
        mp.undo()


@pytest.fixture
def apis(env: dict[str, Any]) -> tuple[Api, Api]:
    return Api(env["local"]), Api(base_url=env["url"], api_key=env["viewer"])


def same(a: Any, b: Any) -> bool:
    """Equal, NaN included (JSON text of both, keys sorted)."""
    return json.dumps(a, sort_keys=True, default=repr) == json.dumps(b, sort_keys=True, default=repr)


def describe(run: Any) -> dict[str, Any]:
    return {
        "id": run.id, "name": run.name, "project": run.project, "entity": run.entity, "state": run.state,
        "config": run.config, "summary": run.summary, "tags": run.tags, "created_at": run.created_at,
        "heartbeat_at": run.heartbeat_at, "group": run.group, "job_type": run.job_type, "notes": run.notes,
        "exit_code": run.exit_code, "max_step": run.max_step, "path": run.path,
    }  # fmt: skip


def test_projects_and_env_selects_the_server(
    apis: tuple[Api, Api], env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    local, remote = apis
    assert remote.projects() == local.projects()
    assert [p.name for p in remote.projects()] == ["other", "p"]
    monkeypatch.setenv("TRACKER_BASE_URL", env["url"])
    monkeypatch.setenv("TRACKER_API_KEY", env["viewer"])
    from_env = Api()
    assert repr(from_env) == f"<Api base_url={env['url']!r}>"
    assert from_env.projects() == local.projects()
    assert repr(Api(env["local"])).startswith("<Api root=")  # an explicit root stays local


@pytest.mark.parametrize(
    ("filters", "order"),
    [
        (None, "-created_at"),
        (None, "+summary.loss"),
        ({"config.lr": {"$lt": 0.05}}, "-created_at"),
        ({"$or": [{"state": "failed"}, {"tags": "base"}]}, "+name"),
        ({"config.opt.name": {"$in": ["adam", "sgd"]}}, "-config.lr"),
        ({"display_name": {"$regex": "^s"}}, "+created_at"),
        ({"summary_metrics.nan": {"$exists": True}}, "+created_at"),
        ({"config.name": "x'; DROP TABLE--"}, "+created_at"),  # an injection string is data
        ({"config.name": "' OR 1=1 --"}, "+created_at"),
        ({"created_at": {"$gt": "2000-01-01T00:00:00"}}, "-summary_metrics.best"),
    ],
)
@pytest.mark.parametrize("per_page", [1, 50])
def test_runs_filters_order_and_pages(apis: tuple[Api, Api], filters: Any, order: str, per_page: int) -> None:
    local, remote = apis
    want = local.runs("p", filters=filters, order=order)
    got = remote.runs("p", filters=filters, order=order, per_page=per_page)
    assert [r.id for r in got] == [r.id for r in want]
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert same(describe(a), describe(b))


def test_runs_filter_injection_matches_only_the_literal(apis: tuple[Api, Api]) -> None:
    _, remote = apis
    assert [r.id for r in remote.runs("p", filters={"config.name": "x'; DROP TABLE--"})] == ["third"]
    assert list(remote.runs("p", filters={"config.name": "' OR 1=1 --"})) == []
    assert len(remote.runs("p")) == 3  # still all there


def test_run_fields(apis: tuple[Api, Api]) -> None:
    local, remote = apis
    for path in ("p/long", "p/short", "local/p/third", "other/o1"):
        assert same(describe(remote.run(path)), describe(local.run(path)))
    short = remote.run("p/short")
    assert short.url == f"{remote._remote.base_url}/projects/p/runs/short" if remote._remote else False
    assert short.state == "failed"
    assert short.tags == ["gpu"]
    assert math.isnan(short.summary["nan"])
    assert short.config == {"lr": 0.01, "opt": {"name": "sgd"}}


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"keys": ["loss"]},
        {"keys": ["loss", "val/loss"]},
        {"samples": 200},
        {"samples": 50, "keys": ["loss"]},
        {"keys": ["odd"]},
        {"keys": ["phase"]},
        {"keys": ["loss"], "x_axis": "acc"},
        {"keys": ["missing"]},
    ],
)
# The local side warns about keys a run lacks (issue 20); the answers are what is compared.
@pytest.mark.filterwarnings("ignore:history\\(keys=:tracker.errors.TrackerWarning")
def test_history_matches(apis: tuple[Api, Api], kwargs: dict[str, Any]) -> None:
    import pandas as pd

    local, remote = apis
    for path in ("p/long", "p/short"):
        want = local.run(path).history(**kwargs)
        got = remote.run(path).history(**kwargs)
        pd.testing.assert_frame_equal(got, want)
        assert same(
            remote.run(path).history(pandas=False, **kwargs), local.run(path).history(pandas=False, **kwargs)
        )


def test_history_samples_keeps_the_spike(apis: tuple[Api, Api]) -> None:
    _, remote = apis
    df = remote.run("p/long").history(keys=["loss"], samples=100)
    assert len(df) <= 100
    assert df["loss"].max() == 50.0
    assert df["_step"].iloc[0] == 0
    assert df["_step"].iloc[-1] == LONG - 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"keys": ["loss"]},
        {"keys": ["_step", "val/loss"]},
        {"page_size": 7, "min_step": 4090, "max_step": 4110},
        {"keys": ["loss"], "min_step": 4500},
        {"page_size": 100_000},
    ],
)
def test_scan_history_matches(apis: tuple[Api, Api], kwargs: dict[str, Any]) -> None:
    local, remote = apis
    for path in ("p/long", "p/short"):
        want = list(local.run(path).scan_history(**kwargs))
        got = list(remote.run(path).scan_history(**kwargs))
        assert len(got) == len(want)
        assert same(got, want)
    assert len(list(remote.run("p/long").scan_history(keys=["loss"]))) == LONG


def test_errors(apis: tuple[Api, Api], env: dict[str, Any]) -> None:
    _, remote = apis
    with pytest.raises(RunNotFoundError, match="nope") as info:
        remote.run("p/nope")
    assert info.value.run_id == "nope"
    with pytest.raises(UsageError, match="is not a valid run id"):
        remote.run("p/bad$id")
    with pytest.raises(UsageError):
        remote.runs("p", filters={"config.lr": {"$bogus": 1}})
    with pytest.raises(UsageError, match="per_page"):
        remote.runs("p", per_page=0)
    with pytest.raises(CommError, match="refused the API key"):
        Api(base_url=env["url"], api_key="trk_000000000000_" + "x" * 40).projects()
    with pytest.raises(CommError, match="needs an API key"):
        Api(base_url=env["url"]).projects()
    outsider = Api(base_url=env["url"], api_key=env["outsider"])
    assert outsider.projects() == []  # another user's private projects are not listed
    with pytest.raises(RunNotFoundError):
        outsider.run("p/long")
    with pytest.raises(CommError, match="no project"):
        outsider.runs("p")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(CommError, match="cannot reach the team server"):
            Api(base_url=f"http://127.0.0.1:{port}", api_key="k").projects()
    with pytest.raises(UsageError, match="server URL"):
        Api(base_url="ftp://example")
    with pytest.raises(UsageError, match="team server"):
        _ = remote.run("p/long").metadata  # needs the local index: a clear error, not a crash
    with pytest.raises(StorageError, match="no artifact"):
        remote.artifact("p/none:latest")


def test_artifacts_and_sweep(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Artifact metadata and a sweep, made directly in the server's data root, read remotely."""
    server_root = env["server_root"]
    monkeypatch.setenv("TRACKER_DIR", str(server_root))
    with tracker.init(project="arts", id="maker", settings=tracker.Settings(disable_git=True)) as run:
        art = tracker.Artifact("model", type="model", metadata={"acc": 0.9})
        with art.new_file("weights.txt") as f:
            f.write("w")
        run.log_artifact(art, aliases=["best"]).wait()
    sweep_id = tracker.sweep({"method": "grid", "parameters": {"x": {"values": [1, 2]}}}, project="arts")
    AuthStore(server_root).claim("arts", "ci")  # made on the server's disk: give it an owner
    local = Api(server_root)
    remote = Api(base_url=env["url"], api_key=env["viewer"])
    a, b = remote.artifact("arts/model:best"), local.artifact("arts/model:best")
    assert (a.name, a.type, a.version, a.metadata, a.digest) == (
        b.name,
        b.type,
        b.version,
        b.metadata,
        b.digest,
    )
    assert [v.version for v in remote.artifact_versions("model", "arts/model")] == ["v0"]
    with pytest.raises(UsageError, match="type"):
        remote.artifact("arts/model:latest", type="dataset")
    sweep = remote.sweep(f"arts/{sweep_id}")
    assert (sweep.id, sweep.project, sweep.state, sweep.config) == (
        sweep_id,
        "arts",
        "pending",
        local.sweep(sweep_id).config,
    )
    with pytest.raises(UsageError, match="no sweep"):
        remote.sweep("nosuchsweep")
