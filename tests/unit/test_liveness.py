"""Run state you can trust: a run without an exit record is running or crashed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest

from tracker.api import Api
from tracker.storage._liveness import STALE_AFTER, effective_state, process_alive, this_host

linux = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc (Linux)")


def own_start_time() -> int:
    with open("/proc/self/stat", "rb") as f:
        stat = f.read()
    return int(stat[stat.rindex(b")") + 2 :].split()[19])


def reaped_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(30)
    return proc.pid


@linux
def test_process_alive() -> None:
    assert process_alive(os.getpid(), own_start_time()) is True
    assert process_alive(os.getpid(), None) is True
    assert process_alive(os.getpid(), own_start_time() + 1) is False  # a recycled pid
    assert process_alive(reaped_pid(), None) is False
    assert process_alive(0, None) is False


@linux
def test_effective_state() -> None:
    now = 1_000_000.0
    here = this_host()
    mine = {"host": here, "pid": os.getpid(), "start_time": own_start_time()}
    assert effective_state("running", **mine, last_time=now - 5, now=now) == "running"
    assert effective_state("running", **mine, last_time=now - STALE_AFTER - 1, now=now) == "crashed"
    dead = {"host": here, "pid": reaped_pid(), "start_time": None}
    assert effective_state("running", **dead, last_time=now, now=now) == "crashed"
    remote = {"host": "another-host", "pid": 1, "start_time": None}
    assert effective_state("running", **remote, last_time=now - 60, now=now) == "running"
    assert effective_state("running", **remote, last_time=now - 91, now=now) == "crashed"
    for final in ("finished", "failed", "killed", "preempted"):
        assert effective_state(final, **dead, last_time=0.0, now=now) == final


@linux
def test_api_states_from_logs(logs: Any) -> None:
    now = time.time()
    logs.run("p", "live", created=now, host=this_host(), pid=os.getpid(), start_time=own_start_time())
    logs.run("p", "dead", created=now, host=this_host(), pid=reaped_pid())
    logs.run("p", "silent", created=now - 3600, host="another-host").heartbeat(now - 120)
    logs.run("p", "beating", created=now - 3600, host="another-host").heartbeat(now - 20)
    logs.run("p", "preempted", created=now).exit("preempted", 143)
    states = {r.id: r.state for r in Api().runs("p")}
    assert states == {"live": "running", "dead": "crashed", "silent": "crashed", "beating": "running",
                      "preempted": "preempted"}  # fmt: skip
