"""Run state from real processes: a live run reads ``running``, a SIGKILLed one ``crashed``."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tracker.api import Api

VICTIM = """\
import sys

import tracker

run = tracker.init(project="state", id=sys.argv[1])
for i in range(10):
    run.log({"x": float(i)})
print("ready", flush=True)
sys.stdin.readline()  # block until the parent says otherwise (or kills us)
run.finish()
print("finished", flush=True)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_killed_run_reads_as_crashed(
    spawn: Callable[..., Any], write_script: Callable[[str, str], Path]
) -> None:
    script = write_script("victim.py", VICTIM)
    victim = spawn(script, "killed")
    victim.expect_line("ready")
    api = Api()
    assert api.run("state/killed").state == "running"
    victim.kill()
    assert victim.wait() == -signal.SIGKILL
    run = api.run("state/killed")
    assert run.state == "crashed"
    rows = run.history(pandas=False)
    assert [r["x"] for r in rows] == [float(i) for i in range(len(rows))]  # whatever was written, intact
    assert [r.id for r in api.runs("state", filters={"state": "crashed"})] == ["killed"]


def test_finished_run_reads_as_finished(
    spawn: Callable[..., Any], write_script: Callable[[str, str], Path]
) -> None:
    script = write_script("victim.py", VICTIM)
    victim = spawn(script, "clean")
    victim.expect_line("ready")
    assert Api().run("state/clean").state == "running"
    assert victim.proc.stdin is not None
    victim.proc.stdin.write(b"go\n")
    victim.proc.stdin.flush()
    victim.expect_line("finished")
    assert victim.wait() == 0
    run = Api().run("state/clean")
    assert run.state == "finished"
    assert [r["x"] for r in run.history(pandas=False)] == [float(i) for i in range(10)]
