"""tracker.plot: the numbers equal scikit-learn's; chart descriptions; bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tracker
from tracker import media
from tracker.errors import UsageError

RNG = np.random.default_rng(3)


def _logged(chart: Any) -> tuple[dict[str, Any], Any]:
    """Log a chart, finish; return (description, table as DataFrame) read back from disk."""
    pytest.importorskip("pandas")
    run = tracker.init(project="media")
    run.log({"chart": chart})
    run.finish()
    (entry,) = media.media_entries(run.dir)["chart"]
    return media.read_chart(run.dir, entry.value)  # type: ignore[no-any-return]


def _matrix(df: Any, names: list[str]) -> np.ndarray:
    n = len(names)
    m = np.zeros((n, n), dtype=np.int64)
    for actual, predicted, count in df.itertuples(index=False):
        m[names.index(actual), names.index(predicted)] = count
    return m


# ---------------------------------------------------------------------- confusion matrix


def test_confusion_matrix_from_preds_equals_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    names = ["cat", "dog", "bird", "fish"]
    y = RNG.integers(0, 4, 500)
    p = np.where(RNG.random(500) < 0.7, y, RNG.integers(0, 4, 500))
    p[p == 3] = 2  # a class that is never predicted still gets its zero row/column
    desc, df = _logged(tracker.plot.confusion_matrix(y_true=y, preds=p, class_names=names))
    assert desc["chart"] == "confusion_matrix"
    assert desc["class_names"] == names
    assert list(df.columns) == ["Actual", "Predicted", "nPredictions"]
    assert len(df) == 16
    assert np.array_equal(_matrix(df, names), metrics.confusion_matrix(y, p, labels=range(4)))


def test_confusion_matrix_from_probs_equals_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    probs = RNG.random((300, 3))
    y = RNG.integers(0, 3, 300).tolist()
    _desc, df = _logged(tracker.plot.confusion_matrix(probs=probs, y_true=y, class_names=["a", "b", "c"]))
    want = metrics.confusion_matrix(y, probs.argmax(axis=1), labels=range(3))
    assert np.array_equal(_matrix(df, ["a", "b", "c"]), want)


def test_confusion_matrix_without_class_names_uses_the_labels_seen() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    y = [5, 7, 7, 9]
    p = [5, 9, 7, 9]
    _desc, df = _logged(tracker.plot.confusion_matrix(y_true=y, preds=p))
    names = ["Class_1", "Class_2", "Class_3"]
    assert np.array_equal(_matrix(df, names), metrics.confusion_matrix(y, p))


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        (
            {"y_true": [0, 1, 3], "preds": [0, 1, 1], "class_names": ["a", "b"]},
            "unknown class index 3 in y_true",
        ),
        ({"y_true": [0, 1], "preds": [0, -1], "class_names": ["a", "b"]}, "unknown class index -1 in preds"),
        ({"y_true": [0, 1], "preds": [0]}, "2 y_true values but 1 predictions"),
        ({"y_true": [0, 1]}, "either probs or preds"),
        ({"y_true": [0, 1], "preds": [0, 1], "probs": [[1, 0], [0, 1]]}, "either probs or preds"),
        ({"y_true": [0, 1], "probs": [[1, 0, 0], [0, 1, 0]], "class_names": ["a", "b"]}, "3 columns for 2"),
        ({"y_true": [0.5, 1], "preds": [0, 1]}, "integer class indices"),
        ({"y_true": ["a", "b"], "preds": [0, 1]}, "integer class indices"),
    ],
)
def test_confusion_matrix_bad_input(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(UsageError) as info:
        tracker.plot.confusion_matrix(**kwargs)
    assert needle in str(info.value)


# ---------------------------------------------------------------------- PR and ROC


def _scores(n: int, classes: int, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    y = RNG.integers(0, classes, n)
    s = RNG.random((n, classes)) + np.eye(classes)[y] * 0.3
    if ties:
        s = np.round(s, 1)  # many equal scores: the threshold grouping matters
    return y, s / s.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("ties", [False, True])
def test_pr_curve_equals_sklearn(ties: bool) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    y, s = _scores(400, 3, ties)
    labels = ["a", "b", "c"]
    desc, df = _logged(tracker.plot.pr_curve(y, s, labels=labels))
    assert desc["chart"] == "pr_curve"
    assert desc["fields"] == {
        "x": "recall",
        "y": "precision",
        "stroke": "class",
    }
    for c, name in enumerate(labels):
        precision, recall, _ = metrics.precision_recall_curve(y == c, s[:, c])
        part = df[df["class"] == name]
        assert part["precision"].tolist() == precision.tolist()
        assert part["recall"].tolist() == recall.tolist()


@pytest.mark.parametrize("ties", [False, True])
def test_roc_curve_equals_sklearn(ties: bool) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    y, s = _scores(400, 4, ties)
    desc, df = _logged(tracker.plot.roc_curve(y, s))
    assert desc["chart"] == "roc_curve"
    assert desc["classes"] == ["0", "1", "2", "3"]
    for c in range(4):
        fpr, tpr, _ = metrics.roc_curve(y == c, s[:, c])
        part = df[df["class"] == str(c)]
        assert part["fpr"].tolist() == fpr.tolist()
        assert part["tpr"].tolist() == tpr.tolist()


def test_thresholds_equal_sklearn_too() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    from tracker.media.plot._classification import precision_recall, roc

    y, s = _scores(300, 2, True)
    pos, score = y == 1, s[:, 1]
    for ours, theirs in zip(
        precision_recall(pos, score), metrics.precision_recall_curve(pos, score), strict=True
    ):
        assert np.array_equal(ours, theirs)
    for ours, theirs in zip(roc(pos, score), metrics.roc_curve(pos, score), strict=True):
        assert np.array_equal(ours, theirs)


def test_binary_1d_scores_and_classes_to_plot() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    y = RNG.integers(0, 2, 200)
    p = np.clip(y * 0.4 + RNG.random(200) * 0.6, 0, 1)
    _desc, df = _logged(tracker.plot.roc_curve(y, p, classes_to_plot=[1]))
    fpr, tpr, _ = metrics.roc_curve(y, p)
    assert set(df["class"]) == {"1"}
    assert df["fpr"].tolist() == fpr.tolist()
    assert df["tpr"].tolist() == tpr.tolist()


def test_class_without_positives_is_skipped_and_listed() -> None:
    y = np.array([0, 0, 1, 1])
    s = np.array([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1]])
    desc, df = _logged(tracker.plot.pr_curve(y, s))
    assert desc["skipped_classes"] == ["2"]
    assert set(df["class"]) == {"0", "1"}


@pytest.mark.parametrize(
    ("args", "kwargs", "needle"),
    [
        (([0, 1, 5], np.full((3, 2), 0.5)), {}, "unknown class index 5 in y_true"),
        (([0, 1], np.full((3, 2), 0.5)), {}, "must have shape (2, classes)"),
        (([0, 1], [[0.5, np.nan], [0.5, 0.5]]), {}, "NaN"),
        (([0, 1], np.full((2, 2), 0.5)), {"labels": ["a"]}, "1 labels for 2 classes"),
        (
            ([0, 1], np.full((2, 2), 0.5)),
            {"classes_to_plot": [2]},
            "unknown class index 2 in classes_to_plot",
        ),
        ((None, None), {}, "required"),
    ],
)
def test_curve_bad_input(args: tuple[Any, Any], kwargs: dict[str, Any], needle: str) -> None:
    for fn in (tracker.plot.pr_curve, tracker.plot.roc_curve):
        with pytest.raises(UsageError) as info:
            fn(*args, **kwargs)
        assert needle in str(info.value)


# ---------------------------------------------------------------------- charts over a table


def test_line_scatter_bar_histogram_keep_the_table() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"step": [0, 1, 2], "loss": [1.0, 0.5, 0.25], "name": ["a", "b", "c"]})
    table = tracker.Table(dataframe=df)
    charts = {
        "line": (tracker.plot.line(table, "step", "loss", title="Loss"), {"x": "step", "y": "loss"}),
        "scatter": (tracker.plot.scatter(table, "step", "loss"), {"x": "step", "y": "loss"}),
        "bar": (tracker.plot.bar(table, "name", "loss"), {"label": "name", "value": "loss"}),
        "histogram": (tracker.plot.histogram(table, "loss"), {"value": "loss"}),
    }
    table.add_data(3, 0.1, "d")  # charts snapshot the table when made
    for kind, (chart, fields) in charts.items():
        desc, got = _logged(chart)
        assert desc["chart"] == kind
        assert desc["fields"] == fields
        pd.testing.assert_frame_equal(got, df)
    assert _logged(charts["line"][0])[0]["title"] == "Loss"


def test_line_series() -> None:
    desc, df = _logged(
        tracker.plot.line_series([0, 1, 2], [[1, 2, 3], [4, 5, 6]], keys=["a", "b"], xname="epoch")
    )
    assert desc["chart"] == "line_series"
    assert desc["xname"] == "epoch"
    assert df.values.tolist() == [
        [0, "a", 1],
        [1, "a", 2],
        [2, "a", 3],
        [0, "b", 4],
        [1, "b", 5],
        [2, "b", 6],
    ]
    _desc, df = _logged(tracker.plot.line_series([[0, 1], [5]], [np.array([1.0, 2.0]), [3.0]]))
    assert df.values.tolist() == [[0, "key_0", 1.0], [1, "key_0", 2.0], [5, "key_1", 3.0]]


def test_chart_bad_input() -> None:
    table = tracker.Table(columns=["a", "b"], data=[[1, 2]])
    with pytest.raises(UsageError, match=r"y='z' is not a column of the table; columns are \['a', 'b'\]"):
        tracker.plot.line(table, "a", "z")
    with pytest.raises(UsageError, match=r"tracker\.Table"):
        tracker.plot.scatter([[1, 2]], "a", "b")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="2 y values for 3 x values"):
        tracker.plot.line_series([0, 1, 2], [[1, 2]])
    with pytest.raises(UsageError, match="1 keys for 2 lines"):
        tracker.plot.line_series([0], [[1], [2]], keys=["a"])
