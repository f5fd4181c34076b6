"""Team-server endpoints for ``Api()`` and for sweep agents on other machines: shared parts.

Everything is under ``/api/v1/``, addressed by project name, run id, artifact name and
sweep id (each validated); no client-supplied path is ever opened. Reads run the local
read side (:class:`tracker.api.Api`) on the server's data root, so filters, order and
history selection mean exactly what they mean locally; filters are JSON evaluated in
Python by :mod:`tracker.api._filters`, never turned into SQL. Bodies use the wire format
of :mod:`tracker._client` (non-finite floats tagged).

=====  ==========================================================  =================
GET    ``/projects``                                               projects
GET    ``/projects/{p}/runs?filters=&order=&offset=&limit=``       ``Api.runs``, paged
GET    ``/projects/{p}/runs/{id}``                                 ``Api.run``
GET    ``/projects/{p}/runs/{id}/history?keys=&samples=&x_axis=``  selected rows
GET    ``/projects/{p}/runs/{id}/scan?keys=&min_step=&cursor=``    ``scan_history`` pages
GET    ``/projects/{p}/artifacts``                                 artifacts
GET    ``/projects/{p}/artifacts/{name}/versions[/{ref}]``         versions (metadata)
GET    ``/projects/{p}/artifacts/{name}/versions/{ref}/manifest``  files: paths, sizes, digests
GET    ``/projects/{p}/artifacts/{name}/versions/{ref}/files/{f}``  one file's bytes
POST   ``/sweeps``                                                 create a sweep
GET    ``/sweeps/{id}``                                            a sweep's record
POST   ``/sweeps/{id}/state``                                      pause, resume, stop...
POST   ``/sweeps/{id}/next``                                       claim the next run
GET    ``/sweeps/{id}/observations``                               runs, for hyperband
=====  ==========================================================  =================

``next`` runs the sweep's controller here, on the server, under the state store's
exactly-once claims: agents on any number of machines never get the same grid point or
run number. The run id is chosen by the server when it claims, so the claim already
names the run and the agent needs no second call to report it.

Artifact files: ``files/{f}`` looks ``f`` up in the version's manifest (never a path on
disk; ``..``, absolute paths, backslashes and NUL are refused) and streams the blob of
that digest from the object store (:mod:`tracker.server._blobs`), or from the data
root's own blob store for versions logged on the server host. The bytes are sent as
stored: the client checks each file against the manifest's digest.

The endpoints are module-level functions in the area routers (``v1`` of
:mod:`~tracker.server._routes_runs`, :mod:`~tracker.server._routes_artifacts` and
:mod:`~tracker.server._routes_sweeps`); :func:`install_remote` adds them to an app and
puts the :class:`RemoteState` they read (``remote: Remote``) on ``app.state``. They
answer through :func:`reply`, the one error map of these endpoints.

Access: the server's gate (:mod:`tracker.server._gate`) has already found the caller and,
for routes with a ``{project}``, checked their role there. :func:`access` is the one place
these endpoints check again where the project comes from their own input (a sweep's
record, the project list): reads need viewer, sweep changes editor.
"""

# No ``from __future__ import annotations``: FastAPI reads the ``Remote`` annotation at runtime.

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import Depends, Request  # noqa: TID253 - imported by the app factory only
from starlette.responses import Response  # noqa: TID253 - imported by the app factory only

from tracker._client import dumps, loads
from tracker.errors import (
    Error,
    MissingExtraError,
    RunNotFoundError,
    StorageError,
    SweepConfigError,
    UsageError,
)

__all__ = ["Remote", "RemoteState", "access", "install_remote", "reply"]

PREFIX: Final = "/api/v1"
#: Largest JSON body of a sweep request.
MAX_JSON_BODY: Final = 1024 * 1024
MAX_PAGE: Final = 1000
MAX_SCAN_PAGE: Final = 100_000


