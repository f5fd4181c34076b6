"""Bucketed min/max downsampling on one shared x grid (M4: first, min, max, last per bucket).

Every run of a chart is cut on the same grid (``buckets`` equal-width x intervals over
``[x_min, x_max]``), so series line up without interpolation; the line takes the last
value of each bucket and the min/max band keeps every spike. When a range holds no more
points than buckets, the points are returned as they are (``raw``): zooming in ends at
full detail.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from tracker.storage._base import ChunkStats

__all__ = ["as_lists", "bucketize", "bucketize_chunks", "grid"]


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
    *,
    arrays: bool = False,
    always: bool = False,
) -> dict[str, Any]:
    """Downsample ``y(x)`` over ``[x_min, x_max]`` into at most ``buckets`` buckets.

    Args:
        x: x of each point (any order; sorted here when needed).
        y: Values (float; NaN and infinities are counted, not plotted).
        x_min: Left edge (default: the smallest x).
        x_max: Right edge, inclusive (default: the largest x).
        buckets: Number of buckets of the grid.
        arrays: Return float64 numpy arrays instead of Python lists (for the binary
            encoding, which skips the lists).
        always: Bucket even when the range holds no more points than buckets (a short
            run charted with long ones gets the same x grid as they do).

    Returns:
        ``{"raw": True, "x": [...], "y": [...], "count": n, "nan_count": k}`` when the range
        holds at most ``buckets`` points; else ``{"raw": False, "x": bucket centres,
        "first", "min", "max", "last", "last_x", "n": points per bucket, ...}``, listing only
        non-empty buckets. Lists are plain Python lists ready for JSON unless ``arrays``.
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
    if n <= buckets and (not always or n == 0):
        out.update(raw=True, x=x, y=y)
        return out if arrays else as_lists(out)
    out.update(_m4(x, y, lo_x, hi_x, buckets))
    return out if arrays else as_lists(out)


def _m4(
    x: NDArray[np.float64], y: NDArray[np.float64], lo_x: float, hi_x: float, buckets: int
) -> dict[str, Any]:
    """The non-empty buckets of sorted, finite points: centres, first, min, max, last, last x, count."""
    import numpy as np

    edges = grid(lo_x, hi_x, buckets)
    width = (edges[-1] - edges[0]) / buckets
    idx = np.minimum(((x - edges[0]) / width).astype(np.int64), buckets - 1)
    starts = np.flatnonzero(np.concatenate(([True], idx[1:] != idx[:-1])))
    ends = np.append(starts[1:], len(x))
    b = idx[starts]
    return {
        "raw": False,
        "x": edges[0] + (b + 0.5) * width,
        "first": y[starts],
        "min": np.minimum.reduceat(y, starts),
        "max": np.maximum.reduceat(y, starts),
        "last": y[ends - 1],
        "last_x": x[ends - 1],
        "n": (ends - starts).astype(np.float64),
    }


def as_lists(out: dict[str, Any]) -> dict[str, Any]:
    """``out`` with its numpy arrays as Python lists (``n`` as integers), ready for JSON."""
    import numpy as np

    listed: dict[str, Any] = {}
    for name, value in out.items():
        if isinstance(value, np.ndarray):
            listed[name] = value.astype(np.int64).tolist() if name == "n" else value.tolist()
        else:
            listed[name] = value
    return listed


