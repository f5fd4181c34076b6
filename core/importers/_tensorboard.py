"""Read a TensorBoard log directory into :class:`ImportedRun` objects (``tracker import tensorboard``).

Each directory under LOGDIR that holds event files (``*tfevents*``) is one run, named after
its path under LOGDIR, as TensorBoard lists runs. The events are read with the
``tensorboard`` package's own record reader (``event_file_loader``, the one under its
``EventAccumulator``), every record of every file, in file-name order: nothing is sampled
away (the accumulator keeps only 10,000 scalars, 4 images and 1 histogram per tag by
default). Both forms of each kind are read: the legacy protos tensorboardX and
``torch.utils.tensorboard`` write (``simple_value``, ``histo``, ``image``) and the tensors
``tf.summary`` writes (plugin ``scalars``, ``histograms``, ``images``, ``text``, ``hparams``).

Mapping: all tags at one step become one row (``_step``; ``_timestamp`` is the latest wall
time among them); a histogram becomes ``tracker.Histogram`` with the stored bucket edges and
counts (adjacent buckets merged when there are more than tracker's 512); an image keeps its
encoded PNG bytes (``tracker.Image``; several at one step become a list); text becomes a
string (a list or ``tracker.Table`` for a text tensor); the hparams plugin's session start
info becomes the config. What has no tracker counterpart (audio, PR curves, meshes, graphs)
is counted in ``problems``.
"""

from __future__ import annotations

import math
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracker._optional import require_extra
from tracker.errors import StorageError, UsageError
from tracker.importers._model import ImportedRun, Row

__all__ = ["read"]

_MAX_BINS = 512  # tracker.Histogram's limit
_TEXT_SUFFIX = "/text_summary"  # tensorboardX and torch append it to add_text tags
# tensorflow.DataType -> struct format of one element in tensor_content
_DTYPES = {
    code: struct.Struct(fmt)
    for code, fmt in {
        1: "<f",
        2: "<d",
        3: "<i",
        9: "<q",
        10: "<?",
        4: "<B",
        5: "<h",
        6: "<b",
        17: "<H",
    }.items()
}
_UNMAPPED = {"graph_def": "graph", "meta_graph_def": "meta graph", "tagged_run_metadata": "run metadata"}


def read(logdir: Path, project: str | None = None) -> Iterator[ImportedRun]:
    """Yield one :class:`ImportedRun` per run directory under ``logdir``.

    Args:
        logdir: A TensorBoard log directory (what ``tensorboard --logdir`` takes).
        project: The tracker project; default: the log directory's name.

    Raises:
        MissingExtraError: The ``tensorboard`` package is not installed.
        UsageError: ``logdir`` is not a directory or holds no event files.
        StorageError: While a run's ``rows`` are read: one of its event files cannot be read.
    """
    require_extra("tensorboard", feature="tracker import tensorboard", extra="import")
    root = Path(logdir).expanduser()
    if not root.is_dir():
        raise UsageError(f"TensorBoard logdir {str(root)!r} is not a directory.")
    runs = run_dirs(root)
    if not runs:
        raise UsageError(f"TensorBoard logdir {str(root)!r} holds no event files (*tfevents*).")
    name = project or root.resolve().name
    for rel, files in runs:
        yield _read_run(root, rel, files, name)


