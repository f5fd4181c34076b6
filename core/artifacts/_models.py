"""The run's model and code artifacts: W&B's ``log_model``, ``use_model``, ``link_model``, ``log_code``.

Each builds on the three artifact calls of :mod:`tracker.artifacts._ops`: a model is an
artifact of type ``model`` (named ``run-<run id>-<file or folder name>`` unless named),
linked into the registry as ``model-registry/<registered_model_name>``; code is an
artifact of type ``code`` named ``source-<project>-<program>`` (see :mod:`tracker._code`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.artifacts._artifact import Artifact
from tracker.artifacts._ops import _Ops, link_artifact, log_artifact, use_artifact
from tracker.errors import UsageError

if TYPE_CHECKING:
    from tracker._port import RunPort

__all__: list[str] = []


def _model_artifact(run: RunPort, path: Any, name: str | None) -> Artifact:
    local = Path(os.fspath(path)).expanduser()
    if not local.exists():
        raise UsageError(f"log_model({os.fspath(path)!r}): no such file or folder.")
    art = Artifact(name or f"run-{run.id}-{local.name}", type="model")
    if local.is_dir():
        art.add_dir(local)
    else:
        art.add_file(local)
    return art


def log_model(run: RunPort, path: Any, name: str | None = None, aliases: Any = None) -> Artifact:
    """``Run.log_model``: log a file or folder as a ``model`` artifact of this run."""
    return log_artifact(run, _model_artifact(run, path, name), aliases=aliases)


def use_model(run: RunPort, name: str) -> str:
    """``Run.use_model``: use a ``model`` artifact and download it; the file's path when it
    holds one file, else the folder's."""
    art = use_artifact(run, name)
    if art.type != "model":
        raise UsageError(f"use_model({name!r}): that artifact has type {art.type!r}, not 'model'.")
    folder = Path(art.download())
    files = [e.path for e in art.files()]
    return str(folder / files[0]) if len(files) == 1 else str(folder)


def link_model(
    run: RunPort, path: Any, registered_model_name: str, name: str | None = None, aliases: Any = None
) -> Artifact:
    """``Run.link_model``: log ``path`` as a model (unchanged content keeps its version) and
    link it into ``model-registry/<registered_model_name>``."""
    if not isinstance(registered_model_name, str) or not registered_model_name:
        raise UsageError("link_model(registered_model_name=...) must be a non-empty string.")
    art = log_artifact(run, _model_artifact(run, path, name))
    return link_artifact(run, art, f"model-registry/{registered_model_name}", aliases=aliases)


def log_code(
    run: RunPort,
    root: Any = ".",
    name: str | None = None,
    include_fn: Callable[..., Any] | None = None,
    exclude_fn: Callable[..., Any] | None = None,
) -> Artifact | None:
    """``Run.log_code``: the code files under ``root`` as a ``code`` artifact; None (with a
    warning) when there are none."""
    from tracker import _code

    if root is None:
        return None
    kwargs: dict[str, Any] = {}
    if include_fn is not None:
        kwargs["include_fn"] = include_fn
    if exclude_fn is not None:
        kwargs["exclude_fn"] = exclude_fn
    skip = run.root.resolve() if run.root is not None else None
    found = list(_code.code_files(root, skip=skip, **kwargs))
    if not found:
        import warnings

        from tracker.errors import TrackerWarning

        warnings.warn(
            f"log_code({os.fspath(root)!r}): no code files found there; no code is logged.",
            TrackerWarning,
            stacklevel=3,
        )
        return None
    program = _code.program()
    label = program.name if program is not None else run.id
    art = Artifact(name or _code.artifact_name(run.project, label), type="code")
    for path, rel in found:
        art.add_file(path, name=rel)
    return log_artifact(run, art)


def save_code(run: RunPort) -> Artifact | None:
    """``init(save_code=True)``: the script being run as a ``code`` artifact (None without one)."""
    from tracker import _code

    program = _code.program()
    if program is None:
        return None
    art = Artifact(_code.artifact_name(run.project, program.name), type="code")
    art.add_file(program)
    return log_artifact(run, art)


class _ModelOps(_Ops):
    """``tracker._port.ArtifactOps`` with the model and code calls (wired by ``tracker._init``)."""

    log_model = staticmethod(log_model)
    use_model = staticmethod(use_model)
    link_model = staticmethod(link_model)
    log_code = staticmethod(log_code)


OPS = _ModelOps()
