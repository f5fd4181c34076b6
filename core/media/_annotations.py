"""Segmentation masks and bounding boxes on an ``Image`` (W&B's formats).

``masks={"predictions": {"mask_data": HxW ints, "class_labels": {0: "bg", 1: "cat"}}}``
and ``boxes={"predictions": {"box_data": [{"position": {...}, "class_id": 1, ...}],
"class_labels": {1: "cat"}}}``. Both are checked in the caller: a class index missing
from ``class_labels`` is a :class:`~tracker.errors.UsageError` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tracker.errors import UsageError
from tracker.media._base import torch_tensor

__all__: list[str] = []

_MIN_MAX = ("minX", "maxX", "minY", "maxY")


def class_labels(value: Any, where: str) -> dict[int, str] | None:
    """Normalise ``{id: name}`` (ids as ints or digit strings)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise UsageError(f"{where}: class_labels must be a dict {{id: name}}, not {type(value).__name__}.")
    out: dict[int, str] = {}
    for k, v in value.items():
        try:
            idx = int(k)
        except (TypeError, ValueError):
            raise UsageError(f"{where}: class_labels key {k!r} is not an integer class id.") from None
        if isinstance(k, bool) or (isinstance(k, float) and k != idx):
            raise UsageError(f"{where}: class_labels key {k!r} is not an integer class id.")
        out[idx] = str(v)
    return out


def _plain_labels(labels: dict[int, str] | None) -> dict[str, str] | None:
    # String keys: the reference is also read as JSON by the dashboard.
    return None if labels is None else {str(k): v for k, v in sorted(labels.items())}


def check_masks(masks: Any, size: tuple[int, int] | None) -> dict[str, dict[str, Any]]:
    """Validate and snapshot masks; ``size`` is the image's ``(height, width)`` if known.

    Returns:
        ``{name: {"mask": uint8/uint16 HxW array, "class_labels": {...} | None}}``.
    """
    import numpy as np

    if not isinstance(masks, Mapping):
        raise UsageError(
            f"Image(masks=...) must be a dict {{name: {{'mask_data': ...}}}}, not {type(masks).__name__}."
        )
    out: dict[str, dict[str, Any]] = {}
    for name, spec in masks.items():
        where = f"Image(masks[{name!r}])"
        if not isinstance(name, str) or not isinstance(spec, Mapping) or "mask_data" not in spec:
            raise UsageError(
                f"{where}: each mask must be {{'mask_data': HxW array, 'class_labels': {{...}}}}."
            )
        data = spec["mask_data"]
        if torch_tensor(data):
            data = data.detach().cpu().numpy()
        a = np.asarray(data)
        if a.ndim != 2:
            raise UsageError(f"{where}: mask_data must be 2-D (HxW); got shape {tuple(a.shape)}.")
        if size is not None and tuple(a.shape) != size:
            raise UsageError(
                f"{where}: mask_data has shape {tuple(a.shape)} but the image is {size[0]}x{size[1]} (HxW)."
            )
        if a.dtype.kind == "b":
            a = a.astype(np.uint8)
        if a.dtype.kind not in "iu":
            raise UsageError(f"{where}: mask_data must hold integer class ids, not {a.dtype}.")
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise UsageError(f"{where}: class ids must lie in 0..65535; got {lo}..{hi}.")
        labels = class_labels(spec.get("class_labels"), where)
        if labels is not None:
            present = np.flatnonzero(np.bincount(a.ravel().astype(np.int64), minlength=1))
            unknown = [int(i) for i in present if int(i) not in labels]
            if unknown:
                raise UsageError(
                    f"{where}: unknown class index {unknown[0]} in mask_data "
                    f"(class_labels has {sorted(labels)}); all unknown: {unknown[:10]}."
                )
        out[name] = {
            "mask": a.astype(np.uint8 if hi < 256 else np.uint16),  # a copy: the snapshot
            "class_labels": labels,
        }
    return out


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or (not isinstance(value, (int, float)) and not hasattr(value, "__float__")):
        raise UsageError(f"{where} must be a number, not {type(value).__name__}.")
    v = float(value)
    if not math.isfinite(v):
        raise UsageError(f"{where} must be finite, got {v}.")
    return v


