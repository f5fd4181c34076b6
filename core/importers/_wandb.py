"""W&B run folders as :class:`~tracker.importers._model.ImportedRun` objects.

A W&B run folder (``wandb/offline-run-<date>-<id>`` written offline, ``wandb/run-<date>-<id>``
written while syncing) holds the run's transaction log, ``run-<id>.wandb``: every record the
SDK produced (run, config, history, summary, system metrics, console output, files,
artifacts, exit), in a LevelDB-style block format. It is read here with the ``wandb``
package's own reader (``wandb.sdk.internal.datastore.DataStore``) and protobuf classes
(``wandb.proto.wandb_internal_pb2.Record``), never parsed by hand; wandb 0.30 dropped that
Python reader (the format is read by its Go core since), so the ``[import]`` extra pins
``wandb<0.30``. Files the records name (media, tables, saved files) are read from the
folder's ``files/``; artifact files from W&B's staging folder, where offline runs leave them.

One pass over the log: :func:`read` reads the head (the run record) first, then the
sink's ``rows()`` call scans the whole log, yielding history rows and filling in the
config, summary, system samples, console lines, files, artifacts and exit state as their
records go by (the sink reads those after the rows, see ``_model.ImportedRun``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from tracker._settings import env_raw
from tracker.errors import MissingExtraError, StorageError
from tracker.importers._model import ImportedFile, ImportedRun, Row

__all__ = ["find_runs", "read"]

SOURCE: Final = "wandb"
# files/ entries W&B writes for its own bookkeeping: their content is mapped from the
# records (config, summary, metadata, console), so they are not copied as saved files.
_BOOKKEEPING: Final = frozenset({"config.yaml", "wandb-summary.json", "wandb-metadata.json", "output.log"})
# Record types that carry nothing a tracker run keeps (SDK bookkeeping).
_INTERNAL: Final = frozenset(
    {"header", "footer", "final", "telemetry", "request", "preempting", "run", "environment"}
)
# W&B's own artifact types: a table's storage copy (the table comes in through its row),
# and launch jobs.
_SKIP_ARTIFACTS: Final = frozenset({"run_table", "job"})
_MISSING: Final = (
    "tracker import wandb reads .wandb files with wandb's own record reader "
    "(wandb.sdk.internal.datastore), {found}. Install it with: pip install 'tracker[import]'"
)


def _reader() -> tuple[Any, Any]:
    """wandb's ``DataStore`` and ``Record`` classes, or a MissingExtraError saying what to install."""
    try:
        import wandb  # the modules below need it; its version goes in the message
    except ImportError:
        raise MissingExtraError(_MISSING.format(found="and wandb is not installed")) from None
    try:
        from wandb.proto.wandb_internal_pb2 import Record
        from wandb.sdk.internal.datastore import DataStore
    except ImportError:
        import wandb

        found = f"which wandb {getattr(wandb, '__version__', '?')} no longer ships (removed in 0.30)"
        raise MissingExtraError(_MISSING.format(found=found)) from None
    return DataStore, Record


