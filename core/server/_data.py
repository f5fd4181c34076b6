"""What the dashboard's endpoints read, and how they get it: ``request.app.state.data``.

:class:`ServerData` is built once per app by the factory (:mod:`tracker.server._app`):
one :class:`~tracker.api.Api` over the data root (the index keeps a connection per
thread), the series reader and its cache, and the per-run index locks. Endpoints take it
as a dependency (``data: Data``) instead of closing over it, and answer through
:func:`guarded` (the dashboard's error map) and :func:`json_response`.
"""

# No ``from __future__ import annotations``: FastAPI reads the ``Data`` annotation at runtime.

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request  # noqa: TID253 - imported by the app factory only
from starlette.responses import Response  # noqa: TID253 - imported by the app factory only

from tracker._naming import NAME_RE
from tracker.errors import RunNotFoundError, StorageError, UsageError
from tracker.server._paths import inside_root
from tracker.server._series import SeriesReader, encode_json

if TYPE_CHECKING:
    from tracker.storage._base import IndexBackend, StateStore

__all__ = ["Data", "ServerData", "check_project", "guarded", "json_response", "server_data"]


class ServerData:
    """Reads for the endpoints (one Api per app; the index keeps a connection per thread)."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None,
        index: "IndexBackend | None" = None,
        state: "StateStore | None" = None,
    ) -> None:
        from tracker.api import Api

        if root is not None and index is None and state is None:
            from tracker._settings import data_root

            data_root(root).mkdir(parents=True, exist_ok=True)  # Api(root) refuses a missing root
        self.api = Api(root, index=index, state=state)
        self.api._strict_projects = False  # an unknown project is an empty page, not an error
        self.root = self.api.root
        self.reader = SeriesReader(self.api)
        # Index refreshes take one lock per run, never one for the whole index: a read
        # never waits for another run's indexing (tracker.server._refresh).
        from tracker.server._refresh import RunLocks

        #: The per-run index locks of this server (the ingest indexer takes them too).
        self.run_locks = RunLocks(self.api.index)

    def run_dir(self, project: str, run_id: str) -> Path:
        """The directory of a run the index knows, inside the data root."""
        self.check_run(project, run_id)
        return inside_root(self.root, project, run_id)

    def check_run(self, project: str, run_id: str) -> Any:
        """The run (raises :class:`RunNotFoundError` when the index has none)."""
        return self.api.run(f"{project}/{run_id}")

    def series(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/series`` as plain JSON-ready data (the endpoint encodes the arrays itself)."""
        listed: dict[str, Any] = json.loads(encode_json(self.reader.series(body)))
        return listed


async def server_data(request: Request) -> ServerData:
    """The app's :class:`ServerData` (a dependency: ``async``, so it costs no thread hop)."""
    found: ServerData = request.app.state.data
    return found


#: An endpoint parameter receiving the app's :class:`ServerData`.
Data = Annotated[ServerData, Depends(server_data)]


def guarded(fn: Callable[[], Any]) -> Any:
    """``fn()``, its errors as the dashboard answers them: 404 (no such run or data) or 400."""
    try:
        return fn()
    except RunNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except UsageError as exc:
        raise HTTPException(400, str(exc)) from None
    except StorageError as exc:
        raise HTTPException(404, str(exc)) from None


def json_response(data: Any) -> Any:
    """Compact JSON (no NaN: values went through :func:`tracker.server._views.clean`)."""
    return Response(
        json.dumps(data, separators=(",", ":"), allow_nan=False, default=str).encode(),
        media_type="application/json",
    )


def check_project(name: Any) -> str:
    """``name`` if it is a valid project name (else :class:`UsageError`: a 400)."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UsageError(f"{name!r} is not a valid project name.")
    return name
