"""``CustomChart``: what every ``tracker.plot`` function returns."""

from __future__ import annotations

from typing import Any, ClassVar

from tracker.errors import UsageError
from tracker.media._base import Media, check_caption
from tracker.media._table import Table

__all__ = ["CustomChart"]


class CustomChart(Media):
    """A chart: its data as a :class:`~tracker.Table` plus a small description.

    Returned by the ``tracker.plot`` functions (W&B's ``wandb.plot.CustomChart``) and
    logged like any value: ``run.log({"roc": tracker.plot.roc_curve(...)})``. The table
    is snapshotted when the chart is made. The history row holds ``{"_type": "chart",
    "chart": <kind>, "fields": {role: column}, "title": ..., "table": <table reference>}``;
    the dashboard draws it from the table's columns named in ``fields``.

    Attributes:
        chart: The chart kind (``line``, ``scatter``, ``bar``, ``histogram``,
            ``line_series``, ``confusion_matrix``, ``pr_curve``, ``roc_curve``).
        table: The data.
        fields: Which column plays which role (``{"x": "epoch", "y": "loss"}``).
        title: The chart title.
    """

    _kind: ClassVar[str] = "chart"

    def __init__(
        self,
        chart: str,
        table: Table,
        fields: dict[str, str | None],
        title: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(table, Table):
            raise UsageError(
                f"tracker.plot.{chart}: table must be a tracker.Table, not {type(table).__name__}."
            )
        for role, column in fields.items():
            if column is not None and column not in table.columns:
                raise UsageError(
                    f"tracker.plot.{chart}: {role}={column!r} is not a column of the table; "
                    f"columns are {table.columns}."
                )
        self.chart = chart
        self.table = table
        self.fields = {k: v for k, v in fields.items() if v is not None}
        self.title = check_caption(title or None, f"tracker.plot.{chart}")
        self.options = dict(options or {})
        self._snapshot = table.snapshot()

    def _nbytes(self) -> int:
        return self._snapshot._nbytes()

    def _encode(self, store: Any) -> dict[str, Any]:
        ref: dict[str, Any] = {"_type": "chart", "chart": self.chart, "fields": dict(self.fields)}
        if self.title is not None:
            ref["title"] = self.title
        ref.update(self.options)
        ref["table"] = store.encode(self._snapshot)
        return ref

    def __repr__(self) -> str:
        return f"<tracker.plot.CustomChart {self.chart} {self.fields}>"
