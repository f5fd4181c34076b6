"""Events: ``GET /api/events?project=``, the live stream (SSE) of a project's changed runs."""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations at runtime.

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request  # noqa: TID253 - imported by the app factory only
from starlette.concurrency import run_in_threadpool  # noqa: TID253 - imported by the app factory only
from starlette.responses import StreamingResponse  # noqa: TID253 - imported by the app factory only

from tracker.errors import StorageError, UsageError
from tracker.server._data import Data, ServerData, check_project, guarded
from tracker.server._identity import identity_of
from tracker.server._views import clean, run_row

__all__ = ["router"]

router = APIRouter()


@router.get("/api/events")
async def events(request: Request, data: Data, project: str) -> Any:
    """Server-sent events: the rows of runs that changed (all runs in the first event)."""
    # ``project`` is declared for the schema; the one streamed is the one the gate
    # checked (tracker.server._identity: a repeated ?project= never gets here).
    project = guarded(lambda: check_project(identity_of(request).project))
    return StreamingResponse(
        _stream(request, data, project, request.app.state.poll_interval),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _stream(
    request: Request, data: ServerData, project: str, poll_interval: float
) -> AsyncIterator[bytes]:
    seen: dict[str, Any] = {}
    last_ping = time.monotonic()
    yield b"retry: 2000\n\n"
    while not await request.is_disconnected():
        try:
            snap = await run_in_threadpool(_snapshot, data, project)
        except (StorageError, UsageError):
            snap = {}
        changed = [v["row"] for k, v in snap.items() if seen.get(k) != v["version"]]
        removed = [k for k in seen if k not in snap]
        seen = {k: v["version"] for k, v in snap.items()}
        if changed or removed:
            payload = json.dumps({"runs": clean(changed), "removed": removed}, separators=(",", ":"))
            yield f"event: runs\ndata: {payload}\n\n".encode()
            last_ping = time.monotonic()
        elif time.monotonic() - last_ping > 15:
            yield b": ping\n\n"
            last_ping = time.monotonic()
        await asyncio.sleep(poll_interval)


def _snapshot(data: ServerData, project: str) -> dict[str, dict[str, Any]]:
    """Each run's row and the version that says whether it changed since the last poll."""
    runs = data.api.runs(project)
    records = {r.id: r for r in data.api.index.runs(project)}
    now = time.time()
    out = {}
    for run in runs:
        record = records.get(run.id)
        out[run.id] = {
            "version": (
                run.state,
                record.rows_logged if record else 0,
                record.max_step if record else -1,
                run.name,
                tuple(run.tags),
            ),
            "row": run_row(run, record, now),
        }
    return out
