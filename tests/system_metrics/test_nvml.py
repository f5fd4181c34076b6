"""The NVML source against a fake ``pynvml``: keys, units, failures, MIG, CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest

import tracker
from tracker.system_metrics import NVML_KEYS, SourceUnavailableError
from tracker.system_metrics._keys import gpu_key
from tracker.system_metrics._nvml import NvmlSource

LOGGER = "tracker.system_metrics._nvml"
GIB = 2**30


def _uuid(n: int) -> str:
    return f"GPU-{n}{n}{n}{n}aaaa-0000-1111-2222-33334444555{n}"


def _source(**kwargs: Any) -> NvmlSource:
    kwargs.setdefault("visible_devices", None)
    return NvmlSource(**kwargs)


def _debug_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and text in r.getMessage()]


def test_two_gpus_every_key_in_w_and_b_units(nvml: Any) -> None:
    nvml.add(_uuid(0), procs=[(os.getpid(), 3 * GIB), (99999, GIB)])
    nvml.add(_uuid(1), util=(90, 45), used=40 * GIB, temp=70, power_mw=650_000, procs=[(99999, GIB)])
    src = _source()
    data = src.sample()
    for i in (0, 1):
        for template in NVML_KEYS:
            key = gpu_key(template, i)
            if "process" in key and i == 1:
                assert key not in data  # none of our PIDs uses GPU 1
            else:
                assert key in data, key
    assert data["system.gpu.1.gpu"] == 90.0
    assert data["system.gpu.1.memory"] == 45.0  # memory-controller busy %, not memory used
    assert data["system.gpu.1.memoryAllocatedBytes"] == 40 * GIB
    assert data["system.gpu.1.memoryAllocated"] == pytest.approx(50.0)
    assert data["system._gpu.1.memoryTotal"] == 80 * GIB
    assert data["system.gpu.1.temp"] == 70.0
    assert data["system.gpu.1.powerWatts"] == 650.0  # NVML reports mW
    assert data["system.gpu.1.enforcedPowerLimitWatts"] == 700.0
    assert data["system.gpu.1.powerPercent"] == pytest.approx(100 * 650 / 700)
    assert data["system.gpu.0.smClock"] == 1980.0
    assert data["system.gpu.0.memoryClock"] == 2619.0
    assert data["system.gpu.process.0.memoryAllocatedBytes"] == 3 * GIB  # ours only, not pid 99999
    assert data["system.gpu.process.0.memoryAllocated"] == pytest.approx(100 * 3 / 80)
    assert all(isinstance(v, float) for v in data.values())
    assert nvml.inits == 1
    src.close()
    src.close()
    assert nvml.shutdowns == 1


def test_process_memory_counts_the_given_pid_tree(nvml: Any) -> None:
    nvml.add(_uuid(0), procs=[(111, GIB), (222, 2 * GIB), (333, 4 * GIB)])
    src = _source(pids=lambda: {111, 222})
    assert src.sample()["system.gpu.process.0.memoryAllocatedBytes"] == 3 * GIB


def test_not_supported_field_is_skipped_once_with_one_debug_line(
    nvml: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    nvml.add(_uuid(0))
    nvml.add(_uuid(1), errors={"nvmlDeviceGetPowerUsage": 3})  # NotSupported
    src = _source()
    for _ in range(3):
        data = src.sample()
        assert "system.gpu.1.powerWatts" not in data
        assert "system.gpu.1.powerPercent" not in data
        assert "system.gpu.1.enforcedPowerLimitWatts" in data
        assert "system.gpu.0.powerWatts" in data
        assert "system.gpu.1.gpu" in data
    # GPU 0 three times, GPU 1 once: a NotSupported metric is never asked again.
    assert nvml.calls["nvmlDeviceGetPowerUsage"] == 4
    assert len(_debug_lines(caplog, "gpu 1: power is not available (Not Supported)")) == 1


def test_permission_error_skips_only_that_metric(nvml: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    nvml.add(_uuid(0), errors={"nvmlDeviceGetTemperatureV": 4, "nvmlDeviceGetTemperature": 4})
    src = _source()
    first = src.sample()
    second = src.sample()
    assert "system.gpu.0.temp" not in first
    assert "system.gpu.0.temp" not in second
    assert first["system.gpu.0.gpu"] == 50.0
    assert nvml.calls["nvmlDeviceGetTemperature"] == 1
    assert (
        len(_debug_lines(caplog, "Insufficient Permissions")) == 2
    )  # the V call and the fallback, once each


def test_nvml_init_failure_raises_source_unavailable(nvml: Any) -> None:
    nvml.init_error = 12  # LibraryNotFound: no driver
    with pytest.raises(SourceUnavailableError, match="NVML could not start") as info:
        _source()
    assert isinstance(info.value, tracker.Error)
    assert info.value.source == "nvml"
    assert isinstance(info.value.__cause__, nvml.module.NVMLError)
    assert nvml.shutdowns == 0


def test_no_gpu_gives_an_empty_sample(nvml: Any) -> None:
    src = _source()
    assert src.sample() == {}
    assert src.describe()["count"] == 0


def test_mig_enabled_gpu_reports_memory_per_instance_and_no_utilisation(
    nvml: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    gpu = nvml.add(_uuid(0), mig=True)
    gpu.instances = [
        nvml.instance(uuid="MIG-aaaa-1111", used=2 * GIB, total=10 * GIB),
        nvml.instance(uuid="MIG-bbbb-2222", used=5 * GIB, total=20 * GIB),
    ]
    src = _source()
    data = src.sample()
    assert "system.gpu.0.gpu" not in data
    assert "system.gpu.0.memory" not in data
    assert nvml.calls["nvmlDeviceGetUtilizationRates"] == 0  # known NotSupported under MIG: not even asked
    assert data["system.gpu.0.mig.0.memoryAllocatedBytes"] == 2 * GIB
    assert data["system.gpu.0.mig.1.memoryAllocated"] == pytest.approx(25.0)
    assert data["system.gpu.0.temp"] == 40.0
    assert data["system.gpu.0.powerWatts"] == 300.0
    info = src.describe()["devices"][0]
    assert info["mig"] == "enabled"
    assert [m["uuid"] for m in info["mig_instances"]] == ["MIG-aaaa-1111", "MIG-bbbb-2222"]
    assert _debug_lines(caplog, "MIG mode")


def test_process_given_a_mig_instance_sees_that_instance(nvml: Any) -> None:
    parent = nvml.add(_uuid(0), mig=True, temp=55)
    parent.instances = [
        nvml.instance(uuid="MIG-aaaa-1111", used=GIB, total=10 * GIB),
        nvml.instance(uuid="MIG-bbbb-2222", used=3 * GIB, total=20 * GIB),
    ]
    nvml.add(_uuid(1))
    src = _source(visible_devices="MIG-bbbb")
    data = src.sample()
    assert data["system.gpu.0.memoryAllocatedBytes"] == 3 * GIB  # the instance, not the parent
    assert data["system._gpu.0.memoryTotal"] == 20 * GIB
    assert data["system.gpu.0.temp"] == 55.0  # the parent's sensors
    assert "system.gpu.0.gpu" not in data
    assert "system.gpu.1.gpu" not in data  # GPU 1 is not visible
    dev = src.describe()["devices"]
    assert dev == [
        {
            "index": 0,
            "nvml_index": 0,
            "uuid": "MIG-bbbb-2222",
            "name": parent.name,
            "memory_total": 20 * GIB,
            "mig": "instance",
        }
    ]


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        (None, [0, 1, 2]),  # unset: every GPU, keyed by NVML index
        ("2,0", [2, 0]),  # gpu.0 is NVML 2
        ("1", [1]),
        (" 2 , 1 ", [2, 1]),
        (_uuid(2), [2]),  # a full UUID
        ("GPU-1111", [1]),  # a unique UUID prefix
        ("GPU-", []),  # ambiguous prefix: CUDA ignores it and everything after
        ("1,7,0", [1]),  # no GPU 7: CUDA stops there
        ("0,0", [0]),  # a repeat ends the list too
        ("", []),  # empty: no GPU
        ("-1", []),
        ("NoDevFiles", []),  # SLURM without GPUs
        (f"{_uuid(2)},0", [2, 0]),
    ],
)
def test_cuda_visible_devices_remapping(nvml: Any, visible: str | None, expected: list[int]) -> None:
    for n, temp in enumerate((30, 31, 32)):
        nvml.add(_uuid(n), temp=temp)
    src = _source(visible_devices=visible)
    data = src.sample()
    temps = [data[f"system.gpu.{i}.temp"] for i in range(len(expected))]
    assert temps == [30.0 + n for n in expected]
    assert f"system.gpu.{len(expected)}.temp" not in data
    assert [d["nvml_index"] for d in src.describe()["devices"]] == expected


def test_cuda_visible_devices_is_read_from_the_environment(
    nvml: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    nvml.add(_uuid(0), temp=30)
    nvml.add(_uuid(1), temp=31)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    src = NvmlSource()
    assert src.sample()["system.gpu.0.temp"] == 31.0
    assert src.describe()["visible_devices"] == "1"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert NvmlSource().gpu_count == 0


def test_lost_gpu_is_dropped(nvml: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    nvml.add(_uuid(0))
    lost = nvml.add(_uuid(1))
    src = _source()
    assert "system.gpu.1.gpu" in src.sample()
    lost.errors["nvmlDeviceGetUtilizationRates"] = 15  # GpuIsLost
    calls = nvml.calls["nvmlDeviceGetPowerUsage"]
    data = src.sample()
    assert not any(k.startswith("system.gpu.1.") for k in data)
    assert "system.gpu.0.gpu" in data
    src.sample()
    assert nvml.calls["nvmlDeviceGetPowerUsage"] == calls + 2  # GPU 0 only, twice
    assert len(_debug_lines(caplog, "gpu 1 is lost")) == 1


def test_transient_errors_are_retried_then_turned_off(nvml: Any) -> None:
    gpu = nvml.add(_uuid(0), errors={"nvmlDeviceGetClockInfo": 999})  # Unknown
    src = _source()
    for _ in range(5):
        assert "system.gpu.0.smClock" not in src.sample()
    # sm and mem clocks: three tries each, then off
    assert nvml.calls["nvmlDeviceGetClockInfo"] == 6
    del gpu.errors["nvmlDeviceGetClockInfo"]
    assert "system.gpu.0.smClock" not in src.sample()


def test_transient_error_then_success_keeps_the_metric(nvml: Any) -> None:
    gpu = nvml.add(_uuid(0), errors={"nvmlDeviceGetPowerUsage": 999})
    src = _source()
    src.sample()
    src.sample()
    del gpu.errors["nvmlDeviceGetPowerUsage"]
    for _ in range(4):
        assert src.sample()["system.gpu.0.powerWatts"] == 300.0


def test_old_binding_without_the_v_functions_falls_back(nvml: Any) -> None:
    nvml.add(_uuid(0), temp=61)
    nvml.remove_function("nvmlDeviceGetTemperatureV")
    del nvml.module.nvmlMemory_v2
    data = _source().sample()
    assert data["system.gpu.0.temp"] == 61.0
    assert data["system.gpu.0.memoryAllocatedBytes"] == 10 * GIB


def test_memory_v2_unsupported_falls_back_to_v1(nvml: Any) -> None:
    real = nvml.module.nvmlDeviceGetMemoryInfo

    def memory_info(h: Any, version: int | None = None) -> Any:
        if version is not None:
            raise nvml.module.NVMLError(13)  # FunctionNotFound: a driver without _v2
        return real(h)

    nvml.module.nvmlDeviceGetMemoryInfo = memory_info
    nvml.add(_uuid(0))
    src = _source()
    for _ in range(2):
        assert src.sample()["system.gpu.0.memoryAllocatedBytes"] == 10 * GIB


def test_unmatched_process_list_logs_the_pid_namespace_hint_once(
    nvml: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    nvml.add(_uuid(0), procs=[(1, GIB)])
    src = _source()
    for _ in range(3):
        assert "system.gpu.process.0.memoryAllocatedBytes" not in src.sample()
    assert len(_debug_lines(caplog, "PID namespace")) == 1


def test_describe_has_versions_names_uuids_and_totals(nvml: Any) -> None:
    nvml.add(_uuid(0))
    nvml.add(_uuid(1), name="NVIDIA A100-SXM4-40GB", total=40 * GIB)
    info = _source().describe()
    assert info["driver_version"] == "550.54.15"
    assert info["cuda_version"] == "12.4"
    assert info["host_gpu_count"] == 2
    assert info["count"] == 2
    assert info["devices"][1] == {
        "index": 1,
        "nvml_index": 1,
        "uuid": _uuid(1),
        "name": "NVIDIA A100-SXM4-40GB",
        "memory_total": 40 * GIB,
    }
