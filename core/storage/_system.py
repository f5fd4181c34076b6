"""System-metric samples of a run, merged across its nodes (W&B's ``events`` stream).

A run's system samples live in two kinds of file in the run directory, both in the
run-log format (``_format.py``):

* ``run.tlog``: the main process's ``SYSTEM`` records (keys ``system.<name>``);
* ``system-<label>.tlog``: one per other node of a multi-node run, written by that node's
  local rank 0. It holds only a ``META`` record ``{"node": {...}, "hardware": {...}}`` and
  ``SYSTEM`` records whose keys carry the node's label as W&B does
  (``system.gpu.0.gpu/l:<label>``).

:func:`system_rows` reads them all and returns one time-ordered list of rows with a
``node`` column.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Final

from tracker._naming import LOG_NAME
from tracker.storage._format import HEADER_SIZE, R, read_frames
from tracker.storage._replay import RunState

__all__ = ["LABEL_SEP", "node_log_name", "node_logs", "system_rows"]

NODE_LOG_PREFIX: Final = "system-"
NODE_LOG_SUFFIX: Final = ".tlog"
#: Separator between a metric key and a node label (W&B's ``/l:<label>`` suffix).
LABEL_SEP: Final = "/l:"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")


def node_log_name(label: str) -> str:
    """The file name of a node's system-metrics log: ``system-<label>.tlog`` (label made file-safe)."""
    safe = _UNSAFE.sub("_", label)[:100] or "node"
    return f"{NODE_LOG_PREFIX}{safe}{NODE_LOG_SUFFIX}"


def node_logs(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The node system-metrics logs of a run directory, sorted by name."""
    return sorted(Path(run_dir).glob(f"{NODE_LOG_PREFIX}*{NODE_LOG_SUFFIX}"))


def system_rows(run_dir: str | os.PathLike[str], *, node: str | None = None) -> list[dict[str, Any]]:
    """Every system-metric sample of a run, from all its nodes, in time order.

    This is what ``Api`` ``run.history(stream="events")`` (alias ``stream="system"``)
    returns, W&B's separate stream of system metrics: rows are not tied to ``_step``.

    Args:
        run_dir: The run's directory (``<root>/projects/<project>/runs/<id>``).
        node: Only the samples of the node with this label.

    Returns:
        One dict per sample: ``_timestamp`` (unix seconds), ``_runtime`` (seconds since the
        run was created, or since the first sample when the main log is absent), ``node``
        (the node's label: the host name, or the ``x_label`` setting) and the sampled
        ``system.*`` keys exactly as stored (other nodes' keys end in ``/l:<label>``).
        Sorted by ``_timestamp``, then ``node``. Empty when the run has no samples.

    Raises:
        StorageError: A log cannot be read.
        CorruptRecordError: A log's header is not a tracker run-log header.

    Example:
        >>> rows = system_rows(run.dir)  # doctest: +SKIP
        >>> max(r["system.gpu.0.gpu"] for r in rows if "system.gpu.0.gpu" in r)  # doctest: +SKIP
        97.0
    """
    folder = Path(run_dir)
    groups: list[tuple[str, list[Any]]] = []
    created: float | None = None
    main = folder / LOG_NAME
    if main.is_file():
        state = RunState(keep_rows=False)
        state.feed(read_frames(main).records)
        if state.meta.get("created") is not None:
            created = float(state.meta["created"])
        dist = state.capture.get("distributed")
        label = dist.get("label") if isinstance(dist, dict) else None
        groups.append((str(label or state.meta.get("host") or "main"), state.system))
    for path in node_logs(folder):
        try:
            if path.stat().st_size < HEADER_SIZE:
                continue  # a node log being created right now: no header yet
        except OSError:
            continue
        label = path.name[len(NODE_LOG_PREFIX) : -len(NODE_LOG_SUFFIX)]
        samples: list[Any] = []
        for _off, rec in read_frames(path).records:
            if rec[0] == R.SYSTEM:
                samples.extend(rec[1])
            elif rec[0] == R.META and isinstance(rec[1], dict) and isinstance(rec[1].get("node"), dict):
                label = str(rec[1]["node"].get("label") or label)
        groups.append((label, samples))
    rows: list[dict[str, Any]] = []
    for label, samples in groups:
        if node is not None and label != node:
            continue
        for sample in samples:
            if not isinstance(sample, (list, tuple)) or len(sample) < 2 or not isinstance(sample[-1], dict):
                continue
            ts = float(sample[-2])
            row: dict[str, Any] = {"_timestamp": ts, "_runtime": 0.0, "node": label}
            row.update(sample[-1])
            rows.append(row)
    if rows:
        base = created if created is not None else min(r["_timestamp"] for r in rows)
        for row in rows:
            row["_runtime"] = row["_timestamp"] - base
    rows.sort(key=lambda r: (r["_timestamp"], r["node"]))
    return rows
