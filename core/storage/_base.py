"""The two storage interfaces behind the read side: the index and the state store.

Both are small ABCs so that the SQLite implementations used locally and a PostgreSQL
implementation used by a team server are interchangeable, and both carry their
concurrency contract in their docstrings. The reusable contract tests
(``tests/contracts/index.py::IndexContract`` and
``tests/contracts/state.py::StateStoreContract``) check every implementation
against these docstrings.

* :class:`IndexBackend` is a **disposable projection** of run logs: delete it and it is
  rebuilt, identically, from the logs.
* :class:`StateStore` holds **cross-run state that is not derived from run logs**
  (artifact versions and aliases, registry links, sweep state and claims, user edits):
  it is transactional, journalled, and never rebuilt.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from tracker._naming import LOG_NAME
from tracker.errors import StorageError
from tracker.storage._discovery import _discover, _skip_unreadable
from tracker.storage._records import (
    ArtifactInfo,
    ArtifactVersion,
    ChunkStats,
    JournalEntry,
    KeyInfo,
    ProjectInfo,
    RegistryLink,
    RunEdit,
    RunRecord,
    Series,
    SweepRecord,
)

__all__ = [
    "ArtifactInfo",
    "ArtifactVersion",
    "ChunkStats",
    "IndexBackend",
    "IndexChangedError",
    "JournalEntry",
    "KeyInfo",
    "LOG_NAME",
    "ProjectInfo",
    "RegistryLink",
    "RunEdit",
    "RunRecord",
    "STATE_NAME",
    "STREAMS",
    "Series",
    "StateStore",
    "SweepRecord",
]

#: File name of the state store inside the index directory.
STATE_NAME: Final = "state.sqlite"
#: History streams: ``default`` (logged rows) and ``events`` (system metrics; W&B's name).
STREAMS: Final = {"default": 0, "events": 1, "system": 1}


class IndexChangedError(StorageError):
    """A lazily loaded part of a read no longer matches: the index was rewritten meanwhile.

    Raised by a :class:`Series` column decoded on first use (timestamps) when a rewind or
    a rebuild rewrote the key after its values were read; reading again gives a
    consistent result, which is what ``Api`` does.
    """


class IndexBackend(ABC):
    """The metric and run index: a disposable, incremental projection of run logs.

    Lifecycle: construct over a data root; :meth:`refresh` brings the index up to date
    with the run logs under ``<root>/projects/<project>/runs/<id>/run.tlog``, reading
    each log only from the byte offset where the previous refresh stopped; the read
    methods then answer from the index alone; :meth:`close` releases resources.

    Concurrency contract (what every implementation guarantees):

    * Any number of threads and processes may refresh and read the same index at once,
      while writers append to the logs. No caller sees a lock error; contention waits.
    * Ingesting a slice of a log is one transaction that stores the data together with
      the new offset. An implementation re-checks the stored offset inside its write
      lock and discards work another process already committed, so no record is ever
      indexed twice or skipped.
    * Readers see committed state only; a single read call sees one consistent state.
    * Only whole, checksummed records are ingested: a torn tail is left for later.
    * A rewind (``resume_from``) hides the superseded rows from every read.
    * Deleting the index and refreshing again gives identical read results.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # ---------------------------------------------------------------- ingest
    def refresh(self, project: str | None = None, run_id: str | None = None) -> int:
        """Bring the index up to date with the logs of a run, a project, or everything.

        Cheap when nothing changed: one ``stat`` per run log compared with what was
        stored. Runs whose log disappeared are dropped (unless ``run_id`` is given).

        Args:
            project: Limit to this project (all projects when None).
            run_id: Limit to this run of ``project``.

        Returns:
            The number of run logs that had new data.
        """
        known = self.log_positions(project, run_id if project is not None else None)
        found = _discover(self.root, project, run_id)
        changed = [
            (proj, rid, Path(path))
            for (proj, rid), (path, stat) in found.items()
            if known.get((proj, rid)) != stat
        ]
        if changed:
            self.ingest_many(changed)
        count = len(changed)
        if run_id is None:
            for proj, rid in set(known) - set(found):
                self.forget(proj, rid)
                count += 1
        return count

    @abstractmethod
    def log_positions(
        self, project: str | None = None, run_id: str | None = None
    ) -> dict[tuple[str, str], tuple[int, int]]:
        """The ``(size, mtime_ns)`` of each run log (of a project, of one run) when last fully read."""

    @abstractmethod
    def ingest(self, project: str, run_id: str, path: Path) -> int:
        """Index a run log's records past the stored offset; return how many were read."""

    def ingest_many(self, items: list[tuple[str, str, Path]]) -> None:
        """Index several logs (a hook: backends may batch them into fewer transactions).

        A log that cannot be read (not a tracker header, an I/O error) is skipped with one
        warning (raised in strict mode), so that one bad file never hides the rest of a
        project.
        """
        for project, run_id, path in items:
            try:
                self.ingest(project, run_id, path)
            except StorageError as exc:
                _skip_unreadable(path, exc)

    @abstractmethod
    def forget(self, project: str, run_id: str) -> None:
        """Drop a run (its log is gone) from the index."""

    # ---------------------------------------------------------------- reads
    @abstractmethod
    def projects(self) -> list[ProjectInfo]:
        """All indexed projects, sorted by name."""

    @abstractmethod
    def runs(self, project: str) -> list[RunRecord]:
        """Every indexed run of ``project`` (unsorted, unfiltered)."""

    @abstractmethod
    def run(self, project: str, run_id: str) -> RunRecord | None:
        """One run, or None when it is not indexed."""

    @abstractmethod
    def details(self, project: str, run_id: str) -> dict[str, Any]:
        """Rarely needed parts of a run: ``alerts``, ``capture``, ``metrics``, ``files``, ``artifacts``."""

    @abstractmethod
    def keys(self, project: str, run_id: str, stream: str = "default") -> dict[str, KeyInfo]:
        """The key catalog of one stream of a run."""

    @abstractmethod
    def series(
        self,
        project: str,
        run_id: str,
        keys: Iterable[str],
        *,
        stream: str = "default",
        min_seq: int | None = None,
        max_seq: int | None = None,
    ) -> dict[str, Series]:
        """The points of ``keys`` (absent keys are left out), optionally for a row range.

        Args:
            project: Project name.
            run_id: Run id.
            keys: Keys to load.
            stream: ``default`` or ``events``.
            min_seq: First row number wanted (inclusive).
            max_seq: Last row number wanted (exclusive).
        """

    def numeric_chunks(
        self,
        project: str,
        run_id: str,
        keys: Iterable[str],
        *,
        stream: str = "default",
        step_min: float | None = None,
        step_max: float | None = None,
        values: bool = True,
    ) -> dict[str, list[ChunkStats]] | None:
        """Per-chunk statistics (and optionally the value blobs) of numeric keys, read-only.

        Lets a reader answer aggregates (downsampling) from the stored min/max/first/last
        of whole chunks without decoding their points. Keys with any non-numeric point
        and absent keys are left out; chunks come in log order; only chunks whose step
        range meets ``[step_min, step_max]`` are returned. One consistent snapshot.

        Returns:
            ``{key: [ChunkStats, ...]}``, or None when the backend does not keep chunk
            statistics (callers then fall back to :meth:`series`).
        """
        return None

    def close(self) -> None:  # noqa: B027 - an optional hook with a default body
        """Release connections; the object must not be used afterwards."""


