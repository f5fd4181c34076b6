"""Every route of both apps against the five tricks: no key, another tenant, a viewer key
writing, repeated parameters, and a project named one way in the query and another in the body.

Routes come from the apps' own tables (``app.router.routes``): the local dashboard of
``tracker ui`` and the team server as ``tracker server`` builds it. Each route must be
classified by :func:`tracker.server._identity.classify` (where its project comes from, or why
it has none); a route added later without a classification fails
:func:`test_every_route_is_classified`, and one with a ``{project}`` path parameter is
attacked here like the others without editing this file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.routing import Mount, Route

from tests.server.test_security_identity import Caller
from tracker.server import create_app
from tracker.server._gate import _OPEN, classify, need_of

#: A valid value for each path parameter of the apps' routes.
VALUES = {
    "project": "alpha",
    "run_id": "r1",
    "key": "loss",
    "step": "0",
    "item": "0",
    "name": "model",
    "version": "0",
    "sha256": "0" * 64,
    "sweep_id": "s1",
    "path": "files/a.txt",
    "rest": "alpha",
    "ref": "v0",
}
SAFE = ("GET", "HEAD")
#: A body that names a project, for routes that read one (the project is filled in).
BODY = {"runs": ["r1"], "keys": ["loss"], "config": {"method": "grid", "parameters": {"x": {"values": [1]}}}}


def routes(app: Any) -> list[tuple[str, str]]:
    """``(method, path format)`` of every route of ``app``, the static mount aside."""
    out = []
    for route in app.router.routes:
        if isinstance(route, Mount):
            assert route.path == "/static", route.path  # a new mount: classify it here
            continue
        assert isinstance(route, Route), route
        for method in sorted(route.methods or ()):
            if method != "HEAD" or route.methods == {"HEAD"}:
                out.append((method, route.path_format))
    return out


def fill(path_format: str, **over: str) -> str:
    return re.sub(
        r"\{(\w+)\}", lambda m: quote(over.get(m.group(1), VALUES[m.group(1)]), safe="/"), path_format
    )


def project_body(path_format: str, project: str) -> dict[str, Any]:
    kind = classify(path_format)
    return {**BODY, "project": project} if kind == "body" else {} if kind == "fixed" else {"project": project}


@pytest.fixture
def local(root: Path, team: Any) -> Any:
    """The ``tracker ui`` app over the same seeded root (one user: whoever holds the token)."""
    return create_app(root, token="sekrit", poll_interval=0.05)


@pytest.fixture
def sweep_id(team: Any) -> str:
    """A sweep in alice's private project ``alpha``."""
    status, text = Caller(team.app, {"Authorization": f"Bearer {team.keys['alice']}"})(
        "POST", "/api/v1/sweeps", {"config": BODY["config"], "project": "alpha"}
    )
    assert status == 200, text
    return str(json.loads(text)["id"])


def api_routes(app: Any) -> list[tuple[str, str]]:
    return [(m, p) for m, p in routes(app) if p.startswith("/api/") and p not in _OPEN]


def test_every_route_is_classified(team: Any, local: Any) -> None:
    for app in (team.app, local):
        kinds = {(m, p): classify(p) for m, p in routes(app)}
        unknown = sorted(r for r, kind in kinds.items() if kind is None)
        assert not unknown, f"classify these routes in tracker.server._identity.classify: {unknown}"
        assert {p for (_, p), kind in kinds.items() if kind == "page"} >= {"/", "/projects/{rest}"}
    kinds = {p: classify(p) for _, p in routes(team.app)}
    assert kinds["/api/events"] == "query"
    assert kinds["/api/series"] == "body"
    assert kinds["/api/registry"] == "fixed"
    assert sum(k == "path" for k in kinds.values()) >= 25


