"""System-metric keys: W&B's names with the ``system.`` prefix, defined once.

The names follow wandb-core (``core/internal/monitor/system.go`` and
``xpu/src/gpu_nvidia.rs``), so dashboards and a W&B-compatible export line up. Each
constant's comment gives its unit. Keys with a placeholder (``{gpu}``, ``{path}``, ...)
are templates: format them with :func:`gpu_key` or ``str.format``.

Where tracker's value differs from W&B's, the comment says so.
"""

from __future__ import annotations

from typing import Final

__all__ = ["NVML_KEYS", "PREFIX", "PSUTIL_KEYS", "gpu_key"]

PREFIX: Final = "system."

# ---------------------------------------------------------------------------- psutil
#: % of the CPU capacity usable by this process (CPU affinity, capped by a cgroup v2
#: quota) used by the process and its children; 100 = every usable core busy. W&B
#: divides by the physical core count instead, which can exceed 100 with SMT.
CPU: Final = "system.cpu"
#: % of all CPUs busy, system-wide (0-100). W&B reports this only per core.
CPU_PERCENT: Final = "system.cpu_percent"
#: % busy of core ``{core}`` (opt-in: ``CpuSource(per_core=True)``).
CPU_CORE_PERCENT: Final = "system.cpu.{core}.cpu_percent"
#: Threads of the process and its children (count).
PROC_THREADS: Final = "system.proc.cpu.threads"
#: Resident memory of the process and its children, MiB (shared pages counted once per process).
PROC_RSS_MB: Final = "system.proc.memory.rssMB"
#: Resident memory of the process and its children as % of total memory (or the cgroup v2 limit).
PROC_MEMORY_PERCENT: Final = "system.proc.memory.percent"
#: Memory available to new allocations, MiB (cgroup v2: limit minus current use).
PROC_AVAILABLE_MB: Final = "system.proc.memory.availableMB"
#: % of system memory in use (cgroup v2: current use ÷ limit).
MEMORY_PERCENT: Final = "system.memory_percent"
#: % of the file system holding ``{path}`` in use.
DISK_USAGE_PERCENT: Final = "system.disk.{path}.usagePercent"
#: Space used on the file system holding ``{path}``, GiB.
DISK_USAGE_GB: Final = "system.disk.{path}.usageGB"
#: MiB read from all physical disks since the sampler started (loop, ram and zram devices
#: excluded); W&B's former name, kept as a fixed key next to the per-device ones.
DISK_IN: Final = "system.disk.in"
#: MiB written to all physical disks since the sampler started.
DISK_OUT: Final = "system.disk.out"
#: MiB read from device ``{device}`` (a disk backing one of the sampled paths) since start.
DISK_DEVICE_IN: Final = "system.disk.{device}.in"
#: MiB written to device ``{device}`` since start.
DISK_DEVICE_OUT: Final = "system.disk.{device}.out"
#: Bytes sent on all interfaces (loopback included, as in W&B) since start; cumulative, not a rate.
NETWORK_SENT: Final = "system.network.sent"
#: Bytes received on all interfaces since start; cumulative, not a rate.
NETWORK_RECV: Final = "system.network.recv"

#: The disk path sampled by default.
DEFAULT_DISK_PATH: Final = "/"

#: Every fixed key the psutil source writes with its default settings, on a host whose
#: OS reports disk counters (``disk.in``/``disk.out`` are absent where
#: ``psutil.disk_io_counters()`` is None, as in some containers).
PSUTIL_KEYS: Final[tuple[str, ...]] = (
    CPU,
    CPU_PERCENT,
    PROC_THREADS,
    PROC_RSS_MB,
    PROC_MEMORY_PERCENT,
    PROC_AVAILABLE_MB,
    MEMORY_PERCENT,
    DISK_USAGE_PERCENT.format(path=DEFAULT_DISK_PATH),
    DISK_USAGE_GB.format(path=DEFAULT_DISK_PATH),
    DISK_IN,
    DISK_OUT,
    NETWORK_SENT,
    NETWORK_RECV,
)

