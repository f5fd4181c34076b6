"""Stopping sweep runs and agents: hyperband in-process and in the CLI agent, --cancel,
--pause/--resume/--stop, and a killed agent's grid point handed out again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.cli import main
from tracker.storage._liveness import process_alive
from tracker.sweeps import GridSampler, Observation, SweepRunStopped, _agent, parse_config
from tracker.sweeps._grid import RETRY_SUFFIX

GUARD_S = 60.0


def _wait_for(cond: Callable[[], bool], timeout: float = GUARD_S) -> None:
    """Wait until ``cond()`` holds; the timeout is only a guard against hanging."""
    tick = threading.Event()
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        tick.wait(0.01)


@pytest.fixture(autouse=True)
def _fast_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_agent, "POLL_S", 0.05)


def _states(project: str) -> dict[Any, list[str]]:
    out: dict[Any, list[str]] = {}
    for run in tracker.Api().runs(project):
        out.setdefault(run.config.get("v"), []).append(run.state)
    return {k: sorted(v) for k, v in out.items()}


HYPERBAND = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    # Bands 2, 6, 18, 54, 162, 486, ...: at each band the threshold is the best value (index
    # floor(2/3) = 0). The good run logs 200 values, so the bad one is stopped at whichever
    # band up to 162 it has reached when checked (alone at a band, a run is never stopped).
    "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 3},
    "parameters": {"v": {"values": [0, 10]}},
}


def test_hyperband_stops_an_in_process_run_at_its_next_log() -> None:
    sid = tracker.sweep(HYPERBAND, project="hb")
    seen: list[str] = []

    def train() -> None:
        run = tracker.init()
        v = run.config["v"]
        if v == 0:
            for _ in range(200):
                run.log({"loss": 0.0})
            return
        tick = threading.Event()
        deadline = time.monotonic() + GUARD_S
        try:
            while time.monotonic() < deadline:
                try:
                    run.log({"loss": float(v)})
                except Exception:  # training code's broad handler must not swallow the stop
                    seen.append("swallowed")
                tick.wait(0.01)
        except SweepRunStopped as exc:
            seen.append(exc.state)
            raise
        seen.append("not stopped")

    assert tracker.agent(sid, function=train) == 2
    assert seen == ["stopped"]
    assert _states("hb") == {0: ["finished"], 10: ["stopped"]}
    assert tracker.Api().sweep(sid).state == "finished"


def test_cancel_kills_the_in_process_run_and_ends_the_agent() -> None:
    sid = tracker.sweep({"method": "random", "parameters": {"v": {"values": [1]}}}, project="cx")
    seen: list[str] = []

    def train() -> None:
        run = tracker.init()
        run.log({"loss": 1.0})
        assert main(["sweep", "--cancel", sid]) == 0
        tick = threading.Event()
        deadline = time.monotonic() + GUARD_S
        try:
            while time.monotonic() < deadline:
                run.log({"loss": 1.0})
                tick.wait(0.01)
        except SweepRunStopped as exc:
            seen.append(exc.state)
            raise

    assert tracker.agent(sid, function=train, count=5) == 1
    assert seen == ["killed"]
    assert _states("cx") == {1: ["killed"]}
    assert tracker.Api().sweep(sid).state == "cancelled"


PROGRAM = textwrap.dedent(
    """
    import pathlib, subprocess, sys, threading, time, tracker
    run = tracker.init()
    v = run.config["v"]
    if v == 0:
        for _ in range(200):
            run.log({"loss": 0.0})
        run.finish()
        sys.exit(0)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    pathlib.Path("grandchild.pid").write_text(str(child.pid))
    tick = threading.Event()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run.log({"loss": float(v)})
        tick.wait(0.02)
    sys.exit(3)  # never stopped: the test fails on the state
    """
)


def test_cli_agent_stops_the_runs_process_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "train.py").write_text(PROGRAM)
    monkeypatch.chdir(tmp_path)
    sid = tracker.sweep(
        {**HYPERBAND, "program": "train.py", "command": ["${env}", "${interpreter}", "${program}"]},
        project="cli",
    )
    assert main(["agent", sid]) == 0
    assert _states("cli") == {0: ["finished"], 10: ["stopped"]}
    grandchild = int((tmp_path / "grandchild.pid").read_text())
    _wait_for(lambda: process_alive(grandchild, None) is False)  # the whole group got SIGTERM


def test_grid_dead_claim_is_handed_out_exactly_once_more() -> None:
    g = GridSampler(parse_config({"method": "grid", "parameters": {"v": {"values": [1, 2]}}}))
    first = g.suggest([], index=0)
    assert first is not None
    assert first.key is not None
    key = first.key
    one = {("v",): 1}
    # A crashed run nobody of this sweep claimed: W&B's rule, the point is done.
    assert g.suggest([Observation("a", "crashed", one)], index=1).params[("v",)] == 2
    # A dead claim (its run crashed): the point comes back once, under a distinct key.
    retry = g.suggest([Observation("a", "crashed", one)], index=1, taken=[key], dead=[key])
    assert retry is not None
    assert retry.params[("v",)] == 1
    assert retry.key == key + RETRY_SUFFIX
    # The crashed run's config never reached its log: the dead claim alone decides.
    retry = g.suggest([Observation("a", "crashed", {})], index=1, taken=[key], dead=[key])
    assert retry is not None
    assert retry.key == key + RETRY_SUFFIX
    # A live claim, a failed run, a point with a running run, or a retry already claimed: done.
    for runs, taken, dead in (
        ([Observation("a", "running", one)], [key], []),
        ([Observation("a", "failed", one)], [key], []),
        ([Observation("a", "crashed", one), Observation("b", "running", one)], [key], [key]),
        ([Observation("a", "crashed", one)], [key, key + RETRY_SUFFIX], [key]),
        (
            [Observation("a", "crashed", one), Observation("b", "crashed", one)],
            [key, key + RETRY_SUFFIX],
            [key],
        ),
    ):
        s = g.suggest(runs, index=2, taken=taken, dead=dead)
        assert s is not None
        assert s.params[("v",)] == 2


KILLED_WORKER = textwrap.dedent(
    """
    import pathlib, sys, threading, tracker
    def train():
        run = tracker.init()
        run.log({"loss": 1.0})
        pathlib.Path(sys.argv[2]).write_text(run.id)
        threading.Event().wait(120)  # SIGKILLed here
    tracker.agent(sys.argv[1], function=train)
    """
)


def test_killed_agents_grid_point_is_run_again_by_another_agent(tmp_path: Path) -> None:
    sid = tracker.sweep({"method": "grid", "parameters": {"v": {"values": [1, 2]}}}, project="kill")
    (tmp_path / "worker.py").write_text(KILLED_WORKER)
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, str(tmp_path / "worker.py"), sid, str(ready)])
    try:
        _wait_for(lambda: ready.exists() and bool(ready.read_text()))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=GUARD_S)
    dead = ready.read_text()
    assert tracker.Api().run(f"kill/{dead}").state == "crashed"

    def train() -> None:
        run = tracker.init()
        run.log({"loss": float(run.config["v"])})

    assert tracker.agent(sid, function=train) == 2
    runs = {r.id: r for r in tracker.Api().runs("kill")}
    assert runs.pop(dead).state == "crashed"  # its config may not have reached its log
    assert sorted((r.config["v"], r.state) for r in runs.values()) == [(1, "finished"), (2, "finished")]
    claims = tracker.Api().state.claims(sid)
    assert sum(1 for k in claims if k.endswith(RETRY_SUFFIX)) == 1
    assert tracker.Api().sweep(sid).state == "finished"


def _agent_thread(sid: str, train: Callable[[], None]) -> tuple[threading.Thread, dict[str, int]]:
    result: dict[str, int] = {}
    thread = threading.Thread(target=lambda: result.update(n=tracker.agent(sid, function=train)))
    thread.start()
    return thread, result


def test_paused_agent_waits_and_continues_after_resume(caplog: pytest.LogCaptureFixture) -> None:
    sid = tracker.sweep({"method": "grid", "parameters": {"v": {"values": [1, 2, 3]}}}, project="pz")
    assert main(["sweep", "--pause", sid]) == 0
    calls: list[int] = []

    def train() -> None:
        calls.append(tracker.init().config["v"])

    thread, result = _agent_thread(sid, train)
    try:
        _wait_for(lambda: "is paused" in caplog.text)
        assert calls == []
        assert thread.is_alive()
    finally:
        assert main(["sweep", "--resume", sid]) == 0
        thread.join(GUARD_S)
    assert not thread.is_alive()
    assert result == {"n": 3}
    assert calls == [1, 2, 3]


@pytest.mark.parametrize(("flag", "state"), [("--stop", "finished"), ("--cancel", "cancelled")])
def test_stop_or_cancel_ends_a_paused_agent(caplog: pytest.LogCaptureFixture, flag: str, state: str) -> None:
    sid = tracker.sweep({"method": "random", "parameters": {"v": {"values": [1]}}}, project="pe")
    calls: list[int] = []

    def train() -> None:
        calls.append(tracker.init().config["v"])
        if len(calls) == 1:
            assert main(["sweep", "--pause", sid]) == 0  # the run in progress goes on

    thread, result = _agent_thread(sid, train)
    try:
        _wait_for(lambda: "is paused" in caplog.text)
        assert calls == [1]
        assert thread.is_alive()
    finally:
        assert main(["sweep", flag, sid]) == 0
        thread.join(GUARD_S)
    assert not thread.is_alive()
    assert result == {"n": 1}
    assert tracker.Api().sweep(sid).state == state
    assert _states("pe") == {1: ["finished"]}