# --------------------------------------------------------------------------- finding runs
def find_runs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The W&B run folders under ``paths`` (a run folder, a ``wandb/`` folder or any parent).

    Raises:
        StorageError: A path does not exist or holds no W&B run.
    """
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise StorageError(f"{path}: no such file or directory", path=str(path))
        if path.is_file() and path.suffix == ".wandb":
            runs = [path.parent]
        elif _log_of(path) is not None:
            runs = [path]
        else:
            runs = sorted({p.parent for p in path.rglob("run-*.wandb") if _log_of(p.parent) is not None})
        if not runs:
            raise StorageError(
                f"{path}: no W&B run folder here (a folder holding run-<id>.wandb, such as "
                "wandb/offline-run-<date>-<id>)",
                path=str(path),
            )
        for run in runs:
            found.setdefault(run.resolve())  # wandb/latest-run links to a run listed already
    return list(found)


def _log_of(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    logs = sorted(folder.glob("run-*.wandb"))
    return logs[0] if logs else None


def read(
    paths: Iterable[str | os.PathLike[str]], project: str | None = None, unreadable: list[str] | None = None
) -> Iterator[ImportedRun]:
    """One :class:`ImportedRun` per W&B run folder under ``paths``.

    Args:
        paths: Run folders, ``wandb/`` folders, or folders above them.
        project: The project when the run has none (W&B offline runs started without
            ``project=``); ``tracker import --project`` overrides every run's in the sink.
        unreadable: Where to note a run folder whose log cannot be read (one line each),
            the other runs being read as usual; None raises instead.

    Raises:
        MissingExtraError: wandb (< 0.30) is not installed.
        StorageError: A path holds no W&B run; a run's log cannot be read (without
            ``unreadable``).
    """
    datastore, record = _reader()
    for folder in find_runs(paths):
        try:
            run = _Stream(folder, datastore, record).head(project)
        except StorageError as exc:
            if unreadable is None:
                raise
            unreadable.append(str(exc))
            continue
        yield run


# --------------------------------------------------------------------------- one run
class _Stream:
    """One run folder's log, scanned once; fills its ImportedRun in as records go by."""

    def __init__(self, folder: Path, datastore: Any, record: Any) -> None:
        self.folder = folder
        log = _log_of(folder)
        assert log is not None
        self.log = log
        self._datastore = datastore
        self._record = record
        self.run: ImportedRun | None = None
        self.system: list[Row] = []
        self.console: list[tuple[float, int, str]] = []
        self._partial: dict[int, tuple[float, str]] = {}  # stream -> (ts, text) of an unfinished line
        self._summary: dict[str | tuple[str, ...], str] = {}  # key path -> value JSON
        self._unmapped: dict[str, int] = {}
        self._last = 0.0
        self._media_noted: set[str] = set()
        self._saved: dict[str, Path] = {}

    def records(self) -> Iterator[Any]:
        """Every record of the log, parsed; a damaged tail ends the scan with a problem."""
        ds = self._datastore()
        try:
            ds.open_for_scan(str(self.log))
        except OSError as exc:
            raise StorageError(
                f"{self.log}: cannot read it: {exc.strerror or exc}", path=str(self.log)
            ) from exc
        except Exception as exc:  # wandb raises a bare Exception("Invalid header")
            ds.close()
            raise StorageError(f"{self.log}: not a W&B run log ({exc})", path=str(self.log)) from exc
        from google.protobuf.message import DecodeError

        n = 0
        try:
            while True:
                try:
                    data = ds.scan_data()
                except AssertionError as exc:  # wandb's reader asserts on a torn or damaged block
                    if self.run is not None:
                        self.run.problems.append(f"{self.log.name}: read stopped after {n} records: {exc}")
                    return
                if data is None:
                    return
                rec = self._record()
                try:
                    rec.ParseFromString(data)
                except DecodeError as exc:  # a record whose bytes passed the CRC but not the schema
                    if self.run is not None:
                        self.run.problems.append(
                            f"{self.log.name}: record {n + 1} is not a W&B record ({exc})"
                        )
                    continue
                n += 1
                yield rec
        finally:
            ds.close()

    def head(self, project: str | None) -> ImportedRun:
        """The ImportedRun with the run record's fields; the rest arrives while rows() runs."""
        meta: dict[str, Any] = {}
        runrec = None
        for rec in self.records():  # header, run, then environment records
            kind = rec.WhichOneof("record_type")
            if kind == "header":
                meta["wandb"] = {"producer": rec.header.version_info.producer}
            elif kind == "environment":
                meta.update(_environment(rec.environment))
            elif kind == "run":
                runrec = rec.run
            elif runrec is not None:
                break
        if runrec is None:
            raise StorageError(
                f"{self.log}: no run record (the run never started writing)", path=str(self.log)
            )
        config = _items(runrec.config.update)
        config.pop("_wandb", None)
        created = _time(runrec.start_time) or meta.get("started_at") or self.log.stat().st_mtime
        meta.setdefault("host", runrec.host or None)
        meta["wandb"] = {**meta.get("wandb", {}), "entity": runrec.entity or None, "folder": self.folder.name}
        run = ImportedRun(
            source=SOURCE,
            source_key=self.folder.name,
            project=runrec.project or project or "uncategorized",
            id=runrec.run_id,
            name=runrec.display_name or None,
            group=runrec.run_group or None,
            job_type=runrec.job_type or None,
            tags=list(runrec.tags),
            notes=runrec.notes or None,
            config=config,
            created=float(created),
            state="running",
            rows=self.rows,
            system=lambda: iter(self.system),
            console_timed=lambda: iter(self.console),
            meta={k: v for k, v in meta.items() if v is not None},
        )
        if runrec.resumed:
            run.problems.append(
                f"a resumed session of W&B run {runrec.run_id} (folder {self.folder.name}); "
                "its sessions are imported as runs of their own"
            )
        self.run = run
        self._last = run.created or 0.0
        return run

    # ------------------------------------------------------------------ the scan
    def rows(self) -> Iterator[Row]:
        run = self.run
        assert run is not None
        held: Any = None  # the summary record just read, not yet folded
        for rec in self.records():
            kind = rec.WhichOneof("record_type")
            if held is not None:
                # wandb writes each row's values as a summary record just before the row:
                # one with as many items as the row, which the row itself supersedes (a row's
                # values are the summary of its keys). Only other summary records carry
                # anything the rows do not (summary[...] = ..., keys never logged).
                if kind != "history" or len(held.update) != len(rec.history.item):
                    self._fold_summary(held)
                held = None
            if kind == "history":
                row = self._row(rec.history)
                if row is not None:
                    yield row
            elif kind == "stats":
                self._stats(rec.stats)
            elif kind == "output_raw" or kind == "output":
                body = getattr(rec, kind)
                self._output(
                    _time(body.timestamp) or self._last, 0 if body.output_type == 1 else 1, body.line
                )
            elif kind == "config":
                run.config.update({k: v for k, v in _items(rec.config.update).items() if k != "_wandb"})
                for item in rec.config.remove:
                    run.config.pop(_key(item), None)
            elif kind == "summary":
                held = rec.summary
            elif kind == "files":
                for f in rec.files.files:
                    self._file(f.path)
            elif kind == "artifact":
                self._artifact(rec.artifact)
            elif kind == "use_artifact":
                name = rec.use_artifact.name
                run.artifacts_used.append(name if ":" in name else f"{name}:latest")
            elif kind == "exit":
                run.exit_code = int(rec.exit.exit_code)
                run.state = "finished" if run.exit_code == 0 else "failed"
                run.ended = max(self._last, (run.created or 0.0) + float(rec.exit.runtime))
            elif kind not in _INTERNAL and kind is not None:
                self._unmapped[kind] = self._unmapped.get(kind, 0) + 1
        if held is not None:
            self._fold_summary(held)
        self._finish()

    def _fold_summary(self, summary: Any) -> None:
        """Keep a summary record's items as raw JSON by key path (decoded once, at the end)."""
        raw = self._summary
        for item in summary.update:
            raw[item.key or tuple(item.nested_key)] = item.value_json
        for item in summary.remove:
            raw.pop(item.key or tuple(item.nested_key), None)

    def _finish(self) -> None:
        run = self.run
        assert run is not None
        for stream, (ts, text) in sorted(self._partial.items()):
            self.console.append((ts, stream, _line(text)))
        self._partial.clear()
        self.console.sort(key=lambda line: line[0])
        run.summary = _summary(_decoded(self._summary))
        for name in sorted(_walk_files(self.folder / "files")):
            self._file(name)
        run.files = [ImportedFile(name, path) for name, path in sorted(self._saved.items())]
        names = {
            "metric": "define_metric",
            "alert": "alert",
            "tbrecord": "TensorBoard sync",
            "noop_link_artifact": "link_artifact",
        }
        for kind, count in sorted(self._unmapped.items()):
            run.problems.append(f"{count} W&B {names.get(kind, kind)} record(s) not imported")

    def _row(self, history: Any) -> Row | None:
        items = history.item
        # Key paths joined by NUL (never in a W&B key): nesting is then one substring test.
        paths = [item.key or "\0".join(item.nested_key) for item in items]
        values = _values(items)
        if "\0" not in "".join(paths):
            row: Row = dict(zip(paths, values, strict=True))
        else:  # nested dicts and media maps arrive as one item per leaf
            row = {}
            for path, value in zip(paths, values, strict=True):
                _put(row, path.split("\0"), value)
            row = self._flatten(row, "")
        if "_step" not in row:
            row["_step"] = int(history.step.num)
        ts = row.get("_timestamp")
        if isinstance(ts, (int, float)):
            self._last = max(self._last, float(ts))
        return row

    def _flatten(self, data: dict[str, Any], prefix: str) -> dict[str, Any]:
        """Nested dicts as ``a.b`` keys (as tracker stores them); W&B media maps as media."""
        out: dict[str, Any] = {}
        for k, v in data.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict) and "_type" in v:
                out[key] = self._media(key, v)
            elif isinstance(v, dict) and v:
                out.update(self._flatten(v, key + "."))
            else:
                out[key] = v
        return out

    def _media(self, key: str, ref: dict[str, Any]) -> Any:
        """A W&B media reference as the tracker media object, or the reference kept as is."""
        import tracker

        kind = ref.get("_type")
        files = self.folder / "files"
        caption = ref.get("caption") if isinstance(ref.get("caption"), str) else None
        try:
            if kind == "histogram":
                return tracker.Histogram(np_histogram=(ref["values"], ref["bins"]))
            if kind == "image-file":
                return tracker.Image(files / ref["path"], caption=caption)
            if kind == "images/separated":
                captions = ref.get("captions") or [None] * len(ref["filenames"])
                return [
                    tracker.Image(files / name, caption=c)
                    for name, c in zip(ref["filenames"], captions, strict=False)
                ]
            if kind == "table-file":
                table = json.loads((files / ref["path"]).read_text())
                return tracker.Table(columns=table["columns"], data=table["data"])
            if kind == "audio-file":
                return tracker.Audio(files / ref["path"], caption=caption)
            if kind == "video-file":
                return tracker.Video(files / ref["path"], caption=caption)
            if kind == "html-file":
                return tracker.Html((files / ref["path"]).read_text())
        except (OSError, KeyError, TypeError, ValueError, tracker.Error) as exc:
            self._note(kind, f"{key}: W&B {kind} could not be read ({exc}); kept as its reference")
            return ref
        path = ref.get("path")
        if isinstance(path, str) and (files / path).is_file():
            self._saved.setdefault(path, files / path)
        self._note(
            kind, f"W&B media type {kind!r} (key {key}) kept as its reference map; its file is under files/"
        )
        return ref

    def _note(self, kind: Any, message: str) -> None:
        if str(kind) not in self._media_noted:
            self._media_noted.add(str(kind))
            assert self.run is not None
            self.run.problems.append(message)

    def _stats(self, stats: Any) -> None:
        ts = _time(stats.timestamp)
        if ts is None:
            return
        sample: Row = {"_timestamp": ts}
        for item, value in zip(stats.item, _values(stats.item), strict=True):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                sample[f"system.{_key(item)}"] = value
        self.system.append(sample)
        self._last = max(self._last, ts)

    def _output(self, ts: float, stream: int, chunk: str) -> None:
        """Raw console chunks as lines (W&B stores what each write() got)."""
        start, text = self._partial.pop(stream, (ts, ""))
        text += chunk
        *lines, rest = text.split("\n")
        for line in lines:
            self.console.append((start, stream, _line(line)))
            start = ts
        if rest:
            self._partial[stream] = (start, rest)
        self._last = max(self._last, ts)

    def _file(self, name: str) -> None:
        if name in self._saved or name in _BOOKKEEPING or name.startswith("media/"):
            return
        path = self.folder / "files" / name
        if path.is_file():  # follows wandb.save()'s symlinks to the original file
            self._saved[name] = path
        else:
            assert self.run is not None
            self.run.problems.append(f"saved file {name}: not in {self.folder / 'files'} (or a broken link)")

    def _artifact(self, rec: Any) -> None:
        run = self.run
        assert run is not None
        if rec.type in _SKIP_ARTIFACTS:
            return
        import tracker

        what = f"artifact {rec.name}"
        try:
            metadata = json.loads(rec.metadata) if rec.metadata else None
            art = tracker.Artifact(rec.name, rec.type, description=rec.description or None, metadata=metadata)
        except (ValueError, tracker.Error) as exc:
            run.problems.append(f"{what}: {exc}")
            return
        for entry in rec.manifest.contents:
            if entry.ref:
                art.add_reference(entry.ref, name=entry.path)
                continue
            src = _staged(entry.local_path)
            if src is None:
                run.problems.append(
                    f"{what}: file {entry.path}: its staged copy {entry.local_path} is gone (if W&B's data "
                    "folder moved, set WANDB_DATA_DIR to it); artifact not imported"
                )
                return
            if entry.digest and _md5(src) != entry.digest:
                run.problems.append(
                    f"{what}: file {entry.path}: {src} does not match its digest; artifact not imported"
                )
                return
            art.add_file(src, name=entry.path)
        run.artifacts_logged.append(art)
        run.artifact_aliases.append([a for a in rec.aliases if a != "latest"])