def test_no_key_no_token(team: Any, local: Any) -> None:
    anonymous = Caller(team.app, {})
    checked = 0
    for method, path_format in routes(team.app):
        if classify(path_format) == "open":
            continue
        status, text = anonymous(method, fill(path_format), project_body(path_format, "alpha"))
        if path_format.startswith("/api/"):
            assert status == 401, (method, path_format, status, text)
            checked += 1
        else:  # dashboard pages: to the login page
            assert status == 303, (method, path_format, status)
    assert checked >= 35
    # The local dashboard: the per-launch token, on every route but the static files.
    for method, path_format in routes(local):
        if path_format == "/favicon.ico":
            continue
        status, text = Caller(local, {"X-Tracker-Token": "wrong"})(method, fill(path_format))
        assert status == 401, (method, path_format, status, text)


def cross_tenant_checks(team: Any, sweep: str) -> dict[str, Callable[[Caller], None]]:
    """How bob is kept out of alice's ``alpha`` on routes whose project is not in the request."""

    def listing(path: str, rows: Callable[[Any], list[str]]) -> Callable[[Caller], None]:
        def check(bob: Caller) -> None:
            status, text = bob("GET", path)
            assert (status, rows(json.loads(text))) == (200, ["beta"]), text

        return check

    def sweep_route(method: str, path: str) -> Callable[[Caller], None]:
        def check(bob: Caller) -> None:
            status, text = bob(method, path.replace("{sweep_id}", sweep), {"state": "paused"})
            assert status == 404, (method, path, status, text)
            assert "alpha" in text

        return check

    def me(bob: Caller) -> None:
        assert json.loads(bob("GET", "/api/me")[1])["user"] == "bob"

    def create_sweep(bob: Caller) -> None:
        status, text = bob("POST", "/api/v1/sweeps", {"config": BODY["config"], "project": "alpha"})
        assert status == 404, text
        assert "alpha" in text

    def content_addressed(bob: Caller) -> None:
        """Blobs belong to no project: who may see one is tests/server/test_blob_tenancy.py's."""

    return {
        "/api/projects": listing("/api/projects", lambda d: [p["name"] for p in d]),
        "/api/v1/projects": listing("/api/v1/projects", lambda d: [p["name"] for p in d["projects"]]),
        "/api/me": me,
        "/api/v1/sweeps": create_sweep,
        "/api/v1/sweeps/{sweep_id}": sweep_route("GET", "/api/v1/sweeps/{sweep_id}"),
        "/api/v1/sweeps/{sweep_id}/state": sweep_route("POST", "/api/v1/sweeps/{sweep_id}/state"),
        "/api/v1/sweeps/{sweep_id}/next": sweep_route("POST", "/api/v1/sweeps/{sweep_id}/next"),
        "/api/v1/sweeps/{sweep_id}/observations": sweep_route(
            "GET", "/api/v1/sweeps/{sweep_id}/observations"
        ),
        "/api/v1/blobs/{sha256}": content_addressed,
        "/api/v1/uploads/{sha256}": content_addressed,
    }


def test_another_tenants_private_project_is_404(team: Any, sweep_id: str) -> None:
    bob = Caller(team.app, {"Authorization": f"Bearer {team.keys['bob']}"})
    checks = cross_tenant_checks(team, sweep_id)
    hidden = 0
    for method, path_format in api_routes(team.app):
        kind = classify(path_format)
        if kind in ("global", "body") and path_format in checks:
            checks[path_format](bob)
            if kind == "global":
                continue
        elif kind == "global":
            raise AssertionError(f"{method} {path_format}: add how bob is kept out of alpha here")
        path = fill(path_format) + ("?project=alpha" if kind == "query" else "")
        status, text = bob(method, path, project_body(path_format, "alpha"))
        assert status == 404, (method, path_format, status, text)
        assert method == "HEAD" or ("alpha" if kind != "fixed" else "model-registry") in text
        hidden += 1
    assert hidden >= 35
    # A project that does not exist answers exactly the same.
    assert bob("GET", "/api/projects/nope/runs")[1] == bob("GET", "/api/projects/alpha/runs")[1].replace(
        "alpha", "nope"
    )
    # The owner and the server admin do read it.
    for who in ("alice", "root"):
        assert (
            Caller(team.app, {"Authorization": f"Bearer {team.keys[who]}"})(
                "GET", "/api/projects/alpha/runs"
            )[0]
            == 200
        )


