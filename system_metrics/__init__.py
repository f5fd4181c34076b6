"""System metrics: a psutil and an NVML source plus a small sampler loop.

``tracker.init`` starts a :class:`SystemMetricsSampler` for each run (interval: the
``stats_interval`` setting or ``TRACKER_STATS_INTERVAL``, default 10 s, 0 = off) and
``finish`` stops it. The sources are plain objects with ``sample() -> dict``; importing
this package imports neither psutil nor pynvml (the sources import them when built).
Keys are W&B's names with the ``system.`` prefix, listed in ``PSUTIL_KEYS`` and
``NVML_KEYS``.

Example:
    >>> from tracker.system_metrics import SystemMetricsSampler, available_sources
    >>> "cpu" in available_sources()  # doctest: +SKIP
    True
"""

from __future__ import annotations

from tracker.system_metrics._base import Source, SourceUnavailableError
from tracker.system_metrics._keys import NVML_KEYS, PSUTIL_KEYS
from tracker.system_metrics._sampler import SystemMetricsSampler, available_sources

__all__ = [
    "NVML_KEYS",
    "PSUTIL_KEYS",
    "Source",
    "SourceUnavailableError",
    "SystemMetricsSampler",
    "available_sources",
]
