"""The two storage interfaces behind the read side: the index and the state store.

Both are small ABCs so that the SQLite implementations used locally and a PostgreSQL
implementation used by a team server are interchangeable, and both carry their
concurrency contract in their docstrings. The reusable contract tests
(``tests/unit/test_index.py::IndexContract`` and
``tests/unit/test_state_store.py::StateStoreContract``) check every implementation
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
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from tracker._naming import LOG_NAME, PROJECTS_DIR, RUNS_DIR
from tracker.errors import CorruptRecordError, StorageError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "ArtifactInfo",
    "ArtifactVersion",
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


# --------------------------------------------------------------------------- index records
class ProjectInfo(NamedTuple):
    """A project as the index sees it.

    Attributes:
        name: Project name (its directory name under ``<root>/projects``).
        run_count: Number of indexed runs.
        last_created: Creation time (unix seconds) of its newest run, or None.
    """

    name: str
    run_count: int
    last_created: float | None


class RunRecord(NamedTuple):
    """One run as folded from its log (what ``Api.runs`` filters and sorts).

    ``state`` is what the log says (``running`` until an exit record arrives); whether a
    ``running`` run has crashed is decided at read time from ``host``, ``pid``,
    ``start_time`` and ``last_time`` (see :mod:`tracker.storage._liveness`).

    Attributes:
        project: Project name.
        id: Run id.
        name: Display name (the id when none was given).
        entity: Entity recorded by ``init``, or None.
        group: Group, or None.
        job_type: Job type, or None.
        tags: Tags from the log (user edits live in the state store).
        notes: Notes from the log.
        sweep_id: Sweep the run belongs to, or None.
        created_at: Unix time of the first session's ``init``.
        state: Exit state of the latest session, or ``running``.
        exit_code: Exit code of the latest session, or None.
        runtime: Seconds the latest session ran, once it exited.
        host: Host of the latest session's writer.
        pid: Its process id.
        start_time: Its process start time (Linux clock ticks since boot), if recorded.
        last_time: Time of the last record or heartbeat.
        rows_logged: History rows in the log, superseded ones included.
        max_step: Largest live ``_step`` (-1 when nothing was logged).
        sessions: Number of sessions (1 + resumes).
        config: Merged config.
        summary: Last summary snapshot plus values logged after it.
        problems: What reading the log set aside (``corrupt`` records and ``gap`` runs of
            damaged bytes, each a dict with ``kind``, ``offset`` and ``reason``); the rest
            of the run is read as usual.
    """

    project: str
    id: str
    name: str
    entity: str | None
    group: str | None
    job_type: str | None
    tags: tuple[str, ...]
    notes: str | None
    sweep_id: str | None
    created_at: float
    state: str
    exit_code: int | None
    runtime: float | None
    host: str | None
    pid: int | None
    start_time: int | None
    last_time: float
    rows_logged: int
    max_step: int
    sessions: int
    config: dict[str, Any]
    summary: dict[str, Any]
    problems: tuple[dict[str, Any], ...] = ()


class KeyInfo(NamedTuple):
    """Catalog entry of one logged key of a run.

    Attributes:
        key: The metric key.
        points: Number of points (numeric and other).
        numeric: Number of numeric points.
        is_int: True when every point is an integer.
        min: Smallest numeric value (NaN ignored), or None.
        max: Largest numeric value (NaN ignored), or None.
        last_step: Step of the last point.
    """

    key: str
    points: int
    numeric: int
    is_int: bool
    min: float | None
    max: float | None
    last_step: int | None


class ChunkStats(NamedTuple):
    """One numeric chunk of a key as the index stores it (see :meth:`IndexBackend.numeric_chunks`).

    Attributes:
        cno: Chunk number (chunks of a key are numbered in log order).
        n: Number of points.
        step_min: Smallest ``_step`` of the chunk.
        step_max: Largest ``_step`` of the chunk.
        step0: ``_step`` of the first point.
        step_stride: Step between consecutive points when ``steps`` is None.
        steps: Little-endian int64 steps when they are not arithmetic, else None.
        vmin: Smallest value, NaN ignored (None when every value is NaN).
        vmax: Largest value, NaN ignored.
        vfirst: First value (None when NaN).
        vlast: Last value (None when NaN).
        vals: Little-endian float64 values (``n * 8`` bytes), or None when not asked for.
    """

    cno: int
    n: int
    step_min: int
    step_max: int
    step0: int
    step_stride: int
    steps: bytes | None
    vmin: float | None
    vmax: float | None
    vfirst: float | None
    vlast: float | None
    vals: bytes | None


class Series:
    """All points of one key of one run, in log order.

    ``step`` and ``ts`` may be given as zero-argument callables: they are then decoded on
    first access only (a downsampled read needs them for a few rows of one key).

    Attributes:
        seq: Row number of each point within the run's stream (the join key between keys).
        step: ``_step`` of each point.
        ts: Unix timestamp of each point.
        values: float64 array when every point is numeric, else a list of Python values.
        is_int: True when every point is an integer (read back as int64 where possible).
    """

    __slots__ = ("_seq", "_step", "_ts", "is_int", "seq_range", "values")

    def __init__(
        self,
        seq: NDArray[np.int64] | None,
        step: NDArray[np.int64] | Callable[[], NDArray[np.int64]],
        ts: NDArray[np.float64] | Callable[[], NDArray[np.float64]],
        values: NDArray[np.float64] | list[Any],
        is_int: bool = False,
        seq_range: tuple[int, int] | None = None,
    ) -> None:
        if seq is None and seq_range is None:
            raise ValueError("Series needs seq or seq_range")
        self._seq = seq
        self._step = step
        self._ts = ts
        self.values = values
        self.is_int = is_int
        #: ``(first, stop)`` when the row numbers are exactly ``range(first, stop)``:
        #: readers then use slices instead of gathering by row number.
        self.seq_range = seq_range

    @property
    def seq(self) -> NDArray[np.int64]:
        """Row number of each point."""
        if self._seq is None:
            import numpy as np

            assert self.seq_range is not None
            self._seq = np.arange(*self.seq_range, dtype=np.int64)
        return self._seq

    @property
    def step(self) -> NDArray[np.int64]:
        """``_step`` of each point."""
        if callable(self._step):
            self._step = self._step()
        return self._step

    @property
    def ts(self) -> NDArray[np.float64]:
        """Unix timestamp of each point."""
        if callable(self._ts):
            self._ts = self._ts()
        return self._ts

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"Series(n={len(self)}, is_int={self.is_int})"


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


_warned: set[str] = set()


def _skip_unreadable(path: Path | str, exc: StorageError) -> None:
    """One unreadable log must not hide the others: warn once (raise in strict mode).

    Only errors about the log itself are skipped: an error of the index (its ``path`` is
    not the log's) is raised.
    """
    from tracker._settings import strict

    if strict() or (not isinstance(exc, CorruptRecordError) and exc.path != str(path)):
        raise exc
    if str(path) not in _warned:
        _warned.add(str(path))
        import warnings

        from tracker.errors import TrackerWarning

        warnings.warn(f"skipping {path}: {exc}", TrackerWarning, stacklevel=4)


def _discover(
    root: Path, project: str | None, run_id: str | None
) -> dict[tuple[str, str], tuple[str, tuple[int, int]]]:
    """Find run logs under ``root`` with their ``(size, mtime_ns)``.

    Plain strings and ``os.scandir``/``os.stat``: this runs before every read, over
    every run of a project (pathlib costs more than the stat calls themselves).
    """
    base = os.path.join(os.fspath(root), PROJECTS_DIR)
    stats: dict[tuple[str, str], tuple[str, tuple[int, int]]] = {}
    if project is None:
        try:
            with os.scandir(base) as entries:
                projects = [e.name for e in entries if e.is_dir()]
        except (FileNotFoundError, NotADirectoryError):
            return {}
    else:
        projects = [project]
    stat = os.stat
    for proj in projects:
        runs_dir = os.path.join(base, proj, RUNS_DIR)
        if run_id is not None:
            ids = [run_id]
        else:
            try:
                with os.scandir(runs_dir) as entries:
                    ids = []
                    for e in entries:
                        if e.is_dir(follow_symlinks=False):
                            ids.append(e.name)
                        elif e.is_symlink():  # may lead out of the data root: never followed
                            msg = "a symbolic link: run folders must lie inside the data root"
                            _skip_unreadable(e.path, CorruptRecordError(msg, path=e.path))
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:  # a link loop, a permission: this project only
                _skip_unreadable(runs_dir, StorageError(f"cannot list it: {exc.strerror}", path=runs_dir))
                continue
        for rid in ids:
            path = f"{runs_dir}/{rid}/{LOG_NAME}"
            try:
                st = stat(path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:  # a link loop, a permission: this run only
                _skip_unreadable(path, StorageError(f"cannot read it: {exc.strerror}", path=path))
                continue
            if not S_ISREG(st.st_mode):  # a directory (or FIFO, ...) named run.tlog: not a log
                what = "a directory" if S_ISDIR(st.st_mode) else "not a regular file"
                _skip_unreadable(path, CorruptRecordError(f"it is {what}, not a run log", path=path))
                continue
            stats[(proj, rid)] = (path, (st.st_size, st.st_mtime_ns))
    return stats


# --------------------------------------------------------------------------- state records
class ArtifactVersion(NamedTuple):
    """One version of an artifact.

    Attributes:
        project: Project the artifact belongs to.
        name: Artifact name.
        type: Artifact type (``model``, ``dataset``, ...).
        version: Version number: assigned once, never changed, never reused.
        digest: Manifest digest; identifies the version across stores.
        aliases: Aliases currently pointing at this version, sorted.
        metadata: Free-form metadata given when the version was created.
        run_id: The run that logged it, if any.
        created_at: Unix time of creation.
        deleted: True once deleted (its number stays taken).
    """

    project: str
    name: str
    type: str
    version: int
    digest: str
    aliases: tuple[str, ...]
    metadata: dict[str, Any]
    run_id: str | None
    created_at: float
    deleted: bool = False

    @property
    def label(self) -> str:
        """``v<version>``, as W&B writes it."""
        return f"v{self.version}"


class ArtifactInfo(NamedTuple):
    """One artifact (all its versions) as :meth:`StateStore.artifacts` lists it.

    Attributes:
        project: Project the artifact belongs to.
        name: Artifact name.
        type: Artifact type.
        latest: Highest live version number, or None when every version is deleted.
        versions: Number of live versions.
    """

    project: str
    name: str
    type: str
    latest: int | None
    versions: int


class RegistryLink(NamedTuple):
    """An artifact version linked into a registry collection (``model-registry/<name>``).

    Attributes:
        collection: The collection path.
        version: The link's own version number inside the collection (never reused).
        project: Source artifact's project.
        name: Source artifact's name.
        artifact_version: Source artifact's version number.
        created_at: Unix time of linking.
    """

    collection: str
    version: int
    project: str
    name: str
    artifact_version: int
    created_at: float


class SweepRecord(NamedTuple):
    """A sweep's stored definition and state.

    Attributes:
        id: Sweep id.
        project: Project name.
        config: The sweep configuration as given.
        state: Current state (the sweeps module defines the values).
        created_at: Unix time of creation.
        updated_at: Unix time of the last change.
    """

    id: str
    project: str
    config: dict[str, Any]
    state: str
    created_at: float
    updated_at: float


class RunEdit(NamedTuple):
    """A user's edits of a run, which override what the run log says.

    Attributes:
        project: Project name.
        run_id: Run id.
        tags: Replacement tags, or None when not edited.
        notes: Replacement notes, or None when not edited.
        deleted: True when the user deleted the run (hidden from listings).
        updated_at: Unix time of the last edit.
    """

    project: str
    run_id: str
    tags: tuple[str, ...] | None
    notes: str | None
    deleted: bool
    updated_at: float


class JournalEntry(NamedTuple):
    """One change in the state store's append-only journal.

    Attributes:
        seq: Position in the journal (strictly increasing, never reused).
        ts: Unix time of the change.
        op: What changed (``artifact.add``, ``alias.set``, ``sweep.claim``, ...).
        data: The change's arguments.
    """

    seq: int
    ts: float
    op: str
    data: dict[str, Any]


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
    ) -> RunEdit:
        """Record user edits of a run (arguments left as None are unchanged)."""

    @abstractmethod
    def run_edits(self, project: str) -> dict[str, RunEdit]:
        """The edits of every edited run of a project, by run id."""

    # ---------------------------------------------------------------- journal
    @abstractmethod
    def journal(self, since: int = 0, limit: int | None = None) -> list[JournalEntry]:
        """Journal entries with ``seq > since``, oldest first."""

    def close(self) -> None:  # noqa: B027 - an optional hook with a default body
        """Release connections; the object must not be used afterwards."""
