"""The one summary rule: what a run's summary is, read back from its log.

Both readers of a log use it: the index (:mod:`tracker.storage._rows`, so ``Api``
and the server) and the writer's resume path (:mod:`tracker._init`). A run's rows can be a
few seconds newer than its last SUMMARY snapshot (a crash, a live run); the keys logged
after the snapshot (``RunState.summary_tail``) replace the snapshot's values, except the
metrics a ``define_metric(..., summary=...)`` aggregates (min, max, ...), whose aggregate in
the snapshot stands. A metric name may be a glob (``"val/*"``), matched as ``fnmatch`` does.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.storage._replay import RunState

__all__: list[str] = []


def aggregated(key: str, names: list[str]) -> bool:
    """Whether ``key`` is one of the defined metric ``names`` (exact or glob)."""
    return any(key == name or fnmatch.fnmatchcase(key, name) for name in names)


def effective_summary(state: RunState) -> dict[str, Any]:
    """The last SUMMARY snapshot plus the keys logged after it (as a resuming writer sees it).

    Returns ``state.summary`` itself when nothing was logged after it (callers copy before
    changing it); otherwise a new dict whose ``_step`` is the run's last live step.
    """
    if not state.summary_tail:
        return state.summary
    names = [name for name, spec in state.metrics.items() if spec.get("summary")]
    summary = dict(state.summary)
    for key, value in state.summary_tail.items():
        if not aggregated(key, names):
            summary[key] = value
    if state.max_step >= 0:
        summary["_step"] = state.max_step
    return summary