def bucketize_chunks(
    chunks: list[ChunkStats], x_min: float, x_max: float, buckets: int, *, arrays: bool = False
) -> dict[str, Any]:
    """:func:`bucketize` of ``value(_step)`` read from the index's numeric chunks.

    Gives exactly what ``bucketize(steps, values, x_min, x_max, buckets)`` gives, but a
    chunk that lies inside one bucket (and holds no infinity, nor NaN at its ends) is
    answered from its stored min/max/first/last without decoding its steps or bucketing
    its points, and the points of the other chunks are cut at bucket edges found by
    binary search instead of computing a bucket number per point. Steps that go back
    (never written by ``log``, but possible in hand-made logs) fall back to
    :func:`bucketize`.

    Args:
        chunks: The key's numeric chunks in log order, with their values
            (:meth:`~tracker.storage._base.IndexBackend.numeric_chunks`).
        x_min: Left edge of the grid.
        x_max: Right edge of the grid (inclusive).
        buckets: Number of buckets.
        arrays: Return numpy arrays instead of lists (as :func:`bucketize`).
    """
    import numpy as np

    lo_x, hi_x = float(x_min), float(x_max)
    chunks = [c for c in chunks if c.step_max >= lo_x and c.step_min <= hi_x and c.n > 0]
    job = _ChunkBucketer(chunks, lo_x, hi_x, buckets, arrays)
    if not job.monotone() or not chunks:
        return job.fallback()
    b_min = job.bucket_of(np.array([c.step_min for c in chunks], dtype=np.float64)).tolist()
    b_max = job.bucket_of(np.array([c.step_max for c in chunks], dtype=np.float64)).tolist()
    for i, c in enumerate(chunks):
        whole = (
            b_min[i] == b_max[i]
            and lo_x <= c.step_min
            and c.step_max <= hi_x
            and all(v is not None and math.isfinite(v) for v in (c.vmin, c.vmax, c.vfirst, c.vlast))
        )
        if whole:
            job.flush()
            job.add_whole(c, b_min[i])
        else:
            job.run.append(i)
    job.flush()
    return job.merge()


