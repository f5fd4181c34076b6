"""``tracker sync`` and online mode against a real ``tracker server`` on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._server import TrackerServer as Server
from tests._server import make_key
from tracker.api import Api
from tracker.cli import main


@pytest.fixture
def server_root(tmp_path: Path) -> Path:
    return tmp_path / "server"


@pytest.fixture
def key(server_root: Path) -> str:
    return make_key(server_root)


@pytest.fixture
def servers(server_root: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for srv in started:
        srv.stop()


SLOW_RUN = """
import sys
import tracker

run = tracker.init(project="p", id="live", settings=tracker.Settings(disable_git=True))
for step in range(300):
    run.log({"loss": 1.0 / (step + 1), "acc": step / 300}, step=step)
    if step == 150:
        run._writer.flush(10)
        print("HALF", flush=True)
        sys.stdin.readline()
run.finish()
print("DONE", flush=True)
"""


def test_sync_three_times_one_while_logging(
    root: Path,
    server_root: Path,
    key: str,
    servers: list[Server],
    spawn: Callable[..., Any],
    write_script: Callable[[str, str], Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    srv = Server(server_root)
    servers.append(srv)
    monkeypatch.setenv("TRACKER_BASE_URL", srv.url)
    monkeypatch.setenv("TRACKER_API_KEY", key)
    run_dir = root / "projects" / "p" / "runs" / "live"
    victim = spawn(write_script("slow.py", SLOW_RUN))
    victim.expect_line("HALF")
    assert main(["sync", str(run_dir)]) == 0  # 1: while the run is still being written
    first = capsys.readouterr().out
    assert "p/live: sent" in first
    copy = server_root / "projects" / "p" / "runs" / "live" / "run.tlog"
    assert 0 < copy.stat().st_size <= (run_dir / "run.tlog").stat().st_size
    assert victim.proc.stdin is not None
    victim.proc.stdin.write(b"go\n")
    victim.proc.stdin.flush()
    victim.expect_line("DONE")
    assert victim.wait() == 0
    assert main(["sync", "--all"]) == 0  # 2: the rest
    assert "p/live: sent" in capsys.readouterr().out
    assert main(["sync", "--all", "--project", "p"]) == 0  # 3: nothing left
    assert "p/live: up to date" in capsys.readouterr().out
    assert copy.read_bytes() == (run_dir / "run.tlog").read_bytes()
    run = Api(server_root).run("p/live")
    assert [row["_step"] for row in run.scan_history()] == list(range(300))
    assert run.state == "finished"


def test_sync_without_server_is_a_usage_error(root: Path) -> None:
    assert main(["sync", "--all"]) == 2


ONLINE_RUN = """
import sys
import tracker

url, key = sys.argv[1], sys.argv[2]
settings = tracker.Settings(disable_git=True, base_url=url, api_key=key, upload_timeout=60)
run = tracker.init(project="p", id="online", mode="online", settings=settings)
import threading
assert any(t.name == "tracker-uploader-online" and t.daemon for t in threading.enumerate())
for step in range(600):
    run.log({"loss": 1.0 / (step + 1)}, step=step)
    if step in (199, 399):
        run._writer.flush(10)
        print("AT", step, flush=True)
        sys.stdin.readline()
run.finish()
print("DONE", flush=True)
"""


def test_online_mode_survives_a_server_restart(
    root: Path,
    server_root: Path,
    key: str,
    servers: list[Server],
    spawn: Callable[..., Any],
    write_script: Callable[[str, str], Path],
) -> None:
    srv = Server(server_root)
    servers.append(srv)
    victim = spawn(write_script("online.py", ONLINE_RUN), srv.url, key)
    stdin = victim.proc.stdin
    assert stdin is not None
    victim.expect_line("AT 199")
    srv.stop()  # killed mid-run
    stdin.write(b"go\n")
    stdin.flush()
    victim.expect_line("AT 399")
    srv = Server(server_root, port=srv.port)  # back on the same port
    servers.append(srv)
    stdin.write(b"go\n")
    stdin.flush()
    victim.expect_line("DONE")
    assert victim.wait() == 0
    local = root / "projects" / "p" / "runs" / "online" / "run.tlog"
    assert (
        server_root / "projects" / "p" / "runs" / "online" / "run.tlog"
    ).read_bytes() == local.read_bytes()
    run = Api(server_root).run("p/online")
    assert [row["_step"] for row in run.scan_history()] == list(range(600))
    assert run.state == "finished"
