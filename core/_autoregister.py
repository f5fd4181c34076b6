"""Register ``report_to="tracker"`` with transformers when (and if) transformers loads.

``import tracker`` must not import transformers (G2), yet ``TrainingArguments(
report_to="tracker")`` must work in a script that imported tracker first. So
:func:`install` registers at once when transformers' integration registry
(``transformers.integrations.integration_utils``) is already loaded, and otherwise puts a
small finder at the front of ``sys.meta_path`` that, for exactly that module, runs the
registration right after the module body (notes/integrations.md §3.3, option 2).
``TRACKER_NO_AUTOREGISTER=1`` turns it off. A failure to register never breaks the
import of transformers: it warns once (raises under ``TRACKER_STRICT=1``).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec

__all__: list[str] = []

TARGET: Final = "transformers.integrations.integration_utils"


def _register() -> None:
    from tracker._settings import strict
    from tracker.errors import TrackerWarning

    try:
        from tracker.integrations.huggingface import register

        register()
    except Exception as exc:
        if strict():
            raise
        warnings.warn(
            f"tracker could not register report_to='tracker' with transformers ({exc!r}); pass "
            "callbacks=[tracker.integrations.huggingface.TrackerCallback()] instead.",
            TrackerWarning,
            stacklevel=2,
        )


# Duck-typed loader and finder: subclassing importlib.abc would cost `import tracker` ~5 ms.
class _Loader:
    """Wraps the real loader: execute the module, then register."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        create = getattr(self._inner, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        _register()


class _Finder:
    """Finds nothing itself; hands ``TARGET``'s spec back with a wrapped loader."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)  # type: ignore[assignment]  # a duck-typed Loader
                return spec
        return None


_finder: _Finder | None = None


def install() -> None:
    """Register now if transformers' registry is loaded, else arm the import hook (once)."""
    global _finder
    from tracker._settings import ENV_NO_AUTOREGISTER, env_bool

    if env_bool(ENV_NO_AUTOREGISTER, False):
        return
    if sys.modules.get(TARGET) is not None:
        _register()
        return
    if _finder is None:
        _finder = _Finder()
        sys.meta_path.insert(0, _finder)
