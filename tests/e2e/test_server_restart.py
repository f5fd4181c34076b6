"""Issue 10's end-to-end: an online training run outlives its team server being killed.

A training script in online mode ships to a real ``tracker server`` on 127.0.0.1 backed by
a real PostgreSQL (``pg_url``). Mid-run the server is killed with SIGKILL; the script keeps
logging (metrics, an image, an artifact) while it is down; the server is started again on
the same port; the script finishes. Afterwards the server holds every step exactly once,
the image and the artifact (blobs by content hash), and the run reads as finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("psycopg")
httpx = pytest.importorskip("httpx")

import tracker  # noqa: E402
from tests._server import TrackerServer as Server  # noqa: E402

STEPS = 300
PROJECT = "e2e"
RUN_ID = "restart01"

SCRIPT = r"""
import json, sys
import numpy as np
import tracker

def wait(word):
    line = sys.stdin.readline().strip()
    assert line == word, line

run = tracker.init(project="e2e", id="restart01", mode="online", config={"lr": 0.1, "layers": 3},
                   settings={"console": "off", "stats_interval": 0})
rng = np.random.default_rng(0)
for step in range(300):
    row = {"loss": 1.0 / (step + 1), "step_copy": step}
    if step == 50:
        row["sample"] = tracker.Image(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), caption="s50")
    run.log(row)
    if step == 99:
        print("half", flush=True)
        wait("killed")
    if step == 150:
        (art := tracker.Artifact("weights", type="model")).add_file(sys.argv[1])
        run.log_artifact(art).wait()
    if step == 199:
        print("logged-while-down", flush=True)
        wait("restarted")
run.summary["best"] = 0.5
run.finish()
print(json.dumps({"ok": True}), flush=True)
"""


def _cli(*args: str, root: Path, stdin: str | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args, "--root", str(root)],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def server(tmp_path: Path, pg_url: str) -> Iterator[tuple[Server, str]]:
    root = tmp_path / "server"
    _cli("server", "migrate", "--db", pg_url, root=root)
    _cli(
        "server",
        "users",
        "create",
        "ann",
        "--password-stdin",
        "--db",
        pg_url,
        root=root,
        stdin="ann-pw-123\n",
    )
    key = _cli(
        "server", "keys", "create", "--user", "ann", "--name", "e2e", "--db", pg_url, root=root
    ).split()[-1]
    # Restarted on the port of its first start, so the client's URL survives the restart.
    srv = Server(root, "--db", pg_url, "--store", str(root.parent / "objects"))
    yield srv, key
    srv.stop(graceful=True)


def _server_offset(srv: Server, key: str) -> int:
    try:
        r = httpx.get(
            f"{srv.url}/api/v1/runs/{PROJECT}/{RUN_ID}/log/offset",
            headers={"Authorization": f"Bearer {key}"}, timeout=5,
        )  # fmt: skip
    except httpx.HTTPError:
        return 0
    return int(r.json()["offset"]) if r.status_code == 200 else 0


def _poll(cond: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_online_run_survives_a_server_kill_and_restart(tmp_path: Path, server: tuple[Server, str]) -> None:
    srv, key = server
    weights = tmp_path / "weights.bin"
    weights.write_bytes(os.urandom(200_000))
    client_root = tmp_path / "client"
    env = {
        **os.environ,
        "TRACKER_DIR": str(client_root),
        "TRACKER_BASE_URL": srv.url,
        "TRACKER_API_KEY": key,
        "TRACKER_CONSOLE": "off",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(weights)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "half"
        _poll(lambda: _server_offset(srv, key) > 0, "the first rows to reach the server")
        srv.kill()  # mid-run, without warning
        proc.stdin.write("killed\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "logged-while-down"
        srv.start()
        proc.stdin.write("restarted\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"ok": True}

    local_log = next(client_root.rglob("run.tlog"))
    assert _server_offset(srv, key) == local_log.stat().st_size  # every byte, nothing twice

    api = tracker.Api(base_url=srv.url, api_key=key)
    run = api.run(f"{PROJECT}/{RUN_ID}")
    assert run.state == "finished"
    assert run.config == {"lr": 0.1, "layers": 3}
    assert run.summary["best"] == 0.5
    rows = run.history(keys=["loss", "step_copy"], pandas=False)
    assert [r["_step"] for r in rows] == list(range(STEPS))  # each step exactly once
    assert [r["step_copy"] for r in rows] == list(range(STEPS))
    assert rows[-1]["loss"] == pytest.approx(1.0 / STEPS)

    headers = {"Authorization": f"Bearer {key}"}
    links = httpx.get(f"{srv.url}/api/v1/runs/{PROJECT}/{RUN_ID}/files", headers=headers, timeout=10).json()
    local_media = [p for p in (local_log.parent / "media").rglob("*") if p.is_file()]
    assert len(local_media) == 1
    rel = local_media[0].relative_to(local_log.parent).as_posix()
    linked = links.get("files", links)
    assert rel in linked
    sha = hashlib.sha256(local_media[0].read_bytes()).hexdigest()
    head = httpx.head(f"{srv.url}/api/v1/blobs/{sha}", headers=headers, timeout=10)
    assert head.status_code == 200

    versions = httpx.get(
        f"{srv.url}/api/v1/projects/{PROJECT}/artifacts/weights/versions", headers=headers, timeout=10
    ).json()["versions"]
    assert len(versions) == 1
    weights_sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert httpx.head(f"{srv.url}/api/v1/blobs/{weights_sha}", headers=headers, timeout=10).status_code == 200