class _ChunkBucketer:
    """The state of one :func:`bucketize_chunks` call: the grid, segments cut so far, the NaN count."""

    def __init__(
        self, chunks: list[ChunkStats], lo_x: float, hi_x: float, buckets: int, arrays: bool
    ) -> None:
        self.chunks = chunks
        self.lo_x, self.hi_x, self.buckets, self.arrays = lo_x, hi_x, buckets, arrays
        self.edges = grid(lo_x, hi_x, buckets)
        self.e0 = self.edges[0]
        self.width = (self.edges[-1] - self.edges[0]) / buckets
        self.steps: dict[int, NDArray[np.float64]] = {}
        # Segments in x order: (bucket, first, min, max, last, last_x, count).
        self.segs: list[tuple[Any, ...]] = []
        self.nan_count = 0
        self.run: list[int] = []  # indices of chunks whose points are cut together

    def monotone(self) -> bool:
        """Whether the chunks' steps never go back (decoding the explicit steps on the way)."""
        import numpy as np

        from tracker.storage._ingest import unpack_ints

        prev = -np.inf
        for i, c in enumerate(self.chunks):
            if c.step_min < prev or c.vals is None:
                return False
            prev = c.step_max
            if c.steps is not None:
                s = unpack_ints(c.step0, c.step_stride, c.steps, c.n)
                if len(s) > 1 and bool(np.any(s[1:] < s[:-1])):
                    return False
                self.steps[i] = s.astype(np.float64)
            elif c.step_stride < 0 and c.n > 1:
                return False
        return True

    def points(self, i: int, c: ChunkStats) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        import numpy as np

        from tracker.storage._ingest import unpack_ints

        assert c.vals is not None
        x = self.steps.get(i)
        if x is None:
            x = unpack_ints(c.step0, c.step_stride, c.steps, c.n).astype(np.float64)
        return x, np.frombuffer(c.vals, dtype="<f8")

    def fallback(self) -> dict[str, Any]:
        """:func:`bucketize` of every point."""
        import numpy as np

        pts = [self.points(i, c) for i, c in enumerate(self.chunks) if c.vals is not None]
        if not pts:
            return bucketize(np.zeros(0), np.zeros(0), self.lo_x, self.hi_x, self.buckets, arrays=self.arrays)
        x = np.concatenate([p[0] for p in pts])
        y = np.concatenate([p[1] for p in pts])
        return bucketize(x, y, self.lo_x, self.hi_x, self.buckets, arrays=self.arrays)

    def bucket_of(self, v: Any) -> Any:  # the same arithmetic as bucketize
        import numpy as np

        return np.minimum(((v - self.e0) / self.width).astype(np.int64), self.buckets - 1)

    def add_whole(self, c: ChunkStats, bucket: int) -> None:
        """A chunk inside one bucket, from its stored statistics."""
        import numpy as np

        assert c.vals is not None
        nans = int(np.count_nonzero(np.isnan(np.frombuffer(c.vals, dtype="<f8"))))
        self.nan_count += nans
        stats = (bucket, c.vfirst, c.vmin, c.vmax, c.vlast, float(c.step_max), c.n - nans)
        self.segs.append(tuple(np.array([v]) for v in stats))

    def flush(self) -> None:
        """Cut the points of the pending chunks (one stretch) into segments."""
        import numpy as np

        if not self.run:
            return
        pts = [self.chunks[i] for i in self.run]
        idx = list(self.run)
        self.run.clear()
        y = (
            np.concatenate([np.frombuffer(c.vals, dtype="<f8") for c in pts if c.vals is not None])
            if len(pts) > 1
            else np.frombuffer(pts[0].vals or b"", dtype="<f8")
        )
        stride = pts[0].step_stride
        affine = stride > 0 and all(c.steps is None and (c.step_stride == stride or c.n == 1) for c in pts)
        if affine:
            at = pts[0].step0
            for c in pts:
                if c.step0 != at:
                    affine = False
                    break
                at += stride * c.n
        if affine:
            self.cut(_Xs(None, float(pts[0].step0), float(stride), len(y)), y)
        else:
            xs = [self.points(i, self.chunks[i])[0] for i in idx]
            self.cut(_Xs(np.concatenate(xs) if len(xs) > 1 else xs[0]), y)

    def cut(self, xs: _Xs, y: NDArray[np.float64]) -> None:
        """Segments of one stretch of points, cut at bucket edges by binary search."""
        import numpy as np

        a, b = (
            int(xs.search(np.array([self.lo_x]), "left")[0]),
            int(xs.search(np.array([self.hi_x]), "right")[0]),
        )
        if (a, b) != (0, len(y)):
            xs, y = xs.slice(a, b), y[a:b]
        if not len(y):
            return
        starts = self._starts(xs, len(y))
        ends = np.append(starts[1:], len(y))
        mn = np.minimum.reduceat(y, starts)
        mx = np.maximum.reduceat(y, starts)
        if not (bool(np.isfinite(mn).all()) and bool(np.isfinite(mx).all())):
            # NaN or infinities in this stretch: drop them (counted) and cut again.
            x = xs.at(np.arange(len(y)))
            finite = np.isfinite(y)
            self.nan_count += int(len(y) - int(finite.sum()))
            if bool(finite.any()):
                self.cut(_Xs(x[finite]), y[finite])
            return
        self.segs.append(
            (self.bucket_of(xs.at(starts)), y[starts], mn, mx, y[ends - 1], xs.at(ends - 1), ends - starts)
        )

    def _starts(self, xs: _Xs, n: int) -> NDArray[np.int64]:
        """The first point of each non-empty bucket of ``n`` sorted points."""
        import numpy as np

        bucket_of = self.bucket_of
        first_b = int(bucket_of(xs.at(np.array([0])))[0])
        last_b = int(bucket_of(xs.at(np.array([n - 1])))[0])
        bs = np.arange(first_b + 1, last_b + 1, dtype=np.int64)
        # First point of each bucket: binary search on the edge, then corrected so that
        # bucket_of agrees exactly (rounding may put the edge one group of equal x off).
        k = np.minimum(xs.search(self.e0 + bs * self.width, "left"), n - 1)
        for _ in range(64):
            late = (k > 0) & (bucket_of(xs.at(np.maximum(k - 1, 0))) >= bs)
            early = bucket_of(xs.at(k)) < bs
            if not (late.any() or early.any()):
                break
            k = np.where(late, xs.search(xs.at(np.maximum(k - 1, 0)), "left"), k)
            k = np.where(early, np.minimum(xs.search(xs.at(k), "right"), n - 1), k)
        else:  # pragma: no cover - never seen; exact but slower
            k = np.flatnonzero(np.diff(bucket_of(xs.at(np.arange(n)))) > 0) + 1
        starts = np.concatenate(([0], k))  # non-decreasing: drop the repeats of empty buckets
        found: NDArray[np.int64] = starts[np.concatenate(([True], starts[1:] != starts[:-1]))]
        return found

    def merge(self) -> dict[str, Any]:
        """The segments merged per bucket (or :meth:`fallback` when few points are left)."""
        import numpy as np

        if not self.segs:
            return self.fallback()
        b, first, mn, mx, last, last_x, cnt = (np.concatenate(col) for col in zip(*self.segs, strict=True))
        count = int(cnt.sum())
        if count <= self.buckets:
            return self.fallback()
        s2 = np.flatnonzero(np.concatenate(([True], b[1:] != b[:-1])))
        e2 = np.append(s2[1:], len(b))
        out = {
            "count": count,
            "nan_count": self.nan_count,
            "x_min": self.lo_x,
            "x_max": self.hi_x,
            "raw": False,
            "x": self.edges[0] + (b[s2] + 0.5) * self.width,
            "first": first[s2].astype(np.float64),
            "min": np.minimum.reduceat(mn.astype(np.float64), s2),
            "max": np.maximum.reduceat(mx.astype(np.float64), s2),
            "last": last[e2 - 1].astype(np.float64),
            "last_x": last_x[e2 - 1].astype(np.float64),
            "n": np.add.reduceat(cnt.astype(np.int64), s2).astype(np.float64),
        }
        return out if self.arrays else as_lists(out)