def run_dirs(root: Path) -> list[tuple[str, list[Path]]]:
    """The run directories under ``root``: (path relative to root, its event files sorted)."""
    found: list[tuple[str, list[Path]]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        events = sorted(f for f in filenames if "tfevents" in f)
        if events:
            rel = Path(dirpath).relative_to(root).as_posix()
            found.append((rel, [Path(dirpath, f) for f in events]))
    return found


class _Run:
    """What one run directory holds, gathered in one pass over its event files."""

    def __init__(self) -> None:
        self.rows: dict[int, Row] = {}
        self.plugins: dict[str, str] = {}  # tag -> plugin name from its first metadata
        self.config: dict[str, Any] = {}
        self.first: float | None = None
        self.last: float | None = None
        self.repeats: dict[str, int] = {}  # tag -> values written again at a step
        self.merged: dict[str, int] = {}  # histogram tag -> most buckets seen (over 512)
        self.unmapped: dict[str, dict[str, int]] = {}  # kind -> tag -> count
        self.problems: list[str] = []
        self.tmp: tempfile.TemporaryDirectory[str] | None = None

    def put(self, step: int, wall: float, tag: str, value: Any) -> None:
        row = self.rows.get(step)
        if row is None:
            self.rows[step] = row = {"_step": step, "_timestamp": wall}
        elif wall > row["_timestamp"]:
            row["_timestamp"] = wall
        if tag in row:
            old = row[tag]
            if _is_image(value) and (_is_image(old) or (isinstance(old, list) and _is_image(old[0]))):
                row[tag] = [*old, value] if isinstance(old, list) else [old, value]
                return
            self.repeats[tag] = self.repeats.get(tag, 0) + 1
        row[tag] = value

    def skip(self, kind: str, tag: str) -> None:
        tags = self.unmapped.setdefault(kind, {})
        tags[tag] = tags.get(tag, 0) + 1


def _read_run(root: Path, rel: str, files: list[Path], project: str) -> ImportedRun:
    """The run, with its events read when the sink iterates ``rows`` (not before).

    A run already imported costs one record here; ``config``, ``ended`` and ``problems``
    are filled in while ``rows`` runs, which the sink reads after it (``_model``).
    """
    imported = ImportedRun(
        source="tensorboard",
        source_key=rel,
        project=project,
        name=root.resolve().name if rel == "." else rel,
        created=_first_wall_time(files[0]),
    )

    def rows() -> Iterator[Row]:
        run = _parse(files)
        imported.config.update(run.config)
        imported.ended = run.last if run.last is not None else run.first
        imported.problems.extend(run.problems)
        table = run.rows
        for step in sorted(table):
            yield table.pop(step)

    imported.rows = rows
    return imported


def _first_wall_time(path: Path) -> float | None:
    """When the run started: its first summary's wall time (else the first event's).

    Not the ``file_version`` event's: a writer given explicit wall times (a replay) stamps
    that one with the clock, and the sink needs ``created`` before the rows.
    """
    from google.protobuf.message import DecodeError
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    first = None
    try:
        for event in LegacyEventFileLoader(str(path)).Load():
            if event.WhichOneof("what") == "summary":
                return float(event.wall_time)
            if first is None:
                first = float(event.wall_time)
    except (OSError, DecodeError):
        pass  # reading the rows says what is wrong with the file, as that run's failure
    return first


def _parse(files: list[Path]) -> _Run:
    from google.protobuf.message import DecodeError
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    run = _Run()
    try:
        for path in files:
            try:
                for event in LegacyEventFileLoader(str(path)).Load():
                    _event(run, event)
            except (OSError, DecodeError) as exc:  # this run fails; the sink goes on with the next
                raise StorageError(
                    f"TensorBoard event file {path} cannot be read: {exc}", path=str(path)
                ) from exc
    finally:
        if run.tmp is not None:
            run.tmp.cleanup()
    for tag, n in sorted(run.repeats.items()):
        run.problems.append(f"{tag}: {n} value(s) written again at a step already seen; the last one is kept")
    for tag, n in sorted(run.merged.items()):
        run.problems.append(
            f"{tag}: histograms of up to {n} buckets had adjacent buckets merged (tracker keeps {_MAX_BINS})"
        )
    for kind, tags in sorted(run.unmapped.items()):
        listed = ", ".join(f"{t} ({n})" for t, n in sorted(tags.items()))
        run.problems.append(f"{kind} has no tracker mapping, not imported: {listed}")
    return run


def _event(run: _Run, event: Any) -> None:
    wall = float(event.wall_time)
    if run.first is None or wall < run.first:
        run.first = wall
    what = event.WhichOneof("what")
    if what == "summary":
        if run.last is None or wall > run.last:
            run.last = wall  # not file_version's: a writer given explicit wall times
        step = int(event.step)
        for value in event.summary.value:
            _value(run, step, wall, value)
    elif what in _UNMAPPED:
        run.skip(_UNMAPPED[what], what)


def _value(run: _Run, step: int, wall: float, value: Any) -> None:
    tag = value.tag
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        run.put(step, wall, tag, float(value.simple_value))
        return
    plugin = run.plugins.get(tag)
    if plugin is None and value.HasField("metadata"):
        plugin = value.metadata.plugin_data.plugin_name
        if plugin:
            run.plugins[tag] = plugin
    if plugin == "hparams" or tag.startswith("_hparams_/"):
        _hparams(run, value.metadata.plugin_data.content)
    elif kind == "histo":
        _histogram(run, step, wall, tag, _histo_buckets(value.histo))
    elif kind == "image":
        run.put(step, wall, tag, _image(run, value.image.encoded_image_string))
    elif kind == "tensor":
        _tensor(run, step, wall, tag, plugin, value.tensor)
    else:
        run.skip(plugin or kind or "empty value", tag)


def _tensor(run: _Run, step: int, wall: float, tag: str, plugin: str | None, tensor: Any) -> None:
    if plugin in ("scalars", None, "") and not tensor.tensor_shape.dim:
        number = _scalar(tensor)
        if number is not None:
            run.put(step, wall, tag, number)
            return
    if plugin == "histograms":
        array = _ndarray(tensor)
        if array.ndim == 2 and array.shape[1] == 3:
            _histogram(run, step, wall, tag, array.tolist())
            return
    elif plugin == "images":
        blobs = list(tensor.string_val)[2:]  # width, height, then the encoded images
        images = [_image(run, b) for b in blobs]
        if images:
            run.put(step, wall, tag, images[0] if len(images) == 1 else images)
            return
    elif plugin == "text":
        text = _text(_ndarray(tensor))
        if text is not None:
            if tag.endswith(_TEXT_SUFFIX):
                tag = tag[: -len(_TEXT_SUFFIX)]
            run.put(step, wall, tag, text)
            return
    run.skip(plugin or f"tensor ({len(tensor.tensor_shape.dim)}-d)", tag)


def _scalar(tensor: Any) -> float | int | None:
    """The number a 0-d tensor holds, without numpy (the hot path: one per scalar)."""
    fmt = _DTYPES.get(tensor.dtype)
    if fmt is None:
        return None
    content = tensor.tensor_content
    if content:
        (number,) = fmt.unpack_from(content)
    elif tensor.float_val:
        number = tensor.float_val[0]
    elif tensor.double_val:
        number = tensor.double_val[0]
    elif tensor.int64_val:
        number = tensor.int64_val[0]
    elif tensor.int_val:
        number = tensor.int_val[0]
    elif tensor.bool_val:
        number = tensor.bool_val[0]
    else:
        return None
    if isinstance(number, bool):
        return int(number)
    return float(number) if tensor.dtype in (1, 2) else int(number)


def _ndarray(tensor: Any) -> Any:
    from tensorboard.util import tensor_util

    return tensor_util.make_ndarray(tensor)


def _histo_buckets(histo: Any) -> list[list[float]]:
    """A legacy ``HistogramProto`` as [left, right, count] rows, as TensorBoard converts it.

    Empty buckets at both ends are dropped, then ``min`` and ``max`` replace the outermost
    limits (which may be +-DBL_MAX); the values stay float64 (TensorBoard casts to float32).
    """
    counts = list(histo.bucket)
    limits = list(histo.bucket_limit)
    nonzero = [i for i, c in enumerate(counts) if c > 0]
    if not nonzero:
        return []
    start, end = nonzero[0], nonzero[-1]
    inner = limits[start:end]
    lefts = [histo.min, *inner]
    rights = [*inner, histo.max]
    return [[a, b, c] for a, b, c in zip(lefts, rights, counts[start : end + 1], strict=True)]


def _histogram(run: _Run, step: int, wall: float, tag: str, buckets: list[list[float]]) -> None:
    from tracker.media import Histogram

    if not buckets:
        run.skip("empty histogram", tag)
        return
    edges = [float(b[0]) for b in buckets] + [float(buckets[-1][1])]
    counts = [b[2] for b in buckets]
    if not all(math.isfinite(e) for e in edges):
        run.skip("histogram with infinite edges", tag)
        return
    if len(counts) > _MAX_BINS:
        group = -(-len(counts) // _MAX_BINS)
        run.merged[tag] = max(run.merged.get(tag, 0), len(counts))
        counts = [sum(counts[i : i + group]) for i in range(0, len(counts), group)]
        edges = edges[::group] + ([edges[-1]] if (len(edges) - 1) % group else [])
    counts = [int(c) if float(c).is_integer() else c for c in counts]
    run.put(step, wall, tag, Histogram(np_histogram=(counts, edges)))


def _image(run: _Run, encoded: bytes) -> Any:
    """A ``tracker.Image`` holding the encoded bytes as they are (PNG, or JPEG/GIF if so)."""
    from tracker.media import Image

    if run.tmp is None:
        run.tmp = tempfile.TemporaryDirectory(prefix="tracker-tb-")
    ext = "jpg" if encoded[:3] == b"\xff\xd8\xff" else "gif" if encoded[:4] == b"GIF8" else "png"
    path = Path(run.tmp.name, f"image.{ext}")
    path.write_bytes(encoded)
    return Image(str(path))  # reads the bytes now


def _is_image(value: Any) -> bool:
    return type(value).__name__ == "Image"


def _text(array: Any) -> Any:
    from tracker.media import Table

    def s(v: Any) -> str:
        return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)

    if array.size == 1:
        return s(array.reshape(-1)[0])
    if array.ndim == 1:
        return [s(v) for v in array.tolist()]
    if array.ndim == 2:
        rows = [[s(v) for v in row] for row in array.tolist()]
        return Table(columns=[str(i) for i in range(array.shape[1])], data=rows)
    return None


def _hparams(run: _Run, content: bytes) -> None:
    from tensorboard.plugins.hparams import plugin_data_pb2

    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    if data.WhichOneof("data") != "session_start_info":
        return
    for key, value in data.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        if kind == "number_value":
            run.config[key] = value.number_value
        elif kind == "string_value":
            run.config[key] = value.string_value
        elif kind == "bool_value":
            run.config[key] = value.bool_value
