"""``tracker.Video``: frames encoded to MP4/WebM (PyAV) or GIF (Pillow) in the writer.

MP4 (H.264, yuv420p, playable in every browser) and WebM (VP9, or VP8 where the
build lacks VP9) are encoded in-process by PyAV (``av``, the ``[media]`` extra), whose
wheels bundle the FFmpeg libraries: users install no system ffmpeg and tracker starts
no child process (SPEC §3); PyAV releases the GIL while it converts, encodes and
writes. Without PyAV the default format falls back to GIF, written by Pillow
(palette-quantised: lossy colours, larger files); ``format="mp4"`` then raises
:class:`~tracker.errors.MissingExtraError`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from tracker._optional import require_extra
from tracker.errors import MissingExtraError, UsageError
from tracker.media._base import (
    Media,
    check_caption,
    is_path,
    read_file,
    snapshot_tensor,
    to_numpy,
    torch_tensor,
)
from tracker.media._pixels import channels_last, check_values, to_pixels

__all__ = ["Video"]

_FILE_TYPES = ("mp4", "webm", "gif", "ogg", "ogv", "mov", "mkv", "avi")
_FORMATS = ("mp4", "webm", "gif")
# Encoders to try, best first, with their options (what ``ffmpeg -crf ...`` used to get).
_CODECS: dict[str, tuple[tuple[str, dict[str, str]], ...]] = {
    "mp4": (("libx264", {"crf": "15", "preset": "fast"}), ("libopenh264", {"b": "8M"})),
    "webm": (
        ("libvpx-vp9", {"crf": "20", "b": "0", "row-mt": "1"}),  # constant quality
        ("libvpx", {"crf": "10", "b": "4M"}),  # VP8: crf needs a bitrate cap
    ),
}


class Video(Media):
    """A video, stored as a file under the run (W&B's ``wandb.Video``).

    Args:
        data_or_path: A numpy array or torch tensor of frames, ``TxCxHxW`` (W&B's
            layout) or ``TxHxWxC`` with 1, 3 or 4 channels, ``uint8`` or float in
            [0, 1]; or a path to a video file (stored as it is). Device tensors are
            cloned on their device and copied to the host in the writer.
        caption: Shown with the video.
        fps: Frames per second for arrays (default 4, as W&B).
        format: ``mp4`` (default with the ``[media]`` extra), ``webm`` or ``gif``
            (the default without PyAV).

    Raises:
        UsageError: Wrong rank, channel count or dtype, out-of-range values, a bad
            ``fps`` or ``format``, a missing file.
        MissingExtraError: Pillow (GIF) or PyAV (MP4, WebM) is not installed.

    Example:
        >>> import numpy as np
        >>> frames = np.zeros((16, 3, 64, 64), np.uint8)  # T, C, H, W
        >>> run.log({"rollout": tracker.Video(frames, fps=8)})  # doctest: +SKIP
    """

    _kind: ClassVar[str] = "video"

    def __init__(
        self,
        data_or_path: Any,
        caption: str | None = None,
        fps: float | None = None,
        format: str | None = None,  # W&B's keyword
    ) -> None:
        self.caption = check_caption(caption, "Video")
        if fps is None:
            fps = 4
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 1000:
            raise UsageError(f"Video(fps={fps!r}) must be a number in (0, 1000].")
        self.fps = fps
        self.frames: int | None = None
        self.width: int | None = None
        self.height: int | None = None
        self._frames: Any = None
        self._chw = False
        self._file: tuple[bytes, str] | None = None
        data = data_or_path
        if is_path(data):
            self._file = read_file(data, "Video", _FILE_TYPES)
            self.format = self._file[1]
            return
        if torch_tensor(data):
            self._from_tensor(data)
        elif type(data).__module__ == "numpy":
            self._from_array(data)
        else:
            raise UsageError(
                f"Video() cannot take a {type(data).__qualname__}; pass a numpy array, torch "
                "tensor or file path."
            )
        self.format = _choose_format(format)

    def _from_array(self, a: Any) -> None:
        if a.ndim != 4:
            raise UsageError(f"Video: got an array of shape {tuple(a.shape)}; expected TxCxHxW or TxHxWxC.")
        if not channels_last(a.shape[1:], "Video", "TxCxHxW or TxHxWxC"):
            a = a.transpose(0, 2, 3, 1)
        self._frames = check_values(a, "Video", True)
        self.frames, self.height, self.width = (int(s) for s in a.shape[:3])

    def _from_tensor(self, t: Any) -> None:
        shape = tuple(int(s) for s in t.shape)
        if t.device.type == "cpu":
            self._from_array(snapshot_tensor(t))
            return
        if len(shape) != 4:
            raise UsageError(f"Video: got a tensor of shape {shape}; expected TxCxHxW or TxHxWxC.")
        if 0 in shape:
            raise UsageError(f"Video: got an empty tensor of shape {shape}.")
        self._chw = not channels_last(shape[1:], "Video", "TxCxHxW or TxHxWxC")
        self.frames = shape[0]
        self.height, self.width = shape[2:] if self._chw else shape[1:3]
        self._frames = snapshot_tensor(t)

    def _nbytes(self) -> int:
        if self._file is not None:
            return len(self._file[0])
        f = self._frames
        return int(f.nbytes) if hasattr(f, "nbytes") else int(f.numel() * f.element_size())

    def _encode(self, store: Any) -> dict[str, Any]:
        ref: dict[str, Any] = {"_type": "video-file", "format": self.format}
        if self._file is not None:
            ref.update(store.write("video", self._file[0], self._file[1]))
        else:
            frames = to_numpy(self._frames)
            if self._chw:
                frames = frames.transpose(0, 2, 3, 1)
            rgb = _rgb(to_pixels(frames, True))
            if self.format == "gif":
                ref.update(store.write("video", _encode_gif(rgb, self.fps), "gif"))
            else:
                ref.update(_encode_av(rgb, self.fps, self.format, store))
            ref.update(frames=int(rgb.shape[0]), fps=self.fps, width=self.width, height=self.height)
        if self.caption is not None:
            ref["caption"] = self.caption
        return ref

    def __repr__(self) -> str:
        return f"<tracker.Video {self.frames} frames {self.width}x{self.height} {self.format}>"


def _choose_format(fmt: str | None) -> str:
    if fmt is None:
        try:
            require_extra("av", feature="tracker.Video (MP4)", extra="media")
        except MissingExtraError:
            fmt = "gif"  # the documented fallback: Pillow only
        else:
            fmt = "mp4"
    fmt = str(fmt).lower()
    if fmt not in _FORMATS:
        raise UsageError(f"Video(format={fmt!r}): use one of {list(_FORMATS)}.")
    if fmt == "gif":
        require_extra("PIL", feature="tracker.Video(format='gif')", extra="media")
    else:
        require_extra("av", feature=f"tracker.Video(format={fmt!r})", extra="media")
    return fmt


def _rgb(frames: Any) -> Any:
    import numpy as np

    if frames.dtype != np.uint8:  # 16-bit frames: keep the high byte
        frames = (frames >> 8).astype(np.uint8)
    c = frames.shape[3]
    if c == 1:
        return np.repeat(frames, 3, axis=3)
    if c == 4:
        return np.ascontiguousarray(frames[..., :3])
    return np.ascontiguousarray(frames)


def _encode_gif(rgb: Any, fps: float) -> bytes:
    import io

    from PIL import Image as PILImage

    images = [PILImage.fromarray(frame) for frame in rgb]
    buf = io.BytesIO()
    images[0].save(
        buf, format="GIF", save_all=True, append_images=images[1:], duration=max(1, round(1000 / fps)), loop=0
    )
    return buf.getvalue()


def _encoder(fmt: str) -> tuple[str, dict[str, str]]:
    """The first encoder for ``fmt`` that this PyAV build has, with its options."""
    from av.codec import Codec

    for name, options in _CODECS[fmt]:
        try:
            Codec(name, "w")
        except ValueError:  # av.codec.codec.UnknownCodecError: not in this build
            continue
        return name, options
    names = ", ".join(name for name, _ in _CODECS[fmt])
    raise RuntimeError(f"this PyAV build has no {fmt} video encoder (tried {names}).")


def _encode_av(rgb: Any, fps: float, fmt: str, store: Any) -> dict[str, Any]:
    from fractions import Fraction

    import av
    import numpy as np

    # yuv420p needs even sizes: pad the right/bottom edge by one pixel when odd.
    h, w = rgb.shape[1:3]
    if h % 2 or w % 2:
        rgb = np.pad(rgb, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        h, w = rgb.shape[1:3]
    codec, options = _encoder(fmt)
    rate = Fraction(fps).limit_denominator(1001)
    tmp = store.temp_path("video", fmt)
    container_options = {"movflags": "+faststart"} if fmt == "mp4" else {}
    try:
        try:
            with av.open(str(tmp), "w", format=fmt, container_options=container_options) as out:
                stream = out.add_stream(codec, rate=rate, options=dict(options))
                stream.width, stream.height, stream.pix_fmt = int(w), int(h), "yuv420p"
                stream.codec_context.time_base = 1 / rate
                for i, pixels in enumerate(rgb):
                    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                    frame.pts = i
                    out.mux(stream.encode(frame))  # to yuv420p and encode, GIL released
                out.mux(stream.encode(None))  # flush the encoder's delayed frames
        except av.FFmpegError as exc:
            raise RuntimeError(f"encoding {fmt} with {codec} failed: {exc}") from exc
        return store.adopt("video", tmp, fmt)  # type: ignore[no-any-return]
    finally:
        tmp.unlink(missing_ok=True)
