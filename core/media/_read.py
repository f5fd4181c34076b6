"""The read side of media: find media in a run's history and load what a reference names.

For ``Api`` and the dashboard: :func:`media_entries` lists, per history key, every
logged media value with its step (the step slider's index); :func:`resolve` turns a
reference into a path inside the run directory (never outside it); the ``read_*``
functions decode the files (pixels, samples, frames, DataFrames, counts and edges).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracker._naming import LOG_NAME
from tracker.errors import StorageError, UsageError

if TYPE_CHECKING:
    from tracker.storage._replay import RunState

__all__ = [
    "MEDIA_TYPES",
    "MediaEntry",
    "is_media",
    "media_entries",
    "media_steps",
    "read_audio",
    "read_chart",
    "read_histogram",
    "read_html",
    "read_image",
    "read_table",
    "read_video",
    "resolve",
    "run_files",
    "summary_media",
]

#: ``_type`` values of media references in history rows and the summary.
MEDIA_TYPES: Final = frozenset(
    {
        "image-file",
        "audio-file",
        "video-file",
        "html-file",
        "table-file",
        "histogram",
        "chart",
        "object3D-file",
        "molecule-file",
        "plotly-file",
    }
)


class MediaEntry:
    """One logged media value.

    Attributes:
        key: The history key.
        step: The row's ``_step``.
        timestamp: The row's time (seconds since the epoch).
        value: The reference dict, or a list of them (a list of media under one key).
    """

    __slots__ = ("key", "step", "timestamp", "value")

    def __init__(self, key: str, step: int, timestamp: float, value: Any) -> None:
        self.key = key
        self.step = step
        self.timestamp = timestamp
        self.value = value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MediaEntry):
            return NotImplemented
        return (self.key, self.step, self.timestamp, self.value) == (
            other.key,
            other.step,
            other.timestamp,
            other.value,
        )

    __hash__ = None  # type: ignore[assignment]  # holds dicts: unhashable, like a dataclass with eq

    def __repr__(self) -> str:
        return f"MediaEntry({self.key!r}, step={self.step}, timestamp={self.timestamp}, value={self.value!r})"

    @property
    def refs(self) -> list[dict[str, Any]]:
        """The reference dicts of this entry (one, or the list's)."""
        return list(self.value) if isinstance(self.value, list) else [self.value]


def is_media(value: Any) -> bool:
    """True for a media reference dict, or a non-empty list of them."""
    if isinstance(value, dict):
        return value.get("_type") in MEDIA_TYPES
    if isinstance(value, list) and value:
        return all(isinstance(v, dict) and v.get("_type") in MEDIA_TYPES for v in value)
    return False


def _state(source: str | os.PathLike[str] | RunState) -> RunState:
    from tracker.storage._format import read_frames
    from tracker.storage._replay import RunState

    if isinstance(source, RunState):
        return source
    path = Path(source)
    if path.is_dir():
        path = path / LOG_NAME
    state = RunState()
    state.feed(read_frames(path).records)
    return state


def media_entries(
    source: str | os.PathLike[str] | RunState, keys: Iterable[str] | None = None
) -> dict[str, list[MediaEntry]]:
    """Every media value in a run's history, per key, in log order.

    Args:
        source: A run directory, its ``run.tlog``, or a folded
            :class:`~tracker.storage._replay.RunState` (live rows only: rows superseded
            by ``resume_from`` are not listed).
        keys: Only these keys (default: every key that holds media).

    Returns:
        ``{key: [MediaEntry, ...]}``; :func:`media_steps` gives a key's slider steps.

    Raises:
        StorageError: The run log cannot be read.
    """
    state = _state(source)
    wanted = set(keys) if keys is not None else None
    out: dict[str, list[MediaEntry]] = {}
    for step, ts, data in state.rows:
        for key, value in data.items():
            if (wanted is None or key in wanted) and is_media(value):
                out.setdefault(key, []).append(MediaEntry(key, int(step), float(ts), value))
    return out


def media_steps(entries: Iterable[MediaEntry]) -> list[int]:
    """The distinct steps of some entries, ascending (the positions of a step slider)."""
    return sorted({e.step for e in entries})


def summary_media(source: str | os.PathLike[str] | RunState) -> dict[str, Any]:
    """The summary's media values (``run.summary["best"] = tracker.Image(...)``), by key."""
    return {k: v for k, v in _state(source).summary.items() if is_media(v)}


def run_files(source: str | os.PathLike[str] | RunState) -> dict[str, dict[str, Any]]:
    """Files copied by ``run.save()``: the latest FILES entry per path (relative to ``files/``)."""
    out: dict[str, dict[str, Any]] = {}
    for entry in _state(source).files:
        out[str(entry["path"])] = entry
    return out


def resolve(run_dir: str | os.PathLike[str], ref: Any) -> Path:
    """The file a reference (or a relative path) names, inside ``run_dir``.

    Raises:
        UsageError: The reference has no path (an encoding error was recorded), or the
            path leaves the run directory.
        StorageError: The file does not exist.
    """
    rel = ref.get("path") if isinstance(ref, dict) else ref
    if not isinstance(rel, str) or not rel:
        error = ref.get("error") if isinstance(ref, dict) else None
        raise UsageError(
            f"this reference names no file{f' (it records an error: {error})' if error else ''}."
        )
    root = Path(run_dir).resolve()
    path = (root / rel).resolve()
    if os.path.commonpath([root, path]) != str(root) or os.path.isabs(rel):
        raise UsageError(f"media path {rel!r} leaves the run directory.")
    if not path.is_file():
        raise StorageError(f"media file {rel} is missing from {root}", path=str(path))
    return path


def read_image(run_dir: str | os.PathLike[str], ref: dict[str, Any]) -> Any:
    """The pixels of an ``image-file`` (or ``mask``) reference: a numpy array (HW or HWC).

    Raises:
        MissingExtraError: Pillow (the ``[media]`` extra) is not installed.
    """
    import numpy as np

    from tracker._optional import require_extra

    require_extra("PIL", feature="reading tracker images", extra="media")
    from PIL import Image as PILImage

    with PILImage.open(resolve(run_dir, ref)) as img:
        return np.asarray(img)


def read_audio(run_dir: str | os.PathLike[str], ref: dict[str, Any]) -> tuple[Any, int]:
    """``(samples, sample_rate)`` of a WAV ``audio-file`` reference (as logged, unchanged).

    Raises:
        UsageError: The file is not a WAV file (audio logged from a file of another format).
    """
    from tracker.media._audio import decode_wav

    raw = resolve(run_dir, ref).read_bytes()
    try:
        return decode_wav(raw)
    except (ValueError, KeyError, IndexError) as exc:
        raise UsageError(
            f"audio file {ref.get('path')} is not a WAV file tracker can decode ({exc})."
        ) from None


def read_video(run_dir: str | os.PathLike[str], ref: dict[str, Any]) -> Any:
    """The frames of a ``video-file`` reference: uint8 array ``TxHxWx3``.

    Raises:
        MissingExtraError: PyAV (MP4/WebM) or Pillow (GIF) is not installed.
        StorageError: The file cannot be decoded.
    """
    import numpy as np

    from tracker._optional import require_extra

    path = resolve(run_dir, ref)
    if path.suffix == ".gif":
        require_extra("PIL", feature="reading GIF videos", extra="media")
        from PIL import Image as PILImage
        from PIL import ImageSequence

        with PILImage.open(path) as img:
            return np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(img)])
    require_extra("av", feature="reading MP4/WebM videos", extra="media")
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise StorageError(f"video {ref.get('path')} has no video stream.", path=str(path))
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # decoding releases the GIL; let FFmpeg use threads
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except av.FFmpegError as exc:
        raise StorageError(f"cannot decode video {ref.get('path')}: {exc}", path=str(path)) from None
    if not frames:
        raise StorageError(f"video {ref.get('path')} has no frames.", path=str(path))
    return np.stack(frames)


