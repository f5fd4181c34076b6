"""The one sink: :class:`~tracker.importers._model.ImportedRun` objects become tracker runs.

Every importer ends here, so the rules live in one place:

* **Where.** A run goes to ``<root>/projects/<project>/runs/<id>`` with the source's id
  when it is a valid tracker id, else an id derived from ``source`` and ``source_key``
  (the same on every re-import).
* **Idempotent.** The run directory holds ``.import.json``, ``{"source", "key",
  "complete"}``, written before the log (``complete: false``) and replaced once the log's
  EXIT record is on disk (``complete: true``). A re-import skips a complete run of the same
  key, and redoes an incomplete one (an import that was killed): its files are deleted
  under the run's writer lease and the run is written again, so it is never duplicated.
  A directory that holds another run (a tracker run, another source's run with the same
  id) is left alone: the import goes to the derived id instead.
* **How.** The log is written by tracker's own run writer (:class:`tracker._writer.Writer`),
  driven in this thread instead of its own, with the source's clock: the RUN record's
  ``created``, each row's ``_step`` and ``_timestamp``, the EXIT record's ``ts`` and
  ``runtime`` are the source run's. Media objects in rows are encoded by the writer's
  media store, as ``run.log`` does. The sink takes each row dict over (it pops ``_step``
  and ``_timestamp`` and hands the rest to the writer as it is when every value is plain).

The CLI (``tracker import``) passes a progress bar and prints :class:`Report`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final, Protocol

from tracker._naming import LOG_NAME, check_id, check_name, run_dir_for
from tracker._values import FAST_TYPES, log_value
from tracker._writer import Ctl, Writer
from tracker.errors import Error, StorageError, UsageError
from tracker.importers._model import ImportedFile, ImportedRun
from tracker.storage import _lease
from tracker.storage._format import R, file_header

__all__ = ["Report", "import_runs", "target_id"]

MARKER: Final = ".import.json"
# Rows handed to the writer per cycle (the writer packs 256 per HISTORY frame).
_CYCLE_ROWS: Final = 4096
# Console lines and system samples per cycle (below the writer's deque bounds).
_CYCLE_SIDE: Final = 5000


class Bar(Protocol):
    """What the sink reports progress to (``tracker.cli._progress.Progress``)."""

    def update(self, n: int = 1) -> None: ...


class Report:
    """What an import did: counts, and one line per thing it could not map."""

    def __init__(self) -> None:
        self.imported: list[str] = []  # "project/id" of each run written
        self.skipped: list[str] = []  # already imported
        self.failed: list[str] = []
        self.rows = 0
        self.files = 0
        self.artifacts = 0
        self.problems: list[str] = []

    def lines(self) -> list[str]:
        """The summary the CLI prints."""
        out = [
            f"imported {len(self.imported)} run(s), {self.rows} row(s), {self.files} file(s), "
            f"{self.artifacts} artifact version(s); {len(self.skipped)} already imported"
            + (f"; {len(self.failed)} failed" if self.failed else "")
        ]
        if self.problems:
            out.append(f"not imported ({len(self.problems)}):")
            out.extend(f"  {p}" for p in self.problems)
        return out


def target_id(run: ImportedRun) -> str:
    """The run id an imported run gets: the source's, or one derived from its key."""
    if run.id is not None:
        try:
            return check_id(run.id)
        except UsageError:
            pass
    return derived_id(run)


def derived_id(run: ImportedRun) -> str:
    """A stable id from ``source`` and ``source_key`` (16 hex digits)."""
    return hashlib.sha256(f"{run.source}\0{run.source_key}".encode()).hexdigest()[:16]


def import_runs(
    runs: Iterable[ImportedRun], root: Path, *, project: str | None = None, bar: Bar | None = None
) -> Report:
    """Write each run under ``root`` (see the module docstring); never raises for one bad run.

    Args:
        runs: What a reader yields.
        root: The data root.
        project: Put every run in this project instead of the source's.
        bar: Progress, counted in rows.

    Returns:
        The report: runs written and skipped, rows, files, and what could not be mapped.
    """
    report = Report()
    for run in runs:
        label = f"{run.source} run {run.source_key}"
        try:
            _one(run, root, project, bar, report)
        except Error as exc:
            report.failed.append(label)
            report.problems.append(f"{label}: {exc}")
    return report


