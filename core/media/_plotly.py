"""``tracker.Plotly``: a Plotly figure, stored as its JSON (``media/plotly/<sha256>.plotly.json``)."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from tracker.errors import UsageError
from tracker.media._base import Media, require_module

__all__ = ["Plotly"]


class Plotly(Media):
    """A Plotly chart (W&B's ``wandb.Plotly``), kept as the figure's JSON (``data``, ``layout``).

    Args:
        val: A ``plotly.graph_objects.Figure``, a figure dict (``{"data": [...],
            "layout": {...}}``) or a matplotlib figure (converted with Plotly's
            ``mpl_to_plotly``, which needs plotly installed).

    Raises:
        UsageError: Anything else, or a dict without ``data``.

    Example:
        >>> run.log({"chart": tracker.Plotly(fig)})  # doctest: +SKIP
    """

    _kind: ClassVar[str] = "plotly"

    def __init__(self, val: Any) -> None:
        mod = type(val).__module__
        if mod.startswith("matplotlib"):
            require_module("plotly", "Plotly(matplotlib figure)")
            from plotly.tools import mpl_to_plotly

            val = mpl_to_plotly(val)
        if hasattr(val, "to_plotly_json"):
            val = val.to_plotly_json()
        if not isinstance(val, dict) or "data" not in val:
            raise UsageError(
                f"Plotly() takes a plotly Figure, a figure dict with 'data' or a matplotlib figure, "
                f"not {type(val).__name__}."
            )
        self.figure: dict[str, Any] = json.loads(json.dumps(val, default=_plain))
        self._body = json.dumps(self.figure, separators=(",", ":")).encode("utf-8")

    def _nbytes(self) -> int:
        return len(self._body)

    def _encode(self, store: Any) -> dict[str, Any]:
        ref: dict[str, Any] = {"_type": "plotly-file", "format": "json"}
        ref.update(store.write("plotly", self._body, "plotly.json"))
        return ref

    def __repr__(self) -> str:
        return f"<tracker.Plotly {len(self.figure.get('data', []))} traces>"


def _plain(value: Any) -> Any:
    """Numpy arrays, numbers and dates inside a figure, as JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "to_plotly_json"):
        return value.to_plotly_json()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
