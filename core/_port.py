"""``RunPort``: the one door between a live run and the services that work for it.

The services (the artifact worker, the sweep agent's watcher, the process hooks, the
system-metrics sampler, the sweep trial's stop request) see a run only through this
protocol, never through ``Run``'s private attributes, and never import ``tracker._run``
or ``tracker._writer``; the uploader never sees the run at all (``tracker._init`` hooks
its close to ``after_close``). :class:`tracker.Run` and the no-op runs
(``mode="disabled"``, a distributed job's non-main ranks) implement it; ``tracker._init``
is the one place that wires services to a run. :class:`ArtifactOps` is the other
direction: what ``Run``'s artifact methods delegate to. Modelled on Optuna's
``ArtifactStore`` protocol and wandb's ``InterfaceBase`` (one typed door per producer).

Threads: ``record``, ``system_sample``, ``problem`` and ``flush`` may be called from any
thread (each is one atomic append, or a wait on the writer); the hooks registered with
``on_finish``/``after_close`` run in the thread that calls ``finish``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__: list[str] = []


@runtime_checkable
class RunPort(Protocol):
    """What a service may ask of a run (see the module docstring)."""

    @property
    def id(self) -> str:
        """The run id."""

    @property
    def project(self) -> str:
        """The run's project."""

    @property
    def sweep_id(self) -> str | None:
        """The sweep the run belongs to, if any."""

    @property
    def disabled(self) -> bool:
        """True for a run that records nothing (every call a no-op)."""

    @property
    def finished(self) -> bool:
        """True once ``finish`` has started (or after a fork, in the child)."""

    @property
    def root(self) -> Path | None:
        """The data root the run's directory lies in (None for a run without one)."""

    @property
    def server(self) -> tuple[str, str | None] | None:
        """``(base_url, api_key)`` of the team server an online run streams to, else None."""

    @property
    def exit_state(self) -> str | None:
        """The state ``finish`` will record instead of ``finished``/``failed``, if set."""

    def record(self, kind: int, payload: Any) -> None:
        """Queue one record (``tracker.storage._format.R``) for the run's log, in call order."""

    def system_sample(self, ts: float, data: dict[str, float]) -> None:
        """Queue one system-metrics sample (dropped and counted when the queue is full)."""

    def on_finish(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` in ``finish`` before the log is closed (its records still land)."""

    def after_close(self, callback: Callable[[], object], *, first: bool = False) -> None:
        """Call ``callback`` in ``finish`` after the log is closed (``first``: before the others)."""

    def problem(self, key: str, message: str) -> None:
        """Report a problem: a ``TrackerWarning`` on the next ``log``/``finish`` (an error if strict)."""

    def require_live(self, what: str) -> None:
        """Raise ``UsageError`` naming ``what`` if the run has finished."""

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is on disk; False on timeout or without a writer."""

    def set_exit_state(self, state: str) -> None:
        """Record ``state`` (``preempted``, ``killed``, ``stopped``) when the run finishes."""

    def interrupt(self, state: str, error: Callable[[], BaseException]) -> None:
        """Make the run's next ``log`` record ``state`` and raise ``error()`` (a cooperative stop)."""

    def mark_preempted(self) -> None:
        """Record that the process is being stopped from outside."""

    def become_inert(self) -> None:
        """In a forked child: the run has no writer there; every call becomes a no-op."""

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """Finish the run (a second call does nothing)."""


class ArtifactOps(Protocol):
    """What ``Run.log_artifact``/``use_artifact``/``link_artifact`` delegate to.

    Served by ``tracker.artifacts._ops`` (a module implements this protocol), wired in by
    ``tracker._init``: the write path never imports the artifacts domain. Each returns the
    ``tracker.Artifact``.
    """

    def log_artifact(
        self,
        run: RunPort,
        artifact: Any,
        name: str | None = None,
        type: str | None = None,
        aliases: Any = None,
    ) -> Any:
        """Hand ``artifact`` (or a path) to the run's artifact worker; return it at once."""

    def use_artifact(
        self,
        run: RunPort,
        artifact: Any,
        type: str | None = None,
        aliases: Any = None,
        use_as: str | None = None,
    ) -> Any:
        """Resolve a reference (or take an artifact) and record the run's use of it."""

    def link_artifact(self, run: RunPort, artifact: Any, target_path: str, aliases: Any = None) -> Any:
        """Link a logged artifact into ``model-registry/<collection>``."""

    def log_model(self, run: RunPort, path: Any, name: str | None = None, aliases: Any = None) -> Any:
        """Log a file or folder as a ``model`` artifact."""

    def use_model(self, run: RunPort, name: str) -> str:
        """Use a ``model`` artifact; the path of its download."""

    def link_model(
        self,
        run: RunPort,
        path: Any,
        registered_model_name: str,
        name: str | None = None,
        aliases: Any = None,
    ) -> Any:
        """Log a model and link it into ``model-registry/<registered_model_name>``."""

    def log_code(
        self,
        run: RunPort,
        root: Any = ".",
        name: str | None = None,
        include_fn: Callable[..., Any] | None = None,
        exclude_fn: Callable[..., Any] | None = None,
    ) -> Any:
        """Log the code files under ``root`` as a ``code`` artifact (None when there are none)."""
