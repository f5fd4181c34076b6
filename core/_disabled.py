"""The run returned by ``init(mode="disabled")``: every call is a cheap no-op."""

from __future__ import annotations

from typing import Any

from tracker._config import Config
from tracker._run import Run

__all__: list[str] = []


class DisabledRun(Run):
    """A :class:`tracker.Run` that logs nothing, writes no file and starts no thread.

    ``config`` still works (values are kept in memory) and ``summary`` is a plain dict.
    """

    def __init__(self, *, project: str, name: str | None, run_id: str | None, config: Any) -> None:
        # Deliberately not calling Run.__init__: no writer, no queue, no files.
        self.id = run_id or "disabled"  # type: ignore[misc]
        self.name = name or self.id
        self.project = project  # type: ignore[misc]
        self.entity = None
        self.group = None
        self.job_type = None
        self.tags = ()
        self.notes = None
        self.dir = ""
        self.mode = "disabled"
        self.resumed = False
        self.url = ""
        self.sweep_id = None
        self._finished = False
        self._inert = False
        self._exit_state = None
        self.config = Config(None)
        if config is not None and not isinstance(config, str):
            self.config.update(config)
        self.summary = {}  # type: ignore[assignment]

    @property
    def step(self) -> int:
        """Always 0."""
        return 0

    @property
    def disabled(self) -> bool:
        """True."""
        return True

    def log(self, data: Any = None, step: Any = None, commit: Any = None) -> None:
        """Do nothing."""

    def define_metric(self, *args: Any, **kwargs: Any) -> None:
        """Do nothing."""

    def save(self, glob_str: Any = None, base_path: Any = None, policy: str = "live") -> list[str]:
        """Do nothing; no file is copied."""
        return []

    def alert(self, *args: Any, **kwargs: Any) -> None:
        """Do nothing."""

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """Forget the run."""
        from tracker import _process

        self._finished = True
        _process.forget(self)

    def mark_preempted(self) -> None:
        """Do nothing."""

    def _become_inert(self) -> None:
        self._finished = True
