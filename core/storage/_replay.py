"""Replay: fold a run log's records into the run's state, incrementally.

One folding used by everyone who reads a log: ``resume`` in the writer, ``Api()``
through the index, the CLI. Feeding the records of a log in order, in any number
of calls (by byte offset), gives the same state as feeding them at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracker.storage._format import MAX_PROBLEMS, R, gc_paused

__all__ = ["EDITED_AT", "RunState", "history_rows"]

#: The run fields a RESUME or an EDIT record may change.
_EDITABLE = ("name", "tags", "notes")
#: Key of ``RunState.meta`` holding when each field was last changed (``{field: ts}``).
EDITED_AT = "edited_at"


def history_rows(rec: list[Any]) -> list[list[Any]]:
    """Expand a HISTORY record ``[3, key_tables, packed]`` into ``[step, ts, {key: value}]`` rows."""
    tables = rec[1]
    return [[p[1], p[2], dict(zip(tables[p[0]], p[3:], strict=True))] for p in rec[2]]


class RunState:
    """The folded state of one run log.

    Attributes:
        meta: The run record (id, project, name, created, pid, host, ...) of the latest session.
        config: Merged config.
        summary: Latest summary snapshot.
        rows: History rows ``[step, timestamp, {key: value}]`` in log order, live ones only
            (rows superseded by ``resume_from`` are moved to ``superseded``).
        superseded: Rows hidden by a rewind; kept, never shown by default.
        exit: The exit record of the latest session, or None while running / after a crash.
        alerts: Alert records in order.
        capture: Run capture (git, python, host, packages).
        metrics: define_metric records by name.
        sessions: Number of run/resume records seen (1 + number of resumes).
        last_time: Timestamp of the last record that carries one (heartbeat included).
        max_step: Largest live ``_step`` (``-1`` when there are no rows).
        problems: What the reads set aside, in file order (``LogRead.problems``: a
            ``corrupt`` record or a ``gap`` of damaged bytes, with its offset); at most
            :data:`~tracker.storage._format.MAX_PROBLEMS`.
    """

    def __init__(self, keep_rows: bool = True) -> None:
        self.meta: dict[str, Any] = {}
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        #: Last logged value of each key since the latest SUMMARY snapshot (a crash can
        #: leave a few seconds of rows after it).
        self.summary_tail: dict[str, Any] = {}
        self.rows: list[list[Any]] = []
        self.superseded: list[list[Any]] = []
        self.exit: dict[str, Any] | None = None
        self.alerts: list[dict[str, Any]] = []
        self.capture: dict[str, Any] = {}
        self.metrics: dict[str, dict[str, Any]] = {}
        self.console: list[list[Any]] = []
        self.system: list[list[Any]] = []
        self.files: list[dict[str, Any]] = []
        self.artifacts: list[dict[str, Any]] = []
        self.sessions = 0
        self.last_time = 0.0
        self.max_step = -1
        self.keep_rows = keep_rows
        self.problems: list[dict[str, Any]] = []

    def feed(self, records: list[tuple[int, list[Any]]], problems: Sequence[dict[str, Any]] = ()) -> None:
        """Fold records (``(offset, record)`` pairs from ``read_frames``) into the state.

        Args:
            records: Whole records that fit the schema, as :func:`read_frames` returns them.
            problems: The read's ``problems``, kept in :attr:`problems`.
        """
        self.report(problems)
        with gc_paused():
            for _off, rec in records:
                self.apply(rec)

    def report(self, problems: Sequence[dict[str, Any]]) -> None:
        """Keep the problems of a read (the first :data:`MAX_PROBLEMS` of the run)."""
        room = MAX_PROBLEMS - len(self.problems)
        if problems and room > 0:
            self.problems.extend(problems[:room])

    def apply(self, rec: list[Any]) -> None:
        """Fold one record that fits the schema (:mod:`tracker.storage._schema`)."""
        kind = rec[0]
        if kind == R.HISTORY:
            packed = rec[2]
            if packed:
                if self.keep_rows:
                    self.rows.extend(history_rows(rec))
                # From the packed rows: resume (keep_rows=False) must not build a dict per row.
                top = max(p[1] for p in packed)
                if top > self.max_step:
                    self.max_step = top
                # Last value per key since the last SUMMARY snapshot (written every few
                # seconds): the last row of each key table of this frame, in log order.
                tables = rec[1]
                seen: dict[int, list[Any]] = {}
                for p in reversed(packed):
                    if p[0] not in seen:
                        seen[p[0]] = p
                        if len(seen) == len(tables):
                            break
                for p in sorted(seen.values(), key=packed.index):
                    self.summary_tail.update(zip(tables[p[0]], p[3:], strict=True))
                self.last_time = max(self.last_time, packed[-1][2])
        elif kind == R.CONFIG:
            self.config.update(rec[1])
            for key in rec[2] if len(rec) > 2 else ():
                self.config.pop(key, None)
        elif kind == R.SUMMARY:
            self.summary = rec[1]
            self.summary_tail = {}
        elif kind == R.RUN:
            self.meta = rec[1]
            self.sessions += 1
            self.exit = None
            self.last_time = max(self.last_time, float(rec[1].get("created", 0.0)))
        elif kind == R.RESUME:
            self.sessions += 1
            self.exit = None
            info = rec[1]
            self.meta.update({k: info[k] for k in ("pid", "host", "start_time") if k in info})
            # name/tags/notes given to the resuming init() replace the run's; None keeps them.
            given = {k: info[k] for k in _EDITABLE if info.get(k) is not None}
            self.meta.update(given)
            if given:
                self._edited(given, float(info.get("ts", 0.0)))
            self.last_time = max(self.last_time, float(info.get("ts", 0.0)))
            rewind = info.get("rewind")
            if rewind is not None:
                self._rewind(int(rewind))
        elif kind == R.EXIT:
            self.exit = rec[1]
            self.last_time = max(self.last_time, float(rec[1].get("ts", 0.0)))
        elif kind == R.HEARTBEAT:
            self.last_time = max(self.last_time, float(rec[1]))
        elif kind == R.EDIT:
            self._edit(rec[1])
        elif kind == R.ALERT:
            self.alerts.append(rec[1])
        elif kind == R.META:
            self.capture.update(rec[1])
        elif kind == R.DEFINE_METRIC:
            self.metrics[rec[1]["name"]] = rec[1]
        elif kind == R.CONSOLE:
            self.console.extend(rec[1])
        elif kind == R.SYSTEM:
            self.system.extend(rec[1])
        elif kind == R.FILES:
            self.files.extend(rec[1])
        elif kind == R.ARTIFACT:
            self.artifacts.append(rec[1])
        # Unknown record types are skipped: a newer minor writer may add kinds.

    def _edit(self, body: dict[str, Any]) -> None:
        """EDIT (docs/format.md 3.15): each field takes the value of its latest ``ts``."""
        ts = float(body["ts"])
        seen = self.meta.get(EDITED_AT)
        seen = seen if isinstance(seen, dict) else {}
        newer = {k: body[k] for k in _EDITABLE if k in body and ts >= float(seen.get(k, 0.0))}
        self.meta.update(newer)
        self._edited(newer, ts)
        self.last_time = max(self.last_time, ts)

    def _edited(self, fields: dict[str, Any], ts: float) -> None:
        # Kept in the run fields, so a fold continued from the index (which stores meta) knows them.
        seen = self.meta.get(EDITED_AT)
        seen = dict(seen) if isinstance(seen, dict) else {}
        seen.update(dict.fromkeys(fields, ts))
        self.meta[EDITED_AT] = seen

    def _rewind(self, step: int) -> None:
        keep: list[list[Any]] = []
        for row in self.rows:
            (keep if row[0] <= step else self.superseded).append(row)
        self.rows = keep
        self.max_step = min(self.max_step, step)

    @property
    def state(self) -> str:
        """``finished``/``failed``/``killed``/``preempted`` from the exit record, else ``running``.

        Whether a ``running`` run has in fact crashed needs the process table and the
        heartbeat age; the index decides that.
        """
        return str(self.exit["state"]) if self.exit else "running"
