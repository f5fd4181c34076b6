"""``POST /api/series``: the binary encoding equals the JSON one, and the view cache follows the runs."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

import tracker
from tracker.server import create_app


def decode(blob: bytes) -> dict[str, Any]:
    """The binary encoding back into the JSON document (as the dashboard reads it)."""
    (n,) = struct.unpack_from("<I", blob, 0)
    assert (4 + n) % 8 == 0
    head = json.loads(blob[4 : 4 + n])
    data = memoryview(blob)[4 + n :]
    for per in head["series"].values():
        for view in per.values():
            for i, name in enumerate(view.pop("fields")):
                start = view["offset"] + 8 * i * view["len"]
                arr = np.frombuffer(data[start : start + 8 * view["len"]], dtype="<f8")
                view[name] = arr.astype(np.int64).tolist() if name == "n" else arr.tolist()
            del view["offset"], view["len"]
    return head


def _log(project: str, name: str, values: list[float], step0: int = 0) -> str:
    run = tracker.init(project=project, name=name)
    for i, v in enumerate(values):
        run.log({"loss": v, "acc": float(i)}, step=step0 + i)
    run.finish()
    return run.id


@pytest.fixture
def client(root: Path) -> TestClient:
    return TestClient(create_app(root, token=None), base_url="http://127.0.0.1")


def test_binary_equals_json(client: TestClient) -> None:
    rng = np.random.default_rng(5)
    ids = [_log("p", f"r{i}", rng.normal(size=5000).tolist()) for i in range(3)]
    ids.append(_log("p", "short", [1.0, float("nan"), 3.0]))
    for body in (
        {"project": "p", "runs": ids, "keys": ["loss", "acc"], "buckets": 300},
        {"project": "p", "runs": ids, "keys": ["loss"], "buckets": 50, "x_min": 100, "x_max": 140},
        {"project": "p", "runs": ids, "keys": ["loss"], "buckets": 200, "x": "_runtime"},
        {"project": "p", "runs": ids, "keys": ["loss"], "buckets": 200, "x": "acc"},
    ):
        as_json = client.post("/api/series", json=body)
        as_bin = client.post("/api/series", json={**body, "format": "binary"})
        assert as_json.headers["content-type"] == "application/json"
        assert as_bin.headers["content-type"] == "application/octet-stream"
        expected = as_json.json()
        for per in expected["series"].values():
            for view in per.values():
                view.pop("first", None)  # not drawn by the chart: left out of the binary encoding
        assert decode(as_bin.content) == expected
    one = as_json.json()["series"]["loss"]
    assert set(one) == set(ids)
    # The short run is charted with long ones: bucketed on their grid, not raw between them.
    short = one[ids[-1]]
    assert not short["raw"]
    assert (short["count"], short["nan_count"], short["min"], short["max"]) == (2, 1, [1.0], [3.0])
    alone = client.post("/api/series", json={"project": "p", "runs": [ids[-1]], "keys": ["loss"]}).json()
    assert alone["series"]["loss"][ids[-1]]["raw"]
    assert alone["series"]["loss"][ids[-1]]["y"] == [1.0, 3.0]


def test_cached_views_follow_a_growing_run(client: TestClient, root: Path) -> None:
    a = _log("p", "a", [float(i) for i in range(3000)])
    b = _log("p", "b", [1.0] * 3000)
    body = {"project": "p", "runs": [a, b], "keys": ["loss"], "buckets": 100, "format": "binary"}
    first = decode(client.post("/api/series", json=body).content)
    reader = client.app.state.data.reader  # type: ignore[attr-defined]
    cached = reader.cache.size
    assert cached > 0
    again = decode(client.post("/api/series", json=body).content)
    assert again == first
    assert reader.cache.size == cached  # answered from the cache
    # The run resumes, logs a spike and more steps: the grid widens, the new points are in.
    run = tracker.init(project="p", id=b, resume="must")
    run.log({"loss": 500.0, "acc": 0.0})
    for _ in range(1999):
        run.log({"loss": 1.0, "acc": 0.0})
    run.finish()
    grown = decode(client.post("/api/series", json=body).content)
    view = grown["series"]["loss"][b]
    assert grown["x_max"] == 4999
    assert max(view["max"]) == 500.0
    assert sum(view["n"]) == 5000
    assert grown["series"]["loss"][a]["count"] == 3000


def test_cache_is_bounded(root: Path) -> None:
    from tracker.server._series import SeriesReader

    ids = [_log("p", f"r{i}", [float(j) for j in range(2000)]) for i in range(4)]
    reader = SeriesReader(tracker.Api(root), cache_bytes=20_000)
    for buckets in (100, 200, 300, 400):
        reader.series({"project": "p", "runs": ids, "keys": ["loss"], "buckets": buckets})
        assert reader.cache.size <= 20_000


def test_bad_bodies_are_refused(client: TestClient) -> None:
    bad = [
        ({"x_min": "left"}, "x_min must be a number"),
        ({"x_max": "inf"}, "x_max must be finite"),
        ({"buckets": "many"}, "buckets must be an integer"),
        ({"runs": ["../../etc"]}, "is not a valid run id"),
        ({"runs": [3]}, "is not a valid run id"),
    ]
    for extra, message in bad:
        res = client.post("/api/series", json={"project": "p", "runs": [], "keys": ["loss"], **extra})
        assert res.status_code == 400, extra
        assert message in res.text


def test_project_page_preloads_its_runs_and_keys(client: TestClient) -> None:
    page = client.get("/projects/p").text
    assert '<link rel="preload" as="fetch" crossorigin="anonymous" href="/api/projects/p/runs">' in page
    assert 'href="/api/projects/p/keys"' in page
    # Other pages, and names that are not project names, get the plain page.
    for path in ("/projects/p/runs/abc", "/projects/p/artifacts", "/projects/a%3Cb", "/"):
        res = client.get(path)
        assert res.status_code == 200
        assert 'as="fetch"' not in res.text, path
    # A name with a space is a project name (as in W&B): preloaded, its URL encoded.
    assert 'href="/api/projects/a%20b/runs"' in client.get("/projects/a%20b").text
