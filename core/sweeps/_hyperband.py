"""Hyperband early termination exactly as W&B computes it.

An *iteration* is one logged finite value of the metric (not ``_step``). Bands come from
``min_iter * eta**k`` or from ``max_iter / eta**k`` (``s`` of them). At each band the
threshold is the value at index ``floor(n / eta)`` of the sorted band values of every run
that reached it, in any state. A ``running`` run whose value at its latest band
(``strict: true``, W&B's default in code) or whose best value so far (``strict: false``)
is strictly worse than that band's threshold is stopped. Ties survive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tracker.sweeps._base import Observation
from tracker.sweeps._config import Hyperband

__all__ = ["bands", "runs_to_stop", "thresholds"]


def bands(hb: Hyperband) -> list[int]:
    """The band iteration counts, ascending (W&B: ``max_iter`` itself is never a band)."""
    if hb.max_iter is not None and hb.s is not None:
        out: list[int] = []
        b = float(hb.max_iter)
        for _ in range(int(hb.s)):
            b /= hb.eta
            if b < 1:
                break
            out.append(int(b))
        return sorted(out)
    if hb.min_iter is None:
        return []
    values = []
    b = float(hb.min_iter)
    for _ in range(100):
        values.append(int(b))
        b *= hb.eta
    return values


def _histories(runs: Sequence[Observation], goal: str) -> list[list[float]]:
    sign = 1.0 if goal == "minimize" else -1.0
    return [[sign * v for v in run.history if math.isfinite(v)] for run in runs]


def thresholds(hb: Hyperband, goal: str, runs: Sequence[Observation]) -> dict[int, float]:
    """The threshold of each band (lower is better: maximised values are negated)."""
    hists = _histories(runs, goal)
    out: dict[int, float] = {}
    for band in bands(hb):
        values = sorted(h[band - 1] for h in hists if len(h) >= band)
        out[band] = values[int(len(values) / hb.eta)] if values else math.inf
        if not values:
            break  # later bands have no values either
    return out


def runs_to_stop(hb: Hyperband, goal: str, runs: Sequence[Observation]) -> list[str]:
    """The ids of the running runs that W&B's hyperband rule stops now.

    Args:
        hb: The ``early_terminate`` settings.
        goal: ``minimize`` or ``maximize``.
        runs: Every run of the sweep, with its metric history.

    Returns:
        Run ids, in the order of ``runs``.
    """
    limits = thresholds(hb, goal, runs)
    stop = []
    for run, hist in zip(runs, _histories(runs, goal), strict=True):
        if run.state != "running":
            continue
        reached = [b for b in limits if b <= len(hist)]
        if not reached:
            continue
        band = max(reached)
        value = hist[band - 1] if hb.strict else min(hist)
        if value > limits[band]:
            stop.append(run.run_id)
    return stop
