"""The filter box's route: text -> Api's filter dict and the ids it selects, or a 400 with the position."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

import tracker
from tracker.server import create_app

BASE = "http://127.0.0.1:8765"


@pytest.fixture
def client(root: Path) -> tuple[TestClient, dict[str, str]]:
    ids = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, summary in (
            ("low", {"val/loss": 0.5}),
            ("high", {"val/loss": 0.7}),
            ("eval", {"acc": 0.9}),
        ):
            run = tracker.init(project="demo", name=name, config={"lr": 0.01 if name == "high" else 0.0001})
            run.summary.update(summary)
            ids[name] = run.id
            run.finish()
    app = create_app(root, token="sekrit")
    return TestClient(app, base_url=BASE, headers={"X-Tracker-Token": "sekrit"}), ids


def test_text_becomes_the_dict_and_the_runs_it_selects(client: tuple[TestClient, dict[str, str]]) -> None:
    http, ids = client
    res = http.get("/api/projects/demo/filter", params={"q": "summary.val/loss<0.6"})
    assert res.status_code == 200
    assert res.json() == {"filters": {"summary_metrics.val/loss": {"$lt": 0.6}}, "ids": [ids["low"]]}
    res = http.get("/api/projects/demo/filter", params={"q": "config.lr > 1e-3"})
    assert res.json()["ids"] == [ids["high"]]
    assert sorted(http.get("/api/projects/demo/filter", params={"q": ""}).json()["ids"]) == sorted(
        ids.values()
    )


def test_a_malformed_filter_is_a_400_with_the_position(client: tuple[TestClient, dict[str, str]]) -> None:
    http, _ids = client
    res = http.get("/api/projects/demo/filter", params={"q": "config.lr <"})
    assert res.status_code == 400
    assert res.json() == {"detail": "expected a value after '<' at 11, found the end", "position": 11}
    res = http.get("/api/projects/demo/filter", params={"q": "config.lr<1", "project": "other"})
    assert res.status_code == 400  # another project in the query than in the path is refused
