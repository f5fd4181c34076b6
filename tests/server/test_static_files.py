"""``/static/``: the app's files answered from memory (``tracker.server._routes_pages._Static``).

A page load fetches every ES module of the front end; they are read once when the app is
built. What a browser gets must be the files on disk, byte for byte, with a JavaScript type
for modules; a browser holding a file gets 304; and no path a client sends reaches the
file system.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx (the test group)")

from fastapi.testclient import TestClient

from tracker.server import create_app
from tracker.server._routes_pages import STATIC


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(create_app(tmp_path, token=None), base_url="http://127.0.0.1")


def test_every_static_file_is_served_as_it_is_on_disk(client: TestClient) -> None:
    files = [p for p in STATIC.rglob("*") if p.is_file()]
    assert len(files) > 20  # the modules under js/, the vendored libraries, css, index.html
    for path in files:
        res = client.get("/static/" + path.relative_to(STATIC).as_posix())
        assert res.status_code == 200, path
        assert res.content == path.read_bytes(), path
        if path.suffix in (".js", ".mjs"):
            assert res.headers["content-type"] == "text/javascript; charset=utf-8", path
        assert res.headers["x-content-type-options"] == "nosniff"


def test_a_browser_that_has_the_file_gets_304(client: TestClient) -> None:
    first = client.get("/static/js/api.js")
    again = client.get("/static/js/api.js", headers={"If-None-Match": first.headers["etag"]})
    other = client.get("/static/js/url.js", headers={"If-None-Match": first.headers["etag"]})

    assert again.status_code == 304
    assert again.content == b""
    assert other.status_code == 200
    assert other.content == (STATIC / "js" / "url.js").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/static/../_app.py",
        "/static/js/../../_app.py",
        "/static/%2e%2e/_app.py",
        "/static/nope.js",
        "/static/",
    ],
)
def test_only_the_apps_files_are_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_writes_are_refused_and_head_has_no_body(client: TestClient) -> None:
    assert client.post("/static/js/api.js").status_code == 405
    head = client.head("/static/js/api.js")
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == (STATIC / "js" / "api.js").stat().st_size
