"""Finding run logs under a data root, and skipping the ones that cannot be read.

Used by :meth:`tracker.storage._base.IndexBackend.refresh` (before every read) and by the
SQL index's batches.
"""

from __future__ import annotations

import os
from pathlib import Path
from stat import S_ISDIR, S_ISREG

from tracker._naming import LOG_NAME, PROJECTS_DIR, RUNS_DIR
from tracker.errors import CorruptRecordError, StorageError

__all__: list[str] = []

_warned: set[str] = set()


def _skip_unreadable(path: Path | str, exc: StorageError) -> None:
    """One unreadable log must not hide the others: warn once (raise in strict mode).

    Only errors about the log itself are skipped: an error of the index (its ``path`` is
    not the log's) is raised.
    """
    from tracker._settings import strict

    if strict() or (not isinstance(exc, CorruptRecordError) and exc.path != str(path)):
        raise exc
    if str(path) not in _warned:
        _warned.add(str(path))
        import warnings

        from tracker.errors import TrackerWarning

        warnings.warn(f"skipping {path}: {exc}", TrackerWarning, stacklevel=4)


def _discover(
    root: Path, project: str | None, run_id: str | None
) -> dict[tuple[str, str], tuple[str, tuple[int, int]]]:
    """Find run logs under ``root`` with their ``(size, mtime_ns)``.

    Plain strings and ``os.scandir``/``os.stat``: this runs before every read, over
    every run of a project (pathlib costs more than the stat calls themselves).
    """
    base = os.path.join(os.fspath(root), PROJECTS_DIR)
    stats: dict[tuple[str, str], tuple[str, tuple[int, int]]] = {}
    if project is None:
        try:
            with os.scandir(base) as entries:
                projects = [e.name for e in entries if e.is_dir()]
        except (FileNotFoundError, NotADirectoryError):
            return {}
    else:
        projects = [project]
    stat = os.stat
    for proj in projects:
        runs_dir = os.path.join(base, proj, RUNS_DIR)
        if run_id is not None:
            ids = [run_id]
        else:
            try:
                with os.scandir(runs_dir) as entries:
                    ids = []
                    for e in entries:
                        if e.is_dir(follow_symlinks=False):
                            ids.append(e.name)
                        elif e.is_symlink():  # may lead out of the data root: never followed
                            msg = "a symbolic link: run folders must lie inside the data root"
                            _skip_unreadable(e.path, CorruptRecordError(msg, path=e.path))
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:  # a link loop, a permission: this project only
                _skip_unreadable(runs_dir, StorageError(f"cannot list it: {exc.strerror}", path=runs_dir))
                continue
        for rid in ids:
            path = f"{runs_dir}/{rid}/{LOG_NAME}"
            try:
                st = stat(path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:  # a link loop, a permission: this run only
                _skip_unreadable(path, StorageError(f"cannot read it: {exc.strerror}", path=path))
                continue
            if not S_ISREG(st.st_mode):  # a directory (or FIFO, ...) named run.tlog: not a log
                what = "a directory" if S_ISDIR(st.st_mode) else "not a regular file"
                _skip_unreadable(path, CorruptRecordError(f"it is {what}, not a run log", path=path))
                continue
            stats[(proj, rid)] = (path, (st.st_size, st.st_mtime_ns))
    return stats
