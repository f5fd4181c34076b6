"""Artifact benchmark: add_file + log_artifact of a large file, peak RSS and throughput.

Usage: python benchmarks/bench_artifacts.py [SIZE_MB]  (default 1024). Issue 7's bar:
peak RSS grows by less than 100 MB whatever the file size (hashing is streamed).
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time


def main() -> None:
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TRACKER_DIR"] = os.path.join(tmp, "root")
        os.environ.setdefault("TRACKER_CONSOLE", "off")
        import tracker

        path = os.path.join(tmp, "big.bin")
        with open(path, "wb") as fh:
            block = os.urandom(1 << 20)
            for _ in range(size_mb):
                fh.write(block)
        run = tracker.init(project="bench")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        art = tracker.Artifact("big", "dataset")
        art.add_file(path)
        run.log_artifact(art)
        t_return = time.perf_counter() - t0
        art.wait()
        t_done = time.perf_counter() - t0
        run.finish()
        extra = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(
            f"size={size_mb} MB  log_artifact returned in {t_return * 1e3:.2f} ms  "
            f"stored in {t_done:.2f} s ({size_mb / t_done:.0f} MB/s)  peak RSS +{extra:.1f} MB"
        )


if __name__ == "__main__":
    main()
