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
from tracker.sweeps._config import Hyperband, bands

__all__ = ["runs_to_stop", "thresholds"]


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
