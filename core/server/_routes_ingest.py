"""Ingest and blobs (team server): run logs by offset (``logs``, :mod:`tracker.server._ingest`),
and content-addressed blobs, run-file links and artifact versions (``blobs``,
:mod:`tracker.server._blobs`). The module docstrings there describe each endpoint's contract.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations at runtime.

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request  # noqa: TID253 - imported by the app factory only
from fastapi.responses import JSONResponse, Response  # noqa: TID253 - imported by the app factory only
from starlette.concurrency import run_in_threadpool  # noqa: TID253 - imported by the app factory only
from starlette.requests import ClientDisconnect  # noqa: TID253 - imported by the app factory only

from tracker.errors import StorageError, UsageError
from tracker.server._blob_owners import BlobOwners
from tracker.server._blobs import (
    MAX_JSON,
    BlobState,
    allow,
    check_run_path,
    check_sha,
    link,
    read_links,
    run_dir,
)
from tracker.server._blobs import _artifact as post_version
from tracker.server._ingest import PREFIX, IngestState, RefusedError, check_version
from tracker.storage._format import FORMAT_VERSION
from tracker.storage._objects import blob_key

__all__ = ["blobs", "logs"]

logs = APIRouter()
blobs = APIRouter()


async def ingest_state(request: Request) -> IngestState:
    """The app's :class:`IngestState` (a dependency: ``async``, so it costs no thread hop)."""
    found: IngestState = request.app.state.ingest
    return found


async def blob_state(request: Request) -> BlobState:
    """The app's :class:`BlobState` (a dependency: ``async``, so it costs no thread hop)."""
    found: BlobState = request.app.state.blobs
    return found


Ingest = Annotated[IngestState, Depends(ingest_state)]
Blobs = Annotated[BlobState, Depends(blob_state)]


def _refused(exc: RefusedError) -> Any:
    return JSONResponse(exc.data, status_code=exc.status)


async def _body(request: Request, limit: int, what: str = "batches") -> bytes:
    """The request's body, at most ``limit`` bytes (413 past it, before or while reading)."""
    too_big = RefusedError(413, {"detail": f"request body over {limit} bytes; send smaller {what}"})
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise too_big
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------------------- run logs
def _answer(fn: Callable[[], Any]) -> Any:
    try:
        return JSONResponse(fn())
    except RefusedError as exc:
        return _refused(exc)
    except StorageError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=500)


@logs.get(PREFIX + "{project}/{run_id}/log/offset")
def get_offset(ingest: Ingest, project: str, run_id: str) -> Any:
    return _answer(lambda: {"offset": ingest.logs.offset(project, run_id), "format_version": FORMAT_VERSION})


async def put_log(request: Request, ingest: Ingest, project: str, run_id: str, offset: int) -> Any:
    try:
        check_version(request.headers)
        ingest.logs.path(project, run_id)
        body = await _body(request, ingest.max_body)
    except RefusedError as exc:
        return _refused(exc)

    def do() -> dict[str, Any]:
        end, appended = ingest.append(project, run_id, offset, body)
        return {"offset": end, "appended": appended}

    return await run_in_threadpool(_answer, do)


for _method in ("PUT", "POST"):  # one route each: one OpenAPI operation id each
    logs.add_api_route(PREFIX + "{project}/{run_id}/log", put_log, methods=[_method])


# ---------------------------------------------------------------------------- blobs
def _caller(request: Request) -> tuple[Any, BlobOwners]:
    """The signed-in caller (None: a server without accounts) and the blob records."""
    who = (request.scope.get("state") or {}).get("principal")
    return who, BlobOwners(getattr(request.app.state, "auth", None))


async def _run(fn: Callable[[], Any]) -> Any:
    def call() -> Any:
        try:
            return JSONResponse(fn())
        except RefusedError as exc:
            return _refused(exc)
        except UsageError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        except StorageError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=503)

    return await run_in_threadpool(call)


async def _part(request: Request, limit: int) -> bytes:
    """A blob part's body (a client gone before the end: 400, nothing kept)."""
    try:
        return await _body(request, limit, "parts")
    except ClientDisconnect:  # a cut upload: nothing of it is kept
        raise RefusedError(400, {"detail": "the client went away before the body was complete"}) from None


@blobs.head("/api/v1/blobs/{sha256}")
async def head_blob(request: Request, state: Blobs, sha256: str) -> Any:
    return await _head(request, state, sha256, None)


