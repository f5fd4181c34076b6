"""Series: ``POST /api/series``, the charts' bucketed or raw points (:mod:`tracker.server._series`)."""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations at runtime.

from typing import Any

from fastapi import APIRouter, Body, Request  # noqa: TID253 - imported by the app factory only
from starlette.responses import Response  # noqa: TID253 - imported by the app factory only

from tracker.server._data import Data, guarded
from tracker.server._identity import identity_of
from tracker.server._series import encode_binary, encode_json

__all__ = ["router"]

router = APIRouter()


@router.post("/api/series")
def series(request: Request, data: Data, body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008 - FastAPI's body
    """Bucketed (first/min/max/last) or raw points of (run, key) pairs on one shared x grid.

    Body: ``{project, runs: [id], keys: [key], x: "_step"|"_runtime"|"_timestamp"|key,
    x_min, x_max, buckets, format: "json"|"binary"}``. ``binary`` answers
    ``application/octet-stream``: a uint32 header length, a JSON header, float64 arrays
    (see ``tracker.server._series``).
    """
    # The project the gate checked (tracker.server._identity), not a second parse.
    body = {**body, "project": identity_of(request).project}
    result = guarded(lambda: data.reader.series(body))
    if body.get("format") == "binary":
        return Response(encode_binary(result), media_type="application/octet-stream")
    return Response(encode_json(result), media_type="application/json")
