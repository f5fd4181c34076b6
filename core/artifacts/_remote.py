"""Artifacts read from a team server: versions, manifests and file downloads.

Used by ``Api(base_url=...)`` (:mod:`tracker.api._artifacts`), by an online run's
``use_artifact`` when the local data root lacks the version (:mod:`tracker.artifacts._ops`)
and by :meth:`tracker.Artifact.download` of an artifact read from the server. Each call
is one request through the shared client (:class:`tracker._client.Client`); a manifest
is checked against its version's digest, and each file is streamed to a temporary name,
checked against its digest and only then renamed into place.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker._client import Client, quote
from tracker.errors import StorageError

if TYPE_CHECKING:
    from tracker.storage._base import ArtifactVersion

__all__ = ["artifact_manifest", "artifact_version", "artifact_versions", "artifacts", "download_file"]


def _version_from_wire(data: Mapping[str, Any]) -> ArtifactVersion:
    from tracker.storage._base import ArtifactVersion

    fields = dict(data)
    fields["aliases"] = tuple(fields.get("aliases") or ())
    return ArtifactVersion(**{name: fields[name] for name in ArtifactVersion._fields if name in fields})


def _version_path(version: ArtifactVersion) -> str:
    """``/projects/<p>/artifacts/<name>/versions/v<N>``: by number, which no alias move changes."""
    return f"/projects/{quote(version.project)}/artifacts/{quote(version.name)}/versions/v{version.version}"


def _label(version: ArtifactVersion) -> str:
    return f"{version.project}/{version.name}:v{version.version}"


def artifact_version(client: Client, project: str, name: str, ref: str | int) -> ArtifactVersion:
    """One artifact version by number or alias.

    Raises:
        StorageError: No such version.
    """
    path = f"/projects/{quote(project)}/artifacts/{quote(name)}/versions/{quote(str(ref))}"
    return _version_from_wire(client.call("GET", path, artifact=f"{project}/{name}:{ref}")["version"])


def artifact_manifest(client: Client, version: ArtifactVersion) -> dict[str, dict[str, Any]]:
    """The manifest entries of a version, checked against its digest.

    Raises:
        StorageError: No such version, or the entries the server sent do not hash
            to the version's digest.
    """
    from tracker.artifacts._store import manifest_digest

    label = _label(version)
    entries = client.call("GET", _version_path(version) + "/manifest", artifact=label)["entries"]
    if not isinstance(entries, dict) or manifest_digest(entries)[0] != version.digest:
        raise StorageError(
            f"the team server {client.base_url} sent a manifest for {label} that does not match its "
            f"digest {version.digest}; the server's copy is damaged."
        )
    return entries


def download_file(client: Client, version: ArtifactVersion, name: str, digest: str, dest: Path) -> None:
    """Stream the file ``name`` of a version into ``dest``, checking it against ``digest``.

    The bytes go to a temporary file next to ``dest``, renamed into place only when
    they hash to ``digest``: ``dest`` is never left partial or wrong.

    Raises:
        StorageError: The bytes do not match ``digest``, the file is missing on the
            server, or ``dest`` cannot be written.
        CommError: The server is unreachable or refused the key.
    """
    import hashlib
    import os
    import urllib.parse
    import uuid

    label = _label(version)
    path = f"{_version_path(version)}/files/{urllib.parse.quote(name)}"
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    h = hashlib.sha256()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with client.stream(path, artifact=label) as chunks, open(tmp, "wb") as out:
            for chunk in chunks:
                h.update(chunk)
                out.write(chunk)
        got = "sha256:" + h.hexdigest()
        if got != digest:
            raise StorageError(
                f"artifact file {name!r} of {label}: the team server {client.base_url} sent bytes "
                f"that hash to {got}, but the manifest says {digest}; nothing was written to "
                f"{dest} (the server's copy is corrupted, or it changed in transit).",
                path=name,
            )
        os.replace(tmp, dest)
    except OSError as exc:
        raise StorageError(f"artifact file {name!r}: cannot write {dest}: {exc}", path=str(dest)) from exc
    finally:
        tmp.unlink(missing_ok=True)


def artifact_versions(client: Client, project: str, name: str) -> list[ArtifactVersion]:
    """Every live version of an artifact, oldest first."""
    data = client.call("GET", f"/projects/{quote(project)}/artifacts/{quote(name)}/versions")
    return [_version_from_wire(v) for v in data["versions"]]


def artifacts(client: Client, project: str) -> list[tuple[str, str, str]]:
    """``(project, name, type)`` of a project's artifacts with a live version."""
    data = client.call("GET", f"/projects/{quote(project)}/artifacts")
    return [(str(a["project"]), str(a["name"]), str(a["type"])) for a in data["artifacts"]]
