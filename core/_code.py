"""Which files are a run's code: W&B's ``save_code=True`` and ``run.log_code()``.

:func:`code_files` walks a folder and keeps the files ``include_fn`` accepts and
``exclude_fn`` does not (each called as W&B calls it: ``fn(path)`` or ``fn(path, root)``;
by default ``.py`` files, ``requirements.txt`` and ``Dockerfile``s). Unlike W&B's walk it
never enters hidden folders, virtual environments (a folder with ``pyvenv.cfg``),
``site-packages``, ``node_modules``, ``__pycache__`` or W&B's and tracker's own data
folders, so ``log_code(".")`` from a project's root stores the project, not its
dependencies. The artifact itself (type ``code``) is made by ``tracker.artifacts._models``.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

__all__: list[str] = []

_SKIP_DIRS: Final = frozenset({"__pycache__", "node_modules", "site-packages", "wandb", "tracker-root"})
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


def default_include(path: str, root: str | None = None) -> bool:
    """W&B's default: Python files, ``requirements.txt`` and ``Dockerfile``s."""
    name = os.path.basename(path)
    return name.endswith(".py") or name == "requirements.txt" or name.startswith("Dockerfile")


def default_exclude(path: str, root: str | None = None) -> bool:
    """Nothing beyond the folders :func:`code_files` never enters."""
    return False


def code_files(
    root: str | os.PathLike[str],
    include_fn: Callable[..., Any] = default_include,
    exclude_fn: Callable[..., Any] = default_exclude,
    skip: Path | None = None,
) -> Iterator[tuple[Path, str]]:
    """``(file, path inside the artifact)`` for each code file under ``root``, sorted.

    ``skip`` is a folder never entered (the data root, when it lies under ``root``).
    """
    base = Path(root).resolve()
    include, exclude = _call_as_wandb(include_fn), _call_as_wandb(exclude_fn)
    for folder, dirs, files in os.walk(base):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not _skipped(here / d, skip))
        for name in sorted(files):
            path = here / name
            if path.is_file() and include(str(path), str(base)) and not exclude(str(path), str(base)):
                yield path, path.relative_to(base).as_posix()


def _skipped(folder: Path, skip: Path | None) -> bool:
    name = folder.name
    if name.startswith(".") or name in _SKIP_DIRS or (folder / "pyvenv.cfg").exists():
        return True
    return skip is not None and folder.resolve() == skip


def _call_as_wandb(fn: Callable[..., Any]) -> Callable[[str, str], bool]:
    """``fn(path, root)``, or ``fn(path)`` for a one-argument function (W&B allows both)."""
    try:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        takes_root = len(params) >= 2 or any(
            p.kind is p.VAR_POSITIONAL for p in inspect.signature(fn).parameters.values()
        )
    except (TypeError, ValueError):  # a builtin without a signature: try both
        takes_root = True
    if takes_root:
        return lambda path, root: bool(fn(path, root))
    return lambda path, root: bool(fn(path))


def program() -> Path | None:
    """The script this process runs (``__main__``'s file), or None (a notebook, ``python -c``)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path:
        return None
    found = Path(path).resolve()
    return found if found.is_file() else None


def artifact_name(project: str, label: str) -> str:
    """W&B's code artifact name, ``source-<project>-<label>``, with unsafe characters as ``_``."""
    return _UNSAFE.sub("_", f"source-{project}-{label}")[:128]
