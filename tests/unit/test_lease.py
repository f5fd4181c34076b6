"""The writer lease (tracker.storage._lease) and resume="auto"'s launch identity."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tracker
from tracker import _distributed, _init
from tracker._stats import NodeLog
from tracker.errors import UsageError
from tracker.storage import _lease
from tracker.storage._format import R

PROBE = textwrap.dedent(
    """\
    import sys

    from tracker.errors import UsageError
    from tracker.storage import _lease

    _lease._force_heartbeat = sys.argv[2] == "heartbeat"
    print(int(_lease.held(sys.argv[1])))
    try:
        lease = _lease.acquire(sys.argv[1], what="the run")
    except UsageError as exc:
        print("refused", " ".join(str(exc).split()))
    else:
        print("acquired", lease.mode)
        lease.release()
    """
)


@pytest.fixture(autouse=True)
def _no_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_DISABLE_GIT", "1")


def probe(target: Path, mode: str = "lock") -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(target), mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.splitlines()


def test_lease_files_sit_beside_the_logs_never_on_them(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert _lease.lease_path(run) == run / ".lease"
    assert _lease.lease_path(run / "run.tlog") == run / ".lease"
    assert _lease.lease_path(run / "system-n1.tlog") == run / ".system-n1.tlog.lease"


def test_held_in_the_holder_answers_from_memory_and_keeps_the_lock(tmp_path: Path) -> None:
    lease = _lease.acquire(tmp_path / "run", what="p/run")
    log = tmp_path / "run" / "run.tlog"
    # Opening and closing the lease file here would drop the lock (POSIX): held() must not.
    for _ in range(50):
        assert _lease.held(log)
    info = _lease.holder(log)
    assert info is not None
    assert (info["pid"], info["host"]) == (os.getpid(), os.uname().nodename)
    held, outcome = probe(tmp_path / "run")
    assert held == "1"
    assert outcome.startswith(f"refused run the run is being written by pid {os.getpid()} on host")
    with pytest.raises(UsageError, match="already being written by this process"):
        _lease.acquire(log)
    lease.release()
    lease.release()  # a second release does nothing
    assert not _lease.held(log)
    assert probe(tmp_path / "run") == ["0", "acquired lock"]


def test_adding_the_run_folder_to_an_artifact_keeps_the_lease(root: Path) -> None:
    run = tracker.init(project="p", id="walked", settings={"stats_interval": 0})
    (Path(run.dir) / "notes.txt").write_text("kept")
    art = tracker.Artifact("run-folder", type="dataset")
    art.add_dir(run.dir)  # would open and close .lease here: POSIX drops the lock on close
    names = {e.path for e in art.files()}
    assert "notes.txt" in names
    assert not any(_lease.is_lease_file(Path(n).name) for n in names)
    held, _outcome = probe(Path(run.dir))
    assert held == "1"
    run.finish()


def test_a_second_init_of_a_running_run_in_one_process_is_refused(root: Path) -> None:
    run = tracker.init(project="p", id="once", settings={"stats_interval": 0})
    with pytest.raises(UsageError, match="already being written by this process"):
        tracker.init(project="p", id="once", resume="allow", reinit="create_new")
    run.finish()
    again = tracker.init(project="p", id="once", resume="allow", settings={"stats_interval": 0})
    assert again.resumed
    again.finish()


def test_heartbeat_lease_where_locks_do_not_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lease, "_force_heartbeat", True)
    run = tmp_path / "run"
    lease = _lease.acquire(run, what="p/run")
    assert lease.mode == "heartbeat"
    assert (run / ".lease-heartbeat").is_file()
    held, outcome = probe(run, "heartbeat")
    assert held == "1"
    assert outcome.startswith(f"refused run the run is being written by pid {os.getpid()} on host")
    lease.release()
    assert not (run / ".lease-heartbeat").exists()
    assert probe(run, "heartbeat") == ["0", "acquired heartbeat"]


def test_a_stale_heartbeat_lease_is_taken_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_lease, "_force_heartbeat", True)
    run = tmp_path / "run"
    run.mkdir()
    beat = run / ".lease-heartbeat"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    # A process of this host that is gone, and one of another host silent for too long.
    for info in (
        {"host": os.uname().nodename, "pid": int(dead.stdout), "heartbeat": 1e12, "token": "a"},
        {"host": "elsewhere", "pid": 1, "heartbeat": 1000.0, "token": "b"},
    ):
        beat.write_text(json.dumps(info))
        assert not _lease.held(run)
        lease = _lease.acquire(run)
        assert json.loads(beat.read_text())["pid"] == os.getpid()
        lease.release()
    beat.write_text(json.dumps({"host": "elsewhere", "pid": 7, "heartbeat": 1e12, "token": "c"}))
    with pytest.raises(UsageError, match="pid 7 on host 'elsewhere'"):
        _lease.acquire(run)


def test_a_node_log_has_its_own_lease(tmp_path: Path) -> None:
    path = tmp_path / "run" / "system-n1.tlog"
    first_problems: list[tuple[str, str]] = []
    second_problems: list[tuple[str, str]] = []
    first, second = NodeLog(path, first_problems), NodeLog(path, second_problems)
    first.write([R.SYSTEM, [[1.0, {"cpu": 1.0}]]])
    assert _lease.held(path)
    assert not _lease.held(tmp_path / "run" / "run.tlog")
    second.write([R.SYSTEM, [[2.0, {"cpu": 2.0}]]])  # dropped with a problem, never interleaved
    assert [key for key, _ in second_problems] == ["node-log"]
    assert "already being written" in second_problems[0][1]
    first.close()
    assert first_problems == []
    assert not _lease.held(path)


def test_resume_timeout_is_validated(root: Path) -> None:
    with pytest.raises(UsageError, match="resume_timeout"):
        tracker.init(project="p", resume_timeout=-1)
    with pytest.raises(UsageError, match="resume_timeout"):
        tracker.init(project="p", settings={"resume_timeout": "soon"})
    assert not (root / "projects").exists()


def test_auto_identity_is_the_whole_command_line_and_the_job(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", "0.1"])
    base = _init._auto_resume_file(root)
    assert _init._auto_resume_file(root) == base
    monkeypatch.setattr(sys, "argv", ["train.py", "0.01"])
    assert _init._auto_resume_file(root) != base
    monkeypatch.setattr(sys, "argv", ["train.py", "0.1"])
    seen = {base}
    for name, value in (
        ("SLURM_ARRAY_TASK_ID", "3"),
        ("SLURM_JOB_ID", "41"),
        ("TORCHELASTIC_RUN_ID", "r"),
        ("JOB_COMPLETION_INDEX", "2"),
    ):
        monkeypatch.setenv(name, value)
        path = _init._auto_resume_file(root)
        assert path not in seen
        seen.add(path)


def test_an_auto_file_of_the_old_format_is_ignored(root: Path) -> None:
    run = tracker.init(project="auto", id="old1", settings={"stats_interval": 0})
    run.log({"x": 1})
    run.finish()
    # A record written by an older tracker (cwd + argv[0] only) points at that run.
    key = f"{os.getcwd()}\0{sys.argv[0]}".encode()
    old = root / ".resume" / (hashlib.sha1(key, usedforsecurity=False).hexdigest()[:16] + ".id")
    old.parent.mkdir(parents=True)
    old.write_text("auto/old1")
    fresh = tracker.init(project="auto", resume="auto", settings={"stats_interval": 0})
    assert fresh.id != "old1"
    assert not fresh.resumed
    fresh.finish()


def test_resume_auto_under_a_launcher_never_makes_a_second_writer(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashed = tracker.init(project="auto", id="crashed", settings={"stats_interval": 0})
    crashed.finish()
    record = _init._auto_resume_file(root)
    record.parent.mkdir(parents=True)
    record.write_text("auto/crashed")
    for key, value in dict(TORCHELASTIC_RUN_ID="job", RANK="1", LOCAL_RANK="1", WORLD_SIZE="2").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(_distributed, "_derived_count", 0)
    run = tracker.init(project="auto", resume="auto", settings={"stats_interval": 0})
    assert isinstance(run, _distributed.NodeRun)
    assert run.id == "job"
    run.finish()
