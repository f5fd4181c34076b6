"""Sweeps: the dashboard's sweep pages (``router``), and the team server's sweep endpoints for
agents on other machines (``v1``, see :mod:`tracker.server._remote`).
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations at runtime.

import json
import warnings
from typing import Any, Final

from fastapi import APIRouter, Body, Request  # noqa: TID253 - imported by the app factory only

from tracker._naming import DEFAULT_PROJECT, ID_RE, NAME_RE, check_name, new_id
from tracker.errors import StorageError, UsageError
from tracker.server._data import Data, ServerData, check_project, guarded, json_response
from tracker.server._remote import MAX_JSON_BODY, PREFIX, Remote, RemoteState, authorize, reply, revive
from tracker.server._views import clean, flat, is_num, spearman, sweep_metric, sweep_params

__all__ = ["router", "v1"]

router = APIRouter()
v1 = APIRouter()

_PR: Final = "/api/projects/{project}"
_SW: Final = PREFIX + "/sweeps/{sweep_id}"


# ---------------------------------------------------------------------------- dashboard
@router.get(_PR + "/sweeps")
def sweeps(data: Data, project: str) -> Any:
    """A project's sweeps: state, method, metric, run count and best value."""
    return json_response(guarded(lambda: _sweep_list(data, project)))


@router.get(_PR + "/sweeps/{sweep_id}")
def sweep(data: Data, project: str, sweep_id: str) -> Any:
    """One sweep: per-run parameters and metric, and parameter importance (|Spearman rho|)."""
    return json_response(guarded(lambda: _sweep_page(data, project, sweep_id)))


def _sweep_list(data: ServerData, project: str) -> list[dict[str, Any]]:
    """The project's sweeps (newest first) with their run counts and best metric value."""
    project = check_project(project)
    records = data.api.state.sweeps(project)
    runs = data.api.runs(project) if records else []
    out = []
    for rec in reversed(records):
        mine = [r for r in runs if r.sweep_id == rec.id]
        metric, goal = sweep_metric(rec.config)
        values = [r.summary.get(metric) for r in mine] if metric else []
        nums = [float(v) for v in values if v is not None and is_num(v)]
        best = (max(nums) if goal == "maximize" else min(nums)) if nums else None
        out.append({**_sweep_head(rec, metric, goal), "run_count": len(mine), "best": best})
    return out


def _sweep_head(rec: Any, metric: str | None, goal: str) -> dict[str, Any]:
    return {
        "id": rec.id,
        "name": str(rec.config.get("name") or rec.id),
        "state": rec.state,
        "method": rec.config.get("method"),
        "metric": metric,
        "goal": goal,
        "created": rec.created_at,
    }


def _sweep_page(data: ServerData, project: str, sweep_id: str) -> dict[str, Any]:
    """One sweep: its runs' parameter values and metric, and each parameter's importance.

    Importance is the absolute Spearman rank correlation of a numeric parameter with
    the metric over the runs that have both.
    """
    project = check_project(project)
    if not NAME_RE.match(sweep_id):
        raise UsageError(f"{sweep_id!r} is not a valid sweep id.")
    rec = data.api.state.sweep(sweep_id)
    if rec is None or rec.project != project:
        raise StorageError(f"no sweep {sweep_id!r} in project {project!r}.")
    metric, goal = sweep_metric(rec.config)
    params = sweep_params(rec.config.get("parameters") or {})
    rows = _sweep_rows(data, project, sweep_id, metric, params)
    head = _sweep_head(rec, metric, goal)
    return {
        "id": head.pop("id"),
        "project": project,
        **head,
        "config": clean(rec.config),
        "params": params,
        "runs": rows,
        "importance": _importance(rows, params),
        "importance_method": "spearman",
    }


def _sweep_rows(
    data: ServerData, project: str, sweep_id: str, metric: str | None, params: list[str]
) -> list[dict[str, Any]]:
    records = {r.id: r for r in data.api.index.runs(project)}
    mine = [r for r in data.api.runs(project) if r.sweep_id == sweep_id]
    mine.sort(key=lambda r: (records[r.id].created_at if r.id in records else 0.0, r.id))
    rows: list[dict[str, Any]] = []
    for i, run in enumerate(mine):
        config: dict[str, Any] = {}
        flat("", {k: v for k, v in run.config.items() if not str(k).startswith("_")}, config)
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
                "metric": float(value) if value is not None and is_num(value) else None,
            }
        )
    return rows


