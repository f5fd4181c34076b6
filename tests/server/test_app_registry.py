"""The model registry endpoint of the dashboard API (the page itself: tests/e2e/test_ui_browser.py)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

import tracker
from tracker.server import create_app


def test_registry_collections_versions_aliases_sources(root: Path) -> None:
    client = TestClient(create_app(root, token=None), base_url="http://127.0.0.1")
    assert client.get("/api/registry").json() == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = tracker.init(project="p", name="trainer")
        for i in range(2):
            art = tracker.Artifact("clf", type="model")
            with art.new_file("w.bin", mode="wb") as f:
                f.write(bytes([i]) * (i + 1))
            run.log_artifact(art)
            run.link_artifact(art, "model-registry/digits", aliases=["production"] if i == 1 else None)
            art.wait()
        run.finish()
    reg = client.get("/api/registry").json()
    assert [c["name"] for c in reg] == ["digits"]
    assert reg[0]["type"] == "model"
    versions = reg[0]["versions"]
    assert [v["number"] for v in versions] == [1, 0]
    assert set(versions[0]["aliases"]) == {"latest", "production"}
    assert versions[1]["aliases"] == []
    assert versions[0]["source"] == {"project": "p", "name": "clf", "version": 1}
    assert versions[1]["source"] == {"project": "p", "name": "clf", "version": 0}
    assert versions[0]["run_id"] == run.id
    files = client.get("/api/projects/model-registry/artifacts/digits/v/1/files").json()
    assert [f["path"] for f in files["files"]] == ["w.bin"]
    assert client.get("/registry").status_code == 200
    assert "/api/registry" in client.get("/api/openapi.json").json()["paths"]
