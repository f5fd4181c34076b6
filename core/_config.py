"""``run.config``: W&B's Config (attribute and item access, update, setdefaults)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from tracker._values import plain, redact_config, to_plain_mapping
from tracker.errors import UsageError

__all__ = ["Config"]

#: W&B's defaults file, read from the working directory by ``init`` when it exists.
DEFAULTS_FILE: Final = "config-defaults.yaml"
#: Keys W&B writes into its config files that are not hyperparameters.
_WANDB_FILE_KEYS: Final = frozenset({"wandb_version", "_wandb"})


def config_items(obj: Any, what: str) -> dict[str, Any]:
    """The ``{key: value}`` of anything W&B takes as a config.

    A dict or mapping, a dataclass, ``argparse.Namespace``, an OmegaConf config, absl
    flags (``FLAGS``: an object with ``flag_values_dict()``, or the ``absl.flags`` module),
    a YAML file path (W&B's value-dict format ``{key: {value: v, desc: ...}}`` too), or
    any other object with a ``__dict__`` (``types.SimpleNamespace``, a plain class
    instance), whose attributes become the keys, as W&B does.

    Raises:
        UsageError: None of these; a YAML path that is missing or not a mapping.
    """
    if obj is None:
        return {}
    if isinstance(obj, (str, os.PathLike)):
        return load_yaml(obj, what)
    if type(obj).__name__ == "module" and hasattr(obj, "FLAGS"):  # `import absl.flags as flags`
        obj = obj.FLAGS
    values = getattr(obj, "flag_values_dict", None)
    if callable(values):  # absl.flags.FLAGS (and TensorFlow's, built on it)
        return dict(values())
    try:
        return to_plain_mapping(obj, what)
    except UsageError:
        if not hasattr(obj, "__dict__") or isinstance(obj, type) or callable(obj):
            raise UsageError(
                f"{what} must be a dict, an object with attributes (__dict__), a dataclass, "
                f"argparse.Namespace, absl flags, an OmegaConf config or a YAML file path, not "
                f"{type(obj).__name__}."
            ) from None
        return dict(vars(obj))


def load_yaml(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """A YAML config file's keys (W&B's ``config-defaults.yaml`` value-dicts unwrapped).

    Raises:
        UsageError: Not a ``.yaml``/``.yml`` path, no such file, or not a mapping.
    """
    file = Path(path)
    if file.suffix not in (".yaml", ".yml"):
        raise UsageError(f"{what}: {str(path)!r}: a string config must be a YAML file path (.yaml or .yml).")
    import yaml

    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{what}: no such file: {file}") from None
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"{what}: cannot read {file}: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UsageError(f"{what}: {file} must be a mapping at the top level, not {type(loaded).__name__}.")
    return {
        k: v["value"] if isinstance(v, dict) and "value" in v else v
        for k, v in loaded.items()
        if k not in _WANDB_FILE_KEYS
    }


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
        """Add or change keys from anything ``init(config=...)`` takes (see ``config_items``).

        Args:
            data: The values to merge in (top-level keys replace existing ones).
            allow_val_change: Accepted for W&B compatibility; changes are always allowed,
                except for keys locked by a sweep, which keep the sweep's value.
            **kwargs: More keys.

        Raises:
            UsageError: ``data`` is not a mapping-like object, or a key is not a string.
        """
        items = config_items(data, "config.update() input")
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
        items = config_items(data, "config.setdefaults() input")
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
