"""The artifacts endpoints of the dashboard API (the page itself: tests/e2e/test_ui_browser.py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

import tracker
from tracker.server import create_app


def test_artifact_versions_aliases_and_files(root: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = tracker.init(project="p", name="r")
        for i in range(2):
            art = tracker.Artifact("data", type="dataset")
            with art.new_file("a.txt") as f:
                f.write("x" * (i + 1))
            run.log_artifact(art, aliases=["gold"] if i == 0 else None).wait()
        run.finish()
    client = TestClient(create_app(root, token=None), base_url="http://127.0.0.1")
    arts = client.get("/api/projects/p/artifacts").json()
    assert [a["name"] for a in arts] == ["data"]
    versions = arts[0]["versions"]
    assert [v["number"] for v in versions] == [1, 0]
    assert "gold" in versions[1]["aliases"]
    assert "latest" in versions[0]["aliases"]
    assert versions[0]["run_id"] == run.id
    files = client.get("/api/projects/p/artifacts/data/v/0/files").json()
    assert files["count"] == 1
    assert files["files"][0]["path"] == "a.txt"
    assert files["files"][0]["size"] == 1
    assert client.get("/api/projects/p/artifacts/data/v/7/files").status_code == 404
    assert client.get("/api/projects/p/artifacts/..%2Fx/v/0/files").status_code in (400, 404)
    assert client.get("/api/projects/nothing/artifacts").json() == []
