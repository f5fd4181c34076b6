"""Projects and runs: the dashboard's runs table and run page (``router``), and the team
server's ``Api()`` reads of runs, history and scans (``v1``, see :mod:`tracker.server._remote`).
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations at runtime.

import functools
import json
import time
from typing import Any

from fastapi import APIRouter, Body, Query, Request  # noqa: TID253 - imported by the app factory only
from fastapi.responses import JSONResponse  # noqa: TID253 - imported by the app factory only

from tracker._naming import LOG_NAME
from tracker.api._filter_text import parse_filter
from tracker.api._remote import rows_to_wire, run_to_wire
from tracker.errors import FilterSyntaxError, StorageError, UsageError
from tracker.server._data import Data, ServerData, guarded, json_response
from tracker.server._paths import inside_root
from tracker.server._remote import (
    MAX_JSON_BODY,
    MAX_PAGE,
    MAX_SCAN_PAGE,
    PREFIX,
    Remote,
    RemoteState,
    access,
    authorize,
    json_arg,
    keys_arg,
    reply,
    revive,
)
from tracker.server._views import clean, is_num, run_row

__all__ = ["router", "v1"]

router = APIRouter()
v1 = APIRouter()

_PR = "/api/projects/{project}"
_RR = _PR + "/runs/{run_id}"
_V1_RR = PREFIX + "/projects/{project}/runs/{run_id}"
_STREAMS = ("default", "events", "system")


# ---------------------------------------------------------------------------- dashboard
@router.get("/api/projects")
def projects(request: Request, data: Data) -> Any:
    """Projects of the data root with their run counts (those the caller may see)."""
    rows = guarded(lambda: _project_rows(data))
    visible = getattr(request.app.state, "visible_projects", None)  # set by tracker.server._gate
    return json_response(rows if visible is None else visible(request, rows))


@router.get(_PR + "/runs")
def runs(data: Data, project: str) -> Any:
    """The runs table of a project: state, name, tags, times, flattened config and summary."""
    return json_response(guarded(lambda: _run_rows(data, project)))


@router.get(_PR + "/keys")
def keys(
    data: Data, project: str, runs: str | None = Query(None, description="comma-separated run ids")
) -> Any:
    """Numeric metric keys of a project's runs (with how many runs logged each)."""
    ids = [r for r in runs.split(",") if r] if runs else None
    return json_response(guarded(lambda: _metric_keys(data, project, ids)))


@router.get(_PR + "/filter")
def filter_runs(
    data: Data, project: str, q: str = Query("", max_length=4096, description="filter text")
) -> Any:
    """The filter box: ``q`` parsed (:mod:`tracker.api._filter_text`) into ``Api``'s filter dict,
    and the ids of the runs it selects; a malformed ``q`` is a 400 ``{detail, position}``."""
    try:
        filters = parse_filter(q)
    except FilterSyntaxError as exc:
        return JSONResponse({"detail": str(exc), "position": exc.position}, status_code=400)
    ids = guarded(lambda: [r.id for r in data.api.runs(project, filters=filters or None)])
    return json_response({"filters": filters, "ids": ids})


def _project_rows(data: ServerData) -> list[dict[str, Any]]:
    return [
        {"name": p.name, "run_count": p.run_count, "last_created": p.last_created}
        for p in data.api.projects()
    ]


def _run_rows(data: ServerData, project: str) -> list[dict[str, Any]]:
    found = data.api.runs(project, order="-created_at")
    records = {r.id: r for r in data.api.index.runs(project)}
    now = time.time()
    return [run_row(run, records.get(run.id), now) for run in found]


def _metric_keys(data: ServerData, project: str, run_ids: list[str] | None) -> list[dict[str, Any]]:
    index = data.api.index
    index.refresh(project)
    ids = run_ids if run_ids is not None else [r.id for r in index.runs(project)]
    found: dict[str, int] = {}
    for run_id in ids:
        for key, info in index.keys(project, run_id).items():
            if info.numeric > 0 and not key.startswith("_"):
                found[key] = found.get(key, 0) + 1
    return [{"key": k, "runs": n} for k, n in sorted(found.items())]


@router.get(_RR)
def run_info(data: Data, project: str, run_id: str) -> Any:
    """One run: row, config, summary, metadata, metric keys, media keys, files."""
    return json_response(guarded(lambda: _run_page(data, project, run_id)))


@router.get(_RR + "/system")
def system(data: Data, project: str, run_id: str) -> Any:
    """System metrics of a run as columns over ``_runtime``."""
    return json_response(guarded(lambda: _system_columns(data, project, run_id)))


@router.get(_RR + "/console")
def console(data: Data, project: str, run_id: str, tail: int = Query(2000, ge=1, le=20000)) -> Any:
    """The last lines of a run's console output."""
    return json_response(guarded(lambda: _console_lines(data, project, run_id, tail)))


