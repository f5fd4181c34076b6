"""Crash safety end to end: SIGKILL, SIGTERM and resuming, with real victim processes.

Victims report on stdout. ``W <step>``: a write listener saw the writer's ``write()`` of
every row up to ``<step>`` return (the data is in the page cache, so SIGKILL cannot lose
it). ``L <step>``: ``log()`` returned for ``<step>`` (the row is queued; a clean or
SIGTERM exit must write it). The listener uses one ``os.write`` per line so that the
writer thread's lines never interleave with the main thread's.
"""

from __future__ import annotations

import gc
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.errors import RunNotFoundError
from tracker.storage._format import LogRead, read_frames
from tracker.storage._replay import RunState

KILL_TRIALS = 20
TERM_TRIALS = 4

KILL_VICTIM = """\
import os
import sys

import tracker

run = tracker.init(project="crash", id=sys.argv[1])
run._writer.write_listeners.append(lambda step: os.write(1, b"W %d\\n" % step))
log = run.log
i = 0
while True:  # unpaced: log() only waits when the writer falls 100,000 rows behind
    log({"loss": 1.0 / (i + 1), "i": i})
    i += 1
"""

TERM_VICTIM = """\
import os
import signal
import sys

import tracker

if sys.argv[2] == "user":
    def on_term(signum, frame):
        os.write(1, b"user handler\\n")
        sys.exit(7)

    signal.signal(signal.SIGTERM, on_term)
run = tracker.init(project="term", id=sys.argv[1])
run._writer.write_listeners.append(lambda step: os.write(1, b"W %d\\n" % step))
log = run.log
i = 0
while True:
    log({"i": i})
    if i % 1000 == 0:
        os.write(1, b"L %d\\n" % i)
    i += 1
"""

FIXED_VICTIM = """\
import os
import sys

import tracker

run = tracker.init(project="crash", id=sys.argv[1])
for step in range(int(sys.argv[2]) + 1):
    run.log({"i": step, "session": 1})
flushed = run._writer.flush(30)
os.write(1, b"ready %d %d\\n" % (run.step, flushed))
sys.stdin.read()  # block until the parent kills us
"""

AUTO_VICTIM = """\
import os
import sys

import tracker

# On stdin, not argv: resume="auto" knows a launch by its whole command line.
mode, n = sys.stdin.readline().split()
n = int(n)
run = tracker.init(project="auto", resume="auto")
os.write(1, f"run {run.id} {run.step} {int(run.resumed)}\\n".encode())
for _ in range(n):
    run.log({"i": run.step})
if mode == "crash":
    flushed = run._writer.flush(30)
    os.write(1, b"ready %d\\n" % flushed)
    sys.stdin.read()  # block until the parent kills us
else:
    run.finish()
    os.write(1, b"done\\n")
"""


