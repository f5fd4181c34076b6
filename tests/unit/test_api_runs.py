"""Api.runs / Api.run / projects: filters (every operator), order, paths, edits."""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.api import Api, Runs
from tracker.errors import RunNotFoundError, StorageError, UsageError

T0 = 1_700_000_000.0


def _own_start_time() -> int:
    with open("/proc/self/stat", "rb") as f:
        stat = f.read()
    return int(stat[stat.rindex(b")") + 2 :].split()[19])


@pytest.fixture
def project(logs: Any) -> Api:
    """Five runs a..e in project p (created in that order), one per state."""
    a = logs.run("p", "a", created=T0 + 1, name="alpha", tags=["base", "gpu"], group="g1", job_type="train",
                 config={"lr": 0.1, "opt": {"name": "adam"}, "layers": [64, 32]})  # fmt: skip
    a.log({"loss": 0.5}).summary({"loss": 0.5, "val/acc": 0.7, "train.loss": 0.2}).exit("finished")
    b = logs.run("p", "b", created=T0 + 2, name="beta", tags=["gpu"], group="g1", job_type="eval",
                 config={"lr": 0.01, "opt": {"name": "sgd"}})  # fmt: skip
    b.summary({"loss": 0.2, "val/acc": 0.9}).exit("failed", 1)
    c = logs.run("p", "c", created=T0 + 3, name="gamma-1", group="g2", config={"lr": 0.001, "flag": True})
    c.summary({"loss": math.nan}).exit("killed", 1)
    logs.run("p", "d", created=T0 + 4, name="delta", config={"lr": "auto"})  # no exit, silent: crashed
    if os.path.exists("/proc/self/stat"):
        start = _own_start_time()
    else:  # pragma: no cover - non-Linux
        start = None
    logs.run("p", "e", created=time.time(), name="epsilon", host=os.uname().nodename, pid=os.getpid(),
             start_time=start)  # fmt: skip
    logs.run("other", "z").exit()
    return Api()


def ids(api: Api, filters: Any = None, order: str = "+created_at") -> list[str]:
    return [r.id for r in api.runs("p", filters=filters, order=order)]


def test_states(project: Api) -> None:
    assert {r.id: r.state for r in project.runs("p")} == {
        "a": "finished", "b": "failed", "c": "killed", "d": "crashed", "e": "running"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"config.lr": 0.1}, "a"),
        ({"config.opt.name": {"$eq": "sgd"}}, "b"),
        ({"config.lr": {"$ne": 0.1}}, "bcde"),
        ({"config.lr": {"$gt": 0.01}}, "a"),
        ({"config.lr": {"$gte": 0.01}}, "ab"),
        ({"config.lr": {"$lt": 0.01}}, "c"),
        ({"config.lr": {"$lte": 0.01}}, "bc"),
        ({"config.lr": {"$gt": 0.0005, "$lt": 0.05}}, "bc"),
        ({"state": {"$in": ["finished", "failed"]}}, "ab"),
        ({"group": {"$nin": ["g1"]}}, "cde"),
        ({"display_name": {"$regex": "^g"}}, "c"),
        ({"display_name": {"$regex": "^ALPHA", "$options": "i"}}, "a"),
        ({"display_name": {"$regex": "a$"}}, "abd"),
        ({"summary_metrics.val/acc": {"$exists": True}}, "ab"),
        ({"summary_metrics.val/acc": {"$exists": False}}, "cde"),
        ({"$and": [{"group": "g1"}, {"summary_metrics.loss": {"$lt": 0.3}}]}, "b"),
        ({"$or": [{"config.lr": 0.1}, {"state": "killed"}]}, "ac"),
        ({"$nor": [{"group": "g1"}, {"state": "running"}]}, "cd"),
        ({"config.lr": {"$not": {"$gt": 0.005}}}, "cde"),
        ({"display_name": {"$not": "^[ab]"}}, "cde"),
        ({"tags": "gpu"}, "ab"),
        ({"tags": {"$in": ["base", "nope"]}}, "a"),
        ({"tags": {"$nin": ["gpu"]}}, "cde"),
        ({"tags": ["base", "gpu"]}, "a"),
        ({"state": "crashed"}, "d"),
        ({"state": "running"}, "e"),
        ({"name": "b"}, "b"),
        ({"id": {"$in": ["a", "c"]}}, "ac"),
        ({"display_name": "beta"}, "b"),
        ({"job_type": "eval"}, "b"),
        ({"summary.loss": 0.2}, "b"),
        ({"summary_metrics.train.loss": 0.2}, "a"),
        ({"config.opt.name": "adam"}, "a"),
        ({"config.lr.value": 0.1}, "a"),
        ({"config.layers": 64}, "a"),
        ({"config.layers": [64, 32]}, "a"),
        ({"config.flag": 1}, ""),
        ({"config.flag": True}, "c"),
        ({"summary_metrics.loss": {"$gte": 0}}, "ab"),
        ({"created_at": {"$lt": T0 + 1.5}}, "a"),
        ({"created_at": {"$gte": dt.datetime.fromtimestamp(T0 + 3, dt.timezone.utc)}}, "cde"),
        (
            {"created_at": {"$gt": dt.datetime.fromtimestamp(T0 + 2.5, dt.timezone.utc).isoformat()[:19]}},
            "cde",
        ),
        ({"config.lr": 0.1, "group": "g1"}, "a"),
        ({}, "abcde"),
    ],
)
def test_filter_operators(project: Api, filters: dict[str, Any], expected: str) -> None:
    assert ids(project, filters) == list(expected)


