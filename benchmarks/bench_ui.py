"""Dashboard figures (issue 9): headless Chromium on this machine, cold server, median of 5.

* a project of 1,000 runs shows its table (``#runs-table[data-ready]``) in < 2 s;
* a chart of 100 runs x 100k points draws (``[data-chart][data-ready='1']``) in < 1 s;
* a run with 2,000 metric keys opens its workspace (``#workspace[data-ready]``) in < 2 s;
* the API returns a 1,000-bucket view of a 1M-point series in < 50 ms.

``--smoke`` shrinks every case (10 runs, 10 x 1k points, 50 keys, 10k points) for CI and
fails only at 3x a budget; the full run exits 1 when a median misses its budget.
"first s" is the first of the repeats: the server has cached no chart view yet (the
series endpoint caches each run's bucketed view until the run changes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

CHROMIUM = os.environ.get("TRACKER_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

SEED = textwrap.dedent(
    """
    import sys, warnings, tracker
    warnings.simplefilter("ignore")
    runs, points, keys, big = (int(a) for a in sys.argv[1:5])
    for i in range(runs):
        r = tracker.init(project="many", name=f"r{i}", config={"lr": i * 1e-4, "bs": 32})
        r.log({"loss": 1.0 / (i + 1)}); r.finish()
    for i in range(100 if runs >= 1000 else 10):
        r = tracker.init(project="chart", name=f"c{i}")
        for s in range(points): r.log({"train/loss": 1.0 / (s + 1) + i})
        r.finish()
    r = tracker.init(project="wide", name="wide")
    for s in range(10): r.log({f"k/{j:04d}": s * j for j in range(keys)})
    r.finish()
    r = tracker.init(project="big", name="big")
    for s in range(big): r.log({"loss": float(s % 97)})
    r.finish()
    """
)


def serve(root: Path) -> tuple[str, object]:
    import uvicorn

    from tracker.cli._ui import listen
    from tracker.server import create_app

    sock = listen("127.0.0.1", 0)  # a TCP socket asyncio sets TCP_NODELAY on
    srv = uvicorn.Server(
        uvicorn.Config(create_app(root, token=None), log_level="warning", timeout_graceful_shutdown=1)
    )
    threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not srv.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", srv


def timed_page(browser: object, url: str, selector: str, repeat: int) -> tuple[float, float]:
    """Median and first (cold: nothing cached by the server yet) time to ``selector``."""
    times = []
    for _ in range(repeat):
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        page = ctx.new_page()
        t = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(selector, state="attached", timeout=60_000)
        times.append(time.perf_counter() - t)
        ctx.close()
    return statistics.median(times), times[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = (10, 1000, 50, 10_000) if args.smoke else (1000, 100_000, 2000, 1_000_000)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        env = {**os.environ, "TRACKER_DIR": str(root), "TRACKER_CONSOLE": "off"}
        subprocess.run([sys.executable, "-c", SEED, *map(str, sizes)], env=env, check=True)
        from fastapi.testclient import TestClient

        from tracker.server import create_app

        client = TestClient(create_app(root, token=None), base_url="http://127.0.0.1")
        rid = client.get("/api/projects/big/runs").json()[0]["id"]
        api_times = []
        for _ in range(args.repeat + 1):
            t = time.perf_counter()
            client.post(
                "/api/series", json={"project": "big", "runs": [rid], "keys": ["loss"], "buckets": 1000}
            )
            api_times.append(time.perf_counter() - t)
        base, srv = serve(root)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            rows = [
                (
                    "runs table",
                    sizes[0],
                    timed_page(browser, base + "/projects/many", "#runs-table[data-ready='1']", args.repeat),
                    2.0,
                ),
                (
                    "chart runs x points",
                    sizes[1],
                    timed_page(
                        browser,
                        base + "/projects/chart?runs=all",
                        "[data-chart='train/loss'][data-ready='1']",
                        args.repeat,
                    ),
                    1.0,
                ),
                (
                    "workspace keys",
                    sizes[2],
                    timed_page(browser, base + "/projects/wide", "#workspace[data-ready='1']", args.repeat),
                    2.0,
                ),
                (
                    "API 1000 buckets of N points",
                    sizes[3],
                    (statistics.median(api_times[1:]), api_times[0]),
                    0.05,
                ),
            ]
            browser.close()
        srv.should_exit = True  # type: ignore[attr-defined]
    # Full size: each median against its budget. Smoke (CI): small sizes, failing only at 3x
    # a budget, so that nothing quietly gets several times slower.
    slack = 3.0 if args.smoke else 1.0
    print(f"{'case':32} {'size':>10} {'median s':>10} {'first s':>8} {'budget':>8}  ok")
    failed = 0
    for name, size, (t, cold), budget in rows:
        ok = t < budget * slack
        failed += not ok
        print(f"{name:32} {size:>10} {t:>10.3f} {cold:>8.3f} {budget:>8.2f}  {'yes' if ok else 'NO'}")
    print("load average (1, 5, 15 min) at the end: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    if args.smoke:
        print("smoke: fails at 3x a budget")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
