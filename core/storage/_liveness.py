"""Run state you can trust: is a run without an exit record still running?

A run log ends with an exit record when the run finishes (``finished``, ``failed``,
``killed``, ``preempted``). Without one, the run is either running or its process died
(kill -9, OOM killer, power loss). It is ``crashed`` when

* it was started on this host and no process with the recorded pid *and* start time
  exists (the start time rules out a recycled pid), or
* its last record or heartbeat (written every 30 s while idle) is older than
  :data:`STALE_AFTER` seconds; on another host this is the only test available.
"""

from __future__ import annotations

import os
import time
from typing import Final

__all__: list[str] = []

#: Seconds without any record or heartbeat after which a run without an exit is crashed.
STALE_AFTER: Final = 90.0
RUNNING: Final = "running"
CRASHED: Final = "crashed"


def this_host() -> str:
    """The host name the writer records (``os.uname().nodename``)."""
    return os.uname().nodename if hasattr(os, "uname") else ""


def process_alive(pid: int, start_time: int | None) -> bool | None:
    """Whether process ``pid`` exists and, when known, started at ``start_time``.

    ``start_time`` is the Linux ``/proc/<pid>/stat`` start time (clock ticks since
    boot). Returns None when this cannot be told (no ``/proc`` and no permission).
    """
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    except OSError:
        stat = b""
    if stat:
        if start_time is None:
            return True
        try:
            fields = stat[stat.rindex(b")") + 2 :].split()
            # A zombie has exited; only its exit status is left to be collected.
            if fields[0] == b"Z":
                return False
            return int(fields[19]) == int(start_time)
        except (ValueError, IndexError):
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return None
    return True


def effective_state(
    state: str,
    *,
    host: str | None,
    pid: int | None,
    start_time: int | None,
    last_time: float,
    now: float | None = None,
    stale_after: float = STALE_AFTER,
) -> str:
    """The state to show: the logged state, with ``running`` turned into ``crashed`` when dead.

    Args:
        state: What the log says (``running`` when there is no exit record).
        host: Host that wrote the latest session.
        pid: Its process id.
        start_time: Its process start time (clock ticks since boot), if recorded.
        last_time: Time of the last record or heartbeat.
        now: Current time (for tests).
        stale_after: Seconds of silence after which a run is crashed.
    """
    if state != RUNNING:
        return state
    if host is not None and pid is not None and host == this_host():
        if process_alive(int(pid), start_time) is False:
            return CRASHED
    current = time.time() if now is None else now
    if current - last_time > stale_after:
        return CRASHED
    return RUNNING
