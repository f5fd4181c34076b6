"""The SIGTERM handler imports nothing: a signal may arrive while another import holds the lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

VICTIM = textwrap.dedent(
    """
    import os, signal, sys

    def chained(signum, frame):  # tracker's handler calls it after finishing the run
        print("NEW", sorted(set(sys.modules) - before), flush=True)

    signal.signal(signal.SIGTERM, chained)
    import tracker

    run = tracker.init(project="p", id="sig", settings={"stats_interval": 0, "disable_git": True})
    run.config.update({"lr": 0.1})
    run.log({"loss": 1.0})
    run.summary["best"] = 1.0  # flushes the writer: everything queued so far is written
    run._writer.captured.wait(30)  # run capture (packages, host) has finished importing
    before = set(sys.modules)
    os.kill(os.getpid(), signal.SIGTERM)
    print("STATE", run.exit_state, run.finished, flush=True)
    """
)


def test_the_sigterm_handler_loads_no_module(root: Path, tmp_path: Path) -> None:
    script = tmp_path / "victim.py"
    script.write_text(VICTIM)
    env = {**os.environ, "TRACKER_SWEEP_ID": "sw1"}  # the sweep stop-file check runs too
    done = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "NEW []" in lines, done.stdout
    assert "STATE preempted True" in lines, done.stdout
