"""Sweep agents: run the sweep's suggestions one after another until there is no work.

* :func:`agent` with ``function`` runs it in this process for each run: the parameters
  are staged so that ``init()`` inside it joins the sweep and finds them, locked, in
  ``run.config``. An exception is logged with its traceback, the run is finished as
  failed, and the agent moves on.
* :func:`agent` without ``function`` (and ``tracker agent ID``) runs the sweep's
  ``program``/``command`` as a subprocess per run, in its own process group with a
  closed stdin; hyperband stops and ``cancel`` terminate the whole group.

``count`` is per agent and counts every run taken, failed ones included (W&B). Crash
guards (W&B's): 3 failed runs within the agent's first 60 seconds, or 5 failed runs
with no success, stop the agent with a warning.

Stopping a run (hyperband, or ``tracker sweep --cancel``), checked every :data:`POLL_S`
seconds while the run is in progress:

* In-process (``function``): a watcher thread flushes the run's writer, reads the sweep's
  runs from the index and applies W&B's hyperband rule (an iteration is one logged value
  of the metric). Nothing is raised into training from that thread; the stop is
  cooperative: the run's **next** ``log()`` call raises :class:`SweepRunStopped` (a
  ``BaseException``, so ``except Exception`` in training code does not swallow it), which
  the agent catches. A function that never logs again is not interrupted.
* Subprocess (CLI agent): the agent writes a stop request next to the staged parameters
  and sends SIGTERM to the run's process group (SIGKILL after :data:`KILL_DELAY_S`); the
  run's SIGTERM handler reads the request.

Either way the run ends with its own state: ``stopped`` for a hyperband stop (W&B shows
such runs as finished with a "stopped" note; here the state says it; exit code 0
in-process, 143 for a SIGTERMed program) and ``killed`` for ``--cancel``. A stopped run is
not a failure for the crash guards; bayes imputes it like a failed run (W&B's rule for
early-terminated runs).

A run that takes too long: with ``run_timeout`` (or ``$TRACKER_SWEEP_RUN_TIMEOUT``, in
seconds) the agent stops a run still going after that long, with an error naming the
limit, exactly as ``--cancel`` stops it (state ``killed``), and counts it as failed. The
default is no limit: training runs may rightly take days. (A program that forks workers
for its folds needs no limit for that: each worker's ``init()`` starts a run of its own,
see :mod:`tracker._sweep_trial`.)

Sweep states: ``paused`` makes an agent wait between runs (polling the state every
:data:`POLL_S` seconds; the run in progress continues) until ``--resume`` (it goes on),
``--stop`` (it exits after its run) or ``--cancel`` (it stops its run and exits).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracker.errors import TrackerWarning, UsageError
from tracker.sweeps._controller import ACTIVE, Controller, Job

if TYPE_CHECKING:
    from tracker._port import RunPort

__all__ = ["SweepRunStopped", "agent"]

_log = logging.getLogger(__name__)

FLAP_FAILURES: Final = 3
FLAP_WINDOW_S: Final = 60.0
MAX_INITIAL_FAILURES: Final = 5
#: Seconds between hyperband / sweep-state checks while a run is in progress, and between
#: sweep-state checks while the sweep is paused.
POLL_S = 2.0
#: Seconds between SIGTERM and SIGKILL when a run is stopped.
KILL_DELAY_S: Final = 30.0


class SweepRunStopped(BaseException):
    """Raised by ``log()`` in a function agent's run that the sweep stopped.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that ``except Exception`` in a
    training loop lets it through to the agent, which catches it and finishes the run with
    :attr:`state` (``stopped`` for hyperband, ``killed`` for a cancelled sweep).
    """

    def __init__(self, run_id: str, state: str) -> None:
        super().__init__(f"run {run_id} was stopped by the sweep ({state})")
        self.run_id = run_id
        self.state = state


def _parse_id(sweep_id: str) -> str:
    parts = [p for p in str(sweep_id).strip("/").split("/") if p]
    if not parts or len(parts) > 3:
        raise UsageError(f"sweep_id {sweep_id!r}: expected ID, project/ID or entity/project/ID.")
    return parts[-1]


class _Guard:
    """W&B's crash guards: flapping at start and repeated failures with no success."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.failed = 0
        self.succeeded = 0

    def record(self, ok: bool) -> str | None:
        if ok:
            self.succeeded += 1
            return None
        self.failed += 1
        if self.failed >= FLAP_FAILURES and time.monotonic() - self.started <= FLAP_WINDOW_S:
            window = f"{FLAP_WINDOW_S:.0f}"
            return f"Detected {self.failed} failed runs in the first {window} seconds; stopping the agent."
        if self.failed >= MAX_INITIAL_FAILURES and self.succeeded == 0:
            return f"Detected {self.failed} failed runs in a row at start; stopping the agent."
        return None


