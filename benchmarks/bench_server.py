"""bench_server: many online writers through two team-server processes on one PostgreSQL.

Issue 10's load test, on 127.0.0.1: a PostgreSQL server is started from its binaries in a
temporary directory (as ``tests/_postgres.py`` does; ``--durable`` keeps fsync on), the
schema is migrated, and two ``tracker server --db ...`` processes share it and one data
root. ``--writers`` processes (default 32), each with its own local data root as if on
its own machine, run ``tracker.init(mode="online")`` against one of the two servers
(alternating), wait at a barrier, then log ``--steps`` rows (default 10k) of four scalars
at ``--rate`` rows/s each (default 1,000: 32k rows/s offered) and finish.

Measured:

* **ingest rate**: rows in the index / time from the first row logged to the moment every
  row is in the index (read straight from PostgreSQL, so measuring does not index);
* **index lag**: each writer notes the wall time of every 250th step; a poller reads the
  highest indexed step of every run every 50 ms; lag = first time a step is seen in the
  index - the time it was logged (p50 / p95 / max over all marks);
* **cross-server visibility**: for each run, the time it is first listed by the *other*
  server's ``GET /api/v1/projects/{p}/runs`` minus the time it is first listed by the
  server it writes to (p95 / max);
* **exactly once**: afterwards every run has exactly ``steps`` rows, steps 0..steps-1,
  through the read API (``history``) of both servers; ``errors`` counts failed writers,
  HTTP errors and missing or duplicated rows.

Usage::

    python benchmarks/bench_server.py                  # 32 writers x 10k steps (the issue's size)
    python benchmarks/bench_server.py --smoke          # 8 writers x 3k steps; fails at 3x a target
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PROJECT = "load"

WRITER = r"""
import json, os, sys, time
import tracker
steps, rate, mark_every = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
run = tracker.init(project=os.environ["BENCH_PROJECT"], id=os.environ["BENCH_RUN_ID"], mode="online",
                   settings={"console": "off", "stats_interval": 0})
print("ready", flush=True)
sys.stdin.readline()
t0 = time.perf_counter()
marks = []
for step in range(steps):
    if rate > 0 and step % 20 == 0:  # paced in bursts of 20 rows, as a fast training loop logs
        wait = t0 + step / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
    run.log({"loss": 1.0 / (step + 1), "acc": step / steps, "lr": 1e-3, "grad_norm": (step % 97) * 0.01})
    if step % mark_every == 0 or step == steps - 1:
        marks.append((step, time.time()))
logged = time.time()
t = time.perf_counter()
run.finish()
print(json.dumps({"marks": marks, "logged": logged, "finish_s": time.perf_counter() - t,
                  "upload_error": getattr(run, "_upload_error", None)}), flush=True)