class RefusedError(Exception):
    """Access refused by :func:`authorize`: answered ``status`` with ``{"detail": ...}``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


@dataclass(frozen=True)
class RemoteState:
    """What the ``/api/v1`` endpoints read: the dashboard's Api and the server's data root."""

    api: Any
    root: Path


async def remote_state(request: Request) -> RemoteState:
    """The app's :class:`RemoteState` (a dependency: ``async``, so it costs no thread hop)."""
    found: RemoteState = request.app.state.remote
    return found


#: An endpoint parameter receiving the app's :class:`RemoteState`.
Remote = Annotated[RemoteState, Depends(remote_state)]


def access(request: Any, project: str | None, *, write: bool = False) -> tuple[int, str] | None:
    """Why the request's caller may not do this, as ``(status, message)``; None when they may.

    The one place these endpoints decide access; it asks the server's gate
    (:func:`tracker.server._gate.refusal`): reads need the viewer role on ``project``,
    changes (a sweep created, claimed or stopped) the editor role.

    Args:
        request: The request (its scope carries the caller the gate found).
        project: The project touched (None: the caller and their key's cap only).
        write: True for a change.
    """
    from tracker.server._gate import refusal

    return refusal(request, project, "editor" if write else "viewer")


def authorize(request: Any, project: str | None, *, write: bool = False) -> None:
    """Raise :class:`RefusedError` unless :func:`access` allows it."""
    problem = access(request, project, write=write)
    if problem is not None:
        raise RefusedError(*problem)


def reply(fn: Callable[[], Any]) -> Any:
    """``fn()`` in the wire format, its errors mapped to a status and ``{"detail", "error", ...}``."""
    status = 200
    try:
        data = fn()
    except RefusedError as exc:
        status, data = exc.status, {"detail": str(exc)}
    except RunNotFoundError as exc:
        status, data = 404, {"detail": str(exc), "error": "RunNotFoundError", "run_id": exc.run_id}
    except SweepConfigError as exc:
        status, data = 400, {"detail": str(exc), "error": "SweepConfigError", "problems": exc.problems}
    except UsageError as exc:
        status, data = 400, {"detail": str(exc), "error": "UsageError"}
    except MissingExtraError as exc:
        status, data = 501, {"detail": str(exc), "error": "MissingExtraError"}
    except StorageError as exc:
        status, data = 404, {"detail": str(exc), "error": "StorageError"}
    except Error as exc:
        status, data = 500, {"detail": str(exc), "error": type(exc).__name__}
    if isinstance(data, Response):  # a file, streamed
        return data
    return Response(dumps(data), status_code=status, media_type="application/json")


def json_arg(raw: str | None, name: str) -> Any:
    """The JSON query parameter ``name`` (None: not given)."""
    if raw is None:
        return None
    try:
        return loads(raw)
    except ValueError:
        raise UsageError(f"{name}: not valid JSON.") from None
    except RecursionError:
        raise UsageError(f"{name}: nested too deeply.") from None


def keys_arg(raw: str | None) -> list[str] | None:
    """The ``keys`` query parameter: a JSON list of key names, deduplicated in order."""
    keys = json_arg(raw, "keys")
    if keys is None:
        return None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise UsageError(f"keys={raw!r}: use a JSON list of key names.")
    return list(dict.fromkeys(keys))


def revive(value: Any) -> Any:
    """The config as sent (the body was parsed as plain JSON: tagged floats become floats again)."""
    return loads(json.dumps(value))


def install_remote(app: Any, root: str | os.PathLike[str]) -> None:
    """Add the ``Api()`` read endpoints and the sweep endpoints to the server ``app``.

    Args:
        app: The app from :func:`tracker.server.create_app` with the key middleware of
            :func:`tracker.server._ingest.install` (before it starts).
        root: The server's data root.
    """
    from tracker.api import Api
    from tracker.server import _routes_artifacts, _routes_runs, _routes_sweeps
    from tracker.server._app import add_routes

    # The dashboard's Api: the server's own index and state store (PostgreSQL with --db).
    data = getattr(app.state, "data", None)
    api = data.api if data is not None else Api(root)
    app.state.remote = RemoteState(api, Path(root))
    add_routes(app, _routes_runs.v1, _routes_artifacts.v1, _routes_sweeps.v1)