def _one(run: ImportedRun, root: Path, project: str | None, bar: Bar | None, report: Report) -> None:
    proj = check_name(project or run.project, "project")
    key = {"source": run.source, "key": run.source_key}
    first = target_id(run)
    for rid in dict.fromkeys((first, derived_id(run))):  # the source's id, then the derived one
        run_dir = run_dir_for(root, proj, rid)
        try:
            lease = _lease.acquire(run_dir, what=f"{proj}/{rid}")
        except OSError as exc:
            raise StorageError(f"cannot create run directory {run_dir}: {exc}", path=str(run_dir)) from exc
        try:
            marker = _read_marker(run_dir)
            mine = marker is not None and {k: marker.get(k) for k in key} == key
            if mine and marker is not None and marker.get("complete"):
                report.skipped.append(f"{proj}/{rid}")
                return
            if not mine and (run_dir / LOG_NAME).exists():
                continue  # another run lives there: try the derived id
            if mine:
                _clear(run_dir)  # an interrupted import of this run: redo it
            if rid != first:
                report.problems.append(
                    f"{run.source} run {run.source_key}: id {first!r} is taken in project {proj} "
                    f"by another run; imported as {rid!r}"
                )
            _write_marker(run_dir, {**key, "complete": False})
            _write(run, root, proj, rid, run_dir, bar, report)
            _write_marker(run_dir, {**key, "complete": True})
            report.imported.append(f"{proj}/{rid}")
            report.problems.extend(f"{proj}/{rid}: {p}" for p in run.problems)
            return
        finally:
            lease.release()
    raise StorageError(
        f"ids {first!r} and {derived_id(run)!r} of project {proj} are both taken by other runs"
    )