def _importance(rows: list[dict[str, Any]], params: list[str]) -> list[dict[str, Any]]:
    importance: list[dict[str, Any]] = []
    for p in params:
        pairs = [
            (r["params"][p], r["metric"]) for r in rows if is_num(r["params"][p]) and r["metric"] is not None
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
    return importance


# ---------------------------------------------------------------------------- /api/v1
def _sweep_of(remote: RemoteState, request: Request, sweep_id: str, *, write: bool) -> Any:
    if not ID_RE.match(sweep_id):
        raise UsageError(f"{sweep_id!r} is not a valid sweep id.")
    record = remote.api.state.sweep(sweep_id)
    if record is None:
        raise StorageError(f"no sweep {sweep_id!r} on this server.")
    authorize(request, record.project, write=write)
    return record


@v1.post(PREFIX + "/sweeps")
def create_sweep(request: Request, remote: Remote, body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008 - FastAPI's body
    """Create a sweep from a W&B sweep config: ``{"config": {...}, "project": "p"}``."""
    return reply(lambda: _create(remote, request, body))


def _create(remote: RemoteState, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    from tracker.server._gate import claim_if_new
    from tracker.server._identity import identity_of
    from tracker.sweeps import parse_config

    # The project the gate checked, from the body it parsed (never a second parse).
    config, project = body.get("config"), identity_of(request).project
    if not isinstance(config, dict) or not (project is None or isinstance(project, str)):
        raise UsageError('send {"config": {...sweep config...}, "project": "name"}.')
    if len(json.dumps(config, default=str)) > MAX_JSON_BODY:
        raise UsageError(f"the sweep config is over {MAX_JSON_BODY} bytes.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the client showed them when it validated
        parsed = parse_config(revive(config))
    # The project is settled here (never from this server's environment) and checked.
    name = project or parsed.project or DEFAULT_PROJECT
    check_name(name, "project")
    claim_if_new(request, name)  # a sweep may start a project, as a first run does
    authorize(request, name, write=True)
    sweep_id = new_id()
    remote.api.state.create_sweep(sweep_id, name, dict(parsed.raw))
    return {"id": sweep_id, "project": name}


@v1.get(_SW)
def get_sweep(request: Request, remote: Remote, sweep_id: str) -> Any:
    """A sweep's record (``{"sweep": null}`` when there is none)."""

    def do() -> Any:
        try:
            record = _sweep_of(remote, request, sweep_id, write=False)
        except StorageError:
            authorize(request, None)
            return {"sweep": None}
        return {"sweep": record._asdict()}

    return reply(do)


@v1.post(_SW + "/state")
def set_state(request: Request, remote: Remote, sweep_id: str, body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
    """Change a sweep's state: ``{"state": "paused"|"running"|"finished"|"cancelled"|...}``."""
    from tracker.sweeps._controller import STATES

    def do() -> Any:
        _sweep_of(remote, request, sweep_id, write=True)
        state = body.get("state")
        if state not in STATES:
            raise UsageError(f"state {state!r}: use one of {', '.join(STATES)}.")
        return {"state": remote.api.state.set_sweep_state(sweep_id, state).state}

    return reply(do)


@v1.post(_SW + "/next")
def next_run(request: Request, remote: Remote, sweep_id: str) -> Any:
    """Claim the next run of the sweep (the controller runs here): its id, number and parameters."""
    from tracker.sweeps._controller import Controller

    def do() -> Any:
        _sweep_of(remote, request, sweep_id, write=True)
        ctl = Controller(sweep_id, remote.root, store=remote.api.state, index=remote.api.index)
        try:
            job = ctl.next_job()
            state = ctl.state
        finally:
            ctl.close()
        if job is None:
            return {"job": None, "state": state}
        params = [[list(path), value] for path, value in job.params.items()]
        return {"job": {"run_id": job.run_id, "index": job.index, "params": params}, "state": state}

    return reply(do)


@v1.get(_SW + "/observations")
def observations(request: Request, remote: Remote, sweep_id: str) -> Any:
    """The sweep's runs on this server: state, parameters and metric history (for hyperband)."""
    from tracker.sweeps._controller import Controller

    def do() -> Any:
        _sweep_of(remote, request, sweep_id, write=False)
        ctl = Controller(sweep_id, remote.root, store=remote.api.state, index=remote.api.index)
        try:
            found = ctl.observations()
        finally:
            ctl.close()
        listed = [
            {
                "run_id": o.run_id,
                "state": o.state,
                "params": [[list(p), v] for p, v in o.params.items()],
                "history": list(o.history),
            }
            for o in found
        ]
        return {"observations": listed}

    return reply(do)
