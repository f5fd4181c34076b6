"""Team-server security through the real app (TestClient): roles, visibility, sessions, bad input.

Every route against no key, another tenant, a viewer key, repeated parameters and a
disagreeing query and body: ``test_security_routes.py``; the smaller holes of issue 14 and
the body cap: ``test_security_limits.py``. Routes here too are enumerated from the app's
own table, so a new endpoint is covered without editing these tests.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import Request
from starlette.routing import Mount, Route

from tracker.server._auth import AuthStore
from tracker.server._gate import Backoff

#: A valid value for each path parameter of the app's routes.
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
# POST routes that only read.
READ_POSTS = {"/api/series"}
# Routes that stream forever once allowed (never called with a key that may read them).
STREAMS = {"/api/events"}
INJECTIONS = [
    "'; DROP TABLE runs; --",
    '" OR 1=1 --',
    "1; DELETE FROM users WHERE 1=1",
    "Robert'); DROP TABLE students;--",
    "' UNION SELECT name, pw FROM users --",
]


def routes(app: Any) -> list[tuple[str, str]]:
    """``(method, path format)`` of every route of the app, the static mount aside."""
    out = []
    for route in app.router.routes:
        if isinstance(route, Mount):
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


def call(client: Any, method: str, path: str, **kw: Any) -> Any:
    kw.setdefault("follow_redirects", False)
    if method not in SAFE and "content" not in kw and "json" not in kw:
        kw["json"] = {"project": "alpha"}
    return client.request(method, path, **kw)


def test_wrong_revoked_and_disabled_keys_are_no_caller(team: Any) -> None:
    # Every route without a key: tests/server/test_security_routes.py.
    bad = team.keys["alice"][:-2] + "xx"
    assert team.client().get("/api/projects", headers={"Authorization": f"Bearer {bad}"}).status_code == 401
    assert team.client("bob").get("/api/projects").status_code == 200
    assert team.store.disable_user("bob")
    assert team.client("bob").get("/api/projects").status_code == 401
    assert team.store.revoke_key(team.keys["carol"].split("_")[1])
    assert team.client("carol").get("/api/projects").status_code == 401
    # The registry project has no owner: server admins only.
    assert team.client("alice").get("/api/registry").status_code == 404
    assert team.client("root").get("/api/registry").status_code == 200
    assert {p["name"] for p in team.client("root").get("/api/projects").json()} >= {"alpha", "beta", "gamma"}


def test_visibility_and_team_roles(team: Any) -> None:
    bob, carol, dave = team.client("bob"), team.client("carol"), team.client("dave")
    # Team project: members with their team role, others nothing.
    assert carol.get("/api/projects/gamma/runs").status_code == 200
    assert carol.put("/api/projects/gamma/access", json={"visibility": "public"}).status_code == 403
    assert dave.get("/api/v1/runs/gamma/r2/log/offset").json()["offset"] == 0
    assert dave.put("/api/projects/gamma/access", json={"visibility": "public"}).status_code == 403
    assert bob.get("/api/projects/gamma/runs").status_code == 404
    # Public: every signed-in user reads, nobody else writes; anonymous callers still get 401.
    alice = team.client("alice")
    res = alice.put("/api/projects/alpha/access", json={"visibility": "public"})
    assert res.json() == {"project": "alpha", "owner": {"user": "alice"}, "visibility": "public"}
    assert bob.get("/api/projects/alpha/runs").status_code == 200
    assert bob.get("/api/v1/runs/alpha/r1/log/offset").status_code == 403
    assert bob.put("/api/projects/alpha/access", json={"visibility": "private"}).status_code == 403
    assert team.client().get("/api/projects/alpha/runs").status_code == 401
    # Team visibility: users sharing a team with the owner read.
    assert alice.put("/api/projects/alpha/access", json={"visibility": "team"}).status_code == 200
    assert bob.get("/api/projects/alpha/runs").status_code == 404
    assert carol.get("/api/projects/alpha/runs").status_code == 404
    team.store.add_member("crew", "alice", "viewer")
    assert carol.get("/api/projects/alpha/runs").status_code == 200
    assert alice.put("/api/projects/alpha/access", json={"visibility": "secret"}).status_code == 400


def test_ingest_claims_a_new_project_for_the_keys_user(team: Any) -> None:
    log = (team.root / "projects" / "alpha" / "runs" / "r1" / "run.tlog").read_bytes()
    headers = {"X-Tracker-Format-Version": "1"}
    bob = team.client("bob")
    res = bob.put("/api/v1/runs/fresh/r1/log?offset=0", content=log, headers=headers)
    assert res.json() == {"offset": len(log), "appended": len(log)}
    info = team.store.project("fresh")
    assert (info.owner_kind, info.owner, info.visibility) == ("user", "bob", "private")
    assert team.client("alice").get("/api/projects/fresh/runs").status_code == 404
    assert (
        team.client("alice")
        .put("/api/v1/runs/fresh/r2/log?offset=0", content=log, headers=headers)
        .status_code
        == 404
    )
    # With a default team, new projects go to the team.
    team.store.set_default_team("dave", "crew")
    assert (
        team.client("dave")
        .put("/api/v1/runs/crewed/r1/log?offset=0", content=log, headers=headers)
        .status_code
        == 200
    )
    assert team.store.project("crewed").owner == "crew"
    assert team.client("carol").get("/api/projects/crewed/runs").status_code == 200
    # A project already on disk but owned by nobody is not claimable.
    team.seed("orphan", "r1")
    assert bob.put("/api/v1/runs/orphan/r9/log?offset=0", content=log, headers=headers).status_code == 404


# Literal ``..`` segments are resolved by the HTTP client before sending (the real-server
# test in test_ingest.py sends them raw); encoded ones reach the app as ``..`` after decoding.
@pytest.mark.parametrize(
    "bad", ["%2e%2e", "%2E%2E", "..%2f..%2fetc", "a%2f..%2f..%2fb", "%00", ".hidden", "..\\..\\x", "%2F", "~"]
)
def test_path_traversal_in_every_path_parameter(team: Any, bad: str) -> None:
    admin = team.client("root")
    before = sorted(p for p in team.root.parent.rglob("*") if team.root not in p.parents)
    probes = 0
    for method, path_format in routes(team.app):
        if path_format in STREAMS:
            continue
        for param in re.findall(r"\{(\w+)\}", path_format):
            path = re.sub(
                r"\{(\w+)\}", lambda m, p=param: bad if m.group(1) == p else VALUES[m.group(1)], path_format
            )
            res = call(admin, method, path, headers={"X-Tracker-Format-Version": "1"}, content=b"")
            # 307: an empty segment, redirected to the path without it (checked again there).
            ok = res.status_code in (307, 400, 404, 405, 409, 422) or (
                # The SPA page, whatever the client route; a metric or media key is looked up
                # in the run's records (never opened as a path), so an odd one finds nothing.
                res.status_code == 200 and param in ("rest", "key")
            )
            assert ok, (method, path_format, param, res.status_code, res.text[:200])
            assert "root:" not in res.text
            probes += 1
    assert probes >= 40
    assert sorted(p for p in team.root.parent.rglob("*") if team.root not in p.parents) == before


def test_oversized_bodies_are_413(team: Any) -> None:
    alice = team.client("alice")
    big = {"project": "alpha", "runs": ["r1"], "keys": ["x" * 100] * 11_000}
    res = alice.post("/api/series", json=big)
    assert res.status_code == 413
    headers = {"X-Tracker-Format-Version": "1"}
    res = alice.put(
        "/api/v1/runs/alpha/r1/log?offset=0", content=b"\0" * (team.max_body + 1), headers=headers
    )
    assert res.status_code == 413

    def chunks() -> Any:  # no Content-Length: chunked, counted as it arrives
        for _ in range(team.max_body // 1024 + 2):
            yield b"\0" * 1024

    assert (
        alice.put("/api/v1/runs/alpha/r1/log?offset=0", content=chunks(), headers=headers).status_code == 413
    )
    assert alice.put("/api/projects/alpha/access", content=b"{" * (2 * 1024 * 1024)).status_code == 413
    assert team.client().post("/login", content=b"u" * (2 * 1024 * 1024)).status_code == 413
    assert (team.root / "projects" / "alpha" / "runs" / "r1" / "run.tlog").stat().st_size > 0


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def test_sql_injection_strings_are_data(team: Any) -> None:
    dbs = sorted(team.root.rglob("*.sqlite"))
    before = {db: tables(db) for db in dbs}
    assert "auth_users" in before[team.root / "server-auth.sqlite"]
    # Run name, tags and config values.
    team.seed("alpha", "inj", name=INJECTIONS[0], tags=INJECTIONS[1:3], config={"q": INJECTIONS[3]})
    alice = team.client("alice")
    rows = {r["id"]: r for r in alice.get("/api/projects/alpha/runs").json()}
    assert rows["inj"]["name"] == INJECTIONS[0]
    assert rows["inj"]["tags"] == INJECTIONS[1:3]
    assert rows["inj"]["config"]["q"] == INJECTIONS[3]
    # Filter values (remote Api), run ids and keys (series), a run-id list (keys).
    for text in INJECTIONS:
        res = alice.get("/api/v1/projects/alpha/runs", params={"filters": json.dumps({"config.q": text})})
        assert res.status_code == 200
        assert [r["record"]["id"] for r in res.json()["runs"]] == (["inj"] if text == INJECTIONS[3] else [])
        assert alice.get("/api/projects/alpha/keys", params={"runs": text}).json() == []
        res = alice.post("/api/series", json={"project": "alpha", "runs": ["inj"], "keys": [text]})
        assert res.status_code == 200
        assert res.json()["series"] == {}  # a key nobody logged: no series, nothing executed
        res = alice.post("/api/series", json={"project": "alpha", "runs": [text], "keys": ["x"]})
        assert res.status_code == 400  # run ids are validated before any lookup
        assert "is not a valid run id" in res.json()["detail"]
    filt = json.dumps({"display_name": INJECTIONS[0]})
    assert [
        r["record"]["id"]
        for r in alice.get("/api/v1/projects/alpha/runs", params={"filters": filt}).json()["runs"]
    ] == ["inj"]
    # Project names: refused as names, nothing created.
    for text in INJECTIONS:
        assert alice.get(f"/api/projects/{quote(text, safe='')}/runs").status_code in (400, 404)
        res = alice.put(f"/api/v1/runs/{quote(text, safe='')}/r1/log?offset=0", content=b"x")
        assert res.status_code in (400, 404)
        assert alice.post("/api/series", json={"project": text, "runs": [], "keys": []}).status_code == 400
    # User and team names: stored and returned as given; such a user can log in.
    for i, text in enumerate(INJECTIONS):
        team.store.create_user(text, team.password)
        team.store.create_team(text)
        team.store.add_member(text, text, "viewer")
        key = team.store.create_key(text, f"k{i}")[0]
        me = team.client().get("/api/me", headers={"Authorization": f"Bearer {key}"}).json()
        assert me["user"] == text
        res = team.client().post(
            "/login", data={"username": text, "password": team.password}, follow_redirects=False
        )
        assert res.status_code == 303
    assert set(INJECTIONS) <= {u.name for u in team.store.users()}
    assert set(INJECTIONS) <= set(team.store.teams())
    assert (
        team.client().post("/login", data={"username": INJECTIONS[1], "password": "' OR 1=1 --"}).status_code
        == 401
    )
    # Every table is still there, and so are the runs.
    assert {db: tables(db) for db in dbs} == before
    assert {r["id"] for r in alice.get("/api/projects/alpha/runs").json()} == {"r1", "inj"}


def test_dashboard_login_session_csrf_logout(team: Any) -> None:
    web = team.client()
    res = web.get("/projects/alpha", follow_redirects=False)
    assert (res.status_code, res.headers["location"]) == (303, "/login?next=%2Fprojects%2Falpha")
    page = web.get("/login?next=/projects/alpha")
    assert page.status_code == 200
    assert 'name="password"' in page.text
    assert "script" not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    res = web.post("/login", data={"username": "alice", "password": "wrong password"})
    assert res.status_code == 401
    res = web.post(
        "/login",
        data={"username": "alice", "password": team.password, "next": "/projects/alpha"},
        follow_redirects=False,
    )
    assert (res.status_code, res.headers["location"]) == (303, "/projects/alpha")
    cookie = res.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    session = cookie.split(";")[0].split("=", 1)[1]
    assert session.encode() not in (team.root / "server-auth.sqlite").read_bytes()
    assert [p["name"] for p in web.get("/api/projects").json()] == ["alpha"]
    assert web.get("/projects/alpha").status_code == 200
    assert web.get("/api/projects/beta/runs").status_code == 404
    body = {"project": "alpha", "runs": ["r1"], "keys": ["loss"]}
    # A cookie-authenticated POST needs the custom header (or a same-origin Origin).
    assert web.post("/api/series", json=body).status_code == 403
    assert web.post("/api/series", json=body, headers={"Origin": "http://evil.example"}).status_code == 403
    assert web.post("/api/series", json=body, headers={"X-Tracker-CSRF": "1"}).status_code == 200
    assert web.post("/api/series", json=body, headers={"Origin": team.base}).status_code == 200
    # Open redirects are not followed.
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        res = web.post(
            "/login",
            data={"username": "alice", "password": team.password, "next": target},
            follow_redirects=False,
        )
        assert res.headers["location"] == "/"
    latest = web.cookies["tracker_session"]
    res = web.post("/logout", headers={"Origin": team.base}, follow_redirects=False)
    assert res.status_code == 303
    assert web.get("/api/projects").status_code == 401
    # The session is gone on the server too, not just from the browser; others live on.
    assert team.client(cookies={"tracker_session": latest}).get("/api/projects").status_code == 401
    assert team.client(cookies={"tracker_session": session}).get("/api/projects").status_code == 200
    assert team.client(cookies={"tracker_session": "forged"}).get("/api/projects").status_code == 401


def test_login_backs_off(team: Any) -> None:
    web = team.client()
    for _ in range(5):
        assert web.post("/login", data={"username": "bob", "password": "nope nope"}).status_code == 401
    res = web.post("/login", data={"username": "bob", "password": team.password})
    assert res.status_code == 429
    assert int(res.headers["retry-after"]) >= 1
    # The backoff itself: 2, 4, 8 ... seconds after the free attempts, capped.
    backoff = Backoff(free=2, longest=5.0)
    backoff.failed("u")
    assert backoff.wait("u") <= 0
    backoff.failed("u")
    assert 1.5 < backoff.wait("u") <= 2.0
    backoff.failed("u")
    assert 3.5 < backoff.wait("u", "other") <= 4.0
    for _ in range(5):
        backoff.failed("u")
    assert 4.5 < backoff.wait("u") <= 5.0
    backoff.succeeded("u")
    assert backoff.wait("u") <= 0


def test_key_caps_and_scope_state(team: Any) -> None:
    seen: dict[str, Any] = {}

    def probe(request: Request, project: str) -> Any:
        seen.update(request.scope["state"])
        return {"ok": True}

    # An endpoint added after the gate is still checked.
    team.app.add_api_route("/api/projects/{project}/probe", probe, methods=["GET"])
    assert team.client("alice-editor").get("/api/projects/alpha/probe").json() == {"ok": True}
    assert (seen["user"], seen["role"], seen["project"]) == ("alice", "editor", "alpha")
    assert team.client("carol").get("/api/projects/gamma/probe").status_code == 200
    assert seen["role"] == "viewer"
    assert team.client("bob").get("/api/projects/alpha/probe").status_code == 404


def test_auth_store_keeps_no_secrets(team: Any, tmp_path: Path) -> None:
    raw = (team.root / "server-auth.sqlite").read_bytes()
    assert team.password.encode() not in raw
    for key in team.keys.values():
        assert key.split("_", 2)[2].encode() not in raw
    store = AuthStore(tmp_path / "s")
    with pytest.raises(Exception, match="8 characters"):
        store.create_user("x", "short")
    with pytest.raises(Exception, match="exists already"):
        team.store.create_user("alice", team.password)
    with pytest.raises(Exception, match="user name"):
        store.create_user(" padded", team.password)
    with pytest.raises(Exception, match="no user"):
        store.create_key("ghost", "k")
