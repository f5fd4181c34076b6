"""The CLI agent's command line, built from W&B's whole-token macros.

A token that is exactly ``${macro}`` is replaced by the macro's arguments (unknown macros
vanish, as in W&B); ``${envvar:NAME}`` is substituted anywhere inside a token. Values are
rendered with Python's ``str()`` like W&B (``True``, ``None``, ``1e-05``); only
``${args_json}`` and ``${args_json_file}`` give JSON. Difference from W&B:
``${interpreter}`` is the agent's own Python (``sys.executable``), not ``python`` on PATH.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

__all__ = ["DEFAULT_COMMAND", "build_command"]

DEFAULT_COMMAND: Final = ("${env}", "${interpreter}", "${program}", "${args}")
_ENVVAR: Final = re.compile(r"\$\{envvar:([A-Z0-9_]+)\}")


def build_command(
    template: Sequence[Any] | None,
    *,
    program: str | None,
    params: Mapping[str, Any],
    json_file: Path,
    environ: Mapping[str, str],
) -> list[str]:
    """Expand a command template for one run.

    Args:
        template: The sweep's ``command`` (None for W&B's default).
        program: The sweep's ``program``.
        params: The run's parameters (top-level names; nested groups as dicts).
        json_file: Where ``${args_json_file}`` writes the parameters.
        environ: The environment for ``${envvar:NAME}``.

    Returns:
        The argv list.
    """
    out: list[str] = []
    for raw in template if template is not None else DEFAULT_COMMAND:
        token = _ENVVAR.sub(lambda m: environ.get(m.group(1), m.group(1)), str(raw))
        if token.startswith("${") and token.endswith("}"):
            out.extend(_macro(token[2:-1], program, params, json_file))
        else:
            out.append(token)
    return out


def _macro(name: str, program: str | None, params: Mapping[str, Any], json_file: Path) -> list[str]:
    items = list(params.items())
    if name == "env":
        return [] if sys.platform == "win32" else ["/usr/bin/env"]
    if name == "interpreter":
        return [sys.executable]
    if name == "program":
        return [program] if program else []
    if name == "args":
        return [f"--{k}={v}" for k, v in items]
    if name == "args_no_equals":
        return [part for k, v in items for part in (f"--{k}", str(v))]
    if name == "args_no_hyphens":
        return [f"{k}={v}" for k, v in items]
    if name == "args_no_boolean_flags":
        return [f"--{k}" if v is True else f"--{k}={v}" for k, v in items if v is not False]
    if name == "args_json":
        return [json.dumps(dict(items))]
    if name == "args_json_file":
        json_file.write_text(json.dumps(dict(items)))
        return [str(json_file)]
    if name == "args_append_hydra":
        return [f"+{k}={v}" for k, v in items]
    if name == "args_override_hydra":
        return [f"++{k}={v}" for k, v in items]
    return []  # unknown macros vanish, as in W&B