def read_table(run_dir: str | os.PathLike[str], ref: dict[str, Any], pandas: bool = True) -> Any:
    """A ``table-file`` reference as a pandas DataFrame (or ``{"columns", "data"}``).

    Media cells come back as their reference dicts.

    Raises:
        MissingExtraError: ``pandas=True`` without pandas (the ``[data]`` extra).
    """
    import json

    payload = json.loads(resolve(run_dir, ref).read_text(encoding="utf-8"))
    if not pandas:
        return payload
    from tracker._optional import require_extra

    require_extra("pandas", feature="tables as DataFrames", extra="data")
    import pandas as pd

    return pd.DataFrame(payload["data"], columns=payload["columns"])


def read_chart(
    run_dir: str | os.PathLike[str], ref: dict[str, Any], pandas: bool = True
) -> tuple[dict[str, Any], Any]:
    """A ``chart`` reference: ``(description, table)`` with the table as :func:`read_table` gives it."""
    description = {k: v for k, v in ref.items() if k != "table"}
    return description, read_table(run_dir, ref["table"], pandas=pandas)


def read_histogram(ref: dict[str, Any]) -> tuple[list[Any], list[float]]:
    """``(counts, edges)`` of a ``histogram`` value (stored inline, exactly)."""
    return list(ref["values"]), list(ref["bins"])


def read_html(run_dir: str | os.PathLike[str], ref: dict[str, Any]) -> str:
    """The text of an ``html-file`` reference."""
    return resolve(run_dir, ref).read_text(encoding="utf-8")
