"""``define_metric`` inside the writer thread: step metrics and summary aggregates.

:class:`Metrics` holds every ``define_metric`` the run has made and what follows from them
for each logged key: the step metric copied into rows that lack it (``step_sync``) and the
running aggregate (:class:`Aggregate`: min / max / mean / best / last) that replaces the
key's summary value. Only the writer thread uses it (no locks); :class:`tracker._writer.Writer`
calls :meth:`Metrics.define` for each definition, :meth:`Metrics.apply` on every row while
any definition exists, and :meth:`Metrics.fold` once per batch of rows.

Definitions match exact names before globs (``fnmatch``), latest first; a resumed run's
aggregates continue from the summary it resumed with (a mean from the count kept beside it
under :data:`MEAN_COUNT`).
"""

from __future__ import annotations

import fnmatch
import math
from typing import Any, Final

__all__: list[str] = []

#: Summary key prefix of how many values a ``define_metric(summary="mean")`` mean holds.
MEAN_COUNT: Final = "_tracker.mean_count."


class Aggregate:
    """Running min / max / mean / best / last for one metric with a define_metric summary."""

    __slots__ = ("count", "goal", "last", "max", "min", "modes", "total")

    def __init__(self, modes: tuple[str, ...], goal: str | None) -> None:
        self.modes = modes
        self.goal = goal
        self.min = math.inf
        self.max = -math.inf
        self.total = 0.0
        self.count = 0
        self.last: Any = None

    def add(self, value: Any) -> None:
        self.last = value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            v = float(value)
            if v == v:  # NaN never wins min/max
                self.min = min(self.min, v)
                self.max = max(self.max, v)
            self.total += v
            self.count += 1

    def restore(self, saved: Any, count: Any = None) -> None:
        """Continue from a resumed run's summary value (``count``: how many values its mean has)."""
        if isinstance(saved, dict):
            if "min" in saved:
                self.min = float(saved["min"])
            if "max" in saved:
                self.max = float(saved["max"])
            if "best" in saved:
                if self.goal == "maximize":
                    self.max = float(saved["best"])
                else:
                    self.min = float(saved["best"])
            count = saved.get("_count", count)  # logs before 0.2 kept the count in the value
            if "mean" in saved and isinstance(count, (int, float)) and count > 0:
                self.count = int(count)
                self.total = float(saved["mean"]) * self.count
            self.last = saved.get("last", self.last)

    def value(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for mode in self.modes:
            if mode == "min" and self.min != math.inf:
                out["min"] = self.min
            elif mode == "max" and self.max != -math.inf:
                out["max"] = self.max
            elif mode == "mean" and self.count:
                out["mean"] = self.total / self.count
            elif mode == "last" and self.last is not None:
                out["last"] = self.last
            elif mode == "best":
                best = self.max if self.goal == "maximize" else self.min
                if abs(best) != math.inf:
                    out["best"] = best
        return out


class Metrics:
    """The run's ``define_metric`` definitions and, per logged key, what they imply.

    ``summary`` is the writer's live summary dict (shared, not copied): resumed aggregates
    start from it and :meth:`fold` writes into it.
    """

    __slots__ = (
        "_resolve_needed",
        "_seen",
        "_step_keys",
        "_step_values",
        "_summary",
        "_sync",
        "aggs",
        "specs",
    )

    def __init__(self, summary: dict[str, Any]) -> None:
        self._summary = summary
        #: Every definition, in the order made.
        self.specs: list[dict[str, Any]] = []
        #: Keys with a summary definition: their aggregate, or None for ``summary="none"``.
        self.aggs: dict[str, Aggregate | None] = {}
        self._sync: dict[str, str] = {}
        self._step_keys: set[str] = set()  # every define_metric step_metric
        self._step_values: dict[str, Any] = {}  # their latest logged values, row by row
        self._seen: set[str] = set()
        self._resolve_needed = False

    def define(self, spec: dict[str, Any]) -> None:
        """Add one definition; every key seen so far is matched again."""
        self.specs.append(spec)
        if spec.get("step_metric"):
            self._step_keys.add(spec["step_metric"])
        for key in self._seen:
            self._resolve(key)
        self._resolve_needed = True

    def apply(self, data: dict[str, Any]) -> None:
        """Resolve the row's new keys and copy step metrics into it (``step_sync``)."""
        if self._resolve_needed or not self._seen.issuperset(data):
            for key in data:
                if key not in self._seen:
                    self._seen.add(key)
                    self._resolve(key)
            self._resolve_needed = False
        if self._sync:
            for key in list(data):
                step_key = self._sync.get(key)
                if step_key is not None and step_key not in data:
                    value = self._step_values.get(step_key, self._summary.get(step_key))
                    if value is not None:
                        data[step_key] = value
        for step_key in self._step_keys.intersection(data):
            self._step_values[step_key] = data[step_key]

    def fold(self, rows: list[tuple[int, float, dict[str, Any]]], logged: set[str]) -> None:
        """Feed a batch's values into the aggregates of the keys it logged; update the summary."""
        summary = self._summary
        for key, agg in self.aggs.items():
            # Only keys logged in this batch: an explicit summary value holds until then.
            if key in logged:
                if agg is None:
                    summary.pop(key, None)
                else:
                    # Feed every value of this key from the batch, in order.
                    for _step, _ts, data in rows:
                        if key in data:
                            agg.add(data[key])
                    summary[key] = agg.value()
                    if agg.count and "mean" in agg.modes:
                        # Kept beside the value (W&B's value holds only "mean"): resume
                        # continues the mean from it.
                        summary[MEAN_COUNT + key] = agg.count

    def _resolve(self, key: str) -> None:
        """Attach the latest matching define_metric to ``key`` (exact names beat globs)."""
        match: dict[str, Any] | None = None
        for spec in self.specs:
            name = spec["name"]
            if name == key:
                match = spec
            elif match is None or match["name"] != key:
                if ("*" in name or "?" in name) and fnmatch.fnmatchcase(key, name):
                    match = spec
        if match is None:
            return
        step_key = match.get("step_metric")
        if step_key and match.get("step_sync", True) and step_key != key:
            self._sync[key] = step_key
        modes = match.get("summary")
        if modes:
            if modes == ("none",):
                self.aggs[key] = None
            else:
                agg = Aggregate(modes, match.get("goal"))
                agg.restore(self._summary.get(key), self._summary.get(MEAN_COUNT + key))
                self.aggs[key] = agg
