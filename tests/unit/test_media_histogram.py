"""tracker.Histogram: exact counts and edges, NaN/inf dropped and counted, bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tracker
from tracker import media
from tracker.errors import UsageError

RNG = np.random.default_rng(11)


def _logged(value: Any) -> dict[str, Any]:
    run = tracker.init(project="media")
    run.log({"h": value})
    run.finish()
    (entry,) = media.media_entries(run.dir)["h"]
    return entry.value  # type: ignore[no-any-return]


@pytest.mark.parametrize("bins", [1, 7, 64, 512])
def test_sequence_counts_and_edges_are_numpys_exactly(bins: int) -> None:
    data = RNG.standard_normal(5000) * 3 + 1
    counts, edges = np.histogram(data, bins=bins)
    h = tracker.Histogram(data, num_bins=bins)
    assert h.histogram == counts.tolist()
    assert h.bins == edges.tolist()
    ref = _logged(h)
    assert ref["_type"] == "histogram"
    got_counts, got_edges = media.read_histogram(ref)
    assert got_counts == counts.tolist()
    assert got_edges == edges.tolist()  # float64 edges survive the record bit for bit


def test_default_is_64_bins_and_list_input() -> None:
    h = tracker.Histogram([1, 2, 2, 3, 3, 3])
    counts, edges = np.histogram([1, 2, 2, 3, 3, 3], bins=64)
    assert len(h.histogram) == 64
    assert h.histogram == counts.tolist()
    assert h.bins == edges.tolist()


def test_np_histogram_is_stored_as_given() -> None:
    counts = [3, 0, 5]
    edges = [0.0, 0.1, 0.25, 1.0]
    ref = _logged(tracker.Histogram(np_histogram=(np.array(counts), np.array(edges))))
    assert media.read_histogram(ref) == (counts, edges)


def test_nan_and_inf_are_dropped_and_counted() -> None:
    data = np.array([1.0, 2.0, np.nan, np.inf, -np.inf, np.nan, 3.0])
    h = tracker.Histogram(data, num_bins=4)
    counts, edges = np.histogram([1.0, 2.0, 3.0], bins=4)
    assert h.histogram == counts.tolist()
    assert h.bins == edges.tolist()
    assert (h.nan_count, h.inf_count) == (2, 2)
    ref = _logged(h)
    assert ref["nan_count"] == 2
    assert ref["inf_count"] == 2
    empty = tracker.Histogram([np.nan], num_bins=2)
    assert empty.histogram == [0, 0]
    assert empty.nan_count == 1


def test_mutating_the_source_after_construction_changes_nothing() -> None:
    data = np.ones(10)
    h = tracker.Histogram(data, num_bins=2)
    data[:] = 5
    assert sum(h.histogram) == 10
    assert h.bins[-1] == 1.5


def test_torch_tensor() -> None:
    torch = pytest.importorskip("torch")
    t = torch.randn(1000)
    counts, edges = np.histogram(t.numpy(), bins=16)
    h = tracker.Histogram(t, num_bins=16)
    assert h.histogram == counts.tolist()
    assert h.bins == edges.tolist()


def test_histogram_in_table_and_summary() -> None:
    run = tracker.init(project="media")
    run.summary["final"] = tracker.Histogram([1, 2, 3], num_bins=3)
    run.log({"t": tracker.Table(columns=["h"], data=[[tracker.Histogram([0, 1], num_bins=2)]])})
    run.finish()
    assert media.summary_media(run.dir)["final"]["values"] == [1, 1, 1]
    ref = media.media_entries(run.dir)["t"][0].value
    assert media.read_table(run.dir, ref, pandas=False)["data"][0][0]["values"] == [1, 1]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({}, "either"),
        ({"sequence": [1], "np_histogram": ([1], [0, 1])}, "either"),
        ({"np_histogram": ([1, 2], [0, 1])}, "2 counts need 3 edges; got 2"),
        ({"np_histogram": ([1], [1, 0])}, "non-decreasing"),
        ({"np_histogram": ([-1], [0, 1])}, "non-negative"),
        ({"np_histogram": ([1], [0, float("inf")])}, "finite"),
        ({"np_histogram": ([1] * 513, list(range(514)))}, "513 bins"),
        ({"np_histogram": 5}, "pair"),
        ({"sequence": ["a", "b"]}, "<U1"),
        ({"sequence": [1, 2], "num_bins": 0}, "num_bins=0"),
        ({"sequence": [1, 2], "num_bins": 1000}, "num_bins=1000"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(UsageError) as info:
        tracker.Histogram(**kwargs)
    assert needle in str(info.value)
