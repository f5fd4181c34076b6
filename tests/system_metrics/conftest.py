"""Fake ``pynvml`` and ``psutil`` modules for the system-metrics unit tests.

Both are installed into ``sys.modules`` by a fixture, so the sources import them exactly
as they import the real libraries. They test translation logic only: which calls are
made, how errors become skipped metrics, how units are converted. The fake NVML follows
nvidia-ml-py's interface (``NVMLError`` with ``.value``, one handle per device, MIG
instance handles), with per-device values and per-function error injection, and it
counts calls so that tests can check that a failed metric is not asked again.
"""

from __future__ import annotations

import collections
import contextlib
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# nvml.h codes
NOT_SUPPORTED = 3
NO_PERMISSION = 4
NOT_FOUND = 6
LIBRARY_NOT_FOUND = 12
FUNCTION_NOT_FOUND = 13
GPU_IS_LOST = 15
UNKNOWN = 999
_NAMES = {
    NOT_SUPPORTED: "Not Supported",
    NO_PERMISSION: "Insufficient Permissions",
    NOT_FOUND: "Not Found",
    LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    FUNCTION_NOT_FOUND: "Function Not Found",
    GPU_IS_LOST: "GPU is lost",
    UNKNOWN: "Unknown Error",
}


class FakeNVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return _NAMES.get(self.value, f"NVML Error with code {self.value}")


@dataclass
class FakeGpu:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    util: tuple[int, int] = (50, 20)  # (gpu %, memory-controller %)
    used: int = 10 * 2**30
    total: int = 80 * 2**30
    temp: int = 40
    power_mw: int = 300_000
    limit_mw: int = 700_000
    sm_clock: int = 1980
    mem_clock: int = 2619
    procs: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, usedGpuMemory)
    mig: bool = False
    instances: list[FakeGpu] = field(default_factory=list)  # MIG instances (their used/total)
    errors: dict[str, int] = field(default_factory=dict)  # function name -> NVML error code


@dataclass(frozen=True)
class Handle:
    gpu: FakeGpu
    parent: FakeGpu | None = None  # set for MIG instance handles


