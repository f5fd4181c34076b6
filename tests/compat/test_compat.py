"""Every released run-log format must still load: the format v1 golden log (G11).

``v1/run.tlog`` was written once by ``make_golden.py`` and is committed; these tests
pin what today's reader decodes from it, exactly. If one fails, the reader broke
compatibility: fix the reader, never the golden file.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker.storage._format import FORMAT_VERSION, HEADER_SIZE, R, read_frames, scan
from tracker.storage._replay import RunState

GOLDEN_V1 = Path(__file__).parent / "v1" / "run.tlog"
T0 = 1_700_000_000.0
INF = math.inf

SESSION_1_ROWS = [
    [0, T0 + 1, {"loss": 1.0, "acc": 0.1}],
    [1, T0 + 2, {"loss": 0.8, "acc": 0.2}],
    [2, T0 + 3, {"loss": 0.6, "acc": 0.3}],
    [3, T0 + 4, {"loss": 0.5, "acc": 0.4}],
    [4, T0 + 5, {"loss": 0.45, "acc": 0.5, "epoch": 0, "val/loss": 0.7}],
    [5, T0 + 21, {"loss": 0.4, "acc": 0.55}],
    [6, T0 + 22, {"loss": 0.35, "acc": 0.6}],
    [7, T0 + 23, {"loss": "NaN", "acc": 0.61, "grad_norm": INF, "note": "spike", "flag": True,
                  "hist": [1, 2, 3], "none": None}],
    [8, T0 + 24, {"loss": 0.3, "acc": 0.65}],
    [9, T0 + 25, {"loss": 0.28, "acc": 0.7, "epoch": 1, "val/loss": 0.5}],
]  # fmt: skip
SESSION_2_ROWS = [
    [7, T0 + 101, {"loss": 0.25, "acc": 0.72}],
    [8, T0 + 102, {"loss": 0.24, "acc": 0.74}],
    [9, T0 + 103, {"loss": 0.22, "acc": 0.76}],
    [10, T0 + 104, {"loss": 0.2, "acc": 0.78}],
    [11, T0 + 105, {"loss": 0.19, "acc": 0.81, "epoch": 2, "val/loss": 0.4}],
]
KINDS = [
    R.RUN, R.META, R.CONFIG, R.DEFINE_METRIC, R.DEFINE_METRIC, R.HISTORY, R.ALERT, R.CONSOLE,
    R.SUMMARY, R.HEARTBEAT, R.HISTORY, R.SUMMARY, R.EXIT,
    R.RESUME, R.META, R.CONFIG, R.CONFIG, R.HISTORY, R.SUMMARY, R.EXIT,
]  # fmt: skip


def canon(value: Any) -> Any:
    """Replace NaN (which never equals itself) by the string ``"NaN"``, recursively."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, (list, tuple)):
        return [canon(v) for v in value]
    if isinstance(value, dict):
        return {k: canon(v) for k, v in value.items()}
    return value


@pytest.fixture
def golden() -> RunState:
    state = RunState()
    state.feed(read_frames(GOLDEN_V1).records)
    return state


def test_golden_v1_header_and_record_kinds() -> None:
    data = GOLDEN_V1.read_bytes()
    assert data[:12] == b"\x89TRKLOG\n\x01\x00\x00\x00"
    assert FORMAT_VERSION >= 1
    read = read_frames(GOLDEN_V1)
    assert not read.torn
    assert read.end == read.size == len(data)
    assert [rec[0] for _, rec in read.records] == KINDS
    assert read.records[0][0] == HEADER_SIZE


def test_golden_v1_rows_and_rewind(golden: RunState) -> None:
    assert canon(golden.rows) == SESSION_1_ROWS[:7] + SESSION_2_ROWS
    assert canon(golden.superseded) == SESSION_1_ROWS[7:]
    assert golden.max_step == 11
    assert golden.sessions == 2


