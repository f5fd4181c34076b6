"""``run.url`` and ``<root>/.ui.json``: the link carries the running dashboard's token."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import tracker
from tracker._ui_link import DEFAULT_UI, UI_FILE, clear_ui_file, run_url, ui_link, write_ui_file


def test_ui_file_is_user_only_and_read_back(root: Path) -> None:
    path = write_ui_file(root, "http://127.0.0.1:9999/", "tok-en")
    assert path == root / UI_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ui_link(root) == ("http://127.0.0.1:9999", "tok-en")
    assert run_url(root, "p", "abc", None) == "http://127.0.0.1:9999/projects/p/runs/abc?token=tok-en"
    # An explicit $TRACKER_UI_URL wins over the file.
    assert run_url(root, "p", "abc", "https://ui.example/") == "https://ui.example/projects/p/runs/abc"


def test_run_url_follows_the_dashboard(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tracker.init(project="p", name="r")
    assert run.url == f"{DEFAULT_UI}/projects/p/runs/{run.id}"
    write_ui_file(root, "http://127.0.0.1:9999", "secret")
    assert run.url == f"http://127.0.0.1:9999/projects/p/runs/{run.id}?token=secret"
    write_ui_file(root, "http://127.0.0.1:9998", None)  # --no-token
    assert run.url == f"http://127.0.0.1:9998/projects/p/runs/{run.id}"
    run.finish()
    assert tracker.Api(root).run(f"p/{run.id}").url == f"http://127.0.0.1:9998/projects/p/runs/{run.id}"
    monkeypatch.setenv("TRACKER_UI_URL", "https://ui.example")
    assert run.url == f"https://ui.example/projects/p/runs/{run.id}"
    clear_ui_file(root)
    assert not (root / UI_FILE).exists()


def test_a_stale_or_foreign_file_is_not_followed(root: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    write_ui_file(root, "http://127.0.0.1:9999", "secret")
    info = json.loads((root / UI_FILE).read_text())
    (root / UI_FILE).write_text(json.dumps({**info, "pid": pid}))
    assert ui_link(root) is None  # that `tracker ui` was killed
    assert run_url(root, "p", "a", None) == f"{DEFAULT_UI}/projects/p/runs/a"
    clear_ui_file(root)  # not ours: kept
    assert (root / UI_FILE).exists()
    (root / UI_FILE).write_text("{not json")
    assert ui_link(root) is None
    (root / UI_FILE).write_text(json.dumps({"url": 3, "pid": os.getpid()}))
    assert ui_link(root) is None
