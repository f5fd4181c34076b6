"""Team-server endpoints for ``Api()`` and for sweep agents on other machines.

Everything is under ``/api/v1/``, addressed by project name, run id, artifact name and
sweep id (each validated); no client-supplied path is ever opened. Reads run the local
read side (:class:`tracker.api.Api`) on the server's data root, so filters, order and
history selection mean exactly what they mean locally; filters are JSON evaluated in
Python by :mod:`tracker.api._filters`, never turned into SQL. Bodies use the wire format
of :mod:`tracker.api._remote` (non-finite floats tagged).

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

Access: the server's gate (:mod:`tracker.server._gate`) has already found the caller and,
for routes with a ``{project}``, checked their role there. :func:`access` is the one place
these endpoints check again where the project comes from their own input (a sweep's
record, the project list): reads need viewer, sweep changes editor.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations of the
# closures in :func:`install_remote` at runtime.

import functools
import json
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Final

from tracker._client import dumps, loads
from tracker.api._remote import rows_to_wire, run_to_wire
from tracker.errors import (
    Error,
    MissingExtraError,
    RunNotFoundError,
    StorageError,
    SweepConfigError,
    UsageError,
)

__all__ = ["access", "install_remote"]

PREFIX: Final = "/api/v1"
#: Largest JSON body of a sweep request.
MAX_JSON_BODY: Final = 1024 * 1024
MAX_PAGE: Final = 1000
MAX_SCAN_PAGE: Final = 100_000
_STREAMS: Final = ("default", "events", "system")


class _RefusedError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


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


def _authorize(request: Any, project: str | None, *, write: bool = False) -> None:
    problem = access(request, project, write=write)
    if problem is not None:
        raise _RefusedError(*problem)


def _json_arg(raw: str | None, name: str) -> Any:
    if raw is None:
        return None
    try:
        return loads(raw)
    except ValueError:
        raise UsageError(f"{name}: not valid JSON.") from None
    except RecursionError:
        raise UsageError(f"{name}: nested too deeply.") from None


def _keys_arg(raw: str | None) -> list[str] | None:
    keys = _json_arg(raw, "keys")
    if keys is None:
        return None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise UsageError(f"keys={raw!r}: use a JSON list of key names.")
    return list(dict.fromkeys(keys))


def install_remote(app: Any, root: str | os.PathLike[str]) -> None:
    """Add the ``Api()`` read endpoints and the sweep endpoints to the server ``app``.

    Args:
        app: The app from :func:`tracker.server.create_app` with the key middleware of
            :func:`tracker.server._ingest.install` (before it starts).
        root: The server's data root.
    """
    from fastapi import Body, Query, Request
    from starlette.responses import Response, StreamingResponse

    from tracker.api import Api
    from tracker.api._run import _retry

    root = Path(root)
    # The dashboard's Api: the server's own index and state store (PostgreSQL with --db).
    data = getattr(app.state, "data", None)
    api = data.api if data is not None else Api(root)

    def reply(fn: Callable[[], Any]) -> Any:
        status = 200
        try:
            data = fn()
        except _RefusedError as exc:
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

    def run_of(request: Any, project: str, run_id: str) -> Any:
        from tracker.server._paths import inside_root

        _authorize(request, project)
        inside_root(root, project, run_id)  # a run directory linked out of the root: not served
        return api.run(f"{project}/{run_id}")

    # ------------------------------------------------------------------ reads
    def projects(request: Request) -> Any:
        """Projects of the server with their run counts (those the key may read)."""

        def do() -> Any:
            _authorize(request, None)
            found = [p for p in api.projects() if access(request, p.name) is None]
            return {
                "projects": [
                    {
                        "name": p.name,
                        "entity": p.entity,
                        "run_count": p.run_count,
                        "last_created": p.last_created,
                    }
                    for p in found
                ]
            }

        return reply(do)

    def runs(
        request: Request,
        project: str,
        filters: str | None = Query(None, max_length=65536, description="W&B filter, JSON"),
        order: str = Query("-created_at", max_length=512),
        offset: int = Query(0, ge=0),
        limit: int = Query(50, ge=1, le=MAX_PAGE),
    ) -> Any:
        """Runs of a project: ``Api.runs(filters=..., order=...)`` evaluated here, one page."""

        def do() -> Any:
            _authorize(request, project)
            found = api.runs(project, filters=_json_arg(filters, "filters"), order=order)
            return {"total": len(found), "runs": [run_to_wire(r) for r in found[offset : offset + limit]]}

        return reply(do)

    def run(request: Request, project: str, run_id: str) -> Any:
        """One run: its record (config, summary, times...), state, tags and notes."""
        return reply(lambda: run_to_wire(run_of(request, project, run_id)))

    def history(
        request: Request,
        project: str,
        run_id: str,
        keys: str | None = Query(None, max_length=65536, description="JSON list of keys"),
        samples: int | None = Query(None, ge=1, le=10_000_000),
        x_axis: str = Query("_step", max_length=512),
        stream: str = Query("default", max_length=16),
    ) -> Any:
        """The rows ``Run.history`` returns (all, or ``samples`` of them, M4-downsampled)."""

        def do() -> Any:
            found = run_of(request, project, run_id)
            if stream not in _STREAMS:
                raise UsageError(f"history(stream={stream!r}): use 'default' or 'events' (alias 'system').")
            key_list = _keys_arg(keys)
            rows, out_keys, step = _retry(lambda: found._history_rows(samples, key_list, x_axis, stream))
            return {"rows": rows_to_wire(rows), "keys": out_keys, "step": step}

        return reply(do)

    def scan(
        request: Request,
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
        from tracker.storage._ingest import CHUNK_POINTS

        def do() -> Any:
            import numpy as np

            found = run_of(request, project, run_id)
            key_list = _keys_arg(keys)
            record = api.index.run(project, run_id)
            total = record.rows_logged if record is not None else 0
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

        return reply(do)

    def artifacts(request: Request, project: str) -> Any:
        """A project's artifacts that have a live version."""
        from tracker.api._artifacts import list_artifacts

        def do() -> Any:
            _authorize(request, project)
            api._project_path(project)
            found = list_artifacts(api, project)
            return {"artifacts": [{"project": p, "name": n, "type": t} for p, n, t in found]}

        return reply(do)

    def versions(request: Request, project: str, name: str) -> Any:
        """Every live version of an artifact (metadata, aliases, digest), oldest first."""
        from tracker.artifacts._names import check_name

        def do() -> Any:
            _authorize(request, project)
            api._project_path(project)
            check_name(name)
            found = api.state.artifact_versions(project, name)
            return {"versions": [v._asdict() for v in found]}

        return reply(do)

    def version_of(request: Any, project: str, name: str, ref: str) -> Any:
        from tracker.artifacts._names import check_name

        _authorize(request, project)
        api._project_path(project)
        check_name(name)
        try:
            found = api.state.artifact_version(project, name, ref)
        except OverflowError:  # v<huge number>: no such version
            found = None
        if found is None or found.deleted:
            raise StorageError(f"no artifact {project}/{name}:{ref} on this server.")
        return found

    def version(request: Request, project: str, name: str, ref: str) -> Any:
        """One artifact version by number (``v3``, ``3``) or alias (``latest``)."""
        return reply(lambda: {"version": version_of(request, project, name, ref)._asdict()})

    def manifest(request: Request, project: str, name: str, ref: str) -> Any:
        """A version's manifest: ``{"version", "digest", "entries": {path: {digest, size} or {ref}}}``."""
        from tracker.artifacts._store import BlobStore

        def do() -> Any:
            found = version_of(request, project, name, ref)
            entries = BlobStore(root).read_manifest(found.digest)
            return {"version": found._asdict(), "digest": found.digest, "entries": entries}

        return reply(do)

    def artifact_file(request: Request, project: str, name: str, ref: str, path: str) -> Any:
        """The bytes of one file of a version, found by its path in the manifest."""
        from tracker.artifacts._names import check_entry
        from tracker.artifacts._store import BlobStore

        def do() -> Any:
            entry_path = check_entry(path)
            found = version_of(request, project, name, ref)
            entry = BlobStore(root).read_manifest(found.digest).get(entry_path)
            label = f"{project}/{name}:v{found.version}"
            if entry is None:
                raise StorageError(f"artifact {label} has no file {path!r}.")
            digest = entry.get("digest")
            if entry.get("ref") is not None or not isinstance(digest, str):
                raise StorageError(
                    f"{path!r} of {label} is a reference to {entry.get('ref')}; fetch it there."
                )
            fh, size = _open_blob(root, digest, f"{path!r} of {label}")
            return StreamingResponse(
                _chunks(fh),
                media_type="application/octet-stream",
                headers={"content-length": str(size), "etag": f'"{digest}"', "x-tracker-digest": digest},
            )

        return reply(do)

    # ------------------------------------------------------------------ sweeps
    def sweep_of(request: Request, sweep_id: str, *, write: bool) -> Any:
        from tracker.api._api import _ID_RE

        if not _ID_RE.match(sweep_id):
            raise UsageError(f"{sweep_id!r} is not a valid sweep id.")
        record = api.state.sweep(sweep_id)
        if record is None:
            raise StorageError(f"no sweep {sweep_id!r} on this server.")
        _authorize(request, record.project, write=write)
        return record

    def create_sweep(request: Request, body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008 - FastAPI's body
        """Create a sweep from a W&B sweep config: ``{"config": {...}, "project": "p"}``."""
        from tracker._init import DEFAULT_PROJECT, _check_name, _new_id
        from tracker.server._gate import claim_if_new
        from tracker.server._identity import identity_of
        from tracker.sweeps import parse_config

        def do() -> Any:
            # The project the gate checked, from the body it parsed (never a second parse).
            config, project = body.get("config"), identity_of(request).project
            if not isinstance(config, dict) or not (project is None or isinstance(project, str)):
                raise UsageError('send {"config": {...sweep config...}, "project": "name"}.')
            if len(json.dumps(config, default=str)) > MAX_JSON_BODY:
                raise UsageError(f"the sweep config is over {MAX_JSON_BODY} bytes.")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the client showed them when it validated
                parsed = parse_config(_revive(config))
            # The project is settled here (never from this server's environment) and checked.
            name = project or parsed.project or DEFAULT_PROJECT
            _check_name(name, "project")
            claim_if_new(request, name)  # a sweep may start a project, as a first run does
            _authorize(request, name, write=True)
            sweep_id = _new_id()
            api.state.create_sweep(sweep_id, name, dict(parsed.raw))
            return {"id": sweep_id, "project": name}

        return reply(do)

    def get_sweep(request: Request, sweep_id: str) -> Any:
        """A sweep's record (``{"sweep": null}`` when there is none)."""

        def do() -> Any:
            try:
                record = sweep_of(request, sweep_id, write=False)
            except StorageError:
                _authorize(request, None)
                return {"sweep": None}
            return {"sweep": record._asdict()}

        return reply(do)

    def set_state(request: Request, sweep_id: str, body: dict[str, Any] = Body(...)) -> Any:  # noqa: B008
        """Change a sweep's state: ``{"state": "paused"|"running"|"finished"|"cancelled"|...}``."""
        from tracker.sweeps._controller import STATES

        def do() -> Any:
            sweep_of(request, sweep_id, write=True)
            state = body.get("state")
            if state not in STATES:
                raise UsageError(f"state {state!r}: use one of {', '.join(STATES)}.")
            return {"state": api.state.set_sweep_state(sweep_id, state).state}

        return reply(do)

    def next_run(request: Request, sweep_id: str) -> Any:
        """Claim the next run of the sweep (the controller runs here): its id, number and parameters."""
        from tracker.sweeps._controller import Controller

        def do() -> Any:
            sweep_of(request, sweep_id, write=True)
            ctl = Controller(sweep_id, root, store=api.state, index=api.index)
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

    def observations(request: Request, sweep_id: str) -> Any:
        """The sweep's runs on this server: state, parameters and metric history (for hyperband)."""
        from tracker.sweeps._controller import Controller

        def do() -> Any:
            sweep_of(request, sweep_id, write=False)
            ctl = Controller(sweep_id, root, store=api.state, index=api.index)
            try:
                found = ctl.observations()
            finally:
                ctl.close()
            return {
                "observations": [
                    {
                        "run_id": o.run_id,
                        "state": o.state,
                        "params": [[list(p), v] for p, v in o.params.items()],
                        "history": list(o.history),
                    }
                    for o in found
                ]
            }

        return reply(do)

    pr = PREFIX + "/projects/{project}"
    rr = pr + "/runs/{run_id}"
    sw = PREFIX + "/sweeps/{sweep_id}"
    routes: list[tuple[str, Callable[..., Any], str]] = [
        (PREFIX + "/projects", projects, "GET"),
        (pr + "/runs", runs, "GET"),
        (rr, run, "GET"),
        (rr + "/history", history, "GET"),
        (rr + "/scan", scan, "GET"),
        (pr + "/artifacts", artifacts, "GET"),
        (pr + "/artifacts/{name}/versions", versions, "GET"),
        (pr + "/artifacts/{name}/versions/{ref}", version, "GET"),
        (pr + "/artifacts/{name}/versions/{ref}/manifest", manifest, "GET"),
        (pr + "/artifacts/{name}/versions/{ref}/files/{path:path}", artifact_file, "GET"),
        (PREFIX + "/sweeps", create_sweep, "POST"),
        (sw, get_sweep, "GET"),
        (sw + "/state", set_state, "POST"),
        (sw + "/next", next_run, "POST"),
        (sw + "/observations", observations, "GET"),
    ]
    for path, endpoint, method in routes:
        app.add_api_route(path, endpoint, methods=[method])


def _open_blob(root: Path, digest: str, what: str) -> tuple[IO[bytes], int]:
    """The blob of ``digest`` opened for reading, and its size: the object store first.

    Raises:
        StorageError: Neither the object store nor the data root's blob store has it.
    """
    from tracker.artifacts._store import BlobStore
    from tracker.server._blobs import object_store
    from tracker.storage._objects import blob_key

    store = object_store(root)
    key = blob_key(digest.removeprefix("sha256:"))
    if store is not None and store.exists(key):
        return store.open(key), store.size(key)
    local = BlobStore(root).blob_path(digest)
    try:
        fh = open(local, "rb")  # closed by _chunks once streamed
    except FileNotFoundError:
        raise StorageError(f"the blob of {what} ({digest}) is missing on this server.") from None
    except OSError as exc:
        raise StorageError(f"cannot read the blob of {what}: {exc}") from exc
    return fh, os.fstat(fh.fileno()).st_size


def _chunks(fh: IO[bytes]) -> Iterator[bytes]:
    """The bytes of ``fh`` in 1 MiB chunks; closes it (Starlette iterates this in its threadpool)."""
    try:
        while chunk := fh.read(1 << 20):
            yield chunk
    finally:
        fh.close()


def _revive(value: Any) -> Any:
    """The config as sent (the body was parsed as plain JSON: tagged floats become floats again)."""
    return loads(json.dumps(value))
