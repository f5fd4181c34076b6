"""``tracker.Audio``: audio stored as a WAV file (or the file the user passed)."""

from __future__ import annotations

import struct
from typing import Any, ClassVar

from tracker.errors import UsageError
from tracker.media._base import Media, check_caption, is_path, read_file, torch_tensor

__all__ = ["Audio"]

_FILE_TYPES = ("wav", "mp3", "flac", "ogg", "oga", "opus", "m4a", "aac", "webm")
_MAX_CHANNELS = 64
# WAVE format tags.
_PCM = 1
_IEEE_FLOAT = 3


class Audio(Media):
    """An audio clip, stored as a file under the run (W&B's ``wandb.Audio``).

    Arrays are written as WAV in the writer thread with the samples unchanged:
    ``int16``/``int32``/``uint8`` as PCM, floats as 32-bit IEEE float (``float64`` is
    stored as ``float32``). No extra dependency is needed.

    Args:
        data_or_path: A numpy array or torch tensor of shape ``(frames,)`` (mono) or
            ``(frames, channels)``, or a path to an audio file (stored as it is).
        sample_rate: Samples per second per channel; required for arrays.
        caption: Shown with the clip.

    Raises:
        UsageError: Wrong rank or dtype, a channels-first array, a missing or
            non-positive sample rate, a missing file.

    Example:
        >>> import numpy as np
        >>> t = np.linspace(0, 1, 16000, dtype=np.float32)
        >>> clip = tracker.Audio(np.sin(2 * np.pi * 440 * t), sample_rate=16000)  # doctest: +SKIP
    """

    _kind: ClassVar[str] = "audio"

    def __init__(self, data_or_path: Any, sample_rate: int | None = None, caption: str | None = None) -> None:
        self.caption = check_caption(caption, "Audio")
        self.sample_rate: int | None = None
        self._samples: Any = None
        self._file: tuple[bytes, str] | None = None
        data = data_or_path
        if torch_tensor(data):
            data = data.detach().cpu().numpy()
        if type(data).__module__ == "numpy":
            self._samples = _check_samples(data)
            if sample_rate is None or isinstance(sample_rate, bool) or not hasattr(sample_rate, "__index__"):
                raise UsageError(f"Audio: an array needs an integer sample_rate, got {sample_rate!r}.")
            if int(sample_rate) <= 0:
                raise UsageError(f"Audio(sample_rate={sample_rate}) must be positive.")
            self.sample_rate = int(sample_rate)
        elif is_path(data):
            self._file = read_file(data, "Audio", _FILE_TYPES)
            self.sample_rate = None if sample_rate is None else int(sample_rate)
        else:
            raise UsageError(
                f"Audio() cannot take a {type(data).__qualname__}; pass a numpy array, torch "
                "tensor or file path."
            )

    @property
    def channels(self) -> int | None:
        """Number of channels of an array clip (None for a file)."""
        s = self._samples
        return None if s is None else (1 if s.ndim == 1 else int(s.shape[1]))

    @property
    def frames(self) -> int | None:
        """Samples per channel of an array clip (None for a file)."""
        return None if self._samples is None else int(self._samples.shape[0])

    def _nbytes(self) -> int:
        if self._file is not None:
            return len(self._file[0])
        return int(self._samples.nbytes)

    def _encode(self, store: Any) -> dict[str, Any]:
        ref: dict[str, Any] = {"_type": "audio-file"}
        if self._file is not None:
            data, ext = self._file
            ref["format"] = ext
            ref.update(store.write("audio", data, ext))
            if self.sample_rate is not None:
                ref["sample_rate"] = self.sample_rate
        else:
            assert self.sample_rate is not None
            ref["format"] = "wav"
            ref.update(store.write("audio", encode_wav(self._samples, self.sample_rate), "wav"))
            ref.update(
                sample_rate=self.sample_rate,
                channels=self.channels,
                frames=self.frames,
                duration=self.frames / self.sample_rate if self.frames else 0.0,
            )
        if self.caption is not None:
            ref["caption"] = self.caption
        return ref

    def __repr__(self) -> str:
        return f"<tracker.Audio {self.frames} frames @ {self.sample_rate} Hz>"


def _check_samples(a: Any) -> Any:
    import numpy as np

    if a.ndim not in (1, 2):
        raise UsageError(f"Audio: expected shape (frames,) or (frames, channels); got {tuple(a.shape)}.")
    if a.ndim == 2 and a.shape[1] > _MAX_CHANNELS:
        raise UsageError(
            f"Audio: got shape {tuple(a.shape)}, i.e. {a.shape[1]} channels; arrays are "
            "(frames, channels). Transpose a channels-first array (data.T)."
        )
    if a.shape[0] == 0 or (a.ndim == 2 and a.shape[1] == 0):
        raise UsageError(f"Audio: got an empty array of shape {tuple(a.shape)}.")
    if a.dtype in (np.int16, np.int32, np.uint8, np.float32):
        return a.copy()
    if a.dtype.kind == "f":
        return a.astype(np.float32)
    raise UsageError(
        f"Audio: unsupported sample dtype {a.dtype}; use float32, float64, int16, int32 or uint8."
    )


def encode_wav(samples: Any, rate: int) -> bytes:
    """A WAV file (RIFF) holding ``samples`` unchanged: PCM for ints, IEEE float for float32."""
    import numpy as np

    a = np.ascontiguousarray(samples)
    channels = 1 if a.ndim == 1 else int(a.shape[1])
    width = a.dtype.itemsize
    tag = _IEEE_FLOAT if a.dtype.kind == "f" else _PCM
    data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
    block = channels * width
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, width * 8)
    chunks = [b"fmt ", struct.pack("<I", len(fmt) + (2 if tag != _PCM else 0)), fmt]
    if tag != _PCM:
        # Non-PCM formats carry cbSize and a "fact" chunk (frames per channel).
        chunks += [b"\x00\x00", b"fact", struct.pack("<II", 4, a.shape[0])]
    chunks += [b"data", struct.pack("<I", len(data)), data]
    if len(data) % 2:
        chunks.append(b"\x00")
    body = b"".join(chunks)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def decode_wav(raw: bytes) -> tuple[Any, int]:
    """Samples and sample rate of a WAV file written by :func:`encode_wav` (PCM or float)."""
    import numpy as np

    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    pos = 12
    fmt: tuple[int, ...] | None = None
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        body = raw[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", body)
        elif cid == b"data" and fmt is not None:
            tag, channels, rate, _bps, _block, bits = fmt
            if tag == _IEEE_FLOAT:
                dtype = {32: "<f4", 64: "<f8"}[bits]
            else:
                dtype = {8: "u1", 16: "<i2", 32: "<i4"}[bits]
            a = np.frombuffer(body, dtype=dtype)
            return (a if channels == 1 else a.reshape(-1, channels)), int(rate)
        pos += 8 + size + (size % 2)
    raise ValueError("WAV file without fmt/data chunks")
