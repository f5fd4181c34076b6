"""Many writers, concurrent readers: zero errors, every point present.

``WRITERS`` processes each log ``STEPS`` steps (paced: a 20 ms pause every 500 steps)
into one project while two reader processes run: one polls ``Api`` histories (every
poll must see, per run, a prefix of the rows with the right values, never fewer rows
than before) and one keeps refreshing the index. Readers stop when the parent closes
their stdin. ``benchmarks/bench_read.py`` runs :func:`concurrency_check` at full size
(8 x 50,000).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WRITERS = 8
STEPS = 5_000
PROJECT = "conc"

WRITER = """
import sys
import time
import tracker

index, steps = sys.argv[1], int(sys.argv[2])
run = tracker.init(project=sys.argv[3], id=f"w{index}")
for s in range(steps):
    if s % 500 == 499:
        time.sleep(0.02)  # pacing, like a training loop, so that readers see the runs grow
    if s % 1000 == 0:
        run.log({"a": s, "b": s * 0.5, "note": f"at {s}"})
    else:
        run.log({"a": s, "b": s * 0.5})
run.finish()
"""

POLLER = """
import select, sys, traceback
from tracker.api import Api
from tracker.errors import StorageError

project = sys.argv[1]
api = Api()
seen, polls, errors, rows_read = {}, 0, 0, 0
while True:
    try:
        try:
            runs = api.runs(project)
        except StorageError:  # "no project": it appears with the first writer's run
            runs = []
        for run in runs:
            rows = run.history(keys=["a", "b"], pandas=False)
            for k, row in enumerate(rows):
                if (row["_step"], row["a"], row["b"]) != (k, k, k * 0.5):
                    raise AssertionError(f"{run.id}: row {k} is {row}")
            if len(rows) < seen.get(run.id, 0):
                raise AssertionError(f"{run.id}: {len(rows)} rows after {seen[run.id]}")
            seen[run.id] = len(rows)
            rows_read += len(rows)
        polls += 1
        if polls == 1:
            print("ready", flush=True)
    except Exception:
        traceback.print_exc()
        errors += 1
    if select.select([sys.stdin], [], [], 0.01)[0]:
        break
print(f"polls={polls} errors={errors} rows={rows_read}")
sys.exit(1 if errors else 0)
"""

INDEXER = """
import select, sys, traceback
from tracker.storage._sqlite_index import SQLiteIndex
from tracker._settings import data_root

index = SQLiteIndex(data_root())
refreshes, errors = 0, 0
while True:
    try:
        index.refresh(sys.argv[1])
        refreshes += 1
        if refreshes == 1:
            print("ready", flush=True)
    except Exception:
        traceback.print_exc()
        errors += 1
    if select.select([sys.stdin], [], [], 0.01)[0]:
        break
print(f"refreshes={refreshes} errors={errors}")
sys.exit(1 if errors else 0)
"""


def concurrency_check(
    root: Path, writers: int = WRITERS, steps: int = STEPS, timeout: float = 600.0
) -> dict[str, Any]:
    """Run the check under ``root``; raise AssertionError on any error or missing point.

    Returns:
        Timings and reader statistics.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "WANDB_"))}
    env.update(TRACKER_DIR=str(root), TRACKER_CONSOLE="off", TRACKER_DISABLE_GIT="1", PYTHONUNBUFFERED="1")
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", code, PROJECT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for code in (POLLER, INDEXER)
    ]
    for reader in readers:  # both readers are running before the first writer starts
        assert reader.stdout is not None
        line = reader.stdout.readline()
        assert line == "ready\n", line + (reader.stderr.read() if reader.stderr else "")
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(i), str(steps), PROJECT],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(writers)
    ]
    outs = [p.communicate(timeout=timeout) for p in procs]
    write_s = time.perf_counter() - start
    for proc, (_out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
    results = []
    for reader in readers:
        out, err = reader.communicate("stop\n", timeout=timeout)
        assert reader.returncode == 0, f"reader failed: {out}\n{err}"
        assert "errors=0" in out, out
        results.append(out.strip())
    from tracker.api import Api

    verify_start = time.perf_counter()
    api = Api(root)
    runs = {run.id: run for run in api.runs(PROJECT)}
    assert sorted(runs) == sorted(f"w{i}" for i in range(writers))
    for run in runs.values():
        assert run.state == "finished", (run.id, run.state)
        rows = run.history(keys=["a", "b"], pandas=False)
        assert [(r["_step"], r["a"], r["b"]) for r in rows] == [(s, s, s * 0.5) for s in range(steps)], run.id
        notes = run.history(keys=["note"], pandas=False)
        assert [r["note"] for r in notes] == [f"at {s}" for s in range(0, steps, 1000)]
        assert run.summary["a"] == steps - 1
    return {
        "writers": writers,
        "steps": steps,
        "points": writers * steps * 2,
        "write_s": write_s,
        "verify_s": time.perf_counter() - verify_start,
        "poller": results[0],
        "indexer": results[1],
    }


def test_writers_and_readers_concurrently(root: Path) -> None:
    stats = concurrency_check(root, WRITERS, STEPS, timeout=300)
    assert stats["points"] == WRITERS * STEPS * 2
    assert stats["poller"].startswith("polls=")