def test_golden_v1_run_config_and_capture(golden: RunState) -> None:
    assert golden.meta == {
        "id": "golden", "project": "compat", "entity": "team", "name": "golden-run",
        "group": "grp", "job_type": "train", "tags": ["baseline", "v1"],
        "notes": "format v1 golden log", "created": T0, "pid": 5353, "host": "golden-host-2",
        "start_time": 654321, "mode": "offline", "format_version": 1,
        "tracker_version": "0.1.0", "sweep_id": None,
    }  # fmt: skip
    assert golden.config == {"lr": 0.0005, "batch_size": 32, "model": {"layers": [64, 32], "act": "relu"}}
    assert golden.capture["pid"] == 5353
    assert golden.capture["argv"] == ["train.py", "--resume"]
    assert golden.capture["git"]["commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert golden.capture["env"] == {"TRACKER_PROJECT": "compat", "CUDA_VISIBLE_DEVICES": "0"}


def test_golden_v1_summary_exit_and_events(golden: RunState) -> None:
    assert golden.summary == {
        "loss": {"min": 0.19, "last": 0.19}, "acc": 0.81, "epoch": 2, "val/loss": 0.4,
        "_step": 11, "_timestamp": T0 + 105, "_runtime": 5.0,
    }  # fmt: skip
    assert golden.exit == {"state": "finished", "exit_code": 0, "ts": T0 + 130.0, "runtime": 30.0}
    assert golden.state == "finished"
    assert golden.last_time == T0 + 130.0
    assert golden.alerts == [
        {"title": "loss plateau", "text": "loss < 0.5", "level": "WARN", "ts": T0 + 5.5, "step": 5}
    ]
    assert golden.metrics == {
        "loss": {"name": "loss", "summary": ["min", "last"], "goal": "minimize"},
        "val/*": {"name": "val/*", "step_metric": "epoch", "step_sync": True},
    }
    assert golden.console == [[T0 + 5.6, 0, "epoch 0 done"], [T0 + 5.7, 1, "warning: lr is high"]]


def test_golden_v1_first_session_alone() -> None:
    # Everything up to the first exit record: what a reader saw before the resume.
    read = read_frames(GOLDEN_V1)
    state = RunState()
    state.feed(read.records[: KINDS.index(R.RESUME)])
    assert canon(state.rows) == SESSION_1_ROWS
    assert state.exit == {"state": "preempted", "exit_code": 143, "ts": T0 + 30.0, "runtime": 30.0}
    assert state.summary["_step"] == 9
    assert state.summary["grad_norm"] == INF
    assert state.config["opt"] == "adam"
    assert state.meta["pid"] == 4242


def test_golden_v1_every_cut_reads_the_whole_records_before_it() -> None:
    data = GOLDEN_V1.read_bytes()
    full = scan(data, HEADER_SIZE)
    ends = [off for off, _ in full.records[1:]] + [len(data)]
    for cut in range(HEADER_SIZE, len(data) + 1):
        read = scan(data[:cut], HEADER_SIZE)
        whole = sum(1 for end in ends if end <= cut)
        assert canon(read.records) == canon(full.records[:whole])
        assert read.torn == (cut != read.end)


def test_golden_v1_reader_rules_2_every_damaged_frame_is_a_gap() -> None:
    """Reader rules 2: a flipped bit in any frame but the last ones costs that frame only."""
    data = GOLDEN_V1.read_bytes()
    full = scan(data, HEADER_SIZE, resync=True)
    starts = [off for off, _ in full.records]
    ends = [*starts[1:], len(data)]
    for i in range(len(starts) - 1):  # damage in the last frame is a torn tail
        damaged = bytearray(data)
        damaged[starts[i] + 9] ^= 0x01  # the payload's second byte
        read = scan(bytes(damaged), HEADER_SIZE, resync=True)
        assert not read.torn, i
        assert canon(read.records) == canon(full.records[:i] + full.records[i + 1 :]), i
        assert [(p["kind"], p["offset"], p["bytes"]) for p in read.problems] == [
            ("gap", starts[i], ends[i] - starts[i])
        ], i


def test_golden_v1_can_be_resumed_by_this_tracker(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_DISABLE_GIT", "1")
    log = root / "projects" / "compat" / "runs" / "golden" / "run.tlog"
    log.parent.mkdir(parents=True)
    shutil.copyfile(GOLDEN_V1, log)
    run = tracker.init(project="compat", id="golden", resume="must")
    assert run.resumed
    assert run.step == 12
    assert dict(run.config) == {"lr": 0.0005, "batch_size": 32, "model": {"layers": [64, 32], "act": "relu"}}
    for i in range(3):
        run.log({"loss": 0.1 - 0.01 * i})
    run.finish()

    assert log.read_bytes().startswith(GOLDEN_V1.read_bytes())  # append-only
    read = read_frames(log)
    assert not read.torn
    state = RunState()
    state.feed(read.records)
    assert [r[0] for r in state.rows] == list(range(15))
    assert canon(state.rows[:12]) == SESSION_1_ROWS[:7] + SESSION_2_ROWS
    assert [r[0] for r in state.superseded] == [7, 8, 9]
    assert state.sessions == 3
    assert state.exit is not None
    assert state.exit["state"] == "finished"
