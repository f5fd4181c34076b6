"""tracker: a local-first, self-hostable ML experiment tracker with W&B's Python API.

``import tracker as wandb`` runs typical W&B code::

    import tracker

    run = tracker.init(project="demo", config={"lr": 1e-3})
    for step in range(100):
        tracker.log({"loss": 1 / (step + 1)})
    tracker.finish()

Everything is written locally (``$TRACKER_DIR``, default ``~/.tracker``); ``tracker ui``
shows it. Importing this package loads only the standard library: heavy parts load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracker import _process, errors
from tracker._config import Config
from tracker._init import init
from tracker._run import Run
from tracker._settings import Settings
from tracker._summary import Summary
from tracker._version import __version__
from tracker.api import Api
from tracker.errors import Error, TrackerWarning
from tracker.media import Audio, Histogram, Html, Image, Table, Video, plot

__all__ = [
    "Api",
    "Audio",
    "Config",
    "Error",
    "Histogram",
    "Html",
    "Image",
    "Run",
    "Settings",
    "Summary",
    "Table",
    "TrackerWarning",
    "Video",
    "__version__",
    "alert",
    "config",
    "define_metric",
    "errors",
    "finish",
    "init",
    "log",
    "login",
    "plot",
    "run",
    "save",
    "summary",
]


def _current(what: str) -> Run:
    run = _process.current()
    if run is None:
        raise errors.UsageError(f"tracker.{what} called before tracker.init(); call tracker.init() first.")
    return run


def log(data: dict[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """Log metrics to the current run (``Run.log``).

    Raises:
        UsageError: No run is active, or the data is invalid.
    """
    _current("log()").log(data, step=step, commit=commit)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the current run, if any (``Run.finish``)."""
    run = _process.current()
    if run is not None:
        run.finish(exit_code=exit_code, quiet=quiet)


def save(glob_str: Any = None, base_path: Any = None, policy: str = "live") -> list[str]:
    """Copy files into the current run (``Run.save``; W&B's ``wandb.save``).

    Raises:
        UsageError: No run is active, or the arguments are invalid.

    Example:
        >>> tracker.save("checkpoints/*.pt", policy="end")  # doctest: +SKIP
    """
    return _current("save()").save(glob_str, base_path=base_path, policy=policy)


def define_metric(name: str, **kwargs: Any) -> None:
    """Customise a metric of the current run (``Run.define_metric``)."""
    _current("define_metric()").define_metric(name, **kwargs)


def alert(title: str, text: str, level: Any = "INFO", wait_duration: Any = None) -> None:
    """Record an alert on the current run (``Run.alert``)."""
    _current("alert()").alert(title, text, level=level, wait_duration=wait_duration)


def login(
    key: str | None = None,
    host: str | None = None,
    relogin: bool | None = None,
    anonymous: str | None = None,
    timeout: int | None = None,
    verify: bool = False,
) -> bool:
    """Store credentials for a team server; with none configured, return True at once.

    Never prompts. Without ``key`` and ``host`` (and no ``TRACKER_HOST``) there is
    nothing to log in to: local mode needs no account.

    Returns:
        True.
    """
    if key is None and host is None:
        return True
    raise errors.UnsupportedError(
        "tracker.login(key=..., host=...): team-server credentials arrive with `tracker server`; "
        "local logging needs no login."
    )


class _NoRun:
    """What ``tracker.config`` / ``tracker.summary`` are before ``init``: usage raises."""

    def __init__(self, what: str) -> None:
        self._what = what

    def _fail(self) -> errors.UsageError:
        return errors.UsageError(
            f"tracker.{self._what} used before tracker.init(); call tracker.init() first."
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise self._fail()

    def __getitem__(self, key: str) -> Any:
        raise self._fail()

    def __setitem__(self, key: str, value: Any) -> None:
        raise self._fail()

    def __repr__(self) -> str:
        return f"<tracker.{self._what}: no active run>"


def __getattr__(name: str) -> Any:
    # PEP 562: the current run's objects, resolved at access time (W&B's wandb.run etc.).
    if name in ("run", "config", "summary"):
        current = _process.current()
        if name == "run":
            return current
        if current is None:
            return _NoRun(name)
        return getattr(current, name)
    raise AttributeError(f"module 'tracker' has no attribute {name!r}")


if TYPE_CHECKING:
    run: Run | None
    config: Config
    summary: Summary