def check_boxes(boxes: Any) -> dict[str, dict[str, Any]]:
    """Validate boxes; return a plain copy (stored inline in the reference)."""
    if not isinstance(boxes, Mapping):
        raise UsageError(
            f"Image(boxes=...) must be a dict {{name: {{'box_data': [...]}}}}, not {type(boxes).__name__}."
        )
    out: dict[str, dict[str, Any]] = {}
    for name, spec in boxes.items():
        where = f"Image(boxes[{name!r}])"
        if not isinstance(name, str) or not isinstance(spec, Mapping) or "box_data" not in spec:
            raise UsageError(f"{where}: each box set must be {{'box_data': [...], 'class_labels': {{...}}}}.")
        labels = class_labels(spec.get("class_labels"), where)
        items = []
        for i, box in enumerate(spec["box_data"]):
            at = f"{where}.box_data[{i}]"
            if not isinstance(box, Mapping) or "position" not in box:
                raise UsageError(f"{at}: each box needs a 'position'.")
            items.append(_box(box, labels, at))
        out[name] = {"box_data": items, "class_labels": _plain_labels(labels)}
    return out


def _box(box: Mapping[str, Any], labels: dict[int, str] | None, at: str) -> dict[str, Any]:
    pos = box["position"]
    if not isinstance(pos, Mapping):
        raise UsageError(f"{at}: position must be a dict.")
    if all(k in pos for k in _MIN_MAX):
        position: dict[str, Any] = {k: _number(pos[k], f"{at}.position.{k}") for k in _MIN_MAX}
    elif "middle" in pos and "width" in pos and "height" in pos:
        middle = list(pos["middle"])
        if len(middle) != 2:
            raise UsageError(f"{at}: position.middle must be [x, y].")
        position = {
            "middle": [_number(m, f"{at}.position.middle") for m in middle],
            "width": _number(pos["width"], f"{at}.position.width"),
            "height": _number(pos["height"], f"{at}.position.height"),
        }
    else:
        raise UsageError(f"{at}: position needs minX/maxX/minY/maxY or middle/width/height.")
    out: dict[str, Any] = {"position": position}
    if "class_id" in box:
        cid = box["class_id"]
        if isinstance(cid, bool) or not hasattr(cid, "__index__"):
            raise UsageError(f"{at}: class_id must be an int, not {cid!r}.")
        cid = int(cid.__index__())
        if labels is not None and cid not in labels:
            raise UsageError(f"{at}: unknown class index {cid} (class_labels has {sorted(labels)}).")
        out["class_id"] = cid
    domain = box.get("domain")
    if domain is not None:
        if domain != "pixel":
            raise UsageError(f"{at}: domain must be 'pixel' or omitted (relative 0..1), not {domain!r}.")
        out["domain"] = domain
    if box.get("box_caption") is not None:
        out["box_caption"] = str(box["box_caption"])
    if box.get("scores") is not None:
        scores = box["scores"]
        if not isinstance(scores, Mapping):
            raise UsageError(f"{at}: scores must be a dict {{name: number}}.")
        out["scores"] = {str(k): _number(v, f"{at}.scores[{k!r}]") for k, v in scores.items()}
    return out


def encode_masks(masks: dict[str, dict[str, Any]], store: Any) -> dict[str, Any]:
    """Write each mask as a PNG (writer thread); return their references."""
    from tracker.media._png import encode_png

    out: dict[str, Any] = {}
    for name, spec in masks.items():
        ref: dict[str, Any] = {"_type": "mask", "format": "png"}
        ref.update(store.write("mask", encode_png(spec["mask"]), "png"))
        if spec["class_labels"] is not None:
            ref["class_labels"] = _plain_labels(spec["class_labels"])
        out[name] = ref
    return out
