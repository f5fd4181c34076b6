"""``tracker.Image``: an image stored losslessly as a PNG file under the run."""

from __future__ import annotations

import io
from typing import Any, ClassVar

from tracker._optional import require_extra
from tracker.errors import UsageError
from tracker.media._annotations import check_boxes, check_masks, encode_masks
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
from tracker.media._png import encode_png, png_size

__all__ = ["Image"]

_FILE_TYPES = ("png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff")
_MODE_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


class Image(Media):
    """An image, stored as a file under the run and referenced from the history row.

    W&B's ``wandb.Image``. The pixels are snapshotted here (later in-place changes to
    the source do not alter what is stored); PNG encoding happens in the writer thread.
    Arrays and tensors are stored losslessly as PNG with no extra dependency; Pillow (the
    ``[media]`` extra) is needed only for PIL images, ``file_type="jpg"`` and reading the
    size of non-PNG files.

    Args:
        data_or_path: One of

            * a numpy array: ``HW`` (grey), ``HWC`` or ``CHW`` with 1, 3 or 4 channels;
              ``uint8``, ``uint16``, ``bool``, other integers in 0..255, or floats in
              [0, 1] (scaled by 255 and rounded);
            * a torch tensor, ``CHW`` (or ``HW``/``HWC``) on any device: a device tensor
              is cloned on its device now and copied to the host in the writer, so
              ``log()`` never waits for the GPU;
            * a PIL image; a matplotlib figure (or ``matplotlib.pyplot``), rendered now;
            * a path to an image file, whose bytes are stored as they are.
        mode: For PIL images, a PIL mode to convert to; for arrays, ``L``, ``LA``,
            ``RGB`` or ``RGBA``, which must agree with the channel count.
        caption: Shown under the image.
        grouping: Accepted for W&B compatibility (unused).
        classes: Accepted for W&B compatibility; class names come from ``masks`` and
            ``boxes``.
        boxes: ``{name: {"box_data": [{"position": {"minX", "maxX", "minY", "maxY"} or
            {"middle": [x, y], "width", "height"}, "class_id": int, "box_caption": str,
            "scores": {name: number}, "domain": "pixel"}], "class_labels": {id: name}}}``.
            Coordinates are relative (0..1) unless ``domain="pixel"``.
        masks: ``{name: {"mask_data": HxW integer array, "class_labels": {id: name}}}``.
        file_type: ``png`` (default, lossless) or ``jpg`` (lossy, needs Pillow).
        normalize: With True (default) float pixels must lie in [0, 1]; with False, in
            [0, 255].

    Raises:
        UsageError: Wrong rank, channel count or dtype, out-of-range values, a mask of
            the wrong shape, an unknown class index, a missing file. The message names
            the shape or value.
        MissingExtraError: A PIL image or ``file_type="jpg"`` without Pillow.

    Example:
        >>> import numpy as np
        >>> img = tracker.Image(np.zeros((32, 32, 3), np.uint8), caption="blank")  # doctest: +SKIP
        >>> run.log({"sample": img})  # doctest: +SKIP
    """

    _kind: ClassVar[str] = "image"

    def __init__(
        self,
        data_or_path: Any,
        mode: str | None = None,
        caption: str | None = None,
        grouping: int | None = None,
        classes: Any = None,
        boxes: dict[str, Any] | None = None,
        masks: dict[str, Any] | None = None,
        file_type: str | None = None,
        normalize: bool = True,
    ) -> None:
        self.caption = check_caption(caption, "Image")
        self.width: int | None = None
        self.height: int | None = None
        self._normalize = bool(normalize)
        self._pixels: Any = None  # numpy array (HW/HWC) or a device tensor clone
        self._chw = False  # device tensor still in CHW order
        self._pil: Any = None
        self._file: tuple[bytes, str] | None = None
        ftype = (file_type or "png").lower()
        if ftype not in ("png", "jpg", "jpeg"):
            raise UsageError(f"Image(file_type={file_type!r}): use 'png' or 'jpg'.")
        self._format = "jpg" if ftype == "jpeg" else ftype
        if self._format == "jpg":
            require_extra("PIL", feature="tracker.Image(file_type='jpg')", extra="media")
        self._take(data_or_path, mode)
        size = (self.height, self.width) if self.height is not None and self.width is not None else None
        self._masks = check_masks(masks, size) if masks else None
        self._boxes = check_boxes(boxes) if boxes else None

    # ------------------------------------------------------------- caller side
    def _take(self, data: Any, mode: str | None) -> None:
        mod = type(data).__module__
        if mod == "numpy":
            self._from_array(data, mode)
        elif torch_tensor(data):
            self._from_tensor(data, mode)
        elif mod.startswith("PIL.") and hasattr(data, "mode") and hasattr(data, "size"):
            pil = data.convert(mode) if mode is not None else data.copy()
            pil.load()
            self._pil = pil
            self.width, self.height = (int(v) for v in pil.size)
        elif _is_figure(data):
            self._from_figure(data)
        elif is_path(data):
            raw, ext = read_file(data, "Image", _FILE_TYPES)
            self._file = (raw, "jpg" if ext == "jpeg" else ext)
            self._format = self._file[1]
            self.width, self.height = _file_size(raw) or (None, None)
        elif isinstance(data, Image):
            self.__dict__.update({k: v for k, v in data.__dict__.items() if k != "caption"})
        else:
            raise UsageError(
                f"Image() cannot take a {mod}.{type(data).__qualname__}; pass a numpy array, "
                "torch tensor, PIL image, matplotlib figure or file path."
            )

    def _from_array(self, a: Any, mode: str | None) -> None:
        if a.ndim == 3:
            if not channels_last(a.shape, "Image", "HW, HWC or CHW"):
                a = a.transpose(1, 2, 0)
        elif a.ndim != 2:
            raise UsageError(f"Image: got an array of shape {tuple(a.shape)}; expected HW, HWC or CHW.")
        _check_mode(mode, 1 if a.ndim == 2 else int(a.shape[2]))
        self._pixels = check_values(a, "Image", self._normalize)
        self.height, self.width = int(a.shape[0]), int(a.shape[1])

    def _from_tensor(self, t: Any, mode: str | None) -> None:
        shape = tuple(int(s) for s in t.shape)
        if t.device.type == "cpu":
            self._from_array(snapshot_tensor(t), mode)
            return
        if len(shape) == 3:
            self._chw = not channels_last(shape, "Image", "CHW, HWC or HW")
            h, w = shape[1:] if self._chw else shape[:2]
            _check_mode(mode, shape[0] if self._chw else shape[2])
        elif len(shape) == 2:
            h, w = shape
        else:
            raise UsageError(f"Image: got a tensor of shape {shape}; expected CHW, HWC or HW.")
        dtype = str(t.dtype)
        if t.is_complex() or dtype in ("torch.int8", "torch.qint8"):
            raise UsageError(f"Image: unsupported tensor dtype {dtype}; use uint8, bool or float.")
        if 0 in shape:
            raise UsageError(f"Image: got an empty tensor of shape {shape}.")
        self._pixels = snapshot_tensor(t)
        self.height, self.width = h, w

    def _from_figure(self, fig: Any) -> None:
        if type(fig).__name__ == "module":  # matplotlib.pyplot: its current figure
            fig = fig.gcf()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        raw = buf.getvalue()
        self._file = (raw, "png")
        self._format = "png"
        self.width, self.height = png_size(raw) or (None, None)

    def _nbytes(self) -> int:
        if self._file is not None:
            return len(self._file[0])
        px = self._pixels
        if px is not None:
            return int(px.nbytes) if hasattr(px, "nbytes") else int(px.numel() * px.element_size())
        if self._pil is not None:
            return int(self._pil.size[0] * self._pil.size[1] * len(self._pil.getbands()))
        return 0

    # ------------------------------------------------------------- writer side
    def _encode(self, store: Any) -> dict[str, Any]:
        if self._file is not None:
            data, ext = self._file
        elif self._pil is not None:
            data, ext = _encode_pil(self._pil, self._format), self._format
        else:
            px = to_numpy(self._pixels)
            if self._chw:
                px = px.transpose(1, 2, 0)
            px = to_pixels(px, self._normalize)
            if self._format == "png":
                data, ext = encode_png(px), "png"
            else:
                from PIL import Image as PILImage

                data, ext = (
                    _encode_pil(PILImage.fromarray(px.squeeze() if px.ndim == 3 else px), "jpg"),
                    "jpg",
                )
        ref: dict[str, Any] = {"_type": "image-file", "format": ext}
        ref.update(store.write("image", data, ext))
        ref["width"], ref["height"] = self.width, self.height
        if self.caption is not None:
            ref["caption"] = self.caption
        if self._masks:
            ref["masks"] = encode_masks(self._masks, store)
        if self._boxes:
            ref["boxes"] = self._boxes
        return ref

    def __repr__(self) -> str:
        return f"<tracker.Image {self.width}x{self.height}{' ' + repr(self.caption) if self.caption else ''}>"


def _check_mode(mode: str | None, channels: int) -> None:
    if mode is not None and _MODE_CHANNELS.get(mode) != channels:
        raise UsageError(f"Image(mode={mode!r}) does not match an array with {channels} channel(s).")


def _is_figure(value: Any) -> bool:
    mod = type(value).__module__
    if mod.startswith("matplotlib") and hasattr(value, "savefig"):
        return True
    return getattr(value, "__name__", None) == "matplotlib.pyplot"


def _file_size(raw: bytes) -> tuple[int, int] | None:
    size = png_size(raw)
    if size is not None:
        return size
    try:
        require_extra("PIL", feature="tracker.Image (size of a non-PNG file)", extra="media")
    except ImportError:
        return None
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(io.BytesIO(raw)) as img:
            w, h = img.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise UsageError("Image(path): the file is not an image Pillow can read.") from None
    return int(w), int(h)


def _encode_pil(img: Any, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "jpg":
        if img.mode not in ("L", "RGB", "CMYK"):
            img = img.convert("RGB")
        img.save(buf, format="JPEG", quality=95)
    else:
        if img.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
            img = img.convert("RGBA")
        img.save(buf, format="PNG")
    return buf.getvalue()