@pytest.fixture(autouse=True)
def _no_git(monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process runs would otherwise run `git diff` on this checkout in the writer thread.
    monkeypatch.setenv("TRACKER_DISABLE_GIT", "1")


def load(log: Path) -> tuple[LogRead, RunState]:
    # Up to a million rows of small lists and dicts: the cyclic GC would rescan them many
    # times over and triple the read time, and none of them can form a cycle.
    gc.disable()
    try:
        read = read_frames(log)
        state = RunState()
        state.feed(read.records)
    finally:
        gc.enable()
    return read, state


def steps(rows: list[list[Any]]) -> list[int]:
    return [row[0] for row in rows]


def log_path(root: Path, project: str, run_id: str) -> Path:
    return root / "projects" / project / "runs" / run_id / "run.tlog"


def kill_when_ready(victim: Any) -> str:
    line = victim.expect(lambda text: text.startswith("ready"), "'ready'")
    victim.kill()
    assert victim.wait() == -signal.SIGKILL
    return str(line)


def resume_and_log(project: str, run_id: str, n: int, **kwargs: Any) -> int:
    """Resume in this process, log ``n`` rows tagged session 2, finish; return the first step."""
    run = tracker.init(project=project, id=run_id, **kwargs)
    first = run.step
    assert run.resumed
    for _ in range(n):
        run.log({"i": run.step, "session": 2})
    run.finish()
    return first


# ---------------------------------------------------------------------------- SIGKILL


@pytest.mark.slow
def test_sigkill_at_random_moments_keeps_every_written_step(
    root: Path, spawn: Callable[..., Any], write_script: Callable[[str, str], Path]
) -> None:
    rng = random.Random(1500)
    script = write_script("kill_victim.py", KILL_VICTIM)
    torn_seen = 0
    for trial in range(KILL_TRIALS):
        run_id = f"kill{trial}"
        victim = spawn(script, run_id)
        victim.expect(lambda text: text.startswith("W ") and int(text[2:]) >= 0, "a write ack")
        # The kill moment: the victim must still be running when it comes.
        with pytest.raises(subprocess.TimeoutExpired):
            victim.proc.wait(rng.uniform(0.05, 1.0))
        victim.kill()
        assert victim.wait() == -signal.SIGKILL
        last_ack = max(victim.acks("W "))
        log = log_path(root, "crash", run_id)

        read, state = load(log)
        got = steps(state.rows)
        assert got == list(range(len(got))), f"trial {trial}: steps lost, duplicated or out of order"
        assert len(got) > last_ack, f"trial {trial}: acknowledged step {last_ack} missing"
        assert all(row[2]["i"] == row[0] for row in state.rows)
        assert state.exit is None
        assert state.state == "running"
        tail = log.read_bytes()[read.end :] if read.torn else b""
        torn_seen += read.torn

        first = resume_and_log("crash", run_id, 100, resume="must")
        assert first == len(got)
        # Read on from where the first read stopped, as an incremental reader would: the
        # repair truncated the torn tail there, so the new session starts exactly there.
        more = read_frames(log, offset=read.end)
        assert not more.torn
        assert more.records[0][0] == read.end
        state.feed(more.records)
        assert steps(state.rows) == list(range(len(got) + 100)), f"trial {trial}: bad append"
        assert state.exit is not None
        assert state.exit["state"] == "finished"
        assert state.sessions == 2
        aside = log.with_name(f"run.tlog.torn-{read.end}")
        assert aside.is_file() == bool(tail)
        if tail:
            assert aside.read_bytes() == tail
        shutil.rmtree(log.parent)  # keep the temp dir small: each log holds up to ~1M rows
    # Informational: a kill during a large write() may leave a partial frame.
    print(f"torn tails in {torn_seen}/{KILL_TRIALS} kills")


# ---------------------------------------------------------------------------- SIGTERM


@pytest.mark.slow
@pytest.mark.parametrize("handler", ["default", "user"])
def test_sigterm_records_preempted_and_keeps_every_logged_step(
    root: Path, spawn: Callable[..., Any], write_script: Callable[[str, str], Path], handler: str
) -> None:
    rng = random.Random(f"sigterm-{handler}")
    script = write_script("term_victim.py", TERM_VICTIM)
    for trial in range(TERM_TRIALS if handler == "default" else 2):
        run_id = f"term-{handler}-{trial}"
        victim = spawn(script, run_id, handler)
        target = rng.randrange(5_000, 150_000)
        victim.expect(lambda text, t=target: text.startswith("L ") and int(text[2:]) >= t, "progress")
        sent = time.monotonic()
        victim.signal(signal.SIGTERM)
        code = victim.wait(10)
        elapsed = time.monotonic() - sent
        assert elapsed < 2.5, f"the victim took {elapsed:.2f} s to exit after SIGTERM"
        if handler == "default":
            # tracker's handler chains to the default action: death by SIGTERM.
            assert code == -signal.SIGTERM, victim.diagnostics()
        else:
            assert code == 7, victim.diagnostics()
            assert "user handler" in victim.lines
        last_logged = max(victim.acks("L "))

        read, state = load(log_path(root, "term", run_id))
        assert not read.torn
        got = steps(state.rows)
        assert got == list(range(len(got)))
        assert len(got) > last_logged, f"logged step {last_logged} missing after SIGTERM"
        assert state.exit is not None, victim.diagnostics()
        assert state.exit["state"] == "preempted"
        assert state.exit["exit_code"] == 128 + signal.SIGTERM
        assert state.summary["_step"] == got[-1]


def test_finish_from_a_handler_that_interrupted_backpressure(root: Path) -> None:
    # A SIGTERM handler runs in the main thread, possibly while log() is waiting for the
    # writer under backpressure and holds the writer's `drained` lock. The writer must
    # still drain, write the exit record and stop within the preemption budget.
    run = tracker.init(project="term", id="held")
    for i in range(1000):
        run.log({"i": i})
    assert run._writer is not None
    with run._writer.drained:
        run.mark_preempted()
        run.finish(exit_code=128 + signal.SIGTERM)
    read, state = load(log_path(root, "term", "held"))
    assert not read.torn
    assert steps(state.rows) == list(range(1000))
    assert state.exit is not None
    assert state.exit["state"] == "preempted"


# ---------------------------------------------------------------------------- resume


def test_resume_must_continues_a_finished_run(root: Path) -> None:
    run = tracker.init(project="p", id="done", config={"lr": 0.1})
    for i in range(100):
        run.log({"i": i, "session": 1})
    run.finish()
    first = resume_and_log("p", "done", 50, resume="must")
    assert first == 100
    read, state = load(log_path(root, "p", "done"))
    assert not read.torn
    assert steps(state.rows) == list(range(150))
    assert [r[2]["session"] for r in state.rows] == [1] * 100 + [2] * 50
    assert state.sessions == 2
    assert state.exit is not None
    assert state.exit["state"] == "finished"
    assert state.config == {"lr": 0.1}
    assert state.summary["_step"] == 149
    assert state.summary["i"] == 149


def test_resume_must_continues_a_killed_run(
    root: Path, spawn: Callable[..., Any], write_script: Callable[[str, str], Path]
) -> None:
    victim = spawn(write_script("fixed_victim.py", FIXED_VICTIM), "killed", "999")
    assert kill_when_ready(victim) == "ready 1000 1"
    first = resume_and_log("crash", "killed", 500, resume="must")
    assert first == 1000
    read, state = load(log_path(root, "crash", "killed"))
    assert not read.torn
    assert steps(state.rows) == list(range(1500))
    assert [r[2]["i"] for r in state.rows] == list(range(1500))
    assert state.superseded == []
    assert state.exit is not None
    assert state.exit["state"] == "finished"


def test_resume_must_unknown_id_raises(root: Path) -> None:
    with pytest.raises(RunNotFoundError, match="no-such-run") as info:
        tracker.init(project="p", id="no-such-run", resume="must")
    assert info.value.run_id == "no-such-run"
    assert not (root / "projects" / "p" / "runs" / "no-such-run").exists()


def test_resume_from_after_sigkill_supersedes_the_rewound_steps(
    root: Path, spawn: Callable[..., Any], write_script: Callable[[str, str], Path]
) -> None:
    # The scenario: killed at step 1,500, continued from step 1,000 to 2,000.
    victim = spawn(write_script("fixed_victim.py", FIXED_VICTIM), "rewound", "1500")
    assert kill_when_ready(victim) == "ready 1501 1"
    run = tracker.init(project="crash", resume_from="rewound?_step=1000")
    assert run.id == "rewound"
    assert run.resumed
    assert run.step == 1001
    while run.step <= 2000:
        run.log({"i": run.step, "session": 2})
    run.finish()

    read, state = load(log_path(root, "crash", "rewound"))
    assert not read.torn
    assert steps(state.rows) == list(range(2001))
    assert [r[2]["session"] for r in state.rows] == [1] * 1001 + [2] * 1000
    assert steps(state.superseded) == list(range(1001, 1501))
    assert all(r[2]["session"] == 1 for r in state.superseded)
    assert state.max_step == 2000
    assert state.summary["_step"] == 2000
    assert state.summary["session"] == 2
    assert state.exit is not None
    assert state.exit["state"] == "finished"


# ---------------------------------------------------------------------------- resume="auto"


def test_resume_auto_continues_a_crashed_run_of_the_same_program(
    root: Path, tmp_path: Path, spawn: Callable[..., Any], write_script: Callable[[str, str], Path]
) -> None:
    script = write_script("auto_victim.py", AUTO_VICTIM)
    other = write_script("other_program.py", AUTO_VICTIM)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def start(path: Path, mode: str, n: int, cwd: Path | None = None) -> tuple[Any, tuple[str, int, int]]:
        victim = spawn(path, cwd=cwd)
        victim.proc.stdin.write(f"{mode} {n}\n".encode())
        victim.proc.stdin.flush()
        _, run_id, step, resumed = victim.expect(lambda t: t.startswith("run "), "'run'").split()
        return victim, (run_id, int(step), int(resumed))

    # First session crashes after 300 steps.
    victim, (crashed, step, resumed) = start(script, "crash", 300)
    assert (step, resumed) == (0, 0)
    assert kill_when_ready(victim) == "ready 1"

    # Another program, or the same one from another directory, starts a new run.
    for path, cwd in ((other, None), (script, elsewhere)):
        victim, (run_id, step, resumed) = start(path, "finish", 1, cwd)
        victim.expect_line("done")
        assert victim.wait() == 0
        assert run_id != crashed
        assert (step, resumed) == (0, 0)

    # The same program in the same directory picks the crashed run up where it stopped.
    victim, (run_id, step, resumed) = start(script, "finish", 200)
    victim.expect_line("done")
    assert victim.wait() == 0
    assert (run_id, step, resumed) == (crashed, 300, 1)
    read, state = load(log_path(root, "auto", crashed))
    assert not read.torn
    assert steps(state.rows) == list(range(500))
    assert state.sessions == 2
    assert state.exit is not None
    assert state.exit["state"] == "finished"

    # That run finished cleanly, so the next start is a new run.
    victim, (run_id, step, resumed) = start(script, "finish", 1)
    victim.expect_line("done")
    assert victim.wait() == 0
    assert run_id != crashed
    assert (step, resumed) == (0, 0)
