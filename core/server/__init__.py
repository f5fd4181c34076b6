"""``tracker ui``: the local dashboard (FastAPI app factory, SPA in ``static/``).

Importing this package imports no web framework; :func:`create_app` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import os

    from tracker.storage._base import IndexBackend, StateStore

__all__ = ["create_app"]


def create_app(
    root: str | os.PathLike[str] | None = None,
    *,
    token: str | None = None,
    allowed_hosts: list[str] | None = None,
    poll_interval: float = 1.0,
    index: IndexBackend | None = None,
    state: StateStore | None = None,
) -> Any:
    """The dashboard's ASGI app over the data root ``root``.

    Args:
        root: Data root (default ``$TRACKER_DIR`` or ``~/.tracker``).
        token: Per-launch token required by every page and API call (None: no token).
        allowed_hosts: Host names accepted in the ``Host`` header (default: loopback
            names only); anything else is refused (DNS rebinding).
        poll_interval: Seconds between checks for new data of the live stream.
        index: Index to read runs from (default: the data root's SQLite index; a team
            server passes a :class:`~tracker.storage.PostgresIndex`).
        state: State store to read artifacts, sweeps and edits from (default: the data
            root's SQLite store; a team server passes a
            :class:`~tracker.storage.PostgresStateStore`).

    Returns:
        A ``fastapi.FastAPI`` application.
    """
    from tracker.server._app import build

    return build(
        root, token=token, allowed_hosts=allowed_hosts, poll_interval=poll_interval, index=index, state=state
    )
