"""bench_fairness: one user's big upload must not stall another user's reads.

Issue 14, point 7, on 127.0.0.1: one ``tracker server`` process (SQLite index by default;
``--postgres`` starts a PostgreSQL server from its binaries as ``bench_server`` does)
with two users. Alice uploads one run log of ``--mib`` MiB (default 60: one request
body, under the 64 MiB limit) to her project in a single ``PUT``, which the server
indexes before it answers. Meanwhile Bob reads a small run of his own project in a
loop, alternating ``GET /api/v1/projects/{p}/runs/{id}`` (what ``Api().run()`` asks) and
``POST /api/series`` (a dashboard chart).

Measured: the latency of every read of Bob's that starts while Alice's upload is in
flight (from the first byte sent to the answer, which comes after indexing): p50 / p95 /
max, against reads of the same run with the server idle. Target: p95 < 200 ms (3x in
``--smoke``, which uploads 16 MiB). Also printed: the time one ``$regex`` filter
``^(a+)+$`` takes on a 30-character run name (refused or evaluated in linear time).

Usage::

    python benchmarks/bench_fairness.py               # 60 MiB upload (the issue's size)
    python benchmarks/bench_fairness.py --smoke       # 16 MiB; fails at 3x the target
    python benchmarks/bench_fairness.py --postgres    # index and state in PostgreSQL
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
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 0.2

# One key per row: the most records per byte, the slowest shape to index.
WRITER = r"""
import os, sys
import tracker
project, run_id, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
run = tracker.init(project=project, id=run_id, name=sys.argv[4],
                   settings={"console": "off", "stats_interval": 0, "disable_git": True})
path = os.path.join(os.environ["TRACKER_DIR"], "projects", project, "runs", run_id, "run.tlog")
step = 0
while step < 200 or (target > 0 and os.path.getsize(path) < target):
    for _ in range(1000):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
        step += 1
run.finish()
print(os.path.getsize(path))
"""


def _tracker(*args: str, root: Path, stdin: str | None = None) -> str:
    from _workers import tracker_cli

    return tracker_cli(*args, root=root, stdin=stdin)


def _make_log(tmp: Path, project: str, run_id: str, name: str, target: int) -> bytes:
    """A finished run log of at least ``target`` bytes (0: a small one), written by a real run."""
    home = tmp / f"client-{run_id}"
    env = {**os.environ, "TRACKER_DIR": str(home), "TRACKER_CONSOLE": "off", "PYTHONWARNINGS": "ignore"}
    subprocess.run(
        [sys.executable, "-c", WRITER, project, run_id, str(target), name], env=env, check=True,
        capture_output=True, timeout=600,
    )  # fmt: skip
    return (home / "projects" / project / "runs" / run_id / "run.tlog").read_bytes()


def _request(url: str, key: str, method: str = "GET", body: bytes | None = None, **headers: str) -> Any:
    req = urllib.request.Request(
        url, data=body, method=method, headers={"Authorization": f"Bearer {key}", **headers}
    )
    with urllib.request.urlopen(req, timeout=600) as resp:
        return resp.status, resp.read()


def _put_log(base: str, key: str, project: str, run_id: str, data: bytes) -> Any:
    url = f"{base}/api/v1/runs/{project}/{run_id}/log?offset=0"
    return _request(url, key, "PUT", data, **{"X-Tracker-Format-Version": "1"})


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures; return 1 when the target is missed."""
    parser = argparse.ArgumentParser(prog="bench_fairness.py")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--mib", type=float, default=None, help="size of the big upload (default 60)")
    parser.add_argument("--postgres", action="store_true", help="index and state in PostgreSQL")
    args = parser.parse_args(argv)
    mib = args.mib or (16.0 if args.smoke else 60.0)
    slack = 3.0 if args.smoke else 1.0
    sys.path.insert(0, str(REPO))
    pg = None
    db = None
    if args.postgres:
        from tests._postgres import find_bindir, start_server

        bindir = find_bindir()
        if bindir is None:
            raise SystemExit("bench_fairness: no PostgreSQL binaries (apt-get install postgresql)")
        pg = start_server(bindir, durable=False)
        db = pg.url(pg.create_database())
    server: subprocess.Popen[str] | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-fairness-") as tmp_name:
            tmp = Path(tmp_name)
            root = tmp / "server"
            db_args = ["--db", db] if db else []
            if db:
                _tracker("server", "migrate", *db_args, root=root)
            keys = {}
            for user in ("alice", "bob"):
                _tracker("server", "users", "create", user, "--password-stdin", *db_args, root=root,
                         stdin=f"pw-{user}-123\n")  # fmt: skip
                out = _tracker("server", "keys", "create", "--user", user, "--name", "k", "--role", "editor",
                               *db_args, root=root)  # fmt: skip
                keys[user] = out.split()[-1]
            big = _make_log(tmp, "alice-proj", "big", "big", int(mib * 1024 * 1024))
            small = _make_log(tmp, "bob-proj", "b1", "a" * 29 + "!", 0)
            if len(big) > 64 * 1024 * 1024:
                big = big[: 64 * 1024 * 1024]  # never happens at the default sizes
            server = subprocess.Popen(
                [sys.executable, "-m", "tracker.cli", "server", "--root", str(root), "--port", "0", *db_args],
                stdout=subprocess.PIPE, stderr=(tmp / "server.log").open("w"), text=True,
            )  # fmt: skip
            assert server.stdout is not None
            line = server.stdout.readline().strip()
            if not line.startswith("http"):
                raise SystemExit(f"tracker server did not start: {(tmp / 'server.log').read_text()[-2000:]}")
            base = line.split("?")[0].rstrip("/")
            return _bench(base, keys, big, small, slack, args.postgres)
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()
        if pg is not None:
            from tests._postgres import stop_server

            stop_server(pg)


