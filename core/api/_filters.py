"""W&B's MongoDB-style run filters and ``order`` strings, evaluated in Python.

Filters are compiled once into a predicate and applied to every run of the project;
with config and summary already decoded by the index this takes a few milliseconds
per thousand runs, and the semantics stay identical on every index backend.

Fields (W&B's names): ``config.<key>``, ``summary_metrics.<key>`` (also ``summary.``),
``state``, ``display_name``, ``name`` (the run id, as in W&B; also ``id``), ``tags``,
``group``, ``job_type``, ``notes``, ``entity``, ``sweep``, ``created_at`` and
``heartbeat_at`` (ISO 8601 strings; a number or ``datetime`` operand compares as unix
time). ``<key>`` may be nested (``config.optimizer.lr``) or contain dots itself.

Operators: ``$and $or $nor`` (lists of filters), ``$eq $ne $gt $gte $lt $lte $in $nin
$regex`` (with ``$options``) ``$exists $not``. As in MongoDB, a list-valued field
(``tags``) matches when any element does; ``$ne``, ``$nin`` and ``$exists: False``
match a missing field, every other operator does not. ``$regex`` patterns run in linear
time or are refused with the reason (:mod:`tracker.api._regex`): a filter from another
user of the team server cannot stall it.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from tracker.api._regex import compile_regex
from tracker.errors import UsageError

if TYPE_CHECKING:
    from tracker.api._run import Run

__all__: list[str] = []


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Final = _Missing()
Predicate = Callable[["Run"], bool]
Getter = Callable[["Run"], Any]

_ATTRS: Final = {
    "state": "state",
    "display_name": "name",
    "displayName": "name",
    "name": "id",
    "id": "id",
    "tags": "tags",
    "group": "group",
    "job_type": "job_type",
    "jobType": "job_type",
    "notes": "notes",
    "entity": "entity",
    "sweep": "sweep_id",
    "sweep_id": "sweep_id",
    "project": "project",
}
_TIMES: Final = {"created_at": "_created", "createdAt": "_created", "heartbeat_at": "_heartbeat",
                 "heartbeatAt": "_heartbeat"}  # fmt: skip
_PREFIXES: Final = {
    "config": "config",
    "summary_metrics": "summary",
    "summary": "summary",
    "summaryMetrics": "summary",
}
_OPERATORS: Final = (
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$regex",
    "$options",
    "$exists",
    "$not",
)


def resolve(data: Any, path: str) -> Any:
    """Value at a dotted ``path`` in nested mappings (keys may contain dots), or MISSING."""
    if not isinstance(data, Mapping):
        return MISSING
    if path in data:
        return data[path]
    start = 0
    while True:
        dot = path.find(".", start)
        if dot < 0:
            break
        head = path[:dot]
        if head in data:
            found = resolve(data[head], path[dot + 1 :])
            if found is not MISSING:
                return found
        start = dot + 1
    if path.endswith(".value"):  # W&B's stored config shape: {"lr": {"value": 0.1}}
        return resolve(data, path[: -len(".value")])
    return MISSING


def getter(field: str, *, numeric_time: bool = False) -> Getter:
    """A function returning ``field`` of a run (MISSING when absent).

    Raises:
        UsageError: The field is not one runs can be filtered or sorted on.
    """
    if field in _TIMES:
        attr = _TIMES[field]
        if numeric_time:
            return lambda run: getattr(run, attr)
        public = "created_at" if attr == "_created" else "heartbeat_at"
        return lambda run: getattr(run, public)
    if field in _ATTRS:
        attr = _ATTRS[field]

        def get_attr(run: Run) -> Any:
            value = getattr(run, attr)
            return MISSING if value is None else value

        return get_attr
    prefix, dot, rest = field.partition(".")
    if dot and prefix in _PREFIXES and rest:
        source = _PREFIXES[prefix]
        if source == "config":
            return lambda run: resolve(run.config, rest)
        return lambda run: resolve(run.summary, rest)
    raise UsageError(
        f"cannot filter or sort runs on {field!r}: use config.<key>, summary_metrics.<key>, "
        f"or one of {', '.join(sorted({*_ATTRS, *_TIMES}))}.",
        key=field,
    )


def compile_filter(filters: Mapping[str, Any] | None) -> Predicate:
    """Compile a MongoDB-style filter into a predicate over runs.

    Raises:
        UsageError: An unknown operator or field, or a malformed operand.
    """
    if filters is None:
        return lambda run: True
    if not isinstance(filters, Mapping):
        raise UsageError(f"filters must be a dict, not {type(filters).__name__}.")
    parts: list[Predicate] = []
    for key, operand in filters.items():
        if key in ("$and", "$or", "$nor"):
            parts.append(_logical(key, operand))
        elif key.startswith("$"):
            raise UsageError(f"unknown top-level filter operator {key!r}: use $and, $or or $nor.", key=key)
        else:
            parts.append(_field(key, operand))
    if len(parts) == 1:
        return parts[0]
    return lambda run: all(p(run) for p in parts)


def _logical(op: str, operand: Any) -> Predicate:
    if not isinstance(operand, Sequence) or isinstance(operand, (str, bytes)) or not operand:
        raise UsageError(f"{op} needs a non-empty list of filters.", key=op)
    subs = [compile_filter(f) for f in operand]
    if op == "$and":
        return lambda run: all(p(run) for p in subs)
    if op == "$or":
        return lambda run: any(p(run) for p in subs)
    return lambda run: not any(p(run) for p in subs)


def _is_operator_dict(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(str(k).startswith("$") for k in value)


def _field(field: str, operand: Any) -> Predicate:
    if not _is_operator_dict(operand):
        get = getter(field, numeric_time=_is_time(operand))
        test = _value_test("$eq", operand, {})
        return lambda run: test(get(run))
    tests: list[Callable[[Any], bool]] = []
    numeric_time = any(_is_time(v) for v in operand.values())
    for op, value in operand.items():
        if op == "$options":
            if "$regex" not in operand:
                raise UsageError("$options is only valid next to $regex.", key=field)
            continue
        tests.append(_value_test(op, value, operand))
    get = getter(field, numeric_time=numeric_time)
    return lambda run: all(t(v) for v in (get(run),) for t in tests)


def _is_time(value: Any) -> bool:
    return isinstance(value, (_dt.datetime, _dt.date)) or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    )


def _as_time(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.timestamp()
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.timezone.utc).timestamp()
    return value


def _value_test(op: str, value: Any, siblings: Mapping[str, Any]) -> Callable[[Any], bool]:
    value = _as_time(value)
    if op == "$eq":
        return lambda v: v is not MISSING and _any(v, lambda x: _eq(x, value), whole=value)
    if op == "$ne":
        return lambda v: v is MISSING or not _any(v, lambda x: _eq(x, value), whole=value)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        cmp = _COMPARE[op]
        return lambda v: v is not MISSING and _any(v, lambda x: _ordered(x, value, cmp))
    if op in ("$in", "$nin"):
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise UsageError(f"{op} needs a list of values, not {value!r}.")
        options = [_as_time(o) for o in value]

        def member(v: Any) -> bool:
            return v is not MISSING and any(_any(v, functools.partial(_eq, b=o), whole=o) for o in options)

        if op == "$in":
            return member
        return lambda v: not member(v)
    if op == "$regex":
        search = compile_regex(value, str(siblings.get("$options", "")))
        return lambda v: v is not MISSING and _any(v, lambda x: isinstance(x, str) and search(x))
    if op == "$exists":
        want = bool(value)
        return lambda v: (v is not MISSING) == want
    if op == "$not":
        if _is_operator_dict(value):
            inner = [_value_test(k, x, value) for k, x in value.items() if k != "$options"]
        elif isinstance(value, (str, re.Pattern)):
            inner = [_value_test("$regex", value, {})]
        else:
            raise UsageError(f"$not needs an operator dict or a regex, not {value!r}.")
        return lambda v: not all(t(v) for t in inner)
    raise UsageError(f"unknown filter operator {op!r}: use one of {', '.join(_OPERATORS)}.", key=op)


def _any(value: Any, test: Callable[[Any], bool], whole: Any = MISSING) -> bool:
    """MongoDB array semantics: a list matches when it equals ``whole`` or any element passes."""
    if isinstance(value, list):
        if whole is not MISSING and isinstance(whole, (list, tuple)) and _eq(value, list(whole)):
            return True
        return any(test(x) for x in value)
    return test(value)


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(b, tuple):
        b = list(b)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - an exotic value that cannot be compared is simply not equal
        return False


def _ordered(a: Any, b: Any, cmp: Callable[[Any, Any], bool]) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return cmp(a, b)
    if isinstance(a, str) and isinstance(b, str):
        return cmp(a, b)
    return False


_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def sort_runs(runs: list[Run], order: str | None) -> list[Run]:
    """Sort by W&B's ``order`` (``"-created_at"``, ``"+summary_metrics.loss"``, ``"config.lr"``).

    Runs without the field (or with NaN) come last in both directions; ties keep
    newest-first creation order, then id.

    Raises:
        UsageError: The field cannot be sorted on.
    """
    base = sorted(runs, key=lambda r: (-r._created, r.id))
    if not order:
        return base
    descending = order.startswith("-")
    field = order[1:] if order[:1] in "+-" else order
    get = getter(field.strip(), numeric_time=True)
    present: list[tuple[tuple[int, Any], Run]] = []
    missing: list[Run] = []
    for run in base:
        value = get(run)
        key = _sort_key(value)
        if key is None:
            missing.append(run)
        else:
            present.append((key, run))
    present.sort(key=lambda item: item[0], reverse=descending)
    return [run for _key, run in present] + missing


def _sort_key(value: Any) -> tuple[int, Any] | None:
    if value is MISSING or value is None:
        return None
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, repr(value))
