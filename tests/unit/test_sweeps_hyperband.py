"""Hyperband: W&B's bands and stop decisions on the cases of notes/sweeps.md §4.4 and §6.2."""

from __future__ import annotations

import pytest

from tracker.sweeps import Hyperband, Observation, bands, runs_to_stop


def _run(name: str, state: str, history: list[float]) -> Observation:
    return Observation(name, state, {}, history)


@pytest.mark.parametrize(
    ("hb", "expected"),
    [
        (Hyperband(max_iter=27, s=2, eta=3), [3, 9]),
        (Hyperband(max_iter=81, s=3, eta=3), [3, 9, 27]),
        (Hyperband(max_iter=18, s=2, eta=3), [2, 6]),
        (Hyperband(max_iter=5, s=2, eta=2), [1, 2]),
        (Hyperband(max_iter=9, s=2, eta=3), [1, 3]),
        (Hyperband(max_iter=10, s=3, eta=2), [1, 2, 5]),
        (Hyperband(max_iter=300, s=2, eta=3), [33, 100]),
        (Hyperband(max_iter=2, s=1, eta=3), []),
    ],
)
def test_bands_from_max_iter(hb: Hyperband, expected: list[int]) -> None:
    assert bands(hb) == expected


def test_bands_from_min_iter() -> None:
    assert bands(Hyperband(min_iter=3, eta=3))[:4] == [3, 9, 27, 81]
    assert bands(Hyperband(min_iter=30, eta=1.5))[:5] == [30, 45, 67, 101, 151]


def test_five_runs_strict() -> None:
    hb = Hyperband(max_iter=5, s=2, eta=2)
    runs = [
        _run("a", "finished", [10, 9]),
        _run("b", "running", [10, 10]),
        _run("c", "running", [10, 8, 8]),
        _run("d", "running", [10, 7, 7]),
        _run("e", "finished", [10, 6, 6]),
    ]
    assert runs_to_stop(hb, "minimize", runs) == ["b"]
    runs[0], runs[1] = _run("a", "finished", [10]), _run("b", "running", [11])
    assert runs_to_stop(hb, "minimize", runs) == ["b", "c"]


def test_eta3_relaxed_and_its_maximize_mirror() -> None:
    hb = Hyperband(max_iter=9, s=2, eta=3, strict=False)
    hist = {"a": [9, 8], "b": [11, 11], "c": [10, 8, 3], "d": [10, 7, 4], "e": [10, 6, 6]}
    runs = [_run(k, "finished" if k == "a" else "running", v) for k, v in hist.items()]
    assert runs_to_stop(hb, "minimize", runs) == ["b", "e"]
    mirror = [_run(r.run_id, r.state, [-v for v in r.history]) for r in runs]
    assert runs_to_stop(hb, "maximize", mirror) == ["b", "e"]


def test_min_iter_case() -> None:
    hb = Hyperband(min_iter=3, eta=3)
    runs = [
        _run("one", "running", [10, 10, 10, 10]),
        _run("two", "running", [float(v) for v in range(10, 0, -1)]),
    ]
    assert runs_to_stop(hb, "minimize", runs) == ["one"]


def test_lone_run_and_nan_histories_are_never_stopped() -> None:
    assert runs_to_stop(Hyperband(min_iter=1, eta=3), "minimize", [_run("a", "running", [5, 4, 3])]) == []
    hb = Hyperband(max_iter=300, s=2, eta=3)
    runs = [
        _run("a", "running", [1.0] + [float("nan")] * 200),
        _run("b", "finished", [0.5] * 120),
        _run("c", "finished", [0.4] * 120),
    ]
    assert runs_to_stop(hb, "minimize", runs) == []
