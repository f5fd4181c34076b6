"""Startup hook: ``report_to="tracker"`` in transformers without ``import tracker``.

Installed as a top-level module beside ``tracker-hook.pth``, whose one line runs
:func:`install` at interpreter start. :func:`install` only puts a :class:`_Finder` at the
front of ``sys.meta_path``: it imports nothing (``os`` and ``sys`` are loaded by then) and
costs well under a millisecond. The finder answers for exactly one module, transformers'
integration registry (:data:`TARGET`); when that module has run it imports
``tracker._autoregister`` and registers :class:`tracker.integrations.huggingface.TrackerCallback`
as ``report_to="tracker"`` (and part of ``"all"``), as ``import tracker`` does.

``TRACKER_NO_HOOK=1`` (or ``true``) leaves the interpreter untouched; ``report_to="tracker"``
then needs ``import tracker`` first. ``TRACKER_NO_AUTOREGISTER=1`` turns registration off
either way. A failure never breaks the import of transformers: it warns once.

This module is outside the ``tracker`` package on purpose (importing ``tracker`` at every
interpreter start would cost tens of milliseconds), so it reads its one environment variable
itself and keeps to the standard library's already-loaded modules. Annotations are strings:
``from __future__`` and ``typing`` are not loaded at startup.
"""

import os
import sys

__all__ = ["TARGET", "arm", "install"]

#: The module whose loading triggers the registration (``TrainingArguments`` resolves
#: ``report_to`` names through it).
TARGET = "transformers.integrations.integration_utils"
_OFF = ("1", "true")


def _on_target_loaded() -> None:
    try:
        from tracker._autoregister import on_target_loaded

        on_target_loaded()
    except Exception as exc:  # noqa: BLE001 - never break `import transformers`
        import warnings

        warnings.warn(
            f"tracker's startup hook could not register report_to='tracker' ({exc!r}); pass "
            "callbacks=[tracker.integrations.huggingface.TrackerCallback()] instead.",
            stacklevel=2,
        )


class _Loader:
    """Wraps the real loader: execute the module, then register."""

    def __init__(self, inner: "object") -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> "object":
        # get_source, get_resource_reader, ...: whatever else the real loader offers.
        return getattr(self._inner, name)

    def create_module(self, spec: "object") -> "object":
        create = getattr(self._inner, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: "object") -> None:
        self._inner.exec_module(module)  # type: ignore[attr-defined]  # a duck-typed Loader
        _on_target_loaded()


class _Finder:
    """Finds nothing itself; hands :data:`TARGET`'s spec back with a wrapped loader."""

    def find_spec(self, fullname: str, path: "object" = None, target: "object" = None) -> "object":
        if fullname != TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


def arm() -> bool:
    """Put the finder on ``sys.meta_path`` unless it is there; True when it was added."""
    if any(type(f).__name__ == "_Finder" and type(f).__module__ == __name__ for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, _Finder())
    return True


def install() -> bool:
    """The ``.pth`` entry point: :func:`arm` unless ``TRACKER_NO_HOOK`` is ``1``/``true``."""
    if os.environ.get("TRACKER_NO_HOOK", "").strip().lower() in _OFF:
        return False
    return arm()