# --------------------------------------------------------------------------- the marker
def _read_marker(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_marker(run_dir: Path, data: dict[str, Any]) -> None:
    tmp = run_dir / f"{MARKER}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, run_dir / MARKER)


def _clear(run_dir: Path) -> None:
    """Delete what an interrupted import wrote (never the lease files: we hold the lock)."""
    for entry in run_dir.iterdir():
        if _lease.is_lease_file(entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


# --------------------------------------------------------------------------- the log
class _Writer(Writer):
    """tracker's run writer, driven in the importer's thread with the source run's clock."""

    def __init__(self, path: Path, run_id: str, created: float) -> None:
        super().__init__(
            path, run_id=run_id, fsync=True, flush_interval=0.0, heartbeat=math.inf, capture=None
        )
        self._start_time = created  # the summary's _runtime counts from the source run's start

    def drain(self, final: bool = False) -> None:
        """Encode and write everything queued (the cycle the writer thread would run)."""
        self._cycle(final=final)

    def close_file(self) -> None:
        """Close the log; raise if bytes the disk refused are still held."""
        held = self._file.held
        self._file.close()
        if held:
            raise StorageError(
                f"could not write {self.path}: the disk refused the last bytes", path=str(self.path)
            )

    def abandon(self) -> None:
        """Close the log of an import that failed part way."""
        self._file.close()

    @property
    def rows_written(self) -> int:
        """Rows encoded so far."""
        return self._rows_encoded


def _write(
    run: ImportedRun, root: Path, project: str, rid: str, run_dir: Path, bar: Bar | None, report: Report
) -> None:
    from tracker._version import __version__
    from tracker.storage._format import FORMAT_VERSION

    created = float(run.created if run.created is not None else time.time())
    writer = _Writer(run_dir / LOG_NAME, rid, created)
    writer.open(file_header())
    try:
        writer.write_now([R.RUN, {
            "id": rid, "project": project, "entity": None, "name": run.name or rid, "group": run.group,
            "job_type": run.job_type, "tags": [str(t) for t in run.tags], "notes": run.notes,
            "created": created, "pid": os.getpid(), "host": str(run.meta.get("host") or os.uname().nodename),
            "start_time": None, "mode": "offline", "format_version": FORMAT_VERSION,
            "tracker_version": __version__, "sweep_id": None,
        }])  # fmt: skip
        meta = dict(run.meta)
        meta["import"] = {
            "source": run.source,
            "key": run.source_key,
            "ts": time.time(),
            "tracker_version": __version__,
        }
        queue = writer.queue
        queue.append(Ctl("record", [R.META, meta]))
        last = _rows(run, writer, created, bar)
        _side(run, writer, last)
        # Read after the iterators: a stream reader fills these in as it goes.
        if run.config:
            queue.append(Ctl("record", [R.CONFIG, _plain(run.config), []]))
        saved = [e for e in (_copy(f, run_dir, run) for f in run.files) if e is not None]
        if saved:
            queue.append(Ctl("record", [R.FILES, saved]))
        writer.drain()
        artifacts = _artifacts(run, root, project, rid, writer)
        # The source's summary over the one folded from the rows; always a SUMMARY before EXIT.
        queue.append(Ctl("summary_set", _plain(run.summary or {}), []))
        ended = float(run.ended if run.ended is not None else max(last, created))
        state = run.state
        if state == "running":
            run.problems.append("the source run had not ended (running or crashed); imported as crashed")
            state = "crashed"
        code = run.exit_code if run.exit_code is not None else (0 if state == "finished" else 1)
        exit_rec = {"state": state, "exit_code": int(code), "ts": ended, "runtime": max(0.0, ended - created)}
        queue.append(Ctl("record", [R.EXIT, exit_rec]))
        writer.drain(final=True)
    except BaseException:
        writer.abandon()  # the marker stays incomplete: the next import redoes the run
        raise
    writer.close_file()
    run.problems.extend(message for _key, message in writer.problems)
    report.rows += writer.rows_written
    report.files += len(saved)
    report.artifacts += artifacts


def _rows(run: ImportedRun, writer: _Writer, created: float, bar: Bar | None) -> float:
    """Queue every row; returns the time of the last one (``created`` when there is none)."""
    queue = writer.queue
    step = -1
    ts = created
    n = 0
    fast = FAST_TYPES
    for row in run.rows():
        s = row.pop("_step", None)
        step = s if type(s) is int and s >= 0 else step + 1
        t = row.pop("_timestamp", None)
        if type(t) is float or type(t) is int:
            ts = float(t)
        row.pop("_runtime", None)  # derived: _timestamp - created
        if set(map(type, row.values())) <= fast:
            data = row
        else:
            data = {}
            for k, v in row.items():
                if type(v) in fast:
                    data[k] = v
                    continue
                try:
                    log_value(k, v, data)
                except UsageError as exc:
                    run.problems.append(f"step {step}: {exc}; stored its repr")
                    data[k] = repr(v)
        queue.append((step, ts, data))
        n += 1
        if len(queue) >= _CYCLE_ROWS:
            writer.drain()
            if bar is not None:
                bar.update(_CYCLE_ROWS)
            n -= _CYCLE_ROWS
    writer.drain()
    if bar is not None and n:
        bar.update(n)
    return ts


def _side(run: ImportedRun, writer: _Writer, last: float) -> None:
    """System samples and console lines, through the writer's own side channels."""
    system = writer.system
    for sample in run.system():
        ts = sample.get("_timestamp")
        values = {k: v for k, v in sample.items() if k not in ("_timestamp", "_runtime")}
        if isinstance(ts, (int, float)) and values:
            system.append([float(ts), values])
        if len(system) >= _CYCLE_SIDE:
            writer.drain()
    console = writer.console
    lines: Iterable[tuple[float, int, str]]
    if run.console_timed is not None:
        lines = run.console_timed()
    else:
        lines = ((last, 0, text) for text in run.console())
    for ts, stream, text in lines:
        console.append([ts, stream, text[:65536]])
        if len(console) >= _CYCLE_SIDE:
            writer.drain()
    writer.drain()


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """Config and summary values as msgpack takes them (media objects as their repr)."""
    return {str(k): v for k, v in json.loads(json.dumps(data, default=repr)).items()}


def _copy(f: ImportedFile, run_dir: Path, run: ImportedRun) -> dict[str, Any] | None:
    """Copy one saved file into ``files/``; its FILES entry, or None (a problem) if it cannot."""
    name = f.name.replace("\\", "/").lstrip("/")
    if not name or any(part in ("", ".", "..") for part in name.split("/")):
        run.problems.append(f"file {f.name!r}: not a relative path; not imported")
        return None
    dest = run_dir / "files" / name
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.import-{os.getpid()}")
        shutil.copyfile(f.path, tmp)
        digest = hashlib.sha256()
        with open(tmp, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        os.replace(tmp, dest)
    except OSError as exc:
        run.problems.append(f"file {name}: cannot copy {f.path}: {exc.strerror or exc}")
        return None
    return {
        "path": name,
        "size": dest.stat().st_size,
        "sha256": digest.hexdigest(),
        "policy": "now",
        "ts": time.time(),
    }


def _artifacts(run: ImportedRun, root: Path, project: str, rid: str, writer: _Writer) -> int:
    """Store logged artifact versions (idempotent by digest), record the lineage edges; the count stored."""
    if not run.artifacts_logged and not run.artifacts_used:
        return 0
    stored = 0
    from tracker.artifacts._names import parse_ref
    from tracker.artifacts._ops import edge, store_version
    from tracker.storage._sqlite_state import SQLiteStateStore

    state = SQLiteStateStore.for_root(root)
    try:
        for i, art in enumerate(run.artifacts_logged):
            aliases = run.artifact_aliases[i] if i < len(run.artifact_aliases) else []
            aliases = [a for a in dict.fromkeys(aliases) if a != "latest"]
            try:
                version = store_version(art, root, project, rid, aliases, state)
            except Error as exc:
                run.problems.append(f"artifact {art.source_name}: {exc}")
                continue
            writer.queue.append(Ctl("record", [R.ARTIFACT, edge("log", version, aliases=aliases)]))
            stored += 1
        for ref in run.artifacts_used:
            try:
                parsed = parse_ref(ref)
                found = state.artifact_version(parsed.project or project, parsed.name, parsed.ref)
            except Error as exc:
                run.problems.append(f"used artifact {ref}: {exc}")
                continue
            if found is None or found.deleted:
                run.problems.append(
                    f"used artifact {ref}: no such version in this data root; use not recorded"
                )
                continue
            writer.queue.append(Ctl("record", [R.ARTIFACT, edge("use", found)]))
    finally:
        state.close()
    writer.drain()
    return stored
