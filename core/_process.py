"""Process-wide state: the current run, atexit, uncaught exceptions, fork and SIGTERM.

The current run is a module global behind a lock (W&B's ``wandb.run`` semantics).
Hooks are installed once, on the first ``init``.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from tracker._sweep_trial import stop_state

if TYPE_CHECKING:
    from tracker._port import RunPort

__all__: list[str] = []

_lock = threading.RLock()
_active: list[RunPort] = []
_inherited: RunPort | None = None
_installed = False
_exit_code = 0
_prev_excepthook: Any = None
_prev_sigterm: Any = None
_sigterm_installed = False


def current() -> RunPort | None:
    """The most recently started run that has not finished."""
    with _lock:
        return _active[-1] if _active else None


def active() -> list[RunPort]:
    """All unfinished runs of this process, oldest first."""
    with _lock:
        return list(_active)


def register(run: RunPort, *, handle_sigterm: bool) -> None:
    """Make ``run`` the current run and install the process hooks once."""
    global _installed
    with _lock:
        _active.append(run)
        if not _installed:
            _installed = True
            atexit.register(_at_exit)
            _install_excepthook()
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_after_fork_in_child)
    if handle_sigterm:
        install_sigterm()


def forget(run: RunPort) -> None:
    """Drop a finished run from the active list."""
    with _lock:
        if run in _active:
            _active.remove(run)


def _install_excepthook() -> None:
    global _prev_excepthook
    _prev_excepthook = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        global _exit_code
        _exit_code = 1
        state = "killed" if issubclass(exc_type, KeyboardInterrupt) else None
        for run in active():
            if state is not None:
                run.set_exit_state(state)
        _prev_excepthook(exc_type, exc, tb)

    sys.excepthook = hook


def _at_exit() -> None:
    for run in reversed(active()):
        run.finish(exit_code=_exit_code)


def _after_fork_in_child() -> None:
    global _lock, _inherited
    _lock = threading.RLock()  # the parent's lock may have been held by another thread
    for run in _active:
        run.become_inert()
    _inherited = _active[-1] if _active else None
    _active.clear()


def inherited() -> RunPort | None:
    """In a forked child: the parent's current run, inert (its ``log`` warns once, does nothing)."""
    return _inherited


def install_sigterm() -> None:
    """Chain a SIGTERM handler: flush within 1 s, record ``preempted``, then the previous one."""
    global _prev_sigterm, _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    try:
        _prev_sigterm = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        return  # not the main interpreter, or signals unavailable
    _sigterm_installed = True


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Imports nothing: a signal handler may run while another thread holds the import lock.
    for run in reversed(active()):
        run.mark_preempted()
        stopped = stop_state(run)  # a sweep agent's hyperband stop or --cancel
        if stopped is not None:
            run.set_exit_state(stopped)
        run.finish(exit_code=128 + signum)
    prev = _prev_sigterm
    if callable(prev):
        prev(signum, frame)
    elif prev == signal.SIG_IGN:
        return
    else:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
