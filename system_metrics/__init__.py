"""System metrics: psutil and NVML sources plus a small sampler loop (arrives with issue 5)."""
