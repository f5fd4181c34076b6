"""The artifact read side of ``Api``: versions, the registry, and lineage both ways.

:class:`ApiArtifactsMixin` adds ``artifact``, ``artifact_versions`` and ``artifacts``
to :class:`tracker.api.Api`; :class:`RunArtifactsMixin` adds ``logged_artifacts`` and
``used_artifacts`` to :class:`tracker.api.Run`. Versions and aliases come from the
state store; lineage edges come from the ARTIFACT records of run logs (through the
index), so they need no extra table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from tracker.errors import RunNotFoundError, StorageError, UsageError

if TYPE_CHECKING:
    from tracker.api._api import Api
    from tracker.api._run import Run
    from tracker.artifacts import Artifact
    from tracker.storage._base import ArtifactVersion

__all__: list[str] = []


def _state_exists(api: Api) -> bool:
    from tracker._settings import index_dir
    from tracker.storage._base import STATE_NAME

    return api._state is not None or (index_dir(api.root) / STATE_NAME).exists()


def _artifact(api: Api, version: ArtifactVersion) -> Artifact:
    from tracker.artifacts import Artifact

    return Artifact._from_version(version, api.root, api._remote, lineage=api)


def get_artifact(api: Api, name: str, type: str | None = None) -> Artifact:
    """``Api.artifact``: ``[entity/]project/name[:version|alias]`` (``latest`` by default)."""
    from tracker.artifacts._names import parse_ref

    ref = parse_ref(name)
    project = ref.project or api.default_project
    found: ArtifactVersion | None
    if api._remote is not None:
        from tracker.artifacts._remote import artifact_version

        found = artifact_version(api._remote, project, ref.name, ref.ref)
    else:
        found = api.state.artifact_version(project, ref.name, ref.ref) if _state_exists(api) else None
    if found is None or found.deleted:
        raise StorageError(
            f"no artifact {project}/{ref.name}:{ref.ref} under {api.root}; `tracker artifact ls "
            f"{project}` lists what exists."
        )
    if type is not None and found.type != type:
        raise UsageError(f"artifact {project}/{ref.name} has type {found.type!r}, not {type!r}.")
    return _artifact(api, found)


def get_versions(api: Api, type_name: str, name: str) -> list[Artifact]:
    """``Api.artifact_versions``: every live version of ``[project/]name`` of that type, oldest first."""
    from tracker.artifacts._names import check_name

    parts = name.split("/") if isinstance(name, str) else []
    if not 1 <= len(parts) <= 3:
        raise UsageError(f"artifact_versions(name={name!r}): use 'name' or 'project/name'.")
    art_name = check_name(parts[-1])
    project = check_name(parts[-2], "project name") if len(parts) > 1 else api.default_project
    if api._remote is not None:
        from tracker.artifacts._remote import artifact_versions

        remote = artifact_versions(api._remote, project, art_name)
        return [_artifact(api, v) for v in remote if v.type == type_name]
    if not _state_exists(api):
        return []
    return [_artifact(api, v) for v in api.state.artifact_versions(project, art_name) if v.type == type_name]


def list_artifacts(api: Api, project: str | None = None) -> list[tuple[str, str, str]]:
    """``(project, name, type)`` of every artifact (of ``project``) with a live version, sorted."""
    if api._remote is not None:
        from tracker.artifacts._remote import artifacts

        if project is None:
            raise api._remote.unsupported("listing the artifacts of every project")
        return artifacts(api._remote, project)
    if not _state_exists(api):
        return []
    return [(a.project, a.name, a.type) for a in api.state.artifacts(project) if a.latest is not None]


def _edges(api: Api, project: str, run_id: str, op: str) -> list[dict[str, Any]]:
    records = api.index.details(project, run_id).get("artifacts")
    if not isinstance(records, list):
        return []
    return [r for r in records if isinstance(r, dict) and r.get("op") == op]


def run_artifacts(run: Run, op: str) -> list[Artifact]:
    """The artifact versions a run logged (``op="log"``) or used (``op="use"``), in log order."""
    api = run._api
    api._refresh(run.project, run.id)
    out: list[Artifact] = []
    seen: set[tuple[str, str, int]] = set()
    for rec in _edges(api, run.project, run.id, op):
        key = (str(rec["project"]), str(rec["name"]), int(rec["version"]))
        if key in seen:
            continue
        seen.add(key)
        version = api.state.artifact_version(*key)
        if version is not None and not version.deleted:
            out.append(_artifact(api, version))
    return out


def logged_by(api: Api, art: Artifact) -> Run | None:
    """The run that created the version (for a registry version: its source's run)."""
    from tracker.artifacts._names import REGISTRY_PROJECT

    version = art._committed
    assert version is not None
    assert art._root is not None
    if version.run_id is None:
        return None
    project = version.project
    if project == REGISTRY_PROJECT:
        project = str(version.metadata.get("source", {}).get("project", project))
    try:
        return api.run(f"{project}/{version.run_id}")
    except RunNotFoundError:
        return None


def used_by(api: Api, art: Artifact) -> list[Run]:
    """Every run (in any project) whose log records a use of this version, oldest first."""
    from tracker.api._run import Run as ApiRun

    version = art._committed
    assert version is not None
    assert art._root is not None
    if api._remote is not None:
        raise api._remote.unsupported(f"used_by() of {art.qualified_name}")
    api._refresh()
    edits: dict[str, Any]
    runs: list[ApiRun] = []
    key = (version.project, version.name, version.version)
    for project in api.index.projects():
        edits = api._edits(project.name)
        for record in api.index.runs(project.name):
            uses = _edges(api, project.name, record.id, "use")
            if any((r.get("project"), r.get("name"), r.get("version")) == key for r in uses):
                edit = edits.get(record.id)
                if edit is None or not edit.deleted:
                    runs.append(ApiRun(api, record, edit))
    runs.sort(key=lambda r: r._created)
    return runs


class ApiArtifactsMixin:
    """Artifact methods of :class:`tracker.api.Api`."""

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """One artifact version: ``"project/name:alias"``, ``"name:v3"``, ``"model-registry/<c>:production"``.

        Args:
            name: ``[entity/]project/name[:version|alias]``; the default project when no
                project is given, ``latest`` when no version is.
            type: When given, the artifact must have this type.

        Raises:
            UsageError: A malformed name or a type mismatch.
            StorageError: No such version.
        """
        return get_artifact(cast("Api", self), name, type)

    def artifact_versions(self, type_name: str, name: str, per_page: int = 50) -> list[Artifact]:
        """Every live version of ``[project/]name`` with type ``type_name``, oldest first."""
        return get_versions(cast("Api", self), type_name, name)

    def artifacts(self, type_name: str, name: str, per_page: int = 50) -> list[Artifact]:
        """Same as :meth:`artifact_versions` (W&B's newer name)."""
        return get_versions(cast("Api", self), type_name, name)

    def artifact_logged_by(self, art: Artifact) -> Run | None:
        """The run that logged ``art``'s version (``Artifact.logged_by``: Api is its lineage reader)."""
        return logged_by(cast("Api", self), art)

    def artifact_used_by(self, art: Artifact) -> list[Run]:
        """The runs that used ``art``'s version (``Artifact.used_by``), oldest first."""
        return used_by(cast("Api", self), art)

    def artifact_exists(self, name: str, type: str | None = None) -> bool:
        """True when :meth:`artifact` would find the version."""
        try:
            get_artifact(cast("Api", self), name, type)
        except StorageError:
            return False
        return True


class RunArtifactsMixin:
    """Artifact methods of :class:`tracker.api.Run`."""

    def logged_artifacts(self, per_page: int = 100) -> list[Artifact]:
        """The artifact versions this run logged, in log order."""
        return run_artifacts(cast("Run", self), "log")

    def used_artifacts(self, per_page: int = 100) -> list[Artifact]:
        """The artifact versions this run used, in log order."""
        return run_artifacts(cast("Run", self), "use")
