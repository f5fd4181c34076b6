"""Mis-shaped records (issue 14, point 2): one run's bad record never fails a listing.

Each record of ``tests/_poison.py`` is a whole, CRC-valid frame whose record breaks the
schema of docs/format.md section 3. Before the record schema, 28 of them made
``Api().projects()`` or ``Api().runs()`` raise for the whole project (TypeError,
ValueError, KeyError, ...). Now the reader sets such a record aside as a ``corrupt``
problem of its run (offset, reason) and everything else stays readable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import pytest

import tracker
from tests._poison import POISON, T0, good_log, poisoned_log, write_log
from tracker.api import Api
from tracker.storage._format import R, read_frames, scan
from tracker.storage._schema import SCHEMA, describe, problem

GOLDEN = Path(__file__).parent.parent / "compat" / "v1" / "run.tlog"


@pytest.mark.parametrize("name", sorted(POISON))
def test_schema_names_every_poison(name: str) -> None:
    record = POISON[name]
    try:
        payload = msgpack.packb(record, use_bin_type=True)
        decoded = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except TypeError:  # an array as a map key: not even one msgpack value for a reader
        return
    reason = problem(decoded)
    assert reason is not None
    if isinstance(record, list) and record and type(record[0]) is int:
        assert reason.startswith(describe(decoded) + ": ")


def test_golden_log_and_a_real_run_fit_the_schema(root: Path) -> None:
    golden = read_frames(GOLDEN)
    assert golden.problems == []
    assert len(golden.records) > 10
    assert {rec[0] for _off, rec in golden.records} >= {R.RUN, R.HISTORY, R.SUMMARY, R.EXIT}
    settings = tracker.Settings(disable_git=True)
    with tracker.init(project="p", id="real", config={"lr": 0.1}, settings=settings) as run:
        run.define_metric("loss", summary="min", goal="minimize")
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1), "name": "x", "nested": {"a": [1, 2]}}, step=step)
        run.alert("title", "text")
        run.config.update({"bs": 8})
        run.summary["best"] = 1
    with tracker.init(project="p", id="real", resume="must", settings=settings) as run:
        run.log({"loss": 0.1})
    found = read_frames(root / "projects" / "p" / "runs" / "real" / "run.tlog")
    assert found.problems == []
    kinds = {rec[0] for _off, rec in found.records}
    assert kinds >= {
        R.RUN,
        R.RESUME,
        R.META,
        R.CONFIG,
        R.HISTORY,
        R.SUMMARY,
        R.DEFINE_METRIC,
        R.ALERT,
        R.EXIT,
    }


def test_schema_covers_every_map_record_of_the_format() -> None:
    assert set(SCHEMA) == {R.RUN, R.SUMMARY, R.DEFINE_METRIC, R.ALERT, R.META, R.ARTIFACT, R.EXIT, R.RESUME}


@pytest.mark.parametrize("name", sorted(POISON))
def test_poisoned_run_leaves_the_project_listable(root: Path, name: str) -> None:
    write_log(root, "p", "ok", good_log("ok", "p"))
    data, poison_at = poisoned_log(name)
    write_log(root, "p", "bad", data)
    write_log(root, "q", "other", good_log("other", "q"))
    api = Api(root)
    assert [(p.name, p.run_count) for p in api.projects()] == [("p", 2), ("q", 1)]
    runs = {r.id: r for r in api.runs("p")}
    assert set(runs) == {"ok", "bad"}
    assert runs["ok"].problems == []
    assert runs["ok"].config == {"lr": 0.1}
    assert runs["ok"].summary["loss"] == 0.5
    bad = runs["bad"]
    assert len(bad.problems) == 1
    found: dict[str, Any] = bad.problems[0]
    assert found["kind"] == "corrupt"
    assert found["offset"] == poison_at
    assert found["reason"]
    # Everything else in the run stays readable: rows, summary, config, state.
    assert bad.state == "finished"
    assert bad.config == {"lr": 0.1}
    assert bad.summary["loss"] == 0.5
    rows = api.run("p/bad").history(pandas=False)
    assert [(r["_step"], r["loss"]) for r in rows] == [(0, 1.0), (1, 0.5)]
    assert [r["_timestamp"] for r in rows] == [T0 + 1, T0 + 2]
    assert api.run("p/bad").problems == bad.problems


def test_poison_in_a_later_slice_is_kept_with_the_run(root: Path) -> None:
    """Problems found by an incremental read are added to those of earlier reads."""
    data, first = poisoned_log("config-changed-not-a-map")
    path = write_log(root, "p", "bad", data)
    api = Api(root)
    assert [p["offset"] for p in api.run("p/bad").problems] == [first]
    size = path.stat().st_size
    with open(path, "ab") as f:
        f.write(poisoned_log("heartbeat-not-a-number")[0][first:])  # from the poison on
    again = api.run("p/bad")
    assert [p["offset"] for p in again.problems] == [first, size]
    assert again.problems[1]["reason"].startswith("HEARTBEAT (14)")
    assert [r["_step"] for r in again.history(pandas=False)] == [0, 1, 1]


def test_undecodable_frame_is_a_corrupt_record_not_a_torn_tail(root: Path) -> None:
    """A CRC-valid frame that is not one msgpack value no longer hides the rest of the log."""
    from tracker.storage._format import frame

    data, poison_at = poisoned_log("exit-not-a-map", run_id="x")
    poison = frame(msgpack.packb(POISON["exit-not-a-map"]))
    broken = data[:poison_at] + frame(b"\xc1") + data[poison_at + len(poison) :]
    found = scan(broken, 16)
    assert not found.torn
    assert found.end == len(broken)
    assert [(p["kind"], p["offset"]) for p in found.problems] == [("corrupt", poison_at)]
    assert [rec[0] for _off, rec in found.records] == [
        R.RUN,
        R.CONFIG,
        R.HISTORY,
        R.HISTORY,
        R.SUMMARY,
        R.EXIT,
    ]


def test_a_record_the_schema_missed_still_never_fails_the_listing(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: were the schema to let a bad record through, folding it fails for
    its run only; the run is skipped with a warning naming it (raised in strict mode)."""
    from tracker.errors import CorruptRecordError, TrackerWarning
    from tracker.storage import _schema

    monkeypatch.setattr(_schema, "problem", lambda rec: None)  # a schema with a hole in it
    write_log(root, "p", "ok", good_log("ok", "p"))
    data, _at = poisoned_log("config-changed-not-a-map")
    bad = write_log(root, "p", "bad", data)
    with pytest.raises(CorruptRecordError, match="cannot fold its records"):
        Api(root).runs("p")
    monkeypatch.delenv("TRACKER_STRICT")
    with pytest.warns(TrackerWarning, match=f"skipping {bad}"):
        runs = Api(root).runs("p")
    assert [r.id for r in runs] == ["ok"]


