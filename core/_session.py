"""W&B's process-level names: ``setup``, ``teardown`` and ``restore``.

``setup(settings)`` keeps settings that every later ``init`` starts from (its own
``settings`` argument wins, key by key); ``teardown()`` finishes the runs still active and
forgets them. ``restore(name, run_path)`` copies a file a run saved (``run.save``) into a
folder and opens it, as ``wandb.restore`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from tracker._run_base import serve_restore
from tracker._settings import Settings, coerce_settings
from tracker.errors import UsageError

__all__ = ["Setup", "restore", "setup", "teardown"]

_defaults: Settings | None = None


class Setup:
    """What :func:`setup` returns (W&B's ``wandb.setup()`` object).

    Attributes:
        settings: The settings every ``init`` of this process starts from.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return f"<tracker.Setup {self.settings!r}>"


def setup(settings: Settings | dict[str, Any] | None = None) -> Setup:
    """Set this process's default settings (W&B's ``wandb.setup``).

    W&B starts its background service here; tracker has none, so this only records the
    settings: later ``init`` calls start from them. A second call merges into the first.

    Example:
        >>> tracker.setup(tracker.Settings(stats_interval=0))  # doctest: +SKIP
    """
    global _defaults
    given = coerce_settings(settings)
    if _defaults is None:
        _defaults = Settings()
    _defaults.update(given.to_dict())
    return Setup(_defaults)


def teardown(exit_code: int | None = None) -> None:
    """Finish every active run and drop the :func:`setup` settings (W&B's ``wandb.teardown``)."""
    global _defaults
    from tracker import _process

    for run in reversed(_process.active()):
        run.finish(exit_code=exit_code)
    _defaults = None


def with_defaults(settings: Settings) -> Settings:
    """``settings`` over the :func:`setup` defaults (``init``'s own keys win)."""
    if _defaults is None:
        return settings
    merged = Settings(**_defaults.to_dict())
    merged.update(settings.to_dict())
    return merged


def restore(
    name: str, run_path: str | None = None, replace: bool = False, root: str | None = None, *, run: Any = None
) -> IO[str]:
    """Copy a file a run saved into ``root`` and open it for reading (W&B's ``wandb.restore``).

    Args:
        name: The file's path inside the run's saved files (as ``run.save`` stored it).
        run_path: ``project/id`` (or ``entity/project/id``) of the run; default the
            current run.
        replace: Copy even when ``root/name`` exists (otherwise an existing file is opened).
        root: Where to put it; default the current run's folder, else the working directory.
        run: The run to restore into (``Run.restore``); default the current run.

    Returns:
        The copy, opened for reading as text (``.name`` is its path).

    Raises:
        UsageError: No ``run_path`` and no active run, or the run saved no such file.
        RunNotFoundError: No such run.
    """
    import tracker

    current = run if run is not None else tracker.run
    if run_path is None and current is None:
        raise UsageError("restore() needs run_path='project/run_id' or an active run.")
    if root is None:
        root = current.dir if current is not None and current.dir else "."
    target = Path(root) / name
    if replace or not target.exists():
        _api(current).run(run_path or f"{current.project}/{current.id}").file(name).download(  # type: ignore[union-attr]
            root=str(root), replace=True
        )
    return open(target, encoding="utf-8")


serve_restore(restore)


def _api(current: Any) -> Any:
    """The Api the current run reads from: its team server when online, else its data root."""
    from tracker.api import Api

    server = current.server if current is not None else None
    if server is not None:
        return Api(base_url=server[0], api_key=server[1])
    if current is not None and current.root is not None:
        return Api(current.root)
    return Api()
