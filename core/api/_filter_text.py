"""The filter box's text grammar, compiled to the MongoDB-style dict ``Api().runs`` evaluates.

One parser for every place a person types a filter (the dashboard's box today; W&B report
filter expressions compile to the same dict). The dict is evaluated by
:mod:`tracker.api._filters`, so the dashboard and ``Api`` select the same runs.

Grammar (keywords are case-insensitive; conditions side by side mean ``and``)::

    filter     := or_expr?
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := unary ("and"? unary)*
    unary      := "not" unary | "(" or_expr ")" | condition
    condition  := key op value
    op         := "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "!~" | ":"
    key, value := a bare word, or a string in '...' or "..." (backslash escapes)

Keys: ``config.<key>``; ``summary.<key>`` (also ``summary_metrics.<key>``); the run
fields ``state``, ``name`` (the display name), ``id``, ``tags``, ``group``, ``job_type``,
``notes``, ``sweep``, ``created`` (``created_at``) and ``heartbeat_at``. Any other key
(``lr``, ``val/loss``) is a *bare key*: it matches when the run's summary or its config
has the key and satisfies the condition (W&B users type bare metric names).

Values: a number (``1e-3``, ``-2``), ``true``/``false``, ``null``, otherwise a string
(``state=finished``; quote one that contains spaces or ``()<>=!~:``). ``~`` is a regex
search (linear time, :mod:`tracker.api._regex`); ``:`` is ``=`` (``tags:baseline``: a
list field matches when any element does).

Missing keys: a run that lacks the key never matches a condition on it, ``!=`` and
``!~`` included (``config.opt!=adam`` lists the runs that have an optimizer other than
adam). ``not (...)`` is plain negation, so ``not config.opt=adam`` also lists the runs
without ``opt``.
"""

from __future__ import annotations

import re
from typing import Any, Final, NamedTuple

from tracker.errors import FilterSyntaxError, UsageError

__all__ = ["parse_filter"]

_OPS: Final = ("==", "!=", "<=", ">=", "!~", "=", "<", ">", "~", ":")
_MONGO: Final = {"=": "$eq", "==": "$eq", ":": "$eq", "!=": "$ne", "<": "$lt", "<=": "$lte",
                 ">": "$gt", ">=": "$gte", "~": "$regex", "!~": "$regex"}  # fmt: skip
_SPECIAL: Final = frozenset(" \t\r\n<>=!~:()\"'")
_FIELDS: Final = {
    "state": "state",
    "name": "display_name",
    "display_name": "display_name",
    "id": "name",
    "tags": "tags",
    "tag": "tags",
    "group": "group",
    "job_type": "job_type",
    "notes": "notes",
    "sweep": "sweep",
    "created": "created_at",
    "created_at": "created_at",
    "heartbeat_at": "heartbeat_at",
}
_NUMBER: Final = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_KEYWORDS: Final = ("and", "or", "not")


class _Token(NamedTuple):  # not a dataclass: dataclasses imports inspect (~5 ms)
    kind: str  # "word", "string", "op", "(", ")", "end"
    text: str
    pos: int

    def describe(self) -> str:
        return "the end" if self.kind == "end" else repr(self.text)


def parse_filter(text: str) -> dict[str, Any]:
    """The filter dict of a filter box's ``text`` (``{}`` for a blank text).

    Raises:
        FilterSyntaxError: The text does not parse; ``position`` is the 0-based offset.
    """
    parser = _Parser(_tokens(text))
    if parser.peek().kind == "end":
        return {}
    tree = parser.or_expr()
    tail = parser.peek()
    if tail.kind != "end":
        raise FilterSyntaxError(f"unexpected {tail.describe()} at {tail.pos}", position=tail.pos)
    return tree


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            out.append(_Token(ch, ch, i))
            i += 1
        elif ch in "\"'":
            value, end = _string(text, i)
            out.append(_Token("string", value, i))
            i = end
        elif ch in "<>=!~:":
            op = next((o for o in _OPS if text.startswith(o, i)), None)
            if op is None:  # a lone "!"
                raise FilterSyntaxError(f"unknown operator '{ch}' at {i}: use != or !~", position=i)
            out.append(_Token("op", op, i))
            i += len(op)
        else:
            start = i
            while i < n and text[i] not in _SPECIAL:
                i += 1
            out.append(_Token("word", text[start:i], start))
    out.append(_Token("end", "", n))
    return out


