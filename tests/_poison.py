"""Mis-shaped run-log records: one per record type and field (wrong type, missing field,
body not a map, ...), each a whole CRC-valid frame that decodes as msgpack.

Shared by the reader tests (``tests/unit/test_poison_records.py``) and the ingest tests
(``tests/server/test_ingest_validation.py``). Every record here breaks the schema of
``docs/format.md`` section 3; none is a torn or unframed byte string.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Final

import msgpack

from tracker.storage._format import R, file_header, frame

T0: Final = 1_700_000_000.0

_RUN: Final[dict[str, Any]] = {
    "id": "bad",
    "project": "p",
    "entity": None,
    "name": "bad",
    "group": None,
    "job_type": None,
    "tags": [],
    "notes": None,
    "created": T0,
    "pid": 1,
    "host": "elsewhere",
    "start_time": None,
    "mode": "offline",
    "format_version": 1,
    "tracker_version": "test",
    "sweep_id": None,
}
_RESUME: Final[dict[str, Any]] = {
    "ts": T0 + 5,
    "pid": 1,
    "host": "elsewhere",
    "start_time": None,
    "rewind": None,
    "mode": "offline",
    "step": 0,
    "name": None,
    "tags": None,
    "notes": None,
}
_EXIT: Final[dict[str, Any]] = {"state": "finished", "exit_code": 0, "ts": T0 + 10, "runtime": 10.0}


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if value is _MISSING:
            del out[key]
        else:
            out[key] = value
    return out


_MISSING: Final = object()

#: ``name -> record``: each is placed after the run's RUN record (RUN poisons replace it).
POISON: Final[dict[str, Any]] = {
    "record-not-an-array": 5,
    "record-empty-array": [],
    "record-type-not-an-int": ["config", {"lr": 1}],
    "run-body-not-a-map": [R.RUN, "bad"],
    "run-created-not-a-number": [R.RUN, _with(_RUN, created="yesterday")],
    "run-tags-not-a-list": [R.RUN, _with(_RUN, tags=5)],
    "run-missing-id": [R.RUN, _with(_RUN, id=_MISSING)],
    "run-created-nan": [R.RUN, _with(_RUN, created=math.nan)],
    "config-changed-not-a-map": [R.CONFIG, [1, 2], []],
    "config-deleted-not-a-list": [R.CONFIG, {"lr": 1}, 5],
    "config-deleted-key-unhashable": [R.CONFIG, {}, [[1]]],
    "config-missing-changed": [R.CONFIG],
    "history-tables-not-a-list": [R.HISTORY, 5, [[0, 0, T0, 1.0]]],
    "history-key-not-a-str": [R.HISTORY, [[["a"]]], [[0, 0, T0, 1.0]]],
    "history-table-out-of-range": [R.HISTORY, [["a"]], [[1, 0, T0, 1.0]]],
    "history-row-too-short": [R.HISTORY, [["a", "b"]], [[0, 0, T0, 1.0]]],
    "history-row-not-an-array": [R.HISTORY, [["a"]], [5]],
    "history-step-not-an-int": [R.HISTORY, [["a"]], [[0, "x", T0, 1.0]]],
    "history-step-negative": [R.HISTORY, [["a"]], [[0, -3, T0, 1.0]]],
    "history-ts-not-a-number": [R.HISTORY, [["a"]], [[0, 0, "now", 1.0]]],
    "history-ts-infinite": [R.HISTORY, [["a"]], [[0, 0, T0, 1.0], [0, 1, math.inf, 1.0]]],
    "history-missing-rows": [R.HISTORY, [["a"]]],
    "summary-not-a-map": [R.SUMMARY, 5],
    "summary-key-an-array": [R.SUMMARY, {(1, 2): 3}],
    "define-metric-not-a-map": [R.DEFINE_METRIC, "loss"],
    "define-metric-missing-name": [R.DEFINE_METRIC, {"summary": ["min"]}],
    "alert-not-a-map": [R.ALERT, 5],
    "alert-title-not-a-str": [R.ALERT, {"title": 5, "text": "t", "level": "INFO", "ts": T0, "step": 0}],
    "meta-not-a-map": [R.META, 5],
    "console-not-a-list": [R.CONSOLE, 5],
    "console-line-not-an-array": [R.CONSOLE, [5]],
    "system-not-a-list": [R.SYSTEM, 5],
    "system-ts-not-a-number": [R.SYSTEM, [["now", {"system.cpu": 1.0}]]],
    "system-sample-not-a-map": [R.SYSTEM, [[T0, 5]]],
    "files-not-a-list": [R.FILES, 5],
    "files-entry-missing-path": [R.FILES, [{"size": 1, "sha256": "0" * 64, "policy": "now", "ts": T0}]],
    "artifact-not-a-map": [R.ARTIFACT, 5],
    "exit-not-a-map": [R.EXIT, "finished"],
    "exit-ts-not-a-number": [R.EXIT, _with(_EXIT, ts="later")],
    "exit-state-not-a-str": [R.EXIT, _with(_EXIT, state=5)],
    "exit-code-not-an-int": [R.EXIT, _with(_EXIT, exit_code="0")],
    "exit-runtime-infinite": [R.EXIT, _with(_EXIT, runtime=math.inf)],
    "heartbeat-not-a-number": [R.HEARTBEAT, "now"],
    "heartbeat-nan": [R.HEARTBEAT, math.nan],
    "resume-not-a-map": [R.RESUME, 5],
    "resume-rewind-not-an-int": [R.RESUME, _with(_RESUME, rewind="x")],
    "resume-tags-not-a-list": [R.RESUME, _with(_RESUME, tags="a,b")],
}


def encode(record: Any) -> bytes:
    return frame(msgpack.packb(record, use_bin_type=True))


def run_record(run_id: str, project: str) -> list[Any]:
    return [R.RUN, _with(_RUN, id=run_id, project=project, name=run_id)]


def poisoned_log(name: str, run_id: str = "bad", project: str = "p") -> tuple[bytes, int]:
    """A whole log: RUN (or the poison RUN), a row, the poison, a row, SUMMARY, EXIT.

    Returns:
        The log's bytes and the offset of the poison frame.
    """
    record = POISON[name]
    out = bytearray(file_header())
    poison_at = -1
    if isinstance(record, list) and record[:1] == [R.RUN]:
        poison_at = len(out)
        out += encode(record)
    else:
        out += encode(run_record(run_id, project))
    out += encode([R.CONFIG, {"lr": 0.1}, []])
    out += encode([R.HISTORY, [["loss"]], [[0, 0, T0 + 1, 1.0]]])
    if poison_at < 0:
        poison_at = len(out)
        out += encode(record)
    out += encode([R.HISTORY, [["loss"]], [[0, 1, T0 + 2, 0.5]]])
    out += encode([R.SUMMARY, {"loss": 0.5, "_step": 1}])
    out += encode([R.EXIT, _EXIT])
    return bytes(out), poison_at


def write_log(root: Path, project: str, run_id: str, data: bytes) -> Path:
    path = root / "projects" / project / "runs" / run_id / "run.tlog"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def good_log(run_id: str, project: str) -> bytes:
    out = bytearray(file_header())
    out += encode(run_record(run_id, project))
    out += encode([R.CONFIG, {"lr": 0.1}, []])
    out += encode([R.HISTORY, [["loss"]], [[0, 0, T0 + 1, 1.0], [0, 1, T0 + 2, 0.5]]])
    out += encode([R.SUMMARY, {"loss": 0.5, "_step": 1}])
    out += encode([R.EXIT, _EXIT])
    return bytes(out)