def test_viewer_key_cannot_write(team: Any) -> None:
    viewer = Caller(team.app, {"Authorization": f"Bearer {team.keys['alice-viewer']}"})
    refused = 0
    read_posts = []
    for method, path_format in api_routes(team.app):
        need = need_of(path_format, method)
        if need == "viewer":
            if method not in SAFE:
                read_posts.append(path_format)
            continue
        path = fill(path_format) + ("?project=alpha" if classify(path_format) == "query" else "")
        status, text = viewer(method, path, project_body(path_format, "alpha"))
        assert status == 403, (method, path_format, status, text)
        refused += 1
    assert read_posts == ["/api/series"]  # the one POST that only reads
    assert refused >= 10
    # The same key reads its user's project.
    assert viewer("GET", "/api/projects/alpha/runs")[0] == 200


def attack(app: Any, headers: dict[str, str], tricks: Callable[[str, str], list[tuple[str, Any]]]) -> int:
    """Send each trick to each API route of ``app`` as its owner; every one must be a 400."""
    owner = Caller(app, headers)
    sent = 0
    for method, path_format in api_routes(app):
        for path, body in tricks(method, path_format):
            status, text = owner(method, path, body)
            assert status == 400, (method, path, body, status, text)
            assert method == "HEAD" or "project" in text or "run" in text, text
            sent += 1
    return sent


def repeated(method: str, path_format: str) -> list[tuple[str, Any]]:
    base = fill(path_format)
    query = "project=alpha&" if classify(path_format) == "query" else ""
    body = project_body(path_format, "alpha") if classify(path_format) == "body" else None
    return [
        (f"{base}?project=alpha&project=beta", body),
        (f"{base}?project=alpha&project=alpha", body),  # even the same value twice
        (f"{base}?{query}run_id=r1&run_id=r2", body),
        (f"{base}?{query}run=r1&run=r1", body),
    ]


def disagreeing(method: str, path_format: str) -> list[tuple[str, Any]]:
    base = fill(path_format)
    kind = classify(path_format)
    raw = path_format in ("/api/v1/runs/{project}/{run_id}/log", "/api/v1/blobs/{sha256}")
    out: list[tuple[str, Any]] = []
    if kind in ("path", "fixed"):  # named by the path: nowhere else may name another
        out.append((f"{base}?project=beta", None))
        if not raw:
            out.append((base, {"project": "beta"}))
        if "{run_id}" in path_format:
            out.append((f"{base}?run_id=r2", None))
            out.append((f"{base}?run=r2", None))
    elif kind == "query":
        out.append((f"{base}?project=alpha", {"project": "beta"}))
    elif kind == "body":
        out.append((f"{base}?project=beta", project_body(path_format, "alpha")))
        out.append((f"{base}?project=alpha", {k: v for k, v in BODY.items()}))  # query only: wrong place
    elif not raw:  # no project: the query and the body must still not disagree
        out.append((f"{base}?project=alpha", {"project": "beta"}))
    return out


def test_repeated_parameters_are_400(team: Any, local: Any) -> None:
    assert attack(team.app, {"Authorization": f"Bearer {team.keys['alice']}"}, repeated) >= 4 * 40
    assert attack(local, {"X-Tracker-Token": "sekrit"}, repeated) >= 4 * 15


def test_query_and_body_disagreeing_are_400(team: Any, local: Any) -> None:
    assert attack(team.app, {"Authorization": f"Bearer {team.keys['root']}"}, disagreeing) >= 60
    assert attack(local, {"X-Tracker-Token": "sekrit"}, disagreeing) >= 20


def test_an_unclassified_route_is_for_server_admins_only(team: Any) -> None:
    def secret() -> Any:
        return {"secret": True}

    for path in ("/api/v1/stats", "/export"):  # added later, classified nowhere
        team.app.add_api_route(path, secret, methods=["GET"])
        assert classify(path) is None  # test_every_route_is_classified would fail on it
        status, text = Caller(team.app, {"Authorization": f"Bearer {team.keys['alice']}"})("GET", path)
        assert status == 403, text
        assert "only server admins" in text
        assert Caller(team.app, {"Authorization": f"Bearer {team.keys['root']}"})("GET", path)[0] == 200
