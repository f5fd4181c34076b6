"""The static hardware probe: what the machine is, recorded once per run in its metadata."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.system_metrics._nvml import NvmlSource

__all__ = ["probe"]


def probe(
    *, psutil: Any = None, nvml: NvmlSource | None = None, nvml_error: str | None = None
) -> dict[str, Any]:
    """Describe the host: CPU model and counts, memory total, GPUs, driver and CUDA versions.

    Args:
        psutil: The psutil module when it is available (physical core count, memory).
        nvml: An open NVML source (GPU names, UUIDs, memory totals, versions).
        nvml_error: Why there is no NVML source, recorded instead of the GPU list.

    Returns:
        A JSON-able dict: ``{"hostname", "platform", "cpu": {...}, "memory": {...}, "gpu": {...}}``.
    """
    import platform  # here, not at import: the sampler module is imported by init

    info: dict[str, Any] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu": _cpu(psutil),
        "memory": _memory(psutil),
    }
    if nvml is not None:
        info["gpu"] = nvml.describe()
    else:
        info["gpu"] = {"count": 0, "unavailable": nvml_error or "no NVML source"}
    return info


def _cpu(psutil: Any) -> dict[str, Any]:
    cpu: dict[str, Any] = {"model": _cpu_model(), "count_logical": os.cpu_count()}
    if psutil is not None:
        try:
            cpu["count_physical"] = psutil.cpu_count(logical=False)
        except (OSError, psutil.Error):
            pass  # optional fact; the logical count is already recorded
    if hasattr(os, "sched_getaffinity"):
        cpu["count_usable"] = len(os.sched_getaffinity(0))
    return cpu


def _cpu_model() -> str:
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip() in ("model name", "Model", "Hardware", "cpu model"):
                return value.strip()
    except OSError:
        pass  # not Linux: fall back to what platform knows
    return platform.processor() or platform.machine()


def _memory(psutil: Any) -> dict[str, Any]:
    if psutil is not None:
        return {"total": int(psutil.virtual_memory().total)}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return {"total": int(line.split()[1]) * 1024}
    except (OSError, ValueError, IndexError):
        pass  # unknown: recorded as an empty dict
    return {}
