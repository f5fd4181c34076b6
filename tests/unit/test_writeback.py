"""Write-back through ``Api``: summary and config edits persist (issue 19, point 6)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import tracker
from tracker.errors import UsageError


def _finished_run(root: Path) -> str:
    run = tracker.init(project="wb", config={"lr": 0.1, "layers": 2})
    run.log({"loss": 0.5})
    run.log({"loss": 0.25})
    run.finish()
    return run.id


def test_summary_setitem_then_update_persists_for_a_new_api(root: Path) -> None:
    run_id = _finished_run(root)
    run = tracker.Api(root).run(f"wb/{run_id}")
    run.summary["best"] = 0.125
    run.summary["loss"] = 0.2
    run.summary.update()
    fresh = tracker.Api(root).run(f"wb/{run_id}")
    assert fresh.summary["best"] == 0.125
    assert fresh.summary["loss"] == 0.2
    assert fresh.summary._json_dict["best"] == 0.125


def test_summary_update_with_a_dict_and_delete(root: Path) -> None:
    run_id = _finished_run(root)
    run = tracker.Api(root).run(f"wb/{run_id}")
    run.summary.update({"k": 1, "nested": {"a": [1, 2]}})
    del run.summary["loss"]
    run.summary.update()
    fresh = tracker.Api(root).run(f"wb/{run_id}")
    assert fresh.summary["k"] == 1
    assert fresh.summary["nested"] == {"a": [1, 2]}
    assert "loss" not in fresh.summary
    assert json.loads(json.dumps(fresh.summary._json_dict))["k"] == 1


def test_config_edit_with_run_update_persists_and_filters_see_it(root: Path) -> None:
    run_id = _finished_run(root)
    run = tracker.Api(root).run(f"wb/{run_id}")
    run.config["lr"] = 0.01
    run.config["note"] = "tuned"
    run.tags = ["edited"]
    run.name = "best run"
    run.update()
    api = tracker.Api(root)
    fresh = api.run(f"wb/{run_id}")
    assert fresh.config == {"lr": 0.01, "layers": 2, "note": "tuned"}
    assert fresh.tags == ["edited"]
    assert fresh.name == "best run"
    assert fresh.display_name == "best run"
    assert [r.id for r in api.runs("wb", filters={"config.lr": 0.01})] == [run_id]
    assert [r.id for r in api.runs("wb", filters={"config.lr": 0.1})] == []


def test_edits_leave_the_run_log_untouched(root: Path) -> None:
    run_id = _finished_run(root)
    log = next(root.rglob("run.tlog"))
    before = log.read_bytes()
    run = tracker.Api(root).run(f"wb/{run_id}")
    run.summary.update({"k": 2})
    assert log.read_bytes() == before


def test_the_dashboard_run_listing_shows_the_edit(root: Path) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")  # TestClient
    from fastapi.testclient import TestClient

    from tracker.server import create_app

    run_id = _finished_run(root)
    run = tracker.Api(root).run(f"wb/{run_id}")
    run.summary.update({"acc": 0.75})
    run.config["lr"] = 0.5
    run.name = "renamed"
    run.update()
    with TestClient(create_app(root, token=None), base_url="http://127.0.0.1") as client:
        rows = client.get("/api/projects/wb/runs").json()
    row = next(r for r in rows if r["id"] == run_id)
    assert row["summary"]["acc"] == 0.75
    assert row["config"]["lr"] == 0.5
    assert row["name"] == "renamed"


def test_an_older_state_store_gains_the_columns(root: Path) -> None:
    run_id = _finished_run(root)
    api = tracker.Api(root)
    api.run(f"wb/{run_id}").update()  # creates the store
    api.close()
    state = next(root.rglob("state.sqlite"))
    with sqlite3.connect(state) as conn:  # as a tracker before write-back left it
        for column in ("config", "summary", "name"):
            conn.execute(f"ALTER TABLE run_edits DROP COLUMN {column}")
    run = tracker.Api(root).run(f"wb/{run_id}")
    run.summary.update({"k": 3})
    assert tracker.Api(root).run(f"wb/{run_id}").summary["k"] == 3


def test_a_non_dict_summary_is_refused_by_name(root: Path) -> None:
    run_id = _finished_run(root)
    run = tracker.Api(root).run(f"wb/{run_id}")
    run.config = [1, 2]  # type: ignore[assignment]
    with pytest.raises(UsageError, match=r"run\.config must be a dict"):
        run.update()


def test_the_team_servers_state_store_keeps_the_edits(request: pytest.FixtureRequest) -> None:
    pytest.importorskip("psycopg")
    pg_url: str = request.getfixturevalue("pg_url")
    from tracker.storage._pg import migrate
    from tracker.storage._pg_state import PostgresStateStore

    migrate(pg_url)
    store = PostgresStateStore(pg_url)
    store.edit_run("p", "r1", tags=["a"])
    store.edit_run("p", "r1", summary={"set": {"k": 1}, "del": ["loss"]}, name="n")
    edit = store.run_edits("p")["r1"]
    store.close()
    assert edit.name == "n"
    assert edit.tags == ("a",)
    assert edit.summary == {"set": {"k": 1}, "del": ["loss"]}
    assert edit.config is None
