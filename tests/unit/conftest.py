"""Fixtures for read-side tests: run logs written record by record, without a writer thread.

``logs.run(project, run_id, ...)`` creates ``<root>/projects/<project>/runs/<id>/run.tlog``
with its run record; the returned :class:`FakeRun` appends HISTORY (key-table frames, as
the writer encodes them), SUMMARY, CONFIG, RESUME, EXIT, ... records one call at a time,
so a test controls exactly what a reader sees and when. Timestamps are explicit, so
nothing depends on the clock.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tracker.storage._format import R, file_header, frame

T0 = 1_700_000_000.0


def encode(record: list[Any]) -> bytes:
    return frame(msgpack.packb(record, use_bin_type=True))


def history_record(rows: Iterable[tuple[int, float, dict[str, Any]]]) -> list[Any]:
    """A HISTORY record in the writer's key-table layout."""
    tables: dict[tuple[str, ...], int] = {}
    keylists: list[list[str]] = []
    packed: list[list[Any]] = []
    for step, ts, data in rows:
        keys = tuple(data)
        index = tables.get(keys)
        if index is None:
            index = tables[keys] = len(keylists)
            keylists.append(list(keys))
        packed.append([index, step, ts, *data.values()])
    return [R.HISTORY, keylists, packed]


class FakeRun:
    """Appends records to one run log."""

    def __init__(self, path: Path, created: float) -> None:
        self.path = path
        self.created = created
        self.step = 0

    def append(self, record: list[Any]) -> FakeRun:
        with open(self.path, "ab") as f:
            f.write(encode(record))
        return self

    def raw(self, data: bytes) -> FakeRun:
        with open(self.path, "ab") as f:
            f.write(data)
        return self

    def torn_rows(self, rows: list[tuple[int, float, dict[str, Any]]], cut: int) -> bytes:
        """Write the first ``cut`` bytes of a HISTORY frame; return the rest."""
        data = encode(history_record(rows))
        self.raw(data[:cut])
        return data[cut:]

    def rows(self, rows: Iterable[tuple[int, float, dict[str, Any]]]) -> FakeRun:
        rows = list(rows)
        if rows:
            self.step = max(self.step, max(r[0] for r in rows) + 1)
        return self.append(history_record(rows))

    def log(self, data: dict[str, Any], step: int | None = None, ts: float | None = None) -> FakeRun:
        s = self.step if step is None else step
        return self.rows([(s, self.created + 1 + s if ts is None else ts, data)])

    def series(self, n: int, keys: dict[str, Any], start: int = 0, batch: int = 256) -> FakeRun:
        """Rows ``start..start+n-1``; each key maps to a function of the step."""
        for lo in range(start, start + n, batch):
            hi = min(lo + batch, start + n)
            self.rows((s, self.created + 1 + s, {k: f(s) for k, f in keys.items()}) for s in range(lo, hi))
        return self

    def summary(self, data: dict[str, Any]) -> FakeRun:
        return self.append([R.SUMMARY, data])

    def config(self, data: dict[str, Any], deleted: list[str] | None = None) -> FakeRun:
        return self.append([R.CONFIG, data, deleted or []])

    def exit(self, state: str = "finished", exit_code: int = 0, ts: float | None = None) -> FakeRun:
        return self.append([R.EXIT, {"state": state, "exit_code": exit_code, "ts": ts or self.created + 10,
                                     "runtime": 10.0}])  # fmt: skip

    def resume(self, rewind: int | None = None, ts: float | None = None, **info: Any) -> FakeRun:
        rec = {
            "ts": ts or self.created + 5, "pid": os.getpid(), "host": os.uname().nodename, "start_time": None,
            "rewind": rewind, "mode": "offline", "step": 0, "name": None, "tags": None, "notes": None,
        }  # fmt: skip
        rec.update(info)
        if rewind is not None:
            self.step = rewind + 1
        return self.append([R.RESUME, rec])

    def heartbeat(self, ts: float) -> FakeRun:
        return self.append([R.HEARTBEAT, ts])

    def alert(self, title: str, text: str, level: str = "INFO", step: int = 0) -> FakeRun:
        return self.append(
            [R.ALERT, {"title": title, "text": text, "level": level, "ts": self.created, "step": step}]
        )

    def system(self, samples: list[tuple[float, dict[str, float]]]) -> FakeRun:
        return self.append([R.SYSTEM, [[ts, data] for ts, data in samples]])


class LogBuilder:
    """Creates fake run logs under a data root."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def run(
        self,
        project: str,
        run_id: str,
        *,
        created: float = T0,
        name: str | None = None,
        tags: list[str] | None = None,
        group: str | None = None,
        job_type: str | None = None,
        notes: str | None = None,
        host: str = "elsewhere",
        pid: int = 1,
        start_time: int | None = None,
        config: dict[str, Any] | None = None,
    ) -> FakeRun:
        path = self.root / "projects" / project / "runs" / run_id / "run.tlog"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file_header())
        fake = FakeRun(path, created)
        fake.append(
            [
                R.RUN,
                {"id": run_id, "project": project, "entity": None, "name": name or run_id, "group": group,
                 "job_type": job_type, "tags": tags or [], "notes": notes, "created": created, "pid": pid,
                 "host": host, "start_time": start_time, "mode": "offline", "format_version": 1,
                 "tracker_version": "test", "sweep_id": None},
            ]
        )  # fmt: skip
        if config:
            fake.config(config)
        return fake


@pytest.fixture
def logs(root: Path) -> LogBuilder:
    """Write fake run logs under the test's data root."""
    return LogBuilder(root)
