"""Screenshots of the dashboard for the README, saved as PNGs into ``docs/img/``.

Builds a small demo data root (four runs with metrics, one loss spike, logged images,
system metrics and a versioned model artifact), serves it on 127.0.0.1 (a free port, no
token: loopback only) and drives the system Chromium (``/usr/bin/chromium``, or
``$TRACKER_CHROMIUM``) with Playwright. Every wait is a ``data-ready`` condition, never a sleep.

    python benchmarks/screenshots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import os
import socket
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
    "--hide-scrollbars",
]
VIEWPORT = {"width": 1280, "height": 820}

SEED = textwrap.dedent(
    """
    import math, time, warnings
    import numpy as np
    import tracker

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    runs = [
        ("baseline", {"lr": 3e-4, "batch_size": 64, "optimizer": "adamw", "layers": 12, "warmup": 500}),
        ("lr-1e-3", {"lr": 1e-3, "batch_size": 64, "optimizer": "adamw", "layers": 12, "warmup": 500}),
        ("wide", {"lr": 3e-4, "batch_size": 128, "optimizer": "adamw", "layers": 24, "warmup": 500}),
        ("no-warmup", {"lr": 3e-4, "batch_size": 64, "optimizer": "sgd", "layers": 12, "warmup": 0}),
    ]
    for i, (name, config) in enumerate(runs):
        config["dataset"] = "wikitext-103"
        run = tracker.init(project="demo", name=name, config=config, tags=["demo", config["optimizer"]])
        floor = 0.2 + 0.08 * i
        for step in range(3000):
            smooth = floor + 2.2 * math.exp(-step / (400 + 150 * i))
            loss = smooth + 0.03 * float(rng.normal())
            if name == "no-warmup" and step == 1801:
                loss = 6.0  # a single spike: the min/max band keeps it
            row = {
                "train/loss": loss,
                "train/acc": 1.0 - smooth / 3.0 + 0.01 * float(rng.normal()),
                "lr": config["lr"] * min(1.0, (step + 1) / max(config["warmup"], 1)),
            }
            if step % 100 == 0:
                row["val/loss"] = smooth + 0.05 + 0.02 * float(rng.normal())
            if name == "baseline" and step % 750 == 0:
                t = step / 3000
                yy, xx = np.mgrid[0:160, 0:160] / 160.0
                img = np.stack(
                    [
                        np.sin(8 * xx + 6 * t) * 0.5 + 0.5,
                        np.cos(8 * yy - 4 * t) * 0.5 + 0.5,
                        np.full_like(xx, t),
                    ],
                    axis=-1,
                )
                row["samples"] = tracker.Image((img * 255).astype(np.uint8), caption=f"step {step}")
            run.log(row)
            if step % 20 == 0:
                time.sleep(0.01)  # a little wall time, so that system metrics get sampled
        if name == "baseline":
            for epoch in range(3):
                art = tracker.Artifact("baseline-model", type="model", metadata={"epoch": epoch})
                with art.new_file("model.safetensors", mode="xb") as f:
                    f.write(rng.bytes(4096 * (epoch + 1)))
                with art.new_file("config.json") as f:
                    f.write('{"layers": 12, "epoch": %d}' % epoch)
                run.log_artifact(art, aliases=["best"] if epoch == 1 else None).wait()
        run.finish(exit_code=1 if name == "lr-1e-3" else 0)
    for project, n in (("mnist-sweep", 6), ("ablations", 3)):
        for i in range(n):
            run = tracker.init(project=project, name=f"{project}-{i}", config={"seed": i})
            for step in range(200):
                run.log({"loss": 1.0 / (step + 1 + i)})
            run.finish()
    """
)


def seed(root: Path) -> None:
    env = {
        **os.environ,
        "TRACKER_DIR": str(root),
        "TRACKER_CONSOLE": "off",
        "TRACKER_STATS_INTERVAL": "0.2",
        "PYTHONWARNINGS": "ignore",
    }
    subprocess.run([sys.executable, "-c", SEED], env=env, check=True, timeout=600)


def serve(root: Path) -> tuple[str, object, threading.Thread]:
    import uvicorn

    from tracker.server import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
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
    """Wait until the workspace lists its panels and every chart panel has drawn."""
    page.wait_for_function(  # type: ignore[attr-defined]
        """() => {
            const ws = document.querySelector("#workspace[data-ready='1']");
            if (!ws) return false;
            const charts = ws.querySelectorAll("[data-chart]");
            return charts.length === Number(ws.dataset.panels) && charts.length > 0 &&
                [...charts].every((c) => c.dataset.ready === "1");
        }""",
        timeout=60_000,
    )


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

        ids = ",".join(r["id"] for r in runs)
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
