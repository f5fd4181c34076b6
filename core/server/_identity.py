"""One parsed request identity: the project (and run) a request acts on, read from one place.

Each route takes its project from exactly one place (:func:`classify`):

========  =====================================================================
path      the ``{project}`` path parameter (and ``{run_id}`` for the run)
query     the ``project`` query parameter (``/api/events``)
body      the ``project`` field of the JSON body (``/api/series``, new sweeps)
fixed     a project the route implies (``/api/registry``: the model registry)
global    none: the route checks what it touches itself, or lists per caller
open      none: open without signing in (the login page, the API schema)
page      none: a dashboard page (the single-page app, no data)
========  =====================================================================

:func:`parse` reads the request once into an :class:`Identity`; the team server's gate
(:mod:`tracker.server._gate`) checks the caller's role on that object and stores it in
``scope["state"]["identity"]``, and the handlers read it from there (:func:`identity_of`)
instead of parsing the request again. The local dashboard has no gate: :class:`Identify`
does the same parsing in front of it. Refused with 400, naming the problem:

- a query parameter given twice (``?project=a&project=b``: parsers disagree on which
  wins), and a JSON object that repeats a key;
- ``project``, ``run_id`` or ``run`` named anywhere besides the route's own place with
  another value (``POST /api/series?project=a`` with ``{"project": "b"}``), or named
  in the query and the body with two values on a route that takes none;
- a JSON body that is not JSON, or nested deeper than :data:`MAX_DEPTH` levels.

Bodies: on API routes every body is JSON except the raw uploads of :data:`RAW_BODY`
(run-log bytes, blob bytes), which are never parsed here; see :func:`read_body` for
the size cap, which is applied before anything is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from tracker.artifacts._names import REGISTRY_PROJECT

__all__ = [
    "GLOBAL",
    "MAX_DEPTH",
    "OPEN",
    "PAGES",
    "RAW_BODY",
    "Identify",
    "Identity",
    "IdentityError",
    "answer",
    "classify",
    "identity_of",
    "match",
    "parse",
    "parse_json",
    "read_body",
]

#: Deepest JSON nesting accepted in a request body (a sweep config needs a handful).
MAX_DEPTH: Final = 64
#: Largest JSON body the local dashboard reads.
MAX_JSON: Final = 1024 * 1024
#: Names that say which project or run a request is for.
IDENTITY_PARAMS: Final = ("project", "run_id", "run")
QUERY_PROJECT: Final = frozenset({"/api/events"})
BODY_PROJECT: Final = frozenset({"/api/series", "/api/v1/sweeps"})
FIXED_PROJECT: Final = {"/api/registry": REGISTRY_PROJECT}
#: Upload routes whose body is raw bytes: streamed to the handler (counted), never parsed.
RAW_BODY: Final = frozenset({"/api/v1/runs/{project}/{run_id}/log", "/api/v1/blobs/{sha256}"})
#: Routes of no project that a signed-in caller may use: lists filtered per caller, the
#: caller's own record, content-addressed blobs, and the sweep routes, which find the
#: sweep's project in its record and check it themselves. Any other route without a
#: project is for server admins.
GLOBAL: Final = frozenset(
    {
        "/api/projects",
        "/api/me",
        "/api/v1/blobs/{sha256}",
        "/api/v1/uploads/{sha256}",
        "/api/v1/projects",
        "/api/v1/sweeps",
        "/api/v1/sweeps/{sweep_id}",
        "/api/v1/sweeps/{sweep_id}/state",
        "/api/v1/sweeps/{sweep_id}/next",
        "/api/v1/sweeps/{sweep_id}/observations",
    }
)
OPEN: Final = frozenset(
    {"/login", "/favicon.ico", "/api/openapi.json", "/api/docs", "/api/docs/oauth2-redirect"}
)
#: Dashboard pages (the single-page app and the schema browser's helper: no data) and
#: ``/logout``. Any other route outside ``/api/`` is unclassified.
PAGES: Final = frozenset({"/", "/registry", "/projects/{rest}", "/logout", "/docs/oauth2-redirect"})


class IdentityError(Exception):
    """A request whose identity cannot be settled: answered ``status`` with ``detail``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Identity:
    """What a request acts on, parsed once.

    Attributes:
        project: The project (None: the route addresses none).
        run_id: The run (None: none in the request's path).
        source: Where the project came from (see :func:`classify`).
        body: The parsed JSON body (None: no body, or a raw upload).
    """

    project: str | None
    run_id: str | None
    source: str
    body: Any = None


