"""Text for people: sizes, durations, and "did you mean ...?" for a mistyped name.

One place, so that the CLI, ``Api``, ``init`` and the notebook summaries phrase these the
same way (``446.2 MB``, ``; did you mean 'train/loss'?``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Final

__all__ = ["did_you_mean", "format_duration", "format_size", "listing"]

_SIZE_UNITS: Final = ("B", "kB", "MB", "GB", "TB", "PB")


def format_size(n: float) -> str:
    """A byte count for people, in decimal units as ``ls -h --si`` and W&B print them.

    Args:
        n: A number of bytes.

    Returns:
        ``"512 B"``, ``"1.5 kB"``, ``"446.2 MB"``, ...

    Example:
        >>> format_size(446184657)
        '446.2 MB'
    """
    value = float(n)
    for unit in _SIZE_UNITS:
        if abs(value) < 1000 or unit == _SIZE_UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover - the loop always returns


def format_duration(seconds: float) -> str:
    """``"0:07"``, ``"12:03"`` or ``"1:02:03"`` for a number of seconds."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def did_you_mean(word: str, candidates: Iterable[str], *, n: int = 3, prefix: str = "") -> str:
    """``"; did you mean 'loss'?"`` (or ``'a' or 'b'``), or ``""`` when nothing is close.

    Matching is difflib's ratio (cutoff 0.6), so transpositions and one-letter typos
    (``trian/loss``, ``projet``) are found; a case-only difference always matches.

    Args:
        word: What was given.
        candidates: The names that exist.
        n: At most this many suggestions.
        prefix: Shown before each suggestion and not compared (``summary.`` of
            ``summary.val/loss``: a shared prefix would make every key look close).

    Returns:
        The hint, to append to an error message.

    Example:
        >>> did_you_mean("trian/loss", ["train/loss", "val/loss"])
        "; did you mean 'train/loss'?"
    """
    names = [c for c in dict.fromkeys(candidates) if c != word]
    folded = [c for c in names if c.lower() == word.lower()]
    close = folded + [c for c in difflib.get_close_matches(word, names, n=n, cutoff=0.6) if c not in folded]
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(prefix + c) for c in close[:n]) + "?"


def listing(names: Iterable[str], *, limit: int = 10) -> str:
    """``"a, b, c"``, cut to ``limit`` names with ``"... (N more)"``; ``"none yet"`` when empty."""
    items = list(names)
    if not items:
        return "none yet"
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown}, ... ({len(items) - limit} more)"
