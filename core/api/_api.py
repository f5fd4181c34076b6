"""``Api``: the W&B-shaped read side over the local index and state store."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from tracker._naming import DEFAULT_PROJECT, ID_RE, NAME_RE
from tracker.api._artifacts import ApiArtifactsMixin
from tracker.api._filters import compile_filter, sort_runs
from tracker.api._run import Run, Runs
from tracker.errors import RunNotFoundError, StorageError, UsageError

if TYPE_CHECKING:
    from tracker.api._remote import Remote
    from tracker.api._sweeps import Sweep
    from tracker.storage._base import IndexBackend, StateStore

__all__ = ["Api", "Project"]


class Project(NamedTuple):  # not a dataclass: dataclasses imports inspect (~5 ms a fresh process)
    """A project of the data root.

    Attributes:
        name: Project name.
        entity: Entity (``local``).
        run_count: Number of runs.
        last_created: Unix time the newest run was created, or None.
    """

    name: str
    entity: str
    run_count: int
    last_created: float | None


class Api(ApiArtifactsMixin):
    """Read runs, histories and summaries: W&B's ``wandb.Api()`` over local data.

    Every call first brings the index up to date with the run logs (incrementally,
    by byte offset; a ``stat`` per run log when nothing changed), so results include
    rows logged a moment ago by runs that are still training.

    Args:
        root: Data root (default ``$TRACKER_DIR`` or ``~/.tracker``). A mapping here is
            taken as W&B's ``overrides``.
        overrides: W&B's overrides; ``project`` sets the default project and
            ``entity`` is accepted.
        timeout: Seconds per request to a team server.
        api_key: Key for the team server (default ``$TRACKER_API_KEY``, then the key
            ``tracker login`` stored for that server).
        base_url: Read from this team server instead of a data root (default
            ``$TRACKER_BASE_URL`` when no ``root`` is given); the same classes and
            methods then answer from the server (see :mod:`tracker.api._remote`).
        index: Read runs from this index instead of the data root's SQLite index (a
            team server passes its PostgreSQL index).
        state: Read artifacts, sweeps and edits from this state store instead of the
            data root's SQLite store.

    Example:
        >>> api = tracker.Api()  # doctest: +SKIP
        >>> runs = api.runs("demo", filters={"config.lr": {"$lt": 0.01}})  # doctest: +SKIP
        >>> runs[0].history(keys=["loss"])  # doctest: +SKIP
    """

    #: ``runs("typo")`` raises (a server serving the dashboard turns it off: an empty list).
    _strict_projects = True

    def __init__(
        self,
        root: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        index: IndexBackend | None = None,
        state: StateStore | None = None,
    ) -> None:
        from tracker._settings import data_root

        if isinstance(root, Mapping):  # wandb.Api({"project": ...}) passes overrides first
            overrides, root = root, None
        self.settings: dict[str, Any] = dict(overrides or {})
        self.root: Path = data_root(root)
        if (
            root is not None
            and base_url is None
            and index is None
            and state is None
            and not self.root.is_dir()
        ):
            # A typo in the path would otherwise become a new, empty data root.
            raise StorageError(
                f"Api({str(root)!r}): no data root at {self.root} (nothing was logged there); check the "
                "path, or log a run there first with tracker.init(dir=...).",
                path=str(self.root),
            )
        self._index: IndexBackend | None = index
        self._state: StateStore | None = state
        self._given = (index, state)  # kept across close(): the caller owns them
        self._remote: Remote | None = None
        if root is None or base_url is not None:
            from tracker.api._remote import connect

            self._remote = connect(base_url, api_key, timeout)

    # ---------------------------------------------------------------- storage
    @property
    def index(self) -> IndexBackend:
        """The index of the data root (opened on first use)."""
        if self._remote is not None:
            raise self._remote.unsupported("this")
        if self._index is None:
            from tracker.storage._sqlite_index import SQLiteIndex

            self._index = self._given[0] or SQLiteIndex(self.root)
        return self._index

    @property
    def state(self) -> StateStore:
        """The state store of the data root (opened on first use)."""
        if self._remote is not None:
            raise self._remote.unsupported("this")
        if self._state is None:
            from tracker.storage._sqlite_state import SQLiteStateStore

            self._state = self._given[1] or SQLiteStateStore.for_root(self.root)
        return self._state

    def _refresh(self, project: str | None = None, run_id: str | None = None) -> None:
        self.index.refresh(project, run_id)

    def _edits(self, project: str) -> dict[str, Any]:
        if self._state is None and self._given[1] is None:
            from tracker._settings import index_dir
            from tracker.storage._base import STATE_NAME

            # Reading never creates the state store: no edits were ever made.
            if not (index_dir(self.root) / STATE_NAME).exists():
                return {}
        return self.state.run_edits(project)

    def close(self) -> None:
        """Close the index and state store connections (a later call opens them again)."""
        if self._index is not None:
            self._index.close()
            self._index = None
        if self._state is not None:
            self._state.close()
            self._state = None

    def flush(self) -> None:
        """W&B clears its caches here; tracker reads fresh data on every call."""

    # ---------------------------------------------------------------- W&B API
    @property
    def default_project(self) -> str:
        """``overrides["project"]``, ``$TRACKER_PROJECT`` or ``uncategorized``."""
        from tracker._settings import ENV_PROJECT, env

        return str(self.settings.get("project") or env(ENV_PROJECT) or DEFAULT_PROJECT)

    def projects(self, entity: str | None = None, per_page: int = 200) -> list[Project]:
        """Every project of the data root, sorted by name.

        Args:
            entity: Accepted for W&B compatibility.
            per_page: Accepted for W&B compatibility.
        """
        if self._remote is not None:
            return [Project(**p) for p in self._remote.projects()]
        self._refresh()
        return [Project(p.name, "local", p.run_count, p.last_created) for p in self.index.projects()]

    def runs(
        self,
        path: str | None = None,
        filters: Mapping[str, Any] | None = None,
        order: str = "-created_at",
        per_page: int = 50,
        include_sweeps: bool = True,
    ) -> Runs:
        """Runs of a project, filtered and sorted.

        Args:
            path: ``project`` or ``entity/project`` (default: :attr:`default_project`).
            filters: MongoDB-style filter (``$and $or $nor $eq $ne $gt $gte $lt $lte
                $in $nin $regex $exists $not``) on ``config.<key>``,
                ``summary_metrics.<key>``, ``state``, ``display_name``, ``name`` (the
                id), ``tags``, ``group``, ``job_type``, ``created_at``, ...
            order: ``[+|-]field``; runs without the field come last.
            per_page: Runs per request to a team server (all matches are returned).
            include_sweeps: Accepted for W&B compatibility.

        Returns:
            A :class:`Runs` sequence.

        Raises:
            UsageError: A malformed path, filter or order.
            StorageError: ``path`` names a project the data root does not have (see
                :meth:`check_project`; also a ``ValueError``, as in W&B).
        """
        project = self._project_path(path)
        predicate = compile_filter(filters)
        if order:
            from tracker.api._filters import getter

            getter(order[1:] if order[:1] in "+-" else order)  # validate before any work
        if self._remote is not None:
            found = self._remote.runs(self, project, filters, order, per_page)
            return Runs(found, project=project, filters=filters, order=order)
        self._refresh(project)
        edits = self._edits(project)
        now = time.time()
        runs = []
        records = self.index.runs(project)
        for record in records:
            edit = edits.get(record.id)
            if edit is not None and edit.deleted:
                continue
            run = Run(self, record, edit, now=now)
            if predicate(run):
                runs.append(run)
        if not records and path is not None and self._strict_projects:
            self.check_project(project)
        return Runs(sort_runs(runs, order), project=project, filters=filters, order=order)

    def check_project(self, project: str) -> None:
        """Raise when the data root has no project ``project`` (no runs, no folder, no sweep).

        Raises:
            StorageError: ``no project 'x' under ROOT (projects: a, b); did you mean 'a'?``;
                also a ``ValueError``, which W&B's ``Api().runs`` raises ("Could not find
                project").
        """
        from tracker._human import did_you_mean, listing
        from tracker._naming import project_dir

        if project_dir(self.root, project).is_dir():
            return
        names = [p.name for p in self.projects()]
        if project in names:
            return
        if self._edits_exist() and (self.state.sweeps(project) or self.state.artifacts(project)):
            return  # a project with sweeps or artifacts but no runs yet
        raise _NoProjectError(
            f"no project {project!r} under {self.root} (projects: {listing(names)})"
            f"{did_you_mean(project, names) or '.'}",
            path=str(self.root),
        )

    def _edits_exist(self) -> bool:
        if self._state is not None or self._given[1] is not None:
            return True
        from tracker._settings import index_dir
        from tracker.storage._base import STATE_NAME

        return (index_dir(self.root) / STATE_NAME).exists()

    def run(self, path: str) -> Run:
        """One run by ``project/id``, ``entity/project/id`` or ``entity/project/runs/id``.

        Raises:
            UsageError: A malformed path.
            RunNotFoundError: No such run (or it was deleted).
        """
        project, run_id = self._run_path(path)
        if self._remote is not None:
            return self._remote.run(self, project, run_id)
        self._refresh(project, run_id)
        record = self.index.run(project, run_id)
        edit = self._edits(project).get(run_id) if record is not None else None
        if record is None or (edit is not None and edit.deleted):
            raise RunNotFoundError(
                f"no run {run_id!r} in project {project!r} under {self.root}"
                f"{self._run_hint(project, run_id) or '; check the path (project/id) and TRACKER_DIR.'}",
                run_id=run_id,
            )
        return Run(self, record, edit)

    def _run_hint(self, project: str, run_id: str) -> str:
        """The error path of :meth:`run`: a run named ``run_id``, or ids close to it."""
        from tracker._human import did_you_mean, listing

        self._refresh(project)  # run() refreshed only the one run asked for
        records = self.index.runs(project)
        if not records:  # an unknown project is the mistake to name
            names = [p.name for p in self.projects()]
            if run_id in names:
                return f"; {run_id!r} is a project: name a run as {run_id}/ID."
            if project not in names:
                hint = did_you_mean(project, names) or "."
                return f"; there is no project {project!r} (projects: {listing(names)}){hint}"
        named = [r.id for r in records if r.name == run_id]
        if named:
            return f"; {run_id!r} is the name of run {named[0]!r}: use {project}/{named[0]}."
        return did_you_mean(run_id, [r.id for r in records])

    # ---------------------------------------------------------------- paths
    def _project_path(self, path: str | None) -> str:
        if path is None:
            return self.default_project
        if not isinstance(path, str):
            raise UsageError(f"runs(path={path!r}): use 'project' or 'entity/project'.")
        parts = [p for p in path.strip("/").split("/") if p]
        if len(parts) not in (1, 2):
            raise UsageError(f"runs(path={path!r}): use 'project' or 'entity/project'.")
        return _check(parts[-1], "project", path)

    def _run_path(self, path: str) -> tuple[str, str]:
        if not isinstance(path, str):
            raise UsageError(f"run({path!r}): use 'project/id' or 'entity/project/id'.")
        parts = [p for p in path.strip("/").split("/") if p]
        if len(parts) == 4 and parts[2] == "runs":
            parts = [parts[0], parts[1], parts[3]]
        if len(parts) == 1:
            parts = [self.default_project, parts[0]]
        if len(parts) not in (2, 3):
            raise UsageError(f"run({path!r}): use 'project/id' or 'entity/project/id'.")
        project = _check(parts[-2], "project", path)
        run_id = parts[-1]
        if not ID_RE.match(run_id):
            raise UsageError(f"run({path!r}): {run_id!r} is not a valid run id.")
        return project, run_id

    def sweep(self, path: str) -> Sweep:
        """A sweep by ``ID``, ``project/ID`` or ``entity/project/ID``: ``runs``, ``best_run()``, ``state``."""
        from tracker.api._sweeps import Sweep

        return Sweep(self, path)

    def __repr__(self) -> str:
        if self._remote is not None:
            return f"<Api base_url={self._remote.base_url!r}>"
        return f"<Api root={str(self.root)!r}>"


class _NoProjectError(StorageError, ValueError):
    """No such project: a StorageError here, and the ValueError that W&B's ``runs()`` raises."""


def _check(name: str, what: str, path: str) -> str:
    if not NAME_RE.match(name):
        raise UsageError(f"{path!r}: {name!r} is not a valid {what} name.")
    return name
