"""Charts over a table the user built: line, scatter, bar, histogram; and line_series."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracker.errors import UsageError
from tracker.media._table import Table
from tracker.media.plot._chart import CustomChart

__all__ = ["bar", "histogram", "line", "line_series", "scatter"]


def line(
    table: Table, x: str, y: str, stroke: str | None = None, title: str = "", split_table: bool = False
) -> CustomChart:
    """A line chart of column ``y`` against column ``x`` (one line per ``stroke`` value).

    Args:
        table: The data.
        x: Column for the x axis.
        y: Column for the y axis.
        stroke: Optional column whose values split the points into lines.
        title: Chart title.
        split_table: Accepted for W&B compatibility.

    Returns:
        The chart, to pass to ``log()``.

    Raises:
        UsageError: A named column is not in the table.

    Example:
        >>> t = tracker.Table(columns=["step", "loss"], data=[[0, 1.0], [1, 0.5]])  # doctest: +SKIP
        >>> run.log({"loss_curve": tracker.plot.line(t, "step", "loss")})  # doctest: +SKIP
    """
    return CustomChart("line", table, {"x": x, "y": y, "stroke": stroke}, title)


def scatter(table: Table, x: str, y: str, title: str = "", split_table: bool = False) -> CustomChart:
    """A scatter plot of column ``y`` against column ``x``.

    Raises:
        UsageError: A named column is not in the table.
    """
    return CustomChart("scatter", table, {"x": x, "y": y}, title)


def bar(table: Table, label: str, value: str, title: str = "", split_table: bool = False) -> CustomChart:
    """A bar chart: one bar per row, named by column ``label``, of height ``value``.

    Raises:
        UsageError: A named column is not in the table.
    """
    return CustomChart("bar", table, {"label": label, "value": value}, title)


def histogram(table: Table, value: str, title: str = "", split_table: bool = False) -> CustomChart:
    """A histogram of column ``value`` (binned by the dashboard).

    Raises:
        UsageError: The column is not in the table.
    """
    return CustomChart("histogram", table, {"value": value}, title)


def line_series(
    xs: Any,
    ys: Sequence[Any],
    keys: Sequence[str] | None = None,
    title: str = "",
    xname: str = "x",
    split_table: bool = False,
) -> CustomChart:
    """Several lines on one chart (W&B's ``line_series``).

    The table has columns ``step``, ``lineKey`` and ``lineVal`` (W&B's): one row per point.

    Args:
        xs: Shared x values, or one sequence of x values per line.
        ys: One sequence of y values per line.
        keys: Line names (default ``key_0``, ``key_1``, ...).
        title: Chart title.
        xname: Label of the x axis.
        split_table: Accepted for W&B compatibility.

    Raises:
        UsageError: Lengths of ``xs``, ``ys`` and ``keys`` disagree.
    """
    ys_l = [_values(y, f"ys[{i}]") for i, y in enumerate(ys)]
    xs_l = _values(xs, "xs")
    if xs_l and isinstance(xs_l[0], list):
        per_line = xs_l
    else:
        per_line = [xs_l] * len(ys_l)
    if len(per_line) != len(ys_l):
        raise UsageError(f"tracker.plot.line_series: {len(per_line)} x sequences for {len(ys_l)} lines.")
    names = [f"key_{i}" for i in range(len(ys_l))] if keys is None else [str(k) for k in keys]
    if len(names) != len(ys_l):
        raise UsageError(f"tracker.plot.line_series: {len(names)} keys for {len(ys_l)} lines.")
    rows: list[list[Any]] = []
    for i, (xv, yv) in enumerate(zip(per_line, ys_l, strict=True)):
        if len(xv) != len(yv):
            raise UsageError(
                f"tracker.plot.line_series: line {names[i]!r} has {len(yv)} y values for {len(xv)} x values."
            )
        rows.extend([x, names[i], y] for x, y in zip(xv, yv, strict=True))
    table = Table(columns=["step", "lineKey", "lineVal"], data=rows)
    return CustomChart(
        "line_series", table, {"x": "step", "y": "lineVal", "stroke": "lineKey"}, title, {"xname": xname}
    )


def _values(seq: Any, what: str) -> list[Any]:
    if hasattr(seq, "tolist"):
        seq = seq.tolist()
    if isinstance(seq, (str, bytes)) or not hasattr(seq, "__iter__"):
        raise UsageError(f"tracker.plot.line_series: {what} must be a sequence, not {type(seq).__name__}.")
    return [v.tolist() if hasattr(v, "tolist") else (list(v) if isinstance(v, tuple) else v) for v in seq]
