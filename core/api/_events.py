"""The ``events`` stream (system metrics) as series, for ``Run.history(stream="events")``.

Rows follow :func:`tracker.storage._system.system_rows`: ``_timestamp``, ``_runtime``,
``node`` and the ``system.*`` keys, in time order, no ``_step``. For a single-node run
the main log's samples come from the index (no log scan); a multi-node run, which also
has ``system-<label>.tlog`` files, is read through ``system_rows``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from tracker._naming import run_dir_for
from tracker.storage._base import Series

if TYPE_CHECKING:
    from tracker.api._run import Run

__all__: list[str] = []

NODE: Final = "node"


def event_series(run: Run) -> tuple[dict[str, Series], list[str]]:
    """The run's system samples as series (``node`` included) and the sorted key list."""
    from tracker.storage._system import node_logs, system_rows

    api = run._api
    run_dir = run_dir_for(api.root, run.project, run.id)
    if node_logs(run_dir):
        return _from_rows(system_rows(run_dir))
    keys = list(api.index.keys(run.project, run.id, "events"))
    series = api.index.series(run.project, run.id, keys, stream="events")
    if not series:
        return {}, []
    details = api.index.details(run.project, run.id)
    capture = details.get("capture") or {}
    dist = capture.get("distributed") if isinstance(capture, dict) else None
    meta = details.get("meta") or {}
    label = str((dist.get("label") if isinstance(dist, dict) else None) or meta.get("host") or "main")
    import numpy as np

    size = max(int(s.seq[-1]) + 1 for s in series.values())
    seq = np.arange(size, dtype=np.int64)
    ts = np.zeros(size)
    for s in series.values():
        ts[s.seq] = s.ts
    series[NODE] = Series(seq, seq, ts, [label] * size)
    return series, sorted([*keys, NODE])


def _from_rows(rows: list[dict[str, Any]]) -> tuple[dict[str, Series], list[str]]:
    import numpy as np

    columns: dict[str, tuple[list[int], list[Any]]] = {}
    stamps = [float(r["_timestamp"]) for r in rows]
    for i, row in enumerate(rows):
        for key, value in row.items():
            if key in ("_timestamp", "_runtime"):
                continue
            seqs, values = columns.setdefault(key, ([], []))
            seqs.append(i)
            values.append(value)
    series: dict[str, Series] = {}
    all_ts = np.asarray(stamps, dtype=np.float64)
    for key, (seqs, values) in columns.items():
        seq = np.asarray(seqs, dtype=np.int64)
        numeric = all(type(v) in (int, float) for v in values)
        data: Any = np.asarray(values, dtype=np.float64) if numeric else values
        series[key] = Series(seq, seq, all_ts[seq], data, numeric and all(type(v) is int for v in values))
    return series, sorted(columns)
