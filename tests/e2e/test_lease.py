"""One writer per run (issue 14.3), with real processes: the run's lease end to end.

Victims report on stdout and wait for lines on stdin; the parent synchronises on those
lines only. ``W <step>``: the writer's ``write()`` of every row up to ``<step>`` returned.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.errors import UsageError
from tracker.storage._format import read_frames
from tracker.storage._lease import held
from tracker.storage._replay import RunState

WRITER = """\
import os
import sys
import threading

import tracker
from tracker.errors import UsageError


def say(text):
    os.write(1, (text + "\\n").encode())


run_id, role = sys.argv[1], sys.argv[2]
if role in ("resume", "wait"):
    sys.stdin.readline()  # "go": resumers start together
if role == "wait":
    from tracker.storage._lease import held

    root = os.environ["TRACKER_DIR"]
    say(f"held {int(held(os.path.join(root, 'projects', 'lease', 'runs', run_id, 'run.tlog')))}")
kwargs = {"resume_timeout": 60.0} if role == "wait" else {}
try:
    run = tracker.init(project="lease", id=run_id, resume="allow", **kwargs)
except UsageError as exc:
    say("refused " + " ".join(str(exc).split()))
    sys.exit(3)
say(f"started {run.step} {int(run.resumed)}")
if role == "steady":  # log unpaced until told to stop
    run._writer.write_listeners.append(lambda step: os.write(1, b"W %d\\n" % step))
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    i = 0
    while not stop.is_set():
        run.log({"i": i, "session": 1})
        i += 1
elif role == "resume":
    sys.stdin.readline()  # holds the run until both resumers have reported
    for _ in range(20_000):
        run.log({"i": run.step, "session": 2})
elif role in ("crash", "hold", "fork"):
    for _ in range(100):
        run.log({"i": run.step, "session": 1})
    if role == "fork":
        # A DataLoader-style worker that exits at once, one that finishes the run and
        # exits through atexit, and one that outlives its parent.
        child = os.fork()
        if child == 0:
            tracker.log({"from": "child"})
            os._exit(0)
        os.waitpid(child, 0)
        child = os.fork()
        if child == 0:
            run.finish()
            sys.exit(0)
        os.waitpid(child, 0)
        child = os.fork()
        if child == 0:
            say(f"child {os.getpid()}")
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.read(0, 1)  # until the parent test closes stdin
            os._exit(0)
    run._writer.flush(30)
    say(f"ready {run.step}")
    if role == "crash":
        sys.stdin.read()  # until killed
    sys.stdin.readline()
    for _ in range(100):
        run.log({"i": run.step, "session": 1})
elif role == "wait":
    for _ in range(10):
        run.log({"i": run.step, "session": 2})
run.finish()
say(f"done {run.step}")
"""

TRAIN = """\
import os
import sys

import tracker


def say(text):
    os.write(1, (text + "\\n").encode())


lr = float(sys.argv[1])
run = tracker.init(project="auto", resume="auto", config={"lr": lr})
say(f"run {run.id} {run.step} {int(run.resumed)}")
for _ in range(100):
    run.log({"lr": lr})
run._writer.flush(30)
say("ready")
if sys.stdin.readline().strip() == "finish":
    run.finish()
    say("done")
else:
    sys.stdin.read()  # until killed