class FakeNvml:
    """The fake module's state; ``module`` is what sits in ``sys.modules["pynvml"]``."""

    def __init__(self) -> None:
        self.gpus: list[FakeGpu] = []
        self.init_error: int | None = None
        self.inits = 0
        self.shutdowns = 0
        self.calls: collections.Counter[str] = collections.Counter()
        self.missing: set[str] = set()  # functions this "old binding" lacks
        self.module = self._build()

    def add(self, uuid: str, **kwargs: Any) -> FakeGpu:
        """Plug in a GPU (NVML index = order of addition)."""
        gpu = FakeGpu(uuid=uuid, **kwargs)
        self.gpus.append(gpu)
        return gpu

    @staticmethod
    def instance(uuid: str, **kwargs: Any) -> FakeGpu:
        """A MIG instance, to put in a GPU's ``instances``."""
        return FakeGpu(uuid=uuid, **kwargs)

    def remove_function(self, name: str) -> None:
        self.missing.add(name)
        delattr(self.module, name)

    def _build(self) -> types.ModuleType:
        mod = types.ModuleType("pynvml")
        mod.NVMLError = FakeNVMLError  # type: ignore[attr-defined]
        mod.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]
        mod.NVML_CLOCK_SM = 1  # type: ignore[attr-defined]
        mod.NVML_CLOCK_MEM = 2  # type: ignore[attr-defined]
        mod.nvmlMemory_v2 = 0x02000028  # type: ignore[attr-defined]
        state = self

        def api(fn: Any) -> Any:
            name = fn.__name__

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                state.calls[name] += 1
                handle = args[0] if args and isinstance(args[0], Handle) else None
                if handle is not None:
                    code = handle.gpu.errors.get(name)
                    if code is not None:
                        raise FakeNVMLError(code)
                return fn(*args, **kwargs)

            wrapper.__name__ = name
            setattr(mod, name, wrapper)
            return wrapper

        @api
        def nvmlInit() -> None:
            if state.init_error is not None:
                raise FakeNVMLError(state.init_error)
            state.inits += 1

        @api
        def nvmlShutdown() -> None:
            state.shutdowns += 1

        @api
        def nvmlSystemGetDriverVersion() -> str:
            return "550.54.15"

        @api
        def nvmlSystemGetCudaDriverVersion() -> int:
            return 12040

        @api
        def nvmlDeviceGetCount() -> int:
            return len(state.gpus)

        @api
        def nvmlDeviceGetHandleByIndex(i: int) -> Handle:
            return Handle(state.gpus[i])

        @api
        def nvmlDeviceGetUUID(h: Handle) -> str:
            return h.gpu.uuid

        @api
        def nvmlDeviceGetName(h: Handle) -> str:
            return h.gpu.name

        @api
        def nvmlDeviceGetUtilizationRates(h: Handle) -> Any:
            if h.parent is not None or h.gpu.mig:
                raise FakeNVMLError(NOT_SUPPORTED)
            return types.SimpleNamespace(gpu=h.gpu.util[0], memory=h.gpu.util[1])

        @api
        def nvmlDeviceGetMemoryInfo(h: Handle, version: int | None = None) -> Any:
            return types.SimpleNamespace(used=h.gpu.used, total=h.gpu.total, free=h.gpu.total - h.gpu.used)

        @api
        def nvmlDeviceGetTemperatureV(h: Handle, sensor: int) -> int:
            return h.gpu.temp

        @api
        def nvmlDeviceGetTemperature(h: Handle, sensor: int) -> int:
            return h.gpu.temp

        @api
        def nvmlDeviceGetPowerUsage(h: Handle) -> int:
            return h.gpu.power_mw

        @api
        def nvmlDeviceGetEnforcedPowerLimit(h: Handle) -> int:
            return h.gpu.limit_mw

        @api
        def nvmlDeviceGetClockInfo(h: Handle, kind: int) -> int:
            return h.gpu.sm_clock if kind == 1 else h.gpu.mem_clock

        @api
        def nvmlDeviceGetComputeRunningProcesses(h: Handle) -> list[Any]:
            return [types.SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in h.gpu.procs]

        @api
        def nvmlDeviceGetGraphicsRunningProcesses(h: Handle) -> list[Any]:
            return []

        @api
        def nvmlDeviceGetMigMode(h: Handle) -> tuple[int, int]:
            if h.parent is not None:
                raise FakeNVMLError(NOT_SUPPORTED)
            return (1, 1) if h.gpu.mig else (0, 0)

        @api
        def nvmlDeviceGetMaxMigDeviceCount(h: Handle) -> int:
            return 7 if h.gpu.mig else 0

        @api
        def nvmlDeviceGetMigDeviceHandleByIndex(h: Handle, j: int) -> Handle:
            if j >= len(h.gpu.instances):
                raise FakeNVMLError(NOT_FOUND)
            return Handle(h.gpu.instances[j], parent=h.gpu)

        return mod


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    """A fake ``pynvml`` in ``sys.modules`` (no GPUs until the test adds some)."""
    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake.module)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return fake


# --------------------------------------------------------------------------- psutil

CpuTimes = collections.namedtuple(
    "CpuTimes", "user nice system idle iowait irq softirq steal guest guest_nice"
)
DiskIO = collections.namedtuple("DiskIO", "read_bytes write_bytes")
NetIO = collections.namedtuple("NetIO", "bytes_sent bytes_recv")
Usage = collections.namedtuple("Usage", "total used free percent")
VMem = collections.namedtuple("VMem", "total available percent used free")
Part = collections.namedtuple("Part", "device mountpoint fstype opts")
MemInfo = collections.namedtuple("MemInfo", "rss vms")


def cpu_times(busy: float, idle: float) -> CpuTimes:
    return CpuTimes(busy, 0.0, 0.0, idle, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


class FakeProcess:
    def __init__(
        self, state: FakePsutil, pid: int, cpu: list[float], threads: int = 4, rss: int = 2**30
    ) -> None:
        self.state = state
        self.pid = pid
        self.cpu = list(cpu)  # successive cpu_percent() answers; the first one is the priming 0.0
        self.threads = threads
        self.rss = rss
        self.gone = False
        self.cpu_calls = 0

    def _check(self) -> None:
        if self.gone:
            raise self.state.module.NoSuchProcess(self.pid)

    def cpu_percent(self, interval: float | None = None) -> float:
        self._check()
        self.cpu_calls += 1
        return self.cpu.pop(0) if len(self.cpu) > 1 else self.cpu[0]

    def num_threads(self) -> int:
        self._check()
        return self.threads

    def memory_info(self) -> MemInfo:
        self._check()
        return MemInfo(self.rss, self.rss * 2)

    def children(self, recursive: bool = False) -> list[FakeProcess]:
        return [c for c in self.state.children if not c.gone]

    def cpu_affinity(self) -> list[int]:
        return list(range(self.state.affinity))

    @contextlib.contextmanager
    def oneshot(self) -> Iterator[None]:
        yield

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FakeProcess) and other.pid == self.pid

    def __hash__(self) -> int:
        return self.pid