"""


def _tracker(*args: str, root: Path, stdin: str | None = None) -> str:
    from _workers import tracker_cli

    return tracker_cli(*args, root=root, stdin=stdin)


def _start_server(root: Path, db: str, log: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "server", "--root", str(root), "--db", db, "--port", "0"],
        stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"tracker server did not start: {log.read_text()[-2000:]}")
    return proc, url.split("?")[0].rstrip("/")


def _indexed_steps(db: str) -> dict[str, int]:
    """Highest indexed step of ``loss`` per run, straight from the index tables (no refresh)."""
    from tracker.storage._pg import connect

    conn = connect(db)
    rows = conn.execute(
        "SELECT r.run_id, max(c.step_max) FROM index_chunks c JOIN index_runs r USING (rid) "
        "WHERE r.project = %s AND c.stream = 0 AND c.key = 'loss' GROUP BY r.run_id",
        (PROJECT,),
    ).fetchall()
    return {str(run_id): int(top) for run_id, top in rows}


def main(argv: list[str] | None = None) -> int:
    """Run the load test and print the figures; return 1 when a target is missed."""
    parser = argparse.ArgumentParser(prog="bench_server.py")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--writers", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--rate", type=float, default=None, help="rows/s per writer (0: as fast as possible)")
    parser.add_argument("--durable", action="store_true", help="PostgreSQL with fsync on")
    args = parser.parse_args(argv)
    writers = args.writers or (8 if args.smoke else 32)
    steps = args.steps or (3000 if args.smoke else 10_000)
    rate = args.rate if args.rate is not None else (3000.0 if args.smoke else 1000.0)
    slack = 3.0 if args.smoke else 1.0
    sys.path.insert(0, str(REPO))
    from tests._postgres import find_bindir, start_server, stop_server

    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("bench_server: no PostgreSQL binaries (apt-get install postgresql)")
    pg = start_server(bindir, durable=args.durable)
    procs: list[subprocess.Popen[str]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
            return _bench(Path(tmp), pg.url(pg.create_database()), writers, steps, rate, slack, procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        stop_server(pg)


def _bench(
    tmp: Path,
    db: str,
    writers: int,
    steps: int,
    rate: float,
    slack: float,
    procs: list[subprocess.Popen[str]],
) -> int:
    root = tmp / "server"
    _tracker("server", "migrate", "--db", db, root=root)
    _tracker(
        "server", "users", "create", "bench", "--password-stdin", "--db", db, root=root, stdin="pw-bench-1\n"
    )
    key_args = ["--user", "bench", "--name", "load", "--role", "editor", "--db", db]
    key = _tracker("server", "keys", "create", *key_args, root=root).split()[-1]
    servers = []
    for i in range(2):
        proc, url = _start_server(root, db, tmp / f"server{i}.log")
        procs.append(proc)
        servers.append(url)
    run_ids = [f"w{i:03d}" for i in range(writers)]
    home = {rid: i % 2 for i, rid in enumerate(run_ids)}
    children: dict[str, subprocess.Popen[str]] = {}
    for i, rid in enumerate(run_ids):
        env = {
            **os.environ,
            "TRACKER_DIR": str(tmp / f"client{i}"),
            "TRACKER_BASE_URL": servers[home[rid]],
            "TRACKER_API_KEY": key,
            "TRACKER_CONSOLE": "off",
            "BENCH_PROJECT": PROJECT,
            "BENCH_RUN_ID": rid,
        }
        children[rid] = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(steps), str(rate), "250"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        procs.append(children[rid])
    for rid, child in children.items():
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise SystemExit(f"writer {rid} did not start: {child.stderr.read() if child.stderr else ''}")

    import tracker

    apis = [tracker.Api(base_url=url, api_key=key) for url in servers]
    seen_index: dict[tuple[str, int], float] = {}
    listed: dict[tuple[str, int], float] = {}
    errors: list[str] = []
    done = threading.Event()

    def poll_index() -> None:
        while not done.is_set():
            now = time.time()
            for rid, top in _indexed_steps(db).items():
                for s in range(0, top + 1, 250):
                    seen_index.setdefault((rid, s), now)
                seen_index.setdefault((rid, top), now)
            done.wait(0.05)

    def poll_lists() -> None:
        while not done.is_set():
            for n in range(len(servers)):
                try:
                    ids = [r.id for r in apis[n].runs(PROJECT)]
                except Exception as exc:  # counted; the poll goes on
                    if "not found" not in str(exc).lower():  # no project before the first ingest
                        errors.append(f"list on server {n}: {exc}")
                    continue
                now = time.time()
                for rid in ids:
                    listed.setdefault((rid, n), now)
            done.wait(0.1)

    pollers = [
        threading.Thread(target=poll_index, daemon=True),
        threading.Thread(target=poll_lists, daemon=True),
    ]
    for t in pollers:
        t.start()
    start = time.time()
    for child in children.values():
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results: dict[str, dict[str, Any]] = {}
    for rid, child in children.items():
        out, err = child.communicate(timeout=600)
        if child.returncode:
            errors.append(f"writer {rid} exited {child.returncode}: {err[-500:]}")
            continue
        results[rid] = json.loads(out.strip().splitlines()[-1])
    deadline = time.time() + 120
    while time.time() < deadline and any(seen_index.get((rid, steps - 1)) is None for rid in run_ids):
        time.sleep(0.05)
    done.set()
    for t in pollers:
        t.join()
    end = max((seen_index.get((rid, steps - 1), float("inf")) for rid in run_ids), default=float("inf"))

    lags = []
    for rid, res in results.items():
        for s, t_logged in res["marks"]:
            t_seen = seen_index.get((rid, s))
            if t_seen is None:
                errors.append(f"{rid} step {s} never indexed")
            else:
                lags.append(max(0.0, t_seen - t_logged))
    cross = []
    for rid in run_ids:
        mine, other = listed.get((rid, home[rid])), listed.get((rid, 1 - home[rid]))
        if mine is None or other is None:
            errors.append(f"{rid} not listed by both servers")
        else:
            cross.append(max(0.0, other - mine))
    for n in range(len(servers)):
        for rid in run_ids:
            rows = apis[n].run(f"{PROJECT}/{rid}").history(keys=["loss"], pandas=False)
            seen = [int(r["_step"]) for r in rows]
            if seen != list(range(steps)):
                errors.append(f"server {n}: {rid} has {len(seen)} rows ({len(set(seen))} distinct steps)")
    for rid, res in results.items():
        if res.get("upload_error"):
            errors.append(f"{rid}: upload error {res['upload_error']}")

    total = writers * steps
    elapsed = end - start
    rows_s = total / elapsed if elapsed > 0 else 0.0

    def pct(values: list[float], q: float) -> float:
        return (
            statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else (values or [float("nan")])[0]
        )

    finish = [r["finish_s"] for r in results.values()]
    print(
        f"{writers} writers x {steps} steps at {rate:g} rows/s each, 2 servers, 1 PostgreSQL; "
        f"load {os.getloadavg()}"
    )
    print(f"rows {total}, first row to all indexed {elapsed:.2f} s: {rows_s:,.0f} rows/s (target >= 20,000)")
    print(
        f"index lag p50 {pct(lags, 50):.2f} s, p95 {pct(lags, 95):.2f} s, "
        f"max {max(lags, default=0):.2f} s (p95 target <= 2)"
    )
    print(
        f"cross-server visibility p95 {pct(cross, 95):.2f} s, max {max(cross, default=0):.2f} s (target <= 2)"
    )
    print(
        f"finish() p50 {statistics.median(finish) if finish else float('nan'):.3f} s, "
        f"max {max(finish, default=0):.3f} s"
    )
    print(f"errors: {len(errors)}")
    for e in errors[:20]:
        print("  ", e)
    ok = (
        not errors
        and rows_s * slack >= 20_000
        and pct(lags, 95) <= 2.0 * slack
        and max(cross, default=0) <= 2.0 * slack
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
