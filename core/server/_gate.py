"""The team server's front door: who is calling, may they, and is the request a sane size.

:func:`protect` wraps the app (after every route is added) in one ASGI middleware that,
for each request:

1. resolves the caller: ``Authorization: Bearer trk_...`` (an API key) or the
   ``tracker_session`` cookie set by the login page. No caller: 401 on ``/api/``, a
   redirect to ``/login`` for dashboard pages. Open without signing in: ``/login``,
   ``/static/``, ``/favicon.ico`` and the OpenAPI schema and docs;
2. caps the body, reading it only for a known caller (or on the login page): a declared
   ``Content-Length`` past the cap is answered 413 before a byte is read; the cap is
   ``max_body`` on upload routes (``/api/v1/...`` writes), ``max_json`` anywhere else
   (JSON calls, forms). The raw uploads (run-log and blob bytes) are not read here: the
   handler streams them, counted, and a chunked one is cut (413) at the cap;
3. refuses cross-site writes: a state-changing request authenticated by the cookie must
   carry ``X-Tracker-CSRF`` or an ``Origin`` equal to its ``Host`` (on top of the cookie's
   ``SameSite=Strict``): 403;
4. finds the route in the app's own table and parses the request's identity once
   (:func:`tracker.server._identity.parse`: the project comes from the one place the
   route takes it from, path, query or JSON body; a repeated parameter, a repeated JSON
   key, a project or run named elsewhere with another value, a body that is not JSON or
   is nested too deeply: 400), then checks the caller's role on that project
   (:meth:`AuthStore.role_on`): reads (GET, and the read-only POST
   ``/api/series``) need viewer, other methods editor, ``PUT .../access`` admin, and the
   ingest offset query editor. A key whose cap is below the need: 403 before anything is
   looked up. A project the caller cannot see, or that does not exist: 404 with the same
   message either way; visible but the role is too low: 403. A route that addresses no
   project is open to any signed-in user only if listed in
   :data:`tracker.server._identity.GLOBAL` (the project lists, filtered per caller;
   ``/api/me``; content-addressed blobs; the sweep routes, which check the sweep's
   project themselves); any other such route is for server admins, so a new endpoint is
   closed until it is classified there (:func:`classify`).

The caller, their role on the project, the project and the parsed identity end up in
``scope["state"]`` (``principal``, ``user``, ``role``, ``project``, ``identity``):
handlers read the project from there (:func:`tracker.server._identity.identity_of`),
never from the request again. :func:`refusal` / :func:`require` are the per-project
check for handlers that learn the project only from their own input.
A live event stream is authorized when it opens; it is not cut when the session ends.

Login attempts back off per user name and address together (after 5 failures in a row)
and per user name alone (after 20, from any address): each further attempt waits 2, 4,
8... seconds (at most 5 minutes), answered 429 with ``Retry-After`` (per server process).
Never per address alone: one guesser behind a shared address (a NAT, a proxy) must not
lock its other users out, and guessing one account stays slowed from everywhere.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations of the
# closures in :func:`protect` at runtime.

import time
from collections import OrderedDict
from typing import Any, Final
from urllib.parse import parse_qs, quote, urlsplit

from tracker._naming import project_dir
from tracker.errors import UsageError
from tracker.server._auth import SESSION_SECONDS, AuthStore, Principal, at_least, check_project
from tracker.server._identity import (
    GLOBAL,
    OPEN,
    RAW_BODY,
    IdentityError,
    answer,
    classify,
    match,
    parse,
    read_body,
)

__all__ = ["COOKIE", "CSRF_HEADER", "classify", "need_of", "protect", "refusal", "require"]

COOKIE: Final = "tracker_session"
CSRF_HEADER: Final = "x-tracker-csrf"
MAX_JSON: Final = 1024 * 1024
_SAFE: Final = ("GET", "HEAD", "OPTIONS")
# Open without signing in; and the routes of no project any signed-in caller may use (the
# method's need still applies to the key's cap): see tracker.server._identity.GLOBAL.
_OPEN: Final = OPEN
_GLOBAL: Final = GLOBAL
_UPLOADS: Final = "/api/v1/"
# Writes here create the project they name when nobody has it yet (a sweep may start a
# project, as a first run does).
_CLAIMS: Final = ("/api/v1/runs/", "/api/v1/artifacts/", "/api/v1/sweeps")
# (path format, method) -> the role needed, where it is not "viewer for reads, editor otherwise".
_NEED: Final = {
    ("/api/series", "POST"): "viewer",
    ("/api/v1/runs/{project}/{run_id}/log/offset", "GET"): "editor",
    ("/api/projects/{project}/access", "PUT"): "admin",
}


def need_of(path_format: str, method: str) -> str:
    """The role a route needs on its project (or of the key's cap, on a route of none)."""
    return _NEED.get((path_format, method), "viewer" if method in _SAFE else "editor")


class _RefusedError(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


class Backoff:
    """Failed-login backoff per key (a user name or a client address), in memory.

    Args:
        free: Failures allowed before waiting starts.
        longest: The longest wait, in seconds.
    """

    def __init__(self, free: int = 5, longest: float = 300.0, size: int = 10_000) -> None:
        self.free = free
        self.longest = longest
        self.size = size
        self._seen: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def wait(self, *keys: str) -> float:
        """Seconds to wait before trying any of ``keys`` again (0: go ahead)."""
        now = time.monotonic()
        return max((self._seen.get(k, (0, 0.0))[1] - now for k in keys), default=0.0) if keys else 0.0

    def failed(self, *keys: str) -> None:
        """Record a failure for each key."""
        now = time.monotonic()
        for k in keys:
            count = self._seen.pop(k, (0, 0.0))[0] + 1
            delay = 0.0 if count < self.free else min(2.0 ** (count - self.free + 1), self.longest)
            self._seen[k] = (count, now + delay)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key``."""
        self._seen.pop(key, None)


class _Gate:
    """The middleware described in the module docstring."""

    def __init__(self, app: Any, *, router: Any, store: AuthStore, max_body: int, max_json: int) -> None:
        self.app = app
        self.router = router
        self.store = store
        self.max_body = max_body
        self.max_json = max_json

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self._http(scope, receive, send)
        except _RefusedError as exc:
            await answer(send, exc.status, {"detail": exc.detail}, exc.headers)
        except IdentityError as exc:
            await answer(send, exc.status, {"detail": exc.detail})

    async def _http(self, scope: Any, receive: Any, send: Any) -> None:
        from starlette.concurrency import run_in_threadpool

        path: str = scope["path"]
        method: str = scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        route, params = match(self.router, scope)
        path_format = getattr(route, "path_format", None) or ""
        upload = path_format.startswith(_UPLOADS) and method not in _SAFE
        raw = upload and path_format in RAW_BODY
        limit = self.max_body if upload else self.max_json
        if path in _OPEN or path.startswith("/static/"):
            _, receive = await read_body(headers, receive, self.max_json, stream=False, refuse=_RefusedError)
            await self.app(scope, receive, send)
            return
        who, by_cookie = await run_in_threadpool(self._who, headers)
        if who is None:
            if path.startswith("/api/"):
                raise _RefusedError(401, "sign in: send Authorization: Bearer <API key>, or log in at /login")
            target = path + (
                "?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else ""
            )
            await _redirect(send, "/login?next=" + quote(target, safe=""))
            return
        if by_cookie and method not in _SAFE and not _same_origin(headers):
            raise _RefusedError(403, f"cross-site request refused: send the {CSRF_HEADER} header")
        # Only now, for a known caller, is the body read (an anonymous one cannot make the
        # server buffer anything).
        body, receive = await read_body(headers, receive, limit, stream=raw, refuse=_RefusedError)
        state = scope.setdefault("state", {})
        state["principal"] = who
        state["user"] = who.user
        state["role"] = who.cap or "admin"
        if route is None or not path.startswith("/api/"):
            if route is not None and classify(path_format) is None and not who.site_admin:
                raise _RefusedError(403, f"{path_format} is not a known page: only server admins may open it")
            await self.app(scope, receive, send)  # pages, and the app's own 404/405
            return
        identity = parse(path_format, params, scope.get("query_string", b""), body)
        state["identity"] = identity
        need = need_of(path_format, method)
        if not at_least(who.cap or "admin", need):
            raise _RefusedError(403, f"this key is {who.cap}-only; {method} {path_format} needs {need}")
        project = identity.project
        if project is not None:
            try:
                project = check_project(project)
            except UsageError as exc:
                raise _RefusedError(400, str(exc)) from None
        elif identity.source == "query" or (identity.source == "body" and path_format not in _GLOBAL):
            where = "?project=<name>" if identity.source == "query" else 'a "project" field in the JSON body'
            raise _RefusedError(400, f"{path_format} needs a project: send {where}")
        if project is None:
            if path_format not in _GLOBAL and not who.site_admin:
                raise _RefusedError(
                    403, f"{path_format} addresses no project: only server admins may call it"
                )
        else:
            state["role"] = await run_in_threadpool(self._role, who, project, path_format, method)
            state["project"] = project
            if not at_least(state["role"], need):
                raise _RefusedError(403, f"your role on {project!r} is {state['role']}; this needs {need}")
        await self.app(scope, receive, send)

    def _who(self, headers: dict[str, str]) -> tuple[Principal | None, bool]:
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return self.store.verify_key(auth[7:].strip()), False
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and value:
                return self.store.session(value), True
        return None, False

    def _role(self, who: Principal, project: str, path_format: str, method: str) -> str:
        role = self.store.role_on(who, project)
        if role is not None:
            return role
        # A run or artifact shipped to a new project name claims it for the key's user.
        fresh = not project_dir(self.store.root, project).exists() and self.store.project(project) is None
        if fresh and path_format.startswith(_CLAIMS):
            if method in _SAFE:
                return who.cap or "admin"  # the offset of a log that does not exist yet: 0
            self.store.claim(project, who.user)
            role = self.store.role_on(who, project)
            if role is not None:
                return role
        raise _RefusedError(404, f"no project {project!r} (or you may not see it)")


def _same_origin(headers: dict[str, str]) -> bool:
    if headers.get(CSRF_HEADER):
        return True  # a custom header: a cross-site form or image cannot send one
    origin = headers.get("origin")
    return bool(origin) and urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


async def _redirect(send: Any, location: str, cookie: str | None = None) -> None:
    head = [
        (b"location", location.encode("latin-1")),
        (b"content-length", b"0"),
        (b"cache-control", b"no-store"),
    ]
    if cookie is not None:
        head.append((b"set-cookie", cookie.encode("latin-1")))
    await send({"type": "http.response.start", "status": 303, "headers": head})
    await send({"type": "http.response.body", "body": b""})


def claim_if_new(request: Any, project: str) -> None:
    """Give a project name nobody has yet to the caller, as a run shipped to it would.

    For handlers that create something in a project named by their body (a sweep); only
    callers whose key may write claim. A bad or taken name is left to :func:`refusal`.
    """
    state = request.scope.get("state") or {}
    store: AuthStore | None = getattr(request.app.state, "auth", None)
    who: Principal | None = state.get("principal")
    if store is None or who is None or not at_least(who.cap or "admin", "editor"):
        return
    try:
        check_project(project)
    except UsageError:
        return
    if not project_dir(store.root, project).exists() and store.project(project) is None:
        store.claim(project, who.user)


def refusal(request: Any, project: str | None, need: str) -> tuple[int, str] | None:
    """Why the caller of ``request`` may not act with role ``need`` on ``project``, or None if they may.

    For handlers that learn the project from their own input (a sweep's record), past
    the middleware's check. ``project`` None checks the caller and their key's cap only.
    Without the gate (``tracker ui``, no auth) the role in ``scope["state"]`` decides.

    Returns:
        ``(status, message)``: 401 (no caller), 400 (bad name), 404 (cannot see it),
        403 (role too low); or None.
    """
    state = request.scope.get("state") or {}
    store: AuthStore | None = getattr(request.app.state, "auth", None)
    who: Principal | None = state.get("principal")
    if store is None or who is None:
        role = state.get("role")
        if role is None:
            return 401, "sign in: send Authorization: Bearer <API key>, or log in at /login"
        return None if at_least(role, need) else (403, f"a {role} key cannot do this; it needs {need}")
    if not at_least(who.cap or "admin", need):
        return 403, f"this key is {who.cap}-only; this needs {need}"
    if project is None:
        return None
    try:
        check_project(project)
    except UsageError as exc:
        return 400, str(exc)
    role = store.role_on(who, project)
    if role is None:
        return 404, f"no project {project!r} (or you may not see it)"
    if not at_least(role, need):
        return 403, f"your role on {project!r} is {role}; this needs {need}"
    return None


def require(request: Any, project: str | None, need: str) -> None:
    """Raise unless the caller of ``request`` has role ``need`` on ``project`` (see :func:`refusal`).

    Raises:
        fastapi.HTTPException: With :func:`refusal`'s status and message.
    """
    from fastapi import HTTPException

    problem = refusal(request, project, need)
    if problem is not None:
        raise HTTPException(*problem)


def _next(raw: str) -> str:
    """A local path to go to after logging in (anything else: ``/``)."""
    ok = raw.startswith("/") and not raw.startswith(("//", "/\\")) and "\\" not in raw
    return raw if ok and all(0x20 < ord(c) < 0x7F for c in raw) else "/"


def protect(app: Any, store: AuthStore, *, max_body: int, max_json: int = MAX_JSON) -> None:
    """Put ``app`` behind the gate, and add ``/login``, ``/logout``, ``/api/me`` and project access routes.

    Call it after every other route has been added (routes are matched at request time,
    so later ones are still checked, and closed if they address no project).

    Args:
        app: The dashboard app (FastAPI), before it starts.
        store: Accounts and project ownership.
        max_body: Largest upload body (ingest), in bytes.
        max_json: Largest body of any other request, in bytes.
    """
    from fastapi import Body, HTTPException, Request
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, Response

    # Per (user, address) and per user: never per address alone (see the module docstring).
    per_pair = Backoff(free=5)
    per_user = Backoff(free=20)

    def page(message: str = "", nxt: str = "/", status: int = 200, wait: str | None = None) -> Any:
        from html import escape

        note = f'<p class="err">{escape(message)}</p>' if message else ""
        headers = {**_HEADERS, "Retry-After": wait} if wait else _HEADERS
        text = _LOGIN.format(note=note, next=escape(nxt, quote=True))
        return HTMLResponse(text, status_code=status, headers=headers)

    async def login(request: Request) -> Any:
        if request.method == "GET":
            return page(nxt=_next(request.query_params.get("next", "/")))
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        user = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        nxt = _next((form.get("next") or ["/"])[0])
        pair = user + "\0" + (request.client.host if request.client else "?")
        wait = max(per_pair.wait(pair), per_user.wait(user))
        if wait > 0:
            secs = str(int(wait) + 1)
            return page(f"Too many failed attempts: try again in {secs} s.", nxt, 429, secs)
        session = await run_in_threadpool(store.login, user, password) if user and password else None
        if session is None:
            per_pair.failed(pair)
            per_user.failed(user)
            return page("Wrong user name or password.", nxt, 401)
        per_pair.succeeded(pair)
        per_user.succeeded(user)
        secure = "; Secure" if request.url.scheme == "https" else ""
        cookie = f"{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}{secure}"
        return Response(
            status_code=303, headers={"Location": nxt, "Set-Cookie": cookie, "Cache-Control": "no-store"}
        )

    async def logout(request: Request) -> Any:
        session = request.cookies.get(COOKIE)
        if session:
            await run_in_threadpool(store.logout, session)
        cookie = f"{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        return Response(status_code=303, headers={"Location": "/login", "Set-Cookie": cookie})

    def me(request: Request) -> Any:
        """The signed-in caller: user name, server admin or not, and the key's role cap."""
        who: Principal = request.scope["state"]["principal"]
        return {"user": who.user, "site_admin": who.site_admin, "key_role": who.cap}

    def access(project: str) -> Any:
        """A project's owner and visibility."""
        info = store.project(project)
        if info is None:
            return {"project": project, "owner": None, "visibility": "private"}
        return {"project": project, "owner": {info.owner_kind: info.owner}, "visibility": info.visibility}

    def set_access(project: str, body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008 - FastAPI's way
        """Set a project's visibility: ``{"visibility": "private" | "team" | "public"}`` (admin)."""
        visibility = body.get("visibility")
        if not isinstance(visibility, str):
            raise HTTPException(400, 'send {"visibility": "private" | "team" | "public"}')
        try:
            if store.project(project) is None:  # a server admin on a project nobody owns yet
                store.set_owner(project, user=request_user(body))
            store.set_visibility(project, visibility)
        except UsageError as exc:
            raise HTTPException(400, str(exc)) from None
        return access(project)

    def request_user(body: dict[str, Any]) -> str:
        owner = body.get("owner_user")
        if not isinstance(owner, str):
            raise UsageError('this project has no owner yet: add "owner_user" to the body', key="owner")
        return owner

    def visible(request: Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        who: Principal | None = request.scope.get("state", {}).get("principal")
        if who is None:
            return []
        roles = store.roles_on(who, [str(r.get("name")) for r in rows])
        return [r for r in rows if roles.get(str(r.get("name"))) is not None]

    app.add_route("/login", login, methods=["GET", "POST"], include_in_schema=False)
    app.add_route("/logout", logout, methods=["POST"], include_in_schema=False)
    app.add_api_route("/api/me", me, methods=["GET"])
    app.add_api_route("/api/projects/{project}/access", access, methods=["GET"])
    app.add_api_route("/api/projects/{project}/access", set_access, methods=["PUT"])
    app.state.auth = store
    app.state.visible_projects = visible
    app.add_middleware(_Gate, router=app.router, store=store, max_body=max_body, max_json=max_json)


_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_LOGIN: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tracker: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:15px system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;margin:0}}
form{{display:grid;gap:.6em;min-width:18em}}input,button{{font:inherit;padding:.4em}}.err{{color:#b00020}}</style>
</head><body><form method="post" action="/login"><h1>tracker</h1>{note}
<label>User <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{next}"><button type="submit">Sign in</button></form></body></html>
"""
