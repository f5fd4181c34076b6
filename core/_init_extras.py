"""What ``tracker.init`` starts beside the run itself: TensorBoard mirroring and code capture.

``sync_tensorboard=True`` (or W&B's older ``tensorboard=True``) patches TensorBoard's
writers for the run (:mod:`tracker.tensorboard`); ``save_code=True`` (else the
``save_code`` setting or ``$TRACKER_SAVE_CODE``, each turned off by ``disable_code`` /
``$TRACKER_DISABLE_CODE``) logs the script as a ``code`` artifact
(:func:`tracker.artifacts._models.save_code`). Both import their code only when asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tracker._settings import ENV_DISABLE_CODE, ENV_SAVE_CODE, env_bool

if TYPE_CHECKING:
    from tracker._run import Run
    from tracker._settings import Settings

__all__: list[str] = []


def start_extras(run: Run, st: Settings, save_code: bool | None, sync_tensorboard: bool) -> None:
    """Mirror TensorBoard writers and log the script, where the arguments or settings ask."""
    if sync_tensorboard:
        from tracker.tensorboard._hooks import sync_run

        sync_run(run)
    wanted = save_code if save_code is not None else st.get("save_code")
    if wanted is None:
        wanted = env_bool(ENV_SAVE_CODE, False)
    if wanted and not (st.get("disable_code") or env_bool(ENV_DISABLE_CODE, False)):
        from tracker.artifacts._models import save_code as log_script

        log_script(run)