def classify(path_format: str) -> str | None:
    """Where a route's project comes from (the table of the module docstring); None: unknown.

    A route that is none of these is unclassified: the gate lets only server admins call
    it, and ``tests/server/test_security_routes.py`` fails until it is classified.
    """
    if path_format in OPEN or path_format.startswith("/static/"):
        return "open"
    if path_format in PAGES:
        return "page"
    if "{project}" in path_format:
        return "path"
    if path_format in FIXED_PROJECT:
        return "fixed"
    if path_format in QUERY_PROJECT:
        return "query"
    if path_format in BODY_PROJECT:
        return "body"
    if path_format in GLOBAL:
        return "global"
    return None


def parse(path_format: str, params: dict[str, Any], query_string: bytes, body: bytes | None) -> Identity:
    """The identity of a request to the route ``path_format``.

    Args:
        path_format: The matched route's path format.
        params: Its path parameters, as the router matched them.
        query_string: The raw query string.
        body: The raw body (None: a raw upload, not read).

    Raises:
        IdentityError: 400 for a repeated parameter or key, a disagreement, a body that
            is not JSON or is nested too deeply.
    """
    # The same parsing as Starlette's ``request.query_params``.
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    query: dict[str, str] = {}
    for name, value in pairs:
        if name in query:
            raise IdentityError(400, f"repeated query parameter {name!r}: send each parameter once")
        query[name] = value
    data = parse_json(body) if body else None
    fields: dict[str, Any] = data if isinstance(data, dict) else {}
    source = classify(path_format) or "global"
    project: Any = None
    if source == "path":
        project = params.get("project")
    elif source == "fixed":
        project = FIXED_PROJECT[path_format]
    elif source == "query":
        project = query.get("project")
    elif source == "body":
        project = fields.get("project")
    run_id = params.get("run_id") if "{run_id}" in path_format else None
    places = {"query": query, "body": fields}
    home = {"path": "path", "fixed": "route", "query": "query", "body": "body"}.get(source)
    _agree("project", ("project",), project, home, places)
    _agree("run", ("run_id", "run"), run_id, "path" if run_id is not None else None, places)
    if project is not None and not isinstance(project, str):
        raise IdentityError(400, f"project {project!r}: a project is named by a string")
    return Identity(project, None if run_id is None else str(run_id), source, data)


def _agree(
    what: str, names: tuple[str, ...], value: Any, home: str | None, places: dict[str, dict[str, Any]]
) -> None:
    """Refuse ``names`` given outside ``home`` (where the route reads ``value``) with another value.

    ``home`` None: the route reads none; the places that name one must still agree.
    """
    seen: list[tuple[str, str, Any]] = [
        (place, name, found[name]) for place, found in places.items() for name in names if name in found
    ]
    if home is None:
        # The route takes none: ignored, but the query and the body must not disagree.
        values = {json.dumps(v, sort_keys=True, default=str) for _, _, v in seen}
        if len(values) > 1:
            listed = ", ".join(f"{n}={v!r} in the {p}" for p, n, v in seen)
            raise IdentityError(400, f"the {what} is named twice and the two disagree ({listed})")
        return
    for place, name, found in seen:
        if place == home:
            continue
        if found != value:
            where = f"{value!r} in the {home}" if value is not None else f"none in the {home}"
            raise IdentityError(
                400, f"{name}={found!r} in the {place} disagrees with {where}: name the {what} once"
            )


