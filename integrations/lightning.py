"""``TrackerLogger`` for Lightning (``lightning.pytorch``), the drop-in for ``WandbLogger``.

Needs ``tracker[lightning]``. For the standalone ``pytorch_lightning`` package use
:mod:`tracker.integrations.pytorch_lightning`; both share one implementation.

Example::

    import lightning.pytorch as pl
    from tracker.integrations.lightning import TrackerLogger

    logger = TrackerLogger(project="mnist", log_model="all")
    trainer = pl.Trainer(logger=logger, max_epochs=2)
    trainer.fit(model, datamodule)
    logger.finish()  # or let the process exit; fit/validate/test share the run
"""

from __future__ import annotations

from tracker._optional import require_extra

require_extra("lightning", feature="tracker.integrations.lightning.TrackerLogger", extra="lightning")

from lightning.pytorch.loggers.logger import Logger  # noqa: E402  (after the extra check: G5)
from lightning.pytorch.utilities import rank_zero_only  # noqa: E402

from tracker.integrations._lightning_base import TrackerLoggerBase  # noqa: E402

__all__ = ["TrackerLogger"]


class TrackerLogger(TrackerLoggerBase, Logger):
    """Log a Lightning ``Trainer`` (or ``Fabric``) to a tracker run; W&B's ``WandbLogger``.

    The run is created lazily on global rank 0 (other ranks get a no-op ``experiment``)
    and shared by ``fit``, ``validate`` and ``test``: ``finalize`` records the status
    (``summary["_lightning_status"]``) but does not finish the run. Call :meth:`finish`,
    pass ``finish_on_finalize=True``, or let the process exit. Every metric is plotted
    against ``trainer/global_step``.

    Args:
        name: Run display name.
        save_dir: Folder under which Lightning writes checkpoints
            (``<save_dir>/<project>/<run id>/checkpoints``).
        version: Run id to use or resume (same as ``id``).
        offline: Accepted for W&B compatibility (tracker always writes locally).
        dir: tracker data root for this run (default ``$TRACKER_DIR``).
        id: Run id to use or resume.
        anonymous: Accepted for W&B compatibility.
        project: Project (default ``$TRACKER_PROJECT``, else ``lightning_logs``).
        log_model: ``False``; ``True`` (log the checkpoints kept by ``ModelCheckpoint``
            when training succeeds); ``"all"`` (log every checkpoint when written).
        experiment: An existing :class:`tracker.Run` to log to.
        prefix: Prepended to metric names (joined with ``-``).
        checkpoint_name: Artifact name (default ``model-<run id>``).
        add_file_policy: How checkpoint files are added to artifacts.
        finish_on_finalize: Finish the run at the end of every ``fit``/``validate``/``test``.
        **init_kwargs: More :func:`tracker.init` keywords (``entity``, ``group``, ``tags``, ...).

    Raises:
        UsageError: An invalid ``log_model``.
        UnsupportedError: ``log_model`` without artifact support in this tracker version.
    """

    _rank_zero_only = rank_zero_only
