"""``RunBase``: a run's identity, lifecycle and service port, shared by every kind of run.

:class:`tracker.Run` adds the logging API on top; the no-op runs
(:mod:`tracker._disabled`, :mod:`tracker._distributed`) override what they skip. The port
methods (:class:`tracker._port.RunPort`) are how the services reach a run: nothing outside
``_run*``/``_init`` touches the private attributes set here.
"""

from __future__ import annotations

import collections
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

from tracker import _process
from tracker._config import Config
from tracker._naming import has_root, root_of
from tracker._settings import strict
from tracker._summary import Summary
from tracker._writer import Ctl, Writer
from tracker.errors import Error, TrackerWarning, UsageError
from tracker.storage._format import R

__all__: list[str] = []

_now = time.time
_R = TypeVar("_R", bound="RunBase")


#: Serves :meth:`RunBase.restore` (it reads through ``tracker.Api``, above the write path);
#: set by ``tracker._session``, which the facade imports.
_restorer: Callable[..., Any] | None = None


def serve_restore(restorer: Callable[..., Any]) -> None:
    """Set what serves ``Run.restore`` (``tracker._session``)."""
    global _restorer
    _restorer = restorer


def _discard(item: Any) -> None:
    """The queue of a run without a writer: records go nowhere."""


class RunBase:
    """The state and lifecycle every run has (see the module docstring)."""

    def __init__(
        self,
        *,
        run_id: str,
        name: str,
        project: str,
        entity: str | None,
        group: str | None,
        job_type: str | None,
        tags: tuple[str, ...],
        notes: str | None,
        run_dir: Path | None,
        writer: Writer | None,
        start_step: int,
        mode: str,
        resumed: bool,
        max_rows: int,
        finish_timeout: float,
        url: str,
        sweep_id: str | None = None,
    ) -> None:
        self.id: Final = run_id
        self._name = name
        self.project: Final = project
        self.entity = entity
        self.group = group
        self.job_type = job_type
        self._tags = tags
        self._notes = notes
        self.dir = str(run_dir) if run_dir is not None else ""
        self.mode = mode
        self.resumed = resumed
        self._url = url
        self.sweep_id = sweep_id
        self.start_time = _now()
        self._writer = writer
        self._step = start_step
        self._start_step = start_step
        self._pending: dict[str, Any] | None = None
        self._pending_ts = 0.0
        self._max_rows = max_rows
        self._finish_timeout = finish_timeout
        self._finished = False
        self._inert = False
        self._exit_state: str | None = None
        self._problems: list[tuple[str, str]] = writer.problems if writer is not None else []
        self._warned: set[str] = set()
        self._backpressure_warned = False
        self._on_finish: list[Callable[[], object]] = []
        self._after_close: list[Callable[[], object]] = []  # after the writer closed the log (online upload)
        self._server: tuple[str, str | None] | None = None  # (base_url, api_key) in online mode
        self._silent = True  # no console line at finish; init turns it on (tracker._console)
        if writer is not None:
            self._append: Callable[[Any], None] = writer.queue.append
            self._queue: collections.deque[Any] = writer.queue
        else:
            self._append = _discard
            self._queue = collections.deque()
        self.config = Config(self._emit_config)
        self.summary = Summary(self._read_summary, self._emit_summary)

    # ------------------------------------------------------------------ identity
    @property
    def name(self) -> str:
        """Display name; setting it is saved in the run's log (an EDIT record), as in W&B."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = self._edit("name", value)

    @property
    def tags(self) -> tuple[str, ...]:
        """Tags; setting them (any sequence of strings) is saved in the run's log."""
        return self._tags

    @tags.setter
    def tags(self, value: Any) -> None:
        self._tags = self._edit("tags", value)

    @property
    def notes(self) -> str | None:
        """Notes (free text); setting them is saved in the run's log."""
        return self._notes

    @notes.setter
    def notes(self, value: str) -> None:
        self._notes = self._edit("notes", value)

    def _edit(self, field: str, value: Any) -> Any:
        """Check a new ``name``/``tags``/``notes`` and queue its EDIT record; return the value to keep."""
        from tracker.storage._schema import edit_problem

        if field == "tags":
            if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
                raise UsageError(f"run.tags must be a list of strings, not {type(value).__name__}.")
            value = tuple(value)
        problem = edit_problem({field: list(value) if field == "tags" else value})
        if problem is not None:
            raise UsageError(f"run.{field} = {value!r:.60}: {problem}.", key=field)
        if self._finished and self._writer is not None:
            raise UsageError(
                f"run.{field} set after run {self.id} finished; change it with "
                "tracker.Api().run(path) instead.",
                key=field,
            )
        if self._writer is not None:
            stored = list(value) if field == "tags" else value
            self._append(Ctl("record", [R.EDIT, {"ts": _now(), field: stored}]))
        return value

    @property
    def url(self) -> str:
        """The run's page (W&B's ``run.url``): on the team server for an online run, else
        in the dashboard.

        While a ``tracker ui`` serves this run's data root, the link carries its address
        and per-launch token (read from ``<root>/.ui.json``, see ``tracker._ui_link``);
        otherwise it is ``$TRACKER_UI_URL`` or ``tracker ui``'s default address.
        """
        if self._server is not None:
            from tracker._naming import run_page

            return self._server[0] + run_page(self.project, self.id)
        if not self._url or not self.dir:
            return self._url
        from tracker._settings import ENV_UI_URL, env
        from tracker._ui_link import run_url

        return run_url(root_of(self.dir), self.project, self.id, env(ENV_UI_URL))

    @url.setter
    def url(self, value: str) -> None:
        self._url = value

    @property
    def project_url(self) -> str:
        """The run's project page (W&B's ``run.project_url``), resolved as :attr:`url`."""
        from tracker._naming import project_page

        return self._page_url(project_page(self.project))

    @property
    def sweep_url(self) -> str | None:
        """The page of the sweep this run belongs to (W&B's ``run.sweep_url``); None outside a sweep."""
        from tracker._naming import sweep_page

        return self._page_url(sweep_page(self.project, self.sweep_id)) if self.sweep_id else None

    def _page_url(self, path: str) -> str:
        if self._server is not None:
            return self._server[0] + path
        if not self._url or not self.dir:
            return ""
        from tracker._settings import ENV_UI_URL, env
        from tracker._ui_link import page_url

        return page_url(root_of(self.dir), path, env(ENV_UI_URL))

    @property
    def path(self) -> str:
        """``entity/project/id`` (entity defaults to ``local``)."""
        return f"{self.entity or 'local'}/{self.project}/{self.id}"

    @property
    def step(self) -> int:
        """The step the next committed row gets."""
        return self._step

    @property
    def offline(self) -> bool:
        """True unless the run streams to a team server."""
        return self.mode != "online"

    @property
    def disabled(self) -> bool:
        """True for ``mode="disabled"`` runs."""
        return False

    def __repr__(self) -> str:
        return f"<tracker.Run {self.project}/{self.id} ({self.name})>"

    def _repr_html_(self) -> str:
        """Jupyter's view: name, state, link, key figures; the dashboard page while one serves it."""
        from tracker._html import run_html

        facts = [
            ("step", str(self._step)),
            ("config", f"{len(self.config.keys())} keys"),
            ("mode", self.mode),
        ]
        root = root_of(self.dir) if self.dir and has_root(self.dir) else None
        state = "finished" if self._finished else "running"
        summary = dict(self.summary.items()) if not self._finished else {}
        return run_html(name=self.name, run_id=self.id, project=self.project, state=state, url=self.url,
                        summary=summary, facts=facts, root=root)  # fmt: skip

    # ------------------------------------------------------------------ config / summary
    def _emit_config(self, changed: dict[str, Any], deleted: list[str]) -> None:
        if self._writer is not None and not self._finished:
            self._append(Ctl("record", [R.CONFIG, changed, deleted]))

    def _emit_summary(self, updates: dict[str, Any], deleted: list[str]) -> None:
        self.require_live("summary update")
        self._append(Ctl("summary_set", updates, deleted))

    def _read_summary(self) -> dict[str, Any]:
        writer = self._writer
        if writer is None:
            return {}
        if not self._finished:
            writer.flush(self._finish_timeout)
        return writer.summary_snapshot()

    # ------------------------------------------------------------------ the port (tracker._port)
    @property
    def finished(self) -> bool:
        """True once :meth:`finish` has started (for tracker's services)."""
        return self._finished

    @property
    def root(self) -> Path | None:
        """The data root this run's directory lies in (None without a directory)."""
        return root_of(self.dir) if self.dir and has_root(self.dir) else None

    @property
    def server(self) -> tuple[str, str | None] | None:
        """``(base_url, api_key)`` of the team server an online run streams to."""
        return self._server

    @property
    def exit_state(self) -> str | None:
        """The state :meth:`finish` records instead of ``finished``/``failed``, if set."""
        return self._exit_state

    def record(self, kind: int, payload: Any) -> None:
        """Queue one record for the run's log (for tracker's services: artifacts, sampler)."""
        self._append(Ctl("record", [kind, payload]))

    def system_sample(self, ts: float, data: dict[str, float]) -> None:
        """Queue one system-metrics sample (for the sampler); counted when dropped."""
        writer = self._writer
        if writer is None:
            return
        system = writer.system
        if len(system) == system.maxlen:
            writer.dropped_system += 1
        system.append([ts, data])

    def on_finish(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` in :meth:`finish`, before the log is closed."""
        self._on_finish.append(callback)

    def after_close(self, callback: Callable[[], object], *, first: bool = False) -> None:
        """Call ``callback`` in :meth:`finish`, after the log is closed."""
        if first:
            self._after_close.insert(0, callback)
        else:
            self._after_close.append(callback)

    def problem(self, key: str, message: str) -> None:
        """Report a problem: surfaced as a ``TrackerWarning`` by the next ``log``/``finish``."""
        self._problems.append((key, message))

    def require_live(self, what: str) -> None:
        """Raise ``UsageError`` if the run has finished."""
        if self._finished:
            raise UsageError(f"{what} after run {self.id} finished; start a new run with tracker.init().")

    def flush(self, timeout: float) -> bool:
        """Wait until everything logged so far is written; False on timeout or without a writer."""
        writer = self._writer
        return writer.flush(timeout) if writer is not None else False

    def set_exit_state(self, state: str) -> None:
        """Record ``state`` (``preempted``, ``killed``, ``stopped``) when the run finishes."""
        self._exit_state = state

    def interrupt(self, state: str, error: Callable[[], BaseException]) -> None:
        """Make the next ``log()`` record ``state`` and raise ``error()`` (a sweep's cooperative stop)."""

        def stopped_log(data: Any, step: Any = None, commit: Any = None) -> None:
            self._exit_state = state
            raise error()

        if not self._finished:
            self.log = stopped_log  # type: ignore[method-assign]

    def become_inert(self) -> None:
        """After fork: the child has no writer thread; every call becomes a no-op."""
        self._inert = True
        self._finished = True
        self.log = self._inert_log  # type: ignore[method-assign]

    # ------------------------------------------------------------------ finishing
    def log(self, data: dict[str, Any], step: int | None = None, commit: bool | None = None) -> None:
        """Log a row of metrics (see :meth:`tracker.Run.log`)."""
        raise NotImplementedError

    def _commit_pending(self) -> None:
        if self._pending is not None:
            s = self._step
            self._append((s, self._pending_ts, self._pending))
            self._pending = None
            self._step = s + 1

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """Finish the run: drain the queue, write the exit record, fsync, stop the writer.

        A second call does nothing. ``exit_code`` other than 0 marks the run failed.

        Args:
            exit_code: Process-style exit code (0 or None = finished).
            quiet: True to skip the console line with a few summary values.
        """
        if self._finished or self._inert:
            return
        self._commit_pending()
        self._finished = True
        self.log = self._log_after_finish  # type: ignore[method-assign]  # raises, as in W&B
        state = self._exit_state or ("finished" if not exit_code else "failed")
        timeout = 0.9 if state == "preempted" else self._finish_timeout
        for hook in self._on_finish:
            hook()
        writer = self._writer
        if writer is not None:
            ok = writer.close({"state": state, "exit_code": int(exit_code or 0)}, timeout)
            if not ok:
                self._warn(
                    "finish-timeout",
                    f"run {self.id}: the writer did not finish within {timeout} s; "
                    "the last rows may be missing.",
                )
        for hook in self._after_close:
            hook()
        _process.forget(self)
        if not (quiet or self._silent):
            from tracker import _console

            summary = self._read_summary()
            _console.write(
                _console.finish_line(
                    name=self._name, run_id=self.id, state=state, steps=self._step, summary=summary
                )
            )
        if self._problems:
            self._surface_problems()

    def mark_preempted(self) -> None:
        """Record that the process is being stopped from outside (SIGTERM, sweep stop)."""
        self._exit_state = "preempted"

    @property
    def starting_step(self) -> int:
        """The first step of this session (0, or where a resumed run goes on; W&B's name)."""
        return self._start_step

    def restore(
        self, name: str, run_path: str | None = None, replace: bool = False, root: str | None = None
    ) -> Any:
        """Copy a file a run saved into this run's folder and open it (see :func:`tracker.restore`)."""
        if _restorer is None:
            raise RuntimeError("tracker._session serves Run.restore; import tracker first.")
        return _restorer(name, run_path, replace, root, run=self)

    def mark_preempting(self) -> None:
        """W&B's ``run.mark_preempting()``: the exit state ``finish`` records (also from the
        SIGTERM handler) is ``preempted`` (resumable), not ``finished`` or ``failed``.

        Unlike W&B, nothing is written at once: a run killed before it finishes reads as
        crashed, as any run that stops without an exit record."""
        self.mark_preempted()

    def __enter__(self: _R) -> _R:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.finish()
        else:
            if issubclass(exc_type, KeyboardInterrupt):
                self._exit_state = "killed"
            self.finish(exit_code=1)

    def _log_after_finish(self, data: Any, step: Any = None, commit: Any = None) -> None:
        self.require_live("log()")

    # ------------------------------------------------------------------ problems
    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, TrackerWarning, stacklevel=4)

    def _surface_problems(self) -> None:
        problems = list(self._problems)
        self._problems.clear()
        if strict():
            raise Error("; ".join(msg for _key, msg in problems))
        for key, message in problems:
            self._warn(key, message)

    def _inert_log(self, data: Any, step: Any = None, commit: Any = None) -> None:
        self._warn(
            "fork",
            f"run {self.id} was started in the parent process; tracker does nothing in a forked "
            "child. Call tracker.init() in the child to log from it.",
        )
