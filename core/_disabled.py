"""The run returned by ``init(mode="disabled")``: every call is a cheap no-op."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracker import _process
from tracker._config import Config
from tracker._run import Run

__all__: list[str] = []


class DisabledRun(Run):
    """A :class:`tracker.Run` that logs nothing, writes no file and starts no thread.

    ``config`` still works (values are kept in memory) and ``summary`` is a plain dict. It
    implements the services' port (:class:`tracker._port.RunPort`) like any run, without a
    writer: records go nowhere, hooks run at :meth:`finish`, problems surface there.
    """

    def __init__(
        self,
        *,
        project: str,
        name: str | None,
        run_id: str | None,
        config: Any,
        run_dir: Path | None = None,
    ) -> None:
        run_id = run_id or "disabled"
        super().__init__(
            run_id=run_id,
            name=name or run_id,
            project=project,
            entity=None,
            group=None,
            job_type=None,
            tags=(),
            notes=None,
            run_dir=run_dir,
            writer=None,
            start_step=0,
            mode="disabled",
            resumed=False,
            max_rows=0,
            finish_timeout=0.0,
            url="",
        )
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
        """Run the services' finish hooks (a node's sampler) and forget the run."""
        if self._finished:
            return
        self._finished = True
        hooks, self._on_finish = self._on_finish, []
        for hook in hooks:
            hook()
        _process.forget(self)
        if self._problems:
            self._surface_problems()

    def mark_preempted(self) -> None:
        """Do nothing."""

    def become_inert(self) -> None:
        """After fork: no sampler thread exists in the child; finishing does nothing."""
        self._on_finish = []
        self._finished = True