def _run_page(data: ServerData, project: str, run_id: str) -> dict[str, Any]:
    from tracker.media._read import media_entries, run_files

    run = data.check_run(project, run_id)
    record = data.api.index.run(project, run_id)
    run_dir = inside_root(data.root, project, run_id)
    keys = data.api.index.keys(project, run_id)
    kinds: dict[str, str] = {}
    try:
        entries = media_entries(run_dir)
        media = {k: len(v) for k, v in entries.items()}
        kinds = {k: str(v[-1].refs[0].get("_type")) for k, v in entries.items() if v and v[-1].refs}
        files = sorted(run_files(run_dir))
    except (StorageError, OSError):
        media, files = {}, []
    return {
        "run": run_row(run, record, time.time()),
        "config": clean(run.config),
        "summary": clean({k: v for k, v in run.summary.items() if not str(k).startswith("_tracker")}),
        "metadata": clean(run.metadata),
        "notes": run.notes,
        "keys": [k for k, info in keys.items() if info.numeric > 0 and not k.startswith("_")],
        "media": media,
        "histograms": sorted(k for k, t in kinds.items() if t == "histogram"),
        "tables": sorted(k for k, t in kinds.items() if t == "table-file"),
        "files": files,
    }


def _system_columns(data: ServerData, project: str, run_id: str) -> dict[str, Any]:
    from tracker.storage._system import system_rows

    rows = system_rows(data.run_dir(project, run_id))
    keys = sorted({k for r in rows for k, v in r.items() if k.startswith("system.") and is_num(v)})
    return {
        "x": [r.get("_runtime") for r in rows],
        "series": {k: [r[k] if is_num(r.get(k)) else None for r in rows] for k in keys},
    }


def _console_lines(data: ServerData, project: str, run_id: str, tail: int) -> dict[str, Any]:
    from tracker.storage._format import read_frames
    from tracker.storage._replay import RunState

    log = data.run_dir(project, run_id) / LOG_NAME
    state = RunState(keep_rows=False)
    state.feed(read_frames(log).records)
    lines = state.console[-tail:]
    return {
        "total": len(state.console),
        "lines": [
            {"ts": ln[0], "stream": "stderr" if ln[1] == 2 else "stdout", "text": ln[2]} for ln in lines
        ],
    }


# ---------------------------------------------------------------------------- /api/v1
def _run_of(remote: RemoteState, request: Any, project: str, run_id: str) -> Any:
    authorize(request, project)
    inside_root(remote.root, project, run_id)  # a run directory linked out of the root: not served
    return remote.api.run(f"{project}/{run_id}")


@v1.post(_V1_RR + "/edit")
def edit_run(
    request: Request,
    remote: Remote,
    project: str,
    run_id: str,
    body: dict[str, Any] = Body(...),  # noqa: B008 - FastAPI's body
) -> Any:
    """Save ``Api`` edits of a run: ``{"name", "tags", "notes", "config", "summary"}`` (each optional;
    config and summary whole, as the client holds them: the difference from the run log is
    what is kept). Needs the editor role. Answers the run as ``GET`` does."""

    def do() -> Any:
        from tracker.api._writeback import diff

        authorize(request, project, write=True)
        _run_of(remote, request, project, run_id)
        if len(json.dumps(body, default=str)) > MAX_JSON_BODY:
            raise UsageError(f"the edit is over {MAX_JSON_BODY} bytes.")
        edit = revive(body)
        unknown = set(edit) - {"name", "tags", "notes", "config", "summary"}
        tags, notes, name = edit.get("tags"), edit.get("notes"), edit.get("name")
        if unknown or not all(isinstance(edit.get(k, {}), dict) for k in ("config", "summary")):
            raise UsageError(
                'send {"name": "...", "tags": [...], "notes": "...", "config": {...}, "summary": {...}}.'
            )
        if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
            raise UsageError("tags must be a list of strings.")
        if notes is not None and not isinstance(notes, str):
            raise UsageError("notes must be a string.")
        if name is not None and (not isinstance(name, str) or not name):
            raise UsageError("name must be a non-empty string.")
        record = remote.api.index.run(project, run_id)
        assert record is not None  # _run_of found it
        remote.api.state.edit_run(
            project,
            run_id,
            tags=tags,
            notes=notes,
            name=name,
            config=None if "config" not in edit else diff(record.config, edit["config"]),
            summary=None if "summary" not in edit else diff(record.summary, edit["summary"]),
        )
        return run_to_wire(_run_of(remote, request, project, run_id))

    return reply(do)


@v1.get(_V1_RR + "/files")
def v1_files(request: Request, remote: Remote, project: str, run_id: str) -> Any:
    """The run's files as ``Api`` ``run.files()`` lists them (standard, media, saved)."""

    def do() -> Any:
        found = _run_of(remote, request, project, run_id).files()
        return {"files": [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in found]}

    return reply(do)


