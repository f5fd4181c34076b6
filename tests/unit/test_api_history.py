"""Run.history / scan_history / samples / alerts / streams, and index rebuilds, through Api."""

from __future__ import annotations

import math
import random
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.api import Api
from tracker.errors import MissingExtraError, TrackerWarning, UsageError
from tracker.storage._ingest import CHUNK_POINTS

T0 = 1_700_000_000.0


@pytest.fixture
def pd() -> Any:
    return pytest.importorskip("pandas")


def test_history_frame(logs: Any, pd: Any) -> None:
    run = logs.run("p", "a", created=T0)
    run.series(
        10, {"loss": lambda s: 1.0 / (s + 1), "epoch": lambda s: s // 4, "phase": lambda s: f"p{s % 2}"}
    )
    df = Api().run("p/a").history()
    assert list(df.columns) == ["_step", "_timestamp", "_runtime", "epoch", "loss", "phase"]
    assert df["_step"].tolist() == list(range(10))
    assert df["loss"].tolist() == [1.0 / (s + 1) for s in range(10)]
    assert df["epoch"].dtype == "int64"
    assert df["epoch"].tolist() == [s // 4 for s in range(10)]
    assert df["phase"].tolist() == [f"p{s % 2}" for s in range(10)]
    assert df["_timestamp"].tolist() == [T0 + 1 + s for s in range(10)]
    assert df["_runtime"].tolist() == [1.0 + s for s in range(10)]


def test_keys_select_rows_having_all_keys(logs: Any, pd: Any) -> None:
    run = logs.run("p", "a")
    run.rows([(0, 1.0, {"a": 1.0}), (1, 2.0, {"a": 2.0, "b": 20}), (2, 3.0, {"b": 30}), (3, 4.0, {"a": 4.0})])
    api = Api()
    df = api.run("p/a").history(keys=["b"])
    assert list(df.columns) == ["_step", "_timestamp", "_runtime", "b"]
    assert (df["_step"].tolist(), df["b"].tolist()) == ([1, 2], [20, 30])
    assert df["b"].dtype == "int64"
    both = api.run("p/a").history(keys=["a", "b"])
    assert both["_step"].tolist() == [1]
    full = api.run("p/a").history()
    assert full["_step"].tolist() == [0, 1, 2, 3]
    assert math.isnan(full["b"][0])
    assert full["b"][1] == 20
    with pytest.warns(TrackerWarning, match="no key 'nope'"):  # issue 20: named, not silent
        assert api.run("p/a").history(keys=["nope"]).empty
    with pytest.warns(TrackerWarning, match="no key 'nope'"):
        assert api.run("p/a").history(keys=["a", "nope"]).empty


def test_history_dicts_hold_only_present_keys(logs: Any) -> None:
    run = logs.run("p", "a", created=T0)
    run.rows([(0, T0 + 1, {"a": 1.0, "n": 3}), (1, T0 + 2, {"b": "x"})])
    rows = Api().run("p/a").history(pandas=False)
    assert rows == [
        {"_step": 0, "_timestamp": T0 + 1, "_runtime": 1.0, "a": 1.0, "n": 3},
        {"_step": 1, "_timestamp": T0 + 2, "_runtime": 2.0, "b": "x"},
    ]
    assert type(rows[0]["n"]) is int


def test_out_of_order_steps_keep_log_order(logs: Any) -> None:
    run = logs.run("p", "a")
    run.rows([(0, 1.0, {"x": 0.0}), (5, 2.0, {"x": 5.0}), (3, 3.0, {"x": 3.0}), (3, 4.0, {"x": 3.5})])
    rows = Api().run("p/a").history(pandas=False)
    assert [(r["_step"], r["x"]) for r in rows] == [(0, 0.0), (5, 5.0), (3, 3.0), (3, 3.5)]


def _spiky(n: int, seed: int) -> tuple[list[float], int]:
    rnd = random.Random(seed)
    values = [rnd.random() for _ in range(n)]
    spike = rnd.randrange(1, n - 1)
    values[spike] = 1e6
    return values, spike


@pytest.mark.parametrize("pandas", [False, True])
def test_samples_keep_a_single_spike(logs: Any, pandas: bool) -> None:
    if pandas:
        pytest.importorskip("pandas")
    n = 20_000
    loss, spike = _spiky(n, seed=1)
    run = logs.run("p", "a")
    run.series(n, {"loss": loss.__getitem__, "acc": lambda s: s / n}, batch=2048)
    hist = Api().run("p/a")
    for keys in (None, ["loss"]):
        out = hist.history(samples=1000, keys=keys, pandas=pandas)
        rows = out.to_dict("records") if pandas else out
        steps = [r["_step"] for r in rows]
        assert len(rows) <= 1000
        assert len(rows) >= 500
        assert steps[0] == 0
        assert steps[-1] == n - 1
        assert steps == sorted(steps)
        assert spike in steps
        assert max(r["loss"] for r in rows) == 1e6
        for r in rows:  # real rows, not aggregates
            assert r["loss"] == loss[r["_step"]]


def test_samples_keep_every_keys_spike_and_ignore_nan(logs: Any) -> None:
    n = 12_000
    keys = {f"k{i}": _spiky(n, seed=10 + i) for i in range(10)}
    run = logs.run("p", "a")
    nan_at = {500, 501, 7000}

    def value(key: str) -> Any:
        data = keys[key][0]
        return lambda s: math.nan if s in nan_at else data[s]

    run.series(n, {k: value(k) for k in keys}, batch=4096)
    rows = Api().run("p/a").history(samples=1000, pandas=False)
    assert len(rows) <= 1000
    steps = {r["_step"] for r in rows}
    for key, (_data, spike) in keys.items():
        assert spike in steps or spike in nan_at, key
    assert {0, n - 1} <= steps


def test_samples_edge_cases(logs: Any) -> None:
    logs.run("p", "a").series(50, {"x": float})
    run = Api().run("p/a")
    assert len(run.history(samples=100, pandas=False)) == 50
    assert [r["_step"] for r in run.history(samples=2, pandas=False)] == [0, 49]
    assert [r["_step"] for r in run.history(samples=1, pandas=False)] == [0]
    for bad in (0, -1, 2.5, True):
        with pytest.raises(UsageError):
            run.history(samples=bad, pandas=False)


def _key(i: int) -> Any:
    return lambda s: (s * 7919 + i * 104729) % 1000


def test_many_keys_still_at_most_samples(logs: Any) -> None:
    logs.run("p", "a").series(400, {f"k{i}": _key(i) for i in range(60)})
    rows = Api().run("p/a").history(samples=20, pandas=False)
    assert len(rows) <= 20
    assert rows[0]["_step"] == 0
    assert rows[-1]["_step"] == 399


def test_x_axis_is_required_with_keys(logs: Any) -> None:
    run = logs.run("p", "a")
    run.rows([(0, 1.0, {"loss": 1.0}), (1, 2.0, {"loss": 0.5, "epoch": 1}), (2, 3.0, {"epoch": 2})])
    rows = Api().run("p/a").history(keys=["loss"], x_axis="epoch", pandas=False)
    assert [(r["_step"], r["epoch"], r["loss"]) for r in rows] == [(1, 1, 0.5)]


def test_scan_history(logs: Any) -> None:
    n = CHUNK_POINTS + 300
    run = logs.run("p", "a", created=T0)
    run.series(n, {"x": float, "y": lambda s: s % 3 if s % 2 else None}, batch=1000)
    run.rows([(n, T0, {"z": "only"})])
    api_run = Api().run("p/a")
    everything = list(api_run.scan_history(page_size=333))
    assert everything == api_run.history(pandas=False)
    assert len(everything) == n + 1
    picked = list(api_run.scan_history(keys=["x"], min_step=10, max_step=15))
    assert picked == [{"x": float(s)} for s in range(10, 15)]
    with_step = list(api_run.scan_history(keys=["_step", "z"]))
    assert with_step == [{"_step": n, "z": "only"}]
    with pytest.raises(UsageError):
        api_run.scan_history(page_size=0)
    with pytest.raises(UsageError):
        api_run.scan_history(keys="x")  # type: ignore[arg-type]


def test_reads_follow_a_live_log(logs: Any) -> None:
    run = logs.run("p", "a", created=T0)
    run.series(3, {"x": float})
    api = Api()
    live = api.run("p/a")
    assert len(live.history(pandas=False)) == 3
    run.series(4, {"x": float}, start=3)
    assert [r["x"] for r in live.history(pandas=False)] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert api.run("p/a").max_step == 6


def test_events_stream(logs: Any) -> None:
    run = logs.run("p", "a", created=T0, host="node-7")
    run.system([(T0 + 10, {"system.cpu": 5.0}), (T0 + 20, {"system.cpu": 7.0, "system.gpu.0.gpu": 90.0})])
    run.log({"x": 1.0})
    api_run = Api().run("p/a")
    rows = api_run.history(stream="events", pandas=False)
    assert rows == [
        {"_timestamp": T0 + 10, "_runtime": 10.0, "node": "node-7", "system.cpu": 5.0},
        {
            "_timestamp": T0 + 20,
            "_runtime": 20.0,
            "node": "node-7",
            "system.cpu": 7.0,
            "system.gpu.0.gpu": 90.0,
        },
    ]
    only_gpu = api_run.history(stream="system", keys=["system.gpu.0.gpu"], pandas=False)
    assert only_gpu == [{"_timestamp": T0 + 20, "_runtime": 20.0, "node": "node-7", "system.gpu.0.gpu": 90.0}]
    with pytest.raises(UsageError):
        api_run.history(stream="nope", pandas=False)


def test_alerts(logs: Any) -> None:
    logs.run("p", "a").alert("slow", "step took 10 s", "WARN", step=3).alert("done", "ok")
    alerts = Api().run("p/a").alerts()
    assert [(a["title"], a["level"], a["step"]) for a in alerts] == [("slow", "WARN", 3), ("done", "INFO", 0)]


def test_pandas_missing_is_a_clear_error(logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    logs.run("p", "a").log({"x": 1.0})
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'tracker\[data\]'"):
        Api().run("p/a").history()


def test_real_runs_end_to_end(root: Path, pd: Any) -> None:
    np = pytest.importorskip("numpy")
    with tracker.init(project="e2e", id="ok", config={"lr": 0.1}) as run:
        for i in range(20):
            run.log({"loss": np.float32(1 / (i + 1)), "nested": {"acc": i / 20}, "i": np.int64(i)})
        run.alert("note", "halfway")
    failed = tracker.init(project="e2e", id="bad", reinit="create_new")
    failed.log({"loss": 1.0})
    failed.finish(exit_code=3)
    api = Api()
    ok = api.run("e2e/ok")
    assert (ok.state, ok.config, ok.summary["i"]) == ("finished", {"lr": 0.1}, 19)
    df = ok.history()
    assert df["_step"].tolist() == list(range(20))
    assert df["i"].dtype == "int64"
    assert df["nested.acc"].tolist() == [i / 20 for i in range(20)]
    assert df["loss"].tolist() == [float(np.float32(1 / (i + 1))) for i in range(20)]
    assert [a["title"] for a in ok.alerts()] == ["note"]
    assert api.run("e2e/bad").state == "failed"
    assert [r.id for r in api.runs("e2e", filters={"state": "finished"})] == ["ok"]


def test_resume_from_hides_superseded_rows(root: Path) -> None:
    with tracker.init(project="rw", id="r1") as run:
        for i in range(10):
            run.log({"x": float(i)})
    api = Api()
    assert len(api.run("rw/r1").history(pandas=False)) == 10
    with tracker.init(project="rw", resume_from="r1?_step=4") as run:
        for i in range(3):
            run.log({"x": 100.0 + i})
    rows = api.run("rw/r1").history(pandas=False)
    assert [(r["_step"], r["x"]) for r in rows] == [(s, float(s)) for s in range(5)] + [
        (5, 100.0), (6, 101.0), (7, 102.0)
    ]  # fmt: skip


def _everything(api: Api) -> Any:
    out = {}
    for project in api.projects():
        for run in api.runs(project.name):
            out[(project.name, run.id)] = (
                run.state, run.config, repr(run.summary), run.tags, run.created_at, run.alerts(),
                repr(run.history(pandas=False)), repr(run.history(samples=50, pandas=False)),
                repr(run.history(stream="events", pandas=False)),
            )  # fmt: skip
    return out


def test_deleting_the_index_gives_identical_results(logs: Any, root: Path) -> None:
    a = logs.run("p", "a", config={"lr": 0.5}, tags=["t"])
    a.series(CHUNK_POINTS * 2 + 7, {"loss": lambda s: (s * 37 % 101) / 7, "label": lambda s: f"s{s % 5}"})
    a.alert("x", "y").system([(T0 + 3, {"system.cpu": 1.0})]).summary({"loss": 1.0})
    api = Api()
    api.runs("p")  # index the first part
    a.resume(rewind=100).series(50, {"loss": lambda s: -1.0}, start=101).exit("finished")
    logs.run("q", "b").rows([(0, T0, {"v": [1, {"k": 2}]})])
    before = _everything(api)
    api.close()
    for suffix in ("", "-wal", "-shm"):
        (root / f"index.sqlite{suffix}").unlink(missing_ok=True)
    assert _everything(Api()) == before


def test_history_after_moving_the_data_root(logs: Any, root: Path, tmp_path: Path) -> None:
    logs.run("p", "a").series(5, {"x": float})
    Api().runs("p")
    moved = tmp_path / "moved"
    shutil.copytree(root, moved)
    assert len(Api(moved).run("p/a").history(pandas=False)) == 5


def test_history_reads_again_when_the_index_changes_underneath(
    logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker.storage import _sqlite_index
    from tracker.storage._base import IndexChangedError

    logs.run("p", "a").series(5, {"x": float})
    original = _sqlite_index._Timestamps.load
    calls = []

    def flaky(self: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise IndexChangedError("rewritten meanwhile")
        return original(self)

    monkeypatch.setattr(_sqlite_index._Timestamps, "load", flaky)
    rows = Api().run("p/a").history(pandas=False)
    assert [r["x"] for r in rows] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert len(calls) == 2
