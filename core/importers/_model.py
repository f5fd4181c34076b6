"""What an importer reads from another tool, before it becomes a tracker run.

Each source reader (``_wandb.py``, ``_tensorboard.py``, ``_mlflow.py``) yields
:class:`ImportedRun` objects; the one sink (``_sink.py``) turns them into tracker runs, so
idempotence, resuming an interrupted import, progress and the final summary live in one
place. Readers never write; the sink never parses another tool's format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Row = dict[str, Any]
"""One history row: metric keys to values, plus ``_step`` (int) and ``_timestamp`` (float,
Unix seconds). Values are what ``run.log`` takes: numbers, strings, and tracker media
objects (``tracker.Image``, ``tracker.Histogram``, ``tracker.Table``...)."""


@dataclass(frozen=True)
class ImportedFile:
    """A file of the source run, copied into the imported run under ``name``."""

    name: str  # relative path inside the run's files, "/"-separated
    path: Path  # where it is on disk now


@dataclass
class ImportedRun:
    """One run of another tool, as the sink needs it.

    ``source_key`` identifies the source run stably across re-imports (the W&B run
    directory's run id, a TensorBoard run directory's path under the logdir, an MLflow
    run id): the sink uses it to skip runs already imported and to resume interrupted ones.
    The iterators are called once each, by the sink, in this order: ``rows``, ``system``,
    ``console`` (or ``console_timed``). The sink reads the other fields (``config``,
    ``summary``, ``ended``, ``state``, ``exit_code``, ``files``, the artifacts, ``problems``)
    only after the iterators are exhausted, so a reader whose source holds them in the
    same stream as the rows (a W&B ``.wandb`` file) fills them in while ``rows`` runs; the
    run record's fields (``id`` to ``notes``, ``created``, ``meta``) are read first.
    """

    source: str  # "wandb" | "tensorboard" | "mlflow"
    source_key: str
    project: str
    id: str | None = None  # keep the source's run id when it is a valid tracker id
    name: str | None = None
    group: str | None = None
    job_type: str | None = None
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None  # None: derived from the rows as tracker does
    created: float | None = None  # Unix seconds
    ended: float | None = None
    state: str = "finished"  # "finished" | "failed" | "crashed" | "running"
    exit_code: int | None = None
    rows: Callable[[], Iterator[Row]] = lambda: iter(())
    row_count: int | None = None  # for progress, when the reader knows it cheaply
    system: Callable[[], Iterator[Row]] = lambda: iter(())  # samples, keys as tracker's sampler names them
    console: Callable[[], Iterator[str]] = lambda: iter(())
    files: list[ImportedFile] = field(default_factory=list)
    artifacts_logged: list[Any] = field(default_factory=list)  # tracker.Artifact objects
    artifacts_used: list[str] = field(default_factory=list)  # "project/name:alias" references
    problems: list[str] = field(default_factory=list)  # what the reader could not map, one line each
    # Optional additions (the sink's defaults keep readers that do not set them working):
    # console lines with their time and stream (0 stdout, 1 stderr); used instead of
    # ``console`` when set (``console``'s lines are stamped with ``ended``).
    console_timed: Callable[[], Iterator[tuple[float, int, str]]] | None = None
    # aliases of ``artifacts_logged[i]`` (``latest`` is always set); shorter lists mean none
    artifact_aliases: list[list[str]] = field(default_factory=list)
    # where and how the source run ran, as the META record's capture keys (``program``,
    # ``argv``, ``python``, ``os``, ``host``, ``git``...); the sink adds ``import``
    meta: dict[str, Any] = field(default_factory=dict)
