"""``run.summary`` and ``define_metric``: last values, overrides, aggregates, step metrics."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker._init import LOG_NAME, read_log
from tracker.errors import UsageError
from tracker.storage._replay import RunState


def _state(run: tracker.Run) -> RunState:
    return read_log(Path(run.dir) / LOG_NAME)


def _rows(run: tracker.Run) -> list[tuple[int, dict[str, Any]]]:
    return [(r[0], r[2]) for r in _state(run).rows]


def _log_all(run: tracker.Run, key: str, values: list[float]) -> None:
    for v in values:
        run.log({key: v})


# ---------------------------------------------------------------------- defaults & overrides


def test_summary_holds_the_last_logged_value() -> None:
    run = tracker.init(project="p")
    run.log({"loss": 3.0, "acc": 0.1})
    run.log({"loss": 1.0})
    run.log({"loss": 2.0})
    assert run.summary["loss"] == 2.0
    assert run.summary["acc"] == 0.1
    assert run.summary.loss == 2.0
    assert run.summary["_step"] == 2
    assert "loss" in run.summary
    assert run.summary.get("missing", "d") == "d"
    with pytest.raises(KeyError):
        _ = run.summary["missing"]
    with pytest.raises(AttributeError, match="summary has no key 'missing'"):
        _ = run.summary.missing
    run.finish()
    summary = _state(run).summary
    assert summary["loss"] == 2.0
    assert summary["acc"] == 0.1
    assert summary["_step"] == 2
    assert run.summary["loss"] == 2.0  # still readable after finish


def test_explicit_summary_value_overrides_until_logged_again() -> None:
    run = tracker.init(project="p")
    run.log({"acc": 0.5})
    run.summary["acc"] = 0.99
    run.summary["best_epoch"] = 3
    run.log({"other": 1.0})  # logging another key keeps the override
    assert run.summary["acc"] == 0.99
    assert run.summary["best_epoch"] == 3
    run._writer.flush()
    assert _state(run).summary["acc"] == 0.99
    run.log({"acc": 0.6})  # logging the key again replaces it
    assert run.summary["acc"] == 0.6
    run.finish()
    summary = _state(run).summary
    assert summary["acc"] == 0.6
    assert summary["best_epoch"] == 3


def test_summary_update_and_delete() -> None:
    run = tracker.init(project="p")
    run.log({"a": 1.0})
    run.summary.update({"x": 1.5, "y": "text"})
    run.summary.update(z=2)
    del run.summary["a"]
    assert {k: run.summary[k] for k in ("x", "y", "z")} == {"x": 1.5, "y": "text", "z": 2}
    assert "a" not in run.summary
    run.finish()
    summary = _state(run).summary
    assert (summary["x"], summary["y"], summary["z"]) == (1.5, "text", 2)
    assert "a" not in summary


def test_summary_set_after_finish_raises() -> None:
    run = tracker.init(project="p")
    run.finish()
    with pytest.raises(UsageError, match=rf"summary update after run {run.id} finished"):
        run.summary["x"] = 1


def test_summary_set_rejects_unsupported_values() -> None:
    run = tracker.init(project="p")
    with pytest.raises(UsageError, match="cannot store 'x'"):
        run.summary["x"] = object()


# ---------------------------------------------------------------------- define_metric summaries


@pytest.mark.parametrize(
    ("summary", "goal", "expected"),
    [
        ("min", None, {"min": 1.0}),
        ("max", None, {"max": 3.0}),
        ("last", None, {"last": 2.0}),
        ("best", None, {"best": 1.0}),  # goal defaults to minimize
        ("best", "minimize", {"best": 1.0}),
        ("best", "maximize", {"best": 3.0}),
        ("best", "max", {"best": 3.0}),
        ("min,max", None, {"min": 1.0, "max": 3.0}),
    ],
)
def test_define_metric_summary_modes(summary: str, goal: str | None, expected: dict[str, float]) -> None:
    run = tracker.init(project="p")
    run.define_metric("loss", summary=summary, goal=goal)
    _log_all(run, "loss", [3.0, 1.0, 2.0])
    assert run.summary["loss"] == expected
    run.finish()
    assert _state(run).summary["loss"] == expected


def test_define_metric_summary_mean() -> None:
    run = tracker.init(project="p")
    run.define_metric("loss", summary="mean")
    _log_all(run, "loss", [3.0, 1.0, 2.0])
    assert run.summary["loss"] == {"mean": pytest.approx(2.0)}  # only "mean", as W&B shows it
    run.finish()
    assert _state(run).summary["loss"] == {"mean": pytest.approx(2.0)}
    assert _state(run).summary["_tracker.mean_count.loss"] == 3
    # A resumed run continues the mean over every value, not only the new ones.
    again = tracker.init(project="p", id=run.id, resume="must")
    again.define_metric("loss", summary="mean")
    _log_all(again, "loss", [6.0])
    again.finish()
    assert _state(again).summary["loss"] == {"mean": pytest.approx(3.0)}
    assert _state(again).summary["_tracker.mean_count.loss"] == 4


def test_define_metric_summary_none_hides_the_key() -> None:
    run = tracker.init(project="p")
    run.define_metric("noise", summary="none")
    run.log({"noise": 1.0, "loss": 2.0})
    assert "noise" not in run.summary
    assert run.summary["loss"] == 2.0
    run.finish()
    assert "noise" not in _state(run).summary
    assert _rows(run) == [(0, {"noise": 1.0, "loss": 2.0})]  # history keeps it


def test_nan_never_wins_min_or_max() -> None:
    run = tracker.init(project="p")
    run.define_metric("loss", summary="min,max")
    _log_all(run, "loss", [2.0, math.nan, 1.0])
    assert run.summary["loss"] == {"min": 1.0, "max": 2.0}


def test_define_metric_glob_names() -> None:
    run = tracker.init(project="p")
    run.define_metric("val/*", summary="max")
    run.log({"val/acc": 0.5, "val/loss": 2.0, "train/loss": 2.0})
    run.log({"val/acc": 0.4, "val/loss": 3.0, "train/loss": 1.0})
    assert run.summary["val/acc"] == {"max": 0.5}
    assert run.summary["val/loss"] == {"max": 3.0}
    assert run.summary["train/loss"] == 1.0


def test_exact_name_beats_glob() -> None:
    run = tracker.init(project="p")
    run.define_metric("val/loss", summary="min")
    run.define_metric("val/*", summary="max")
    _log_all(run, "val/loss", [2.0, 1.0, 3.0])
    run.log({"val/acc": 0.2})
    assert run.summary["val/loss"] == {"min": 1.0}
    assert run.summary["val/acc"] == {"max": 0.2}


def test_define_metric_after_first_log_of_the_key() -> None:
    run = tracker.init(project="p")
    run.log({"acc": 0.1})
    run.log({"acc": 0.3})
    assert run.summary["acc"] == 0.3
    run.define_metric("acc", summary="max")
    run.log({"acc": 0.9})
    run.log({"acc": 0.2})
    assert run.summary["acc"] == {"max": 0.9}
    run.finish()
    assert _state(run).summary["acc"] == {"max": 0.9}


def test_define_metric_before_first_log_of_the_key() -> None:
    run = tracker.init(project="p")
    run.define_metric("acc", summary="max")
    run._writer.flush()  # the definition reaches the writer before any row
    _log_all(run, "acc", [0.9, 0.2])
    assert run.summary["acc"] == {"max": 0.9}


def test_explicit_override_of_an_aggregated_key_holds_until_logged_again() -> None:
    run = tracker.init(project="p")
    run.define_metric("acc", summary="max")
    run.log({"acc": 0.5})
    run.summary["acc"] = 0.99
    run.log({"other": 1.0})
    assert run.summary["acc"] == 0.99
    run.log({"acc": 0.7})
    assert run.summary["acc"] == {"max": 0.7}


def test_define_metric_is_recorded_in_the_log() -> None:
    run = tracker.init(project="p")
    run.define_metric("val/*", step_metric="epoch", summary="max", goal="maximize", hidden=True)
    run.finish()
    assert _state(run).metrics["val/*"] == {
        "name": "val/*",
        "step_metric": "epoch",
        "step_sync": True,
        "hidden": True,
        "summary": ["max"],
        "goal": "maximize",
    }


# ---------------------------------------------------------------------- step metrics


def test_step_sync_carries_the_latest_step_metric_value_into_rows() -> None:
    run = tracker.init(project="p")
    run.define_metric("epoch")
    run.define_metric("val/*", step_metric="epoch")
    run.log({"epoch": 0})
    run.log({"val/acc": 0.5})
    run.log({"train/loss": 1.0})  # no step metric defined for it: nothing carried
    run.log({"epoch": 1})
    run.log({"val/acc": 0.6, "val/loss": 0.4})
    run.log({"val/acc": 0.7, "epoch": 5})  # a row that has its own value keeps it
    run.finish()
    assert _rows(run) == [
        (0, {"epoch": 0}),
        (1, {"val/acc": 0.5, "epoch": 0}),
        (2, {"train/loss": 1.0}),
        (3, {"epoch": 1}),
        (4, {"val/acc": 0.6, "val/loss": 0.4, "epoch": 1}),
        (5, {"val/acc": 0.7, "epoch": 5}),
    ]


def test_step_sync_across_writer_batches() -> None:
    run = tracker.init(project="p")
    run.define_metric("val/acc", step_metric="epoch")
    run.log({"epoch": 2})
    run._writer.flush()
    run.log({"val/acc": 0.5})
    run.finish()
    assert _rows(run) == [(0, {"epoch": 2}), (1, {"val/acc": 0.5, "epoch": 2})]


def test_step_sync_false_carries_nothing() -> None:
    run = tracker.init(project="p")
    run.define_metric("val/acc", step_metric="epoch", step_sync=False)
    run.log({"epoch": 1})
    run.log({"val/acc": 0.5})
    run.finish()
    assert _rows(run) == [(0, {"epoch": 1}), (1, {"val/acc": 0.5})]


def test_step_sync_before_any_step_value_carries_nothing() -> None:
    run = tracker.init(project="p")
    run.define_metric("val/acc", step_metric="epoch")
    run.log({"val/acc": 0.5})
    run.finish()
    assert _rows(run) == [(0, {"val/acc": 0.5})]


# ---------------------------------------------------------------------- misuse


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"summary": "median"}, r"define_metric\(summary='median'\): unknown mode\(s\) \['median'\]"),
        ({"summary": "min,avg"}, r"unknown mode\(s\) \['avg'\]"),
        ({"summary": ""}, r"define_metric\(summary=''\)"),
        ({"summary": "none,min"}, r"'none' cannot be combined"),
        ({"goal": "up"}, r"define_metric\(goal='up'\): use 'minimize' or 'maximize'"),
        ({"summary": "best", "goal": "lower"}, r"goal='lower'"),
    ],
)
def test_define_metric_invalid_arguments_raise(kwargs: dict[str, Any], message: str) -> None:
    run = tracker.init(project="p")
    with pytest.raises(UsageError, match=message):
        run.define_metric("loss", **kwargs)


def test_define_metric_needs_a_name_and_a_live_run() -> None:
    run = tracker.init(project="p")
    with pytest.raises(UsageError, match="needs a non-empty metric name"):
        run.define_metric("")
    run.finish()
    with pytest.raises(UsageError, match=rf"define_metric\(\) after run {run.id} finished"):
        run.define_metric("loss")
