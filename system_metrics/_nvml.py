"""The NVML source: per-GPU utilisation, memory, temperature, power and clocks.

Traps handled here (notes/integrations.md §6.2):

* NVML enumerates every GPU the driver exposes, in PCI order, and ignores
  ``CUDA_VISIBLE_DEVICES``. We resolve that variable as CUDA does (indices, ``GPU-``
  UUIDs and ``MIG-`` UUIDs, unique prefixes allowed, stopping at the first entry that
  matches nothing) and key each GPU by the CUDA ordinal the process sees.
* ``gpu.<i>.memory`` is memory-controller busy time; memory used is ``memoryAllocated``.
* MIG: utilisation is not reported (NotSupported); a MIG-enabled GPU reports memory per
  instance, and a process given one MIG instance sees that instance's memory and the
  parent's temperature, power and clocks.
* A metric that answers NotSupported, NoPermission or FunctionNotFound (or that the
  installed nvidia-ml-py lacks) is turned off for that GPU with one debug line; a lost
  GPU is dropped; other errors are retried a few times before the metric is turned off.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Final

from tracker._settings import env_raw
from tracker.errors import _LazyLogger
from tracker.system_metrics import _keys as keys
from tracker.system_metrics._base import SourceUnavailableError

__all__ = ["NvmlSource", "resolve_visible"]

_log = _LazyLogger(__name__)

#: NVML is initialised and shut down under this lock (nvmlInit/nvmlShutdown refcount).
_lock = threading.Lock()

ENV_CUDA_VISIBLE_DEVICES: Final = "CUDA_VISIBLE_DEVICES"

# nvml.h return codes (a stable ABI; nvidia-ml-py raises one NVMLError subclass per code).
_NOT_SUPPORTED: Final = 3
_NO_PERMISSION: Final = 4
_FUNCTION_NOT_FOUND: Final = 13
_GPU_IS_LOST: Final = 15
_ARGUMENT_VERSION_MISMATCH: Final = 25
_DEPRECATED: Final = 26
#: Codes meaning "this metric will never work on this GPU": stop asking.
_OFF_CODES: Final = frozenset(
    {_NOT_SUPPORTED, _NO_PERMISSION, _FUNCTION_NOT_FOUND, _ARGUMENT_VERSION_MISMATCH, _DEPRECATED}
)
#: Other errors (Unknown, Timeout, ...) are retried this many ticks in a row, then turned off.
_TRANSIENT_LIMIT: Final = 3
_MIG_ENABLED: Final = 1
_TEMPERATURE_GPU: Final = 0
_CLOCK_SM: Final = 1
_CLOCK_MEM: Final = 2
#: usedGpuMemory when the driver cannot say (WDDM); nvidia-ml-py maps it to None, older ones do not.
_NOT_AVAILABLE: Final = 2**64 - 1


class _Default:
    """Sentinel type: read ``CUDA_VISIBLE_DEVICES`` from the environment."""


_DEFAULT: Final = _Default()


@dataclass
class _Gpu:
    ordinal: int  # the CUDA ordinal: the key index
    nvml_index: int  # the (parent) device's NVML index
    handle: Any  # device handle, or a MIG instance handle
    parent: Any  # the physical device: temperature, power and clocks
    uuid: str
    mig_instance: bool = False  # this process was given one MIG instance
    mig_enabled: bool = False  # a whole GPU in MIG mode
    instances: list[tuple[int, Any, str]] = field(default_factory=list)
    total: float = 0.0
    lost: bool = False
    matched: bool = False


class NvmlSource:
    """Per-GPU metrics from NVML (``NVML_KEYS``), for the GPUs this process can see.

    Args:
        visible_devices: A ``CUDA_VISIBLE_DEVICES`` value to resolve; default: the
            environment's. None means every GPU, keyed by NVML index.
        pids: Returns the PIDs whose GPU memory counts as this process's (default: this
            process only); the sampler passes the psutil source's process tree.

    Raises:
        ImportError: nvidia-ml-py (``pynvml``) is not installed.
        SourceUnavailableError: NVML could not start (no driver, no permission).
    """

    name: Final = "nvml"

    def __init__(
        self,
        *,
        visible_devices: str | _Default | None = _DEFAULT,
        pids: Callable[[], Collection[int]] | None = None,
    ) -> None:
        import pynvml

        self._nv: Any = pynvml
        self._pids = pids or _own_pid
        self._off: set[tuple[int, str]] = set()
        self._fails: dict[tuple[int, str], int] = {}
        self._logged: set[Any] = set()
        self._open = False
        with _lock:
            try:
                pynvml.nvmlInit()
            except pynvml.NVMLError as exc:
                raise SourceUnavailableError(
                    f"NVML could not start ({exc}); no GPU metrics", source=self.name
                ) from exc
            self._open = True
        if isinstance(visible_devices, _Default):
            visible_devices = env_raw(ENV_CUDA_VISIBLE_DEVICES)
        self._visible = visible_devices
        try:
            self._gpus = self._resolve(visible_devices)
        except pynvml.NVMLError as exc:
            self.close()
            raise SourceUnavailableError(
                f"NVML could not list the GPUs ({exc}); no GPU metrics", source=self.name
            ) from exc

    @property
    def gpu_count(self) -> int:
        """Number of GPUs sampled (those this process can see)."""
        return len(self._gpus)

    # ------------------------------------------------------------------ sampling
    def sample(self) -> dict[str, float]:
        """One reading of every available metric of every visible GPU."""
        out: dict[str, float] = {}
        mine: Collection[int] | None = None
        for gpu in self._gpus:
            if gpu.lost:
                continue
            self._sample_gpu(gpu, out)
            if mine is None:
                mine = self._pids()
            self._sample_processes(gpu, mine, out)
        return out

    def _sample_gpu(self, gpu: _Gpu, out: dict[str, float]) -> None:
        i = gpu.ordinal
        util = self._call(gpu, "util", "nvmlDeviceGetUtilizationRates", gpu.handle)
        if util is not None:
            out[keys.gpu_key(keys.GPU_UTIL, i)] = float(util.gpu)
            out[keys.gpu_key(keys.GPU_MEMORY_UTIL, i)] = float(util.memory)
        mem = self._memory(gpu, gpu.handle, "memory")
        if mem is not None:
            used, total = mem
            gpu.total = total
            out[keys.gpu_key(keys.GPU_MEMORY_ALLOCATED_BYTES, i)] = used
            out[keys.gpu_key(keys.GPU_MEMORY_TOTAL, i)] = total
            if total > 0:
                out[keys.gpu_key(keys.GPU_MEMORY_ALLOCATED, i)] = 100.0 * used / total
        temp = self._temperature(gpu)
        if temp is not None:
            out[keys.gpu_key(keys.GPU_TEMP, i)] = float(temp)
        power = self._call(gpu, "power", "nvmlDeviceGetPowerUsage", gpu.parent)  # mW
        if power is not None:
            out[keys.gpu_key(keys.GPU_POWER_WATTS, i)] = power / 1000.0
        limit = self._call(gpu, "power_limit", "nvmlDeviceGetEnforcedPowerLimit", gpu.parent)  # mW
        if limit is not None:
            out[keys.gpu_key(keys.GPU_POWER_LIMIT_WATTS, i)] = limit / 1000.0
            if power is not None and limit > 0:
                out[keys.gpu_key(keys.GPU_POWER_PERCENT, i)] = 100.0 * power / limit
        sm = self._call(gpu, "sm_clock", "nvmlDeviceGetClockInfo", gpu.parent, _CLOCK_SM)
        if sm is not None:
            out[keys.gpu_key(keys.GPU_SM_CLOCK, i)] = float(sm)
        memclk = self._call(gpu, "mem_clock", "nvmlDeviceGetClockInfo", gpu.parent, _CLOCK_MEM)
        if memclk is not None:
            out[keys.gpu_key(keys.GPU_MEMORY_CLOCK, i)] = float(memclk)
        for j, handle, _uuid in gpu.instances:
            inst = self._memory(gpu, handle, f"mig.{j}")
            if inst is not None:
                used, total = inst
                fmt = {"gpu": i, "mig": j}
                out[keys.GPU_MIG_MEMORY_ALLOCATED_BYTES.format(**fmt)] = used
                if total > 0:
                    out[keys.GPU_MIG_MEMORY_ALLOCATED.format(**fmt)] = 100.0 * used / total

    def _memory(self, gpu: _Gpu, handle: Any, metric: str) -> tuple[float, float] | None:
        # v2 reports driver-reserved memory apart from `used`; v1's `used` includes it.
        info = None
        v2 = getattr(self._nv, "nvmlMemory_v2", None)
        if v2 is not None and (gpu.ordinal, metric + ":v2") not in self._off:
            info = self._call(gpu, metric + ":v2", "nvmlDeviceGetMemoryInfo", handle, version=v2)
        if info is None:
            info = self._call(gpu, metric, "nvmlDeviceGetMemoryInfo", handle)
        if info is None:
            return None
        return float(info.used), float(info.total)

    def _temperature(self, gpu: _Gpu) -> Any:
        # nvmlDeviceGetTemperature is deprecated ("removed in CUDA 14"): try the V variant first.
        temp = None
        if (gpu.ordinal, "temp:v") not in self._off:
            temp = self._call(gpu, "temp:v", "nvmlDeviceGetTemperatureV", gpu.parent, _TEMPERATURE_GPU)
        if temp is None:
            temp = self._call(gpu, "temp", "nvmlDeviceGetTemperature", gpu.parent, _TEMPERATURE_GPU)
        return temp

    def _sample_processes(self, gpu: _Gpu, mine: Collection[int], out: dict[str, float]) -> None:
        used: dict[int, int] = {}
        listed = 0
        for metric, fn in (
            ("procs", "nvmlDeviceGetComputeRunningProcesses"),
            ("gprocs", "nvmlDeviceGetGraphicsRunningProcesses"),
        ):
            procs = self._call(gpu, metric, fn, gpu.handle)
            for proc in procs or ():
                listed += 1
                if proc.pid in mine:
                    mem = getattr(proc, "usedGpuMemory", None)
                    value = int(mem) if mem is not None and mem != _NOT_AVAILABLE else 0
                    # A process in both lists is counted once.
                    used[proc.pid] = max(used.get(proc.pid, 0), value)
        if used:
            gpu.matched = True
            total = float(sum(used.values()))
            out[keys.gpu_key(keys.GPU_PROCESS_MEMORY_BYTES, gpu.ordinal)] = total
            if gpu.total > 0:
                out[keys.gpu_key(keys.GPU_PROCESS_MEMORY_ALLOCATED, gpu.ordinal)] = 100.0 * total / gpu.total
        elif listed and not gpu.matched:
            self._debug_once(
                ("pidns", gpu.ordinal),
                "gpu %d: NVML lists %d process(es), none of them this run's; in a container with "
                "its own PID namespace NVML shows host PIDs, so per-process GPU memory is not reported",
                gpu.ordinal,
                listed,
            )

    # ------------------------------------------------------------------ calls and failures
    def _call(self, gpu: _Gpu, metric: str, fn_name: str, *args: Any, **kwargs: Any) -> Any:
        key = (gpu.ordinal, metric)
        if gpu.lost or key in self._off:
            return None
        fn = getattr(self._nv, fn_name, None)
        if fn is None:
            self._turn_off(gpu, metric, f"the installed nvidia-ml-py has no {fn_name}")
            return None
        try:
            value = fn(*args, **kwargs)
        except self._nv.NVMLError as exc:
            self._failed(gpu, metric, exc)
            return None
        if key in self._fails:
            del self._fails[key]
        return value

    def _failed(self, gpu: _Gpu, metric: str, exc: Exception) -> None:
        code = getattr(exc, "value", None)
        if code == _GPU_IS_LOST:
            gpu.lost = True
            self._debug_once(
                ("lost", gpu.ordinal), "gpu %d is lost (%s); no longer sampled", gpu.ordinal, exc
            )
        elif code in _OFF_CODES:
            self._turn_off(gpu, metric, str(exc))
        else:
            key = (gpu.ordinal, metric)
            n = self._fails[key] = self._fails.get(key, 0) + 1
            if n >= _TRANSIENT_LIMIT:
                self._turn_off(gpu, metric, f"{exc}, {n} times in a row")
            else:
                self._debug_once(
                    ("retry", gpu.ordinal, metric, code),
                    "gpu %d: reading %s failed (%s); retrying next tick",
                    gpu.ordinal,
                    metric,
                    exc,
                )

    def _turn_off(self, gpu: _Gpu, metric: str, why: str) -> None:
        self._off.add((gpu.ordinal, metric))
        self._debug_once(
            ("off", gpu.ordinal, metric),
            "gpu %d: %s is not available (%s); not sampled again",
            gpu.ordinal,
            metric,
            why,
        )

    def _debug_once(self, key: Any, msg: str, *args: Any) -> None:
        if key not in self._logged:
            self._logged.add(key)
            _log.debug(msg, *args)

    # ------------------------------------------------------------------ devices
    def _resolve(self, visible: str | None) -> list[_Gpu]:
        nv = self._nv
        devices: list[tuple[int, Any, str]] = []
        for i in range(int(nv.nvmlDeviceGetCount())):
            try:
                handle = nv.nvmlDeviceGetHandleByIndex(i)
                uuid = _text(nv.nvmlDeviceGetUUID(handle))
            except nv.NVMLError as exc:
                self._debug_once(("dev", i), "NVML device %d is not accessible (%s); skipped", i, exc)
                continue
            devices.append((i, handle, uuid))
        gpus = resolve_visible(visible, devices, self._mig_instances)
        if visible is not None and len(gpus) < len([t for t in visible.split(",") if t.strip()]):
            self._debug_once(
                "cvd",
                "CUDA_VISIBLE_DEVICES=%r: sampling %d GPU(s); as in CUDA, the entries from the first "
                "one that names no GPU (or repeats one) on are ignored",
                visible,
                len(gpus),
            )
        for gpu in gpus:
            if gpu.mig_instance:
                self._off.add((gpu.ordinal, "util"))
                self._debug_once(
                    ("mig", gpu.ordinal), "gpu %d is a MIG instance: NVML reports no utilisation", gpu.ordinal
                )
                continue
            mode = self._call(gpu, "mig", "nvmlDeviceGetMigMode", gpu.handle)
            current = mode[0] if isinstance(mode, (list, tuple)) else mode
            if current == _MIG_ENABLED:
                gpu.mig_enabled = True
                gpu.instances = [(j, h, u) for j, h, u, _parent in self._instances_of(gpu.handle)]
                self._off.add((gpu.ordinal, "util"))
                self._debug_once(
                    ("mig", gpu.ordinal),
                    "gpu %d is in MIG mode: NVML reports no utilisation; memory is reported per instance",
                    gpu.ordinal,
                )
        return gpus

    def _instances_of(self, handle: Any) -> list[tuple[int, Any, str, Any]]:
        nv = self._nv
        out: list[tuple[int, Any, str, Any]] = []
        try:
            slots = int(nv.nvmlDeviceGetMaxMigDeviceCount(handle))
        except nv.NVMLError:
            return out
        for j in range(slots):
            try:
                mig = nv.nvmlDeviceGetMigDeviceHandleByIndex(handle, j)
                uuid = _text(nv.nvmlDeviceGetUUID(mig))
            except nv.NVMLError:
                continue  # NotFound: an empty slot
            out.append((j, mig, uuid, handle))
        return out

    def _mig_instances(self, devices: list[tuple[int, Any, str]]) -> list[tuple[int, Any, str, Any]]:
        """Every MIG instance on the host: ``(parent NVML index, handle, uuid, parent handle)``."""
        nv = self._nv
        out: list[tuple[int, Any, str, Any]] = []
        for index, handle, _uuid in devices:
            try:
                mode = nv.nvmlDeviceGetMigMode(handle)
            except nv.NVMLError:
                continue
            current = mode[0] if isinstance(mode, (list, tuple)) else mode
            if current == _MIG_ENABLED:
                out.extend((index, h, u, p) for _j, h, u, p in self._instances_of(handle))
        return out

    # ------------------------------------------------------------------ static facts
    def describe(self) -> dict[str, Any]:
        """Static facts for the run metadata: driver and CUDA versions, GPU names, UUIDs, memory."""
        info: dict[str, Any] = {"visible_devices": self._visible}
        driver = self._static("nvmlSystemGetDriverVersion")
        if driver is not None:
            info["driver_version"] = _text(driver)
        cuda = self._static("nvmlSystemGetCudaDriverVersion")
        if isinstance(cuda, int):
            info["cuda_version"] = f"{cuda // 1000}.{cuda % 1000 // 10}"
        count = self._static("nvmlDeviceGetCount")
        if count is not None:
            info["host_gpu_count"] = int(count)
        devices = []
        for gpu in self._gpus:
            dev: dict[str, Any] = {"index": gpu.ordinal, "nvml_index": gpu.nvml_index, "uuid": gpu.uuid}
            name = self._static("nvmlDeviceGetName", gpu.parent)
            if name is not None:
                dev["name"] = _text(name)
            mem = self._static("nvmlDeviceGetMemoryInfo", gpu.handle)
            if mem is not None:
                dev["memory_total"] = int(mem.total)
            if gpu.mig_instance:
                dev["mig"] = "instance"
            elif gpu.mig_enabled:
                dev["mig"] = "enabled"
                dev["mig_instances"] = [{"index": j, "uuid": u} for j, _h, u in gpu.instances]
            devices.append(dev)
        info["count"] = len(devices)
        info["devices"] = devices
        return info

    def _static(self, fn_name: str, *args: Any) -> Any:
        fn = getattr(self._nv, fn_name, None)
        if fn is None:
            return None
        try:
            return fn(*args)
        except self._nv.NVMLError as exc:
            self._debug_once(("static", fn_name), "%s failed: %s", fn_name, exc)
            return None

    def close(self) -> None:
        """Shut NVML down (once); the source samples nothing afterwards."""
        with _lock:
            if not self._open:
                return
            self._open = False
            self._gpus = []
            try:
                self._nv.nvmlShutdown()
            except self._nv.NVMLError as exc:
                _log.debug("nvmlShutdown failed: %s", exc)


def resolve_visible(
    visible: str | None,
    devices: list[tuple[int, Any, str]],
    mig_instances: Callable[[list[tuple[int, Any, str]]], list[tuple[int, Any, str, Any]]],
) -> list[_Gpu]:
    """Map a ``CUDA_VISIBLE_DEVICES`` value onto NVML devices, in CUDA ordinal order.

    Args:
        visible: The variable's value; None (unset) means every device in NVML order, and
            an empty value means none.
        devices: ``(nvml index, handle, uuid)`` of every accessible device.
        mig_instances: Lists ``(parent index, handle, uuid, parent handle)`` of every MIG
            instance; called only when an entry is a ``MIG-`` UUID.

    Returns:
        The visible GPUs; the list stops at the first entry that matches no device or
        repeats one (CUDA ignores the rest of the variable from there).
    """
    if visible is None:
        return [_Gpu(i, i, h, h, u) for i, h, u in devices]
    gpus: list[_Gpu] = []
    seen: set[str] = set()
    migs: list[tuple[int, Any, str, Any]] | None = None
    for token in (t.strip() for t in visible.split(",")):
        gpu: _Gpu | None = None
        ordinal = len(gpus)
        if token.lstrip("-").isdigit():
            n = int(token)
            gpu = next((_Gpu(ordinal, i, h, h, u) for i, h, u in devices if i == n), None)
        elif token.startswith("GPU-"):
            hits = [(i, h, u) for i, h, u in devices if u.startswith(token)]
            if len(hits) == 1:
                i, h, u = hits[0]
                gpu = _Gpu(ordinal, i, h, h, u)
        elif token.startswith("MIG-"):
            if migs is None:
                migs = mig_instances(devices)
            found = [m for m in migs if m[2].startswith(token)]
            if len(found) == 1:
                i, h, u, parent = found[0]
                gpu = _Gpu(ordinal, i, h, parent, u, mig_instance=True)
        if gpu is None or gpu.uuid in seen:
            break
        seen.add(gpu.uuid)
        gpus.append(gpu)
    return gpus


def _own_pid() -> set[int]:
    return {os.getpid()}


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
