"""gpu_check: on an NVIDIA GPU, a matmul load in a real run must show up in the system metrics.

Starts ``tracker.init(settings={"stats_interval": 1.0})``, keeps ``cuda:0`` busy with bf16
matmuls for ``--seconds`` (torch), finishes the run, reads the samples back with
``system_rows`` and prints, per GPU metric of ``gpu.0``, the min / mean / max over the
run, plus what the hardware probe recorded. It fails (exit 1) when utilisation or power
of the loaded GPU stay at zero, or when no GPU sample was recorded.

Without an NVIDIA GPU (no nvidia-ml-py, no driver, no device) or without torch built
with CUDA, it says so and exits 0: there is nothing to check on that machine.

Usage::

    python benchmarks/gpu_check.py               # 15 s of load
    python benchmarks/gpu_check.py --seconds 30 --size 8192
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

SHOWN = (
    "gpu",
    "memory",
    "memoryAllocated",
    "memoryAllocatedBytes",
    "temp",
    "powerWatts",
    "enforcedPowerLimitWatts",
    "powerPercent",
    "smClock",
    "memoryClock",
)


def _gpu_present() -> str | None:
    """None when an NVIDIA GPU is usable, else why not."""
    try:
        import pynvml
    except ImportError:
        return "nvidia-ml-py (pynvml) is not installed"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return f"NVML cannot start ({exc}): no NVIDIA driver or GPU"
    try:
        count = pynvml.nvmlDeviceGetCount()
    finally:
        pynvml.nvmlShutdown()
    return None if count else "NVML sees no GPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--size", type=int, default=8192, help="matrix size of the bf16 matmuls")
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args(argv)

    why = _gpu_present()
    if why is not None:
        print(f"gpu_check: no NVIDIA GPU to check on this machine ({why}); nothing to do.")
        return 0
    try:
        import torch
    except ImportError:
        print(
            "gpu_check: an NVIDIA GPU is present but torch is not installed (pip install torch); not checked."
        )
        return 0
    if not torch.cuda.is_available():
        print("gpu_check: an NVIDIA GPU is present but this torch has no CUDA; not checked.")
        return 0

    os.environ.setdefault("TRACKER_CONSOLE", "off")
    store = tempfile.mkdtemp(prefix="gpu-check-")
    os.environ["TRACKER_DIR"] = store
    import tracker
    from tracker import _stats
    from tracker._init import read_log
    from tracker.storage._system import system_rows

    run = tracker.init(project="gpu-check", settings={"stats_interval": args.interval})
    sampler = _stats.sampler_of(run)
    device = torch.device("cuda:0")
    a = torch.randn(args.size, args.size, device=device, dtype=torch.bfloat16)
    b = torch.randn(args.size, args.size, device=device, dtype=torch.bfloat16)
    flops = 2 * args.size**3
    start = time.perf_counter()
    steps = 0
    while time.perf_counter() - start < args.seconds:
        for _ in range(20):
            c = a @ b
        torch.cuda.synchronize()
        steps += 20
        run.log({"step_tflops": flops * 20 / 1e12, "checksum": float(c[0, 0])})
    elapsed = time.perf_counter() - start
    run.finish()
    rows = system_rows(run.dir)
    capture = read_log(Path(run.dir) / "run.tlog").capture
    hardware = capture.get("hardware", {})
    print(
        f"gpu_check: {steps} matmuls of {args.size}^2 bf16 in {elapsed:.1f} s "
        f"({steps * flops / elapsed / 1e12:.0f} TFLOP/s), {len(rows)} system samples "
        f"(sampler CPU {sampler.cpu_seconds * 1e3 if sampler else float('nan'):.0f} ms)"
    )
    print("hardware.gpu:", json.dumps(hardware.get("gpu"), indent=None))
    print("| metric | min | mean | max | samples |")
    print("|---|---|---|---|---|")
    found: dict[str, list[float]] = {}
    for name in (*SHOWN, "process"):
        key = "system.gpu.process.0.memoryAllocatedBytes" if name == "process" else f"system.gpu.0.{name}"
        values = [float(r[key]) for r in rows if key in r]
        found[name] = values
        if values:
            print(
                f"| {key} | {min(values):.1f} | {sum(values) / len(values):.1f} | {max(values):.1f} | "
                f"{len(values)} |"
            )
        else:
            print(f"| {key} | - | - | - | 0 |")
    problems = []
    if not found["gpu"] or max(found["gpu"]) <= 0:
        problems.append("gpu.0.gpu (utilisation) never above 0")
    if not found["powerWatts"] or max(found["powerWatts"]) <= 0:
        problems.append("gpu.0.powerWatts never above 0")
    if not found["process"]:
        print("note: no per-process GPU memory (NVML does not list this PID: a separate PID namespace?)")
    if problems:
        print("gpu_check: FAIL:", "; ".join(problems))
        return 1
    print("gpu_check: ok: non-zero utilisation and power recorded in a real run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
