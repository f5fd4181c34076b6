"""``$regex`` filters that cannot stall a process: a linear-time engine, or a checked pattern.

A filter's pattern may come from another user of the team server, so a backtracking
engine is not safe: ``^(a+)+$`` takes seconds on a 26-character name and doubles with
each character. Patterns run on RE2 (``google-re2``, installed with ``tracker[server]``),
whose matching time is linear in the text. Without it, Python's ``re`` runs them after
checks that refuse the constructs that make it backtrack exponentially: a quantifier
inside a quantified group (``(a+)+``, ``(a*)*``) and an alternation inside one
(``(a|a)*``). In both cases the language is RE2's: backreferences and lookaround are
refused, and so is the ``x`` (verbose) option; ``i``, ``m`` and ``s`` work as in
MongoDB. A refused pattern raises :class:`~tracker.errors.UsageError` saying why.

Left to the fallback: patterns with several unbounded quantifiers in a row (``.*a.*b.*c``)
cost a polynomial of the text length on Python's ``re``; install ``google-re2`` where
patterns come from people you do not trust.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Final

from tracker.errors import UsageError

__all__ = ["MAX_PATTERN", "compile_regex", "engine"]

#: Longest pattern accepted, in characters.
MAX_PATTERN: Final = 1000
_OPTIONS: Final = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}
_FIX: Final = "install google-re2 (pip install 'tracker[server]') to run it in linear time"


@functools.lru_cache(maxsize=1)
def _re2() -> Any:
    try:
        import re2  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return None
    return re2


def engine() -> str:
    """``"re2"`` when google-re2 is installed (linear time), else ``"re"`` (checked patterns)."""
    return "re" if _re2() is None else "re2"


def compile_regex(value: Any, options: str = "") -> Callable[[str], bool]:
    """A ``search`` predicate for a ``$regex`` operand and its ``$options`` letters.

    Args:
        value: The pattern (a string or a compiled Python pattern, whose flags count).
        options: MongoDB's ``$options`` letters (``i``, ``m``, ``s``).

    Raises:
        UsageError: The pattern is invalid, too long, or uses a construct that is refused
            (the message says which and why).
    """
    flags = 0
    if isinstance(value, re.Pattern):
        flags = value.flags & (re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE)
        value = value.pattern
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    pattern = str(value)
    for letter in str(options):
        if letter == "x":
            flags |= re.VERBOSE
        elif letter in _OPTIONS:
            flags |= _OPTIONS[letter]
        else:
            raise UsageError(f"$options {options!r}: unknown letter {letter!r}; use i, m or s.")
    if flags & re.VERBOSE:
        raise UsageError(f"$regex {pattern!r}: the x (verbose) option is not supported; drop it.")
    if len(pattern) > MAX_PATTERN:
        raise UsageError(f"$regex of {len(pattern)} characters refused: at most {MAX_PATTERN}.")
    re2 = _re2()
    if re2 is not None:
        return _compile_re2(re2, pattern, flags)
    return _compile_checked(pattern, flags)


def _compile_re2(re2: Any, pattern: str, flags: int) -> Callable[[str], bool]:
    opts = re2.Options()
    opts.log_errors = False  # RE2 would print every refused pattern to stderr
    prefix = "".join(c for c, f in (("i", re.I), ("m", re.M), ("s", re.S)) if flags & f)
    try:
        compiled = re2.compile(f"(?{prefix}){pattern}" if prefix else pattern, opts)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise UsageError(
            f"$regex {pattern!r} is refused: {reason} (patterns use RE2 syntax, which runs in linear "
            "time: no backreferences or lookaround)."
        ) from None
    return lambda text: compiled.search(text) is not None


def _compile_checked(pattern: str, flags: int) -> Callable[[str], bool]:
    try:
        compiled = re.compile(pattern, flags)
        tree = _parse(pattern, flags)
    except (re.error, RecursionError, OverflowError) as exc:
        raise UsageError(f"$regex {pattern!r} is not a valid regular expression: {exc}") from None
    problem = _risky(tree, 0)
    if problem is not None:
        raise UsageError(f"$regex {pattern!r} is refused: {problem}.")
    return lambda text: compiled.search(text) is not None


def _parse(pattern: str, flags: int) -> Any:
    try:
        from re import _parser as parser  # type: ignore[attr-defined,unused-ignore]  # Python >= 3.11
    except ImportError:  # pragma: no cover - Python 3.10
        import sre_parse as parser
    return parser.parse(pattern, flags)


def _risky(items: Any, repeats: int) -> str | None:
    """Why the parsed pattern could backtrack exponentially (or is outside RE2's language), or None.

    ``repeats`` counts the quantifiers (with a maximum above 1) that enclose ``items``.
    """
    for op, arg in items:
        name = str(op)
        if name in ("GROUPREF", "GROUPREF_EXISTS", "GROUPREF_IGNORE", "GROUPREF_LOC_IGNORE"):
            return "backreferences are not supported"
        if name in ("ASSERT", "ASSERT_NOT"):
            return "lookahead and lookbehind are not supported"
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            _low, high, sub = arg
            if high > 1 and repeats:
                return (
                    f"a quantifier inside a quantified group (like (a+)+) can take exponential time; {_FIX}"
                )
            found = _risky(sub, repeats + (1 if high > 1 else 0))
            if found is not None:
                return found
        elif name == "SUBPATTERN":
            found = _risky(arg[-1], repeats)
            if found is not None:
                return found
        elif name == "ATOMIC_GROUP":
            found = _risky(arg, repeats)
            if found is not None:
                return found
        elif name == "BRANCH":
            if repeats and len(arg[1]) > 1:
                return (
                    "an alternation inside a quantified group (like (a|aa)*) can take exponential time; "
                    + _FIX
                )
            for branch in arg[1]:
                found = _risky(branch, repeats)
                if found is not None:
                    return found
    return None
