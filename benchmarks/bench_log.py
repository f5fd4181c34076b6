"""bench_log: the write path of tracker against wandb, trackio, mlflow and tensorboardX.

In ONE run, each measurement in a fresh process:

* tracker: ``import tracker`` (median of 5 processes), ``init()`` (median of 5),
  ``log()`` of a 10-scalar dict per call (median, p99) in the same loop the
  incumbents get (``log(d, step=i)``, dict built outside the timed region), ``finish()``,
  scalars/s from the first ``log()`` to ``finish()`` returning (fsync on), bytes per
  scalar; and a paced run (20k calls/s) for the latency and ``finish()`` targets.
* the incumbents and a bare queue floor, via ``_baselines.py`` (same loop, same
  isolation). A missing incumbent fails the benchmark; ``--smoke`` measures tracker only.

Targets (issue 2 and 3): median ``log()`` ≤ 3 µs and p99 ≤ 50 µs at 20k calls/s over 1M
calls; ``init()`` < 20 ms; ``finish()`` < 200 ms after 100k paced calls; ≥ 1M scalars/s
over 100k unpaced calls; ``import tracker`` < 100 ms; ``log()`` ≥ 100x faster than wandb
offline and ≥ 10x faster than trackio. ``--smoke`` uses small sizes and exits 1 when a
figure is worse than 3x its target.

Usage::

    python benchmarks/bench_log.py                 # full: tracker + every incumbent
    python benchmarks/bench_log.py --smoke         # CI: tracker only, fails at 3x a target
    python benchmarks/bench_log.py --bench-python .benchvenv/bin/python

The incumbents run under ``--bench-python`` (default: ``.benchvenv/bin/python`` when it
exists, else this interpreter); set it up with
``python3 -m venv .benchvenv && .benchvenv/bin/pip install -r benchmarks/requirements-bench.txt``.
"""

from __future__ import annotations

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _worker(mode: str, calls: int, store: str, rate: float) -> dict[str, object]:
    """One tracker measurement in this (fresh) process."""
    pc = time.perf_counter
    t0 = pc()
    import tracker

    import_s = pc() - t0
    sys.path.insert(0, HERE)
    from _baselines import KEYS, _dir_bytes, _percentile, _rows, _timed_loop, _timer_overhead_ns

    os.environ["TRACKER_DIR"] = store
    rows = _rows(calls)
    lat = [0] * calls
    overhead = _timer_overhead_ns()
    t0 = pc()
    run = tracker.init(project="bench", settings={"console": "off"})
    init_s = pc() - t0
    t_first = pc()
    if mode == "paced":
        _paced_loop(run.log, rows, lat, rate, KEYS)
    else:
        _timed_loop(run.log, rows, lat)
    t_loop = pc()
    run.finish()
    t_end = pc()
    lat.sort()

    def us(ns: int) -> float:
        return max(0, ns - overhead) / 1e3

    size = _dir_bytes(store)
    total = t_end - t_first
    return {
        "tool": "tracker",
        "version": tracker.__version__,
        "mode": mode,
        "calls": calls,
        "import_s": import_s,
        "init_s": init_s,
        "log_p50_us": us(_percentile(lat, 0.5)),
        "log_p99_us": us(_percentile(lat, 0.99)),
        "log_p999_us": us(_percentile(lat, 0.999)),
        "log_max_us": us(lat[-1]),
        "log_mean_us": (t_loop - t_first) / calls * 1e6,
        "rate_per_s": calls / (t_loop - t_first),
        "finish_s": t_end - t_loop,
        "total_s": total,
        "scalars_per_s": calls * len(KEYS) / total,
        "bytes_per_scalar": size / (calls * len(KEYS)),
    }


def _paced_loop(
    log: object, rows: list[tuple[float, ...]], lat: list[int], rate: float, keys: tuple[str, ...]
) -> None:
    """``log(d, step=i)`` at ``rate`` calls/s: wait for each deadline (sleeping, so the GIL is free)."""
    pc = time.perf_counter_ns
    sleep = time.sleep
    period = 1e9 / rate
    k0, k1, k2, k3, k4, k5, k6, k7, k8, k9 = keys
    start = pc()
    for i, r in enumerate(rows):
        d = {k0: r[0], k1: r[1], k2: r[2], k3: r[3], k4: r[4],
             k5: r[5], k6: r[6], k7: r[7], k8: r[8], k9: r[9]}  # fmt: skip
        wait = start + i * period - pc()
        if wait > 0:
            sleep(wait / 1e9)
        t0 = pc()
        log(d, step=i)  # type: ignore[operator]
        lat[i] = pc() - t0


def _spawn(args: list[str], python: str = sys.executable) -> dict[str, object]:
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-log-") as tmp:
        out = os.path.join(tmp, "result.json")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
        env["HOME"] = tmp
        proc = subprocess.run(
            [
                python,
                os.path.abspath(__file__),
                "worker",
                *args,
                "--store",
                os.path.join(tmp, "store"),
                "--out",
                out,
            ],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"tracker worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        with open(out) as f:
            result: dict[str, object] = json.load(f)
        return result


def _median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2]


