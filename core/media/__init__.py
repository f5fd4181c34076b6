"""``tracker.media``: rich data logged as files under the run, and the code that reads them back.

Data types (also at the top level: ``tracker.Image``, ...): :class:`Image`,
:class:`Audio`, :class:`Video`, :class:`Html`, :class:`Histogram`, :class:`Table`, and
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

from tracker.media import plot
from tracker.media._audio import Audio
from tracker.media._histogram import Histogram
from tracker.media._html import Html
from tracker.media._image import Image
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

__all__ = [
    "Audio",
    "Histogram",
    "Html",
    "Image",
    "MEDIA_TYPES",
    "MediaEntry",
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
