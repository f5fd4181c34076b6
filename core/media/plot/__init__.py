"""``tracker.plot``: charts stored as a table plus a small description (W&B's ``wandb.plot``).

Each function returns a :class:`CustomChart`; log it like any value::

    run.log({"confusion": tracker.plot.confusion_matrix(y_true=y, preds=p, class_names=names)})

The chart's data is a :class:`tracker.Table` written under the run; the history row
holds the chart kind, which column plays which role, the title and the table reference.
The numbers of ``confusion_matrix``, ``pr_curve`` and ``roc_curve`` equal
scikit-learn's on the same data (computed with numpy; scikit-learn is not needed).
"""

from __future__ import annotations

from tracker.media.plot._basic import bar, histogram, line, line_series, scatter
from tracker.media.plot._chart import CustomChart
from tracker.media.plot._classification import confusion_matrix, pr_curve, roc_curve

__all__ = [
    "CustomChart",
    "bar",
    "confusion_matrix",
    "histogram",
    "line",
    "line_series",
    "pr_curve",
    "roc_curve",
    "scatter",
]