def measure_tracker(smoke: bool) -> dict[str, dict[str, object]]:
    """All tracker figures: startup (5 processes), unpaced, paced latency, paced finish."""
    reps = 3 if smoke else 5
    startup = [_spawn(["--mode", "unpaced", "--calls", "1000"]) for _ in range(reps)]
    unpaced_calls = 100_000
    paced_calls = 100_000 if smoke else 1_000_000
    unpaced = _spawn(["--mode", "unpaced", "--calls", str(unpaced_calls)])
    paced = _spawn(["--mode", "paced", "--calls", str(paced_calls), "--rate", "20000"])
    paced_finish = (
        paced
        if paced_calls == 100_000
        else _spawn(["--mode", "paced", "--calls", "100000", "--rate", "20000"])
    )
    unpaced["import_s"] = _median([float(r["import_s"]) for r in startup])  # type: ignore[arg-type]
    unpaced["init_s"] = _median([float(r["init_s"]) for r in startup])  # type: ignore[arg-type]
    return {"unpaced": unpaced, "paced": paced, "paced_finish": paced_finish}


# (label, value getter, target, "max" = must be at most / "min" = at least, unit)
def _targets(t: dict[str, dict[str, object]]) -> list[tuple[str, float, float, str, str]]:
    f = float
    return [
        ("import tracker", f(t["unpaced"]["import_s"]) * 1e3, 100.0, "max", "ms"),  # type: ignore[arg-type]
        ("init()", f(t["unpaced"]["init_s"]) * 1e3, 20.0, "max", "ms"),  # type: ignore[arg-type]
        ("log() median, paced 20k/s", f(t["paced"]["log_p50_us"]), 3.0, "max", "us"),  # type: ignore[arg-type]
        ("log() p99, paced 20k/s", f(t["paced"]["log_p99_us"]), 50.0, "max", "us"),  # type: ignore[arg-type]
        ("finish() after 100k paced", f(t["paced_finish"]["finish_s"]) * 1e3, 200.0, "max", "ms"),  # type: ignore[arg-type]
        ("scalars/s, 100k unpaced, fsync", f(t["unpaced"]["scalars_per_s"]), 1e6, "min", "/s"),  # type: ignore[arg-type]
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 1 when a target is missed (by 3x in ``--smoke``)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="bench_log.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    w = sub.add_parser("worker")
    w.add_argument("--mode", choices=["unpaced", "paced"], required=True)
    w.add_argument("--calls", type=int, required=True)
    w.add_argument("--rate", type=float, default=20000.0)
    w.add_argument("--store", required=True)
    w.add_argument("--out", required=True)
    parser.add_argument("--smoke", action="store_true", help="tracker only, small sizes, fail at 3x a target")
    parser.add_argument("--bench-python", default=None, help="interpreter with the incumbents installed")
    parser.add_argument("--repeat", type=int, default=1, help="repeats per incumbent")
    parser.add_argument(
        "--tracker-only", action="store_true", help="full sizes, no incumbents (tracker against tracker)"
    )
    parser.add_argument("--json", default=None, help="write all results here")
    args = parser.parse_args(argv)
    if args.cmd == "worker":
        result = _worker(args.mode, args.calls, args.store, args.rate)
        with open(args.out, "w") as f:
            json.dump(result, f)
        return 0

    sys.path.insert(0, HERE)
    from _baselines import format_table, run_baselines

    started = time.perf_counter()
    ours = measure_tracker(args.smoke)
    if args.smoke or args.tracker_only:
        baselines = run_baselines(["floor"], calls=20_000)
    else:
        python = args.bench_python
        if python is None:
            candidate = os.path.join(REPO, ".benchvenv", "bin", "python")
            python = candidate if os.path.exists(candidate) else sys.executable
        baselines = run_baselines(None, python=python, repeat=args.repeat)
    table = {"tracker": ours["unpaced"], **baselines}
    print(format_table(table))
    print()
    print(
        f"paced 20k/s over {ours['paced']['calls']:,} calls: median {ours['paced']['log_p50_us']:.2f} us, "
        f"p99 {ours['paced']['log_p99_us']:.2f} us, p99.9 {ours['paced']['log_p999_us']:.1f} us, "
        f"max {ours['paced']['log_max_us']:.0f} us"
    )
    print()
    factor = 3.0 if args.smoke else 1.0
    failed = []
    print(f"{'target':34} {'measured':>14} {'target':>12} {'ok':>4}")
    for label, value, target, kind, unit in _targets(ours):
        limit = target * factor if kind == "max" else target / factor
        ok = value <= limit if kind == "max" else value >= limit
        shown = f"{value:,.2f} {unit}" if unit != "/s" else f"{value / 1e6:.2f} M/s"
        goal = (
            f"{'<=' if kind == 'max' else '>='} {target:g} {unit}"
            if unit != "/s"
            else f">= {target / 1e6:g} M/s"
        )
        print(f"{label:34} {shown:>14} {goal:>12} {'yes' if ok else 'NO':>4}")
        if not ok:
            failed.append(label)
    p50 = float(ours["unpaced"]["log_p50_us"])  # type: ignore[arg-type]
    print()
    for name, need in (
        ("wandb", 100.0),
        ("trackio", 10.0),
        ("mlflow", None),
        ("tensorboardX", None),
        ("floor", None),
    ):
        if name in baselines:
            other = float(baselines[name]["log_p50_us"])  # type: ignore[arg-type]
            ratio = other / p50 if p50 > 0 else float("inf")
            verdict = ""
            if need is not None:
                verdict = f" (target >= {need:g}x: {'yes' if ratio >= need else 'NO'})"
            if need is not None and ratio < need:
                failed.append(f"{name} ratio")
            print(f"log() p50: {name} / tracker = {ratio:,.1f}x{verdict}")
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tracker": ours, "baselines": baselines}, f, indent=1, default=str)
    if failed:
        print("FAILED: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
