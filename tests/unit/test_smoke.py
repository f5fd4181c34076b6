from __future__ import annotations

import math
from pathlib import Path

import tracker
from tracker._init import read_log


def test_log_and_read_back(root: Path) -> None:
    run = tracker.init(project="p", config={"lr": 0.1})
    for i in range(10):
        tracker.log({"loss": 1.0 / (i + 1), "nan": math.nan})
    run.finish()
    state = read_log(Path(run.dir) / "run.tlog")
    assert [r[0] for r in state.rows] == list(range(10))
    assert state.rows[3][2]["loss"] == 0.25
    assert math.isnan(state.rows[0][2]["nan"])
    assert state.exit is not None
    assert state.exit["state"] == "finished"
    assert state.config == {"lr": 0.1}
    assert str(root) in run.dir
