"""The ``_step`` fast path of /api/series (chunk statistics) against the plain computation."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")

import tracker
from tracker.server._data import ServerData as _Data
from tracker.server._downsample import bucketize, grid
from tracker.server._series import SeriesReader

SPIKE = 1e6


@pytest.fixture
def data(root: Path) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    ids = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Irregular steps (stored as step blobs), a sparse key, NaN, infinities, spikes.
        run = tracker.init(project="p", name="irregular")
        step = 0
        for i in range(20_000):
            step += int(rng.integers(1, 4))
            row: dict[str, Any] = {"a": float(rng.normal())}
            if i in (3333, 17_001):
                row["a"] = SPIKE
            if i % 997 == 5:
                row["a"] = float("nan")
            if i == 12_345:
                row["a"] = float("inf")
            if rng.random() < 0.3:
                row["b"] = float(rng.random())
            run.log(row, step=step)
        run.log({"mixed": "text"}, step=step + 1)
        run.log({"mixed": 1.0}, step=step + 2)
        ids.append(run.id)
        run.finish()
        # Plain steps 0..N-1 (arithmetic chunks): the case of the benchmark.
        run = tracker.init(project="p", name="plain")
        vals = rng.normal(size=40_000)
        vals[29_999] = -SPIKE
        vals[100] = SPIKE
        for v in vals:
            run.log({"a": float(v), "b": float(v) * 2})
        ids.append(run.id)
        run.finish()
    return {"root": root, "ids": ids}


def both(d: _Data, body: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    fast = d.series(body)
    with monkeypatch.context() as m:
        m.setattr(SeriesReader, "_step_series", lambda *a, **k: None)
        slow = d.series(body)
    return fast, slow


def test_fast_path_equals_plain_bucketing(data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    d = _Data(data["root"])
    rng = np.random.default_rng(3)
    windows: list[tuple[float | None, float | None]] = [(None, None), (0, 10), (-50, 5.5), (1e9, 2e9)]
    for _ in range(25):
        a, b = sorted(rng.uniform(-1000, 60_000, size=2).tolist())
        windows.append((round(a, 2) if rng.random() < 0.5 else int(a), b))
    windows += [(100.0, 100.0), (500.0, 400.0), (None, 30_000.0), (20_000.0, None)]
    seen_whole = seen_bucketed = 0
    for x_min, x_max in windows:
        for buckets in (1, 2, 3, 7, 64, 1000, 4000):
            body = {
                "project": "p",
                "runs": [*data["ids"], "nope"],
                "keys": ["a", "b", "mixed", "absent"],
                "buckets": buckets,
                "x_min": x_min,
                "x_max": x_max,
            }
            fast, slow = both(d, body, monkeypatch)
            assert fast == slow, (x_min, x_max, buckets)
            assert "mixed" not in fast["series"]
            for per_run in fast["series"].values():
                for r in per_run.values():
                    if not r["raw"]:
                        seen_bucketed += 1
                        seen_whole += int(len(r["n"]) and max(r["n"]) > 4096)
    assert seen_bucketed > 100
    assert seen_whole > 0


def test_spikes_exact_against_naive_min_max(data: dict[str, Any]) -> None:
    d = _Data(data["root"])
    d.api.runs("p")  # refreshes the index
    for run_id in data["ids"]:
        s = d.api.index.series("p", run_id, ["a"])["a"]
        x = s.step.astype(np.float64)
        y = np.asarray(s.values, dtype=np.float64)
        out = d.series({"project": "p", "runs": [run_id], "keys": ["a"], "buckets": 1000})
        r = out["series"]["a"][run_id]
        assert not r["raw"]
        # Naive: a mask per bucket on the same grid.
        edges = grid(out["x_min"], out["x_max"], 1000)
        width = (edges[-1] - edges[0]) / 1000
        idx = np.minimum(((x - edges[0]) / width).astype(np.int64), 999)
        ok = np.isfinite(y)
        centres = (edges[0] + (np.arange(1000) + 0.5) * width).tolist()
        got = dict(zip(r["x"], zip(r["min"], r["max"], r["n"], strict=True), strict=True))
        for b in range(1000):
            sel = y[(idx == b) & ok]
            if len(sel):
                assert got[centres[b]] == (float(sel.min()), float(sel.max()), len(sel))
            else:
                assert centres[b] not in got
        assert r["nan_count"] == int((~ok).sum())
        assert max(r["max"]) == SPIKE or min(r["min"]) == -SPIKE
        assert r == bucketize(x, y, out["x_min"], out["x_max"], 1000)


def test_numeric_chunks_index_method(data: dict[str, Any]) -> None:
    d = _Data(data["root"])
    index = d.api.index
    d.api.runs("p")
    irregular, plain = data["ids"]
    meta = index.numeric_chunks("p", irregular, ["a", "b", "mixed", "absent"], values=False)
    assert meta is not None
    assert set(meta) == {"a", "b"}
    assert all(c.vals is None for c in meta["a"])
    assert sum(c.n for c in meta["a"]) == 20_000
    full = index.numeric_chunks("p", plain, ["a"])
    assert full is not None
    vals = np.concatenate([np.frombuffer(c.vals or b"", dtype="<f8") for c in full["a"]])
    assert np.array_equal(vals, np.asarray(index.series("p", plain, ["a"])["a"].values))
    part = index.numeric_chunks("p", plain, ["a"], step_min=10_000, step_max=10_001)
    assert part is not None
    assert len(part["a"]) == 1
    assert part["a"][0].step_min <= 10_000 <= part["a"][0].step_max
    ranged = index.numeric_chunks("p", irregular, ["mixed"], step_min=0, step_max=10)
    assert ranged == {}
