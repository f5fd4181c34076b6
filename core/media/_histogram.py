"""``tracker.Histogram``: bin counts and edges, stored inline in the history row."""

from __future__ import annotations

import itertools
import math
from typing import Any, Final

from tracker.errors import UsageError
from tracker.media._base import to_numpy, torch_tensor

__all__ = ["Histogram"]

#: Most bins a histogram may have (as W&B).
MAX_BINS: Final = 512


class Histogram:
    """A histogram, W&B's ``wandb.Histogram``; stored inline (no file), exactly.

    Counts and edges are computed here, in the caller (``numpy.histogram`` with
    ``num_bins`` equal-width bins over the finite values' range), so the object holds
    only ``num_bins + (num_bins + 1)`` numbers. NaN and ±inf values are dropped and
    counted (:attr:`nan_count`, :attr:`inf_count`), never silently binned.

    Args:
        sequence: Values: a list, numpy array or torch tensor (any shape, flattened).
        np_histogram: Precomputed ``(counts, edges)``, e.g. from ``numpy.histogram``;
            ``len(edges)`` must be ``len(counts) + 1``.
        num_bins: Number of bins for ``sequence`` (1..512; default 64).

    Attributes:
        histogram: Bin counts (list).
        bins: Bin edges (list, one longer than ``histogram``).
        nan_count: NaN values dropped from ``sequence``.
        inf_count: Infinite values dropped from ``sequence``.

    Raises:
        UsageError: Neither or both inputs, non-numeric values, mismatched lengths,
            decreasing or non-finite edges, more than 512 bins.

    Example:
        >>> import numpy as np
        >>> h = tracker.Histogram(np.random.randn(1000), num_bins=32)  # doctest: +SKIP
        >>> run.log({"weights": h})  # doctest: +SKIP
    """

    def __init__(
        self,
        sequence: Any = None,
        np_histogram: tuple[Any, Any] | None = None,
        num_bins: int = 64,
    ) -> None:
        self.nan_count = 0
        self.inf_count = 0
        if (sequence is None) == (np_histogram is None):
            raise UsageError(
                "Histogram() takes either a sequence or np_histogram=(counts, edges), not both or neither."
            )
        if np_histogram is not None:
            self.histogram, self.bins = _from_counts(np_histogram)
        else:
            self.histogram, self.bins = self._from_sequence(sequence, num_bins)

    def _from_sequence(self, sequence: Any, num_bins: Any) -> tuple[list[Any], list[float]]:
        import numpy as np

        if (
            isinstance(num_bins, bool)
            or not hasattr(num_bins, "__index__")
            or not 1 <= int(num_bins) <= MAX_BINS
        ):
            raise UsageError(f"Histogram(num_bins={num_bins!r}) must be an int in 1..{MAX_BINS}.")
        if torch_tensor(sequence):
            sequence = to_numpy(sequence.detach())
        try:
            a = np.asarray(sequence).ravel()
        except ValueError as exc:  # ragged nested lists
            raise UsageError(f"Histogram(sequence): not a flat numeric sequence ({exc}).") from None
        if a.dtype.kind == "b":
            a = a.astype(np.int64)
        if a.dtype.kind not in "iuf":
            raise UsageError(f"Histogram(sequence): values must be numbers; got dtype {a.dtype}.")
        if a.dtype.kind == "f":
            finite = np.isfinite(a)
            if not finite.all():
                nan = int(np.isnan(a).sum())
                self.nan_count = nan
                self.inf_count = int(a.size - finite.sum()) - nan
                a = a[finite]
        counts, edges = np.histogram(a, bins=int(num_bins))
        return counts.tolist(), edges.astype(np.float64).tolist()

    def _tracker_plain(self) -> dict[str, Any]:
        out: dict[str, Any] = {"_type": "histogram", "values": self.histogram, "bins": self.bins}
        if self.nan_count:
            out["nan_count"] = self.nan_count
        if self.inf_count:
            out["inf_count"] = self.inf_count
        return out

    def _tracker_snapshot(self) -> dict[str, Any]:
        # Plain lists computed at construction: nothing to encode in the writer.
        return self._tracker_plain()

    def __repr__(self) -> str:
        return f"<tracker.Histogram {len(self.histogram)} bins>"


def _from_counts(np_histogram: Any) -> tuple[list[Any], list[float]]:
    try:
        counts, edges = np_histogram
    except (TypeError, ValueError):
        raise UsageError("Histogram(np_histogram=...) must be a pair (counts, edges).") from None
    counts = _numbers(counts, "counts")
    edges_f = [float(e) for e in _numbers(edges, "edges")]
    if len(edges_f) != len(counts) + 1:
        raise UsageError(
            f"Histogram(np_histogram=...): {len(counts)} counts need {len(counts) + 1} edges; "
            f"got {len(edges_f)}."
        )
    if not counts:
        raise UsageError("Histogram(np_histogram=...): counts must not be empty.")
    if len(counts) > MAX_BINS:
        raise UsageError(f"Histogram(np_histogram=...): {len(counts)} bins; at most {MAX_BINS}.")
    if any(not math.isfinite(e) for e in edges_f) or any(b < a for a, b in itertools.pairwise(edges_f)):
        raise UsageError("Histogram(np_histogram=...): edges must be finite and non-decreasing.")
    if any(not math.isfinite(c) or c < 0 for c in counts):
        raise UsageError("Histogram(np_histogram=...): counts must be finite and non-negative.")
    return counts, edges_f


def _numbers(values: Any, what: str) -> list[Any]:
    if hasattr(values, "tolist"):
        values = values.tolist()
    try:
        out = list(values)
    except TypeError:
        raise UsageError(f"Histogram(np_histogram=...): {what} must be a sequence of numbers.") from None
    for v in out:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise UsageError(f"Histogram(np_histogram=...): {what} must be numbers; got {v!r}.")
    return out
