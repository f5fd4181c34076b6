"""``TrackerLogger`` for the standalone ``pytorch_lightning`` package.

Needs ``tracker[lightning]``. The same logger as :mod:`tracker.integrations.lightning` (one
implementation, ``tracker.integrations._lightning_base``), bound to this package's ``Logger``
and ``rank_zero_only``; use it where the code imports ``pytorch_lightning``::

    import pytorch_lightning as pl
    from tracker.integrations.pytorch_lightning import TrackerLogger

    trainer = pl.Trainer(logger=TrackerLogger(project="mnist", log_model="all"), max_epochs=2)
    trainer.fit(model, datamodule)
"""

from __future__ import annotations

from tracker._optional import require_extra

require_extra(
    "pytorch_lightning", feature="tracker.integrations.pytorch_lightning.TrackerLogger", extra="lightning"
)

from pytorch_lightning.loggers.logger import Logger  # noqa: E402  (after the extra check: G5)
from pytorch_lightning.utilities import rank_zero_only  # noqa: E402

from tracker.integrations._lightning_base import TrackerLoggerBase, logger_doc  # noqa: E402

__all__ = ["TrackerLogger"]


class TrackerLogger(TrackerLoggerBase, Logger):
    """Log a ``pytorch_lightning.Trainer`` to a tracker run; W&B's ``WandbLogger``."""

    __doc__ = logger_doc(__doc__)  # then the Args and behaviour shared by both namespaces

    _rank_zero_only = rank_zero_only
