"""``tracker.media``: rich data logged as files under the run, and the code that reads them back.

Data types (also at the top level: ``tracker.Image``, ...): :class:`Image`,
:class:`Audio`, :class:`Video`, :class:`Html`, :class:`Histogram`, :class:`Table`,
:class:`Object3D`, :class:`Molecule`, :class:`Plotly`, and
the charts of :mod:`tracker.plot`. Each validates and snapshots its data where it is
made (in the training thread, cheaply); encoding (PNG, WAV, MP4, JSON) happens in the
run's writer thread, which writes ``<run_dir>/media/<kind>/<sha256>.<ext>`` once per
content and puts a reference dict in the history row::

    {"_type": "image-file", "path": "media/image/<sha256>.png", "sha256": ..., "size": ...,
     "format": "png", "width": 64, "height": 64, "caption": ...}

Histograms are stored inline (``{"_type": "histogram", "values": counts, "bins":
edges}``). The read side (:func:`media_entries`, :func:`resolve`, ``read_*``) serves
``Api`` and the dashboard. Importing this package loads only the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.media import plot
    from tracker.media._audio import Audio
    from tracker.media._histogram import Histogram
    from tracker.media._html import Html
    from tracker.media._image import Image
    from tracker.media._object3d import Molecule, Object3D
    from tracker.media._plotly import Plotly
    from tracker.media._read import (
        MEDIA_TYPES,
        MediaEntry,
        is_media,
        media_entries,
        media_steps,
        read_audio,
        read_chart,
        read_histogram,
        read_html,
        read_image,
        read_table,
        read_video,
        resolve,
        run_files,
        summary_media,
    )
    from tracker.media._table import Table
    from tracker.media._video import Video

# Submodule of each public name: loaded on first access (PEP 562), so that the writer can
# import tracker.media._store without loading every media type (and `import tracker` stays fast).
_LAZY: dict[str, str] = {
    "plot": "tracker.media.plot",
    "Audio": "tracker.media._audio",
    "Histogram": "tracker.media._histogram",
    "Html": "tracker.media._html",
    "Image": "tracker.media._image",
    "Molecule": "tracker.media._object3d",
    "Object3D": "tracker.media._object3d",
    "Plotly": "tracker.media._plotly",
    "Table": "tracker.media._table",
    "Video": "tracker.media._video",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "plot":
        return importlib.import_module("tracker.media.plot")
    module = _LAZY.get(name)
    if module is None:
        if name in __all__:
            module = "tracker.media._read"
        else:
            raise AttributeError(f"module 'tracker.media' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "Audio",
    "Histogram",
    "Html",
    "Image",
    "MEDIA_TYPES",
    "MediaEntry",
    "Molecule",
    "Object3D",
    "Plotly",
    "Table",
    "Video",
    "is_media",
    "media_entries",
    "media_steps",
    "plot",
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
