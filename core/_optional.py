"""require_extra(): one cached check for optional dependencies (G5); adapter settings.

``tracker.integrations`` may import only ``tracker``, ``tracker.errors`` and this module
(STYLE §2.4), so the adapters' environment settings are read through :func:`adapter_env`
too (the one place that reads the environment stays ``_settings``, G13).
"""

from __future__ import annotations

import functools
import importlib.util

from tracker.errors import MissingExtraError

__all__: list[str] = []


@functools.cache
def _find(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        # A module set to None in sys.modules (how tests hide a package) raises here.
        return False


def require_extra(module: str, *, feature: str, extra: str) -> None:
    """Raise MissingExtraError unless ``module`` can be imported.

    Args:
        module: The import name to look for (``"pandas"``).
        feature: What needs it, for the message (``"Run.history(pandas=True)"``).
        extra: The extra that installs it (``"data"``).

    Raises:
        MissingExtraError: With the feature, what was found and the pip command.
    """
    import sys

    if module in sys.modules and sys.modules[module] is None:
        found = False
    else:
        found = _find(module)
    if not found:
        raise MissingExtraError(
            f"{feature} needs {module}, which is not installed. "
            f"Install it with: pip install 'tracker[{extra}]'"
        ) from None


def adapter_env(name: str, choices: tuple[str, ...] | None = None) -> str | None:
    """An adapter's environment setting (``TRACKER_PROJECT``, ``TRACKER_LOG_MODEL``, ...).

    Args:
        name: The variable, one of the ``ENV_*`` names in ``tracker._settings``.
        choices: Allowed values (compared lower-case); anything else is an error.

    Returns:
        The value (lower-cased when ``choices`` is given), or None when unset or empty.

    Raises:
        UsageError: The value is not one of ``choices``; the message names the variable.
    """
    from tracker._settings import env_source
    from tracker.errors import UsageError

    var, raw = env_source(name)  # var: name, or the WANDB_* fallback that set it
    if raw is None or choices is None:
        return raw
    value = raw.strip().lower()
    if value not in choices:
        raise UsageError(f"{var}={raw!r} is not valid; use one of {', '.join(choices)}.", key=var)
    return value


def adapter_env_bool(name: str, default: bool) -> bool:
    """A boolean adapter setting (``1/0/true/false``, strictly).

    Raises:
        UsageError: Any other value; the message names the variable.
    """
    from tracker._settings import env_bool

    return env_bool(name, default)