def _bench(base: str, keys: dict[str, str], big: bytes, small: bytes, slack: float, pg: bool) -> int:
    status, _ = _put_log(base, keys["bob"], "bob-proj", "b1", small)
    assert status == 200, status
    series = json.dumps({"project": "bob-proj", "runs": ["b1"], "keys": ["loss"], "buckets": 200}).encode()
    reads = [
        lambda: _request(f"{base}/api/v1/projects/bob-proj/runs/b1", keys["bob"]),
        lambda: _request(
            f"{base}/api/series", keys["bob"], "POST", series, **{"Content-Type": "application/json"}
        ),
    ]

    def read_once(i: int) -> float:
        t = time.perf_counter()
        status, body = reads[i % 2]()
        if status != 200 or not body:
            raise SystemExit(f"read {i} answered {status}")
        return time.perf_counter() - t

    idle = [read_once(i) for i in range(40)]
    during: list[float] = []
    uploading = threading.Event()
    finished = threading.Event()
    upload: dict[str, Any] = {}

    def do_upload() -> None:
        t = time.perf_counter()
        uploading.set()
        try:
            upload["status"], upload["body"] = _put_log(base, keys["alice"], "alice-proj", "big", big)
        except urllib.error.HTTPError as exc:
            upload["status"], upload["body"] = exc.code, exc.read()
        finally:  # a server that died mid-upload must end the read loop, not spin it forever
            upload["s"] = time.perf_counter() - t
            finished.set()

    # Open loop: a read starts every 25 ms in its own thread whatever the others are doing,
    # so a stall shows in every read that starts during it (not just in the first).
    readers: list[threading.Thread] = []
    lock = threading.Lock()

    def timed(i: int) -> None:
        took = read_once(i)
        with lock:
            during.append(took)

    thread = threading.Thread(target=do_upload)
    thread.start()
    uploading.wait()
    i = 0
    while not finished.wait(0.025):
        reader = threading.Thread(target=timed, args=(i,))
        reader.start()
        readers.append(reader)
        i += 1
    thread.join()
    for reader in readers:
        reader.join()
    if upload.get("status") != 200:
        raise SystemExit(f"the upload answered {upload.get('status')}: {upload.get('body')!r:.300}")

    flt = urllib.parse.quote(json.dumps({"display_name": {"$regex": "^(a+)+$"}}))
    t = time.perf_counter()
    try:
        status, _ = _request(f"{base}/api/v1/projects/bob-proj/runs?filters={flt}", keys["bob"])
    except urllib.error.HTTPError as exc:
        status = exc.code
    regex_s = time.perf_counter() - t

    def pct(values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else max(values, default=0.0)

    print(
        f"one tracker server ({'PostgreSQL' if pg else 'SQLite'} index); "
        f"upload of {len(big) / 2**20:.1f} MiB; load {os.getloadavg()}"
    )
    print(f"upload (send + store + index) {upload['s']:.2f} s")
    print(f"bob's reads, server idle: p50 {pct(idle, 50) * 1e3:.0f} ms, p95 {pct(idle, 95) * 1e3:.0f} ms")
    print(
        f"bob's reads during the upload ({len(during)}): p50 {pct(during, 50) * 1e3:.0f} ms, "
        f"p95 {pct(during, 95) * 1e3:.0f} ms, max {max(during, default=0) * 1e3:.0f} ms "
        f"(p95 target < {TARGET_S * 1e3 * slack:.0f} ms)"
    )
    print(f"$regex ^(a+)+$ over a 30-character name: answered {status} in {regex_s * 1e3:.0f} ms")
    ok = len(during) >= 5 and pct(during, 95) < TARGET_S * slack and regex_s < 1.0 * slack
    if len(during) < 5:
        print("too few reads during the upload to measure")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
