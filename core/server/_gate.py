"""The guard of both apps: who is calling, may they, and is the request a sane size.

Every router is guarded the same way: a middleware in front of all routes decides from
the route table (the local ``tracker ui`` app: :class:`LocalGuard`, Host, Origin and the
per-launch token; the team server: the gate below), and a handler that learns what it
touches from its own input asks this module again, never deciding alone:
:func:`refusal` / :func:`require` (a role on a project), :func:`upload_refusal` (the
caller's role for content-addressed blobs) and :func:`claim_if_new`. Each answers
``(status, message)`` or raises with it; routers map that to their own error body.

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

import hashlib
import hmac
import re
import time
from collections import OrderedDict
from typing import Any, Final
from urllib.parse import parse_qs, quote, urlsplit

from tracker._naming import project_dir
from tracker.errors import UsageError
from tracker.server._auth import AuthStore, Principal, at_least, check_project
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

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "Backoff",
    "LocalGuard",
    "claim_if_new",
    "classify",
    "need_of",
    "protect",
    "refusal",
    "require",
    "upload_refusal",
]

COOKIE: Final = "tracker_session"
CSRF_HEADER: Final = "x-tracker-csrf"
MAX_JSON: Final = 1024 * 1024
_SAFE: Final = ("GET", "HEAD", "OPTIONS")
#: A Host header: a host name (``_`` allowed: container service names) or IPv4 address, or
#: an IPv6 address in brackets; an optional port of digits.
_HOST_RE: Final = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9_][a-z0-9_.-]{0,252})(?::[0-9]{1,5})?")
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
        await self._authorize(state, who, identity, path_format, method)
        await self.app(scope, receive, send)

    async def _authorize(
        self, state: dict[str, Any], who: Principal, identity: Any, path_format: str, method: str
    ) -> None:
        """Check the caller's role for the route (step 4 above); set ``role`` and ``project``."""
        from starlette.concurrency import run_in_threadpool

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
            return
        state["role"] = await run_in_threadpool(self._role, who, project, path_format, method)
        state["project"] = project
        if not at_least(state["role"], need):
            raise _RefusedError(403, f"your role on {project!r} is {state['role']}; this needs {need}")

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


def upload_refusal(request: Any, *, write: bool) -> tuple[int, str] | None:
    """Why the caller may not read (or, with ``write``, upload) blobs; None if they may.

    The gate stores the caller's role in ``scope["state"]["role"]``: on the route's
    ``{project}`` (already checked there: 404 when hidden, 403 when too low), or the
    key's cap on the content-addressed blob routes, which belong to no project.
    """
    role = (request.scope.get("state") or {}).get("role")
    if role is None:
        return 401, "missing or unknown API key: send Authorization: Bearer <key>"
    if write and role not in ("editor", "admin"):
        return 403, f"a {role} key cannot upload; use an editor or admin key"
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
    from tracker.server import _routes_auth
    from tracker.server._app import add_routes

    add_routes(app, _routes_auth.router)
    app.state.auth = store
    # Per (user, address) and per user: never per address alone (see the module docstring).
    app.state.login_backoff = (Backoff(free=5), Backoff(free=20))
    app.state.visible_projects = _routes_auth.visible
    app.add_middleware(_Gate, router=app.router, store=store, max_body=max_body, max_json=max_json)


class LocalGuard:
    """The ``tracker ui`` middleware: Host check, Origin check, per-launch token (cookie, header or query)."""

    def __init__(self, app: Any, *, token: str | None, hosts: tuple[str, ...]) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts
        self.cookie = "tracker_token_" + hashlib.sha256((token or "").encode()).hexdigest()[:10]

    def _host_ok(self, host: str) -> bool:
        """``host`` is ``name[:port]`` with an allowed name (``[v6]`` in brackets), nothing else.

        Parsed strictly: digits only after the one colon, no user info, path or spaces
        (``127.0.0.1:1@evil.com`` names ``evil.com`` to a browser: refused).
        """
        found = _HOST_RE.fullmatch(host.lower())
        return found is not None and found.group(1) in self.hosts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not self._host_ok(headers.get("host", "")):
            await _refuse(send, 421, "Host not allowed: open the URL printed by `tracker ui`.")
            return
        origin = headers.get("origin")
        if origin and origin != "null" and not self._host_ok(urlsplit(origin).netloc):
            await _refuse(send, 403, "Cross-origin request refused.")
            return
        path: str = scope.get("path", "")
        if self.token is None or path.startswith("/static/") or path == "/favicon.ico":
            await self.app(scope, receive, send)
            return
        given, from_query = self._given(scope, headers)
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            await _refuse(send, 401, "Missing or wrong token: open the URL printed by `tracker ui`.")
            return
        await self.app(scope, receive, self._with_cookie(send) if from_query else send)

    def _given(self, scope: Any, headers: dict[str, str]) -> tuple[str, bool]:
        """The token the request carries (query, header or cookie), and whether from the query."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = (query.get("token") or [""])[0]
        if given:
            return given, True
        given = headers.get("x-tracker-token", "")
        if not given:
            for part in headers.get("cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == self.cookie:
                    given = value
        return given, False

    def _with_cookie(self, send: Any) -> Any:
        """``send``, setting the token cookie on the response (a URL with ``?token=`` opened once)."""
        cookie = f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"

        async def send_cookie(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        return send_cookie


async def _refuse(send: Any, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
