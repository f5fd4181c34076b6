"""tracker.api: the read side, shaped like W&B's public API (``wandb.Api``).

``tracker.Api()`` reads runs, histories, summaries and configs from the local data
root through an incremental index, safely while runs are still writing::

    api = tracker.Api()
    for run in api.runs("demo", filters={"summary_metrics.acc": {"$gt": 0.9}}):
        print(run.id, run.state, run.summary["acc"])
    df = api.run("demo/abc123").history(keys=["loss"], samples=1000)

Importing this package loads only the standard library; numpy, pandas and the SQLite
index load on first use.
"""

from __future__ import annotations

from tracker.api._api import Api, Project
from tracker.api._run import Run, Runs

__all__ = ["Api", "Project", "Run", "Runs"]
