"""The psutil source: CPU, memory, disk and network of this process (tree) and its host.

Traps handled here (notes/integrations.md §6.3): ``cpu_percent`` returns 0.0 on its
first call, so every counter is primed in the constructor and new child processes are
primed when first seen; system-wide CPU % is computed from our own ``cpu_times``
snapshots, so a user's own ``psutil.cpu_percent()`` calls do not disturb it; process
CPU % can exceed 100, so it is divided by the usable CPU capacity; a cgroup v2 CPU quota
or memory limit, when set, is what "capacity" and "total memory" mean.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from tracker.errors import _LazyLogger
from tracker.system_metrics import _keys as keys

__all__ = ["CpuSource"]

_log = _LazyLogger(__name__)

_MIB: Final = float(2**20)
_GIB: Final = float(2**30)
#: Virtual block devices left out of the disk I/O totals (W&B leaves out the same).
_VIRTUAL_DISKS: Final = ("loop", "ram", "zram")
#: Enumerating children scans every process of the host (psutil reads /proc/*/stat), so
#: the child list is refreshed at most this often; known children are sampled every tick.
CHILDREN_REFRESH_S: Final = 10.0


class CpuSource:
    """CPU, memory, disk and network metrics from psutil (``PSUTIL_KEYS``).

    Args:
        pid: The process to watch (default: this one).
        disk_paths: File systems whose usage is sampled (``system.disk.<path>.*``).
        process_tree: Include child processes (data-loader workers, launchers' children)
            in the process CPU, thread and memory figures.
        per_core: Also report ``system.cpu.<i>.cpu_percent`` for every core.
        cgroup_root: Where the cgroup v2 hierarchy is mounted (tests point it elsewhere).

    Raises:
        ImportError: psutil is not installed.
    """

    name: Final = "cpu"

    def __init__(
        self,
        *,
        pid: int | None = None,
        disk_paths: Sequence[str] = (keys.DEFAULT_DISK_PATH,),
        process_tree: bool = True,
        per_core: bool = False,
        cgroup_root: str | os.PathLike[str] = "/sys/fs/cgroup",
    ) -> None:
        import psutil

        self._ps: Any = psutil
        self._proc: Any = psutil.Process(pid)
        self._tree = process_tree
        self._per_core = per_core
        self._children: dict[int, Any] = {}
        self._children_at = -math.inf
        self._logged: set[str] = set()
        self._last_rss = 0
        self._disk_paths = list(disk_paths)
        cgroup = _cgroup_dir(Path(cgroup_root))
        self._cgroup = cgroup
        self._capacity = self._cpu_capacity(cgroup)
        self._mem_limit = _read_limit(cgroup / "memory.max") if cgroup is not None else None
        # Prime: the first reading of a cpu_percent-style counter has no previous one.
        self._proc.cpu_percent(None)
        self._cpu_last = psutil.cpu_times()
        self._core_last = psutil.cpu_times(percpu=True) if per_core else []
        self._refresh_children()
        self._disk0 = self._disk_counters()
        self._devices = self._backing_devices() if self._disk0 is not None else []
        self._net0 = psutil.net_io_counters()

    # ------------------------------------------------------------------ reading
    def sample(self) -> dict[str, float]:
        """One reading of every psutil metric (keys in ``PSUTIL_KEYS`` and per-device ones)."""
        ps = self._ps
        out: dict[str, float] = {}
        self._sample_process(out)
        now = ps.cpu_times()
        out[keys.CPU_PERCENT] = _busy_percent(self._cpu_last, now)
        self._cpu_last = now
        if self._per_core:
            cores = ps.cpu_times(percpu=True)
            for i, (before, after) in enumerate(zip(self._core_last, cores, strict=False)):
                out[keys.CPU_CORE_PERCENT.format(core=i)] = _busy_percent(before, after)
            self._core_last = cores
        self._sample_memory(out)
        self._sample_disks(out)
        net = ps.net_io_counters()
        if net is not None and self._net0 is not None:
            out[keys.NETWORK_SENT] = float(net.bytes_sent - self._net0.bytes_sent)
            out[keys.NETWORK_RECV] = float(net.bytes_recv - self._net0.bytes_recv)
        return out

    def pids(self) -> set[int]:
        """The watched process and the children seen at the last refresh."""
        return {self._proc.pid, *self._children}

    def close(self) -> None:
        """Nothing to release (psutil holds no handles); present for the source protocol."""

    # ------------------------------------------------------------------ process tree
    def _sample_process(self, out: dict[str, float]) -> None:
        ps = self._ps
        if self._tree and time.monotonic() - self._children_at >= CHILDREN_REFRESH_S:
            self._refresh_children()
        cpu = 0.0
        threads = 0
        rss = 0
        for proc in (self._proc, *self._children.values()):
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    threads += proc.num_threads()
                    rss += proc.memory_info().rss
            except ps.Error:
                # A child that exited (or that we may not read): drop it until the next refresh.
                self._children.pop(proc.pid, None)
        out[keys.CPU] = cpu / self._capacity
        out[keys.PROC_THREADS] = float(threads)
        out[keys.PROC_RSS_MB] = rss / _MIB
        self._last_rss = rss

    def _refresh_children(self) -> None:
        self._children_at = time.monotonic()
        if not self._tree:
            return
        ps = self._ps
        try:
            found = self._proc.children(recursive=True)
        except ps.Error:
            return
        known = self._children
        fresh: dict[int, Any] = {}
        for child in found:
            old = known.get(child.pid)
            if old is not None and old == child:  # same pid and start time: keep its counters
                fresh[child.pid] = old
                continue
            try:
                child.cpu_percent(None)  # prime
            except ps.Error:
                continue
            fresh[child.pid] = child
        self._children = fresh

    def _cpu_capacity(self, cgroup: Path | None) -> float:
        ps = self._ps
        try:
            usable = float(len(self._proc.cpu_affinity()))
        except (AttributeError, ps.Error, OSError):  # no affinity API on macOS
            usable = float(ps.cpu_count() or 1)
        quota = _cpu_quota(cgroup / "cpu.max") if cgroup is not None else None
        if quota is not None:
            usable = min(usable, quota)
        return max(usable, 0.01)

    # ------------------------------------------------------------------ memory
    def _sample_memory(self, out: dict[str, float]) -> None:
        vm = self._ps.virtual_memory()
        limit = self._mem_limit
        current = _read_int(self._cgroup / "memory.current") if limit and self._cgroup else None
        rss = self._last_rss
        if limit and current is not None:
            out[keys.MEMORY_PERCENT] = 100.0 * current / limit
            out[keys.PROC_AVAILABLE_MB] = max(limit - current, 0) / _MIB
            out[keys.PROC_MEMORY_PERCENT] = 100.0 * rss / limit
        else:
            out[keys.MEMORY_PERCENT] = float(vm.percent)
            out[keys.PROC_AVAILABLE_MB] = vm.available / _MIB
            out[keys.PROC_MEMORY_PERCENT] = 100.0 * rss / vm.total if vm.total else 0.0

    # ------------------------------------------------------------------ disks
    def _sample_disks(self, out: dict[str, float]) -> None:
        ps = self._ps
        for path in self._disk_paths:
            try:
                usage = ps.disk_usage(path)
            except OSError as exc:
                self._debug_once(f"disk:{path}", "disk usage of %s is not available: %s", path, exc)
                continue
            out[keys.DISK_USAGE_PERCENT.format(path=path)] = float(usage.percent)
            out[keys.DISK_USAGE_GB.format(path=path)] = usage.used / _GIB
        start = self._disk0
        if start is None:
            return
        now = self._disk_counters()
        if now is None:
            return
        read = written = 0
        for dev, counters in now.items():
            if dev.startswith(_VIRTUAL_DISKS) or dev not in start:
                continue
            read += counters.read_bytes - start[dev].read_bytes
            written += counters.write_bytes - start[dev].write_bytes
        out[keys.DISK_IN] = read / _MIB
        out[keys.DISK_OUT] = written / _MIB
        for dev in self._devices:
            if dev in now:
                out[keys.DISK_DEVICE_IN.format(device=dev)] = (
                    now[dev].read_bytes - start[dev].read_bytes
                ) / _MIB
                out[keys.DISK_DEVICE_OUT.format(device=dev)] = (
                    now[dev].write_bytes - start[dev].write_bytes
                ) / _MIB

    def _disk_counters(self) -> dict[str, Any] | None:
        try:
            counters = self._ps.disk_io_counters(perdisk=True)
        except (OSError, RuntimeError) as exc:  # psutil raises RuntimeError where /proc/diskstats is missing
            self._debug_once("diskio", "disk I/O counters are not available: %s", exc)
            return None
        if not counters:
            self._debug_once("diskio", "disk I/O counters are not available on this host")
            return None
        return dict(counters)

    def _backing_devices(self) -> list[str]:
        """The whole-disk devices holding ``disk_paths`` (none for overlay or network file systems)."""
        ps = self._ps
        start = self._disk0 or {}
        try:
            parts = ps.disk_partitions(all=False)
        except OSError:
            return []
        found: list[str] = []
        for path in self._disk_paths:
            real = os.path.realpath(path)
            best = None
            for part in parts:
                mount = part.mountpoint
                inside = real == mount or real.startswith(mount.rstrip("/") + "/")
                if inside and (best is None or len(mount) > len(best.mountpoint)):
                    best = part
            if best is None:
                continue
            dev = Path(os.path.realpath(best.device)).name
            if dev not in start:
                # A partition (sda1) counts towards its disk (sda), which is what psutil lists.
                dev = Path(os.path.realpath(f"/sys/class/block/{dev}")).parent.name
            if dev in start and not dev.startswith(_VIRTUAL_DISKS) and dev not in found:
                found.append(dev)
        return found

    def _debug_once(self, key: str, msg: str, *args: Any) -> None:
        if key not in self._logged:
            self._logged.add(key)
            _log.debug(msg, *args)


def _busy_percent(before: Any, after: Any) -> float:
    """% of CPU time spent busy between two ``cpu_times()`` snapshots."""

    def split(t: Any) -> tuple[float, float]:
        total = sum(t)
        # guest time is already counted in user/nice on Linux.
        total -= getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)
        idle = t.idle + getattr(t, "iowait", 0.0)
        return total, total - idle

    total0, busy0 = split(before)
    total1, busy1 = split(after)
    dt = total1 - total0
    if dt <= 0:
        return 0.0
    return max(0.0, min(100.0, 100.0 * (busy1 - busy0) / dt))


def _cgroup_dir(root: Path) -> Path | None:
    """This process's cgroup v2 directory, or None without cgroup v2."""
    if not (root / "cgroup.controllers").is_file():
        return None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return root
    for line in lines:
        if line.startswith("0::"):
            own = root / line[3:].strip().lstrip("/")
            if own.is_dir():
                return own
    return root


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_limit(path: Path) -> int | None:
    """A cgroup v2 limit file: an integer, or ``max`` (no limit → None)."""
    value = _read_int(path)
    return value if value and value < 2**60 else None


def _cpu_quota(path: Path) -> float | None:
    """CPUs allowed by a cgroup v2 ``cpu.max`` file (``"200000 100000"`` → 2.0), or None."""
    try:
        quota, _, period = path.read_text().strip().partition(" ")
        if quota == "max":
            return None
        return int(quota) / int(period or 100000)
    except (OSError, ValueError, ZeroDivisionError):
        return None
