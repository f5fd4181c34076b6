"""The record schema of the run-log format: each record type's fields and their types.

``docs/format.md`` section 3 is the specification; this module encodes it once, for the
trust boundary (the team server's ingest refuses a record that breaks it) and for every
reader (:func:`tracker.storage._format.scan` sets such a record aside as a ``corrupt``
problem of its run instead of folding it, so one bad record never fails a listing).

:func:`problem` answers why a decoded record breaks the schema, or None. It is on every
read path, so it is written for speed: type tests with ``type(x) is``, and per-row checks
of HISTORY frames as C-level passes (``map``/``set``) rather than Python loops.

What is checked: a record is an array whose first element is a positive integer type; for
the known types the body's shape (map or array), the documented keys that are always
present, and the type of every documented key that is present (``nil`` only where the
format allows it). What is not checked: keys the format does not document (readers
ignore them), the contents of free-form values (config values, summary values, logged
values, capture), and unknown record types (readers skip them; section 7).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from operator import itemgetter
from typing import Any, Final

from tracker.storage._format import LogRead, R

__all__ = ["RECORD_NAMES", "SCHEMA", "describe", "edit_problem", "problem", "refusal"]

#: Integers the readers store as int64 (steps, pids, exit codes).
_I64: Final = 1 << 63

#: Record type names, for messages (``CONFIG (2)``).
RECORD_NAMES: Final[dict[int, str]] = {
    value: name for name, value in vars(R).items() if not name.startswith("_") and isinstance(value, int)
}


# ---------------------------------------------------------------------------- value kinds
def _str(v: Any) -> bool:
    return type(v) is str


def _int(v: Any) -> bool:
    return type(v) is int and -_I64 <= v < _I64


def _nonneg(v: Any) -> bool:
    return type(v) is int and 0 <= v < _I64


def _num(v: Any) -> bool:
    t = type(v)
    return t is float or (t is int and -_I64 <= v < _I64)


def _time(v: Any) -> bool:
    """A finite number: times and durations (a NaN or an infinity has no place on a clock)."""
    t = type(v)
    return (t is float and math.isfinite(v)) or (t is int and -_I64 <= v < _I64)


def _bool(v: Any) -> bool:
    return type(v) is bool


def _map(v: Any) -> bool:
    return type(v) is dict


def _strs(v: Any) -> bool:
    return type(v) is list and all(type(x) is str for x in v)


def _any(v: Any) -> bool:
    return True


def _opt(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def optional(v: Any) -> bool:
        return v is None or check(v)

    return optional


#: Kind name -> check, as the schema tables below and docs/format.md spell them.
KINDS: Final[dict[str, Callable[[Any], bool]]] = {
    "str": _str,
    "int": _int,
    "int>=0": _nonneg,
    "float": _num,  # an int where a float is expected is read as that number
    "time": _time,
    "bool": _bool,
    "map": _map,
    "[str]": _strs,
    "any": _any,
}
for _name, _check in list(KINDS.items()):
    KINDS[_name + " | nil"] = _opt(_check)


# ---------------------------------------------------------------------------- the schema
#: Fields of the map bodies: ``record type -> {key: (kind, required)}`` (docs/format.md §3).
SCHEMA: Final[dict[int, dict[str, tuple[str, bool]]]] = {
    R.RUN: {
        "id": ("str", True),
        "project": ("str", True),
        "entity": ("str | nil", True),
        "name": ("str", True),
        "group": ("str | nil", True),
        "job_type": ("str | nil", True),
        "tags": ("[str]", True),
        "notes": ("str | nil", True),
        "created": ("time", True),
        "pid": ("int", True),
        "host": ("str", True),
        "start_time": ("int | nil", True),
        "mode": ("str", True),
        "format_version": ("int", True),
        "tracker_version": ("str", True),
        "sweep_id": ("str | nil", True),
    },
    R.SUMMARY: {},
    R.DEFINE_METRIC: {
        "name": ("str", True),
        "step_metric": ("str", False),
        "step_sync": ("bool", False),
        "hidden": ("bool", False),
        "summary": ("[str]", False),
        "goal": ("str", False),
    },
    R.ALERT: {
        "title": ("str", True),
        "text": ("str", True),
        "level": ("str", True),
        "ts": ("time", True),
        "step": ("int", True),
    },
    R.META: {},
    R.ARTIFACT: {},
    R.EXIT: {
        "state": ("str", True),
        "exit_code": ("int", True),
        "ts": ("time", True),
        "runtime": ("time", True),
    },
    R.RESUME: {
        "ts": ("time", True),
        "pid": ("int", True),
        "host": ("str", True),
        "start_time": ("int | nil", True),
        "rewind": ("int>=0 | nil", True),
        "mode": ("str", True),
        "step": ("int>=0", True),
        "name": ("str | nil", True),
        "tags": ("[str] | nil", True),
        "notes": ("str | nil", True),
    },
}
#: Lengths an EDIT's fields may have (the live run's setters check the same, so the
#: server never refuses an edit a run wrote): characters of ``name``, of each tag, of
#: ``notes``, and the number of tags.
MAX_NAME: Final = 1024
MAX_TAG: Final = 256
MAX_TAGS: Final = 1024
MAX_NOTES: Final = 1 << 20
#: One entry of a FILES record (``[11, [entry, ...]]``).
FILE_ENTRY: Final[dict[str, tuple[str, bool]]] = {
    "path": ("str", True),
    "size": ("int>=0", True),
    "sha256": ("str", True),
    "policy": ("str", True),
    "ts": ("time", True),
}

_CHECKS: Final = {
    rtype: [(key, KINDS[kind], kind, required) for key, (kind, required) in fields.items()]
    for rtype, fields in {**SCHEMA, R.FILES: FILE_ENTRY}.items()
}


def describe(rec: Any) -> str:
    """``CONFIG (2)`` for a record of a known type, ``record type 42`` otherwise."""
    kind = rec[0] if type(rec) is list and rec else None
    name = RECORD_NAMES.get(kind) if type(kind) is int else None
    return f"{name} ({kind})" if name else f"record type {kind!r}"


def _fields(rtype: int, body: Any, what: str) -> str | None:
    if type(body) is not dict:
        return f"{what} is {_kind(body)}, not a map"
    for key, check, kind, required in _CHECKS[rtype]:
        if key in body:
            if not check(body[key]):
                return f"{what}: {key!r} is {_kind(body[key])}, not {kind}"
        elif required:
            return f"{what}: {key!r} is missing"
    return None


def _kind(v: Any) -> str:
    if v is None:
        return "nil"
    names = {bool: "a bool", int: "an int", float: "a float", str: "a str", bytes: "bin", list: "an array"}
    return names.get(type(v), "a map" if isinstance(v, dict) else type(v).__name__)


def _map_body(rec: list[Any]) -> str | None:
    if len(rec) < 2:
        return "the body is missing"
    return _fields(rec[0], rec[1], "the body")


def _config(rec: list[Any]) -> str | None:
    if len(rec) < 2:
        return "'changed' is missing"
    if type(rec[1]) is not dict:
        return f"'changed' is {_kind(rec[1])}, not a map"
    if len(rec) > 2:
        deleted = rec[2]
        if type(deleted) is not list:
            return f"'deleted' is {_kind(deleted)}, not an array"
        if not all(type(k) in _KEY_TYPES for k in deleted):
            return "'deleted' holds a key that is not a str, int, float, bool or nil"
    return None


_KEY_TYPES: Final = frozenset({str, int, float, bool, type(None)})
_first: Final = itemgetter(0)
_second: Final = itemgetter(1)
_third: Final = itemgetter(2)
_NUM_TYPES: Final = frozenset({int, float})


def _history(rec: list[Any]) -> str | None:
    if len(rec) < 3:
        return "key tables or rows are missing"
    tables, rows = rec[1], rec[2]
    if type(tables) is not list:
        return f"the key tables are {_kind(tables)}, not an array"
    widths = []
    for i, table in enumerate(tables):
        if type(table) is not list or not all(type(k) is str for k in table):
            return f"key table {i} is not an array of str"
        if len(set(table)) != len(table):
            return f"key table {i} names a key twice"
        widths.append(len(table) + 3)
    if type(rows) is not list:
        return f"the rows are {_kind(rows)}, not an array"
    if not rows:
        return None
    if set(map(type, rows)) != {list}:
        return "a row is not an array"
    if len(widths) == 1:
        if set(map(len, rows)) != {widths[0]}:
            return f"a row does not hold {widths[0] - 3} values (key table 0)"
        if set(map(type, map(_first, rows))) != {int} or set(map(_first, rows)) != {0}:
            return "a row names a key table that does not exist"
    else:
        n = len(widths)
        for j, row in enumerate(rows):
            if not row or type(row[0]) is not int or not 0 <= row[0] < n:
                return f"row {j} names a key table that does not exist"
            if len(row) != widths[row[0]]:
                return f"row {j} does not hold {widths[row[0]] - 3} values (key table {row[0]})"
    steps = list(map(_second, rows))
    if set(map(type, steps)) != {int} or min(steps) < 0 or max(steps) >= _I64:
        return "a row's step is not an int >= 0"
    stamps = list(map(_third, rows))
    kinds = set(map(type, stamps))
    if kinds == {float}:
        if not math.isfinite(sum(stamps)):  # one C-level pass: NaN or an infinity anywhere
            return "a row's timestamp is not a finite number"
    elif not kinds <= _NUM_TYPES or not all(map(_time, stamps)):
        return "a row's timestamp is not a finite number"
    return None


def _console(rec: list[Any]) -> str | None:
    if len(rec) < 2:
        return "the lines are missing"
    lines = rec[1]
    if type(lines) is not list:
        return f"the lines are {_kind(lines)}, not an array"
    for j, line in enumerate(lines):
        if type(line) is not list or len(line) < 3:
            return f"line {j} is not [ts, stream, text]"
        if not (_time(line[0]) and _int(line[1]) and type(line[2]) is str):
            return f"line {j} is not [ts: time, stream: int, text: str]"
    return None


def _system(rec: list[Any]) -> str | None:
    if len(rec) < 2:
        return "the samples are missing"
    samples = rec[1]
    if type(samples) is not list:
        return f"the samples are {_kind(samples)}, not an array"
    for j, sample in enumerate(samples):
        if type(sample) is not list or len(sample) < 2 or not _time(sample[0]) or type(sample[1]) is not dict:
            return f"sample {j} is not [ts: time, {{metric: value}}]"
    return None


def _files(rec: list[Any]) -> str | None:
    if len(rec) < 2:
        return "the entries are missing"
    entries = rec[1]
    if type(entries) is not list:
        return f"the entries are {_kind(entries)}, not an array"
    for j, entry in enumerate(entries):
        found = _fields(R.FILES, entry, f"entry {j}")
        if found is not None:
            return found
    return None


def _edit(rec: list[Any]) -> str | None:
    if len(rec) < 2 or type(rec[1]) is not dict:
        return f"the body is {_kind(rec[1]) if len(rec) > 1 else 'missing'}, not a map"
    body = rec[1]
    if "ts" not in body or not _time(body["ts"]):
        return "'ts' is missing or not a finite number"
    return edit_problem({k: v for k, v in body.items() if k != "ts"})


def edit_problem(fields: dict[str, Any]) -> str | None:
    """Why an EDIT's ``name``/``tags``/``notes`` values break docs/format.md 3.15, or None."""
    for key, limit in (("name", MAX_NAME), ("notes", MAX_NOTES)):
        if key in fields:
            value = fields[key]
            if type(value) is not str:
                return f"'{key}' is {_kind(value)}, not a str"
            if len(value) > limit:
                return f"'{key}' is {len(value)} characters long; at most {limit}"
    if "tags" in fields:
        tags = fields["tags"]
        if not _strs(tags):
            return "'tags' is not an array of str"
        if len(tags) > MAX_TAGS:
            return f"'tags' holds {len(tags)} tags; at most {MAX_TAGS}"
        long = next((t for t in tags if len(t) > MAX_TAG), None)
        if long is not None:
            return f"the tag {long[:40]!r}... is {len(long)} characters long; at most {MAX_TAG}"
    return None