"""


@pytest.fixture(autouse=True)
def _no_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_DISABLE_GIT", "1")


def log_of(root: Path, run_id: str, project: str = "lease") -> Path:
    return root / "projects" / project / "runs" / run_id / "run.tlog"


def load(log: Path) -> tuple[Any, RunState]:
    read = read_frames(log)
    state = RunState()
    state.feed(read.records)
    return read, state


def steps(state: RunState) -> list[int]:
    return [row[0] for row in state.rows]


def send(victim: Any, line: str) -> None:
    victim.proc.stdin.write(line.encode() + b"\n")
    victim.proc.stdin.flush()


def started(victim: Any) -> tuple[int, int]:
    _, step, resumed = victim.expect(lambda t: t.startswith(("started", "refused")), "'started'").split()[:3]
    return int(step), int(resumed)


def test_a_second_writer_is_refused_and_the_live_log_stays_intact(
    root: Path, spawn: Callable[..., Any], write_script: Callable[[str, str], Path]
) -> None:
    script = write_script("writer.py", WRITER)
    first = spawn(script, "live", "steady")
    assert started(first) == (0, 0)
    first.expect(lambda t: t.startswith("W ") and int(t[2:]) >= 2000, "2000 rows written")
    second = spawn(script, "live", "hold")  # resume="allow" while the first still writes
    line = second.expect(lambda t: t.startswith(("started", "refused")), "'refused'")
    assert line.startswith("refused"), line
    assert f"pid {first.proc.pid} on host {os.uname().nodename!r}" in line
    assert "resume_timeout" in line
    assert second.wait() == 3
    send(first, "stop")
    last = int(first.expect(lambda t: t.startswith("done"), "'done'").split()[1])
    assert first.wait() == 0
    run_dir = log_of(root, "live").parent
    assert sorted(p.name for p in run_dir.iterdir() if ".torn-" in p.name) == []
    read, state = load(log_of(root, "live"))
    assert not read.torn
    assert steps(state) == list(range(last))
    assert state.sessions == 1
    assert state.exit is not None
    assert state.exit["state"] == "finished"


def test_two_simultaneous_resumes_of_a_crashed_run_one_wins(
    root: Path, spawn: Callable[..., Any], write_script: Callable[[str, str], Path]
) -> None:
    script = write_script("writer.py", WRITER)
    crashed = spawn(script, "twice", "crash")
    assert crashed.expect(lambda t: t.startswith("ready"), "'ready'") == "ready 100"
    crashed.kill()
    assert crashed.wait() == -signal.SIGKILL
    resumers = [spawn(script, "twice", "resume") for _ in range(2)]
    for victim in resumers:
        send(victim, "go")
    lines = [v.expect(lambda t: t.startswith(("started", "refused")), "an outcome") for v in resumers]
    assert sorted(line.split()[0] for line in lines) == ["refused", "started"], lines
    won = 0 if lines[0].startswith("started") else 1
    winner, loser = resumers[won], resumers[1 - won]
    assert lines[won] == "started 100 1"
    assert f"pid {winner.proc.pid} on host" in lines[1 - won]
    assert loser.wait() == 3
    send(winner, "log")
    winner.expect_line("done 20100")
    assert winner.wait() == 0
    read, state = load(log_of(root, "twice"))
    assert not read.torn
    assert steps(state) == list(range(100 + 20_000))
    assert state.sessions == 2


def test_resume_auto_keeps_concurrent_launches_apart_and_resumes_each_after_kill(
    root: Path, spawn: Callable[..., Any], write_script: Callable[[str, str], Path]
) -> None:
    script = write_script("train.py", TRAIN)

    def launch(lr: str) -> tuple[Any, tuple[str, int, int]]:
        victim = spawn(script, lr)
        _, run_id, step, resumed = victim.expect(lambda t: t.startswith("run "), "'run'").split()
        victim.expect_line("ready")
        return victim, (run_id, int(step), int(resumed))

    a, (run_a, step, resumed) = launch("0.1")
    assert (step, resumed) == (0, 0)
    b, (run_b, step, resumed) = launch("0.01")  # while the first still runs
    assert run_b != run_a
    assert (step, resumed) == (0, 0)
    c, (run_c, step, resumed) = launch("0.1")  # the same command twice at once
    assert run_c not in (run_a, run_b)
    assert (step, resumed) == (0, 0)
    for victim in (a, b, c):
        victim.kill()
        assert victim.wait() == -signal.SIGKILL
    for lr, expected in (("0.1", run_a), ("0.01", run_b)):
        victim, (run_id, step, resumed) = launch(lr)
        assert (run_id, step, resumed) == (expected, 100, 1)
        send(victim, "finish")
        victim.expect_line("done")
        assert victim.wait() == 0
        read, state = load(log_of(root, expected, "auto"))
        assert not read.torn
        assert steps(state) == list(range(200))
        assert {row[2]["lr"] for row in state.rows} == {float(lr)}
        assert state.config["lr"] == float(lr)


def test_the_lease_dies_with_a_killed_writer(
    root: Path, spawn: Callable[..., Any], write_script: Callable[[str, str], Path]
) -> None:
    script = write_script("writer.py", WRITER)
    victim = spawn(script, "dead", "crash")
    assert started(victim) == (0, 0)
    victim.expect_line("ready 100")
    log = log_of(root, "dead")
    assert held(log)
    with pytest.raises(UsageError, match=f"pid {victim.proc.pid} on host"):
        tracker.init(project="lease", id="dead", resume="allow")
    victim.kill()
    assert victim.wait() == -signal.SIGKILL
    assert not held(log)
    run = tracker.init(project="lease", id="dead", resume="allow")  # at once: no timeout
    assert run.resumed
    assert run.step == 100
    assert held(log)
    run.finish()
    assert not held(log)


def test_a_forked_child_neither_releases_nor_keeps_the_lease(
    root: Path, spawn: Callable[..., Any], write_script: Callable[[str, str], Path]
) -> None:
    script = write_script("writer.py", WRITER)
    victim = spawn(script, "forked", "fork")
    # The third child's line and the parent's race on the shared pipe: take both, in any order.
    seen: dict[str, str] = {}
    while len(seen) < 2:
        line = victim.expect(lambda t: t.startswith(("child ", "ready ")), "'child' and 'ready'")
        seen[line.split()[0]] = line
    child = int(seen["child"].split()[1])
    assert seen["ready"] == "ready 100"
    # Two children have exited (one through atexit, after run.finish()): still held.
    with pytest.raises(UsageError, match=f"pid {victim.proc.pid} on host"):
        tracker.init(project="lease", id="forked", resume="allow")
    victim.kill()
    assert victim.proc.wait(30) == -signal.SIGKILL
    os.kill(child, 0)  # the third child still runs, holding the parent's descriptors
    run = tracker.init(project="lease", id="forked", resume="allow")
    assert run.resumed
    assert run.step == 100
    run.finish()
    victim.wait()  # closes the child's stdin: it exits
    _read, state = load(log_of(root, "forked"))
    assert steps(state) == list(range(100))
    assert "from" not in {k for row in state.rows for k in row[2]}


def test_resume_timeout_waits_for_the_writer_to_finish(
    root: Path, spawn: Callable[..., Any], write_script: Callable[[str, str], Path]
) -> None:
    script = write_script("writer.py", WRITER)
    first = spawn(script, "queue", "hold")
    first.expect_line("ready 100")
    waiter = spawn(script, "queue", "wait")
    send(waiter, "go")
    waiter.expect_line("held 1")  # then it calls init(resume_timeout=60)
    send(first, "finish")
    first.expect_line("done 200")
    assert started(waiter) == (200, 1)
    waiter.expect_line("done 210")
    assert first.wait() == 0
    assert waiter.wait() == 0
    _read, state = load(log_of(root, "queue"))
    assert steps(state) == list(range(210))
    assert state.sessions == 2
