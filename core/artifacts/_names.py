"""Validation of artifact names, aliases and entry paths, and parsing of references.

Everything a user or a manifest supplies passes through here before it touches the
filesystem or the state store: a name or an entry path can never walk out of a folder.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path
from typing import Final, NamedTuple

from tracker._naming import NAME_RE, name_problem
from tracker.errors import UsageError

__all__: list[str] = []

_VERSION_RE: Final = re.compile(r"^v(\d+)$")
#: The pseudo-project that holds registry collections (``model-registry/<collection>``).
REGISTRY_PROJECT: Final = "model-registry"
LATEST: Final = "latest"


def check_name(name: object, what: str = "artifact name") -> str:
    """Return ``name`` if it is a valid artifact, project or collection name.

    Raises:
        UsageError: Not 1-128 letters, digits, spaces, ``.``, ``_`` or ``-`` starting with
            a letter or digit, or it contains ``..`` (``tracker._naming.name_problem``).
    """
    found = name_problem(name) or ("it contains '..'" if ".." in str(name) else None)
    if found is not None:
        raise UsageError(f"{what} {name!r} is not valid: {found}.", key=str(name))
    return str(name)


def check_alias(alias: object) -> str:
    """Return ``alias`` if valid (``v<N>`` is reserved for version numbers).

    Raises:
        UsageError: An invalid alias.
    """
    if not isinstance(alias, str) or not NAME_RE.match(alias) or _VERSION_RE.match(alias):
        raise UsageError(
            f"alias {alias!r} is not valid: use 1-128 letters, digits, spaces, '.', '_' or '-', and not "
            "'v<number>' (those name versions).",
            key=str(alias),
        )
    return alias


def check_aliases(aliases: object) -> list[str]:
    """Validate a list of aliases (a single string is accepted as one alias)."""
    if aliases is None:
        return []
    if isinstance(aliases, str):
        aliases = [aliases]
    if not isinstance(aliases, (list, tuple, set, frozenset)):
        raise UsageError(f"aliases must be a list of strings, not {type(aliases).__name__}.")
    return list(dict.fromkeys(check_alias(a) for a in aliases))


def check_entry(path: object) -> str:
    """Normalise an entry path (POSIX, relative) and reject anything that could escape.

    Raises:
        UsageError: Empty, absolute, containing ``..``, a NUL or a backslash.
    """
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise UsageError(f"artifact entry name {path!r} must be a non-empty string.")
    bad = (
        "\x00" in path
        or "\\" in path
        or path.startswith("/")
        or (len(path) > 1 and path[1] == ":")  # a Windows drive letter
        or any(part == ".." for part in path.split("/"))
    )
    norm = posixpath.normpath(path)
    if bad or norm in (".", "") or norm.startswith("../"):
        raise UsageError(
            f"artifact entry name {path!r} is not a safe relative path: no absolute paths, no "
            "'..', no NUL or backslash.",
            key=path,
        )
    return norm


def safe_join(root: Path, entry: str) -> Path:
    """``root / entry``, refusing any result outside ``root`` (symlinks resolved).

    Raises:
        UsageError: The entry escapes ``root``.
    """
    entry = check_entry(entry)
    base = root.resolve()
    dest = (base / entry).resolve()
    if dest != base and base not in dest.parents:
        raise UsageError(f"artifact entry {entry!r} would be written outside {root}.", key=entry)
    return dest


class Ref(NamedTuple):
    """A parsed artifact reference: ``[[entity/]project/]name[:version|alias]``."""

    project: str | None
    name: str
    ref: str


def parse_ref(text: object, default_ref: str = LATEST) -> Ref:
    """Parse ``name:alias``, ``project/name:v3`` or ``entity/project/name:alias``.

    Raises:
        UsageError: A malformed reference.
    """
    if not isinstance(text, str) or not text:
        raise UsageError(f"artifact reference {text!r}: use 'name:alias', 'name:v3' or 'project/name:alias'.")
    path, sep, ref = text.partition(":")
    if sep and not ref:
        raise UsageError(f"artifact reference {text!r} has an empty version or alias after ':'.")
    ref = ref or default_ref
    parts = path.split("/")
    if len(parts) > 3 or any(not p for p in parts):
        raise UsageError(f"artifact reference {text!r}: use 'name:alias', 'project/name:alias' or "
                         "'entity/project/name:alias'.")  # fmt: skip
    if not _VERSION_RE.match(ref):
        check_alias(ref)
    name = check_name(parts[-1])
    project = check_name(parts[-2], "project name") if len(parts) >= 2 else None
    return Ref(project, name, ref)


def registry_target(target: object) -> str:
    """The collection name of ``model-registry/<collection>`` (an entity prefix is allowed).

    Raises:
        UsageError: Not a registry path.
    """
    if isinstance(target, str):
        parts = target.split("/")
        if len(parts) in (2, 3) and parts[-2] == REGISTRY_PROJECT:
            return check_name(parts[-1], "collection name")
    raise UsageError(f"link_artifact(target_path={target!r}): use 'model-registry/<collection>'.")
