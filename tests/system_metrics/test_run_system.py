"""System metrics in a real run: init starts the sampler, finish stops it, readers get the samples."""

from __future__ import annotations

import itertools
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker import _stats
from tracker._init import read_log
from tracker.errors import UsageError
from tracker.storage._system import system_rows
from tracker.system_metrics import PSUTIL_KEYS

GUARD = 30.0


def _system_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tracker-system")]


def test_real_run_of_a_few_seconds_at_one_second(root: Path) -> None:
    psutil = pytest.importorskip("psutil")
    run = tracker.init(project="sys", settings={"stats_interval": 1.0})
    sampler = _stats.sampler_of(run)
    assert sampler is not None
    assert sampler.interval == 1.0
    assert sampler.thread is not None
    assert sampler.thread.name == f"tracker-system-{run.id}"
    for i in range(3):
        run.log({"loss": 1.0 / (i + 1)})
    assert sampler.wait_for_samples(4, GUARD)  # ~4 s of real sampling; the timeout is a guard
    run.finish()
    assert _system_threads() == []
    rows = system_rows(run.dir)
    assert len(rows) >= 4
    expected = set(PSUTIL_KEYS)
    if not psutil.disk_io_counters(perdisk=True):  # some containers have no disk counters
        expected -= {"system.disk.in", "system.disk.out"}
    for key in sorted(expected):
        assert sum(key in row for row in rows) >= 4, key
    host = read_log(Path(run.dir) / "run.tlog").meta["host"]
    assert {row["node"] for row in rows} == {host}
    stamps = [row["_timestamp"] for row in rows]
    assert stamps == sorted(stamps)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert all(0.5 < g < 2.5 for g in gaps[:3]), gaps  # one sample a second, no bursts
    assert all(row["_runtime"] >= 0 for row in rows)
    state = read_log(Path(run.dir) / "run.tlog")
    hardware = state.capture["hardware"]
    assert hardware["cpu"]["count_logical"] >= 1
    assert hardware["memory"]["total"] > 0
    assert "gpu" in hardware
    assert "distributed" not in state.capture  # a plain single-process run
    assert [r[0] for r in state.rows] == [0, 1, 2]  # system samples never touch history

    # Read back through the public Api, W&B's stream name and our alias.
    api_run = tracker.Api().run(f"sys/{run.id}")
    events = api_run.history(stream="events", pandas=False)
    assert api_run.history(stream="system", pandas=False) == events
    for key in sorted(expected):
        assert sum(key in row for row in events) >= 4, key
    frame = api_run.history(stream="events")
    assert len(frame) == len(events)


def test_sampler_thread_is_gone_after_finish_and_finish_is_idempotent() -> None:
    run = tracker.init(project="sys", settings={"stats_interval": 0.1})
    sampler = _stats.sampler_of(run)
    assert sampler is not None
    thread = sampler.thread
    assert thread is not None
    assert thread.is_alive()
    run.finish()
    assert not thread.is_alive()
    assert _system_threads() == []
    run.finish()


def test_finish_writes_the_last_sample_before_the_exit_record(root: Path) -> None:
    run = tracker.init(project="sys", settings={"stats_interval": 0.1})
    sampler = _stats.sampler_of(run)
    assert sampler is not None
    assert sampler.wait_for_samples(2, GUARD)
    run.finish()
    from tracker.storage._format import R, read_frames

    kinds = [rec[0] for _off, rec in read_frames(Path(run.dir) / "run.tlog").records]
    assert R.SYSTEM in kinds
    assert kinds[-1] == R.EXIT
    assert len(system_rows(run.dir)) == sampler.samples