class FakePsutil:
    """State of a fake psutil: the test scripts successive counter values."""

    def __init__(self) -> None:
        self.affinity = 4
        self.times = [cpu_times(10, 90), cpu_times(40, 110)]  # 30 busy / 50 total → 60 %
        self.root: FakeProcess
        self.children: list[FakeProcess] = []
        self.disk = [
            {"vda": DiskIO(100 * 2**20, 10 * 2**20), "loop0": DiskIO(0, 0)},
            {"vda": DiskIO(164 * 2**20, 42 * 2**20), "loop0": DiskIO(999 * 2**20, 0)},
        ]
        self.net = [NetIO(1000, 5000), NetIO(1500, 9000)]
        self.vm = VMem(total=16 * 2**30, available=8 * 2**30, percent=50.0, used=8 * 2**30, free=0)
        self.partitions = [Part("/dev/vda", "/", "ext4", "rw")]
        #: Module functions that raise RuntimeError (a bug) after this many good calls.
        self.broken: dict[str, int] = {}
        self.module = self._build()

    def _next(self, seq: list[Any]) -> Any:
        return seq.pop(0) if len(seq) > 1 else seq[0]

    def _build(self) -> types.ModuleType:
        mod = types.ModuleType("psutil")
        state = self

        class Error(Exception):
            pass

        class NoSuchProcess(Error):  # noqa: N818 - psutil's names
            pass

        class AccessDenied(Error):  # noqa: N818 - psutil's names
            pass

        mod.Error = Error  # type: ignore[attr-defined]
        mod.NoSuchProcess = NoSuchProcess  # type: ignore[attr-defined]
        mod.AccessDenied = AccessDenied  # type: ignore[attr-defined]
        self.root = FakeProcess(self, 4242, [0.0, 150.0], threads=8, rss=3 * 2**30)

        def guard(name: str) -> None:
            if name in state.broken:
                if state.broken[name] <= 0:
                    raise RuntimeError(f"fake psutil: {name} is broken")
                state.broken[name] -= 1

        def Process(pid: int | None = None) -> FakeProcess:
            return state.root

        def cpu_times(percpu: bool = False) -> Any:
            guard("cpu_times")
            t = state._next(state.times)
            return [t, t] if percpu else t

        def cpu_count(logical: bool = True) -> int:
            return 8 if logical else 4

        def virtual_memory() -> VMem:
            guard("virtual_memory")
            return state.vm

        def disk_usage(path: str) -> Usage:
            if path != "/":
                raise FileNotFoundError(path)
            return Usage(100 * 2**30, 25 * 2**30, 75 * 2**30, 25.0)

        def disk_io_counters(perdisk: bool = False) -> Any:
            return state._next(state.disk) if state.disk else None

        def disk_partitions(all: bool = False) -> list[Part]:
            return state.partitions

        def net_io_counters() -> NetIO:
            return state._next(state.net)

        for fn in (
            Process,
            cpu_times,
            cpu_count,
            virtual_memory,
            disk_usage,
            disk_io_counters,
            disk_partitions,
            net_io_counters,
        ):
            setattr(mod, fn.__name__, fn)
        return mod


@pytest.fixture
def fake_psutil(monkeypatch: pytest.MonkeyPatch) -> FakePsutil:
    """A fake ``psutil`` in ``sys.modules``."""
    fake = FakePsutil()
    monkeypatch.setitem(sys.modules, "psutil", fake.module)
    return fake


@pytest.fixture
def no_cgroup(tmp_path: Path) -> Path:
    """A cgroup root without cgroup v2 (no ``cgroup.controllers``)."""
    path = tmp_path / "no-cgroup"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _fresh_announcements(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees the once-per-process INFO line about a missing library."""
    from tracker.system_metrics import _sampler

    monkeypatch.setattr(_sampler, "_announced", set())