@pytest.mark.parametrize("field", ["name", "notes", "group", "job_type", "entity"])
def test_init_refuses_what_the_run_record_cannot_hold(root: Path, field: str) -> None:
    """The writer never writes a record its readers set aside: misuse raises instead."""
    from tracker.errors import UsageError

    with pytest.raises(UsageError, match=f"init\\({field}=5\\) must be a string"):
        tracker.init(project="p", settings=tracker.Settings(disable_git=True), **{field: 5})


def test_define_metric_and_log_refuse_what_their_records_cannot_hold(root: Path) -> None:
    from tracker.errors import UsageError

    with tracker.init(project="p", id="m", settings=tracker.Settings(disable_git=True)) as run:
        with pytest.raises(UsageError, match="step_metric=5"):
            run.define_metric("loss", step_metric=5)  # type: ignore[arg-type]
        with pytest.raises(UsageError, match="below 2\\*\\*63"):
            run.log({"loss": 1.0}, step=1 << 63)
        run.log({"loss": 1.0}, step=(1 << 63) - 1)
    found = read_frames(root / "projects" / "p" / "runs" / "m" / "run.tlog")
    assert found.problems == []
    assert [rec[2][0][1] for _o, rec in found.records if rec[0] == R.HISTORY] == [(1 << 63) - 1]
