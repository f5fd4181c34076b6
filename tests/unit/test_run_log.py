"""``log()``: W&B step semantics, value conversion, snapshots and misuse."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tracker
from tracker._init import LOG_NAME, read_log
from tracker.errors import TrackerWarning, UsageError
from tracker.storage._replay import RunState


def _state(run: tracker.Run) -> RunState:
    return read_log(Path(run.dir) / LOG_NAME)


def _rows(run: tracker.Run) -> list[tuple[int, dict[str, Any]]]:
    """(step, data) of every history row on disk, in log order."""
    return [(r[0], r[2]) for r in _state(run).rows]


# ---------------------------------------------------------------------- step semantics


def test_auto_step_increments_once_per_call() -> None:
    run = tracker.init(project="p")
    assert run.step == 0
    for i in range(3):
        run.log({"loss": float(i)})
    assert run.step == 3
    run.finish()
    assert _rows(run) == [(0, {"loss": 0.0}), (1, {"loss": 1.0}), (2, {"loss": 2.0})]
    assert _state(run).summary["_step"] == 2


def test_commit_false_accumulates_into_one_row() -> None:
    run = tracker.init(project="p")
    run.log({"a": 1}, commit=False)
    run.log({"b": 2}, commit=False)
    assert run.step == 0
    run.log({"c": 3})
    run.log({"d": 4})
    run.finish()
    assert _rows(run) == [(0, {"a": 1, "b": 2, "c": 3}), (1, {"d": 4})]


def test_commit_false_later_value_of_same_key_wins() -> None:
    run = tracker.init(project="p")
    run.log({"a": 1}, commit=False)
    run.log({"a": 2}, commit=False)
    run.log({}, commit=True)
    run.finish()
    assert _rows(run) == [(0, {"a": 2})]


def test_pending_commit_false_row_is_committed_by_finish() -> None:
    run = tracker.init(project="p")
    run.log({"a": 1})
    run.log({"b": 2}, commit=False)
    run.finish()
    assert _rows(run) == [(0, {"a": 1}), (1, {"b": 2})]


def test_explicit_step_row_stays_open_until_higher_step() -> None:
    run = tracker.init(project="p")
    run.log({"a": 1}, step=5)
    assert run.step == 5
    run.log({"b": 2}, step=5)  # same step: merged
    run._writer.flush()
    assert _rows(run) == []  # row 5 is still open
    run.log({"c": 3}, step=7)  # a higher step commits row 5
    run._writer.flush()
    assert _rows(run) == [(5, {"a": 1, "b": 2})]
    run.log({"d": 4}, step=7, commit=True)  # commit=True closes row 7
    assert run.step == 8
    run.log({"e": 5})
    run.finish()
    assert _rows(run) == [(5, {"a": 1, "b": 2}), (7, {"c": 3, "d": 4}), (8, {"e": 5})]


def test_explicit_step_row_is_committed_by_finish() -> None:
    run = tracker.init(project="p")
    run.log({"a": 1}, step=3)
    run.finish()
    assert _rows(run) == [(3, {"a": 1})]


def test_log_without_step_merges_into_open_row_and_commits_it() -> None:
    # W&B: with row N open, log(data) (no step, commit=None) updates row N and commits it.
    run = tracker.init(project="p")
    run.log({"x": 1}, step=3)
    run.log({"y": 2})
    assert run.step == 4
    run.log({"z": 3})
    run.finish()
    assert _rows(run) == [(3, {"x": 1, "y": 2}), (4, {"z": 3})]


def test_explicit_step_accepts_numpy_integers() -> None:
    run = tracker.init(project="p")
    run.log({"a": 1}, step=np.int64(4), commit=True)
    run.finish()
    assert _rows(run) == [(4, {"a": 1})]
    assert type(_state(run).rows[0][0]) is int


def test_lower_step_is_kept_in_log_order_and_counted() -> None:
    run = tracker.init(project="p")
    for i in range(3):
        run.log({"loss": float(i)})
    with pytest.warns(TrackerWarning, match="below the current step"):  # once per run
        run.log({"late": 1.0}, step=1)  # below the last committed step
    run.log({"late": 2.0}, step=2)  # equal to the last committed step: also behind
    run.log({"loss": 9.0})  # the step counter is unaffected
    assert run.summary["_tracker.out_of_order_rows"] == 2
    run.finish()
    assert _rows(run) == [
        (0, {"loss": 0.0}),
        (1, {"loss": 1.0}),
        (2, {"loss": 2.0}),
        (1, {"late": 1.0}),
        (2, {"late": 2.0}),
        (3, {"loss": 9.0}),
    ]
    summary = _state(run).summary
    assert summary["_tracker.out_of_order_rows"] == 2
    assert summary["_step"] == 3
    assert summary["late"] == 2.0


def test_in_order_run_has_no_out_of_order_counter() -> None:
    run = tracker.init(project="p")
    run.log({"a": 1}, step=2)
    run.log({"a": 2}, step=10)
    run.finish()
    assert "_tracker.out_of_order_rows" not in _state(run).summary


# ---------------------------------------------------------------------- values


def test_nested_dicts_are_flattened_with_dots() -> None:
    run = tracker.init(project="p")
    run.log({"train": {"loss": 0.5, "opt": {"lr": 1e-3}}, "epoch": 1})
    run.finish()
    assert _rows(run) == [(0, {"train.loss": 0.5, "train.opt.lr": 1e-3, "epoch": 1})]


def test_numpy_scalars_and_arrays_become_plain_values() -> None:
    run = tracker.init(project="p")
    run.log(
        {
            "f32": np.float32(0.5),
            "f64": np.float64(0.25),
            "i64": np.int64(7),
            "u8": np.uint8(255),
            "b": np.bool_(True),
            "zero_d_float": np.array(2.5),
            "zero_d_int": np.array(3, dtype=np.int32),
            "vec": np.array([1, 2, 3]),
            "mat": np.array([[1.5, 2.5], [3.5, 4.5]], dtype=np.float32),
            "list_of_np": [np.float32(1.5), np.int16(2)],
        }
    )
    run.finish()
    ((_step, row),) = _rows(run)
    assert row == {
        "f32": 0.5,
        "f64": 0.25,
        "i64": 7,
        "u8": 255,
        "b": True,
        "zero_d_float": 2.5,
        "zero_d_int": 3,
        "vec": [1, 2, 3],
        "mat": [[1.5, 2.5], [3.5, 4.5]],
        "list_of_np": [1.5, 2],
    }
    assert type(row["f32"]) is float
    assert type(row["i64"]) is int
    assert type(row["b"]) is bool
    assert type(row["zero_d_int"]) is int


def test_torch_scalars_and_tensors() -> None:
    torch = pytest.importorskip("torch")
    run = tracker.init(project="p")
    vec = torch.tensor([1.0, 2.0])
    run.log(
        {
            "zero_d": torch.tensor(1.5),
            "zero_d_int": torch.tensor(4),
            "one": torch.tensor([0.25]),
            "vec": vec,
            "grad": torch.ones(2, requires_grad=True).sum(),
        }
    )
    vec.add_(10)  # in-place change after log() must not show
    run.finish()
    ((_step, row),) = _rows(run)
    assert row == {"zero_d": 1.5, "zero_d_int": 4, "one": 0.25, "vec": [1.0, 2.0], "grad": 2.0}


def test_nan_and_infinities_round_trip_exactly() -> None:
    run = tracker.init(project="p")
    run.log(
        {
            "nan": math.nan,
            "inf": math.inf,
            "ninf": -math.inf,
            "np_nan": np.float32("nan"),
            "np_ninf": np.float64("-inf"),
            "arr": np.array([math.nan, math.inf, -math.inf, 1.0]),
        }
    )
    run.finish()
    ((_step, row),) = _rows(run)
    assert math.isnan(row["nan"])
    assert row["inf"] == math.inf
    assert row["ninf"] == -math.inf
    assert math.isnan(row["np_nan"])
    assert row["np_ninf"] == -math.inf
    assert math.isnan(row["arr"][0])
    assert row["arr"][1:] == [math.inf, -math.inf, 1.0]
    summary = _state(run).summary
    assert math.isnan(summary["nan"])
    assert summary["inf"] == math.inf
    assert summary["ninf"] == -math.inf


def test_mapping_that_is_not_a_dict_is_accepted() -> None:
    from collections import OrderedDict
    from types import MappingProxyType

    run = tracker.init(project="p")
    run.log(OrderedDict(a=1))
    run.log(MappingProxyType({"b": 2}))
    run.finish()
    assert _rows(run) == [(0, {"a": 1}), (1, {"b": 2})]


# ---------------------------------------------------------------------- snapshots


def test_log_snapshots_every_value_at_call_time() -> None:
    run = tracker.init(project="p")
    flat = {"loss": 1.0, "name": "a"}
    nested = {"inner": {"x": 1.0, "deep": {"y": 2.0}}}
    lst = [1, 2, 3]
    arr = np.array([1.0, 2.0])
    zero_d = np.array(5.0)
    run.log(flat)  # fast path
    run.log({"nested": nested, "lst": lst, "arr": arr, "zero_d": zero_d})  # slow path
    pending = {"p": [1.0], "q": {"r": 1}}
    run.log(pending, commit=False)  # an open row holds the data until committed
    stepped = {"s": np.array([7, 8])}
    run.log(stepped, step=10)

    flat["loss"] = -1.0
    flat["new"] = 1
    nested["inner"]["x"] = -1.0
    nested["inner"]["deep"]["y"] = -2.0
    nested["inner"]["added"] = 0
    lst.append(4)
    lst[0] = 100
    arr[0] = -1.0
    zero_d[...] = -5.0
    pending["p"].append(2.0)
    pending["q"]["r"] = -1
    pending["extra"] = 1
    stepped["s"][0] = -7

    run.finish()
    assert _rows(run) == [
        (0, {"loss": 1.0, "name": "a"}),
        (
            1,
            {
                "nested.inner.x": 1.0,
                "nested.inner.deep.y": 2.0,
                "lst": [1, 2, 3],
                "arr": [1.0, 2.0],
                "zero_d": 5.0,
            },
        ),
        (2, {"p": [1.0], "q.r": 1}),
        (10, {"s": [7, 8]}),
    ]


# ---------------------------------------------------------------------- module-level API


def test_module_level_functions_act_on_the_current_run() -> None:
    assert tracker.run is None
    run = tracker.init(project="p", config={"lr": 0.1})
    assert tracker.run is run
    assert tracker.config is run.config
    assert tracker.config.lr == 0.1
    tracker.config.update({"bs": 8})
    tracker.define_metric("acc", summary="max")
    tracker.log({"acc": 0.5})
    tracker.log({"acc": 0.25})
    tracker.summary["best"] = 1.0
    tracker.alert(title="t", text="body")
    assert tracker.summary["acc"] == {"max": 0.5}
    assert run.summary["best"] == 1.0
    tracker.finish()
    assert tracker.run is None
    state = _state(run)
    assert [(r[0], r[2]) for r in state.rows] == [(0, {"acc": 0.5}), (1, {"acc": 0.25})]
    assert state.config == {"lr": 0.1, "bs": 8}
    assert state.summary["best"] == 1.0
    assert [(a["title"], a["text"], a["level"]) for a in state.alerts] == [("t", "body", "INFO")]
    assert state.exit is not None
    assert state.exit["state"] == "finished"


def test_module_level_finish_without_a_run_is_a_no_op() -> None:
    tracker.finish()
    assert tracker.run is None


def test_module_level_config_and_summary_before_init_raise() -> None:
    with pytest.raises(UsageError, match=r"tracker\.config used before tracker\.init\(\)"):
        _ = tracker.config.lr
    with pytest.raises(UsageError, match=r"tracker\.summary used before tracker\.init\(\)"):
        tracker.summary["x"] = 1


def test_module_level_objects_follow_the_current_run() -> None:
    first = tracker.init(project="p")
    first.finish()
    second = tracker.init(project="p", config={"k": 1})
    assert tracker.run is second
    assert tracker.config.k == 1
    tracker.log({"a": 1})
    second.finish()
    assert _rows(first) == []
    assert _rows(second) == [(0, {"a": 1})]


# ---------------------------------------------------------------------- misuse


def test_log_before_init_raises() -> None:
    with pytest.raises(UsageError, match=r"tracker\.log\(\) called before tracker\.init\(\)"):
        tracker.log({"a": 1})
    with pytest.raises(UsageError, match=r"before tracker\.init\(\)"):
        tracker.define_metric("a")
    with pytest.raises(UsageError, match=r"before tracker\.init\(\)"):
        tracker.alert("t", "x")


@pytest.mark.parametrize("data", [[("a", 1)], "loss", 1.0, None, {1, 2}])
def test_log_non_dict_raises(data: Any) -> None:
    run = tracker.init(project="p")
    with pytest.raises(UsageError, match=rf"log\(\) takes a dict of metrics, not {type(data).__name__}"):
        run.log(data)


def test_log_non_string_key_raises() -> None:
    run = tracker.init(project="p")
    with pytest.raises(UsageError, match=r"keys must be strings; got int 1"):
        run.log({1: 2.0})
    with pytest.raises(UsageError, match=r"keys must be strings; got tuple \('a', 'b'\)"):
        run.log({("a", "b"): 2.0})
    with pytest.raises(UsageError, match=r"keys must be strings; got int 3 inside 'outer'") as info:
        run.log({"outer": {"ok": 1, 3: 2.0}})
    assert info.value.key == "outer"
    with pytest.raises(UsageError, match=r"keys must not be empty"):
        run.log({"": np.float32(1)})
    with pytest.raises(UsageError, match=r"keys must not be empty"):
        run.log({"": 1.0})  # a plain float takes the fast path: same rule
    run.log({"ok": 1.0})
    assert run.step == 1  # the refused calls logged nothing


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (object(), "builtins.object"),
        (b"bytes", "builtins.bytes"),
        ({1, 2}, "builtins.set"),
        (1j, "builtins.complex"),
    ],
)
def test_log_unsupported_value_type_raises(value: Any, type_name: str) -> None:
    run = tracker.init(project="p")
    with pytest.raises(UsageError, match=rf"cannot store 'bad' of type {type_name}") as info:
        run.log({"bad": value})
    assert info.value.key == "bad"


def test_log_unsupported_value_inside_list_or_nested_dict_raises() -> None:
    run = tracker.init(project="p")
    with pytest.raises(UsageError, match=r"cannot store 'xs\[1\]'"):
        run.log({"xs": [1, object()]})
    with pytest.raises(UsageError, match=r"cannot store 'a\.b'"):
        run.log({"a": {"b": object()}})
    with pytest.raises(UsageError, match=r"nested dicts inside lists"):
        run.log({"xs": [{"a": 1, "b": 2}]})


def test_rejected_call_logs_nothing() -> None:
    run = tracker.init(project="p")
    with pytest.raises(UsageError):
        run.log({"ok": 1.0, "bad": object()})
    with pytest.raises(UsageError):
        run.log({"ok": 1.0}, step=-1)
    assert run.step == 0
    run.log({"fine": 1})
    run.finish()
    assert _rows(run) == [(0, {"fine": 1})]


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (-1, r"must not be negative \(got -1\)"),
        (1.5, r"must be an int, not float 1\.5"),
        ("3", r"must be an int, not str '3'"),
        (True, r"must be an int, not bool True"),
        (np.float64(2.0), r"must be an int, not float64"),
    ],
)
def test_log_invalid_step_raises(step: Any, message: str) -> None:
    run = tracker.init(project="p")
    with pytest.raises(UsageError, match=rf"log\(step=\.\.\.\) {message}"):
        run.log({"a": 1}, step=step)


def test_log_after_finish_raises() -> None:
    # W&B raises UsageError("Run (...) is finished ...") instead of dropping the data.
    run = tracker.init(project="p")
    run.log({"a": 1})
    run.finish()
    with pytest.raises(UsageError, match=rf"run {run.id} finished"):
        run.log({"a": 2})
    with pytest.raises(UsageError, match=rf"run {run.id} finished"):
        run.log({"a": 2}, step=5)
    assert _rows(run) == [(0, {"a": 1})]
