"""The dashboard's FastAPI app: JSON API, live stream (SSE) and the static single-page app.

Data is addressed by project name, run id and metric key, all checked against what the
index holds; no client-supplied filesystem path is ever opened (media and files are
looked up in the run's own records, then resolved inside the run directory).
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations of
# functions defined inside build(), which string annotations could not resolve.

import asyncio
import functools
import hashlib
import hmac
import json
import math
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracker._naming import LOG_NAME, NAME_RE
from tracker.errors import RunNotFoundError, StorageError, UsageError
from tracker.server._paths import inside_root, served
from tracker.server._series import SeriesReader, encode_binary, encode_json

if TYPE_CHECKING:
    from tracker.storage._base import IndexBackend, StateStore

__all__ = ["build"]

STATIC: Final = Path(__file__).parent / "static"
LOOPBACK: Final = ("127.0.0.1", "localhost", "::1", "[::1]")
#: A Host header: a host name (``_`` allowed: container service names) or IPv4 address, or
#: an IPv6 address in brackets; an optional port of digits.
_HOST_RE: Final = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9_][a-z0-9_.-]{0,252})(?::[0-9]{1,5})?")
#: Entries of an artifact version listed by the API (the count says how many there are).
MAX_FILES: Final = 5000


def _json(data: Any) -> Any:
    from starlette.responses import Response

    return Response(
        json.dumps(data, separators=(",", ":"), allow_nan=False, default=str).encode(),
        media_type="application/json",
    )


def _clean(value: Any, depth: int = 0) -> Any:
    """JSON-safe copy: non-finite floats become strings, unknown objects their repr."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if depth > 20:
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v, depth + 1) for v in value]
    return repr(value)


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """Flatten nested dicts to dotted keys, keeping scalars only (table columns)."""
    if isinstance(value, dict):
        if "_type" in value:  # media reference: not a column value
            return
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, float):
        out[prefix] = value if math.isfinite(value) else str(value)
    elif value is None or isinstance(value, (bool, int, str)):
        out[prefix] = value
    elif isinstance(value, (list, tuple)) and len(value) <= 16:
        out[prefix] = json.dumps(_clean(value))


