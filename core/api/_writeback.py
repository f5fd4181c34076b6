"""Write-back through ``Api``: a run's summary and config edited after the fact (W&B's public API).

``run.summary["k"] = 1; run.summary.update()``, ``run.summary.update({"k": 1})`` and
``run.config["lr"] = 0.1; run.update()`` persist in the state store, beside the tag and
notes edits (:meth:`tracker.storage._base.StateStore.edit_run`), never in the run log,
which stays append-only and written by its run alone. What is stored is the difference
from the log's values, ``{"set": {key: value}, "del": [key, ...]}``, replaced on each
save: rows the run logs later still show in keys the user did not edit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tracker._values import plain

__all__ = ["RunSummary", "apply_edit", "diff"]


def apply_edit(base: Mapping[str, Any], edit: Mapping[str, Any] | None) -> dict[str, Any]:
    """``base`` (what the run log says) with a stored write-back applied."""
    out = dict(base)
    if not edit:
        return out
    for key in edit.get("del", ()):
        out.pop(key, None)
    out.update(edit.get("set", {}))
    return out


def diff(base: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The write-back that turns ``base`` into ``current``: changed or new keys, removed keys."""
    sets = {str(k): plain(v) for k, v in current.items() if k not in base or base[k] != v}
    return {"set": sets, "del": sorted(str(k) for k in base if k not in current)}


class RunSummary(dict[str, Any]):
    """A fetched run's summary: a dict that saves itself (W&B's ``HTTPSummary``).

    Assign keys, then call :meth:`update` (or the run's ``update()``) to save them;
    ``update(mapping)`` sets and saves in one call.
    """

    def __init__(self, values: Mapping[str, Any], save: Callable[[], None]) -> None:
        super().__init__(values)
        self._save = save

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Set keys (as ``dict.update``) and save the summary to the state store.

        Raises:
            UsageError: The summary holds keys that are not strings.
        """
        super().update(other, **kwargs)
        self._save()

    @property
    def _json_dict(self) -> dict[str, Any]:
        """The summary as plain JSON values (W&B's ``summary._json_dict``)."""
        return {str(k): plain(v) for k, v in self.items()}
