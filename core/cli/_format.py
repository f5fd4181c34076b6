"""How listings and values read on a terminal: aligned tables with headers, short value descriptions."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Final

from tracker._human import format_size

__all__ = ["describe", "print_table"]

_MAX_TEXT: Final = 80  # a value's one-line description is cut here


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[str] = ()) -> None:
    """Print ``rows`` under ``header``, columns aligned; the columns named in ``right`` right-aligned."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    flush_right = [h in right for h in header]
    for line in [list(header), *rows]:
        cells = (
            cell.rjust(w) if r else cell.ljust(w)
            for cell, w, r in zip(line, widths, flush_right, strict=True)
        )
        print("  ".join(cells).rstrip())


def describe(value: Any) -> str:
    """A config or summary value in one short line: media and histograms as what they are.

    Example:
        >>> describe({"_type": "histogram", "values": [1, 2], "bins": [0.0, 1.0, 2.0]})
        'histogram: 2 bins over [0, 2], 3 values'
    """
    if isinstance(value, dict):
        kind = value.get("_type")
        if isinstance(kind, str):
            return _media(kind, value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = json.dumps(value, default=repr, allow_nan=True)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _media(kind: str, v: dict[str, Any]) -> str:
    if kind == "histogram":
        values, bins = v.get("values") or [], v.get("bins") or []
        span = f" over [{bins[0]:g}, {bins[-1]:g}]" if bins else ""
        total = sum(x for x in values if isinstance(x, (int, float)))
        return f"histogram: {len(values)} bins{span}, {total:g} values"
    name = kind.removesuffix("-file")
    parts: list[str] = []
    if "width" in v and "height" in v:
        parts.append(f"{v['width']}x{v['height']}")
    if "nrows" in v and "ncols" in v:
        parts.append(f"{v['nrows']} rows x {v['ncols']} columns")
        columns = v.get("columns")
        if isinstance(columns, list) and columns:
            shown = ", ".join(str(c) for c in columns[:6]) + (", …" if len(columns) > 6 else "")
            parts.append(f"({shown})")
    if "duration" in v:
        parts.append(f"{v['duration']:g} s")
    if isinstance(v.get("format"), str):
        parts.append(v["format"])
    if isinstance(v.get("size"), int):
        parts.append(format_size(v["size"]))
    if isinstance(v.get("caption"), str) and v["caption"]:
        parts.append(f"caption {v['caption']!r}")
    if isinstance(v.get("count"), int):
        parts.append(f"{v['count']} items")
    head = f"{name}: {' '.join(parts)}" if parts else name
    return f"{head}  [{v['path']}]" if isinstance(v.get("path"), str) else head
