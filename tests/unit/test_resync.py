"""Reader rules 2 (docs/format.md section 4.3): resynchronise past damaged bytes mid-log.

Before: one flipped bit in the middle of a log hid the rest of a finished run, which then
read as crashed. Now a reader skips the damaged bytes when valid frames follow (at least
3, or through the end of the file) and no live process holds the run's writer lease,
reports the gap (offset, bytes) as a problem and reads the rest; the torn-tail rule stands
at the tail, and ``repair()`` never cuts the records after a gap.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests._poison import run_record
from tracker.api import Api
from tracker.storage._format import (
    HEADER_SIZE,
    READER_RULES,
    R,
    file_header,
    frame,
    read_frames,
    repair,
)
from tracker.storage._rows import read_slice

SEED = 14_008
T0 = 1_700_000_000.0
EXIT = [R.EXIT, {"state": "finished", "exit_code": 0, "ts": T0 + 99, "runtime": 99.0}]


def build(records: list[Any]) -> tuple[bytes, list[int]]:
    out = bytearray(file_header())
    starts = []
    for rec in records:
        starts.append(len(out))
        out += frame(msgpack.packb(rec, use_bin_type=True))
    return bytes(out), starts


def finished_run(n: int = 40, run_id: str = "r") -> list[Any]:
    """RUN, ``n`` HISTORY frames of 4 rows each (steps 0..4n-1), SUMMARY, EXIT."""
    rng = random.Random(SEED)
    records: list[Any] = [run_record(run_id, "p")]
    for i in range(n):
        rows = [[0, 4 * i + j, T0 + 4 * i + j, rng.random(), "x" * rng.randint(0, 40)] for j in range(4)]
        records.append([R.HISTORY, [["loss", "tag"]], rows])
    records += [[R.SUMMARY, {"_step": 4 * n - 1}], EXIT]
    return records


def flip(data: bytes, pos: int, mask: int = 0x40) -> bytes:
    damaged = bytearray(data)
    damaged[pos] ^= mask
    return bytes(damaged)


def log_path(root: Path, run_id: str = "r") -> Path:
    path = root / "projects" / "p" / "runs" / run_id / "run.tlog"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_reader_rules_version() -> None:
    assert READER_RULES == 2


@pytest.mark.parametrize("where", ["length", "crc", "payload", "zeros"])
def test_a_flipped_bit_mid_log_is_a_gap_and_the_rest_is_read(root: Path, where: str) -> None:
    records = finished_run()
    data, starts = build(records)
    bad, after = starts[20], starts[21]
    if where == "zeros":
        damaged = data[:bad] + bytes(after - bad) + data[after:]
    else:
        damaged = flip(data, bad + {"length": 1, "crc": 5, "payload": 12}[where])
    path = log_path(root)
    path.write_bytes(damaged)
    read = read_frames(path)
    assert not read.torn
    assert read.end == len(data)
    assert [rec for _o, rec in read.records] == records[:20] + records[21:]
    assert [(p["kind"], p["offset"], p["bytes"]) for p in read.problems] == [("gap", bad, after - bad)]
    # The index and Api read the whole run: finished (not crashed), every row after the gap.
    run = Api(root).run("p/r")
    assert run.state == "finished"
    steps = [r["_step"] for r in run.history(pandas=False)]
    assert steps == [s for s in range(160) if not 76 <= s < 80]  # frame 20 held steps 76..79
    assert [(p["kind"], p["offset"], p["bytes"]) for p in run.problems] == [("gap", bad, after - bad)]


def test_damage_in_the_last_frames_is_a_torn_tail(tmp_path: Path) -> None:
    records = finished_run()
    data, starts = build(records)
    # Damage in the last frame: nothing valid follows.
    read = read_frames(_write(tmp_path, flip(data, starts[-1] + 10)))
    assert read.torn
    assert read.end == starts[-1]
    assert read.problems == []
    # Damage in the third-to-last frame: two valid frames run to the end of the file.
    read = read_frames(_write(tmp_path, flip(data, starts[-3] + 10)))
    assert not read.torn
    assert [(p["offset"], p["bytes"]) for p in read.problems] == [(starts[-3], starts[-2] - starts[-3])]
    # Two valid frames, then a torn frame: no resync (neither 3 frames nor through EOF).
    torn_tail = frame(msgpack.packb([R.HEARTBEAT, T0]))[:-2]
    read = read_frames(_write(tmp_path, flip(data, starts[-3] + 10) + torn_tail))
    assert read.torn
    assert read.end == starts[-3]
    assert read.problems == []


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "run.tlog"
    path.write_bytes(data)
    return path


def test_a_frame_cut_by_a_slice_is_never_resynchronised(tmp_path: Path) -> None:
    """A slice of a larger file ends mid-frame: that is not damage, and frames embedded in
    the cut frame's payload are never read as the log's own."""
    inner, _ = build(finished_run(5))
    records = [
        run_record("r", "p"),
        [R.FILES, []],
        [R.META, {"blob": inner[HEADER_SIZE:]}],
        *finished_run(5)[1:],
    ]
    data, _starts = build(records)
    path = _write(tmp_path, data)
    offset, seen = 0, []
    while True:
        read = read_slice(path, offset, 300)  # cuts the META frame (its payload holds frames)
        assert read.problems == []
        seen += [rec for _o, rec in read.records]
        if read.end >= read.size:
            break
        offset = read.end
    assert seen == records


@pytest.fixture
def lease_holder(root: Path) -> Iterator[subprocess.Popen[str]]:
    """A live process holding the writer lease of ``p/r`` (as ``init`` takes it)."""
    path = log_path(root)
    code = (
        "import sys; from tracker.storage._lease import acquire; "
        f"acquire({str(path)!r}); print('held', flush=True); sys.stdin.read()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    for f in (proc.stdin, proc.stdout):
        if f is not None and not f.closed:
            f.close()


def test_no_resync_while_a_writer_holds_the_lease(root: Path, lease_holder: subprocess.Popen[str]) -> None:
    records = finished_run()
    data, starts = build(records)
    path = log_path(root)
    path.write_bytes(flip(data, starts[20] + 12))
    read = read_frames(path)
    assert read.torn
    assert read.deferred
    assert read.end == starts[20]
    api = Api(root)
    run = api.run("p/r")
    assert run.problems == []
    assert run.max_step == 75  # rows up to the damage (frame 20 held 76..79); the writer may append
    # The writer dies; the file does not change, yet the next read resynchronises.
    assert lease_holder.stdin is not None
    lease_holder.stdin.close()
    lease_holder.wait(10)
    run = api.run("p/r")
    assert run.state == "finished"
    assert run.max_step == 159
    assert [p["kind"] for p in run.problems] == ["gap"]


def test_repair_keeps_a_mid_log_gap_and_cuts_only_the_torn_tail(root: Path) -> None:
    records = finished_run()
    data, starts = build(records)
    damaged = flip(data, starts[10] + 12)
    tail = frame(msgpack.packb([R.HEARTBEAT, T0 + 100]))[:-3]
    path = log_path(root)
    path.write_bytes(damaged + tail)
    result = repair(path)
    assert path.read_bytes() == damaged  # the gap and every frame after it stay
    assert (path.parent / f"run.tlog.torn-{len(damaged)}").read_bytes() == tail
    assert result.end == len(damaged)
    assert [(p["kind"], p["offset"]) for p in result.problems] == [("gap", starts[10])]
    # A log whose only damage is mid-log is left exactly as it is.
    again = repair(path)
    assert not again.torn
    assert path.read_bytes() == damaged


def test_resuming_a_run_with_a_mid_log_gap_keeps_every_later_record(root: Path) -> None:
    import tracker

    settings = tracker.Settings(disable_git=True)
    with tracker.init(project="p", id="g", settings=settings) as run:
        for step in range(600):
            run.log({"i": step}, step=step)
    path = root / "projects" / "p" / "runs" / "g" / "run.tlog"
    before = read_frames(path)
    history = [off for off, rec in before.records if rec[0] == R.HISTORY]
    assert len(history) >= 3
    bad = history[0]
    damaged = flip(path.read_bytes(), bad + 20)
    path.write_bytes(damaged)
    with tracker.init(project="p", id="g", resume="must", settings=settings) as run:
        assert run.step == 600  # the rows after the gap were read: nothing is logged twice
        run.log({"i": 600})
    data = path.read_bytes()
    assert data[: len(damaged)] == damaged  # nothing was cut
    after = Api(root).run("p/g")
    assert after.state == "finished"
    steps = [r["_step"] for r in after.history(pandas=False)]
    lost = {rec[2][j][1] for off, rec in before.records if off == bad for j in range(len(rec[2]))}
    assert steps == [s for s in range(601) if s not in lost]
    assert [(p["kind"], p["offset"]) for p in after.problems] == [("gap", bad)]


def test_a_megabyte_of_garbage_mid_log_is_one_gap(tmp_path: Path) -> None:
    """The search is near linear in the damaged bytes (a candidate needs the shape of a
    chain of frames before any checksum is computed)."""
    records = finished_run()
    data, starts = build(records)
    garbage = random.Random(SEED).randbytes(1 << 20)
    damaged = data[: starts[20]] + garbage + data[starts[20] :]
    read = read_frames(_write(tmp_path, damaged))
    assert [rec for _o, rec in read.records] == records
    assert [(p["kind"], p["offset"], p["bytes"]) for p in read.problems] == [("gap", starts[20], 1 << 20)]
