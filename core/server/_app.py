"""The dashboard's app factory: JSON API, live stream (SSE) and the static single-page app.

Data is addressed by project name, run id and metric key, all checked against what the
index holds; no client-supplied filesystem path is ever opened (media and files are
looked up in the run's own records, then resolved inside the run directory).

:func:`build` only assembles: it puts what the endpoints read on ``app.state``
(:class:`~tracker.server._data.ServerData` as ``data``, the page, the poll interval),
adds the routes of one router module per area, and wraps the app in the guard of
:mod:`tracker.server._gate` plus the request identity of :mod:`tracker.server._identity`.
The endpoints are module-level functions that take what they need as dependencies:

- :mod:`~tracker.server._routes_runs`: projects, runs table, run page (and ``/api/v1`` reads);
- :mod:`~tracker.server._routes_series`: ``POST /api/series``;
- :mod:`~tracker.server._routes_media`: media, histograms, tables, saved files;
- :mod:`~tracker.server._routes_artifacts`: artifacts, the registry (and ``/api/v1`` versions);
- :mod:`~tracker.server._routes_sweeps`: sweeps (and the ``/api/v1`` sweep endpoints);
- :mod:`~tracker.server._routes_events`: ``GET /api/events`` (SSE);
- :mod:`~tracker.server._routes_pages`: the single-page app, favicon, ``/static/``;
- :mod:`~tracker.server._routes_auth`: login, logout, ``/api/me``, project access (team server);
- :mod:`~tracker.server._routes_ingest`: run-log ingest and blobs (team server).

The team server (``tracker server``) adds the last two and the ``/api/v1`` routers to the
same app with :func:`tracker.server._ingest.install`, :func:`tracker.server._remote.install_remote`
and :func:`tracker.server._blobs.install_blobs`, which call :func:`add_routes` too.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from tracker.storage._base import IndexBackend, StateStore

__all__ = ["LOOPBACK", "add_routes", "build"]

LOOPBACK: Final = ("127.0.0.1", "localhost", "::1", "[::1]")


def add_routes(app: Any, *routers: Any) -> None:
    """Append the routes of ``routers`` to ``app``'s own table, in order, flat.

    Not ``include_router``: recent FastAPI keeps an included router as one nested entry,
    while the gate (:func:`tracker.server._identity.match`) and the route-walking tests
    read each route's ``path_format`` from ``app.router.routes``.
    """
    for router in routers:
        app.router.routes.extend(router.routes)


def dashboard_routes() -> list[Any]:
    """The routes of ``tracker ui``, in matching order (the static mount last)."""
    from tracker.server import (
        _routes_artifacts,
        _routes_events,
        _routes_media,
        _routes_pages,
        _routes_runs,
        _routes_series,
        _routes_sweeps,
    )

    routers = (
        _routes_runs.router,
        _routes_series.router,
        _routes_media.router,
        _routes_artifacts.router,
        _routes_sweeps.router,
        _routes_events.router,
        _routes_pages.router,
    )
    return [*(route for router in routers for route in router.routes), _routes_pages.static_mount()]


def build(
    root: str | os.PathLike[str] | None,
    *,
    token: str | None,
    allowed_hosts: list[str] | None,
    poll_interval: float,
    index: IndexBackend | None = None,
    state: StateStore | None = None,
) -> Any:
    """Build the app (see :func:`tracker.server.create_app`)."""
    from fastapi import FastAPI

    from tracker._version import __version__
    from tracker.server._data import ServerData
    from tracker.server._gate import LocalGuard
    from tracker.server._identity import Identify
    from tracker.server._routes_pages import Page

    app = FastAPI(
        title="tracker dashboard",
        version=__version__,
        routes=dashboard_routes(),
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.data = ServerData(root, index, state)
    app.state.page = Page.load()
    app.state.poll_interval = poll_interval
    hosts = tuple(h.lower() for h in (allowed_hosts or LOOPBACK))
    # Inside the Host/token guard: the request identity (a team server's gate, outside
    # both, parses it first and this finds it done).
    app.add_middleware(Identify, router=app.router)
    app.add_middleware(LocalGuard, token=token, hosts=hosts)
    return app
