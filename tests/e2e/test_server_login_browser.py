"""The team server's dashboard login in a real headless Chromium (system /usr/bin/chromium).

A real ``tracker server`` on 127.0.0.1: the dashboard redirects to the login page, the
session cookie opens the dashboard (charts included: their POST carries the CSRF
header), and a session that ends sends the single-page app back to the login page.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tracker
from tests._server import TrackerServer
from tracker.server._auth import AuthStore

playwright_sync = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
CHROMIUM = os.environ.get("TRACKER_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
TIMEOUT = 20_000  # ms: a guard, not a wait
PASSWORD = "alice-password"


@pytest.fixture
def server(root: Path) -> Iterator[tuple[str, AuthStore]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for project in ("mine", "theirs"):
            run = tracker.init(project=project, id="r1", settings=tracker.Settings(disable_git=True))
            for step in range(50):
                run.log({"loss": 1.0 / (step + 1)}, step=step)
            run.finish()
    store = AuthStore(root)
    store.create_user("alice", PASSWORD)
    store.create_user("bob", PASSWORD)
    store.set_owner("mine", user="alice")
    store.set_owner("theirs", user="bob")
    srv = TrackerServer(root)
    try:
        assert srv.url.startswith("http://127.0.0.1:"), srv.url
        yield srv.url, store
    finally:
        srv.stop()


@pytest.fixture
def page() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        if os.environ.get("CI") or os.environ.get("TRACKER_NO_SKIP") == "1":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT)
        yield context.new_page()
        browser.close()


def test_login_then_dashboard_then_back_to_login(page: Any, server: tuple[str, AuthStore]) -> None:
    expect = playwright_sync.expect
    url, store = server
    page.goto(url + "/projects/mine")
    expect(page).to_have_url(url + "/login?next=%2Fprojects%2Fmine")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator(".err")).to_contain_text("Wrong user name or password")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(url + "/projects/mine")
    expect(page.locator("#runs-table[data-ready='1']")).to_be_visible()
    chart = page.locator("[data-chart='loss']")
    expect(chart).to_have_attribute("data-ready", "1")
    expect(chart).to_have_attribute("data-series", "1")
    # The HttpOnly cookie is invisible to scripts.
    assert "tracker_session" not in page.evaluate("document.cookie")
    page.goto(url + "/")
    expect(page.locator("#projects[data-ready='1']")).to_be_visible()
    expect(page.locator("#projects")).to_contain_text("mine")
    expect(page.locator("#projects")).not_to_contain_text("theirs")
    # The session ends on the server: the app's next API call (a client-side navigation,
    # no page load) sends it to the login page.
    assert store.disable_user("alice")
    page.evaluate(
        "history.pushState(null, '', '/projects/mine'); dispatchEvent(new PopStateEvent('popstate'))"
    )
    expect(page).to_have_url(url + "/login?next=%2Fprojects%2Fmine")