@pytest.mark.parametrize(
    ("settings", "env", "expected"),
    [
        ({}, {}, 10.0),
        ({"stats_interval": 2}, {}, 2.0),
        ({}, {"TRACKER_STATS_INTERVAL": "3.5"}, 3.5),
        ({"stats_interval": 4.0}, {"TRACKER_STATS_INTERVAL": "3.5"}, 4.0),  # argument > environment
        ({"x_stats_sampling_interval": 15.0}, {}, 15.0),  # W&B's name
        ({"x_disable_stats": True}, {}, 0.0),
        ({"stats_interval": 0}, {}, 0.0),
        ({}, {"TRACKER_STATS_INTERVAL": "0"}, 0.0),
    ],
)
def test_interval_resolution(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any], env: dict[str, str], expected: float
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert _stats.interval(tracker.Settings(**settings)) == expected


@pytest.mark.parametrize("settings", [{"stats_interval": 0}, {"x_disable_stats": True}])
def test_zero_interval_starts_no_sampler(settings: dict[str, Any], root: Path) -> None:
    run = tracker.init(project="sys", settings=settings)
    assert _stats.sampler_of(run) is None
    assert _system_threads() == []
    run.finish()
    assert "hardware" not in read_log(Path(run.dir) / "run.tlog").capture


@pytest.mark.parametrize(
    ("settings", "env", "message"),
    [
        ({"stats_interval": -1}, {}, r"settings stats_interval=-1: use 0 \(no system metrics\) or"),
        ({"stats_interval": 0.01}, {}, r"or a number of seconds >= 0.1"),
        ({"stats_interval": "often"}, {}, r"settings stats_interval='often' is not a number"),
        ({}, {"TRACKER_STATS_INTERVAL": "fast"}, r"TRACKER_STATS_INTERVAL='fast' is not a number"),
    ],
)
def test_bad_interval_raises_before_anything_is_created(
    monkeypatch: pytest.MonkeyPatch, root: Path, settings: dict[str, Any], env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(UsageError, match=message):
        tracker.init(project="sys", settings=settings)
    assert not (root / "projects").exists()
    assert [t.name for t in threading.enumerate() if t.name.startswith("tracker")] == []


def test_missing_psutil_and_pynvml_raise_nothing_into_training(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, root: Path
) -> None:
    caplog.set_level(logging.INFO, logger="tracker.system_metrics")
    monkeypatch.setitem(sys.modules, "psutil", None)
    monkeypatch.setitem(sys.modules, "pynvml", None)
    run = tracker.init(project="sys", settings={"stats_interval": 0.1})  # strict mode is on (conftest)
    sampler = _stats.sampler_of(run)
    assert sampler is not None
    assert sampler.opened.wait(GUARD)
    for i in range(5):
        run.log({"x": i})
    run.finish()
    assert not sampler.alive
    assert system_rows(run.dir) == []
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("psutil is not installed" in m for m in info)
    assert read_log(Path(run.dir) / "run.tlog").capture["hardware"]["gpu"]["count"] == 0


def test_a_broken_sampler_surfaces_as_a_problem_in_strict_mode(
    monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    from tracker.system_metrics import _cpu

    def broken(self: Any) -> dict[str, float]:
        raise RuntimeError("a bug in the cpu source")

    monkeypatch.setattr(_cpu.CpuSource, "sample", broken)
    run = tracker.init(project="sys", settings={"stats_interval": 0.1})
    sampler = _stats.sampler_of(run)
    assert sampler is not None
    assert sampler.wait_for_samples(1, GUARD)
    with pytest.raises(tracker.Error, match="the 'cpu' source failed"):
        run.finish()  # strict mode (conftest): a degraded subsystem raises at the next call
    assert not sampler.alive


def test_import_tracker_still_imports_neither_psutil_nor_pynvml_after_a_run() -> None:
    import subprocess

    code = (
        "import sys, tracker\n"
        "loaded = [m for m in ('psutil', 'pynvml') if m in sys.modules]\n"
        "run = tracker.init(project='p', settings={'stats_interval': 60})\n"
        "after_init = [m for m in ('psutil', 'pynvml') if m in sys.modules]\n"
        "run.finish()\n"
        "print(loaded, after_init)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[] []"  # init returns before the sampler thread imports them
