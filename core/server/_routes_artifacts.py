"""Artifacts and the model registry: the dashboard's artifact pages (``router``), and the team
server's artifact versions, manifests and file downloads (``v1``, see :mod:`tracker.server._remote`).
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations at runtime.

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

from fastapi import APIRouter, Request  # noqa: TID253 - imported by the app factory only
from starlette.responses import StreamingResponse  # noqa: TID253 - imported by the app factory only

from tracker._naming import NAME_RE
from tracker.errors import StorageError, UsageError
from tracker.server._data import Data, ServerData, check_project, guarded, json_response
from tracker.server._remote import PREFIX, Remote, RemoteState, authorize, reply
from tracker.server._views import clean

__all__ = ["router", "v1"]

router = APIRouter()
v1 = APIRouter()

#: Entries of an artifact version listed by the API (the count says how many there are).
MAX_FILES: Final = 5000
_PR: Final = "/api/projects/{project}"
_V1_AR: Final = PREFIX + "/projects/{project}/artifacts/{name}/versions"


# ---------------------------------------------------------------------------- dashboard
@router.get(_PR + "/artifacts")
def artifacts(data: Data, project: str) -> Any:
    """A project's artifacts: every live version with its aliases, size, digest and run."""
    return json_response(guarded(lambda: _artifact_list(data, project)))


@router.get(_PR + "/artifacts/{name}/v/{version:int}/files")
def artifact_files(data: Data, project: str, name: str, version: int) -> Any:
    """The files and references of one artifact version."""
    return json_response(guarded(lambda: _version_files(data, project, name, version)))


@router.get("/api/registry")
def registry(data: Data) -> Any:
    """The model registry: collections, their versions, aliases and source artifact versions."""
    return json_response(guarded(lambda: _registry(data)))


def _artifact_list(data: ServerData, project: str) -> list[dict[str, Any]]:
    """The project's artifacts with their live versions (newest first) and aliases."""
    from tracker.api._artifacts import list_artifacts

    project = check_project(project)
    out = []
    for proj, name, type_ in list_artifacts(data.api, project):
        versions = [
            _version_row(art) for art in reversed(data.api.artifact_versions(type_, f"{proj}/{name}"))
        ]
        out.append({"name": name, "type": type_, "versions": versions})
    return out


def _version_row(art: Any) -> dict[str, Any]:
    committed = art._committed
    return {
        "version": art.version,
        "number": committed.version if committed is not None else None,
        "aliases": list(art.aliases),
        "digest": art.digest,
        "size": art.size,
        "created": art.created_at,
        "run_id": committed.run_id if committed is not None else None,
        "metadata": clean(committed.metadata if committed is not None else {}),
    }


def _registry(data: ServerData) -> list[dict[str, Any]]:
    """The model registry's collections (artifacts of the reserved project), versions and sources."""
    from tracker.artifacts._names import REGISTRY_PROJECT

    out = _artifact_list(data, REGISTRY_PROJECT)
    for collection in out:
        for version in collection["versions"]:
            meta = version["metadata"] if isinstance(version["metadata"], dict) else {}
            source = meta.get("source")
            version["source"] = source if isinstance(source, dict) else None
    return out


def _version_files(data: ServerData, project: str, name: str, version: int) -> dict[str, Any]:
    """The entries (files and references) of one artifact version, sorted by path."""
    from tracker.api._artifacts import get_artifact

    project = check_project(project)
    if not NAME_RE.match(name):
        raise UsageError(f"{name!r} is not a valid artifact name.")
    art = get_artifact(data.api, f"{project}/{name}:v{int(version)}")
    files = art.files()
    return {
        "name": name,
        "version": art.version,
        "count": len(files),
        "files": [
            {"path": e.path, "size": e.size, "digest": e.digest, "ref": e.ref} for e in files[:MAX_FILES]
        ],
    }


# ---------------------------------------------------------------------------- /api/v1
@v1.get(PREFIX + "/projects/{project}/artifacts", name="artifacts")
def v1_artifacts(request: Request, remote: Remote, project: str) -> Any:
    """A project's artifacts that have a live version."""
    from tracker.api._artifacts import list_artifacts

    def do() -> Any:
        authorize(request, project)
        remote.api._project_path(project)
        found = list_artifacts(remote.api, project)
        return {"artifacts": [{"project": p, "name": n, "type": t} for p, n, t in found]}

    return reply(do)


@v1.get(_V1_AR)
def versions(request: Request, remote: Remote, project: str, name: str) -> Any:
    """Every live version of an artifact (metadata, aliases, digest), oldest first."""
    from tracker.artifacts._names import check_name

    def do() -> Any:
        authorize(request, project)
        remote.api._project_path(project)
        check_name(name)
        found = remote.api.state.artifact_versions(project, name)
        return {"versions": [v._asdict() for v in found]}

    return reply(do)


def _version_of(remote: RemoteState, request: Any, project: str, name: str, ref: str) -> Any:
    from tracker.artifacts._names import check_name

    authorize(request, project)
    remote.api._project_path(project)
    check_name(name)
    try:
        found = remote.api.state.artifact_version(project, name, ref)
    except OverflowError:  # v<huge number>: no such version
        found = None
    if found is None or found.deleted:
        raise StorageError(f"no artifact {project}/{name}:{ref} on this server.")
    return found


@v1.get(_V1_AR + "/{ref}")
def version(request: Request, remote: Remote, project: str, name: str, ref: str) -> Any:
    """One artifact version by number (``v3``, ``3``) or alias (``latest``)."""
    return reply(lambda: {"version": _version_of(remote, request, project, name, ref)._asdict()})


@v1.get(_V1_AR + "/{ref}/manifest")
def manifest(request: Request, remote: Remote, project: str, name: str, ref: str) -> Any:
    """A version's manifest: ``{"version", "digest", "entries": {path: {digest, size} or {ref}}}``."""
    from tracker.artifacts._store import BlobStore

    def do() -> Any:
        found = _version_of(remote, request, project, name, ref)
        entries = BlobStore(remote.root).read_manifest(found.digest)
        return {"version": found._asdict(), "digest": found.digest, "entries": entries}

    return reply(do)


@v1.get(_V1_AR + "/{ref}/files/{path:path}")
def artifact_file(request: Request, remote: Remote, project: str, name: str, ref: str, path: str) -> Any:
    """The bytes of one file of a version, found by its path in the manifest."""
    return reply(lambda: _file_response(remote, request, (project, name, ref), path))


def _file_response(remote: RemoteState, request: Any, where: tuple[str, str, str], path: str) -> Any:
    from tracker.artifacts._names import check_entry
    from tracker.artifacts._store import BlobStore

    project, name, _ = where
    entry_path = check_entry(path)
    found = _version_of(remote, request, *where)
    entry = BlobStore(remote.root).read_manifest(found.digest).get(entry_path)
    label = f"{project}/{name}:v{found.version}"
    if entry is None:
        raise StorageError(f"artifact {label} has no file {path!r}.")
    digest = entry.get("digest")
    if entry.get("ref") is not None or not isinstance(digest, str):
        raise StorageError(f"{path!r} of {label} is a reference to {entry.get('ref')}; fetch it there.")
    fh, size = _open_blob(remote.root, digest, f"{path!r} of {label}")
    return StreamingResponse(
        _chunks(fh),
        media_type="application/octet-stream",
        headers={"content-length": str(size), "etag": f'"{digest}"', "x-tracker-digest": digest},
    )


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
