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
from tracker._console import termerror, termlog, termwarn
from tracker._init import init
from tracker._run import AlertLevel, Run
from tracker._session import restore, setup, teardown
from tracker._settings import Settings
from tracker._summary import Summary
from tracker._version import __version__
from tracker.errors import CommError, Error, TrackerWarning, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracker.api import Api
    from tracker.artifacts import Artifact
    from tracker.media import Audio, Histogram, Html, Image, Molecule, Object3D, Plotly, Table, Video, plot

# Public names served lazily (PEP 562): each pulls in a subsystem `import tracker` need not load.
_LAZY: dict[str, str] = {
    "Api": "tracker.api",
    "Artifact": "tracker.artifacts",
    "Audio": "tracker.media",
    "Histogram": "tracker.media",
    "Html": "tracker.media",
    "Image": "tracker.media",
    "Molecule": "tracker.media",
    "Object3D": "tracker.media",
    "Plotly": "tracker.media",
    "Table": "tracker.media",
    "Video": "tracker.media",
    "plot": "tracker.media",
}

__all__ = [
    "AlertLevel",
    "Api",
    "Artifact",
    "Audio",
    "CommError",
    "Config",
    "Error",
    "Histogram",
    "Html",
    "Image",
    "Molecule",
    "Object3D",
    "Plotly",
    "Run",
    "Settings",
    "Summary",
    "Table",
    "TrackerWarning",
    "UsageError",
    "Video",
    "__version__",
    "agent",
    "alert",
    "config",
    "define_metric",
    "errors",
    "finish",
    "init",
    "join",
    "link_artifact",
    "link_model",
    "log",
    "log_artifact",
    "log_model",
    "login",
    "mark_preempting",
    "plot",
    "restore",
    "run",
    "save",
    "setup",
    "summary",
    "sweep",
    "teardown",
    "termerror",
    "termlog",
    "termwarn",
    "unwatch",
    "use_artifact",
    "use_model",
    "watch",
]

if TYPE_CHECKING:
    # tracker._process holds runs by their port (it never imports _run); each one is a Run.
    _live: Callable[[], Run | None]
    _forked: Callable[[], Run | None]
else:
    _live, _forked = _process.current, _process.inherited


def _current(what: str) -> Run:
    run = _live()
    if run is None:
        raise errors.UsageError(f"tracker.{what} called before tracker.init(); call tracker.init() first.")
    return run