@blobs.head("/api/v1/projects/{project}/blobs/{sha256}")
async def head_project_blob(request: Request, state: Blobs, project: str, sha256: str) -> Any:
    return await _head(request, state, sha256, project)  # the gate checked read access to project


async def _head(request: Request, state: BlobState, sha256: str, project: str | None) -> Any:
    try:
        allow(request, write=False)
        key = blob_key(check_sha(sha256))
    except RefusedError as exc:
        return Response(status_code=exc.status)
    who, owners = _caller(request)

    def size() -> int | None:
        if sha256 not in owners.usable(who, [sha256], project):
            return None
        return state.store.size(key) if state.store.exists(key) else None

    try:
        n = await run_in_threadpool(size)
    except StorageError:
        return Response(status_code=503)
    if n is None:
        return Response(status_code=404)
    return Response(status_code=200, headers={"content-length": str(n), "x-blob-size": str(n)})


@blobs.put("/api/v1/blobs/{sha256}")
async def put_blob(request: Request, state: Blobs, sha256: str, offset: int, size: int) -> Any:
    try:
        allow(request, write=True)
        check_sha(sha256)
        if size > state.max_blob:
            raise RefusedError(
                413, {"detail": f"blob of {size} bytes is over this server's limit of {state.max_blob}"}
            )
        body = await _part(request, state.max_body)
    except RefusedError as exc:
        return _refused(exc)
    who, owners = _caller(request)

    def do() -> dict[str, Any]:
        usable = lambda: sha256 in owners.usable(who, [sha256])  # noqa: E731
        answer, proved = state.uploads.put(sha256, offset, size, body, who, usable)
        if proved and who is not None:
            owners.uploaded(sha256, who.user)
        return answer

    return await _run(do)


@blobs.get("/api/v1/uploads/{sha256}")
async def get_upload(request: Request, state: Blobs, sha256: str) -> Any:
    try:
        allow(request, write=False)
        key = blob_key(check_sha(sha256))
    except RefusedError as exc:
        return _refused(exc)
    who, owners = _caller(request)

    def do() -> dict[str, Any]:
        if state.store.exists(key) and sha256 in owners.usable(who, [sha256]):
            return {"offset": state.store.size(key), "complete": True}
        return {"offset": state.uploads.staged(sha256, who), "complete": False}

    return await _run(do)


@blobs.get("/api/v1/runs/{project}/{run_id}/files")
async def get_links(request: Request, state: Blobs, project: str, run_id: str) -> Any:
    try:
        allow(request, write=False)
        found = run_dir(state.root, project, run_id)
    except RefusedError as exc:
        return _refused(exc)
    return await _run(lambda: {"files": read_links(found)})


@blobs.put("/api/v1/runs/{project}/{run_id}/files/{path:path}")
async def put_link(request: Request, state: Blobs, project: str, run_id: str, path: str) -> Any:
    try:
        allow(request, write=True)
        target = run_dir(state.root, project, run_id)
        check_run_path(path)
        raw = await _part(request, 4096)
        try:
            sha = check_sha(json.loads(raw).get("sha256"))
        except (ValueError, AttributeError):
            raise RefusedError(400, {"detail": 'send {"sha256": "<hex>"}'}) from None
    except RefusedError as exc:
        return _refused(exc)
    who, owners = _caller(request)

    def do() -> dict[str, Any]:
        if sha not in owners.usable(who, [sha]):  # as if it were not there: no oracle
            raise RefusedError(409, {"missing": [sha], "detail": f"upload blob {sha} before linking {path}"})
        linked = link(state.store, target, path, sha)
        owners.referenced([sha], project)
        return {"path": path, "sha256": sha, "linked": linked}

    return await _run(do)


@blobs.post("/api/v1/artifacts/{project}/{name}")
async def post_artifact(request: Request, state: Blobs, project: str, name: str) -> Any:
    try:
        allow(request, write=True)
        raw = await _part(request, min(state.max_body, MAX_JSON))
        try:
            body = json.loads(raw)
        except ValueError:
            raise RefusedError(400, {"detail": "the body is not JSON"}) from None
    except RefusedError as exc:
        return _refused(exc)
    who, owners = _caller(request)
    return await _run(
        lambda: post_version(
            state.root, state.store, state.state(), project, name, body,
            who=who, owners=owners, allow_private=state.allow_private,
        )
    )  # fmt: skip
