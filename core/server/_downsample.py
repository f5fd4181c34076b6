"""Bucketed min/max downsampling on one shared x grid (M4: first, min, max, last per bucket).

Every run of a chart is cut on the same grid (``buckets`` equal-width x intervals over
``[x_min, x_max]``), so series line up without interpolation; the line takes the last
value of each bucket and the min/max band keeps every spike. When a range holds no more
points than buckets, the points are returned as they are (``raw``): zooming in ends at
full detail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["bucketize", "grid"]


def grid(x_min: float, x_max: float, buckets: int) -> NDArray[np.float64]:
    """The bucket edges (``buckets + 1`` values) of ``[x_min, x_max]``."""
    import numpy as np

    if x_max <= x_min:
        x_max = x_min + 1.0
    return np.linspace(x_min, x_max, buckets + 1)


def bucketize(
    x: NDArray[Any],
    y: NDArray[Any],
    x_min: float | None,
    x_max: float | None,
    buckets: int,
) -> dict[str, Any]:
    """Downsample ``y(x)`` over ``[x_min, x_max]`` into at most ``buckets`` buckets.

    Args:
        x: x of each point (any order; sorted here when needed).
        y: Values (float; NaN and infinities are counted, not plotted).
        x_min: Left edge (default: the smallest x).
        x_max: Right edge, inclusive (default: the largest x).
        buckets: Number of buckets of the grid.

    Returns:
        ``{"raw": True, "x": [...], "y": [...], "count": n, "nan_count": k}`` when the range
        holds at most ``buckets`` points; else ``{"raw": False, "x": bucket centres,
        "first", "min", "max", "last", "last_x", "n": points per bucket, ...}``, listing only
        non-empty buckets. Lists are plain Python lists ready for JSON.
    """
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) > 1 and bool(np.any(x[1:] < x[:-1])):
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
    lo_x = float(x[0]) if x_min is None and len(x) else float(x_min or 0.0)
    hi_x = float(x[-1]) if x_max is None and len(x) else float(x_max if x_max is not None else lo_x)
    lo = int(np.searchsorted(x, lo_x, side="left"))
    hi = int(np.searchsorted(x, hi_x, side="right"))
    x, y = x[lo:hi], y[lo:hi]
    finite = np.isfinite(y)
    nan_count = int(len(y) - int(finite.sum()))
    if nan_count:
        x, y = x[finite], y[finite]
    n = len(x)
    out: dict[str, Any] = {"count": n, "nan_count": nan_count, "x_min": lo_x, "x_max": hi_x}
    if n <= buckets:
        out.update(raw=True, x=x.tolist(), y=y.tolist())
        return out
    edges = grid(lo_x, hi_x, buckets)
    width = (edges[-1] - edges[0]) / buckets
    idx = np.minimum(((x - edges[0]) / width).astype(np.int64), buckets - 1)
    starts = np.flatnonzero(np.concatenate(([True], idx[1:] != idx[:-1])))
    ends = np.append(starts[1:], n)
    b = idx[starts]
    out.update(
        raw=False,
        x=(edges[0] + (b + 0.5) * width).tolist(),
        first=y[starts].tolist(),
        min=np.minimum.reduceat(y, starts).tolist(),
        max=np.maximum.reduceat(y, starts).tolist(),
        last=y[ends - 1].tolist(),
        last_x=x[ends - 1].tolist(),
        n=(ends - starts).tolist(),
    )
    return out
