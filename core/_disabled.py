"""The run returned by ``init(mode="disabled")``: every call is a cheap no-op."""

from __future__ import annotations

from typing import Any

from tracker._config import Config

__all__: list[str] = []


class DisabledSummary(dict[str, Any]):
    """A plain dict standing in for the summary of a disabled run."""


class DisabledRun:
    """Quacks like :class:`tracker.Run`; logs nothing, writes no file, starts no thread."""

    disabled = True
    offline = True
    mode = "disabled"
    resumed = False
    url = ""
    dir = ""
    entity = None
    group = None
    job_type = None
    notes = None
    tags: tuple[str, ...] = ()
    sweep_id = None
    step = 0

    def __init__(self, *, project: str, name: str | None, run_id: str | None, config: Any) -> None:
        self.id = run_id or "disabled"
        self.name = name or self.id
        self.project = project
        self.path = f"local/{project}/{self.id}"
        self.config = Config(None)
        if config is not None and not isinstance(config, str):
            self.config.update(config)
        self.summary = DisabledSummary()
        self._finished = False

    def log(self, data: Any = None, step: Any = None, commit: Any = None) -> None:
        """Do nothing."""

    def define_metric(self, *args: Any, **kwargs: Any) -> None:
        """Do nothing."""

    def alert(self, *args: Any, **kwargs: Any) -> None:
        """Do nothing."""

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """Forget the run."""
        from tracker import _process

        self._finished = True
        _process.forget(self)  # type: ignore[arg-type]

    def mark_preempted(self) -> None:
        """Do nothing."""

    def _become_inert(self) -> None:
        self._finished = True

    def __enter__(self) -> DisabledRun:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.finish()
