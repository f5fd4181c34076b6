"""Where the files a request is served from may lie: inside the data root, inside a run's folders.

Paths in a URL are never opened; files are found through a run's records. These checks
stand behind that: a run directory that is a link out of the data root (put there by
hand) is not served, and a recorded path is served only when it is a plain relative path
that resolves (links followed) inside the run's ``media/`` or ``files/`` folder, so a
record naming ``../run.tlog`` serves nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracker._naming import ID_RE, NAME_RE, run_dir_for
from tracker.errors import StorageError, UsageError

__all__ = ["inside_root", "served"]


def inside_root(root: Path, project: str, run_id: str) -> Path:
    """The directory of a run, refused unless it resolves inside the data root ``root``.

    A run directory that is a link to elsewhere (put there by hand) is never served.

    Raises:
        UsageError: ``project`` or ``run_id`` is not a valid name.
        StorageError: It resolves outside the data root.
    """
    if not NAME_RE.fullmatch(project):
        raise UsageError(f"{project!r} is not a valid project name.")
    if not ID_RE.fullmatch(run_id):
        raise UsageError(f"{run_id!r} is not a valid run id.")
    path = run_dir_for(root, project, run_id)
    if not path.resolve().is_relative_to(root.resolve()):
        raise StorageError(f"run {project}/{run_id} is a link out of the data root; it is not served.")
    return path


def served(run_dir: Path, top: str, rel: Any, find: Callable[[], Path]) -> Path:
    """The file ``find()`` returns for the recorded path ``rel``, if it is a file of ``top/``.

    ``rel`` must be a plain relative path under ``top/`` (no ``..``, ``.``, empty part,
    backslash or NUL), and the file it resolves to (links followed) must lie in
    ``run_dir/top``: a record naming ``../run.tlog`` serves nothing.

    Raises:
        UsageError: Either check fails.
    """
    parts = rel.split("/") if isinstance(rel, str) else []
    bad = (
        len(parts) < 2
        or parts[0] != top
        or any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts)
    )
    if not bad:
        path = find()
        if path.resolve().is_relative_to((run_dir / top).resolve()):
            return path
    raise UsageError(f"the run recorded the file {rel!r}, which is not inside its {top}/ folder; not served.")