def log(data: dict[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """Log metrics to the current run (``Run.log``).

    Raises:
        UsageError: No run is active, or the data is invalid.
    """
    run = _live() or _forked()  # a forked child: warn once, log nothing
    if run is None:
        _current("log()")  # raises: no run
    else:
        run.log(data, step=step, commit=commit)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the current run, if any (``Run.finish``)."""
    run = _live()
    if run is not None:
        run.finish(exit_code=exit_code, quiet=quiet)


#: W&B's old name for :func:`finish`.
join = finish


def mark_preempting() -> None:
    """Mark the current run as preempted when it ends (``Run.mark_preempting``); no-op without one."""
    run = _live()
    if run is not None:
        run.mark_preempting()


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


def watch(
    models: Any,
    criterion: Any = None,
    log: str | None = "gradients",
    log_freq: int = 1000,
    idx: int | None = None,
    log_graph: bool = False,
    **options: Any,
) -> None:
    """Log histograms of torch models' gradients/parameters (``Run.watch``; W&B's ``wandb.watch``).

    Raises:
        UsageError: No run is active, or the arguments are invalid.

    Example:
        >>> tracker.watch(model, log="all", log_freq=100)  # doctest: +SKIP
    """
    _current("watch()").watch(models, criterion, log, log_freq, idx, log_graph, **options)


def unwatch(models: Any = None) -> None:
    """Remove the hooks ``watch`` attached (``Run.unwatch``); a no-op without a run."""
    run = _live()
    if run is not None:
        run.unwatch(models)


def alert(title: str, text: str, level: Any = "INFO", wait_duration: Any = None) -> None:
    """Record an alert on the current run (``Run.alert``)."""
    _current("alert()").alert(title, text, level=level, wait_duration=wait_duration)


def log_artifact(
    artifact_or_path: Any, name: str | None = None, type: str | None = None, aliases: list[str] | None = None
) -> Artifact:
    """Log an artifact to the current run (``Run.log_artifact``); returns at once.

    Example:
        >>> art = tracker.Artifact("mnist", type="dataset")  # doctest: +SKIP
        >>> tracker.log_artifact(art, aliases=["raw"]).wait().version  # doctest: +SKIP
        'v0'
    """
    art: Artifact = _current("log_artifact()").log_artifact(
        artifact_or_path, name=name, type=type, aliases=aliases
    )
    return art


def use_artifact(
    artifact_or_name: Any, type: str | None = None, aliases: list[str] | None = None
) -> Artifact:
    """Use an artifact in the current run (``Run.use_artifact``), e.g. ``"mnist:latest"``."""
    art: Artifact = _current("use_artifact()").use_artifact(artifact_or_name, type=type, aliases=aliases)
    return art


def link_artifact(artifact: Artifact, target_path: str, aliases: list[str] | None = None) -> Artifact:
    """Link an artifact into ``model-registry/<collection>`` (``Run.link_artifact``)."""
    linked: Artifact = _current("link_artifact()").link_artifact(artifact, target_path, aliases=aliases)
    return linked


def log_model(path: Any, name: str | None = None, aliases: list[str] | None = None) -> Artifact:
    """Log a file or folder as a ``model`` artifact of the current run (``Run.log_model``)."""
    art: Artifact = _current("log_model()").log_model(path, name=name, aliases=aliases)
    return art


def use_model(name: str) -> str:
    """Use and download a ``model`` artifact of the current run (``Run.use_model``); its path."""
    return _current("use_model()").use_model(name)


def link_model(
    path: Any, registered_model_name: str, name: str | None = None, aliases: list[str] | None = None
) -> Artifact:
    """Log a model and link it into the registry (``Run.link_model``)."""
    art: Artifact = _current("link_model()").link_model(
        path, registered_model_name, name=name, aliases=aliases
    )
    return art


def login(
    key: str | None = None,
    host: str | None = None,
    relogin: bool | None = None,
    anonymous: str | None = None,
    timeout: int | None = None,
    verify: bool = False,
) -> bool:
    """Store credentials for a team server; with none given, return True at once.

    Never prompts. With ``key`` and ``host``, both are written to
    ``~/.config/tracker/credentials`` (mode 0600), where online mode and ``tracker sync``
    find them. Without them there is nothing to log in to: local mode needs no account.

    Returns:
        True.
    """
    if key is None and host is None:
        return True
    from tracker._settings import ENV_BASE_URL, env, write_credentials
    from tracker._upload import Client

    host = host or env(ENV_BASE_URL)
    if key is None or host is None:
        raise errors.UsageError("tracker.login(key=..., host=...): give both the server URL and the API key.")

    Client(host, key)  # validates the URL
    write_credentials(host.rstrip("/"), key)
    return True


def sweep(sweep: Any, entity: str | None = None, project: str | None = None, **kwargs: Any) -> str:
    """Create a sweep from a W&B sweep config; return its id (``tracker.sweeps.sweep``)."""
    from tracker.sweeps import sweep as _sweep

    return _sweep(sweep, entity=entity, project=project, **kwargs)


def agent(
    sweep_id: str,
    function: Any = None,
    entity: str | None = None,
    project: str | None = None,
    count: int | None = None,
    **kwargs: Any,
) -> int:
    """Run a sweep's runs, in-process with ``function`` (``tracker.sweeps.agent``)."""
    from tracker.sweeps import agent as _agent

    return _agent(sweep_id, function=function, entity=entity, project=project, count=count, **kwargs)


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
        current = _live()
        if name == "run":
            return current
        if current is None:
            return _NoRun(name)
        return getattr(current, name)
    if name == "tensorboard":  # tracker.tensorboard.patch() after a plain `import tracker`, as W&B's
        import importlib

        return importlib.import_module("tracker.tensorboard")
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tracker' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    run: Run | None
    config: Config
    summary: Summary

# report_to="tracker" for the Hugging Face Trainer: registered when transformers' registry
# loads (an import hook; transformers itself is never imported here).
from tracker import _autoregister  # noqa: E402

_autoregister.install()
