"""Who logged and who used an artifact version: read through an injected :class:`LineageReader`.

Lineage edges live in run logs and are read through the index, which is the read side's
business (``tracker.api``); ``tracker.artifacts`` never imports it. Instead (a foundation
module, so that the composition root can register its factory without loading artifacts):

- an artifact that ``Api`` returns carries that ``Api`` as its reader (``Api`` implements
  the protocol);
- any other committed artifact (logged or used by a run) asks the factory that the
  composition root, :mod:`tracker._init`, registers with :func:`set_lineage_factory`:
  it builds a reader for the artifact's data root or team server.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tracker.errors import UsageError

if TYPE_CHECKING:
    from tracker._client import Client

__all__ = ["LineageReader", "reader_for", "set_lineage_factory"]


class LineageReader(Protocol):
    """Reads the lineage of committed artifact versions (``tracker.api.Api`` is one)."""

    def artifact_logged_by(self, art: Any) -> Any:
        """The run (a ``tracker.api.Run``) that created the version of ``art`` (an Artifact), or None."""

    def artifact_used_by(self, art: Any) -> list[Any]:
        """The runs (``tracker.api.Run``) that used the version of ``art``, oldest first."""


#: Builds a reader for a data root, or for the team server (a client) a version was read from.
LineageFactory = Callable[[Path, "Client | None"], LineageReader]

_factory: LineageFactory | None = None


def set_lineage_factory(factory: LineageFactory) -> None:
    """Register how artifacts without a reader get one (called by ``tracker._init``)."""
    global _factory
    _factory = factory


def reader_for(root: Path, client: Client | None) -> LineageReader:
    """A reader for an artifact of ``root`` (read from ``client`` when given).

    Raises:
        UsageError: No factory is registered (nothing imported ``tracker._init``).
    """
    if _factory is None:
        raise UsageError("artifact lineage needs the read side: import tracker first.")
    return _factory(root, client)
