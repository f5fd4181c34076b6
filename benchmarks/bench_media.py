"""bench_media: the caller's cost of logging images, and that every one is stored by finish().

In a fresh process (its own data directory, fsync on, the default): 1,000 random
64x64x3 ``uint8`` images (made before the timed loop) are logged one per call with
``run.log({"image": tracker.Image(array)})``; each call is timed on its own
(``perf_counter_ns``, timer overhead subtracted), the ``Image()`` construction included.
Then ``finish()`` is timed and the run is read back: 1,000 history rows, each image a
PNG file under the run whose pixels equal the array logged.

Target (issue 4): the caller's median cost per ``log()`` under 50 µs, and the run
complete after ``finish()``. ``--smoke`` exits 1 when the median is worse than 3x the
target or the run is incomplete.

Usage::

    python benchmarks/bench_media.py            # 1,000 images, 3 processes, median of medians
    python benchmarks/bench_media.py --smoke    # CI: one process
"""

from __future__ import annotations

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET_US = 50.0
SIZE = (64, 64, 3)


def _worker(calls: int, store: str) -> dict[str, object]:
    import numpy as np

    import tracker
    from tracker import media

    os.environ["TRACKER_DIR"] = store
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, SIZE, dtype=np.uint8) for _ in range(calls)]
    sys.path.insert(0, HERE)
    from _baselines import _timer_overhead_ns

    pc = time.perf_counter_ns
    overhead = _timer_overhead_ns()
    lat = [0] * calls
    run = tracker.init(project="bench-media", settings={"console": "off"})
    image = tracker.Image
    log = run.log
    t_first = time.perf_counter()
    for i, a in enumerate(arrays):
        t0 = pc()
        log({"image": image(a)})
        lat[i] = pc() - t0
    t_loop = time.perf_counter()
    run.finish()
    t_end = time.perf_counter()

    # Completeness: every row, every file, every pixel.
    entries = media.media_entries(run.dir)["image"]
    exact = sum(int(np.array_equal(media.read_image(run.dir, e.value), arrays[e.step])) for e in entries)
    files = os.listdir(os.path.join(run.dir, "media", "image"))
    stored = sum(os.path.getsize(os.path.join(run.dir, "media", "image", f)) for f in files)
    lat.sort()

    def us(ns: int) -> float:
        return max(0, ns - overhead) / 1e3

    return {
        "calls": calls,
        "log_p50_us": us(lat[len(lat) // 2]),
        "log_p90_us": us(lat[int(len(lat) * 0.9)]),
        "log_p99_us": us(lat[int(len(lat) * 0.99)]),
        "log_max_us": us(lat[-1]),
        "loop_s": t_loop - t_first,
        "finish_s": t_end - t_loop,
        "images_per_s": calls / (t_end - t_first),
        "rows": len(entries),
        "files": len(files),
        "exact": exact,
        "mb_stored": stored / 1e6,
    }


def _spawn(calls: int) -> dict[str, object]:
    from _workers import spawn_worker

    return spawn_worker(__file__, ["--calls", str(calls)], "bench-media-")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 1 when the target is missed (by 3x in ``--smoke``)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="bench_media.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    w = sub.add_parser("worker")
    w.add_argument("--calls", type=int, required=True)
    w.add_argument("--store", required=True)
    w.add_argument("--out", required=True)
    parser.add_argument("--smoke", action="store_true", help="one process, fail at 3x the target")
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.cmd == "worker":
        with open(args.out, "w") as f:
            json.dump(_worker(args.calls, args.store), f)
        return 0

    reps = 1 if args.smoke else 3
    results = [_spawn(args.calls) for _ in range(reps)]
    cols = ["log_p50_us", "log_p90_us", "log_p99_us", "log_max_us", "loop_s", "finish_s",
            "images_per_s", "rows", "files", "exact", "mb_stored"]  # fmt: skip
    print("| process | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for i, r in enumerate(results):
        cells = [f"{float(r[c]):,.2f}" if isinstance(r[c], float) else f"{r[c]:,}" for c in cols]  # type: ignore[str-format]
        print(f"| {i + 1} | " + " | ".join(cells) + " |")
    median = sorted(float(r["log_p50_us"]) for r in results)[len(results) // 2]  # type: ignore[arg-type]
    complete = all(r["rows"] == r["files"] == r["exact"] == args.calls for r in results)
    limit = TARGET_US * (3.0 if args.smoke else 1.0)
    ok = median <= limit and complete
    print()
    print(f"Image()+log() median {median:.2f} us (target < {TARGET_US:g} us"
          f"{', smoke limit 3x' if args.smoke else ''}): {'yes' if median <= limit else 'NO'}")  # fmt: skip
    print(
        f"run complete after finish() ({args.calls} rows, files, exact pixels): {'yes' if complete else 'NO'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
