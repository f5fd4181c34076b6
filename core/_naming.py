"""Names and the on-disk layout: every pattern and path rule a run's files depend on, once.

A project name, a run id (sweep ids follow the same rule) and the place of a run's files
under a data root are checked by ``tracker.init`` when a run is made and again by the
server before a request touches the disk; both read them here, so the two cannot drift.

The layout::

    <root>/projects/<project>/runs/<id>/run.tlog

The patterns are anchored with ``\\Z``, not ``$`` (which also matches before a final
newline, so ``"p\\n"`` passed ``.match``): ``.match`` and ``.fullmatch`` agree.
This module is foundation: it imports only the standard library and ``tracker.errors``.
"""

from __future__ import annotations

import os
import re
import string
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from tracker.errors import UsageError

__all__: list[str] = []

#: The project of a run that names none (W&B's ``uncategorized``).
DEFAULT_PROJECT: Final = "uncategorized"
#: File name of a run log inside its run directory.
LOG_NAME: Final = "run.tlog"
#: The folder under a data root that holds one folder per project.
PROJECTS_DIR: Final = "projects"
#: The folder under a project's folder that holds one folder per run.
RUNS_DIR: Final = "runs"

#: A project (or artifact, alias, collection) name: 1-128 letters, digits, spaces, ``.``,
#: ``_``, ``-``, starting with a letter or digit and not ending with a space (W&B accepts
#: ``"my project"``; a folder name may not end with a space on Windows).
NAME_RE: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._ -]{0,126}[A-Za-z0-9._-])?\Z")
_NAME_CHARS: Final = frozenset(string.ascii_letters + string.digits + "._ -")
#: A run id or a sweep id: 1-64 letters, digits, ``_`` or ``-``.
ID_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
#: A metric key: 1-512 characters, none of them a control character.
KEY_RE: Final = re.compile(r"^[^\x00-\x1f]{1,512}\Z")
#: The characters of a new id (lower-case base 36).
ID_ALPHABET: Final = string.ascii_lowercase + string.digits


def check_name(value: str, what: str) -> str:
    """Return ``value`` if it is a valid project name (``what`` names it in the error).

    Raises:
        UsageError: Not 1-128 letters, digits, spaces, ``.``, ``_`` or ``-`` starting with a
            letter or digit; the message names the character that cannot be stored.
    """
    found = name_problem(value)
    if found is not None:
        raise UsageError(f"{what} {value!r} is not valid: {found}.", key=str(value))
    return value


def name_problem(value: object) -> str | None:
    """Why ``value`` cannot be a project, artifact or collection name (naming the character), or None.

    Every such name becomes a folder name and a URL path segment, so only characters that
    are safe in both on every platform are allowed (W&B allows a few more punctuation
    characters; those are refused here with this message).
    """
    if not isinstance(value, str):
        return f"a name is a string, not {type(value).__name__}"
    if NAME_RE.match(value):
        return None
    rule = "use 1-128 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit"
    if not value:
        return f"it is empty; {rule}"
    if len(value) > 128:
        return f"it is {len(value)} characters long; {rule}"
    bad = next((c for c in value if c not in _NAME_CHARS), None)
    if bad is not None:
        return f"the character {bad!r} cannot be stored safely in a folder name or URL; {rule}"
    if value[0] not in _NAME_CHARS - {".", "_", " ", "-"}:
        return f"it starts with {value[0]!r}; {rule}"
    return f"it ends with a space; {rule}"


def check_id(value: Any) -> str:
    """Return ``value`` if it is a valid run id.

    Raises:
        UsageError: Not 1-64 letters, digits, ``_`` or ``-``.
    """
    if not isinstance(value, str) or not ID_RE.match(value):
        raise UsageError(f"run id {value!r} is not valid: use 1-64 letters, digits, '_' or '-'.")
    return value


def new_id() -> str:
    """A new run or sweep id: 8 base-36 characters."""
    # From the OS's random source (no `secrets`/`random` import).
    n = int.from_bytes(os.urandom(8), "big")
    out = []
    for _ in range(8):
        n, r = divmod(n, 36)
        out.append(ID_ALPHABET[r])
    return "".join(out)


def projects_dir(root: Path) -> Path:
    """The folder of all projects under a data root: ``<root>/projects``."""
    return root / PROJECTS_DIR


def project_dir(root: Path, project: str) -> Path:
    """A project's folder: ``<root>/projects/<project>``."""
    return root / PROJECTS_DIR / project


def run_dir_for(root: Path, project: str, run_id: str) -> Path:
    """Where a run's files live: ``<root>/projects/<project>/runs/<id>``."""
    return root / PROJECTS_DIR / project / RUNS_DIR / run_id


def run_page(project: str, run_id: str) -> str:
    """The path of a run's page in the dashboard and on a team server: ``/projects/<p>/runs/<id>``."""
    return f"{project_page(project)}/runs/{quote(run_id, safe='')}"


def project_page(project: str) -> str:
    """The path of a project's page: ``/projects/<p>`` (URL-encoded: a space is ``%20``)."""
    return f"/projects/{quote(project, safe='')}"


def sweep_page(project: str, sweep_id: str) -> str:
    """The path of a sweep's page: ``/projects/<p>/sweeps/<id>``."""
    return f"{project_page(project)}/sweeps/{quote(sweep_id, safe='')}"


def root_of(run_dir: str | os.PathLike[str]) -> Path:
    """The data root a run directory lies in: the inverse of :func:`run_dir_for`.

    Raises:
        IndexError: ``run_dir`` has fewer than four parents, so it is not laid out as
            ``<root>/projects/<project>/runs/<id>``.
    """
    return Path(run_dir).parents[3]


def has_root(run_dir: str | os.PathLike[str]) -> bool:
    """Whether ``run_dir`` is deep enough to have a data root (see :func:`root_of`)."""
    return len(Path(run_dir).parents) > 3
