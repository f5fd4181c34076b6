"""The one place tracker writes to the terminal: short stderr lines, as W&B's ``wandb:`` lines.

The house style forbids ``print``; this module is its one exception. It writes the line
``init`` prints (where the run is written, how to view it, how to upload it when offline),
the one ``finish`` prints (a few summary values), and W&B's ``termlog``/``termwarn``/
``termerror`` for user code. Everything goes to ``sys.stderr`` with the ``tracker:`` prefix,
so stdout stays the program's own. ``silent``/``quiet`` settings, ``TRACKER_SILENT`` /
``TRACKER_QUIET`` (or W&B's ``WANDB_SILENT`` / ``WANDB_QUIET``) turn it all off. A closed or
missing stderr never fails the caller.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from tracker._settings import ENV_QUIET, ENV_SILENT, Settings, env_bool

__all__ = ["termerror", "termlog", "termwarn"]

PREFIX: Final = "tracker: "
#: Summary values the finish line shows at most (W&B prints a table of them).
SUMMARY_KEYS: Final = 8
_said: set[str] = set()
#: Characters a shell word may hold unquoted (``shlex.quote``'s safe set).
_PLAIN: Final = re.compile(r"[\w@%+=:,./-]+", re.ASCII)
#: Runs started with ``silent``/``quiet`` settings: ``termlog`` is silent while any is active.
_quiet_runs: set[str] = set()


def silenced(settings: Settings | None = None) -> bool:
    """True when the settings, an active silent run or the environment ask for no console lines."""
    if settings is not None and (settings.get("silent") or settings.get("quiet")):
        return True
    return bool(_quiet_runs) or env_bool(ENV_SILENT, False) or env_bool(ENV_QUIET, False)


def quiet_while(run_id: str) -> None:
    """Keep :func:`termlog` silent until :func:`loud_again` for this run (its settings say so)."""
    _quiet_runs.add(run_id)


def loud_again(run_id: str) -> None:
    """The silent run ``run_id`` finished."""
    _quiet_runs.discard(run_id)


def write(text: str, *, newline: bool = True, prefix: bool = True) -> None:
    """Write ``text`` (each of its lines prefixed) to stderr; nothing when stderr is gone."""
    stream = sys.stderr
    if stream is None:
        return
    if prefix:
        text = "\n".join(PREFIX + line for line in text.split("\n"))
    try:
        stream.write(text + ("\n" if newline else ""))
        stream.flush()
    except (OSError, ValueError):  # a closed or broken stderr: the run goes on without the line
        return


def termlog(string: str = "", newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """Write a line to stderr with the ``tracker:`` prefix (W&B's ``wandb.termlog``).

    Args:
        string: The text.
        newline: End with a newline.
        repeat: False to write a given text only once per process.
        prefix: Prefix each line with ``tracker:``.
    """
    _term(str(string), newline, repeat, prefix, "")


def termwarn(string: str, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """Like :func:`termlog`, marked ``WARNING`` (W&B's ``wandb.termwarn``)."""
    _term(str(string), newline, repeat, prefix, "WARNING ")


def termerror(string: str, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    """Like :func:`termlog`, marked ``ERROR`` (W&B's ``wandb.termerror``)."""
    _term(str(string), newline, repeat, prefix, "ERROR ")


def _term(string: str, newline: bool, repeat: bool, prefix: bool, mark: str) -> None:
    if silenced():
        return
    if not repeat:
        if string in _said:
            return
        _said.add(string)
    write(mark + string, newline=newline, prefix=prefix)


def init_lines(*, name: str, run_id: str, run_dir: str, root: str, url: str | None, online: bool) -> str:
    """What ``init`` prints: where the run is, how to view it, how to upload it.

    Args:
        name: The run's display name.
        run_id: The run's id.
        run_dir: The run's folder.
        root: The data root.
        url: The run's page when something serves it (a team server, a live ``tracker ui``,
            ``$TRACKER_UI_URL``), without any token; None otherwise.
        online: True when the run streams to a team server.
    """
    shown = name if name == run_id else f"{name} ({run_id})"
    lines = [f"run {shown} is saved locally in {run_dir}"]
    if online:
        lines.append(f"streaming to the team server: {url}")
    else:
        lines.append(f"view it at {url}" if url else f"view it with: tracker ui --root {_quote(root)}")
        lines.append(f"offline run; upload it to a team server with: tracker sync {_quote(run_dir)}")
    return "\n".join(lines)


def dashboard_page(root: Path, project: str, run_id: str) -> str | None:
    """A run's page on the live ``tracker ui`` of ``root`` or at ``$TRACKER_UI_URL``, without
    the dashboard's token (stderr often lands in shared logs); None when nothing serves it."""
    from tracker._naming import run_page
    from tracker._settings import ENV_UI_URL, env
    from tracker._ui_link import ui_link

    found = ui_link(root)
    base = env(ENV_UI_URL) or (found[0] if found is not None else None)
    return base.rstrip("/") + run_page(project, run_id) if base else None


def finish_line(*, name: str, run_id: str, state: str, steps: int, summary: Mapping[str, Any]) -> str:
    """What ``finish`` prints: the state, the number of steps and a few summary values."""
    shown = name if name == run_id else f"{name} ({run_id})"
    values = [(k, v) for k, v in sorted(summary.items()) if not k.startswith("_") and _scalar(v)]
    parts = [f"{k}={_fmt(v)}" for k, v in values[:SUMMARY_KEYS]]
    more = len(values) - SUMMARY_KEYS
    if more > 0:
        parts.append(f"(+{more} more)")
    tail = f"; summary: {', '.join(parts)}" if parts else ""
    return f"run {shown} {state} after {steps} step{'s' if steps != 1 else ''}{tail}"


def _quote(path: str) -> str:
    """``path`` as a shell word (``shlex`` is imported only for paths that need quoting)."""
    if _PLAIN.fullmatch(path):
        return path
    import shlex

    return shlex.quote(path)


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float, str)) and not (isinstance(value, str) and len(value) > 40)


def _fmt(value: Any) -> str:
    import math

    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    return str(value)
