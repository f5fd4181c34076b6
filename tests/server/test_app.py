"""The dashboard's API through TestClient: data, downsampling, Host/Origin/token refusal, traversal."""

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
from tracker.server._downsample import bucketize

BASE = "http://127.0.0.1:8765"


@pytest.fixture
def seeded(root: Path) -> dict[str, Any]:
    ids = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(2):
            run = tracker.init(project="demo", name=f"r{i}", config={"lr": 0.1 * (i + 1), "opt": {"b": 2}})
            for s in range(500):
                run.log({"loss": 1.0 + (100.0 if s == 250 else 0.0), "acc": s / 500})
            ids.append(run.id)
            run.finish()
    return {"root": root, "ids": ids}


@pytest.fixture
def client(seeded: dict[str, Any]) -> TestClient:
    return TestClient(
        create_app(seeded["root"], token="sekrit"), base_url=BASE, headers={"X-Tracker-Token": "sekrit"}
    )


def test_import_tracker_imports_no_web_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tracker, tracker.server; "
        "print(any(m in sys.modules for m in ('fastapi', 'starlette', 'uvicorn')))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    )


def test_projects_runs_keys(client: TestClient, seeded: dict[str, Any]) -> None:
    assert client.get("/api/projects").json()[0]["name"] == "demo"
    runs = client.get("/api/projects/demo/runs").json()
    assert {r["id"] for r in runs} == set(seeded["ids"])
    row = runs[0]
    assert row["state"] == "finished"
    assert row["config"]["opt.b"] == 2
    assert "loss" in row["summary"]
    keys = client.get("/api/projects/demo/keys").json()
    assert [k["key"] for k in keys] == ["acc", "loss"]


def test_series_buckets_keep_the_spike_and_raw_on_zoom(client: TestClient, seeded: dict[str, Any]) -> None:
    body = {"project": "demo", "runs": seeded["ids"], "keys": ["loss"], "buckets": 50}
    res = client.post("/api/series", json=body).json()
    for s in res["series"]["loss"].values():
        assert not s["raw"]
        assert max(s["max"]) == 101.0
        assert sum(s["n"]) == 500
    zoom = client.post("/api/series", json={**body, "x_min": 240, "x_max": 260}).json()
    for s in zoom["series"]["loss"].values():
        assert s["raw"]
        assert s["x"] == list(range(240, 261))
        assert s["y"][10] == 101.0


def test_bucketize_grid_shared_and_nan_counted() -> None:
    x = np.arange(1000.0)
    y = np.ones(1000)
    y[7] = np.nan
    out = bucketize(x, y, 0, 999, 10)
    assert out["nan_count"] == 1
    assert sum(out["n"]) == 999
    assert len(out["x"]) == 10
    other = bucketize(x[:500], y[:500], 0, 999, 10)
    assert other["x"] == out["x"][:5]


def test_run_endpoints(client: TestClient, seeded: dict[str, Any]) -> None:
    rid = seeded["ids"][0]
    info = client.get(f"/api/projects/demo/runs/{rid}").json()
    assert info["config"]["lr"] == 0.1
    assert set(info["keys"]) == {"acc", "loss"}
    assert client.get(f"/api/projects/demo/runs/{rid}/console").status_code == 200
    assert client.get(f"/api/projects/demo/runs/{rid}/system").status_code == 200
    assert client.get("/api/projects/demo/runs/nope").status_code == 404
    assert client.get("/api/openapi.json").json()["paths"]["/api/series"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/projects/demo/runs/{rid}/files/../../run.tlog",
        "/api/projects/demo/runs/{rid}/files/..%2F..%2Frun.tlog",
        "/api/projects/demo/runs/{rid}/files/%2Fetc%2Fpasswd",
        "/api/projects/..%2F..%2Fetc/runs/{rid}",
        "/api/projects/demo/runs/..%2F{rid}/console",
        "/api/projects/demo/runs/{rid}/media/x/at/0/0",
        "/static/../_app.py",
        "/static/%2e%2e/_app.py",
    ],
)
def test_path_traversal_refused(client: TestClient, seeded: dict[str, Any], path: str) -> None:
    res = client.get(path.format(rid=seeded["ids"][0]))
    assert res.status_code in (400, 404)
    assert b"tracker" not in res.content[:200] or res.status_code != 200


def test_foreign_host_refused(client: TestClient) -> None:
    assert client.get("/api/projects", headers={"Host": "evil.example:8765"}).status_code == 421
    assert client.get("/", headers={"Host": "attacker.test"}).status_code == 421
    assert client.get("/api/projects", headers={"Host": "localhost:8765"}).status_code == 200


def test_token_required(seeded: dict[str, Any]) -> None:
    app = create_app(seeded["root"], token="sekrit")
    c = TestClient(app, base_url=BASE)
    assert c.get("/api/projects").status_code == 401
    assert c.get("/").status_code == 401
    assert c.get("/api/projects", headers={"X-Tracker-Token": "wrong"}).status_code == 401
    assert c.get("/static/app.js").status_code == 200  # the code is public, the data is not
    first = c.get("/?token=sekrit")
    assert first.status_code == 200
    assert "HttpOnly" in first.headers["set-cookie"]
    assert c.get("/api/projects").status_code == 200  # the cookie now carries it
    open_app = TestClient(create_app(seeded["root"], token=None), base_url=BASE)
    assert open_app.get("/api/projects").status_code == 200


def test_no_permissive_cors_and_foreign_origin_refused(client: TestClient, seeded: dict[str, Any]) -> None:
    res = client.get("/api/projects", headers={"Origin": BASE})
    assert res.status_code == 200
    assert "access-control-allow-origin" not in res.headers
    evil = client.post(
        "/api/series",
        headers={"Origin": "http://evil.example"},
        json={"project": "demo", "runs": seeded["ids"], "keys": ["loss"]},
    )
    assert evil.status_code == 403
    pre = client.options(
        "/api/series", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in pre.headers


def test_static_js_type_and_page_csp(client: TestClient) -> None:
    import mimetypes

    mimetypes.add_type("text/plain", ".js")  # the Windows registry bug
    try:
        assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    finally:
        mimetypes.add_type("text/javascript", ".js")
    page = client.get("/projects/demo")
    assert "script-src 'self' 'sha256-" in page.headers["content-security-policy"]


def test_bad_series_requests(client: TestClient, seeded: dict[str, Any]) -> None:
    assert client.post("/api/series", json={"project": "../x", "runs": [], "keys": []}).status_code == 400
    assert client.post("/api/series", json={"project": "demo", "runs": "a", "keys": []}).status_code == 400
    big = {"project": "demo", "runs": seeded["ids"], "keys": ["loss"], "buckets": 10**6}
    assert client.post("/api/series", json=big).status_code == 400


def test_cli_ui_registered(capsys: pytest.CaptureFixture[str]) -> None:
    from tracker.cli import main
    from tracker.cli._ui import url_for

    assert main(["ui", "--help"]) == 0
    assert "--no-token" in capsys.readouterr().out
    assert url_for("127.0.0.1", 8765, "abc") == "http://127.0.0.1:8765/?token=abc"
    assert url_for("127.0.0.1", 8765, None) == "http://127.0.0.1:8765/"
    assert main(["ui", "--port", "70000"]) == 2