class StateStore(ABC):
    """Transactional cross-run state; never derived from run logs, never rebuilt.

    Holds artifact versions (by manifest digest) and their aliases, registry links,
    sweeps with their claims, and user edits of runs (tags, notes, deletion). Every
    change is appended to a journal in the same transaction.

    Lifecycle: construct (opens or creates the store), call methods from any thread,
    :meth:`close`.

    Concurrency contract (what every implementation guarantees, across threads,
    processes and, for a server backend, hosts):

    * Each method is one atomic transaction; a failed call changes nothing.
    * Version numbers of an artifact are assigned 0, 1, 2, ... in commit order, once:
      a number is never changed or reused, even after the version is deleted. Adding a
      digest that already exists returns the existing version (idempotent).
    * An alias names at most one version of an artifact at any time; setting it on
      another version moves it atomically.
    * :meth:`claim` hands out each ``(sweep_id, key)`` at most once across all callers.
    * The journal is append-only: entries are never changed or removed, and their
      ``seq`` strictly increases in commit order.
    """

    # ---------------------------------------------------------------- artifacts
    @abstractmethod
    def add_artifact_version(
        self,
        project: str,
        name: str,
        type: str,
        digest: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        aliases: Iterable[str] = (),
    ) -> ArtifactVersion:
        """Register a version by manifest digest (idempotent) and set ``aliases`` on it.

        Raises:
            UsageError: ``type`` differs from the artifact's type, or an alias is invalid.
        """

    @abstractmethod
    def artifact_version(self, project: str, name: str, ref: str | int) -> ArtifactVersion | None:
        """Look a version up by number (``3`` or ``"v3"``), alias, or manifest digest."""

    @abstractmethod
    def artifact_versions(
        self, project: str, name: str, *, include_deleted: bool = False
    ) -> list[ArtifactVersion]:
        """All versions of an artifact, oldest first."""

    @abstractmethod
    def artifacts(self, project: str | None = None) -> list[ArtifactInfo]:
        """Every artifact (of ``project``, or of every project), sorted by project and name.

        Artifacts whose versions are all deleted are listed with ``latest=None``.
        """

    @abstractmethod
    def set_alias(self, project: str, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at ``version``, moving it from any other version.

        Raises:
            UsageError: The alias is invalid or the version does not exist.
        """

    @abstractmethod
    def remove_alias(self, project: str, name: str, alias: str) -> bool:
        """Remove an alias; False when it did not exist."""

    @abstractmethod
    def delete_artifact_version(self, project: str, name: str, version: int) -> bool:
        """Mark a version deleted and drop its aliases; its number stays taken."""

    @abstractmethod
    def set_artifact_metadata(
        self, project: str, name: str, version: int, metadata: Mapping[str, Any]
    ) -> None:
        """Replace a version's stored metadata (its description and user metadata edited).

        Raises:
            UsageError: The version does not exist.
        """

    # ---------------------------------------------------------------- registry
    @abstractmethod
    def link_artifact(self, collection: str, project: str, name: str, version: int) -> RegistryLink:
        """Link an artifact version into a collection (idempotent per source version)."""

    @abstractmethod
    def registry_links(self, collection: str) -> list[RegistryLink]:
        """Links of a collection, oldest first."""

    # ---------------------------------------------------------------- sweeps
    @abstractmethod
    def create_sweep(
        self, sweep_id: str, project: str, config: Mapping[str, Any], state: str = "pending"
    ) -> SweepRecord:
        """Store a new sweep.

        Raises:
            UsageError: A sweep with this id already exists.
        """

    @abstractmethod
    def sweep(self, sweep_id: str) -> SweepRecord | None:
        """A sweep, or None."""

    @abstractmethod
    def set_sweep_state(self, sweep_id: str, state: str) -> SweepRecord:
        """Change a sweep's state.

        Raises:
            UsageError: No such sweep.
        """

    def sweeps(self, project: str | None = None) -> list[SweepRecord]:
        """Every sweep (of ``project`` when given), oldest first.

        The default reads the journal's ``sweep.create`` entries; stores override it.
        """
        out = []
        for entry in self.journal():
            if entry.op == "sweep.create":
                found = self.sweep(str(entry.data.get("id")))
                if found is not None and (project is None or found.project == project):
                    out.append(found)
        return out

    @abstractmethod
    def claim(self, sweep_id: str, key: str, owner: str) -> bool:
        """Claim ``key`` of a sweep (a grid point, a run slot) for ``owner``; True for the first only."""

    @abstractmethod
    def claims(self, sweep_id: str) -> dict[str, str]:
        """Every claim of a sweep as ``{key: owner}``."""

    # ---------------------------------------------------------------- run edits
    @abstractmethod
    def edit_run(
        self,
        project: str,
        run_id: str,
        *,
        tags: Iterable[str] | None = None,
        notes: str | None = None,
        deleted: bool | None = None,
        config: Mapping[str, Any] | None = None,
        summary: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> RunEdit:
        """Record user edits of a run (arguments left as None are unchanged).

        ``config`` and ``summary`` replace the run's earlier write-back of that field:
        ``{"set": {key: value}, "del": [key, ...]}`` over what the run log says.
        """

    @abstractmethod
    def run_edits(self, project: str) -> dict[str, RunEdit]:
        """The edits of every edited run of a project, by run id."""

    # ---------------------------------------------------------------- journal
    @abstractmethod
    def journal(self, since: int = 0, limit: int | None = None) -> list[JournalEntry]:
        """Journal entries with ``seq > since``, oldest first."""

    def close(self) -> None:  # noqa: B027 - an optional hook with a default body
        """Release connections; the object must not be used afterwards."""