@pytest.mark.parametrize(
    "filters",
    [
        {"$foo": []},
        {"config.lr": {"$bogus": 1}},
        {"nonsense": 1},
        {"$or": "x"},
        {"$and": []},
        {"config.lr": {"$in": 5}},
        {"display_name": {"$regex": "("}},
        {"display_name": {"$options": "i"}},
        {"config.lr": {"$not": 5}},
        ["not", "a", "dict"],
    ],
)
def test_bad_filters_are_usage_errors(project: Api, filters: Any) -> None:
    with pytest.raises(UsageError):
        project.runs("p", filters=filters)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("-created_at", "edcba"),
        ("created_at", "abcde"),
        ("+config.lr", "cbade"),  # numbers, then strings, then missing
        ("-config.lr", "dabce"),  # strings sort above numbers descending; missing stays last
        ("-summary_metrics.loss", "abedc"),  # NaN and missing last, newest first among them
        ("+summary.loss", "baedc"),
        ("display_name", "abdec"),
        ("-state", "ecabd"),
    ],
)
def test_order(project: Api, order: str, expected: str) -> None:
    assert ids(project, order=order) == list(expected)


def test_bad_order_is_a_usage_error(project: Api) -> None:
    with pytest.raises(UsageError, match="sort"):
        project.runs("p", order="-bogus")


def test_runs_sequence_and_run_fields(project: Api) -> None:
    runs = project.runs("p")
    assert isinstance(runs, Runs)
    assert len(runs) == 5
    assert [r.id for r in runs[1:3]] == ["d", "c"]
    assert runs[-1].id == "a"
    a = runs[-1]
    assert (a.name, a.display_name, a.project, a.entity, a.group, a.job_type) == (
        "alpha", "alpha", "p", "local", "g1", "train"
    )  # fmt: skip
    assert a.tags == ["base", "gpu"]
    assert a.config["opt"] == {"name": "adam"}
    assert a.summary["val/acc"] == 0.7
    assert a.summary_metrics is a.summary
    assert a.created_at == dt.datetime.fromtimestamp(T0 + 1, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    assert a.path == ["local", "p", "a"]
    assert a.url.endswith("/projects/p/runs/a")
    assert repr(a) == "<Run local/p/a (finished)>"
    assert (a.exit_code, runs[0].exit_code) == (0, None)


def test_run_paths(project: Api) -> None:
    for path in ("p/a", "local/p/a", "local/p/runs/a", "/p/a/"):
        assert project.run(path).id == "a"
    assert Api({"project": "p"}).run("b").id == "b"
    assert [r.id for r in Api({"project": "other"}).runs()] == ["z"]
    with pytest.raises(RunNotFoundError):
        project.run("p/nope")
    for bad in ("a/b/c/d/e", "../a", "p/a b", "", "p/../../etc"):
        with pytest.raises(UsageError):
            project.run(bad)
    with pytest.raises(UsageError):
        project.runs("a/b/c")


def test_projects(project: Api) -> None:
    assert [(p.name, p.run_count) for p in project.projects()] == [("other", 1), ("p", 5)]
    with pytest.raises(StorageError, match=r"no project 'unknown' under .* \(projects: other, p\)"):
        project.runs("unknown")  # issue 20: as the CLI says it, not an empty list


def test_user_edits_override_the_log(project: Api, root: Path) -> None:
    run = project.run("p/b")
    run.tags.append("promoted")
    run.notes = "best so far"
    run.update()
    fresh = Api()
    b = fresh.run("p/b")
    assert (b.tags, b.notes) == (["gpu", "promoted"], "best so far")
    assert [r.id for r in fresh.runs("p", filters={"tags": "promoted"})] == ["b"]
    fresh.run("p/c").delete()
    assert "c" not in [r.id for r in Api().runs("p")]
    with pytest.raises(RunNotFoundError):
        Api().run("p/c")
    assert (root / "projects/p/runs/c/run.tlog").exists()  # deletion is an edit, not data loss
    journal = fresh.state.journal()
    assert [e.op for e in journal] == ["run.edit", "run.edit"]


def test_reading_creates_no_state_store(project: Api, root: Path) -> None:
    project.runs("p")
    assert not (root / "state.sqlite").exists()


def test_api_is_exported_lazily_light() -> None:
    assert tracker.Api is Api
    assert "tracker.Api" in repr(tracker.Api) or tracker.Api.__name__ == "Api"


def test_summary_includes_rows_logged_after_the_last_snapshot(logs: Any) -> None:
    from tracker.storage._format import R

    run = logs.run("p", "crashy")
    run.append([R.DEFINE_METRIC, {"name": "val/*", "summary": ["min"]}])
    run.log({"loss": 1.0, "val/loss": 0.9}, step=0)
    run.summary({"loss": 1.0, "val/loss": {"min": 0.9}, "_step": 0})
    run.log({"loss": 0.5, "val/loss": 0.7}, step=1).log({"loss": 0.25, "val/loss": 0.8}, step=2)
    summary = Api().run("p/crashy").summary
    assert summary == {"loss": 0.25, "val/loss": {"min": 0.9}, "_step": 2}  # aggregates are not overwritten
