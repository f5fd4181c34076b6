"""Big uploads are checked, stored and indexed in a worker process (issue 14, point 7).

``tracker.server._offload`` moves the CPU-heavy part of a big upload (checking every
record, folding it into the index) out of the server process, so that it never holds the
interpreter lock other users' requests need. These tests run the real worker process
(``spawn``) over a real data root and SQLite index: what it stores and indexes is exactly
what the in-process path stores and indexes, a refusal crosses the process boundary with
its status and reason, and the server's ingest sends bodies over the threshold there.
``benchmarks/bench_fairness.py`` measures the effect on other users' reads.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import tracker
from tracker.server import _offload
from tracker.server._ingest import IngestState, RefusedError, _Logs
from tracker.server._offload import Offload
from tracker.storage._sqlite_index import SQLiteIndex

STEPS = 300


def _log_bytes(tmp: Path) -> bytes:
    """A run log written by a real run (on the client's machine)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = tracker.init(
            project="alpha", id="big", dir=str(tmp), settings=tracker.Settings(disable_git=True)
        )
        for step in range(STEPS):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        run.finish()
    return (tmp / "projects" / "alpha" / "runs" / "big" / "run.tlog").read_bytes()


@pytest.fixture
def offload(tmp_path: Path) -> Iterator[Offload]:
    worker = Offload(tmp_path / "server")
    yield worker
    worker.close()


def _indexed_steps(root: Path) -> int | None:
    """Rows of ``loss`` the index holds for alpha/big, read without refreshing it."""
    index = SQLiteIndex(root)
    try:
        keys = index.keys("alpha", "big")
        return keys["loss"].points if "loss" in keys else None
    finally:
        index.close()


def test_the_worker_stores_and_indexes_a_log_as_the_server_would(offload: Offload, tmp_path: Path) -> None:
    data = _log_bytes(tmp_path / "client")
    root = tmp_path / "server"

    end, appended = offload.append("alpha", "big", 0, data)

    assert (end, appended) == (len(data), len(data))
    assert (root / "projects" / "alpha" / "runs" / "big" / "run.tlog").read_bytes() == data
    assert _indexed_steps(root) == STEPS  # indexed by the worker: nothing here refreshed the index
    # The same batch again changes nothing (the bytes are recognised, as in-process).
    assert offload.append("alpha", "big", 0, data) == (len(data), 0)


def test_a_refusal_in_the_worker_keeps_its_status_and_reason(offload: Offload, tmp_path: Path) -> None:
    data = _log_bytes(tmp_path / "client")
    cut = data[: len(data) - 3]  # the last frame torn: not whole frames
    with pytest.raises(RefusedError) as in_process:
        _Logs(tmp_path / "other").append("alpha", "big", 0, cut)

    with pytest.raises(RefusedError) as in_worker:
        offload.append("alpha", "big", 0, cut)

    assert in_worker.value.status == in_process.value.status == 400
    assert in_worker.value.data == in_process.value.data
    assert not (tmp_path / "server" / "projects" / "alpha" / "runs" / "big" / "run.tlog").exists()


def test_ingest_sends_bodies_over_the_threshold_to_the_worker(
    offload: Offload, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _log_bytes(tmp_path / "client")
    root = tmp_path / "server"
    monkeypatch.setattr(_offload, "OFFLOAD_BYTES", len(data))
    # No in-process indexer: only the worker can have indexed the run.
    ingest = IngestState(_Logs(root), max_body=64 << 20, indexer=None, offload=offload)

    assert ingest.append("alpha", "big", 0, data) == (len(data), len(data))

    assert _indexed_steps(root) == STEPS


PARENT = """
import os, sys
from pathlib import Path
from tracker.server._offload import Offload
offload = Offload(Path(sys.argv[1]))
print(offload.worker_pid(), flush=True)
sys.stdin.readline()
os._exit(0)  # as a server killed -9 would: no shutdown of the pool
"""


def test_the_worker_ends_when_the_server_is_killed(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    with subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "server")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as parent:  # fmt: skip
        assert parent.stdout is not None
        assert parent.stdin is not None
        worker = int(parent.stdout.readline())
        assert _alive(worker)
        parent.stdin.write("\n")
        parent.stdin.close()
        assert parent.wait(timeout=30) == 0

    deadline = time.monotonic() + 30  # the worker polls its parent every PARENT_POLL_S
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker), "the upload worker outlived the server that started it"


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone: it is not our child to reap)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


EARLY = """
import os, sys
from pathlib import Path
from tracker.server._offload import Offload
Offload(Path(sys.argv[1])).start()  # as tracker server does at start-up
os._exit(0)  # killed before its worker has even started
"""


def test_a_worker_whose_server_died_while_it_started_ends_too(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    mark = f"offload-test-{os.getpid()}-{time.monotonic_ns()}"
    env = {**os.environ, "TRACKER_TEST_MARK": mark}
    subprocess.run([sys.executable, "-c", EARLY, str(tmp_path / "server")], env=env, check=True, timeout=60)

    deadline = time.monotonic() + 30
    while _marked(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marked(mark) == [], "the upload worker outlived the server that started it"


def _marked(mark: str) -> list[int]:
    """Live processes whose environment carries ``mark``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if f"TRACKER_TEST_MARK={mark}".encode() in f.read() and _alive(int(entry)):
                        found.append(int(entry))
            except OSError:
                continue
    return found
