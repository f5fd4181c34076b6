"""Issue 19 point 2: ``run.name``/``run.tags``/``run.notes`` set after ``init`` persist.

Each setter writes an EDIT record (type 16, docs/format.md 3.15) through the writer; every
reader folds it: ``Api`` through the index, a resumed run, and a real team server that the
run streams to in online mode.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import tracker
from tracker.errors import UsageError
from tracker.storage._format import R, read_frames
from tracker.storage._replay import RunState
from tracker.storage._schema import problem

QUIET = {"disable_git": True, "stats_interval": 0, "capture_packages": False}


def _edited_run(root: Path, **kw: object) -> tracker.Run:
    run = tracker.init(project="edits", id="e1", settings=QUIET, **kw)  # type: ignore[arg-type]
    run.log({"loss": 1.0})
    run.name = "renamed"
    run.tags = ["a", "b"]
    run.notes = "first note"
    run.notes = "second note"
    return run


def test_setters_after_init_reach_the_api(root: Path) -> None:
    run = _edited_run(root)
    assert (run.name, run.tags, run.notes) == ("renamed", ("a", "b"), "second note")
    run.finish()
    got = tracker.Api(root).run("edits/e1")
    assert (got.name, got.tags, got.notes) == ("renamed", ["a", "b"], "second note")
    listed = {r.id: r for r in tracker.Api(root).runs("edits")}
    assert listed["e1"].name == "renamed"


def test_the_log_holds_edit_records_that_fit_the_schema(root: Path) -> None:
    _edited_run(root).finish()
    records = [rec for _off, rec in read_frames(root / "projects/edits/runs/e1/run.tlog").records]
    edits = [rec[1] for rec in records if rec[0] == R.EDIT]
    assert [sorted(k for k in e if k != "ts") for e in edits] == [["name"], ["tags"], ["notes"], ["notes"]]
    assert all(problem([R.EDIT, e]) is None for e in edits)
    assert edits[1]["tags"] == ["a", "b"]


def test_edits_survive_resume_and_init_arguments_override_them(root: Path) -> None:
    _edited_run(root).finish()
    again = tracker.init(project="edits", id="e1", resume="must", settings=QUIET)
    assert (again.name, again.tags, again.notes) == ("renamed", ("a", "b"), "second note")
    again.finish()
    third = tracker.init(project="edits", id="e1", resume="must", name="from-init", settings=QUIET)
    third.tags = ("c",)
    third.finish()
    got = tracker.Api(root).run("edits/e1")
    assert (got.name, got.tags, got.notes) == ("from-init", ["c"], "second note")


def test_the_latest_timestamp_wins_per_field() -> None:
    state = RunState()
    state.apply([R.RUN, {"name": "orig", "tags": [], "notes": None, "created": 1.0}])
    state.apply([R.EDIT, {"ts": 30.0, "name": "late"}])
    state.apply([R.EDIT, {"ts": 20.0, "name": "early", "notes": "n"}])  # older name: skipped
    assert (state.meta["name"], state.meta["notes"]) == ("late", "n")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", 3, "'name' is an int, not a str"),
        ("tags", "one", "must be a list of strings"),
        ("tags", ["ok", 2], "'tags' is not an array of str"),
        ("name", "x" * 1025, "at most 1024"),
        ("tags", ["t" * 257], "at most 256"),
    ],
)
def test_bad_values_are_refused_at_once(root: Path, field: str, value: object, message: str) -> None:
    run = tracker.init(project="edits", settings=QUIET)
    with pytest.raises(UsageError, match=message):
        setattr(run, field, value)
    run.finish()


def test_schema_refuses_malformed_edit_records() -> None:
    assert problem([R.EDIT, {"name": "x"}]) == "EDIT (16): 'ts' is missing or not a finite number"
    assert problem([R.EDIT, {"ts": 1.0, "notes": 5}]) == "EDIT (16): 'notes' is an int, not a str"
    assert problem([R.EDIT, [1]]) == "EDIT (16): the body is an array, not a map"
    assert problem([R.EDIT, {"ts": 1.0, "tags": ["a"], "other": 1}]) is None


def test_setting_after_finish_is_refused(root: Path) -> None:
    run = tracker.init(project="edits", settings=QUIET)
    run.finish()
    with pytest.raises(UsageError, match=r"after run .* finished"):
        run.name = "late"


def _cli(*args: str, root: Path, stdin: str | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args, "--root", str(root)],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_edits_reach_a_team_server(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, db: str
) -> None:
    pytest.importorskip("fastapi")
    from tests._server import TrackerServer, make_key

    server_root = tmp_path / "server"
    if db == "sqlite":
        key = make_key(server_root)
        server = TrackerServer(server_root)
    else:  # the PostgreSQL index folds the EDIT records as the SQLite one does
        pytest.importorskip("psycopg")
        url = request.getfixturevalue("pg_url")
        _cli("server", "migrate", "--db", url, root=server_root)
        _cli("server", "users", "create", "ann", "--password-stdin", "--db", url, root=server_root,
             stdin="ann-pw-123\n")  # fmt: skip
        key = _cli("server", "keys", "create", "--user", "ann", "--name", "t", "--db", url, root=server_root)
        key = key.split()[-1]
        server = TrackerServer(server_root, "--db", url)
    try:
        monkeypatch.setenv("TRACKER_BASE_URL", server.url)
        monkeypatch.setenv("TRACKER_API_KEY", key)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            run = _edited_run(root, mode="online")
        assert run.url == f"{server.url}/projects/edits/runs/e1"
        run.finish()
        got = tracker.Api(base_url=server.url, api_key=key).run("edits/e1")
        assert (got.name, got.tags, got.notes) == ("renamed", ["a", "b"], "second note")
    finally:
        server.stop()
