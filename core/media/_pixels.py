"""Pixel-array checks and conversions shared by ``Image`` and ``Video``.

The checks run in the caller (errors name the shape, dtype or value range); the
conversion to ``uint8``/``uint16`` runs in the writer.
"""

from __future__ import annotations

from typing import Any

from tracker.errors import UsageError

__all__: list[str] = []

CHANNELS = (1, 3, 4)


def channels_last(shape: tuple[int, ...], what: str, layouts: str) -> bool:
    """For a 3-D image shape: True when it is HWC, False when CHW (W&B's rule).

    The last axis wins when it holds 1, 3 or 4 channels; otherwise the first axis must.

    Raises:
        UsageError: Neither axis has 1, 3 or 4 channels.
    """
    if shape[-1] in CHANNELS:
        return True
    if shape[0] in CHANNELS:
        return False
    raise UsageError(
        f"{what}: got an array of shape {tuple(shape)}; expected {layouts} with 1, 3 or 4 channels."
    )


def check_values(a: Any, what: str, normalize: bool) -> Any:
    """Check the dtype and value range of a numpy pixel array; return a snapshot copy.

    ``uint8``, ``uint16`` and ``bool`` are taken as they are; other integer dtypes must
    hold values in 0..255 (cast to ``uint8``); floats must lie in [0, 1] (``normalize``,
    scaled by 255 in the writer) or in [0, 255] (``normalize=False``).

    Raises:
        UsageError: Another dtype, an out-of-range or non-finite value, an empty array.
    """
    import numpy as np

    if a.size == 0:
        raise UsageError(f"{what}: got an empty array of shape {tuple(a.shape)}.")
    kind = a.dtype.kind
    if kind == "b" or a.dtype == np.uint8 or a.dtype == np.uint16:
        return a.copy()
    if kind in "iu":
        ilo, ihi = int(a.min()), int(a.max())
        if ilo < 0 or ihi > 255:
            raise UsageError(
                f"{what}: {a.dtype} pixel values must lie in 0..255; got {ilo}..{ihi}. "
                "Pass uint8 (or uint16 for 16-bit) data."
            )
        return a.astype(np.uint8)
    if kind == "f":
        lo, hi = float(a.min()), float(a.max())
        top = 1.0 if normalize else 255.0
        if not (lo >= 0.0 and hi <= top):  # also false for NaN
            raise UsageError(
                f"{what}: float pixel values must lie in [0, {top:g}]; got {lo:g}..{hi:g}. "
                + (
                    "Scale them, pass uint8, or use normalize=False for 0..255 floats."
                    if normalize
                    else "Clip or scale them."
                )
            )
        return a.copy()
    raise UsageError(f"{what}: unsupported pixel dtype {a.dtype}; use uint8, uint16, bool or float.")


def to_pixels(a: Any, normalize: bool) -> Any:
    """Convert a checked numpy array to ``uint8`` (or keep ``uint16``), in the writer.

    Raises:
        ValueError: Float values outside the range (only reachable for device tensors,
            whose values are not inspected in the caller).
    """
    import numpy as np

    if a.dtype == np.uint8 or a.dtype == np.uint16:
        return a
    if a.dtype.kind == "b":
        return a.astype(np.uint8) * np.uint8(255)
    if a.dtype.kind in "iu":
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"integer pixel values outside 0..255 ({a.min()}..{a.max()})")
        return a.astype(np.uint8)
    top = 1.0 if normalize else 255.0
    lo, hi = float(a.min()), float(a.max())
    if not (lo >= 0.0 and hi <= top):
        raise ValueError(f"float pixel values outside [0, {top:g}] ({lo:g}..{hi:g})")
    scaled = a.astype(np.float64) * 255.0 if normalize else a.astype(np.float64)
    return np.rint(scaled).astype(np.uint8)