# ---------------------------------------------------------------------------- NVML
# ``{gpu}`` is the CUDA ordinal the process sees: the position in CUDA_VISIBLE_DEVICES
# when it is set, else the NVML index. (W&B uses the NVML index and ignores
# CUDA_VISIBLE_DEVICES; the run metadata maps each ordinal to its NVML index and UUID.)

#: % of time one or more kernels ran on the GPU (SM busy time).
GPU_UTIL: Final = "system.gpu.{gpu}.gpu"
#: % of time the memory controller was busy: NOT memory used (that is ``memoryAllocated``).
GPU_MEMORY_UTIL: Final = "system.gpu.{gpu}.memory"
#: Memory used as % of total (NVML memory info v2 where the driver has it: used excludes
#: driver-reserved memory; else v1, where used includes it).
GPU_MEMORY_ALLOCATED: Final = "system.gpu.{gpu}.memoryAllocated"
#: Memory used, bytes (same source as ``memoryAllocated``).
GPU_MEMORY_ALLOCATED_BYTES: Final = "system.gpu.{gpu}.memoryAllocatedBytes"
#: Total memory, bytes (static; underscore-prefixed as in W&B, hidden by default).
GPU_MEMORY_TOTAL: Final = "system._gpu.{gpu}.memoryTotal"
#: GPU temperature, °C.
GPU_TEMP: Final = "system.gpu.{gpu}.temp"
#: Power draw, W.
GPU_POWER_WATTS: Final = "system.gpu.{gpu}.powerWatts"
#: Enforced power limit, W.
GPU_POWER_LIMIT_WATTS: Final = "system.gpu.{gpu}.enforcedPowerLimitWatts"
#: Power draw as % of the enforced limit.
GPU_POWER_PERCENT: Final = "system.gpu.{gpu}.powerPercent"
#: SM clock, MHz.
GPU_SM_CLOCK: Final = "system.gpu.{gpu}.smClock"
#: Memory clock, MHz.
GPU_MEMORY_CLOCK: Final = "system.gpu.{gpu}.memoryClock"
#: GPU memory used by this process and its children, bytes (from NVML's compute and
#: graphics process lists; absent where NVML does not show our PIDs, e.g. in a container
#: with its own PID namespace). W&B repeats the device values here instead.
GPU_PROCESS_MEMORY_BYTES: Final = "system.gpu.process.{gpu}.memoryAllocatedBytes"
#: GPU memory used by this process and its children as % of the device total.
GPU_PROCESS_MEMORY_ALLOCATED: Final = "system.gpu.process.{gpu}.memoryAllocated"
#: Memory used in MIG instance ``{mig}`` of a MIG-enabled GPU, % of the instance total.
GPU_MIG_MEMORY_ALLOCATED: Final = "system.gpu.{gpu}.mig.{mig}.memoryAllocated"
#: Memory used in MIG instance ``{mig}``, bytes.
GPU_MIG_MEMORY_ALLOCATED_BYTES: Final = "system.gpu.{gpu}.mig.{mig}.memoryAllocatedBytes"

#: Every per-GPU key template the NVML source writes (format with :func:`gpu_key`).
NVML_KEYS: Final[tuple[str, ...]] = (
    GPU_UTIL,
    GPU_MEMORY_UTIL,
    GPU_MEMORY_ALLOCATED,
    GPU_MEMORY_ALLOCATED_BYTES,
    GPU_MEMORY_TOTAL,
    GPU_TEMP,
    GPU_POWER_WATTS,
    GPU_POWER_LIMIT_WATTS,
    GPU_POWER_PERCENT,
    GPU_SM_CLOCK,
    GPU_MEMORY_CLOCK,
    GPU_PROCESS_MEMORY_BYTES,
    GPU_PROCESS_MEMORY_ALLOCATED,
)


def gpu_key(template: str, gpu: int) -> str:
    """Fill in the GPU ordinal of a per-GPU key template (``gpu_key(GPU_UTIL, 0)``)."""
    return template.replace("{gpu}", str(gpu))
