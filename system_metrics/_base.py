"""What every system-metric source is, and the error a source raises when it cannot start."""

from __future__ import annotations

from typing import Protocol

from tracker.errors import Error

__all__ = ["Source", "SourceUnavailableError"]


class Source(Protocol):
    """A system-metric source: a plain object, no thread, no run.

    Construct it (which imports its library and primes counters), call :meth:`sample`
    as often as wanted, then :meth:`close`. A source whose library is missing raises
    ``ImportError`` from its constructor; one that cannot start for another reason (no
    driver, no permission) raises :class:`SourceUnavailableError`.
    """

    @property
    def name(self) -> str:
        """The source's name (``"cpu"``, ``"nvml"``)."""
        ...

    def sample(self) -> dict[str, float]:
        """One reading: ``{"system.<name>": value}``; metrics that fail are left out."""
        ...

    def close(self) -> None:
        """Release what the constructor acquired; idempotent."""
        ...


class SourceUnavailableError(Error):
    """A system-metric source could not start (no NVIDIA driver, no permission, ...).

    Attributes:
        source: The source's name (``"nvml"``, ``"cpu"``).
    """

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message)
        self.source = source
