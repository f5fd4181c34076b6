"""The sampling loop: thread lifecycle, callbacks, probe, failures (fake psutil and NVML)."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tracker.errors import MissingExtraError, TrackerWarning, UsageError
from tracker.system_metrics import SystemMetricsSampler, available_sources

#: Fast enough that a test takes a few ticks in well under a second; waits below are guards.
FAST = 0.02
GUARD = 10.0


class Collector:
    def __init__(self) -> None:
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.probes: list[dict[str, Any]] = []
        self.problems: list[tuple[str, str]] = []
        self.threads: set[str] = set()

    def __call__(self, ts: float, data: dict[str, float]) -> None:
        self.threads.add(threading.current_thread().name)
        self.samples.append((ts, data))


def _sampler(c: Collector, **kwargs: Any) -> SystemMetricsSampler:
    kwargs.setdefault("interval", FAST)
    return SystemMetricsSampler(
        c, on_probe=c.probes.append, on_problem=lambda k, m: c.problems.append((k, m)), **kwargs
    )


def _fast_cpu_options(tmp_path: Path) -> dict[str, dict[str, Any]]:
    (tmp_path / "cg").mkdir(exist_ok=True)
    return {"cpu": {"cgroup_root": tmp_path / "cg"}}


def test_thread_samples_calls_back_and_is_gone_after_stop(
    fake_psutil: Any, nvml: Any, tmp_path: Path
) -> None:
    nvml.add("GPU-0000")
    c = Collector()
    sampler = _sampler(c, name="tracker-system-test", source_options=_fast_cpu_options(tmp_path))
    sampler.start()
    thread = sampler.thread
    assert thread is not None
    assert thread.name == "tracker-system-test"
    assert thread.daemon
    assert sampler.wait_for_samples(3, GUARD)
    assert sampler.stop() is True
    assert not thread.is_alive()
    assert not sampler.alive
    assert sampler.active == ("cpu", "nvml")
    assert c.threads == {"tracker-system-test"}
    assert len(c.samples) >= 3
    _ts, data = c.samples[0]
    assert "system.cpu" in data
    assert "system.gpu.0.gpu" in data
    assert [ts for ts, _ in c.samples] == sorted(ts for ts, _ in c.samples)
    assert len(c.probes) == 1
    assert c.probes[0]["gpu"]["devices"][0]["uuid"] == "GPU-0000"
    assert c.probes[0]["cpu"]["count_logical"] >= 1
    assert c.problems == []
    assert nvml.shutdowns == 1  # NVML shut down when the sampler stops
    assert sampler.cpu_seconds > 0
    assert sampler.stop() is True  # idempotent


def test_thread_name_always_starts_with_tracker(fake_psutil: Any, nvml: Any) -> None:
    sampler = SystemMetricsSampler(lambda ts, d: None, name="metrics")
    assert sampler._name == "tracker-metrics"
    assert sampler.stop() is True  # never started: nothing to join


def test_stop_takes_a_final_sample(
    fake_psutil: Any, nvml: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker.system_metrics import _sampler

    monkeypatch.setattr(_sampler, "MIN_FINAL_AGE", 0.0)
    c = Collector()
    # One tick a minute: the only sample comes from stop().
    sampler = _sampler.SystemMetricsSampler(
        c, interval=60.0, on_probe=c.probes.append, source_options=_fast_cpu_options(tmp_path)
    )
    sampler.start()
    assert sampler.opened.wait(GUARD)
    sampler.stop()
    assert len(c.samples) == 1
    assert "system.cpu" in c.samples[0][1]


def test_start_delay_defers_the_imports_and_a_quick_stop_samples_nothing(fake_psutil: Any, nvml: Any) -> None:
    c = Collector()
    sampler = _sampler(c, interval=60.0, start_delay=10.0)
    sampler.start()
    sampler.stop()
    assert c.samples == []
    assert c.probes == []
    assert not sampler.alive


def test_missing_psutil_auto_enabled_logs_info_and_raises_nothing(
    monkeypatch: pytest.MonkeyPatch, nvml: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tracker.system_metrics._sampler")
    monkeypatch.setitem(sys.modules, "psutil", None)
    nvml.add("GPU-0000")
    assert available_sources() == ("nvml",)
    c = Collector()
    sampler = _sampler(c)
    sampler.start()
    assert sampler.wait_for_samples(2, GUARD)
    sampler.stop()
    assert sampler.active == ("nvml",)
    assert c.problems == []
    info = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(info) == 1
    assert "psutil is not installed" in info[0].getMessage()
    assert "pip install psutil" in info[0].getMessage()
    assert c.probes[0]["memory"]  # the probe falls back to /proc without psutil


def test_nothing_installed_ends_the_thread_after_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert available_sources() == ()
    c = Collector()
    sampler = _sampler(c)
    sampler.start()
    assert sampler.wait_for_samples(1, GUARD)  # returns when the thread ends
    assert sampler.thread is not None
    sampler.thread.join(GUARD)
    assert not sampler.alive
    assert c.samples == []
    assert c.problems == []
    assert c.probes[0]["gpu"] == {"count": 0, "unavailable": "pynvml is not installed"}


def test_explicitly_requested_source_that_is_missing_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)
    with pytest.raises(MissingExtraError, match=r"needs psutil, which is not installed.*pip install psutil"):
        SystemMetricsSampler(lambda ts, d: None, sources=["cpu"])
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(MissingExtraError, match=r"pip install nvidia-ml-py"):
        SystemMetricsSampler(lambda ts, d: None, sources=["nvml"])


def test_nvml_init_failure_is_silent_when_auto_and_a_problem_when_requested(
    fake_psutil: Any, nvml: Any, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG, logger="tracker.system_metrics._sampler")
    nvml.init_error = 12
    c = Collector()
    sampler = _sampler(c, source_options=_fast_cpu_options(tmp_path))
    sampler.start()
    assert sampler.wait_for_samples(2, GUARD)
    sampler.stop()
    assert sampler.active == ("cpu",)
    assert c.problems == []
    assert "NVML Shared Library Not Found" in c.probes[0]["gpu"]["unavailable"]
    assert any(
        "NVML could not start" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records
    )

    requested = Collector()
    sampler = _sampler(requested, sources=["nvml"])
    sampler.start()
    assert sampler.wait_for_samples(1, GUARD)
    sampler.stop()
    assert [k for k, _ in requested.problems] == ["system-metrics:nvml"]


def test_a_broken_source_is_turned_off_and_the_others_go_on(
    fake_psutil: Any, nvml: Any, tmp_path: Path
) -> None:
    nvml.add("GPU-0000")
    fake_psutil.broken["virtual_memory"] = 1  # the probe's call works; the first sample's fails
    c = Collector()
    sampler = _sampler(c, source_options=_fast_cpu_options(tmp_path))
    sampler.start()
    assert sampler.wait_for_samples(3, GUARD)
    sampler.stop()
    assert len(c.problems) == 1
    key, message = c.problems[0]
    assert key == "system-metrics:cpu"
    assert "RuntimeError" in message
    assert "turned off" in message
    assert all("system.gpu.0.gpu" in d for _, d in c.samples)
    assert not any("system.cpu" in d for _, d in c.samples)


@pytest.mark.parametrize(
    ("broken", "key"),
    [("cpu_times", "system-metrics:cpu"), ("virtual_memory", "system-metrics:probe")],
)
def test_a_source_or_probe_that_breaks_while_opening_does_not_stop_sampling(
    fake_psutil: Any, nvml: Any, tmp_path: Path, broken: str, key: str
) -> None:
    nvml.add("GPU-0000")
    fake_psutil.broken[broken] = 0
    c = Collector()
    sampler = _sampler(c, source_options=_fast_cpu_options(tmp_path))
    sampler.start()
    assert sampler.wait_for_samples(2, GUARD)
    sampler.stop()
    assert [k for k, _ in c.problems][:1] == [key]
    assert all("system.gpu.0.gpu" in d for _, d in c.samples)


def test_default_problem_handler_warns_once(monkeypatch: pytest.MonkeyPatch, nvml: Any) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)
    nvml.init_error = 12
    sampler = SystemMetricsSampler(lambda ts, d: None, interval=FAST, sources=["nvml"])

    def run_once() -> None:
        sampler.start()
        sampler.wait_for_samples(1, GUARD)
        sampler.stop()

    with pytest.warns(TrackerWarning, match="NVML could not start"):
        run_once()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval": 0}, r"interval=0\): use a number of seconds > 0"),
        ({"interval": -1.0}, r"interval=-1.0\)"),
        ({"sources": ["tpu"]}, r"Unknown system-metrics source 'tpu'"),
    ],
)
def test_misuse_raises_usage_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        SystemMetricsSampler(lambda ts, d: None, **kwargs)


def test_importing_the_package_imports_neither_psutil_nor_pynvml() -> None:
    code = (
        "import sys, tracker.system_metrics as sm\n"
        "sm.available_sources()\n"
        "print(sorted(m for m in ('psutil', 'pynvml') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"
