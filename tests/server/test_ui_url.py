"""A real ``tracker ui`` process: it records its URL and token for ``run.url``, and removes them on exit."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import tracker
from tracker._ui_link import UI_FILE


def test_run_url_opens_the_running_dashboard(root: Path, tmp_path: Path) -> None:
    run = tracker.init(project="p", name="linked")
    run.log({"loss": 1.0})
    run.finish()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "ui", "--port", "0", "--root", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        printed = proc.stdout.readline().strip()  # printed once listening and .ui.json is written
        assert printed.startswith("http://127.0.0.1:")
        assert "?token=" in printed
        token = printed.split("?token=", 1)[1]
        url = run.url
        assert url.endswith(f"/projects/p/runs/{run.id}?token={token}")
        assert stat.S_IMODE((root / UI_FILE).stat().st_mode) == 0o600
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200
            assert b'<div id="app">' in resp.read()
        bare = url.split("?", 1)[0]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bare, timeout=10)
        assert refused.value.code == 401
        refused.value.close()  # the error holds the response's socket
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    assert not (root / UI_FILE).exists()
    assert "?token=" not in run.url
