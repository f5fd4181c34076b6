"""Notebook summaries (``_repr_html_``) of a live run, an ``Api`` run and an artifact.

Jupyter shows the object returned by the last line of a cell through ``_repr_html_``:
``tracker.init()`` in a notebook then shows the run's name, state, link and key figures
as W&B's does, and, while a ``tracker ui`` serves the run's data root, its dashboard
page in an iframe. Everything shown is escaped; nothing here reads more than the object
already holds (plus ``<root>/.ui.json`` for the iframe).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from tracker._human import format_size

__all__ = ["artifact_html", "run_html"]

_MAX_FIGURES: Final = 8  # summary numbers shown; the rest are counted
_IFRAME_HEIGHT: Final = 480


def run_html(
    *,
    name: str,
    run_id: str,
    project: str,
    state: str,
    url: str,
    summary: Mapping[str, Any],
    facts: Iterable[tuple[str, str]],
    root: Path | None,
) -> str:
    """A run's summary: a header line, a table of key figures, and the dashboard when served.

    Args:
        name: Display name.
        run_id: Run id.
        project: Project.
        state: ``running``, ``finished``, ...
        url: The run's page.
        summary: The summary; numbers (not ``_``-prefixed keys) become the key figures.
        facts: More ``(label, text)`` rows (steps, created, ...).
        root: The local data root (for the iframe), or None (a team server's run).
    """
    esc = html.escape
    rows = [(label, text) for label, text in facts if text]
    numbers = [(k, v) for k, v in summary.items() if not k.startswith("_") and _is_number(v)]
    for key, value in numbers[:_MAX_FIGURES]:
        rows.append((key, f"{value:.6g}" if isinstance(value, float) else str(value)))
    if len(numbers) > _MAX_FIGURES:
        rows.append(("", f"… {len(numbers) - _MAX_FIGURES} more in run.summary"))
    table = "".join(
        f'<tr><td style="text-align:left;padding-right:1em">{esc(k)}</td>'
        f'<td style="text-align:left">{esc(v)}</td></tr>'
        for k, v in rows
    )
    parts = [
        '<div class="tracker-run">',
        f"<b>{esc(name)}</b> <code>{esc(project)}/{esc(run_id)}</code> · {esc(state)} · "
        f'<a href="{esc(url, quote=True)}" target="_blank" rel="noopener">open in the dashboard</a>',
        f"<table>{table}</table>" if table else "",
    ]
    if root is not None and _served(root):
        parts.append(
            f'<iframe src="{esc(url, quote=True)}" width="100%" height="{_IFRAME_HEIGHT}" '
            'style="border:1px solid #ddd" loading="lazy"></iframe>'
        )
    parts.append("</div>")
    return "".join(parts)


def artifact_html(
    *, name: str, type_: str, state: str, aliases: Iterable[str], size: int | None, files: int | None,
    digest: str | None, description: str | None,
) -> str:  # fmt: skip
    """An artifact's summary: qualified name, type, state, aliases, size, files, digest."""
    esc = html.escape
    facts = [
        ("type", type_),
        ("state", state.lower()),
        ("aliases", ", ".join(aliases)),
        ("size", format_size(size) if size is not None else ""),
        ("files", str(files) if files is not None else ""),
        ("digest", digest[:16] + "…" if digest else ""),
        ("description", description or ""),
    ]
    table = "".join(
        f'<tr><td style="text-align:left;padding-right:1em">{esc(k)}</td>'
        f'<td style="text-align:left">{esc(v)}</td></tr>'
        for k, v in facts
        if v
    )
    return f'<div class="tracker-artifact"><b>{esc(name)}</b><table>{table}</table></div>'


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not isinstance(value, float) or math.isfinite(value)


def _served(root: Path) -> bool:
    from tracker._ui_link import ui_link

    return ui_link(root) is not None
