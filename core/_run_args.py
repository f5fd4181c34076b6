"""``init``'s arguments: modes, ``reinit``, config files, and the records they become.

Each resolver applies one keyword's precedence (argument > ``Settings`` > environment >
default) and validates it before anything is created; :class:`Args` carries the result to
the steps of ``tracker._init._start``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from tracker._settings import (
    ENV_CONFIG_PATHS,
    ENV_HOST,
    ENV_MODE,
    ENV_TAGS,
    WANDB_DISABLED,
    Settings,
    env,
    env_bool,
    env_source,
)
from tracker._version import __version__
from tracker.errors import UsageError
from tracker.storage._format import FORMAT_VERSION
from tracker.storage._lease import proc_start_time

if TYPE_CHECKING:
    from tracker._run import Run

__all__: list[str] = []

_MODES: Final = {
    "offline": "offline",
    "dryrun": "offline",
    "online": "online",
    "run": "online",
    "shared": "online",
    "disabled": "disabled",
}
_REINIT: Final = {"default", "return_previous", "finish_previous", "create_new"}
# wandb.init keywords tracker accepts but does not act on: a TrackerWarning when set.
IGNORED: Final = ("force", "anonymous", "monitor_gym")


def resolve_mode(mode: str | None, settings: Settings) -> str:
    """``offline``, ``online`` or ``disabled`` (``online`` by default when a server is set).

    ``WANDB_DISABLED=true`` (W&B's switch) means ``disabled`` when nothing else says.
    ``init`` turns ``online`` without a team server into ``offline`` (with a warning).
    """
    raw: Any = mode or settings.get("mode") or env(ENV_MODE)
    if raw is None:
        if env_bool(WANDB_DISABLED, False):
            return "disabled"
        return "online" if env(ENV_HOST) else "offline"
    norm = _MODES.get(str(raw).lower())
    if norm is None:
        raise UsageError(f"{mode_origin(mode, settings)}: use 'offline', 'online' or 'disabled'.")
    return norm


def mode_origin(mode: str | None, settings: Settings) -> str:
    """Where the mode came from, for messages: ``init(mode='online')``, ``WANDB_MODE='online'``."""
    if mode or settings.get("mode"):
        return f"init(mode={mode or settings.get('mode')!r})"
    var, raw = env_source(ENV_MODE)
    return f"{var}={raw!r}"


def resolve_reinit(reinit: Any, settings: Settings) -> str:
    """What a second ``init`` does while a run is active (``default`` depends on Jupyter)."""
    value = reinit if reinit is not None else settings.get("reinit", "default")
    if value is True:
        return "finish_previous"
    if value is False or value is None:
        value = "default"
    if value not in _REINIT:
        raise UsageError(f"init(reinit={value!r}): use one of {sorted(_REINIT)} or a bool.")
    if value == "default":
        return "finish_previous" if "ipykernel" in sys.modules else "return_previous"
    return str(value)


def env_tags() -> tuple[str, ...]:
    """``$TRACKER_TAGS`` (comma-separated)."""
    raw = env(ENV_TAGS)
    return tuple(t.strip() for t in raw.split(",") if t.strip()) if raw else ()


def load_config(config: Any) -> dict[str, Any] | None:
    """``init(config=...)`` as a dict (None when not given); see ``tracker._config.config_items``."""
    from tracker._config import config_items

    return None if config is None else config_items(config, "init(config=...)")


def default_config(settings: Settings) -> dict[str, Any]:
    """What ``config-defaults.yaml`` in the working directory and ``settings.config_paths``
    (or ``$TRACKER_CONFIG_PATHS``, comma-separated) hold; W&B reads both, and
    ``init(config=...)`` and a sweep's values win over them."""
    from tracker._config import DEFAULTS_FILE, load_yaml

    out: dict[str, Any] = {}
    if Path(DEFAULTS_FILE).is_file():
        out.update(load_yaml(DEFAULTS_FILE, DEFAULTS_FILE))
    paths = settings.get("config_paths") or [p for p in (env(ENV_CONFIG_PATHS) or "").split(",") if p.strip()]
    for path in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        out.update(load_yaml(path, "settings config_paths"))
    return out


class Args(NamedTuple):
    """``init``'s arguments once the settings and environment have been applied.

    (A ``NamedTuple``, not a dataclass: ``dataclasses`` costs ``import tracker`` 20 ms.)
    """

    st: Settings
    run_mode: str
    entity: str | None
    project: str
    root: Path
    run_id: str | None
    name: str | None
    notes: str | None
    tags: Any
    group: str | None
    job_type: str | None
    resume: str | None
    resume_from: str | None
    resume_timeout: float
    config: Any
    include: list[str] | None
    exclude: list[str] | None


def check_record_fields(a: Args) -> None:
    """The run record's schema (docs/format.md 3.14): checked before anything is created."""
    tags = a.tags
    if tags is not None and (isinstance(tags, str) or not all(isinstance(t, str) for t in tags)):
        raise UsageError("init(tags=...) must be a list of strings.")
    texts = {"name": a.name, "notes": a.notes, "group": a.group, "job_type": a.job_type, "entity": a.entity}
    for field, text in texts.items():
        if text is not None and not isinstance(text, str):
            raise UsageError(f"init({field}={text!r}) must be a string.")


def filter_config(config: Any, include: list[str] | None, exclude: list[str] | None) -> dict[str, Any]:
    from tracker._values import to_plain_mapping

    items = to_plain_mapping(config, "init(config=...)")
    if include:
        items = {k: v for k, v in items.items() if k in include}
    if exclude:
        items = {k: v for k, v in items.items() if k not in exclude}
    for key in items:
        if not isinstance(key, str):
            raise UsageError(f"init(config=...) keys must be strings; got {type(key).__name__} {key!r}.")
    return items


def _host() -> str:
    return os.uname().nodename if hasattr(os, "uname") else ""


def run_record(run: Run, now: float) -> dict[str, Any]:
    """The RUN record that opens a new run's log."""
    return {
        "id": run.id,
        "project": run.project,
        "entity": run.entity,
        "name": run.name,
        "group": run.group,
        "job_type": run.job_type,
        "tags": list(run.tags),
        "notes": run.notes,
        "created": now,
        "pid": os.getpid(),
        "host": _host(),
        "start_time": proc_start_time(),
        "mode": run.mode,
        "format_version": FORMAT_VERSION,
        "tracker_version": __version__,
        "sweep_id": run.sweep_id,
    }


def resume_record(a: Args, rewind: int | None, run: Run, now: float) -> dict[str, Any]:
    """The RESUME record that opens a resumed session (the fields ``init`` was given)."""
    return {
        "ts": now,
        "pid": os.getpid(),
        "host": _host(),
        "start_time": proc_start_time(),
        "rewind": rewind,
        "mode": run.mode,
        "step": run.step,
        "name": a.name,
        "tags": list(a.tags) if a.tags is not None else None,
        "notes": a.notes,
    }