# --------------------------------------------------------------------------- values
def _values(items: Any) -> list[Any]:
    """The items' JSON values, decoded in one call (W&B writes NaN and Infinity as JSON does)."""
    if not items:
        return []
    try:
        return list(json.loads("[" + ",".join(item.value_json for item in items) + "]"))
    except ValueError:
        out = []
        for item in items:
            try:
                out.append(json.loads(item.value_json))
            except ValueError:
                out.append(item.value_json)
        return out


def _key(item: Any) -> str:
    return str(item.key) if item.key else ".".join(item.nested_key)


def _put(data: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        sub = data.get(part)
        if not isinstance(sub, dict):
            sub = data[part] = {}
        data = sub
    data[path[-1]] = value


def _items(items: Any) -> dict[str, Any]:
    """Config or summary items as a nested dict."""
    out: dict[str, Any] = {}
    for item, value in zip(items, _values(items), strict=True):
        _put(out, [item.key] if item.key else list(item.nested_key), value)
    return out


def _decoded(raw: dict[str | tuple[str, ...], str]) -> dict[str, Any]:
    """Raw summary items (key path -> value JSON) as a nested dict."""
    out: dict[str, Any] = {}
    paths = list(raw)
    values = json.loads("[" + ",".join(raw.values()) + "]") if raw else []
    for path, value in zip(paths, values, strict=True):
        _put(out, [path] if isinstance(path, str) else list(path), value)
    return out


def _summary(summary: dict[str, Any]) -> dict[str, Any]:
    """W&B's summary without its bookkeeping and media maps (the rows bring those)."""
    out: dict[str, Any] = {}

    def walk(data: dict[str, Any], prefix: str) -> None:
        for k, v in data.items():
            if isinstance(v, dict) and "_type" in v:
                continue
            if isinstance(v, dict) and v:
                walk(v, f"{prefix}{k}.")
            else:
                out[f"{prefix}{k}"] = v

    # _step, _timestamp and _runtime follow from the rows, as for any tracker run.
    walk({k: v for k, v in summary.items() if k not in ("_wandb", "_step", "_timestamp", "_runtime")}, "")
    return out


def _time(ts: Any) -> float | None:
    if ts is None or (not ts.seconds and not ts.nanos):
        return None
    return float(ts.seconds) + float(ts.nanos) / 1e9


def _line(text: str) -> str:
    """What a terminal shows of a line that rewrote itself with carriage returns (tqdm)."""
    text = text.rstrip("\r")
    return text.rsplit("\r", 1)[-1]


def _environment(env: Any) -> dict[str, Any]:
    """The environment record as META capture keys."""
    out: dict[str, Any] = {
        "program": env.program or None,
        "argv": list(env.args) or None,
        "cwd": env.root or None,
        "executable": env.executable or None,
        "python": env.python or None,
        "os": env.os or None,
        "host": env.host or None,
        "cpu_count": env.cpu_count or None,
        "started_at": _time(env.started_at),
    }
    if env.git.commit or env.git.remote_url:
        out["git"] = {"commit": env.git.commit or None, "remote": env.git.remote_url or None}
    return {k: v for k, v in out.items() if v is not None}


def _walk_files(files: Path) -> Iterator[str]:
    if not files.is_dir():
        return
    for path in files.rglob("*"):
        rel = path.relative_to(files).as_posix()
        if not rel.startswith("media/") and (path.is_file() or path.is_symlink()):
            yield rel


def _staged(local_path: str) -> Path | None:
    """An artifact file W&B staged: where the record says, or in ``$WANDB_DATA_DIR``'s staging."""
    if not local_path:
        return None
    path = Path(local_path)
    if path.is_file():
        return path
    data_dir = env_raw("WANDB_DATA_DIR") or str(Path.home() / ".local" / "share" / "wandb")
    moved = Path(data_dir) / "artifacts" / "staging" / path.name
    return moved if moved.is_file() else None


def _md5(path: Path) -> str:
    """W&B's entry digest: the base64 of the file's MD5."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return base64.b64encode(h.digest()).decode()
