"""TensorBoard summaries as tracker values: numbers, ``Histogram``, ``Image``, text.

Two inputs: the ``Summary.Value`` protos that ``torch.utils.tensorboard`` and tensorboardX
put in each event (legacy ``simple_value``/``histo``/``image`` fields, or a tensor with a
plugin name), and what ``tf.summary.write`` gets in eager mode (a tag, a tensor and the
plugin's metadata). Both end in :func:`from_array`, keyed by the plugin that wrote it.
Audio, PR curves, meshes, graphs and hparams have no row value and are left out.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Final

__all__: list[str] = []

_TEXT_TAIL: Final = "/text_summary"  # torch and tensorboardX add it to add_text's tag
_MAX_BINS: Final = 512  # tracker.Histogram's limit


def tag_of(tag: str, plugin: str) -> str:
    """The key a summary's tag becomes (``add_text``'s suffix dropped)."""
    return tag[: -len(_TEXT_TAIL)] if plugin == "text" and tag.endswith(_TEXT_TAIL) else tag


def from_proto(value: Any) -> Any:
    """One ``Summary.Value`` of a torch/tensorboardX event as a tracker value, or None."""
    field = value.WhichOneof("value")
    if field == "simple_value":
        return float(value.simple_value)
    if field == "histo":
        return _legacy_histogram(value.histo)
    if field == "image":
        return image(value.image.encoded_image_string)
    if field == "tensor":
        from tensorboard.util import tensor_util

        plugin = value.metadata.plugin_data.plugin_name
        return from_array(plugin, tensor_util.make_ndarray(value.tensor))
    return None


def from_array(plugin: str, array: Any) -> Any:
    """What a plugin's tensor (a numpy array) holds, or None for what rows cannot keep."""
    if plugin in ("scalars", "") and array.ndim == 0 and array.dtype.kind in "fiub":
        return array.item() if array.dtype.kind == "f" else int(array)
    if plugin == "histograms" and array.ndim == 2 and array.shape[1] == 3:
        if not array.shape[0]:
            return None
        edges = [float(v) for v in array[:, 0]] + [float(array[-1, 1])]
        return histogram([float(c) for c in array[:, 2]], edges)
    if plugin == "images" and array.ndim == 1 and array.size > 2:
        shots = [image(bytes(b)) for b in array[2:]]  # width and height come first
        return shots[0] if len(shots) == 1 else shots
    if plugin == "text":
        texts = [b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b) for b in array.reshape(-1)]
        return texts[0] if len(texts) == 1 else "\n".join(texts)
    return None


def _legacy_histogram(proto: Any) -> Any:
    """A ``HistogramProto`` (right bucket limits) as a Histogram over its non-empty span.

    The span's left edge is the limit before its first bucket (torch writes an empty
    bucket there for this) or, for the first bucket, ``min``; the last edge is ``max``
    when the last limit is TensorFlow's open-ended one.
    """
    counts, limits = list(proto.bucket), list(proto.bucket_limit)
    used = [i for i, c in enumerate(counts) if c]
    if not used:
        return None
    lo, hi = used[0], used[-1]
    left = limits[lo - 1] if lo > 0 else proto.min
    right = limits[hi] if abs(limits[hi]) < 1e300 else proto.max
    edges = [left, *limits[lo:hi], right]
    return histogram(counts[lo : hi + 1], [float(e) for e in edges])


def histogram(counts: list[float], edges: list[float]) -> Any:
    """A tracker Histogram; more than 512 bins are merged in equal groups."""
    from tracker.media import Histogram

    if len(counts) > _MAX_BINS:
        size = -(-len(counts) // _MAX_BINS)
        starts = range(0, len(counts), size)
        counts = [sum(counts[i : i + size]) for i in starts]
        edges = [edges[i] for i in starts] + [edges[-1]]
    whole = [int(c) if float(c).is_integer() else c for c in counts]
    return Histogram(np_histogram=(whole, edges))


def image(encoded: bytes) -> Any:
    """A tracker Image keeping the encoded bytes (PNG, or JPEG/GIF) as they are."""
    from tracker.media import Image

    ext = ".jpg" if encoded.startswith(b"\xff\xd8") else ".gif" if encoded.startswith(b"GIF") else ".png"
    fd, path = tempfile.mkstemp(suffix=ext, prefix="tracker-tb-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(encoded)
        return Image(path)  # reads the file now
    finally:
        os.unlink(path)
