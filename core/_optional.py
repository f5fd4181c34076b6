"""require_extra(): one cached check for optional dependencies (G5)."""

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
