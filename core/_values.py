"""Turning user values into plain, snapshotted data (config values, logged values)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from tracker.errors import UsageError

__all__: list[str] = []

#: Value types that need no conversion and are immutable: the log() fast path.
FAST_TYPES: Final = frozenset({float, int, str, bool, type(None)})

_SECRET = re.compile(
    r"(^|[^a-z0-9])(api_?key|key|token|secret|password|passwd|credentials?|auth)($|[^a-z0-9])", re.I
)
REDACTED: Final = "***REDACTED***"


def looks_secret(name: str) -> bool:
    """True when a name looks like it holds a secret (KEY, TOKEN, SECRET, PASSWORD, ...)."""
    return _SECRET.search(name) is not None


def _is_dataclass_instance(obj: Any) -> bool:
    return hasattr(type(obj), "__dataclass_fields__") and not isinstance(obj, type)


def to_plain_mapping(obj: Any, what: str) -> dict[str, Any]:
    """Accept a dict, Mapping, dataclass, argparse.Namespace or OmegaConf-like config.

    Raises:
        UsageError: The object is none of these.
    """
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        mod = type(obj).__module__
        if mod.startswith("omegaconf"):
            import importlib

            omegaconf = importlib.import_module("omegaconf")
            return dict(omegaconf.OmegaConf.to_container(obj, resolve=True))
        return dict(obj)
    if _is_dataclass_instance(obj):
        import dataclasses

        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if type(obj).__name__ == "Namespace" and hasattr(obj, "__dict__"):
        return dict(vars(obj))
    if type(obj).__module__.startswith("omegaconf"):
        import importlib

        omegaconf = importlib.import_module("omegaconf")
        return dict(omegaconf.OmegaConf.to_container(obj, resolve=True))
    if hasattr(obj, "keys") and hasattr(obj, "__getitem__"):
        return {k: obj[k] for k in obj.keys()}
    raise UsageError(
        f"{what} must be a dict, dataclass, argparse.Namespace or OmegaConf config, not {type(obj).__name__}."
    )


def plain(value: Any, depth: int = 0) -> Any:
    """A deep, plain snapshot of a config value (dicts, lists, scalars; else ``str``)."""
    if type(value) in FAST_TYPES:
        return value
    if depth > 32:
        return repr(value)
    if isinstance(value, Mapping) or _is_dataclass_instance(value):
        try:
            items = to_plain_mapping(value, "config value")
        except UsageError:
            return repr(value)
        return {str(k): plain(v, depth + 1) for k, v in items.items()}
    if type(value).__name__ == "Namespace" and hasattr(value, "__dict__"):
        return {str(k): plain(v, depth + 1) for k, v in vars(value).items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, (int, float, str, bool)):  # subclasses (IntEnum, numpy float64)
        return type_base(value)
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy / torch
        return plain(value.tolist(), depth + 1)
    if hasattr(value, "item") and hasattr(value, "dtype"):
        return value.item()
    if hasattr(value, "__fspath__"):
        return str(value)
    return str(value)


def type_base(value: int | float | str | bool) -> int | float | str | bool:
    """Strip a subclass (IntEnum, numpy.float64, str enums) down to the builtin value."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def redact_config(data: dict[str, Any]) -> dict[str, Any]:
    """Replace string values whose key looks secret, recursively."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = redact_config(value)
        elif isinstance(value, str) and looks_secret(key):
            out[key] = REDACTED
        else:
            out[key] = value
    return out


def log_value(key: str, value: Any, out: dict[str, Any]) -> None:
    """Snapshot one logged value into ``out`` (flattening nested dicts with ``.``).

    Raises:
        UsageError: The key is not a non-empty string or the value type is unsupported.
    """
    if type(key) is not str:
        raise UsageError(
            f"log() keys must be strings; got {type(key).__name__} {key!r}. "
            "Convert it, e.g. log({str(k): v})."
        )
    if not key:
        raise UsageError("log() keys must not be empty.", key=key)
    t = type(value)
    if t in FAST_TYPES:
        out[key] = value
        return
    if isinstance(value, Mapping):
        for sub, item in value.items():
            if type(sub) is not str:
                raise UsageError(
                    f"log() keys must be strings; got {type(sub).__name__} {sub!r} inside {key!r}.",
                    key=key,
                )
            log_value(f"{key}.{sub}", item, out)
        return
    if isinstance(value, (bool, int, float, str)):
        out[key] = type_base(value)
        return
    mod = t.__module__
    if mod.startswith("torch"):
        out[key] = _torch_value(key, value)
        return
    if mod == "numpy":
        if getattr(value, "ndim", 1) == 0:
            out[key] = value.item()
        else:
            out[key] = value.tolist()
        return
    if isinstance(value, (list, tuple)):
        items: list[Any] = []
        for i, item in enumerate(value):
            sub_out: dict[str, Any] = {}
            log_value(f"{key}[{i}]", item, sub_out)
            if len(sub_out) != 1:
                raise UsageError(f"log() does not accept nested dicts inside lists ({key!r}).", key=key)
            items.append(next(iter(sub_out.values())))
        out[key] = items
        return
    snapshot = getattr(value, "_tracker_snapshot", None)
    if snapshot is not None:
        out[key] = snapshot()
        return
    raise UsageError(
        f"log() cannot store {key!r} of type {t.__module__}.{t.__qualname__}; log numbers, "
        "strings, bools, None, numpy/torch scalars, nested dicts, lists of those, or "
        "tracker data types (tracker.Image, tracker.Histogram, ...).",
        key=key,
    )


def _torch_value(key: str, tensor: Any) -> Any:
    """Snapshot a torch tensor without a device sync: CPU values now, device values cloned."""
    if not hasattr(tensor, "detach"):
        raise UsageError(f"log() cannot store {key!r} of type {type(tensor).__qualname__}.", key=key)
    value = tensor.detach()
    if value.device.type == "cpu":
        return value.item() if value.numel() == 1 else value.tolist()
    # Clone on the device (asynchronous); the writer converts it, so log() never syncs.
    return value.clone()