class _Xs:
    """Sorted x of a stretch of points: an array, or ``x0 + stride * i`` without one."""

    __slots__ = ("n", "stride", "x", "x0")

    def __init__(
        self, x: NDArray[np.float64] | None, x0: float = 0.0, stride: float = 1.0, n: int = 0
    ) -> None:
        self.x = x
        self.x0 = x0
        self.stride = stride
        self.n = len(x) if x is not None else n

    def at(self, k: NDArray[np.int64]) -> NDArray[np.float64]:
        import numpy as np

        if self.x is not None:
            return self.x[k]
        return self.x0 + self.stride * k.astype(np.float64)

    def search(self, t: NDArray[np.float64], side: str) -> NDArray[np.int64]:
        import numpy as np

        if self.x is not None:
            return np.searchsorted(self.x, t, side=side)  # type: ignore[call-overload, no-any-return]
        u = (np.asarray(t, dtype=np.float64) - self.x0) / self.stride
        k = np.ceil(u) if side == "left" else np.floor(u) + 1
        k = np.clip(k, 0, self.n).astype(np.int64)
        # Exact for integer steps; guard the division's rounding all the same.
        for _ in range(4):
            prev = self.at(np.maximum(k - 1, 0))
            cur = self.at(np.minimum(k, max(self.n - 1, 0)))
            if side == "left":
                back = (k > 0) & (prev >= t)
                fwd = (k < self.n) & (cur < t)
            else:
                back = (k > 0) & (prev > t)
                fwd = (k < self.n) & (cur <= t)
            if not (back.any() or fwd.any()):
                break
            k = k - back + fwd
        return k

    def slice(self, a: int, b: int) -> _Xs:
        if self.x is not None:
            return _Xs(self.x[a:b])
        return _Xs(None, self.x0 + self.stride * a, self.stride, b - a)
