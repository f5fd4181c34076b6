"""``TrackerLogger`` for Lightning (``lightning.pytorch``), the drop-in for ``WandbLogger``.

Needs ``tracker[lightning]``. For the standalone ``pytorch_lightning`` package use
:mod:`tracker.integrations.pytorch_lightning`; both share one implementation
(``tracker.integrations._lightning_base``): this module only binds it to this namespace's
``Logger`` and ``rank_zero_only``.

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

from tracker.integrations._lightning_base import TrackerLoggerBase, logger_doc  # noqa: E402

__all__ = ["TrackerLogger"]


class TrackerLogger(TrackerLoggerBase, Logger):
    """Log a Lightning ``Trainer`` (or ``Fabric``) to a tracker run; W&B's ``WandbLogger``."""

    __doc__ = logger_doc(__doc__)  # then the Args and behaviour shared by both namespaces

    _rank_zero_only = rank_zero_only