def agent(
    sweep_id: str,
    function: Callable[[], Any] | None = None,
    entity: str | None = None,
    project: str | None = None,
    count: int | None = None,
    *,
    root: str | Path | None = None,
    run_timeout: float | None = None,
) -> int:
    """Run sweep runs until the sweep has no more work or ``count`` runs were taken.

    Args:
        sweep_id: ``ID``, ``project/ID`` or ``entity/project/ID``.
        function: Called with no arguments for each run; it calls ``tracker.init()`` and
            finds the parameters in ``tracker.config``. None runs the sweep's
            ``program``/``command`` as a subprocess per run.
        entity: Accepted for W&B compatibility.
        project: Accepted for W&B compatibility (the sweep knows its project).
        count: Most runs this agent takes (failed runs count); None: until no work is left.
        root: Data root (default ``$TRACKER_DIR``).
        run_timeout: Seconds after which a run still going is stopped (state ``killed``,
            counted as failed); default ``$TRACKER_SWEEP_RUN_TIMEOUT``, else no limit.
            A function agent's run stops at its next ``log()``.

    Returns:
        The number of runs this agent took.

    Raises:
        UsageError: No such sweep, or ``count`` or ``run_timeout`` is not positive.

    Example:
        >>> def train():
        ...     run = tracker.init()
        ...     run.log({"loss": run.config["lr"]})
        >>> tracker.agent(sweep_id, function=train, count=3)  # doctest: +SKIP
    """
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise UsageError(f"agent(count={count!r}): use a positive integer or None.")
    limit = _run_timeout(run_timeout)
    from tracker.sweeps._remote import open_controller

    # With $TRACKER_BASE_URL set and no root, the sweep lives on the team server.
    ctl = open_controller(_parse_id(sweep_id), Path(root) if root is not None else None)
    if function is None and not (ctl.config.program or ctl.config.command):
        raise UsageError(
            f"sweep {ctl.sweep_id} has no `program` or `command`: pass function=... or add one to the config."
        )
    guard = _Guard()
    taken = 0
    wake = threading.Event()  # never set: its wait() is the polling interval
    try:
        if ctl.state not in ACTIVE and ctl.state != "paused":
            warnings.warn(
                f"sweep {ctl.sweep_id} is {ctl.state}; no runs to start.", TrackerWarning, stacklevel=2
            )
        while count is None or taken < count:
            job = ctl.next_job()
            if job is None:
                if _wait_while_paused(ctl, wake):
                    continue
                break
            taken += 1
            if function is not None:
                ok = _run_function(ctl, job, function, limit)
            else:
                ok = _run_process(ctl, job, limit)
            stop = guard.record(ok)
            if stop is not None:
                warnings.warn(stop, TrackerWarning, stacklevel=2)
                break
    finally:
        ctl.close()
    return taken


def _run_timeout(given: float | None) -> float | None:
    from tracker._settings import ENV_SWEEP_RUN_TIMEOUT, env_float

    value = given if given is not None else env_float(ENV_SWEEP_RUN_TIMEOUT, 0.0) or None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise UsageError(f"agent(run_timeout={value!r}): use a positive number of seconds or None.")
    return float(value)


def _timed_out(job: Job, limit: float) -> None:
    _log.error(
        "Run %s is still running after run_timeout=%gs (TRACKER_SWEEP_RUN_TIMEOUT); stopping it "
        "(state killed). Raise the limit if runs of this sweep need longer.",
        job.run_id,
        limit,
    )


def _wait_while_paused(ctl: Controller, wake: threading.Event) -> bool:
    """While the sweep is paused, wait; True when it became active again."""
    if ctl.state != "paused":
        return False
    _log.warning("sweep %s is paused; waiting for `tracker sweep --resume %s`.", ctl.sweep_id, ctl.sweep_id)
    while (state := ctl.state) == "paused":
        wake.wait(POLL_S)
    return state in ACTIVE


def _run_function(ctl: Controller, job: Job, function: Callable[[], Any], limit: float | None) -> bool:
    from tracker import _process
    from tracker._settings import set_env

    previous = set_env(ctl.environment(job))
    watch = _Watch(ctl, job, limit)
    ok = True
    try:
        function()
    except SweepRunStopped as stop:
        _log.info("Run %s %s by the sweep", job.run_id, stop.state)
        ok = not watch.timed_out
    except Exception:  # noqa: BLE001 - a failed run is reported and the agent moves on (W&B)
        ok = False
        _log.exception("Run %s errored", job.run_id)
    finally:
        watch.close()
        for run in reversed(_process.active()):
            if run.id == job.run_id:
                run.finish(exit_code=0 if ok else 1)
        set_env(previous)
    return ok


