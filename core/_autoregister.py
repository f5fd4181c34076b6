"""Register ``report_to="tracker"`` with transformers when (and if) transformers loads.

``import tracker`` must not import transformers (G2), yet ``TrainingArguments(
report_to="tracker")`` must work, in a script that imported tracker first and in one that
never imports it. The finder that waits for transformers' integration registry
(``transformers.integrations.integration_utils``) lives in the top-level module
``_tracker_hook`` (``startup_hook/`` in the source tree), which ``tracker-hook.pth`` arms at
interpreter start; :func:`install` (run by ``import tracker``) registers at once when the
registry is already loaded and otherwise arms the same finder, in case the startup hook
was turned off with ``TRACKER_NO_HOOK=1``. When the registry loads, the finder calls
:func:`on_target_loaded`. ``TRACKER_NO_AUTOREGISTER=1`` turns registration off either
way. A failure to register never breaks the import of transformers: it warns once
(raises under ``TRACKER_STRICT=1``).
"""

from __future__ import annotations

import sys
import warnings
from typing import Final

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


def _enabled() -> bool:
    from tracker._settings import ENV_NO_AUTOREGISTER, env_bool

    return not env_bool(ENV_NO_AUTOREGISTER, False)


def on_target_loaded() -> None:
    """Called by ``_tracker_hook``'s finder right after transformers' registry module ran."""
    if _enabled():
        _register()


def install() -> None:
    """Register now if transformers' registry is loaded, else arm the import hook (once)."""
    if not _enabled():
        return
    if sys.modules.get(TARGET) is not None:
        _register()
        return
    import _tracker_hook  # the startup hook's module (module docstring); imports nothing

    _tracker_hook.arm()
