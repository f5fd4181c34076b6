"""``run.config``: W&B's Config (attribute and item access, update, setdefaults)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tracker._values import plain, redact_config, to_plain_mapping
from tracker.errors import UsageError

__all__ = ["Config"]


class Config:
    """The run's hyperparameters, as in ``wandb.config``.

    Supports ``config.lr``, ``config["lr"]``, ``update()``, ``setdefaults()``, ``get()``,
    ``keys()``/``items()``, ``in`` and ``dict(config)``. Values are snapshotted (deep,
    plain copies); nested dicts stay nested. Each change is appended to the run log.
    Keys whose names look like secrets (KEY, TOKEN, SECRET, PASSWORD) with string values
    are stored redacted.

    Example:
        >>> import tracker
        >>> run = tracker.init(mode="disabled", config={"lr": 0.1})
        >>> run.config.lr
        0.1
    """

    def __init__(self, emit: Callable[[dict[str, Any], list[str]], None] | None = None) -> None:
        object.__setattr__(self, "_data", {})
        object.__setattr__(self, "_emit", emit)
        object.__setattr__(self, "_locked", set())

    # -- mapping access
    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        if self._emit is not None:
            self._emit({}, [key])

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Config({self._data!r})"

    def keys(self) -> Any:
        """The config keys."""
        return self._data.keys()

    def items(self) -> Any:
        """``(key, value)`` pairs."""
        return self._data.items()

    def values(self) -> Any:
        """The config values."""
        return self._data.values()

    def get(self, key: str, default: Any = None) -> Any:
        """Return ``config[key]`` or ``default``."""
        return self._data.get(key, default)

    def as_dict(self) -> dict[str, Any]:
        """A plain-dict copy of the config."""
        return dict(self._data)

    # -- changes
    def update(self, data: Any = None, allow_val_change: bool | None = None, **kwargs: Any) -> None:
        """Add or change keys from a dict, dataclass, argparse.Namespace or OmegaConf config.

        Args:
            data: The values to merge in (top-level keys replace existing ones).
            allow_val_change: Accepted for W&B compatibility; changes are always allowed,
                except for keys locked by a sweep, which keep the sweep's value.
            **kwargs: More keys.

        Raises:
            UsageError: ``data`` is not a mapping-like object, or a key is not a string.
        """
        items = to_plain_mapping(data, "config.update() input")
        items.update(kwargs)
        changed: dict[str, Any] = {}
        for key, value in items.items():
            if not isinstance(key, str):
                raise UsageError(f"config keys must be strings; got {type(key).__name__} {key!r}.")
            if key in self._locked:
                continue
            changed[key] = plain(value)
        if not changed:
            return
        changed = redact_config(changed)
        self._data.update(changed)
        if self._emit is not None:
            self._emit(changed, [])

    def setdefaults(self, data: Any) -> None:
        """Set only the keys that are not present yet."""
        items = to_plain_mapping(data, "config.setdefaults() input")
        self.update({k: v for k, v in items.items() if k not in self._data})

    def persist(self) -> None:
        """No-op kept for W&B compatibility (every change is already persisted)."""

    def _lock(self, values: dict[str, Any]) -> None:
        """Set values that later updates cannot change (a sweep's parameters)."""
        self.update(values)
        self._locked.update(values)

    def _load(self, data: dict[str, Any]) -> None:
        """Restore a resumed run's config without re-emitting it."""
        self._data.update(data)