class _Watch:
    """The watcher thread of one in-process run: hyperband and ``--cancel`` (module docstring).

    It has its own :class:`Controller` (its own SQLite connections) and never raises: a
    failed check is logged and the run goes on. When the run must stop it replaces the
    run's ``log`` with one that raises :class:`SweepRunStopped`.
    """

    def __init__(self, ctl: Controller, job: Job, limit: float | None) -> None:
        self.sweep_id, self.root, self.job = ctl.sweep_id, ctl.root, job
        self.reopen = ctl.reopen
        self.deadline = None if limit is None else time.monotonic() + limit
        self.limit = limit
        self.timed_out = False
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._main, name=f"tracker-sweep-{job.run_id}", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.done.set()
        self.thread.join(10.0)

    def _main(self) -> None:
        ctl: Controller | None = None
        try:
            ctl = self.reopen()
            while not self.done.wait(POLL_S):
                run = _live_run(self.job.run_id)
                if run is None:
                    continue  # not initialised yet
                if self.deadline is not None and self.limit is not None and time.monotonic() >= self.deadline:
                    self.timed_out = True
                    _timed_out(self.job, self.limit)
                    _interrupt(run, "killed")
                    return
                run.flush(POLL_S)  # put what was logged so far on disk for the index
                state = _stop_state(ctl, self.job)
                if state is not None and not self.done.is_set():
                    _interrupt(run, state)
                    return
        except Exception:  # noqa: BLE001 - never disturb training from the watcher
            _log.exception("sweep %s: checking run %s failed", self.sweep_id, self.job.run_id)
        finally:
            if ctl is not None:
                ctl.close()


def _live_run(run_id: str) -> RunPort | None:
    from tracker import _process

    return next((r for r in _process.active() if r.id == run_id), None)


def _interrupt(run: RunPort, state: str) -> None:
    """Make the run's next ``log()`` raise :class:`SweepRunStopped` (cooperative stop)."""
    run_id = run.id
    run.interrupt(state, lambda: SweepRunStopped(run_id, state))


def _stop_state(ctl: Controller, job: Job) -> str | None:
    """``killed`` when the sweep was cancelled, ``stopped`` when hyperband stops the run."""
    if ctl.state == "cancelled":
        return "killed"
    if ctl.config.early_terminate is not None and _should_stop(ctl, job):
        return "stopped"
    return None


def _run_process(ctl: Controller, job: Job, limit: float | None) -> bool:
    from tracker._settings import environ_copy
    from tracker.sweeps._command import build_command

    env = {**environ_copy(), **ctl.environment(job)}
    argv = build_command(
        ctl.config.command,
        program=ctl.config.program,
        params=job.config(),
        json_file=job.param_path.with_name(f"args-{job.run_id}.json"),
        environ=env,
    )
    try:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        _log.error("Run %s could not start %s: %s", job.run_id, argv, exc)
        return False
    deadline = None if limit is None else time.monotonic() + limit
    while True:
        wait = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
        try:
            code = proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            pass
        if deadline is not None and limit is not None and time.monotonic() >= deadline:
            from tracker._sweep_trial import request_stop

            _timed_out(job, limit)
            request_stop(ctl.root, ctl.sweep_id, job.run_id, "killed")
            _terminate(proc)
            proc.wait()
            return False
        state = _stop_state(ctl, job)
        if state is not None:
            from tracker._sweep_trial import request_stop

            request_stop(ctl.root, ctl.sweep_id, job.run_id, state)
            _log.info("Run %s %s by the sweep: SIGTERM to its process group", job.run_id, state)
            _terminate(proc)
            proc.wait()
            return True  # a stop is not a failure for the crash guards
    if code != 0:
        _log.error("Run %s exited with code %s", job.run_id, code)
    return code == 0


def _should_stop(ctl: Controller, job: Job) -> bool:
    from tracker.sweeps._hyperband import runs_to_stop

    hb, metric = ctl.config.early_terminate, ctl.config.metric
    assert hb is not None
    assert metric is not None
    return job.run_id in runs_to_stop(hb, metric.goal, ctl.observations())


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the run's process group, SIGKILL after :data:`KILL_DELAY_S`."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=KILL_DELAY_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
