"""The records the index and the state store return (plain, immutable values).

Kept apart from :mod:`tracker.storage._base` (the two interfaces) so that each stays small;
:mod:`tracker.storage._base` re-exports every name, which is where callers import them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "ArtifactInfo",
    "ArtifactVersion",
    "ChunkStats",
    "JournalEntry",
    "KeyInfo",
    "ProjectInfo",
    "RegistryLink",
    "RunEdit",
    "RunRecord",
    "Series",
    "SweepRecord",
]


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
        config: Write-back of the config through ``Api`` (``run.update()``) as
            ``{"set": {key: value}, "del": [key, ...]}`` over what the run log says, or None.
        summary: The same for the summary (``run.summary.update()``), or None.
        name: Replacement display name (``run.name = ...; run.update()``), or None.
    """

    project: str
    run_id: str
    tags: tuple[str, ...] | None
    notes: str | None
    deleted: bool
    updated_at: float
    config: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    name: str | None = None


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
