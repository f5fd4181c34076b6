"""bench_read: the read side of tracker (issue 3's "Done when" figures).

Each timed figure is measured in a fresh process (median of ``--repeat`` processes):

* indexing throughput: a fresh index of a 100k-step x 10-key run log (1M points), in
  points/s (target >= 1M/s);
* with pandas imported and the index up to date, one key's full history of that run
  (``Api().run(...).history(keys=[k])``, target < 100 ms) and ``history(samples=1000)``
  over all keys (target < 50 ms), checking that a single injected spike is kept;
* ``Api().runs(project, filters=...)`` over a project of 10,000 runs (target < 1 s),
  index up to date;
* the concurrency check: 8 writer processes x 50,000 steps into one project while one
  process polls ``Api`` histories and another indexes (zero errors, every point present;
  ``tests/e2e/test_read_concurrency.py``).

Run logs are generated directly in the run-log format (``tracker.storage._format``),
laid out as the writer lays them out (256-row key-table HISTORY frames), which is far
faster than logging them through ``tracker.init``.

Usage::

    python benchmarks/bench_read.py            # full sizes
    python benchmarks/bench_read.py --smoke    # small sizes; exit 1 when a figure is worse than 3x its target
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
KEYS = [f"k{i}" for i in range(10)]
BATCH = 256  # rows per HISTORY frame, as the writer batches them
T0 = 1_700_000_000.0


# --------------------------------------------------------------------------- log generation
def _frames(records: list[list[Any]]) -> bytes:
    import msgpack

    from tracker.storage._format import frame

    pack = msgpack.Packer(use_bin_type=True).pack
    return b"".join(frame(pack(r)) for r in records)


def write_run(
    root: Path,
    project: str,
    run_id: str,
    *,
    steps: int,
    keys: list[str],
    config: dict[str, Any],
    summary: dict[str, Any],
    state: str = "finished",
    spike: tuple[str, int] | None = None,
    seed: int = 0,
) -> None:
    """Write a finished run log the way the writer would."""
    from tracker.storage._format import R, file_header

    rnd = random.Random(seed)
    path = root / "projects" / project / "runs" / run_id / "run.tlog"
    path.parent.mkdir(parents=True, exist_ok=True)
    created = T0 + seed
    records: list[list[Any]] = [
        [R.RUN, {"id": run_id, "project": project, "entity": None, "name": run_id, "group": None,
                 "job_type": None, "tags": ["bench"], "notes": None, "created": created, "pid": 1,
                 "host": "bench-host", "start_time": None, "mode": "offline", "format_version": 1,
                 "tracker_version": "bench", "sweep_id": None}],
        [R.CONFIG, config, []],
    ]  # fmt: skip
    with open(path, "wb") as f:
        f.write(file_header())
        f.write(_frames(records))
        for lo in range(0, steps, BATCH):
            packed = []
            for s in range(lo, min(lo + BATCH, steps)):
                row = [0, s, created + s * 0.001, *(rnd.random() for _ in keys)]
                packed.append(row)
            if spike is not None and lo <= spike[1] < lo + BATCH:
                packed[spike[1] - lo][3 + keys.index(spike[0])] = 1e9
            f.write(_frames([[R.HISTORY, [keys], packed]]))
        end = created + steps * 0.001
        f.write(
            _frames(
                [[R.SUMMARY, summary], [R.EXIT, {"state": state, "exit_code": 0, "ts": end, "runtime": 1.0}]]
            )
        )


def build_big_run(root: Path, steps: int) -> int:
    """One run of ``steps`` x 10 keys with a spike in k3; return the spike's step."""
    spike_step = random.Random(42).randrange(steps // 10, steps - steps // 10)
    write_run(root, "big", "run", steps=steps, keys=KEYS, config={"lr": 0.001}, summary={"k0": 0.5},
              spike=("k3", spike_step), seed=1)  # fmt: skip
    return spike_step


def build_many_runs(root: Path, count: int) -> None:
    """A project of ``count`` small runs with varied config and summary."""
    rnd = random.Random(7)
    for i in range(count):
        lr = 10 ** rnd.uniform(-5, -1)
        config = {
            "lr": lr,
            "batch_size": rnd.choice([16, 32, 64, 128]),
            "optimizer": {"name": rnd.choice(["adam", "sgd"])},
        }
        summary = {"loss": rnd.random(), "val/acc": rnd.random(), "_step": 9}
        write_run(root, "many", f"r{i:05d}", steps=10, keys=["loss", "acc"], config=config, summary=summary,
                  state=rnd.choice(["finished", "finished", "failed", "killed"]), seed=i)  # fmt: skip


# --------------------------------------------------------------------------- fresh-process workers
def _fresh(code: str, root: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "WANDB_"))}
    env["TRACKER_DIR"] = str(root)
    # Byte-compiled modules, as an installed package has them (this sandbox sets the
    # variable; the first worker writes the .pyc files, the warm-up below absorbs it).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"worker failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


