"""The sweeps endpoints of the dashboard API (the page itself: tests/e2e/test_ui_browser.py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

import tracker
from tracker.server import create_app
from tracker.server._views import spearman as _spearman

SWEEP = {
    "method": "random",
    "name": "tiny",
    "seed": 0,
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"min": 0.0, "max": 1.0},
        "noise": {"min": 0.0, "max": 1.0},
        "opt": {"values": ["adam", "sgd"]},
    },
}


def test_sweep_list_detail_and_importance(root: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sid = tracker.sweep(SWEEP, project="sw")

        def train() -> None:
            run = tracker.init()
            # Strictly monotone in lr (a noise term could swap two close lr values).
            run.log({"loss": 3.0 * run.config["lr"]})
            run.finish()

        assert tracker.agent(sid, function=train, count=6) == 6
    client = TestClient(create_app(root, token=None), base_url="http://127.0.0.1")
    listed = client.get("/api/projects/sw/sweeps").json()
    assert [s["id"] for s in listed] == [sid]
    assert listed[0]["run_count"] == 6
    assert listed[0]["name"] == "tiny"
    assert listed[0]["metric"] == "loss"
    detail = client.get(f"/api/projects/sw/sweeps/{sid}").json()
    assert detail["params"] == ["lr", "noise", "opt"]
    assert detail["importance_method"] == "spearman"
    runs = detail["runs"]
    assert [r["index"] for r in runs] == list(range(6))
    assert len({r["id"] for r in runs}) == 6
    assert all(r["params"]["opt"] in ("adam", "sgd") for r in runs)
    assert all(r["metric"] is not None for r in runs)
    best = min(r["metric"] for r in runs)
    assert listed[0]["best"] == best
    importance = {d["param"]: d for d in detail["importance"]}
    assert importance["lr"]["importance"] == pytest.approx(1.0)  # the metric is monotone in lr
    assert importance["lr"]["n"] == 6
    assert importance["opt"]["importance"] is None  # categorical: no correlation
    assert detail["importance"][0]["param"] == "lr"
    assert client.get("/api/projects/sw/sweeps/nope").status_code == 404
    assert client.get(f"/api/projects/other/sweeps/{sid}").status_code == 404
    assert client.get("/api/projects/sw/sweeps/..%2Fx").status_code in (400, 404)
    assert client.get("/api/projects/empty/sweeps").json() == []


def test_spearman_ties_and_degenerate() -> None:
    assert _spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert _spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert _spearman([1, 1, 2, 2], [1, 2, 3, 4]) == pytest.approx(0.894427, rel=1e-5)
    assert _spearman([1, 1, 1], [1, 2, 3]) is None
    assert _spearman([1, 2], [1, 2]) is None
