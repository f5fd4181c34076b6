"""The ``/api/v1`` read and sweep endpoints of ``tracker.server._remote``: access, validation, errors.

The app is assembled as ``tracker server`` does (dashboard, ingest and gate, then these
routes) and driven with FastAPI's TestClient; comparisons with the local Api over a real
server process are in ``tests/e2e/test_remote_api.py`` and ``test_remote_sweeps.py``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker._client import dumps, loads
from tracker.server._auth import AuthStore


@pytest.fixture
def client(root: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from tracker.server import create_app
    from tracker.server._ingest import install
    from tracker.server._remote import install_remote

    settings = tracker.Settings(disable_git=True)
    with tracker.init(project="p", id="r1", config={"lr": 0.1}, settings=settings) as run:
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1)})
        run.summary["nan"] = math.nan
    with tracker.init(project="q", id="s1", settings=settings) as run:
        run.log({"m": 1})
    app = create_app(root, token=None, allowed_hosts=["testserver"])
    install(app, root)
    install_remote(app, root)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def keys(root: Path) -> dict[str, str]:
    store = AuthStore(root)
    store.create_user("ann", "ann-password-1")
    store.create_user("bob", "bob-password-1")
    store.claim("p", "ann")
    store.claim("q", "bob")
    return {
        "editor": store.create_key("ann", "e", "editor")[0],
        "viewer": store.create_key("ann", "v", "viewer")[0],
        "bob": store.create_key("bob", "b", "editor")[0],
    }


def get(client: Any, path: str, key: str | None, **params: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    resp = client.get("/api/v1" + path, params=params, headers=headers)
    return resp.status_code, loads(resp.content)


def post(client: Any, path: str, key: str | None, body: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"} if key else {}
    resp = client.post("/api/v1" + path, content=dumps(body), headers=headers)
    return resp.status_code, loads(resp.content)


def test_reads_need_a_key_and_see_only_their_projects(client: Any, keys: dict[str, str]) -> None:
    assert get(client, "/projects", None)[0] == 401
    assert get(client, "/projects/p/runs", None)[0] == 401
    assert get(client, "/projects", "trk_000000000000_" + "x" * 40)[0] == 401
    status, data = get(client, "/projects", keys["viewer"])
    assert status == 200
    assert [p["name"] for p in data["projects"]] == ["p"]
    assert [p["name"] for p in get(client, "/projects", keys["bob"])[1]["projects"]] == ["q"]
    assert get(client, "/projects/q/runs", keys["viewer"])[0] == 404  # bob's private project
    assert get(client, "/projects/q/runs/s1", keys["viewer"])[0] == 404
    status, data = get(client, "/projects/p/runs/r1", keys["viewer"])
    assert status == 200
    assert data["record"]["config"] == {"lr": 0.1}
    assert math.isnan(data["record"]["summary"]["nan"])  # tagged on the wire, NaN again here


def test_wire_json_is_strict(client: Any, keys: dict[str, str]) -> None:
    resp = client.get("/api/v1/projects/p/runs/r1", headers={"Authorization": f"Bearer {keys['viewer']}"})
    assert b"NaN" not in resp.content
    assert json.loads(resp.content)["record"]["summary"]["nan"] == {"$float": "nan"}


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/projects/p/runs", {"filters": "{not json"}, 400, "not valid JSON"),
        ("/projects/p/runs", {"filters": '{"config.lr": {"$bogus": 1}}'}, 400, "$bogus"),
        ("/projects/p/runs", {"order": "+"}, 400, "cannot filter or sort"),
        ("/projects/p/runs", {"limit": 0}, 422, None),
        ("/projects/p/runs", {"limit": 5000}, 422, None),
        ("/projects/p/runs/r1/history", {"keys": '"loss"'}, 400, "JSON list"),
        ("/projects/p/runs/r1/history", {"stream": "secret"}, 400, "stream"),
        ("/projects/p/runs/r1/history", {"samples": 0}, 422, None),
        ("/projects/p/runs/r1/scan", {"cursor": -1}, 422, None),
        ("/projects/p/runs/no-such", {}, 404, "no-such"),
        ("/projects/p/runs/bad$id", {}, 400, "not a valid run id"),
        ("/projects/p/artifacts/none/versions/latest", {}, 404, "no artifact"),
        ("/projects/p/artifacts/..%2Fx/versions", {}, 404, None),  # no route matches a decoded '/'
        ("/projects/p/artifacts/.x/versions", {}, 400, None),
        ("/sweeps/not-a-sweep", {}, 200, None),
        ("/sweeps/bad$id", {}, 400, "not a valid sweep id"),
        ("/projects/p/runs", {"filters": "[" * 5000 + "]" * 5000}, 400, "nested too deeply"),
        ("/projects/p/artifacts/x/versions/v99999999999999999999", {}, 404, "no artifact"),
    ],
)
def test_bad_requests_are_4xx_with_a_reason(
    client: Any, keys: dict[str, str], path: str, params: dict[str, Any], status: int, message: str | None
) -> None:
    got, data = get(client, path, keys["viewer"], **params)
    assert got == status, data
    if message is not None:
        assert message in str(data["detail"])


def test_runs_filters_are_data_not_sql(client: Any, keys: dict[str, str]) -> None:
    for evil in ["'; DROP TABLE runs; --", '" OR 1=1 --', "r1' OR '1'='1"]:
        status, data = get(client, "/projects/p/runs", keys["viewer"], filters=json.dumps({"name": evil}))
        assert (status, data["total"]) == (200, 0)
    status, data = get(client, "/projects/p/runs", keys["viewer"], filters=json.dumps({"name": "r1"}))
    assert [r["record"]["id"] for r in data["runs"]] == ["r1"]


def test_scan_pages_follow_the_cursor(client: Any, keys: dict[str, str]) -> None:
    from tracker.api._remote import rows_from_wire

    status, page = get(client, "/projects/p/runs/r1/scan", keys["viewer"], page_size=2)
    assert status == 200
    assert page["next"] is None  # one index chunk holds all five rows
    [window] = page["windows"]
    assert rows_from_wire(window["rows"]).step.tolist() == [0, 1, 2, 3, 4]
    status, page = get(client, "/projects/p/runs/r1/scan", keys["viewer"], min_step=5)
    assert (status, page) == (200, {"windows": [], "next": None})  # nothing in range: nothing sent


def test_sweeps_need_an_editor_and_valid_configs(client: Any, keys: dict[str, str]) -> None:
    cfg = {"method": "grid", "parameters": {"x": {"values": [1, 2]}}}
    assert post(client, "/sweeps", None, {"config": cfg, "project": "p"})[0] == 401
    assert post(client, "/sweeps", keys["viewer"], {"config": cfg, "project": "p"})[0] == 403
    assert post(client, "/sweeps", keys["editor"], {"config": cfg, "project": "q"})[0] == 404  # bob's
    assert post(client, "/sweeps", keys["viewer"], {"config": cfg, "project": "fresh"})[0] == 403
    status, data = post(client, "/sweeps", keys["editor"], {"config": cfg, "project": "fresh"})
    assert (status, data["project"]) == (200, "fresh")  # a new name: the sweep starts it, as a run would
    assert get(client, f"/sweeps/{data['id']}", keys["bob"])[0] == 404  # and it is ann's, private
    assert get(client, f"/sweeps/{data['id']}", keys["viewer"])[0] == 200
    assert post(client, "/sweeps", keys["editor"], {"config": {**cfg, "project": "q"}})[0] == 404
    status, data = post(client, "/sweeps", keys["editor"], {"config": {"method": "nope"}, "project": "p"})
    assert status == 400
    assert data["error"] == "SweepConfigError"
    assert data["problems"]
    status, data = post(client, "/sweeps", keys["editor"], {"config": "not a dict", "project": "p"})
    assert status == 400
    status, data = post(client, "/sweeps", keys["editor"], {"config": cfg, "project": "p"})
    assert status == 200
    sweep_id = data["id"]
    assert get(client, f"/sweeps/{sweep_id}", keys["bob"])[0] == 404  # bob cannot see project p
    assert post(client, f"/sweeps/{sweep_id}/next", keys["viewer"], {})[0] == 403
    assert post(client, f"/sweeps/{sweep_id}/next", keys["bob"], {})[0] == 404
    jobs = [post(client, f"/sweeps/{sweep_id}/next", keys["editor"], {})[1] for _ in range(3)]
    assert sorted(j["job"]["params"][0][1] for j in jobs[:2]) == [1, 2]
    assert jobs[2] == {"job": None, "state": "finished"}
    assert post(client, f"/sweeps/{sweep_id}/state", keys["editor"], {"state": "bogus"})[0] == 400
    status, data = post(client, f"/sweeps/{sweep_id}/state", keys["editor"], {"state": "paused"})
    assert (status, data) == (200, {"state": "paused"})
    status, data = get(client, f"/sweeps/{sweep_id}/observations", keys["viewer"])
    assert (status, data) == (200, {"observations": []})  # no run has reached the server yet
    assert post(client, "/sweeps/nosuchsweep/next", keys["editor"], {})[0] in (403, 404)
