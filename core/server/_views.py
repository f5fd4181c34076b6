"""The dashboard API's view model: JSON-safe values, table rows, sweep and histogram maths (pure, no I/O)."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["clean", "flat", "is_num", "rebin", "run_row", "spearman", "sweep_metric", "sweep_params"]


def clean(value: Any, depth: int = 0) -> Any:
    """JSON-safe copy: non-finite floats become strings, unknown objects their repr."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if depth > 20:
        return repr(value)
    if isinstance(value, dict):
        return {str(k): clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v, depth + 1) for v in value]
    return repr(value)


def flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """Flatten nested dicts to dotted keys, keeping scalars only (table columns)."""
    if isinstance(value, dict):
        if "_type" in value:  # media reference: not a column value
            return
        for k, v in value.items():
            flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, float):
        out[prefix] = value if math.isfinite(value) else str(value)
    elif value is None or isinstance(value, (bool, int, str)):
        out[prefix] = value
    elif isinstance(value, (list, tuple)) and len(value) <= 16:
        out[prefix] = json.dumps(clean(value))


def is_num(v: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def run_row(run: Any, record: Any, now: float) -> dict[str, Any]:
    """A run as a row of the runs table (``record``: its index record, or None)."""
    created = record.created_at if record is not None else None
    last = record.last_time if record is not None else None
    if record is not None and run.state != "running" and record.runtime is not None:
        duration: float | None = float(record.runtime)
    elif created is not None and last is not None:
        duration = max(0.0, (now if run.state == "running" else last) - created)
    else:
        duration = None
    config: dict[str, Any] = {}
    flat("", {k: v for k, v in run.config.items() if not str(k).startswith("_")}, config)
    summary: dict[str, Any] = {}
    flat("", {k: v for k, v in run.summary.items() if not str(k).startswith("_tracker")}, summary)
    return {
        "id": run.id,
        "name": run.name,
        "state": run.state,
        "tags": list(run.tags),
        "group": run.group,
        "created": created,
        "heartbeat": last,
        "duration": duration,
        "max_step": record.max_step if record is not None else -1,
        "config": config,
        "summary": summary,
        "problems": list(getattr(run, "problems", ())),  # a corrupt record or gap of its log
    }


def sweep_metric(config: dict[str, Any]) -> tuple[str | None, str]:
    metric = config.get("metric")
    if not isinstance(metric, dict) or not metric.get("name"):
        return None, "minimize"
    return str(metric["name"]), "maximize" if metric.get("goal") == "maximize" else "minimize"


def sweep_params(parameters: Any, prefix: str = "") -> list[str]:
    """The dotted names of a sweep config's parameters (nested ``parameters`` flattened)."""
    out: list[str] = []
    if not isinstance(parameters, dict):
        return out
    for name, spec in parameters.items():
        full = f"{prefix}.{name}" if prefix else str(name)
        if isinstance(spec, dict) and isinstance(spec.get("parameters"), dict):
            out.extend(sweep_params(spec["parameters"], full))
        else:
            out.append(full)
    return out


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when undefined."""
    import numpy as np

    if len(xs) < 3:
        return None

    def ranks(v: list[float]) -> Any:
        a = np.asarray(v, dtype=np.float64)
        order = np.argsort(a, kind="mergesort")
        r = np.empty(len(a))
        r[order] = np.arange(len(a), dtype=np.float64)
        _, inv, counts = np.unique(a, return_inverse=True, return_counts=True)
        sums = np.bincount(inv, weights=r)
        return sums[inv] / counts[inv]

    rx, ry = ranks(xs), ranks(ys)
    rx -= rx.mean()
    ry -= ry.mean()
    den = float(np.sqrt((rx * rx).sum() * (ry * ry).sum()))
    if den == 0.0:
        return None
    return float((rx * ry).sum() / den)


def rebin(hists: list[tuple[Any, Any]], lo: float, hi: float, rows: int) -> list[list[float]]:
    """Spread each ``(counts, edges)`` histogram over ``rows`` equal bins of ``[lo, hi]``.

    A source bin's count is shared among the rows it overlaps, in proportion to overlap.
    """
    import numpy as np

    grid = np.linspace(lo, hi, rows + 1)
    out = []
    for c, b in hists:
        # Overlap of each source bin [b_i, b_i+1] with each grid row, as a fraction of the bin.
        left = np.maximum(b[:-1, None], grid[None, :-1])
        right = np.minimum(b[1:, None], grid[None, 1:])
        width = b[1:] - b[:-1]
        overlap = np.clip(right - left, 0.0, None)
        frac = np.where(width[:, None] > 0, overlap / np.where(width > 0, width, 1.0)[:, None], 0.0)
        zero = width <= 0  # a degenerate bin: all its count to the row holding its edge
        if zero.any():
            rows_at = np.clip(np.searchsorted(grid, b[:-1][zero], side="right") - 1, 0, rows - 1)
            frac[np.flatnonzero(zero), rows_at] = 1.0
        out.append([round(float(v), 6) for v in (c[:, None] * frac).sum(axis=0)])
    return out
