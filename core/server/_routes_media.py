"""Media and files of a run: media steps and items, histograms over time, tables, saved files.

Files are found through the run's own records and resolved inside its ``media/`` or
``files/`` folder (:func:`tracker.server._paths.served`); no path from the URL is opened.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations at runtime.

import functools
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, Query  # noqa: TID253 - imported by the app factory only
from starlette.responses import FileResponse  # noqa: TID253 - imported by the app factory only

from tracker.errors import RunNotFoundError
from tracker.server._data import Data, ServerData, guarded, json_response
from tracker.server._paths import served
from tracker.server._views import clean, rebin

__all__ = ["router"]

router = APIRouter()

_RR: Final = "/api/projects/{project}/runs/{run_id}"
#: Headers of a served file: sandboxed, never sniffed (an SVG or HTML file runs no script).
FILE_HEADERS: Final = {
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; "
    "style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


@router.get(_RR + "/media/{key:path}/steps")
def media(data: Data, project: str, run_id: str, key: str) -> Any:
    """The logged steps of a media key (the step slider's positions)."""
    return json_response(guarded(lambda: _media_steps(data, project, run_id, key)))


@router.get(_RR + "/media/{key:path}/at/{step:int}/{item:int}")
def media_file(data: Data, project: str, run_id: str, key: str, step: int, item: int) -> Any:
    """The file of one media item, found through the run's records."""
    path = guarded(lambda: _media_path(data, project, run_id, key, step, item))
    return FileResponse(path, headers=FILE_HEADERS)


@router.get(_RR + "/histograms/{key:path}")
def histograms(
    data: Data,
    project: str,
    run_id: str,
    key: str,
    rows: int = Query(64, ge=2, le=512),
    steps: int = Query(500, ge=1, le=5000),
) -> Any:
    """A histogram key over time: counts per step on one shared value grid (a heatmap)."""
    return json_response(guarded(lambda: _heatmap(data, project, run_id, key, rows, steps)))


@router.get(_RR + "/tables/{key:path}")
def table(
    data: Data,
    project: str,
    run_id: str,
    key: str,
    step: int | None = Query(None),
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    """The first rows (100 by default) of a table logged under ``key`` at ``step`` (default: last)."""
    return json_response(guarded(lambda: _table_rows(data, project, run_id, key, step, limit)))


@router.get(_RR + "/files/{name:path}")
def run_file(data: Data, project: str, run_id: str, name: str) -> Any:
    """A file saved by ``run.save()`` (only names the run recorded)."""
    path = guarded(lambda: _saved_path(data, project, run_id, name))
    return FileResponse(path, headers=FILE_HEADERS, content_disposition_type="attachment")


def _media_steps(data: ServerData, project: str, run_id: str, key: str) -> dict[str, Any]:
    from tracker.media._read import media_entries

    entries = media_entries(data.run_dir(project, run_id), keys=[key]).get(key, [])
    steps = []
    for e in entries:
        items = [
            {"type": r.get("_type"), "caption": r.get("caption"), "index": i, "format": r.get("format")}
            for i, r in enumerate(e.refs)
        ]
        steps.append({"step": e.step, "items": items})
    return {"key": key, "steps": steps}


def _heatmap(
    data: ServerData, project: str, run_id: str, key: str, rows: int, max_steps: int
) -> dict[str, Any]:
    """A histogram key over time: counts per step re-binned onto one shared value grid.

    Each step's counts are spread over the ``rows`` equal bins between the smallest and
    largest edge of all steps, in proportion to overlap (the heatmap's columns).
    Past ``max_steps`` logged steps, an evenly spaced subset (always with the last).
    """
    import numpy as np

    hists = _histograms(data.run_dir(project, run_id), key)
    total = len(hists)
    if total > max_steps:
        picks = np.unique(np.linspace(0, total - 1, max_steps).round().astype(int))
        hists = [hists[i] for i in picks]
    if not hists:
        return {"key": key, "steps": [], "total_steps": 0, "lo": None, "hi": None, "rows": rows, "counts": []}
    lo = min(float(b[0]) for _, _, b in hists)
    hi = max(float(b[-1]) for _, _, b in hists)
    if hi <= lo:
        hi = lo + 1.0
    out = rebin([(c, b) for _, c, b in hists], lo, hi, rows)
    steps = [s for s, _, _ in hists]
    return {"key": key, "steps": steps, "total_steps": total, "lo": lo, "hi": hi, "rows": rows, "counts": out}


def _histograms(run_dir: Path, key: str) -> list[tuple[int, Any, Any]]:
    """``(step, counts, edges)`` of each well-formed histogram logged under ``key``."""
    import numpy as np

    from tracker.media._read import media_entries, read_histogram

    hists = []
    for e in media_entries(run_dir, keys=[key]).get(key, []):
        ref = e.refs[0]
        if ref.get("_type") != "histogram":
            continue
        counts, edges = read_histogram(ref)
        c = np.asarray(counts, dtype=np.float64)
        b = np.asarray(edges, dtype=np.float64)
        if len(b) == len(c) + 1 and len(c) and np.isfinite(b).all():
            hists.append((e.step, c, b))
    return hists


def _table_rows(
    data: ServerData, project: str, run_id: str, key: str, step: int | None, limit: int
) -> dict[str, Any]:
    """The first ``limit`` rows of a ``tracker.Table`` logged under ``key`` (the last step by default)."""
    from tracker.media._read import media_entries, read_table

    run_dir = data.run_dir(project, run_id)
    entries = [
        e for e in media_entries(run_dir, keys=[key]).get(key, []) if e.refs[0].get("_type") == "table-file"
    ]
    if not entries:
        raise RunNotFoundError(f"run {run_id!r} logged no table {key!r}.", run_id=run_id)
    chosen = entries[-1]
    if step is not None:
        found = [e for e in entries if e.step == step]
        if not found:
            raise RunNotFoundError(f"no table {key!r} at step {step} in run {run_id!r}.", run_id=run_id)
        chosen = found[-1]
    payload = read_table(run_dir, chosen.refs[0], pandas=False)
    rows = payload.get("data") or []
    return {
        "key": key,
        "steps": [e.step for e in entries],
        "step": chosen.step,
        "columns": [str(c) for c in payload.get("columns") or []],
        "total": len(rows),
        "rows": clean(rows[:limit]),
    }


def _media_path(data: ServerData, project: str, run_id: str, key: str, step: int, item: int) -> Path:
    from tracker.media._read import media_entries
    from tracker.server._blobs import resolve  # fetches files uploaded to the object store

    run_dir = data.run_dir(project, run_id)
    for e in media_entries(run_dir, keys=[key]).get(key, []):
        if e.step == step:
            refs = e.refs
            if 0 <= item < len(refs):
                ref = refs[item]
                rel = ref.get("path") if isinstance(ref, dict) else None
                return served(run_dir, "media", rel, functools.partial(resolve, run_dir, ref))
    raise RunNotFoundError(f"no media {key!r} at step {step} in run {run_id!r}.", run_id=run_id)


def _saved_path(data: ServerData, project: str, run_id: str, name: str) -> Path:
    from tracker.media._read import run_files
    from tracker.server._blobs import resolve  # fetches files uploaded to the object store

    run_dir = data.run_dir(project, run_id)
    if name not in run_files(run_dir):
        raise RunNotFoundError(f"run {run_id!r} saved no file {name!r}.", run_id=run_id)
    return served(run_dir, "files", f"files/{name}", lambda: resolve(run_dir, "files/" + name))
