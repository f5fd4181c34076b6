"""Histograms over time and tables of the dashboard API (the page: tests/e2e/test_ui_browser.py)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

import tracker
from tracker.server import create_app


@pytest.fixture
def logged(root: Path) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = tracker.init(project="h", name="r")
        for step in range(5):
            run.log(
                {
                    "w": tracker.Histogram(
                        np_histogram=(np.array([1, 2, 3]), np.array([0.0, 1.0, 2.0, 3.0]) + step)
                    )
                },
                step=step,
            )
        run.log({"preds": tracker.Table(columns=["i", "p"], data=[[i, i / 10] for i in range(150)])}, step=5)
        run.log({"preds": tracker.Table(columns=["i", "p"], data=[[0, 1.5]])}, step=6)
        run.finish()
    client = TestClient(create_app(root, token=None), base_url="http://127.0.0.1")
    return {"client": client, "id": run.id}


def test_histograms_over_time_on_a_shared_grid(logged: dict[str, Any]) -> None:
    client, rid = logged["client"], logged["id"]
    info = client.get(f"/api/projects/h/runs/{rid}").json()
    assert info["histograms"] == ["w"]
    assert info["tables"] == ["preds"]
    res = client.get(f"/api/projects/h/runs/{rid}/histograms/w", params={"rows": 7}).json()
    assert res["steps"] == [0, 1, 2, 3, 4]
    assert (res["lo"], res["hi"], res["rows"]) == (0.0, 7.0, 7)
    # Edges 0..7 in 7 rows: each source bin maps onto exactly one row, shifted by the step.
    assert res["counts"][0] == [1, 2, 3, 0, 0, 0, 0]
    assert res["counts"][4] == [0, 0, 0, 0, 1, 2, 3]
    assert all(sum(c) == pytest.approx(6) for c in res["counts"])
    half = client.get(f"/api/projects/h/runs/{rid}/histograms/w", params={"rows": 14}).json()
    assert half["counts"][0][:6] == [0.5, 0.5, 1, 1, 1.5, 1.5]
    few = client.get(f"/api/projects/h/runs/{rid}/histograms/w", params={"steps": 2}).json()
    assert few["steps"] == [0, 4]
    assert few["total_steps"] == 5
    none = client.get(f"/api/projects/h/runs/{rid}/histograms/nope").json()
    assert none["steps"] == []
    assert client.get(f"/api/projects/h/runs/{rid}/histograms/w", params={"rows": 1}).status_code == 422


def test_table_first_rows_and_steps(logged: dict[str, Any]) -> None:
    client, rid = logged["client"], logged["id"]
    last = client.get(f"/api/projects/h/runs/{rid}/tables/preds").json()
    assert last["steps"] == [5, 6]
    assert last["step"] == 6
    assert last["rows"] == [[0, 1.5]]
    first = client.get(f"/api/projects/h/runs/{rid}/tables/preds", params={"step": 5}).json()
    assert first["columns"] == ["i", "p"]
    assert first["total"] == 150
    assert len(first["rows"]) == 100
    assert first["rows"][99] == [99, 9.9]
    assert client.get(f"/api/projects/h/runs/{rid}/tables/preds", params={"step": 9}).status_code == 404
    assert client.get(f"/api/projects/h/runs/{rid}/tables/w").status_code == 404
    assert client.get("/api/projects/h/runs/nope/tables/preds").status_code == 404