class _Guard:
    """ASGI middleware: Host check, Origin check, per-launch token (cookie, header or query)."""

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
        from urllib.parse import parse_qs, urlsplit

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
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = (query.get("token") or [""])[0]
        from_query = bool(given)
        if not given:
            given = headers.get("x-tracker-token", "")
        if not given:
            for part in headers.get("cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == self.cookie:
                    given = value
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            await _refuse(send, 401, "Missing or wrong token: open the URL printed by `tracker ui`.")
            return
        if not from_query:
            await self.app(scope, receive, send)
            return
        cookie = f"{self.cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict"

        async def send_cookie(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, send_cookie)


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


class _Data:
    """Reads for the endpoints (one Api per app; the index keeps a connection per thread)."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None,
        index: "IndexBackend | None" = None,
        state: "StateStore | None" = None,
    ) -> None:
        from tracker.api import Api

        self.api = Api(root, index=index, state=state)
        self.root = self.api.root
        self.reader = SeriesReader(self.api)
        # Index refreshes take one lock per run, never one for the whole index: a read
        # never waits for another run's indexing (tracker.server._refresh).
        from tracker.server._refresh import RunLocks

        #: The per-run index locks of this server (the ingest indexer takes them too).
        self.run_locks = RunLocks(self.api.index)
        self._lock = threading.Lock()

    def run_dir(self, project: str, run_id: str) -> Path:
        self.check_run(project, run_id)
        return inside_root(self.root, project, run_id)

    def check_run(self, project: str, run_id: str) -> Any:
        return self.api.run(f"{project}/{run_id}")

    def projects(self) -> list[dict[str, Any]]:
        return [
            {"name": p.name, "run_count": p.run_count, "last_created": p.last_created}
            for p in self.api.projects()
        ]

    def runs(self, project: str) -> list[dict[str, Any]]:
        runs = self.api.runs(project, order="-created_at")
        records = {r.id: r for r in self.api.index.runs(project)}
        now = time.time()
        return [self.row(run, records.get(run.id), now) for run in runs]

    @staticmethod
    def row(run: Any, record: Any, now: float) -> dict[str, Any]:
        created = record.created_at if record is not None else None
        last = record.last_time if record is not None else None
        if record is not None and run.state != "running" and record.runtime is not None:
            duration: float | None = float(record.runtime)
        elif created is not None and last is not None:
            duration = max(0.0, (now if run.state == "running" else last) - created)
        else:
            duration = None
        config: dict[str, Any] = {}
        _flat("", {k: v for k, v in run.config.items() if not str(k).startswith("_")}, config)
        summary: dict[str, Any] = {}
        _flat("", {k: v for k, v in run.summary.items() if not str(k).startswith("_tracker")}, summary)
        return {
            "id": run.id,
            "name": run.name,
            "state": run.state,
            "tags": list(run.tags),
            "group": run.group,
            "created": created,
            "heartbeat": last,
            "duration": duration,
            "max_step": record.max_step if record is not None else -1,
            "config": config,
            "summary": summary,
            "problems": list(getattr(run, "problems", ())),  # a corrupt record or gap of its log
        }

    def keys(self, project: str, run_ids: list[str] | None) -> list[dict[str, Any]]:
        index = self.api.index
        index.refresh(project)
        ids = run_ids if run_ids is not None else [r.id for r in index.runs(project)]
        found: dict[str, int] = {}
        for run_id in ids:
            for key, info in index.keys(project, run_id).items():
                if info.numeric > 0 and not key.startswith("_"):
                    found[key] = found.get(key, 0) + 1
        return [{"key": k, "runs": n} for k, n in sorted(found.items())]

    def series(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/series`` as plain JSON-ready data (the endpoint encodes the arrays itself)."""
        listed: dict[str, Any] = json.loads(encode_json(self.reader.series(body)))
        return listed

    def run_info(self, project: str, run_id: str) -> dict[str, Any]:
        from tracker.media._read import media_entries, run_files

        run = self.check_run(project, run_id)
        record = self.api.index.run(project, run_id)
        run_dir = inside_root(self.root, project, run_id)
        keys = self.api.index.keys(project, run_id)
        kinds: dict[str, str] = {}
        try:
            entries = media_entries(run_dir)
            media = {k: len(v) for k, v in entries.items()}
            kinds = {k: str(v[-1].refs[0].get("_type")) for k, v in entries.items() if v and v[-1].refs}
            files = sorted(run_files(run_dir))
        except (StorageError, OSError):
            media, files = {}, []
        return {
            "run": self.row(run, record, time.time()),
            "config": _clean(run.config),
            "summary": _clean({k: v for k, v in run.summary.items() if not str(k).startswith("_tracker")}),
            "metadata": _clean(run.metadata),
            "notes": run.notes,
            "keys": [k for k, info in keys.items() if info.numeric > 0 and not k.startswith("_")],
            "media": media,
            "histograms": sorted(k for k, t in kinds.items() if t == "histogram"),
            "tables": sorted(k for k, t in kinds.items() if t == "table-file"),
            "files": files,
        }

    def system(self, project: str, run_id: str) -> dict[str, Any]:
        from tracker.storage._system import system_rows

        rows = system_rows(self.run_dir(project, run_id))
        keys = sorted({k for r in rows for k, v in r.items() if k.startswith("system.") and _num(v)})
        return {
            "x": [r.get("_runtime") for r in rows],
            "series": {k: [r[k] if _num(r.get(k)) else None for r in rows] for k in keys},
        }

    def console(self, project: str, run_id: str, tail: int) -> dict[str, Any]:
        from tracker.storage._format import read_frames
        from tracker.storage._replay import RunState

        log = self.run_dir(project, run_id) / LOG_NAME
        state = RunState(keep_rows=False)
        state.feed(read_frames(log).records)
        lines = state.console[-tail:]
        return {
            "total": len(state.console),
            "lines": [
                {"ts": ln[0], "stream": "stderr" if ln[1] == 2 else "stdout", "text": ln[2]} for ln in lines
            ],
        }

    def media(self, project: str, run_id: str, key: str) -> dict[str, Any]:
        from tracker.media._read import media_entries

        entries = media_entries(self.run_dir(project, run_id), keys=[key]).get(key, [])
        steps = []
        for e in entries:
            refs = e.refs
            steps.append(
                {
                    "step": e.step,
                    "items": [
                        {
                            "type": r.get("_type"),
                            "caption": r.get("caption"),
                            "index": i,
                            "format": r.get("format"),
                        }
                        for i, r in enumerate(refs)
                    ],
                }
            )
        return {"key": key, "steps": steps}

    def histograms(self, project: str, run_id: str, key: str, rows: int, max_steps: int) -> dict[str, Any]:
        """A histogram key over time: counts per step re-binned onto one shared value grid.

        Each step's counts are spread over the ``rows`` equal bins between the smallest and
        largest edge of all steps, in proportion to overlap (the heatmap's columns).
        Past ``max_steps`` logged steps, an evenly spaced subset (always with the last).
        """
        import numpy as np

        from tracker.media._read import media_entries, read_histogram
        from tracker.server._views import rebin

        hists = []
        for e in media_entries(self.run_dir(project, run_id), keys=[key]).get(key, []):
            ref = e.refs[0]
            if ref.get("_type") != "histogram":
                continue
            counts, edges = read_histogram(ref)
            c = np.asarray(counts, dtype=np.float64)
            b = np.asarray(edges, dtype=np.float64)
            if len(b) == len(c) + 1 and len(c) and np.isfinite(b).all():
                hists.append((e.step, c, b))
        total = len(hists)
        if total > max_steps:
            picks = np.unique(np.linspace(0, total - 1, max_steps).round().astype(int))
            hists = [hists[i] for i in picks]
        if not hists:
            return {
                "key": key,
                "steps": [],
                "total_steps": 0,
                "lo": None,
                "hi": None,
                "rows": rows,
                "counts": [],
            }
        lo = min(float(b[0]) for _, _, b in hists)
        hi = max(float(b[-1]) for _, _, b in hists)
        if hi <= lo:
            hi = lo + 1.0
        out = rebin([(c, b) for _, c, b in hists], lo, hi, rows)
        return {
            "key": key,
            "steps": [s for s, _, _ in hists],
            "total_steps": total,
            "lo": lo,
            "hi": hi,
            "rows": rows,
            "counts": out,
        }

    def table(self, project: str, run_id: str, key: str, step: int | None, limit: int) -> dict[str, Any]:
        """The first ``limit`` rows of a ``tracker.Table`` logged under ``key`` (the last step by default)."""
        from tracker.media._read import media_entries, read_table

        run_dir = self.run_dir(project, run_id)
        entries = [
            e
            for e in media_entries(run_dir, keys=[key]).get(key, [])
            if e.refs[0].get("_type") == "table-file"
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
        data = payload.get("data") or []
        return {
            "key": key,
            "steps": [e.step for e in entries],
            "step": chosen.step,
            "columns": [str(c) for c in payload.get("columns") or []],
            "total": len(data),
            "rows": _clean(data[:limit]),
        }

    def media_file(self, project: str, run_id: str, key: str, step: int, item: int) -> Path:
        from tracker.media._read import media_entries
        from tracker.server._blobs import resolve  # fetches files uploaded to the object store

        run_dir = self.run_dir(project, run_id)
        for e in media_entries(run_dir, keys=[key]).get(key, []):
            if e.step == step:
                refs = e.refs
                if 0 <= item < len(refs):
                    ref = refs[item]
                    rel = ref.get("path") if isinstance(ref, dict) else None
                    return served(run_dir, "media", rel, functools.partial(resolve, run_dir, ref))
        raise RunNotFoundError(f"no media {key!r} at step {step} in run {run_id!r}.", run_id=run_id)

    def file(self, project: str, run_id: str, name: str) -> Path:
        from tracker.media._read import run_files
        from tracker.server._blobs import resolve  # fetches files uploaded to the object store

        run_dir = self.run_dir(project, run_id)
        files = run_files(run_dir)
        if name not in files:
            raise RunNotFoundError(f"run {run_id!r} saved no file {name!r}.", run_id=run_id)
        return served(run_dir, "files", f"files/{name}", lambda: resolve(run_dir, "files/" + name))

    def artifacts(self, project: str) -> list[dict[str, Any]]:
        """The project's artifacts with their live versions (newest first) and aliases."""
        from tracker.api._artifacts import list_artifacts

        project = _project(project)
        out = []
        for proj, name, type_ in list_artifacts(self.api, project):
            versions = []
            for art in reversed(self.api.artifact_versions(type_, f"{proj}/{name}")):
                committed = art._committed
                versions.append(
                    {
                        "version": art.version,
                        "number": committed.version if committed is not None else None,
                        "aliases": list(art.aliases),
                        "digest": art.digest,
                        "size": art.size,
                        "created": art.created_at,
                        "run_id": committed.run_id if committed is not None else None,
                        "metadata": _clean(committed.metadata if committed is not None else {}),
                    }
                )
            out.append({"name": name, "type": type_, "versions": versions})
        return out

    def registry(self) -> list[dict[str, Any]]:
        """The model registry's collections (artifacts of the reserved project), versions and sources."""
        from tracker.artifacts._names import REGISTRY_PROJECT

        out = self.artifacts(REGISTRY_PROJECT)
        for collection in out:
            for version in collection["versions"]:
                meta = version["metadata"] if isinstance(version["metadata"], dict) else {}
                source = meta.get("source")
                version["source"] = source if isinstance(source, dict) else None
        return out

    def artifact_files(self, project: str, name: str, version: int) -> dict[str, Any]:
        """The entries (files and references) of one artifact version, sorted by path."""
        from tracker.api._artifacts import get_artifact

        project = _project(project)
        if not NAME_RE.match(name):
            raise UsageError(f"{name!r} is not a valid artifact name.")
        art = get_artifact(self.api, f"{project}/{name}:v{int(version)}")
        files = art.files()
        return {
            "name": name,
            "version": art.version,
            "count": len(files),
            "files": [
                {"path": e.path, "size": e.size, "digest": e.digest, "ref": e.ref} for e in files[:MAX_FILES]
            ],
        }

    def sweeps(self, project: str) -> list[dict[str, Any]]:
        """The project's sweeps (newest first) with their run counts and best metric value."""
        from tracker.server._views import sweep_metric

        project = _project(project)
        records = self.api.state.sweeps(project)
        runs = self.api.runs(project) if records else []
        out = []
        for rec in reversed(records):
            mine = [r for r in runs if r.sweep_id == rec.id]
            metric, goal = sweep_metric(rec.config)
            values = [r.summary.get(metric) for r in mine] if metric else []
            nums = [float(v) for v in values if v is not None and _num(v)]
            best = (max(nums) if goal == "maximize" else min(nums)) if nums else None
            out.append(
                {
                    "id": rec.id,
                    "name": str(rec.config.get("name") or rec.id),
                    "state": rec.state,
                    "method": rec.config.get("method"),
                    "metric": metric,
                    "goal": goal,
                    "created": rec.created_at,
                    "run_count": len(mine),
                    "best": best,
                }
            )
        return out

    def sweep(self, project: str, sweep_id: str) -> dict[str, Any]:
        """One sweep: its runs' parameter values and metric, and each parameter's importance.

        Importance is the absolute Spearman rank correlation of a numeric parameter with
        the metric over the runs that have both.
        """
        from tracker.server._views import spearman, sweep_metric, sweep_params

        project = _project(project)
        if not NAME_RE.match(sweep_id):
            raise UsageError(f"{sweep_id!r} is not a valid sweep id.")
        rec = self.api.state.sweep(sweep_id)
        if rec is None or rec.project != project:
            raise StorageError(f"no sweep {sweep_id!r} in project {project!r}.")
        metric, goal = sweep_metric(rec.config)
        params = sweep_params(rec.config.get("parameters") or {})
        records = {r.id: r for r in self.api.index.runs(project)}
        mine = [r for r in self.api.runs(project) if r.sweep_id == sweep_id]
        mine.sort(key=lambda r: (records[r.id].created_at if r.id in records else 0.0, r.id))
        rows: list[dict[str, Any]] = []
        for i, run in enumerate(mine):
            config: dict[str, Any] = {}
            _flat("", {k: v for k, v in run.config.items() if not str(k).startswith("_")}, config)
            value = run.summary.get(metric) if metric else None
            record = records.get(run.id)
            rows.append(
                {
                    "id": run.id,
                    "name": run.name,
                    "state": run.state,
                    "index": i,
                    "created": record.created_at if record is not None else None,
                    "params": {p: config.get(p) for p in params},
                    "metric": float(value) if value is not None and _num(value) else None,
                }
            )
        importance: list[dict[str, Any]] = []
        for p in params:
            pairs = [
                (r["params"][p], r["metric"])
                for r in rows
                if _num(r["params"][p]) and r["metric"] is not None
            ]
            rho = spearman([float(a) for a, _ in pairs], [b for _, b in pairs])
            importance.append(
                {
                    "param": p,
                    "correlation": rho,
                    "importance": abs(rho) if rho is not None else None,
                    "n": len(pairs),
                }
            )
        importance.sort(key=lambda d: -1.0 if d["importance"] is None else -d["importance"])
        return {
            "id": rec.id,
            "project": project,
            "name": str(rec.config.get("name") or rec.id),
            "state": rec.state,
            "method": rec.config.get("method"),
            "metric": metric,
            "goal": goal,
            "created": rec.created_at,
            "config": _clean(rec.config),
            "params": params,
            "runs": rows,
            "importance": importance,
            "importance_method": "spearman",
        }

    def snapshot(self, project: str) -> dict[str, dict[str, Any]]:
        runs = self.api.runs(project)
        records = {r.id: r for r in self.api.index.runs(project)}
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
                "row": self.row(run, record, now),
            }
        return out


def _project(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UsageError(f"{name!r} is not a valid project name.")
    return name


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def build(
    root: str | os.PathLike[str] | None,
    *,
    token: str | None,
    allowed_hosts: list[str] | None,
    poll_interval: float,
    index: "IndexBackend | None" = None,
    state: "StateStore | None" = None,
) -> Any:
    """Build the app (see :func:`tracker.server.create_app`)."""
    from fastapi import Body, FastAPI, HTTPException, Query, Request
    from fastapi.routing import APIRoute
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, HTMLResponse, Response, StreamingResponse
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from tracker._version import __version__
    from tracker.server._identity import Identify, identity_of

    data = _Data(root, index, state)

    def guarded(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except RunNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except UsageError as exc:
            raise HTTPException(400, str(exc)) from None
        except StorageError as exc:
            raise HTTPException(404, str(exc)) from None

    def projects(request: Request) -> Any:
        """Projects of the data root with their run counts (those the caller may see)."""
        rows = guarded(data.projects)
        visible = getattr(request.app.state, "visible_projects", None)  # set by tracker.server._gate
        return _json(rows if visible is None else visible(request, rows))

    def runs(project: str) -> Any:
        """The runs table of a project: state, name, tags, times, flattened config and summary."""
        return _json(guarded(lambda: data.runs(project)))

    def keys(project: str, runs: str | None = Query(None, description="comma-separated run ids")) -> Any:
        """Numeric metric keys of a project's runs (with how many runs logged each)."""
        ids = [r for r in runs.split(",") if r] if runs else None
        return _json(guarded(lambda: data.keys(project, ids)))

    def series(request: Request, body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008 - FastAPI's body
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

    def run_info(project: str, run_id: str) -> Any:
        """One run: row, config, summary, metadata, metric keys, media keys, files."""
        return _json(guarded(lambda: data.run_info(project, run_id)))

    def system(project: str, run_id: str) -> Any:
        """System metrics of a run as columns over ``_runtime``."""
        return _json(guarded(lambda: data.system(project, run_id)))

    def console(project: str, run_id: str, tail: int = Query(2000, ge=1, le=20000)) -> Any:
        """The last lines of a run's console output."""
        return _json(guarded(lambda: data.console(project, run_id, tail)))

    def media(project: str, run_id: str, key: str) -> Any:
        """The logged steps of a media key (the step slider's positions)."""
        return _json(guarded(lambda: data.media(project, run_id, key)))

    def histograms(
        project: str,
        run_id: str,
        key: str,
        rows: int = Query(64, ge=2, le=512),
        steps: int = Query(500, ge=1, le=5000),
    ) -> Any:
        """A histogram key over time: counts per step on one shared value grid (a heatmap)."""
        return _json(guarded(lambda: data.histograms(project, run_id, key, rows, steps)))

    def table(
        project: str,
        run_id: str,
        key: str,
        step: int | None = Query(None),
        limit: int = Query(100, ge=1, le=1000),
    ) -> Any:
        """The first rows (100 by default) of a table logged under ``key`` at ``step`` (default: last)."""
        return _json(guarded(lambda: data.table(project, run_id, key, step, limit)))

    def media_file(project: str, run_id: str, key: str, step: int, item: int) -> Any:
        """The file of one media item, found through the run's records."""
        path = guarded(lambda: data.media_file(project, run_id, key, step, item))
        return FileResponse(path, headers=_FILE_HEADERS)

    def run_file(project: str, run_id: str, name: str) -> Any:
        """A file saved by ``run.save()`` (only names the run recorded)."""
        path = guarded(lambda: data.file(project, run_id, name))
        return FileResponse(path, headers=_FILE_HEADERS, content_disposition_type="attachment")

    def artifacts(project: str) -> Any:
        """A project's artifacts: every live version with its aliases, size, digest and run."""
        return _json(guarded(lambda: data.artifacts(project)))

    def artifact_files(project: str, name: str, version: int) -> Any:
        """The files and references of one artifact version."""
        return _json(guarded(lambda: data.artifact_files(project, name, version)))

    def registry() -> Any:
        """The model registry: collections, their versions, aliases and source artifact versions."""
        return _json(guarded(data.registry))

    def sweeps(project: str) -> Any:
        """A project's sweeps: state, method, metric, run count and best value."""
        return _json(guarded(lambda: data.sweeps(project)))

    def sweep(project: str, sweep_id: str) -> Any:
        """One sweep: per-run parameters and metric, and parameter importance (|Spearman rho|)."""
        return _json(guarded(lambda: data.sweep(project, sweep_id)))

    async def events(request: Request, project: str) -> Any:
        """Server-sent events: the rows of runs that changed (all runs in the first event)."""
        # ``project`` is declared for the schema; the one streamed is the one the gate
        # checked (tracker.server._identity: a repeated ?project= never gets here).
        project = guarded(lambda: _project(identity_of(request).project))

        async def stream() -> AsyncIterator[bytes]:
            seen: dict[str, Any] = {}
            last_ping = time.monotonic()
            yield b"retry: 2000\n\n"
            while not await request.is_disconnected():
                try:
                    snap = await run_in_threadpool(data.snapshot, project)
                except (StorageError, UsageError):
                    snap = {}
                changed = [v["row"] for k, v in snap.items() if seen.get(k) != v["version"]]
                removed = [k for k in seen if k not in snap]
                seen = {k: v["version"] for k, v in snap.items()}
                if changed or removed:
                    payload = json.dumps({"runs": _clean(changed), "removed": removed}, separators=(",", ":"))
                    yield f"event: runs\ndata: {payload}\n\n".encode()
                    last_ping = time.monotonic()
                elif time.monotonic() - last_ping > 15:
                    yield b": ping\n\n"
                    last_ping = time.monotonic()
                await asyncio.sleep(poll_interval)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    index_html = (STATIC / "index.html").read_text(encoding="utf-8")
    page_headers = dict(_PAGE_HEADERS)
    page_headers["Content-Security-Policy"] += f"; script-src 'self' {_importmap_hash(index_html)}"

    def page() -> Any:
        """The single-page app (every page URL serves it; the client routes)."""
        return HTMLResponse(index_html, headers=page_headers)

    def project_page(rest: str) -> Any:
        """The single-page app; a project's runs-table page also preloads its first data."""
        project = rest.rstrip("/")
        if "/" in project or not NAME_RE.match(project):
            return page()
        # The browser starts these requests while the modules load (app.js fetches the
        # same URLs, so it gets these answers): the table and the charts start earlier.
        links = "".join(
            f'<link rel="preload" as="fetch" crossorigin="anonymous" href="/api/projects/{project}/{part}">\n'
            for part in ("runs", "keys")
        )
        return HTMLResponse(index_html.replace("</head>", links + "</head>", 1), headers=page_headers)

    class _Static(StaticFiles):
        # The platform's MIME table may be wrong (the Windows registry maps .js to
        # text/plain): module scripts need a JavaScript type.
        def file_response(self, full_path: Any, stat_result: Any, scope: Any, status_code: int = 200) -> Any:
            response = super().file_response(full_path, stat_result, scope, status_code)
            kind = _TYPES.get(Path(str(full_path)).suffix)
            if kind is not None:
                response.media_type = kind
                response.headers["content-type"] = kind
            response.headers["X-Content-Type-Options"] = "nosniff"
            return response

    def favicon() -> Any:
        return Response((STATIC / "favicon.svg").read_bytes(), media_type="image/svg+xml")

    api = "/api"
    pr = api + "/projects/{project}"
    rr = pr + "/runs/{run_id}"
    routes = [
        APIRoute(api + "/projects", projects, methods=["GET"]),
        APIRoute(pr + "/runs", runs, methods=["GET"]),
        APIRoute(pr + "/keys", keys, methods=["GET"]),
        APIRoute(api + "/series", series, methods=["POST"]),
        APIRoute(rr, run_info, methods=["GET"]),
        APIRoute(rr + "/system", system, methods=["GET"]),
        APIRoute(rr + "/console", console, methods=["GET"]),
        APIRoute(rr + "/media/{key:path}/steps", media, methods=["GET"]),
        APIRoute(rr + "/media/{key:path}/at/{step:int}/{item:int}", media_file, methods=["GET"]),
        APIRoute(rr + "/histograms/{key:path}", histograms, methods=["GET"]),
        APIRoute(rr + "/tables/{key:path}", table, methods=["GET"]),
        APIRoute(rr + "/files/{name:path}", run_file, methods=["GET"]),
        APIRoute(pr + "/artifacts", artifacts, methods=["GET"]),
        APIRoute(pr + "/artifacts/{name}/v/{version:int}/files", artifact_files, methods=["GET"]),
        APIRoute(api + "/registry", registry, methods=["GET"]),
        APIRoute(pr + "/sweeps", sweeps, methods=["GET"]),
        APIRoute(pr + "/sweeps/{sweep_id}", sweep, methods=["GET"]),
        APIRoute(api + "/events", events, methods=["GET"]),
        APIRoute("/favicon.ico", favicon, methods=["GET"], include_in_schema=False),
        APIRoute("/", page, methods=["GET"], include_in_schema=False),
        APIRoute("/registry", page, methods=["GET"], include_in_schema=False),
        APIRoute("/projects/{rest:path}", project_page, methods=["GET"], include_in_schema=False),
        # follow_symlink: a strict editable install links the files; the path guard still applies.
        Mount("/static", app=_Static(directory=STATIC, follow_symlink=True), name="static"),
    ]
    app = FastAPI(
        title="tracker dashboard",
        version=__version__,
        routes=routes,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    hosts = tuple(h.lower() for h in (allowed_hosts or LOOPBACK))
    # Inside the Host/token guard: the request identity (a team server's gate, outside
    # both, parses it first and this finds it done).
    app.add_middleware(Identify, router=app.router)
    app.add_middleware(_Guard, token=token, hosts=hosts)
    app.state.data = data
    return app


_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".svg": "image/svg+xml",
}


def _importmap_hash(page: str) -> str:
    """The CSP source allowing the page's inline import map (and no other inline script)."""
    import base64

    match = re.search(r'<script type="importmap">(.*?)</script>', page, re.S)
    if match is None:
        return ""
    digest = hashlib.sha256(match.group(1).encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


_FILE_HEADERS: Final = {
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; "
    "style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}
_PAGE_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; frame-src 'self'; object-src 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