def _heartbeat(rec: list[Any]) -> str | None:
    if len(rec) < 2 or not _time(rec[1]):
        return "the time is not a finite number"
    return None


_BY_TYPE: Final[dict[int, Callable[[list[Any]], str | None]]] = {
    R.RUN: _map_body,
    R.CONFIG: _config,
    R.HISTORY: _history,
    R.SUMMARY: _map_body,
    R.DEFINE_METRIC: _map_body,
    R.ALERT: _map_body,
    R.META: _map_body,
    R.CONSOLE: _console,
    R.SYSTEM: _system,
    R.FILES: _files,
    R.ARTIFACT: _map_body,
    R.EXIT: _map_body,
    R.HEARTBEAT: _heartbeat,
    R.RESUME: _map_body,
    R.EDIT: _edit,
}


def problem(rec: Any) -> str | None:
    """Why a decoded record breaks the schema of docs/format.md section 3, or None.

    The answer names the record type and the field, e.g. ``"CONFIG (2): 'changed' is an
    int, not a map"``. Unknown record types (a positive integer type this reader does
    not know) fit: readers skip them.
    """
    if type(rec) is not list:
        return f"the record is {_kind(rec)}, not an array [type, body...]"
    if not rec:
        return "the record is an empty array"
    kind = rec[0]
    if type(kind) is not int or kind < 1:
        return f"the record type is {kind!r}, not a positive int"
    check = _BY_TYPE.get(kind)
    if check is None:
        return None
    found = check(rec)
    return None if found is None else f"{describe(rec)}: {found}"


def refusal(found: LogRead, base: int) -> dict[str, Any] | None:
    """The first record of a batch that breaks the schema, as the team server's ingest refuses it.

    Args:
        found: :func:`~tracker.storage._format.scan` of the batch (offsets within it).
        base: Offset of the batch's first byte in the run log.

    Returns:
        None when every record fits; else the answer's body: ``detail`` (a sentence
        naming the record, its type, its index in the batch and its byte offset in the
        log), ``reason`` (``"schema"``) and ``record`` (``{"type", "index", "offset"}``).
    """
    bad = next((p for p in found.problems if p["kind"] == "corrupt"), None)
    if bad is None:
        return None
    index = sum(1 for off, _rec in found.records if off < bad["offset"])
    index += sum(1 for p in found.problems if p["offset"] < bad["offset"])
    offset = base + int(bad["offset"])
    kind = bad.get("type")
    name = f"{RECORD_NAMES[kind]} ({kind})" if kind in RECORD_NAMES else f"type {kind!r}"
    return {
        "detail": f"record {index} of the batch ({name}) at byte offset {offset} of the run log "
        f"does not fit the run-log format (docs/format.md section 3): {bad['reason']}",
        "reason": "schema",
        "record": {"type": kind, "index": index, "offset": offset},
    }
