"""A crashed run's define_metric aggregate survives resume, glob metric names included.

The writer's resume path and the index read the same log; they must agree on the summary.
Issue 15's symptom: ``define_metric("val/*", summary="max")``, log 9.0 then 2.0, SIGKILL,
resume: the resumed run's summary said 2.0 (exact-name match) while ``Api`` said 9.0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import tracker

VICTIM = """\
import os
import signal
import sys

import tracker

run = tracker.init(project="resum", id=sys.argv[1])
run.define_metric(sys.argv[2], summary="max")
run.log({"val/loss": 9.0, "train/loss": 5.0})
run.log({"val/loss": 2.0, "train/loss": 4.0})
run.summary.update({"note": "x"})  # a SUMMARY record mid-run: later rows form the tail
run.log({"val/loss": 3.0, "train/loss": 3.0})
run.log({"val/loss": 2.5, "train/loss": 2.0})
assert run._writer.flush(30)
os.kill(os.getpid(), signal.SIGKILL)
"""

MAX = {"max": 9.0}  # a define_metric aggregate is stored as {summary: value}


def crash(tmp_path: Path, root: Path, run_id: str, pattern: str) -> None:
    """Run the victim: it logs, flushes and SIGKILLs itself (never finishes)."""
    script = tmp_path / "victim.py"
    script.write_text(VICTIM)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "WANDB_"))}
    env.update(TRACKER_DIR=str(root), TRACKER_STRICT="1", TRACKER_CONSOLE="off", TRACKER_DISABLE_GIT="1")
    proc = subprocess.run(
        [sys.executable, str(script), run_id, pattern], env=env, cwd=tmp_path, capture_output=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode(errors="replace")


@pytest.mark.parametrize("pattern", ["val/*", "val/loss"])
def test_max_aggregate_survives_resume_after_sigkill(root: Path, tmp_path: Path, pattern: str) -> None:
    crash(tmp_path, root, "crashed", pattern)
    assert tracker.Api().run("resum/crashed").summary["val/loss"] == MAX

    run = tracker.init(project="resum", id="crashed", resume="must")
    assert run.resumed
    assert run.summary["val/loss"] == MAX
    assert run.summary["train/loss"] == 2.0  # no aggregate: the latest value wins
    run.define_metric(pattern, summary="max")  # as in W&B, a resumed session defines its metrics again
    run.log({"val/loss": 1.0, "train/loss": 1.0})
    assert run.summary["val/loss"] == MAX
    run.finish()

    summary = tracker.Api().run("resum/crashed").summary
    assert summary["val/loss"] == MAX
    assert summary["train/loss"] == 1.0
