"""``run.summary``: the last value of each metric unless set explicitly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tracker._values import log_value

__all__ = ["Summary"]


class Summary:
    """The run summary, as in ``wandb.run.summary``.

    By default each key holds the last logged value (or the aggregates chosen with
    ``define_metric(..., summary=...)``). ``summary["best_acc"] = x`` or
    ``summary.update({...})`` overrides it until that key is logged again. Reads wait
    for the writer thread to catch up, so they reflect every ``log()`` call before them.
    """

    def __init__(
        self,
        read: Callable[[], dict[str, Any]],
        emit: Callable[[dict[str, Any], list[str]], None],
    ) -> None:
        self._read = read
        self._emit = emit

    def _current(self) -> dict[str, Any]:
        return self._read()

    def __getitem__(self, key: str) -> Any:
        return self._current()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        self._emit({}, [key])

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._current()[key]
        except KeyError:
            raise AttributeError(f"summary has no key {key!r}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._current()

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def __repr__(self) -> str:
        return f"Summary({self._current()!r})"

    def keys(self) -> Any:
        """Summary keys."""
        return self._current().keys()

    def items(self) -> Any:
        """``(key, value)`` pairs."""
        return self._current().items()

    def get(self, key: str, default: Any = None) -> Any:
        """Return ``summary[key]`` or ``default``."""
        return self._current().get(key, default)

    def update(self, data: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Set summary values explicitly (snapshotted like logged values)."""
        values: dict[str, Any] = {}
        for key, value in dict(data or {}, **kwargs).items():
            log_value(key, value, values)
        self._emit(values, [])