INDEX_WORKER = """
import json, time
from tracker.storage._sqlite_index import SQLiteIndex
from tracker._settings import data_root
import numpy, msgpack  # loaded by any reader anyway; not part of the indexing time
index = SQLiteIndex(data_root())
t = time.perf_counter()
index.refresh("big")
took = time.perf_counter() - t
keys = index.keys("big", "run")
print(json.dumps({"s": took, "points": sum(k.points for k in keys.values())}))
"""

HISTORY_WORKER = """
import json, time
import pandas
t0 = time.perf_counter()
import tracker
t1 = time.perf_counter()
api = tracker.Api()
df = api.run("big/run").history(keys=["k3"])
t2 = time.perf_counter()
assert len(df) == STEPS and list(df.columns) == ["_step", "_timestamp", "_runtime", "k3"]
print(json.dumps({"s": t2 - t1, "with_import_s": t2 - t0}))
"""

SAMPLES_WORKER = """
import json, time
import pandas
import tracker
t1 = time.perf_counter()
api = tracker.Api()
df = api.run("big/run").history(samples=1000)
t2 = time.perf_counter()
assert len(df) <= 1000 and df["_step"].iloc[0] == 0 and df["_step"].iloc[-1] == STEPS - 1
kept = bool((df["k3"] == 1e9).any()) and int(df.loc[df["k3"].idxmax(), "_step"]) == SPIKE
print(json.dumps({"s": t2 - t1, "rows": len(df), "spike_kept": kept}))
"""

RUNS_WORKER = """
import json, time
import pandas
import tracker
flt = {"$and": [{"config.lr": {"$lt": 0.001}}, {"summary_metrics.loss": {"$lt": 0.5}},
                {"state": {"$in": ["finished", "failed"]}}, {"config.optimizer.name": {"$regex": "^ad"}}]}
t1 = time.perf_counter()
runs = tracker.Api().runs("many", filters=flt, order="-summary_metrics.val/acc")
n = len(runs)
t2 = time.perf_counter()
print(json.dumps({"s": t2 - t1, "matched": n}))
"""


