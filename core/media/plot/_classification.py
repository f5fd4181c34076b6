"""Classifier charts: confusion matrix, precision-recall and ROC curves.

The curves are computed here with numpy, exactly as scikit-learn computes them
(``precision_recall_curve`` and ``roc_curve`` with their default arguments, one class
against the rest), so no scikit-learn is needed; the tests compare the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracker.errors import UsageError
from tracker.media._base import to_numpy, torch_tensor
from tracker.media._table import Table
from tracker.media.plot._chart import CustomChart

__all__ = ["confusion_matrix", "pr_curve", "roc_curve"]


def confusion_matrix(
    probs: Any = None,
    y_true: Any = None,
    preds: Any = None,
    class_names: Sequence[str] | None = None,
    title: str = "Confusion Matrix Curve",
    split_table: bool = False,
) -> CustomChart:
    """A confusion matrix (W&B's ``wandb.plot.confusion_matrix``).

    The table has columns ``Actual``, ``Predicted`` and ``nPredictions`` with one row per
    (actual, predicted) pair of classes, zeros included: row ``i * n + j`` counts samples
    of class ``i`` predicted as ``j`` (scikit-learn's ``confusion_matrix[i, j]``).

    Args:
        probs: Class probabilities, shape ``(samples, classes)``; the prediction is the
            arg-max. Give either ``probs`` or ``preds``.
        y_true: True class indices.
        preds: Predicted class indices.
        class_names: Class names; indices must then lie in ``0..len(class_names)-1``.
            Without names the classes are the sorted distinct labels, named ``Class_1``...
        title: Chart title.
        split_table: Accepted for W&B compatibility.

    Raises:
        UsageError: Both or neither of ``probs``/``preds``, lengths that differ, an
            unknown class index (named in the message), a ``probs`` column count that
            differs from ``len(class_names)``.

    Example:
        >>> cm = tracker.plot.confusion_matrix(y_true=[0, 1, 1], preds=[0, 1, 0],
        ...                                    class_names=["cat", "dog"])  # doctest: +SKIP
        >>> run.log({"confusion": cm})  # doctest: +SKIP
    """
    import numpy as np

    where = "tracker.plot.confusion_matrix"
    if (probs is None) == (preds is None):
        raise UsageError(f"{where}: pass either probs or preds, not both or neither.")
    if y_true is None:
        raise UsageError(f"{where}: y_true is required.")
    truth = _labels(y_true, f"{where}: y_true")
    if probs is not None:
        p = _array(probs, f"{where}: probs")
        if p.ndim != 2:
            raise UsageError(f"{where}: probs must have shape (samples, classes); got {tuple(p.shape)}.")
        if class_names is not None and p.shape[1] != len(class_names):
            raise UsageError(f"{where}: probs has {p.shape[1]} columns for {len(class_names)} class_names.")
        predicted = np.argmax(p, axis=1)
    else:
        predicted = _labels(preds, f"{where}: preds")
    if len(predicted) != len(truth):
        raise UsageError(f"{where}: {len(truth)} y_true values but {len(predicted)} predictions.")
    if class_names is not None:
        names = [str(c) for c in class_names]
        n = len(names)
        for what, values in (("y_true", truth), ("preds", predicted)):
            bad = values[(values < 0) | (values >= n)]
            if bad.size:
                raise UsageError(
                    f"{where}: unknown class index {int(bad[0])} in {what}; class_names has {n} "
                    f"names (indices 0..{n - 1})."
                )
        t_idx, p_idx = truth, predicted
    else:
        classes = np.union1d(truth, predicted)
        n = len(classes)
        names = [f"Class_{i + 1}" for i in range(n)]
        t_idx, p_idx = np.searchsorted(classes, truth), np.searchsorted(classes, predicted)
    counts = np.bincount(t_idx * n + p_idx, minlength=n * n).reshape(n, n)
    rows = [[names[i], names[j], int(counts[i, j])] for i in range(n) for j in range(n)]
    table = Table(columns=["Actual", "Predicted", "nPredictions"], data=rows)
    return CustomChart(
        "confusion_matrix",
        table,
        {"actual": "Actual", "predicted": "Predicted", "value": "nPredictions"},
        title,
        {"class_names": names},
    )


def pr_curve(
    y_true: Any = None,
    y_probas: Any = None,
    labels: Sequence[str] | None = None,
    classes_to_plot: Sequence[int] | None = None,
    interp_size: int = 21,
    title: str = "Precision-Recall Curve",
    split_table: bool = False,
) -> CustomChart:
    """Precision-recall curves, one per class against the rest (W&B's ``pr_curve``).

    Each class's points are scikit-learn's ``precision_recall_curve(y_true == c,
    y_probas[:, c])``, exactly (all thresholds: ``interp_size`` is accepted for W&B
    compatibility and not used). Table columns: ``class``, ``recall``, ``precision``.
    A class with no positive sample has no curve (listed in ``skipped_classes``).

    Args:
        y_true: True class indices, ``0..classes-1``.
        y_probas: Scores, shape ``(samples, classes)``; a 1-D array is the positive
            class's score of a binary problem.
        labels: Class names (default the indices as strings).
        classes_to_plot: Class indices to draw (default all).
        interp_size: Accepted for W&B compatibility.
        title: Chart title.
        split_table: Accepted for W&B compatibility.

    Raises:
        UsageError: Mismatched shapes, non-finite scores, an unknown class index.
    """
    return _curves("pr_curve", y_true, y_probas, labels, classes_to_plot, title)


def roc_curve(
    y_true: Any = None,
    y_probas: Any = None,
    labels: Sequence[str] | None = None,
    classes_to_plot: Sequence[int] | None = None,
    title: str = "ROC Curve",
    split_table: bool = False,
) -> CustomChart:
    """ROC curves, one per class against the rest (W&B's ``roc_curve``).

    Each class's points are scikit-learn's ``roc_curve(y_true == c, y_probas[:, c])``
    (``drop_intermediate=True``, its default), exactly. Table columns: ``class``,
    ``fpr``, ``tpr``. A class with no positive or no negative sample has no curve
    (listed in ``skipped_classes``).

    Args:
        y_true: True class indices, ``0..classes-1``.
        y_probas: Scores, shape ``(samples, classes)``; a 1-D array is the positive
            class's score of a binary problem.
        labels: Class names (default the indices as strings).
        classes_to_plot: Class indices to draw (default all).
        title: Chart title.
        split_table: Accepted for W&B compatibility.

    Raises:
        UsageError: Mismatched shapes, non-finite scores, an unknown class index.
    """
    return _curves("roc_curve", y_true, y_probas, labels, classes_to_plot, title)


# ---------------------------------------------------------------------- helpers


def _array(value: Any, what: str) -> Any:
    import numpy as np

    if torch_tensor(value):
        value = to_numpy(value.detach())
    try:
        return np.asarray(value)
    except ValueError as exc:
        raise UsageError(f"{what}: not a rectangular array ({exc}).") from None


def _labels(value: Any, what: str) -> Any:
    import numpy as np

    a = _array(value, what)
    if a.ndim != 1:
        raise UsageError(f"{what} must be 1-D; got shape {tuple(a.shape)}.")
    if a.dtype.kind == "f" and a.size and np.all(a == np.round(a)) and np.all(np.isfinite(a)):
        a = a.astype(np.int64)
    if a.dtype.kind not in "iub":
        raise UsageError(f"{what} must hold integer class indices; got dtype {a.dtype}.")
    return a.astype(np.int64)


def _curves(
    kind: str,
    y_true: Any,
    y_probas: Any,
    labels: Sequence[str] | None,
    classes_to_plot: Sequence[int] | None,
    title: str,
) -> CustomChart:
    import numpy as np

    where = f"tracker.plot.{kind}"
    if y_true is None or y_probas is None:
        raise UsageError(f"{where}: y_true and y_probas are required.")
    truth = _labels(y_true, f"{where}: y_true")
    scores = _array(y_probas, f"{where}: y_probas")
    if scores.dtype.kind not in "iuf":
        raise UsageError(f"{where}: y_probas must be numbers; got dtype {scores.dtype}.")
    scores = scores.astype(np.float64)
    if scores.ndim == 1:
        scores = np.stack([1.0 - scores, scores], axis=1)
    if scores.ndim != 2 or scores.shape[0] != truth.shape[0]:
        raise UsageError(
            f"{where}: y_probas must have shape ({truth.shape[0]}, classes) for {truth.shape[0]} "
            f"y_true values; got {tuple(np.shape(y_probas))}."
        )
    if not np.all(np.isfinite(scores)):
        raise UsageError(f"{where}: y_probas holds NaN or infinite values.")
    n = scores.shape[1]
    bad = truth[(truth < 0) | (truth >= n)]
    if bad.size:
        raise UsageError(f"{where}: unknown class index {int(bad[0])} in y_true; y_probas has {n} classes.")
    names = [str(i) for i in range(n)] if labels is None else [str(x) for x in labels]
    if len(names) != n:
        raise UsageError(f"{where}: {len(names)} labels for {n} classes.")
    plot = list(range(n)) if classes_to_plot is None else [int(c) for c in classes_to_plot]
    for c in plot:
        if not 0 <= c < n:
            raise UsageError(f"{where}: unknown class index {c} in classes_to_plot; there are {n} classes.")
    rows: list[list[Any]] = []
    skipped = []
    for c in plot:
        positive = truth == c
        if kind == "pr_curve":
            if not positive.any():
                skipped.append(names[c])
                continue
            precision, recall, _ = precision_recall(positive, scores[:, c])
            rows.extend([names[c], r, p] for r, p in zip(recall.tolist(), precision.tolist(), strict=True))
        else:
            if positive.all() or not positive.any():
                skipped.append(names[c])
                continue
            fpr, tpr, _ = roc(positive, scores[:, c])
            rows.extend([names[c], f, t] for f, t in zip(fpr.tolist(), tpr.tolist(), strict=True))
    x, y = ("recall", "precision") if kind == "pr_curve" else ("fpr", "tpr")
    table = Table(columns=["class", x, y], data=rows)
    options: dict[str, Any] = {"classes": [names[c] for c in plot]}
    if skipped:
        options["skipped_classes"] = skipped
    return CustomChart(kind, table, {"x": x, "y": y, "stroke": "class"}, title, options)


def _binary_curve(positive: Any, score: Any) -> tuple[Any, Any, Any]:
    """False and true positives at each distinct score, highest first (scikit-learn's way)."""
    import numpy as np

    order = np.argsort(score, kind="stable")[::-1]
    s = score[order]
    hits = positive[order].astype(np.float64)
    # The last index of each run of equal scores, and the end of the array.
    idx = np.r_[np.nonzero(np.diff(s))[0], hits.size - 1]
    tps = np.cumsum(hits, dtype=np.float64)[idx]
    fps = 1 + idx.astype(np.float64) - tps
    return fps, tps, s[idx]


def precision_recall(positive: Any, score: Any) -> tuple[Any, Any, Any]:
    """``(precision, recall, thresholds)`` as ``sklearn.metrics.precision_recall_curve``."""
    import numpy as np

    fps, tps, thresholds = _binary_curve(positive, score)
    ps = tps + fps
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(ps != 0, tps / ps, 0.0)
    recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def roc(positive: Any, score: Any) -> tuple[Any, Any, Any]:
    """``(fpr, tpr, thresholds)`` as ``sklearn.metrics.roc_curve`` (``drop_intermediate=True``)."""
    import numpy as np

    fps, tps, thresholds = _binary_curve(positive, score)
    if fps.shape[0] > 2:
        keep = np.nonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])[0]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    tps = np.r_[0.0, tps]
    fps = np.r_[0.0, fps]
    thresholds = np.r_[np.inf, thresholds]
    return fps / fps[-1], tps / tps[-1], thresholds