@v1.get(_V1_RR + "/files/{name:path}")
def v1_file(request: Request, remote: Remote, project: str, run_id: str, name: str) -> Any:
    """One file of ``run.files()`` (only names it lists), as an attachment."""
    from starlette.responses import FileResponse, Response

    from tracker.server._routes_media import FILE_HEADERS

    def do() -> Any:
        run = _run_of(remote, request, project, run_id)
        found = {f.name: f for f in run.files()}.get(name)
        if found is None:
            raise StorageError(f"run {project}/{run_id} has no file named {name!r}.")
        headers = {**FILE_HEADERS, "Content-Disposition": "attachment"}
        if found.local is None:
            return Response(found.content(), headers=headers, media_type="application/octet-stream")
        return FileResponse(found.local, headers=headers, media_type="application/octet-stream")

    return reply(do)


@v1.get(PREFIX + "/projects", name="projects")
def v1_projects(request: Request, remote: Remote) -> Any:
    """Projects of the server with their run counts (those the key may read)."""

    def do() -> Any:
        authorize(request, None)
        found = [p for p in remote.api.projects() if access(request, p.name) is None]
        listed = [
            {"name": p.name, "entity": p.entity, "run_count": p.run_count, "last_created": p.last_created}
            for p in found
        ]
        return {"projects": listed}

    return reply(do)


@v1.get(PREFIX + "/projects/{project}/runs", name="runs")
def v1_runs(
    request: Request,
    remote: Remote,
    project: str,
    filters: str | None = Query(None, max_length=65536, description="W&B filter, JSON"),
    order: str = Query("-created_at", max_length=512),
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
) -> Any:
    """Runs of a project: ``Api.runs(filters=..., order=...)`` evaluated here, one page."""

    def do() -> Any:
        authorize(request, project)
        found = remote.api.runs(project, filters=json_arg(filters, "filters"), order=order)
        return {"total": len(found), "runs": [run_to_wire(r) for r in found[offset : offset + limit]]}

    return reply(do)


@v1.get(_V1_RR)
def run(request: Request, remote: Remote, project: str, run_id: str) -> Any:
    """One run: its record (config, summary, times...), state, tags and notes."""
    return reply(lambda: run_to_wire(_run_of(remote, request, project, run_id)))


@v1.get(_V1_RR + "/history")
def history(
    request: Request,
    remote: Remote,
    project: str,
    run_id: str,
    keys: str | None = Query(None, max_length=65536, description="JSON list of keys"),
    samples: int | None = Query(None, ge=1, le=10_000_000),
    x_axis: str = Query("_step", max_length=512),
    stream: str = Query("default", max_length=16),
) -> Any:
    """The rows ``Run.history`` returns (all, or ``samples`` of them, M4-downsampled)."""
    from tracker.api._run import _retry

    def do() -> Any:
        found = _run_of(remote, request, project, run_id)
        if stream not in _STREAMS:
            raise UsageError(f"history(stream={stream!r}): use 'default' or 'events' (alias 'system').")
        key_list = keys_arg(keys)
        rows, out_keys, step = _retry(lambda: found._history_rows(samples, key_list, x_axis, stream))
        return {"rows": rows_to_wire(rows), "keys": out_keys, "step": step}

    return reply(do)


@v1.get(_V1_RR + "/scan")
def scan(
    request: Request,
    remote: Remote,
    project: str,
    run_id: str,
    keys: str | None = Query(None, max_length=65536, description="JSON list of keys"),
    page_size: int = Query(1000, ge=1, le=MAX_SCAN_PAGE),
    min_step: int | None = Query(None),
    max_step: int | None = Query(None),
    cursor: int = Query(0, ge=0, description="row position to continue from (the last page's next)"),
) -> Any:
    """A page of ``Run.scan_history``: row windows from position ``cursor``, and the next cursor.

    Each window holds the selected rows (the history wire format) and the keys of their
    dicts; windows with no row in ``[min_step, max_step)`` are left out.
    """

    def do() -> Any:
        found = _run_of(remote, request, project, run_id)
        record = remote.api.index.run(project, run_id)
        total = record.rows_logged if record is not None else 0
        return _scan_page(found, keys_arg(keys), total, cursor, page_size, (min_step, max_step))

    return reply(do)


def _scan_page(
    found: Any, key_list: list[str] | None, total: int, cursor: int, page_size: int, steps: tuple[Any, Any]
) -> dict[str, Any]:
    import numpy as np

    from tracker.api._run import _retry
    from tracker.storage._ingest import CHUNK_POINTS

    min_step, max_step = steps
    window = max(page_size, CHUNK_POINTS)
    windows: list[dict[str, Any]] = []
    count = 0
    lo = cursor
    while lo < total and count < page_size:
        rows, out_keys = _retry(functools.partial(found._scan_rows, key_list, lo, window))
        lo += window
        inside = np.ones(len(rows), dtype=bool)
        if min_step is not None:
            inside &= rows.step >= min_step
        if max_step is not None:
            inside &= rows.step < max_step
        if inside.any():  # the client applies the step range to the rows it gets
            windows.append({"rows": rows_to_wire(rows), "keys": out_keys})
            count += int(inside.sum())
    return {"windows": windows, "next": lo if lo < total else None}