def _median(code: str, root: Path, repeat: int) -> dict[str, Any]:
    _fresh(code, root)  # warm-up: page cache, .pyc files
    results = [_fresh(code, root) for _ in range(repeat)]
    out = dict(results[len(results) // 2])
    out["s"] = statistics.median(r["s"] for r in results)
    out["all_s"] = [round(r["s"], 4) for r in results]
    return out


def _concurrency(root: Path, writers: int, steps: int) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location(
        "_read_concurrency", REPO / "tests/e2e/test_read_concurrency.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.concurrency_check(root, writers, steps)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 1 when a figure misses its target (by 3x in ``--smoke``)."""
    parser = argparse.ArgumentParser(prog="bench_read.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes; fail at 3x a target")
    parser.add_argument("--repeat", type=int, default=None, help="fresh processes per timed figure")
    parser.add_argument("--keep", action="store_true", help="keep the generated data root")
    args = parser.parse_args(argv)
    smoke = args.smoke
    steps = 20_000 if smoke else 100_000
    runs = 1_000 if smoke else 10_000
    conc_steps = 5_000 if smoke else 50_000
    repeat = args.repeat or (3 if smoke else 5)
    factor = 3.0 if smoke else 1.0

    tmp = Path(tempfile.mkdtemp(prefix="bench_read-"))
    rows: list[
        tuple[str, float, float, str, bool, str]
    ] = []  # name, value, target, unit, higher_is_better, note
    try:
        root = tmp / "root"
        t = time.perf_counter()
        spike = build_big_run(root, steps)
        build_many_runs(root, runs)
        gen_s = time.perf_counter() - t
        print(
            f"generated {steps:,} x {len(KEYS)} run and {runs:,} runs in {gen_s:.1f} s under {tmp}",
            flush=True,
        )

        index_results = []
        for _ in range(repeat):
            for suffix in ("", "-wal", "-shm"):
                (root / f"index.sqlite{suffix}").unlink(missing_ok=True)
            index_results.append(_fresh(INDEX_WORKER, root))
        index_s = statistics.median(r["s"] for r in index_results)
        points = index_results[0]["points"]
        note = f"{points:,} points in {index_s * 1000:.0f} ms"
        rows.append(
            ("indexing throughput (fresh index, 1 run)", points / index_s, 1_000_000, "points/s", True, note)
        )

        code = HISTORY_WORKER.replace("STEPS", str(steps))
        hist = _median(code, root, repeat)
        note = f"{hist['with_import_s'] * 1000:.0f} ms incl. import tracker"
        rows.append(
            (f"history(keys=[k]) of {steps:,} steps, fresh process", hist["s"] * 1000, 100, "ms", False, note)
        )

        code = SAMPLES_WORKER.replace("STEPS", str(steps)).replace("SPIKE", str(spike))
        samp = _median(code, root, repeat)
        note = f"{samp['rows']} rows, spike kept: {samp['spike_kept']}"
        rows.append(
            (
                f"history(samples=1000), {len(KEYS)} keys, fresh process",
                samp["s"] * 1000,
                50,
                "ms",
                False,
                note,
            )
        )

        t = time.perf_counter()
        _fresh("import json, tracker; tracker.Api().runs('many'); print(json.dumps({'s': 0}))", root)
        build_s = time.perf_counter() - t
        rr = _median(RUNS_WORKER, root, repeat)
        note = f"{rr['matched']} matched; first index of the project {build_s:.1f} s"
        rows.append(
            (f"runs(filters=...) over {runs:,} runs, fresh process", rr["s"] * 1000, 1000, "ms", False, note)
        )

        conc_root = tmp / "conc"
        t = time.perf_counter()
        conc = _concurrency(conc_root, 8, conc_steps)
        conc_s = time.perf_counter() - t
        note = (
            f"{conc['points']:,} points all present; writers {conc['write_s']:.1f} s, total {conc_s:.1f} s; "
            f"{conc['poller']}; {conc['indexer']}"
        )
        rows.append((f"8 writers x {conc_steps:,} steps + 2 readers: errors", 0, 0, "errors", False, note))
        spike_ok = bool(samp["spike_kept"])
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"{'figure':58} {'measured':>14} {'target':>12} {'ratio':>7}  ok  note")
    failed = not spike_ok
    for name, value, target, unit, higher, note in rows:
        if target == 0:
            ok, ratio_text = value == 0, "-"
        else:
            ratio = value / target if higher else target / value if value else float("inf")
            ok = ratio * factor >= 1.0
            ratio_text = f"{ratio:.2f}x"
        failed |= not ok
        sign = ">=" if higher else "<"
        measured = f"{value:,.0f} {unit}" if value >= 100 or unit == "errors" else f"{value:.1f} {unit}"
        goal = f"{sign} {target:,.0f}"
        print(f"{name:58} {measured:>14} {goal:>12} {ratio_text:>7}  {'yes' if ok else 'NO ':3} {note}")
    print("\nratio: how many times better than the target (> 1 meets it).", end=" ")
    print("--smoke fails only below 1/3." if smoke else "")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
