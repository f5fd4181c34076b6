"""``Api().sweep(path)``: a sweep's config, state and runs (W&B's ``public.Sweep``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tracker.errors import UsageError

if TYPE_CHECKING:
    from tracker.api._api import Api
    from tracker.api._run import Run

__all__ = ["Sweep"]


class Sweep:
    """One sweep, read from the state store and the index.

    Attributes:
        id: Sweep id.
        project: Project of its runs.
        config: The sweep config as given.
        state: ``pending``, ``running``, ``paused``, ``finished`` or ``cancelled``.
    """

    def __init__(self, api: Api, path: str) -> None:
        parts = [p for p in str(path).strip("/").split("/") if p]
        if not parts or len(parts) > 3:
            raise UsageError(f"sweep({path!r}): use 'ID', 'project/ID' or 'entity/project/ID'.")
        if api._remote is not None:
            from tracker.sweeps._remote import sweep

            record = sweep(api._remote, parts[-1])
        else:
            record = api.state.sweep(parts[-1])
        if record is None:
            where = f"on {api._remote.base_url}" if api._remote is not None else f"under {api.root}"
            raise UsageError(f"no sweep {parts[-1]!r} {where}.", key=parts[-1])
        self._api = api
        self.id: str = record.id
        self.project: str = record.project
        self.config: dict[str, Any] = record.config
        self.state: str = record.state
        self.name: str = str(record.config.get("name") or record.id)

    @property
    def runs(self) -> list[Run]:
        """The sweep's runs, newest first."""
        return [r for r in self._api.runs(self.project) if r.sweep_id == self.id]

    def best_run(self, order: str | None = None) -> Run | None:
        """The run with the best summary value of the sweep's metric (or of ``order``, ``[+-]key``)."""
        metric = self.config.get("metric") or {}
        if order is None:
            if not metric.get("name"):
                return None
            order = ("-" if metric.get("goal") == "maximize" else "+") + str(metric["name"])
        key = order.lstrip("+-").removeprefix("summary_metrics.")
        sign = -1.0 if order.startswith("-") else 1.0
        scored = []
        for run in self.runs:
            value = run.summary.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                scored.append((sign * value, run.id, run))
        return min(scored)[2] if scored else None

    def __repr__(self) -> str:
        return f"<Sweep {self.project}/{self.id} ({self.state})>"