def _string(text: str, start: int) -> tuple[str, int]:
    quote, i, chars = text[start], start + 1, []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            chars.append(text[i + 1])
            i += 2
        elif ch == quote:
            return "".join(chars), i + 1
        else:
            chars.append(ch)
            i += 1
    raise FilterSyntaxError(f"unterminated string starting at {start}", position=start)


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token.kind == "word" and token.text.lower() == word:
            self.i += 1
            return True
        return False

    def or_expr(self) -> dict[str, Any]:
        parts = [self.and_expr()]
        while self.keyword("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else {"$or": _flatten("$or", parts)}

    def and_expr(self) -> dict[str, Any]:
        parts = [self.unary()]
        while True:
            token = self.peek()
            if token.kind in ("end", ")") or (token.kind == "word" and token.text.lower() == "or"):
                break
            self.keyword("and")
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else {"$and": _flatten("$and", parts)}

    def unary(self) -> dict[str, Any]:
        before = self.tokens[self.i - 1] if self.i else None
        token = self.peek()
        if token.kind == "word" and token.text.lower() == "not" and self.tokens[self.i + 1].kind != "op":
            self.i += 1
            return {"$nor": [self.unary()]}
        if token.kind == "(":
            self.i += 1
            inner = self.or_expr()
            close = self.take()
            if close.kind != ")":
                raise FilterSyntaxError(
                    f"expected ')' to close the '(' at {token.pos}, found {close.describe()} at {close.pos}",
                    position=close.pos,
                )
            return inner
        if token.kind in ("word", "string") and not _is_keyword(token):
            return self.condition()
        after = f" after {before.describe()}" if before is not None else ""
        raise FilterSyntaxError(
            f"expected a condition (key op value){after} at {token.pos}, found {token.describe()}",
            position=token.pos,
        )

    def condition(self) -> dict[str, Any]:
        key = self.take()
        op = self.take()
        if op.kind != "op":
            raise FilterSyntaxError(
                f"expected an operator (=, !=, <, <=, >, >=, ~, !~, :) after {key.describe()} at {op.pos}, "
                f"found {op.describe()}",
                position=op.pos,
            )
        value = self.take()
        if value.kind not in ("word", "string"):
            raise FilterSyntaxError(
                f"expected a value after '{op.text}' at {value.pos}, found {value.describe()}",
                position=value.pos,
            )
        operand = _value(value)
        if op.text in ("~", "!~"):
            operand = _checked_regex(value)
        return _condition(key.text, op.text, operand)


def _is_keyword(token: _Token) -> bool:
    return token.kind == "word" and token.text.lower() in _KEYWORDS


def _flatten(op: str, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts:
        out.extend(part[op] if list(part) == [op] else [part])
    return out


def _value(token: _Token) -> Any:
    if token.kind == "string":
        return token.text
    lowered = token.text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    if _NUMBER.match(token.text):
        number = float(token.text)
        return int(number) if number.is_integer() and re.fullmatch(r"[+-]?\d+", token.text) else number
    return token.text


def _checked_regex(token: _Token) -> str:
    from tracker.api._regex import compile_regex

    try:
        compile_regex(token.text, "")
    except UsageError as exc:
        raise FilterSyntaxError(f"invalid regex at {token.pos}: {exc}", position=token.pos) from exc
    return token.text


def _condition(key: str, op: str, value: Any) -> dict[str, Any]:
    mongo = _MONGO[op]
    if op == "!~":
        test: dict[str, Any] = {"$exists": True, "$not": {"$regex": value}}
    elif op == "!=":
        test = {"$exists": True, "$ne": value}  # a missing key never matches (Api's $ne alone would)
    else:
        test = {mongo: value}
    prefix, dot, rest = key.partition(".")
    if key in _FIELDS:
        return {_FIELDS[key]: test}
    if dot and rest and prefix == "config":
        return {key: test}
    if dot and rest and prefix in ("summary", "summary_metrics"):
        return {"summary_metrics." + rest: test}
    return {"$or": [{"summary_metrics." + key: test}, {"config." + key: dict(test)}]}
