"""Where the dashboard of a data root is: the ``<root>/.ui.json`` hand-over file.

``tracker ui`` (and ``tracker demo``) write the URL they serve, with the per-launch
token, to ``<root>/.ui.json``, readable by the user only (mode 0600, like an SSH key:
the token is a credential), and remove it when they stop. ``run.url`` reads it, so the
link a training script prints opens the running dashboard without a login step.

Resolution of a run's URL, first match wins:

1. ``$TRACKER_UI_URL`` (a dashboard somewhere else, e.g. behind a proxy): used as given;
2. ``<root>/.ui.json`` written by a ``tracker ui`` whose process is still alive on this
   host: its URL plus ``?token=...``;
3. the default ``http://127.0.0.1:8765`` of ``tracker ui`` (start it to open the link;
   with a token it asks for the URL it prints).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from tracker._naming import run_page

__all__ = ["DEFAULT_UI", "UI_FILE", "clear_ui_file", "page_url", "run_url", "ui_link", "write_ui_file"]

#: The URL ``tracker ui`` serves when started without ``--port``.
DEFAULT_UI: Final = "http://127.0.0.1:8765"
#: The hand-over file's name in the data root.
UI_FILE: Final = ".ui.json"


def write_ui_file(root: Path, url: str, token: str | None) -> Path:
    """Record the dashboard serving ``root`` (atomically, mode 0600); return the file's path.

    Args:
        root: The data root.
        url: The base URL (``http://127.0.0.1:8765``), without a path or token.
        token: The per-launch token, or None when none is required.
    """
    import json

    root.mkdir(parents=True, exist_ok=True)
    path = root / UI_FILE
    tmp = root / f"{UI_FILE}.{os.getpid()}.tmp"
    body = json.dumps({"url": url.rstrip("/"), "token": token, "pid": os.getpid(), "host": _hostname()})
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by the umask and ignored for an old file
        os.write(fd, body.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def clear_ui_file(root: Path) -> None:
    """Remove ``<root>/.ui.json`` if this process wrote it (a newer ``tracker ui`` keeps its own)."""
    info = _read(root / UI_FILE)
    if info is not None and info.get("pid") == os.getpid():
        (root / UI_FILE).unlink(missing_ok=True)


def ui_link(root: Path) -> tuple[str, str | None] | None:
    """``(base URL, token)`` of the live dashboard serving ``root``, or None when there is none."""
    info = _read(root / UI_FILE)
    if info is None:
        return None
    url, token, pid = info.get("url"), info.get("token"), info.get("pid")
    if not isinstance(url, str) or not isinstance(pid, int) or not isinstance(token, (str, type(None))):
        return None
    if info.get("host") == _hostname() and not _alive(pid):
        return None  # left behind by a killed `tracker ui`
    return url, token


def run_url(root: Path, project: str, run_id: str, configured: str | None) -> str:
    """The URL of a run's page (see the module docstring for the order).

    Args:
        root: The data root of the run.
        project: The run's project.
        run_id: The run's id.
        configured: ``$TRACKER_UI_URL``, when set.
    """
    return page_url(root, run_page(project, run_id), configured)


def page_url(root: Path, path: str, configured: str | None) -> str:
    """The URL of any dashboard page (``path`` from ``tracker._naming``), resolved as :func:`run_url`."""
    if configured:
        return configured.rstrip("/") + path
    found = ui_link(root)
    if found is None:
        return DEFAULT_UI + path
    base, token = found
    return base + path + (f"?token={quote(token)}" if token else "")


def _hostname() -> str:
    # socket is imported here, not at module level: init's console line reads .ui.json, and
    # importing socket costs a run's init several milliseconds.
    import socket

    return socket.gethostname()


def _read(path: Path) -> dict[str, Any] | None:
    import json  # here, not at the top: init reads this file on every run (its console line)

    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    except OSError:
        return False
    return True
