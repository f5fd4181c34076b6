"""Several processes creating the same SQLite store at the same moment all succeed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from tracker.storage._sqlite_state import SQLiteStateStore
store = SQLiteStateStore(sys.argv[1])
sys.stdin.readline()  # released together by the parent
store.edit_run("p", sys.argv[2], tags=["t"])
print("ok", flush=True)
"""


def test_concurrent_first_open_never_reports_locked(tmp_path: Path) -> None:
    for round_ in range(3):
        db = tmp_path / f"round{round_}" / "state.sqlite"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", SCRIPT, str(db), f"r{i}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(6)
        ]
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-2000:]
            assert out.strip() == "ok"
