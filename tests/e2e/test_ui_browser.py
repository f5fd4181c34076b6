"""The dashboard in a real headless Chromium (system /usr/bin/chromium, driven by Playwright).

A uvicorn server runs in a thread on 127.0.0.1 and a free port; data is logged through the
tracker API in subprocesses. Every wait is an ``expect``/``wait_for_function`` condition
with a timeout as a guard, never a sleep. Console errors are collected and must be empty.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
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
TIMEOUT = 20_000  # ms: a guard, not a wait

SEED = textwrap.dedent(
    """
    import sys, numpy as np, tracker
    for i in range(3):
        run = tracker.init(project="demo", name=f"run-{i}", config={"lr": 0.001 * (i + 1)}, tags=["seed"])
        for s in range(3000):
            run.log({"train/loss": 1.0 / (s + 1) + i, "train/acc": s / 3000})
        run.finish()
    run = tracker.init(project="big", name="spiky")
    for s in range(1_000_000):
        run.log({"loss": 1.0 + (1000.0 if s == 500_000 else 0.0)})
    run.finish()
    run = tracker.init(project="media", name="pics")
    colours = {0: (255, 0, 0), 5: (0, 255, 0), 10: (0, 0, 255)}
    for step, rgb in colours.items():
        img = np.zeros((8, 8, 3), dtype=np.uint8) + np.array(rgb, dtype=np.uint8)
        run.log({"pic": tracker.Image(img), "x": float(step)}, step=step)
    run.finish()
    """
)

LIVE = textwrap.dedent(
    """
    import sys, tracker
    run = tracker.init(project="demo", name="live-run")
    step = 0
    for line in sys.stdin:
        n = int(line)
        for _ in range(n):
            run.log({"train/loss": 1.0 / (step + 1)})
            step += 1
        print("logged", step, flush=True)
    run.finish()
    """
)


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "TRACKER_DIR": str(root), "TRACKER_CONSOLE": "off", "PYTHONWARNINGS": "ignore"}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ui") / "root"
    subprocess.run([sys.executable, "-c", SEED], env=_env(root), check=True, timeout=300)
    return root


@pytest.fixture(scope="module")
def server(data_root: Path) -> Iterator[str]:
    import uvicorn

    from tracker.cli._ui import listen
    from tracker.server import create_app

    sock = listen("127.0.0.1", 0)  # a TCP socket asyncio sets TCP_NODELAY on
    port = sock.getsockname()[1]
    app = create_app(data_root, token="tok", poll_interval=0.2)
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()

    def wait() -> None:
        while not srv.started and thread.is_alive():
            started.wait(0.01)

    wait()
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        if os.environ.get("CI") or os.environ.get("TRACKER_NO_SKIP") == "1":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with playwright_sync.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server + "/?token=tok")  # sets the cookie
    playwright_sync.expect(pg.locator("#projects[data-ready='1']")).to_be_visible()
    yield pg
    context.close()
    assert errors == []


def _project(page: Any, server: str, project: str, query: str = "") -> None:
    page.goto(f"{server}/projects/{project}{query}")
    playwright_sync.expect(page.locator("#runs-table[data-ready='1']")).to_be_visible()


def test_browser_launches(browser: Any) -> None:
    assert browser.version


def test_projects_page_lists_projects(page: Any) -> None:
    expect = playwright_sync.expect
    expect(page.locator("#projects a")).to_have_count(3)
    expect(page.locator("#projects")).to_contain_text("demo")


def test_runs_table_shows_runs_and_states(page: Any, server: str) -> None:
    expect = playwright_sync.expect
    _project(page, server, "demo")
    rows = page.locator("#runs-table tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#runs-table tbody tr[data-state='finished']")).to_have_count(3)
    page.get_by_test_id("search").fill("run-1")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("run-1")
    page.get_by_test_id("search").fill("")
    page.get_by_test_id("filter").fill("config.lr>0.0015")
    expect(rows).to_have_count(2)


def test_chart_has_one_series_per_selected_run(page: Any, server: str) -> None:
    expect = playwright_sync.expect
    _project(page, server, "demo")
    chart = page.locator("[data-chart='train/loss']")
    expect(chart).to_have_attribute("data-ready", "1")
    expect(chart).to_have_attribute("data-series", "3")
    expect(chart).to_have_attribute("data-last-step", "2999")
    page.get_by_test_id("log-y").check()
    page.get_by_test_id("smoothing").fill("0.9")
    expect(chart).to_have_attribute("data-series", "3")
    # Deselect one run: two series.
    page.locator("#runs-table tbody tr").first.locator("input[type=checkbox]").uncheck()
    expect(chart).to_have_attribute("data-series", "2")


def test_zoom_requeries_raw_points(page: Any, server: str) -> None:
    expect = playwright_sync.expect
    _project(page, server, "demo")
    chart = page.locator("[data-chart='train/loss']")
    expect(chart).to_have_attribute("data-raw", "0")
    over = chart.locator(".u-over")
    box = over.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.50, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.52, y, steps=5)
    page.mouse.up()
    expect(chart).to_have_attribute("data-zoomed", "1")
    expect(chart).to_have_attribute("data-raw", "1")
    n = page.evaluate("window.__charts['train/loss'].payload.series['train/loss']")
    for s in n.values():
        assert s["raw"]
        assert all(b - a == 1 for a, b in zip(s["x"], s["x"][1:], strict=False))


def test_spike_in_1m_points_is_kept_and_drawn(page: Any, server: str) -> None:
    expect = playwright_sync.expect
    _project(page, server, "big")
    chart = page.locator("[data-chart='loss']")
    expect(chart).to_have_attribute("data-ready", "1")
    series = page.evaluate("Object.values(window.__charts['loss'].payload.series['loss'])[0]")
    assert not series["raw"]
    assert max(series["max"]) == 1001.0
    assert sum(series["n"]) == 1_000_000
    # Pixels: coloured (saturated) pixels in the top quarter of the plot are the spike.
    coloured = page.evaluate(
        """() => {
          const c = document.querySelector("[data-chart='loss'] canvas");
          const g = c.getContext("2d"); const h = Math.floor(c.height / 4);
          const d = g.getImageData(0, 0, c.width, h).data; let n = 0;
          for (let i = 0; i < d.length; i += 4) {
            const mx = Math.max(d[i], d[i+1], d[i+2]), mn = Math.min(d[i], d[i+1], d[i+2]);
            if (d[i+3] > 100 && mx - mn > 60) n++;
          }
          return n; }"""
    )
    assert coloured > 0


def test_image_step_slider(page: Any, server: str) -> None:
    expect = playwright_sync.expect
    _project(page, server, "media")
    page.locator("#runs-table tbody tr a").first.click()
    expect(page.locator("#run-page[data-ready='1']")).to_be_visible()
    page.locator("button[data-tab='media']").click()
    viewer = page.locator("[data-media='pic']")
    expect(viewer).to_have_attribute("data-step", "10")
    slider = page.get_by_test_id("step-slider")
    slider.fill("1")
    expect(viewer).to_have_attribute("data-step", "5")
    img = viewer.locator("img")
    expect(img).to_have_attribute("src", __import__("re").compile(r"/at/5/0$"))
    page.wait_for_function(
        "() => { const i = document.querySelector(\"[data-media='pic'] img\");"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    rgb = page.evaluate(
        """() => { const i = document.querySelector("[data-media='pic'] img");
          const c = document.createElement("canvas"); c.width = i.naturalWidth; c.height = i.naturalHeight;
          const g = c.getContext("2d"); g.drawImage(i, 0, 0);
          return Array.from(g.getImageData(1, 1, 1, 1).data).slice(0, 3); }"""
    )
    assert rgb == [0, 255, 0]


def test_run_page_tabs(page: Any, server: str) -> None:
    expect = playwright_sync.expect
    _project(page, server, "demo")
    page.locator("#runs-table tbody tr a").first.click()
    expect(page.locator("#run-page[data-ready='1']")).to_be_visible()
    expect(page.locator("#config")).to_contain_text("lr")
    expect(page.locator("#summary")).to_contain_text("train/loss")
    page.locator("button[data-tab='system']").click()
    expect(page.locator("#system[data-ready='1']")).to_be_attached()
    page.locator("button[data-tab='console']").click()
    expect(page.locator("#console[data-ready='1']")).to_be_attached()
    page.locator("button[data-tab='files']").click()
    expect(page.locator("#files")).to_be_visible()
    page.locator("button[data-tab='charts']").click()
    expect(page.locator("[data-chart='train/loss']")).to_have_attribute("data-series", "1")


def test_live_run_appears_and_grows(page: Any, server: str, data_root: Path) -> None:
    expect = playwright_sync.expect
    _project(page, server, "demo")
    expect(page.locator("#runs-table tbody tr")).to_have_count(3)
    proc = subprocess.Popen(
        [sys.executable, "-c", LIVE],
        env=_env(data_root),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write("50\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith("logged 50")
        row = page.locator("#runs-table tbody tr", has_text="live-run")
        expect(row).to_have_count(1)
        expect(row).to_have_attribute("data-state", "running")
        chart = page.locator("[data-chart='train/loss']")
        expect(chart).to_have_attribute("data-series", "4")
        first = page.evaluate(
            "() => Math.max(...Object.values(window.__charts['train/loss'].payload.series['train/loss'])"
            ".filter(s => s.raw !== undefined).map(s => s.x.length))"
        )
        assert first > 0
        proc.stdin.write("200\n")
        proc.stdin.flush()
        assert proc.stdout.readline().startswith("logged 250")
        page.wait_for_function(
            """() => { const c = window.__charts['train/loss']; if (!c) return false;
              const rs = document.querySelectorAll('#runs-table tbody tr');
              const live = [...rs].find(r => r.textContent.includes('live-run'));
              const s = c.payload.series['train/loss'][live.dataset.run];
              return s && (s.raw ? s.x[s.x.length - 1] : s.last_x[s.last_x.length - 1]) >= 249; }"""
        )
        assert page.evaluate("document.body.dataset.live") == "open"
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(30)
        if proc.stdout:
            proc.stdout.close()


COMPARE = textwrap.dedent(
    """
    import tracker
    for i, lr in enumerate((0.1, 0.01, 0.01)):
        config = {"lr": lr, "bs": 32, "opt": {"name": "adam", "beta": 0.95 if i == 0 else 0.9}}
        run = tracker.init(project="cmp", name=f"c{i}", config=config)
        run.log({"loss": 1.0 / (i + 1)})
        run.finish()
    """
)


def test_compare_runs_hides_equal_config(page: Any, server: str, data_root: Path) -> None:
    subprocess.run([sys.executable, "-c", COMPARE], env=_env(data_root), check=True, timeout=120)
    _project(page, server, "cmp", "?runs=all")
    playwright_sync.expect(page.locator("#runs-table[data-rows='3']")).to_be_visible()
    page.get_by_test_id("compare").click()
    playwright_sync.expect(page.locator("#compare[data-ready='1'][data-runs='3']")).to_be_visible()
    config = page.locator("[data-section='config']")
    playwright_sync.expect(config).to_have_attribute("data-diff", "2")
    playwright_sync.expect(config).to_have_attribute("data-equal", "2")
    rows = config.locator("tr[data-key]")
    playwright_sync.expect(rows).to_have_count(2)
    assert sorted(rows.evaluate_all("rs => rs.map((r) => r.dataset.key)")) == ["lr", "opt.beta"]
    names = config.locator("thead th").all_inner_texts()
    lr = config.locator("tr[data-key='lr'] td").all_inner_texts()
    by_name = dict(zip(names[1:], lr[1:], strict=True))
    assert float(by_name["c0"]) == 0.1
    assert float(by_name["c1"]) == float(by_name["c2"]) == 0.01
    page.get_by_test_id("show-equal").check()
    playwright_sync.expect(rows).to_have_count(4)
    playwright_sync.expect(config.locator("tr.same[data-key='bs']")).to_be_visible()
    # Summary: the logged loss differs, so it is shown.
    playwright_sync.expect(page.locator("[data-section='summary'] tr[data-key='loss']")).to_be_visible()


ARTIFACTS = textwrap.dedent(
    """
    import tracker
    run = tracker.init(project="arts", name="producer")
    for i in range(3):
        art = tracker.Artifact("weights", type="model", metadata={"epoch": i})
        with art.new_file("model.txt") as f:
            f.write("weights " * (i + 1))
        with art.new_file("sub/config.json") as f:
            f.write('{"i": %d}' % i)
        run.log_artifact(art, aliases=["best"] if i == 1 else None).wait()
    run.finish()
    """
)


def test_artifacts_page_versions_aliases_files(page: Any, server: str, data_root: Path) -> None:
    subprocess.run([sys.executable, "-c", ARTIFACTS], env=_env(data_root), check=True, timeout=120)
    _project(page, server, "arts")
    page.get_by_test_id("artifacts-link").click()
    playwright_sync.expect(page.locator("#artifacts[data-ready='1'][data-count='1']")).to_be_visible()
    card = page.locator("[data-artifact='weights']").first
    versions = card.locator("tr[data-version]")
    playwright_sync.expect(versions).to_have_count(3)
    assert versions.evaluate_all("rs => rs.map((r) => r.dataset.version)") == ["2", "1", "0"]
    playwright_sync.expect(card.locator("tr[data-version='2'] [data-alias='latest']")).to_be_visible()
    playwright_sync.expect(card.locator("tr[data-version='1'] [data-alias='best']")).to_be_visible()
    playwright_sync.expect(card.locator("tr[data-version='0'] [data-alias]")).to_have_count(0)
    # The newest version's files are listed first; clicking another version lists its own.
    files = page.locator("#artifact-files[data-ready='1']")
    playwright_sync.expect(files).to_have_attribute("data-version", "2")
    playwright_sync.expect(files).to_have_attribute("data-count", "2")
    playwright_sync.expect(files.locator("tr[data-path='model.txt'] td").nth(1)).to_have_text("24 B")
    card.locator("tr[data-version='0'] td").first.locator("a").click()
    files = page.locator("#artifact-files[data-ready='1'][data-version='0']")
    playwright_sync.expect(files.locator("tr[data-path='model.txt'] td").nth(1)).to_have_text("8 B")
    playwright_sync.expect(files.locator("tr[data-path='sub/config.json']")).to_be_visible()
    run_link = card.locator("tr[data-version='0'] td").nth(4).locator("a")
    run_link.click()
    playwright_sync.expect(page.locator("#run-page[data-ready='1']")).to_be_visible()


SWEEP = textwrap.dedent(
    """
    import tracker
    config = {
        "method": "random",
        "name": "tiny",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"min": 0.0, "max": 1.0}, "opt": {"values": ["adam", "sgd"]}},
    }
    sid = tracker.sweep(config, project="swp")

    def train():
        run = tracker.init()
        run.log({"loss": 2.0 * run.config["lr"]})
        run.finish()

    tracker.agent(sid, function=train, count=5)
    print(sid)
    """
)


def test_sweep_page_parallel_coordinates_scatter_importance(page: Any, server: str, data_root: Path) -> None:
    expect = playwright_sync.expect
    out = subprocess.run(
        [sys.executable, "-c", SWEEP],
        env=_env(data_root),
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    sid = out.stdout.strip().splitlines()[-1]
    _project(page, server, "swp")
    page.get_by_test_id("sweeps-link").click()
    expect(page.locator("#sweeps[data-ready='1'][data-count='1']")).to_be_visible()
    page.locator(f"tr[data-sweep='{sid}'] a").click()
    expect(page.locator("#sweep[data-ready='1'][data-runs='5']")).to_be_visible()
    plot = page.locator("#sweep-parallel")
    expect(plot).to_have_attribute("data-axes", "3")  # lr, opt, loss
    lines = plot.locator("polyline[data-run]")
    expect(lines).to_have_count(5)
    assert len(set(lines.evaluate_all("ls => ls.map((l) => l.dataset.run)"))) == 5
    assert all(
        len(p.split()) == 3 for p in lines.evaluate_all("ls => ls.map((l) => l.getAttribute('points'))")
    )
    expect(page.locator("#sweep-scatter circle[data-run]")).to_have_count(5)
    expect(page.locator("#sweep-importance")).to_contain_text("Spearman")
    expect(page.locator("#sweep-importance tr[data-param='lr']")).to_contain_text("1.000")


REGISTRY = textwrap.dedent(
    """
    import tracker
    run = tracker.init(project="regsrc", name="trainer")
    for i in range(2):
        art = tracker.Artifact("clf", type="model")
        with art.new_file("w.bin", mode="wb") as f:
            f.write(bytes([i]) * (i + 1))
        run.log_artifact(art)
        run.link_artifact(art, "model-registry/digits", aliases=["production"] if i == 1 else None)
        art.wait()
    run.finish()
    """
)


def test_registry_page_collections_versions_aliases(page: Any, server: str, data_root: Path) -> None:
    expect = playwright_sync.expect
    subprocess.run([sys.executable, "-c", REGISTRY], env=_env(data_root), check=True, timeout=120)
    page.get_by_test_id("registry-link").click()
    expect(page.locator("#registry[data-ready='1'][data-count='1']")).to_be_visible()
    card = page.locator("[data-collection='digits']")
    versions = card.locator("tr[data-version]")
    expect(versions).to_have_count(2)
    assert versions.evaluate_all("rs => rs.map((r) => r.dataset.version)") == ["1", "0"]
    expect(card.locator("tr[data-version='1'] [data-alias='production']")).to_be_visible()
    expect(card.locator("tr[data-version='1'] [data-alias='latest']")).to_be_visible()
    expect(card.locator("tr[data-version='0'] [data-alias]")).to_have_count(0)
    expect(card.locator("tr[data-version='0'] td[data-source='regsrc/clf:v0']")).to_be_visible()
    card.locator("tr[data-version='1'] td").nth(3).locator("a").click()
    expect(page.locator("#run-page[data-ready='1']")).to_be_visible()


HIST_TABLE = textwrap.dedent(
    """
    import numpy as np, tracker
    run = tracker.init(project="rich", name="hists")
    rng = np.random.default_rng(0)
    for step in range(20):
        run.log({"w": tracker.Histogram(rng.normal(step / 5, 1.0, 1000))}, step=step)
    rows = [[i, f"c{i % 3}"] for i in range(150)]
    run.log({"preds": tracker.Table(columns=["i", "label"], data=rows)}, step=20)
    run.finish()
    """
)


def test_run_page_histograms_heatmap_and_table(page: Any, server: str, data_root: Path) -> None:
    expect = playwright_sync.expect
    subprocess.run([sys.executable, "-c", HIST_TABLE], env=_env(data_root), check=True, timeout=120)
    _project(page, server, "rich")
    page.locator("#runs-table tbody tr a").first.click()
    expect(page.locator("#run-page[data-ready='1']")).to_be_visible()
    page.locator("button[data-tab='histograms']").click()
    heat = page.locator("[data-histogram='w']")
    expect(heat).to_have_attribute("data-steps", "20")
    canvas = heat.locator("canvas[data-ready='1']")
    expect(canvas).to_have_attribute("data-cols", "20")
    painted = canvas.evaluate(
        """(c) => { const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data; let n = 0;
          for (let i = 0; i < d.length; i += 4) if (d[i + 2] - d[i] > 40) n++; return n; }"""
    )
    assert painted > 0
    page.locator("button[data-tab='tables']").click()
    table = page.locator("[data-table='preds']")
    expect(table).to_have_attribute("data-total", "150")
    expect(table.locator("tbody tr")).to_have_count(100)
    expect(table.locator("thead th")).to_have_text(["i", "label"])
    expect(table.locator("tbody tr").nth(4).locator("td")).to_have_text(["4", "c1"])


GROUPS = textwrap.dedent(
    """
    import tracker
    specs = [("adam", 1.0), ("adam", 2.0), ("adam", 3.0), ("sgd", 4.0), ("sgd", 6.0), (None, 9.0)]
    for i, (opt, final) in enumerate(specs):
        config = {"seed": i} if opt is None else {"seed": i, "opt": opt}
        run = tracker.init(project="groups", name=f"g{i}", config=config)
        for s in range(100):
            run.log({"loss": final + 10.0 / (s + 1)})
        run.log({"loss": final})
        run.finish()
    """
)


def test_runs_table_groups_by_config_key(page: Any, server: str, data_root: Path) -> None:
    expect = playwright_sync.expect
    subprocess.run([sys.executable, "-c", GROUPS], env=_env(data_root), check=True, timeout=120)
    _project(page, server, "groups", "?columns=config.opt,summary.loss")
    page.get_by_test_id("group-by").select_option("config.opt")
    table = page.locator("#runs-table[data-grouped='config.opt']")
    groups = table.locator("tr.grouprow")
    expect(groups).to_have_count(3)
    assert groups.evaluate_all("rs => rs.map((r) => [r.dataset.group, r.dataset.count])") == [
        ["adam", "3"],
        ["sgd", "2"],
        ["∅", "1"],
    ]
    # Collapsed: only the group rows; the summary column holds mean, min and max.
    expect(table.locator("tr[data-run]")).to_have_count(0)
    adam = table.locator("tr.grouprow[data-group='adam']")
    loss = adam.locator("td[data-col='summary.loss']")
    expect(loss).to_have_attribute("data-mean", "2")
    expect(loss).to_have_attribute("data-min", "1")
    expect(loss).to_have_attribute("data-max", "3")
    expect(loss).to_contain_text("1\u20133")  # min-max, with an en dash
    expect(adam.locator("td[data-col='config.opt']")).to_have_text("adam")
    sgd = table.locator("tr.grouprow[data-group='sgd'] td[data-col='summary.loss']")
    expect(sgd).to_have_attribute("data-mean", "5")
    # Expanding a group shows its runs under it; collapsing hides them again.
    adam.get_by_test_id("group-toggle").click()
    expect(adam).to_have_attribute("data-expanded", "1")
    expect(table.locator("tr.ingroup[data-run]")).to_have_count(3)
    assert sorted(table.locator("tr.ingroup td.name").all_inner_texts()) == ["g0", "g1", "g2"]
    adam.get_by_test_id("group-toggle").click()
    expect(table.locator("tr[data-run]")).to_have_count(0)
    # Charts: one line per group (mean with a min/max band) over the 6 selected runs.
    chart = page.locator("[data-chart='loss']")
    expect(chart).to_have_attribute("data-lines", "3")
    expect(chart).to_have_attribute("data-series", "6")
    lines = page.evaluate("window.__charts['loss'].lines")
    assert lines == ["adam (n=3)", "sgd (n=2)", "∅ (n=1)"]
    # The adam line's last value is the mean of 1, 2 and 3; its band spans them.
    last = page.evaluate(
        "(() => { const d = window.__charts['loss'].data; const n = d[0].length - 1;"
        " return [d[1][n], d[2][n], d[3][n]]; })()"
    )
    assert last == [2.0, 3.0, 1.0]
    page.get_by_test_id("group-by").select_option("")
    expect(chart).to_have_attribute("data-lines", "6")
    expect(page.locator("#runs-table tbody tr[data-run]")).to_have_count(6)


def test_demo_pages_have_no_console_errors(browser: Any, tmp_path: Path) -> None:
    """`tracker demo` data on every page: projects, runs, run tabs, compare, artifacts, sweeps, registry."""
    import uvicorn

    from tracker.cli import main
    from tracker.server import create_app

    expect = playwright_sync.expect
    root = tmp_path / "demo"
    assert main(["demo", "--no-ui", "--root", str(root)]) == 0
    from tracker.cli._ui import listen

    sock = listen("127.0.0.1", 0)  # a TCP socket asyncio sets TCP_NODELAY on
    srv = uvicorn.Server(
        uvicorn.Config(create_app(root, token=None), log_level="warning", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    while not srv.started and thread.is_alive():
        started.wait(0.01)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(f"{pg.url}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"{pg.url}: {e}"))
    try:
        pg.goto(base + "/")
        expect(pg.locator("#projects[data-ready='1']")).to_contain_text("demo")
        pg.goto(base + "/projects/demo")
        expect(pg.locator("#runs-table[data-ready='1'][data-rows='12']")).to_be_visible()
        expect(pg.locator("[data-chart='train/loss'][data-ready='1']")).to_be_visible()
        runs = pg.evaluate("() => fetch('/api/projects/demo/runs').then((r) => r.json())")
        baseline = next(r["id"] for r in runs if r["name"] == "baseline")
        run_url = f"{base}/projects/demo/runs/{baseline}"
        for tab, ready in [
            ("overview", "#config"),
            ("charts", "[data-chart='train/loss'][data-ready='1']"),
            ("system", "#system[data-ready='1'][data-series='8']"),
            ("console", "#console[data-ready='1']"),
            ("files", "#files"),
            ("media", "[data-media='samples'] img"),
            ("histograms", "[data-histogram='weights/layer0'] canvas[data-ready='1']"),
            ("tables", "[data-table='predictions']"),
        ]:
            pg.goto(f"{run_url}?tab={tab}")
            expect(pg.locator(ready).first).to_be_attached()
        ids = ",".join(r["id"] for r in runs[:4])
        pg.goto(f"{base}/projects/demo/compare?runs={ids}")
        expect(pg.locator("#compare[data-ready='1'][data-runs='4']")).to_be_visible()
        pg.goto(f"{base}/projects/demo/artifacts")
        expect(pg.locator("#artifacts[data-ready='1'] #artifact-files[data-ready='1']")).to_be_visible()
        pg.goto(f"{base}/projects/demo/sweeps")
        expect(pg.locator("#sweeps[data-ready='1'][data-count='1']")).to_be_visible()
        pg.locator("#sweeps tr[data-sweep] a").click()
        expect(pg.locator("#sweep[data-ready='1'][data-runs='8']")).to_be_visible()
        expect(pg.locator("#sweep-parallel polyline[data-run]")).to_have_count(8)
        pg.goto(f"{base}/registry")
        expect(pg.locator("#registry[data-ready='1'] [data-collection='demo-lm']")).to_be_visible()
        expect(pg.locator("[data-collection='demo-lm'] [data-alias='staging']")).to_be_visible()
    finally:
        context.close()
        srv.should_exit = True
        thread.join(10)
        sock.close()
    assert errors == []


VAL_LOSS = textwrap.dedent(
    """
    import tracker
    for name, summary in [("low", {"val/loss": 0.5}), ("high", {"val/loss": 0.7}), ("export", {"rows": 3}),
                          ("evaluate", {"acc": 0.9}), ("probe", {"acc": 0.2})]:
        run = tracker.init(project="vl", name=name, config={"lr": 0.01 if name == "high" else 0.0001})
        run.summary.update(summary)
        run.finish()
    """
)


def test_filter_box_selects_on_the_server_and_shows_parse_errors(
    browser: Any, server: str, data_root: Path
) -> None:
    from urllib.parse import parse_qs, urlparse

    expect = playwright_sync.expect
    subprocess.run([sys.executable, "-c", VAL_LOSS], env=_env(data_root), check=True, timeout=120)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    errors: list[str] = []  # the malformed filter's 400 is the one console error expected
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/?token=tok")
    _project(page, server, "vl")
    rows = page.locator("#runs-table tbody tr[data-run]")
    expect(rows).to_have_count(5)
    box = page.get_by_test_id("filter")
    # The builder writes a condition into the box: the one grammar, the one parser.
    page.get_by_test_id("fb-key").fill("summary.val/loss")
    page.get_by_test_id("fb-op").select_option("<")
    page.get_by_test_id("fb-value").fill("0.6")
    page.get_by_test_id("fb-add").click()
    expect(box).to_have_value("summary.val/loss<0.6")
    expect(rows).to_have_count(1)
    page.get_by_test_id("fb-key").fill("name")
    page.get_by_test_id("fb-op").select_option("!=")
    page.get_by_test_id("fb-value").fill("a b")
    page.get_by_test_id("fb-add").click()
    expect(box).to_have_value('summary.val/loss<0.6 name!="a b"')
    expect(rows).to_have_count(1)
    # A malformed filter: the message under the box says what and where; the table is kept.
    box.fill("config.lr <")
    error = page.get_by_test_id("filter-error")
    expect(error).to_have_text("expected a value after '<' at 11, found the end")
    expect(rows).to_have_count(5)
    # A run without val/loss never matches a comparison on it (the issue: 5 runs were listed).
    box.fill("summary.val/loss<0.6")
    expect(error).to_have_count(0)
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.name")).to_have_text("low")
    box.fill("config.lr > 1e-3")  # spaces around the operator (ignored before)
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.name")).to_have_text("high")
    box.fill("val/loss>0")  # a bare key: summary or config
    expect(rows).to_have_count(2)
    page.locator("#runs-table th[data-col='name']").click()
    expect(page.locator("#runs-table tbody tr[data-run] td.name")).to_have_text(["high", "low"])
    # The filter and the sort are in the URL; opening it in a new page shows the same rows.
    page.wait_for_function("() => new URLSearchParams(location.search).get('filter') === 'val/loss>0'")
    page.wait_for_function("() => new URLSearchParams(location.search).get('sort') === 'name'")
    query = parse_qs(urlparse(page.url).query)
    assert query["filter"] == ["val/loss>0"]
    assert query["sort"] == ["name"]
    # To a run's page and back: the filter and the sort come back with the address.
    page.locator("#runs-table tbody tr[data-run] td.name a").first.click()
    page.wait_for_function("() => location.pathname.includes('/runs/')")
    page.go_back()
    expect(box).to_have_value("val/loss>0")
    expect(page.locator("#runs-table tbody tr[data-run] td.name")).to_have_text(["high", "low"])
    other = page.context.new_page()
    try:
        other.goto(page.url)
        expect(other.get_by_test_id("filter")).to_have_value("val/loss>0")
        expect(other.locator("#runs-table tbody tr[data-run] td.name")).to_have_text(["high", "low"])
    finally:
        context.close()
    assert errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
