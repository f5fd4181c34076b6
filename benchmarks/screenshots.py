"""Screenshots of the dashboard for the README, saved as PNGs into ``docs/img/``.

Logs the ``tracker demo`` data into a temporary root (hand-made runs with one loss spike,
images, histograms, system metrics, a versioned model artifact linked into the registry,
a small lr sweep), serves it on 127.0.0.1 (a free port, no token: loopback only) and
drives the system Chromium (``/usr/bin/chromium``, or ``$TRACKER_CHROMIUM``) with
Playwright. Every wait is a ``data-ready`` condition, never a sleep.

    python benchmarks/screenshots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
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
    "--hide-scrollbars",
]
VIEWPORT = {"width": 1280, "height": 820}


def seed(root: Path) -> None:
    """The data of ``tracker demo`` (runs, media, system metrics, an artifact, a sweep, a registry link)."""
    env = {**os.environ, "TRACKER_CONSOLE": "off", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "tracker.cli", "demo", "--no-ui", "--root", str(root)]
    subprocess.run(cmd, env=env, check=True, timeout=600)


def serve(root: Path) -> tuple[str, object, threading.Thread]:
    import uvicorn

    from tracker.cli._ui import listen
    from tracker.server import create_app

    sock = listen("127.0.0.1", 0)  # a TCP socket asyncio sets TCP_NODELAY on
    srv = uvicorn.Server(
        uvicorn.Config(create_app(root, token=None), log_level="warning", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    ready = threading.Event()
    while not srv.started and thread.is_alive():
        ready.wait(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", srv, thread


def charts_drawn(page: object) -> None:
    """Wait until the workspace lists its panels and every chart panel has drawn.

    Panels load when they come into view, so each one is scrolled into view in turn.
    """
    page.wait_for_function(  # type: ignore[attr-defined]
        """() => {
            const ws = document.querySelector("#workspace[data-ready='1']");
            return ws && ws.querySelectorAll("[data-chart]").length === Number(ws.dataset.panels);
        }""",
        timeout=60_000,
    )
    charts = page.locator("#workspace [data-chart]")  # type: ignore[attr-defined]
    for i in range(charts.count()):
        charts.nth(i).scroll_into_view_if_needed()
        page.wait_for_selector(  # type: ignore[attr-defined]
            f"#workspace [data-chart]:nth-child({i + 1})[data-ready='1']", state="attached", timeout=60_000
        )
    page.evaluate("() => window.scrollTo(0, 0)")  # type: ignore[attr-defined]


def shoot(base: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        ctx = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
        ctx.set_default_timeout(60_000)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        page.goto(base + "/")
        page.wait_for_selector("#projects[data-ready='1']", state="visible")
        saved.append(out / "projects.png")
        page.screenshot(path=str(saved[-1]), clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": 240})

        page.goto(base + "/projects/demo?runs=all")
        page.wait_for_selector("#runs-table[data-ready='1']", state="visible")
        charts_drawn(page)
        saved.append(out / "runs-table.png")
        page.screenshot(path=str(saved[-1]))

        # The "Charts" heading, the chart controls and the first two rows of panels.
        top = page.evaluate(
            "() => document.querySelector('#workspace').getBoundingClientRect().top + window.scrollY"
        )
        saved.append(out / "workspace.png")
        page.screenshot(
            path=str(saved[-1]),
            full_page=True,
            clip={"x": 0, "y": max(0.0, top - 90), "width": VIEWPORT["width"], "height": 730},
        )

        runs = page.evaluate("() => fetch('/api/projects/demo/runs').then((r) => r.json())")
        baseline = next(r["id"] for r in runs if r["name"] == "baseline")
        page.goto(f"{base}/projects/demo/runs/{baseline}?tab=media")
        page.wait_for_selector("#run-page[data-ready='1'] [data-media='samples']", state="visible")
        page.wait_for_function(
            "() => { const imgs = [...document.querySelectorAll('[data-media] img')];"
            " return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0); }"
        )
        saved.append(out / "run-media.png")
        page.screenshot(path=str(saved[-1]), clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": 440})

        page.goto(
            f"{base}/projects/demo?runs=all&group=config.warmup&columns=config.lr,config.warmup,summary.best_val_loss,summary.train/loss"
        )
        page.wait_for_selector("#runs-table[data-ready='1'] tr.grouprow", state="visible")
        page.locator("tr.grouprow[data-group='200'] [data-testid='group-toggle']").click()
        charts_drawn(page)
        saved.append(out / "runs-grouped.png")
        page.screenshot(
            path=str(saved[-1]),
            full_page=True,
            clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": 820},
        )

        page.goto(f"{base}/projects/demo/runs/{baseline}?tab=histograms")
        page.wait_for_selector("[data-histogram] canvas[data-ready='1']", state="visible")
        saved.append(out / "run-histograms.png")
        page.screenshot(path=str(saved[-1]), clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": 440})

        hand_made = [r for r in runs if not r["name"].startswith("lr-sweep-")]
        ids = ",".join(r["id"] for r in hand_made)
        page.goto(f"{base}/projects/demo/compare?runs={ids}")
        page.wait_for_selector("#compare[data-ready='1']", state="visible")
        saved.append(out / "compare.png")
        page.screenshot(path=str(saved[-1]), clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": 520})

        page.goto(f"{base}/projects/demo/artifacts")
        page.wait_for_selector("#artifacts[data-ready='1'] #artifact-files[data-ready='1']", state="visible")
        saved.append(out / "artifacts.png")
        page.screenshot(path=str(saved[-1]), clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": 480})

        page.goto(f"{base}/projects/demo/runs/{baseline}?tab=system")
        page.wait_for_selector("#system[data-ready='1']", state="attached")
        saved.append(out / "run-system.png")
        page.screenshot(path=str(saved[-1]))

        page.goto(f"{base}/projects/demo/sweeps")
        page.wait_for_selector("#sweeps[data-ready='1'] tr[data-sweep] a", state="visible")
        page.locator("#sweeps tr[data-sweep] a").first.click()
        page.wait_for_selector("#sweep[data-ready='1'] #sweep-parallel", state="visible")
        saved.append(out / "sweep.png")
        page.screenshot(
            path=str(saved[-1]),
            full_page=True,
            clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": 900},
        )

        page.goto(f"{base}/registry")
        page.wait_for_selector("#registry[data-ready='1'] [data-collection]", state="visible")
        saved.append(out / "registry.png")
        page.screenshot(path=str(saved[-1]), clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": 300})

        ctx.close()
        browser.close()
        if errors:
            raise SystemExit(f"console errors: {errors}")
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "img")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        t = time.perf_counter()
        seed(root)
        base, srv, thread = serve(root)
        try:
            saved = shoot(base, args.out)
        finally:
            srv.should_exit = True  # type: ignore[attr-defined]
            thread.join(10)
    for path in saved:
        print(path)
    print(f"{len(saved)} screenshots in {time.perf_counter() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
