"""Sweep hand-off with real subprocesses: W&B's cross-validation shape, duplicate ids, run timeouts.

W&B's ``examples/wandb-sweeps/sweeps-cross-validation`` (MIT): the sweep's program forks one
worker per fold *before* its own ``init``; each worker clears ``WANDB_*`` (not ``TRACKER_*``)
and starts a run of its own in the sweep run's group; the parent averages the folds' metric
into the sweep run. The program below keeps that shape (written for this project).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import tracker

CROSS_VALIDATION = textwrap.dedent(
    """
    import multiprocessing, os, queue, random
    import tracker

    def reset_wandb_env():
        for key in list(os.environ):
            if key.startswith("WANDB_") and key not in {"WANDB_PROJECT", "WANDB_ENTITY", "WANDB_API_KEY"}:
                del os.environ[key]

    def fold(sweep_q, worker_q):
        reset_wandb_env()
        num, sweep_id, sweep_run_name, config = worker_q.get()
        name = f"{sweep_run_name}-{num}"
        run = tracker.init(group=sweep_id, job_type=sweep_run_name, name=name, config=config)
        val_accuracy = 0.1 * (num + 1) + config["lr"]
        run.log({"val_accuracy": val_accuracy})
        tracker.join()
        sweep_q.put(val_accuracy)

    if __name__ == "__main__":
        ctx = multiprocessing.get_context("fork")
        sweep_q = ctx.Queue()
        workers = []
        for num in range(3):  # spun up before init, as W&B's example does
            q = ctx.Queue()
            p = ctx.Process(target=fold, kwargs=dict(sweep_q=sweep_q, worker_q=q))
            p.start()
            workers.append((q, p))
        sweep_run = tracker.init()
        metrics = []
        for num, (q, p) in enumerate(workers):
            q.put((num, sweep_run.sweep_id, sweep_run.name, dict(sweep_run.config)))
            metrics.append(sweep_q.get(timeout=60))  # W&B's example waits forever
            p.join()
        sweep_run.log({"val_accuracy": sum(metrics) / len(metrics)})
        tracker.join()
    """
)


def _agent(root: Path, sweep_id: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracker", "agent", sweep_id, "--count", "1"],
        cwd=root.parent,
        env={**os.environ, "TRACKER_DIR": str(root), **env},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_cross_validation_folds_start_their_own_runs(root: Path, tmp_path: Path) -> None:
    script = tmp_path / "cv.py"
    script.write_text(CROSS_VALIDATION)
    sweep_id = tracker.sweep(
        {
            "method": "grid",
            "program": str(script),
            "metric": {"name": "val_accuracy", "goal": "maximize"},
            "parameters": {"lr": {"values": [0.5]}},
        },
        project="cv",
    )
    # The limit only guards this test: before the fix the program never ended.
    proc = _agent(root, sweep_id, TRACKER_SWEEP_RUN_TIMEOUT="150")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "run_timeout" not in proc.stderr
    runs = {r.id: r for r in tracker.Api().runs("cv")}
    (sweep_run,) = [r for r in runs.values() if r.sweep_id == sweep_id]
    folds = sorted((r for r in runs.values() if r.sweep_id is None), key=lambda r: r.name)
    assert [r.name for r in folds] == [f"{sweep_run.name}-{n}" for n in range(3)]
    assert all(r.group == sweep_id and r.state == "finished" for r in folds)
    assert all(r.config["lr"] == 0.5 for r in folds)
    fold_accuracy = [r.summary["val_accuracy"] for r in folds]
    assert fold_accuracy == pytest.approx([0.6, 0.7, 0.8])
    assert sweep_run.state == "finished"
    assert sweep_run.summary["val_accuracy"] == pytest.approx(0.7)


def test_duplicate_run_id_fails_fast_naming_the_writer(root: Path, tmp_path: Path) -> None:
    run = tracker.init(project="dup", id="twin01", resume="allow")
    code = "import tracker; tracker.init(project='dup', id='twin01', resume='allow')"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    elapsed = time.monotonic() - started
    run.finish()
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "twin01" in last
    assert f"pid {os.getpid()}" in last
    assert elapsed < 60  # no waiting for the writer unless resume_timeout asks for it


HANGS = textwrap.dedent(
    """
    import threading, tracker
    run = tracker.init()
    run.log({"started": 1})
    threading.Event().wait()  # never set: as a parent waiting forever on a fold that died
    """
)


def test_agent_stops_a_run_past_its_timeout(root: Path, tmp_path: Path) -> None:
    script = tmp_path / "hangs.py"
    script.write_text(HANGS)
    sweep_id = tracker.sweep(
        {"method": "grid", "program": str(script), "parameters": {"a": {"values": [1]}}}, project="slow"
    )
    proc = _agent(root, sweep_id, TRACKER_SWEEP_RUN_TIMEOUT="3")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "run_timeout" in proc.stderr or "TRACKER_SWEEP_RUN_TIMEOUT" in proc.stderr
    (run,) = tracker.Api().runs("slow")
    assert run.state == "killed"
    assert run.summary["started"] == 1


def test_function_agent_stops_a_run_past_its_timeout(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    from tracker.sweeps import _agent

    monkeypatch.setattr(_agent, "POLL_S", 0.05)
    sweep_id = tracker.sweep({"method": "grid", "parameters": {"a": {"values": [1]}}}, project="slowfn")
    logged = []

    def train() -> None:
        run = tracker.init()
        pace = threading.Event()  # never set: paces the loop, synchronises nothing
        while True:  # a training loop that would never end; its next log() after the limit raises
            run.log({"i": len(logged)})
            logged.append(1)
            pace.wait(0.01)

    assert tracker.agent(sweep_id, function=train, count=1, run_timeout=0.3) == 1
    (run,) = tracker.Api().runs("slowfn")
    assert run.state == "killed"
    assert run.summary["i"] == len(logged) - 1
    assert any("run_timeout=0.3s" in r.getMessage() for r in caplog.records)