def parse_json(body: bytes) -> Any:
    """``body`` as JSON; 400 for invalid JSON, a repeated key or nesting past :data:`MAX_DEPTH`."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise IdentityError(400, f"the JSON body repeats the key {key!r}: send each key once")
            out[key] = value
        return out

    too_deep = f"the JSON body is nested too deeply (at most {MAX_DEPTH} levels)"
    try:
        data = json.loads(body, object_pairs_hook=unique)
    except RecursionError:
        raise IdentityError(400, too_deep) from None
    except ValueError as exc:  # UnicodeDecodeError included
        raise IdentityError(400, f"the body is not valid JSON: {exc}") from None
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH:  # else it cannot be too deep
        stack: list[tuple[Any, int]] = [(data, 1)]
        while stack:
            value, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise IdentityError(400, too_deep)
            items = value.values() if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items if isinstance(v, (dict, list)))
    return data


async def read_body(
    headers: dict[str, str], receive: Any, limit: int, *, stream: bool, refuse: Any = IdentityError
) -> tuple[bytes | None, Any]:
    """Read a request body of at most ``limit`` bytes; return it and a ``receive`` that replays it.

    A declared ``Content-Length`` over ``limit`` is refused (413) before a byte is read.
    With ``stream`` (a raw upload) nothing is read here: the handler streams the body
    through the returned ``receive``, which counts it and refuses (413) past ``limit``
    (a chunked body has no length to check first); the body returned is None.
    """
    too_big = f"request body over {limit} bytes; send smaller batches"
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise refuse(400, "bad Content-Length")
        if int(declared) > limit:
            raise refuse(413, too_big)
    total = 0
    if stream:

        async def counted() -> Any:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > limit:
                    raise refuse(413, too_big)
            return message

        return None, counted
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise refuse(413, too_big)
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def match(router: Any, scope: Any) -> tuple[Any, dict[str, Any]]:
    """The route of ``scope`` in ``router`` and its path parameters (a wrong method: still found)."""
    from starlette.routing import Match

    partial: tuple[Any, dict[str, Any]] = (None, {})
    for route in router.routes:
        found, child = route.matches(scope)
        if found == Match.FULL:
            return route, dict(child.get("path_params", {}))
        if found == Match.PARTIAL and partial[0] is None:
            partial = (route, dict(child.get("path_params", {})))
    return partial


def identity_of(request: Any) -> Identity:
    """The identity the gate (or :class:`Identify`) parsed for ``request``."""
    found = (request.scope.get("state") or {}).get("identity")
    if not isinstance(found, Identity):  # an app built without either: a bug, not input
        raise TypeError("no request identity: build the app with tracker.server.create_app")
    return found


class Identify:
    """ASGI middleware: parse the identity of API requests (400/413 as :func:`parse` says).

    Behind the team server's gate it finds the identity already parsed and does nothing.
    """

    def __init__(self, app: Any, *, router: Any, max_json: int = MAX_JSON) -> None:
        self.app = app
        self.router = router
        self.max_json = max_json

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        state = scope.setdefault("state", {}) if scope["type"] == "http" else {}
        if scope["type"] != "http" or "identity" in state or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        route, params = match(self.router, scope)
        path_format = getattr(route, "path_format", None)
        if path_format is None or classify(path_format) == "open":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            raw = path_format in RAW_BODY and scope["method"] not in ("GET", "HEAD")
            body, receive = await read_body(headers, receive, self.max_json, stream=raw)
            state["identity"] = parse(path_format, params, scope.get("query_string", b""), body)
        except IdentityError as exc:
            await answer(send, exc.status, {"detail": exc.detail})
            return
        await self.app(scope, receive, send)


async def answer(send: Any, status: int, data: dict[str, Any], extra: dict[str, str] | None = None) -> None:
    """Send a JSON answer from a middleware."""
    body = json.dumps(data).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    head += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})
