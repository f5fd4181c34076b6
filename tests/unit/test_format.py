"""The run-log format (docs/format.md): header, frames, torn tails, repair, versions."""

from __future__ import annotations

import itertools
import random
import struct
import zlib
from pathlib import Path
from typing import Any

import msgpack
import pytest

import tracker
from tracker.errors import CorruptRecordError, StorageError
from tracker.storage._format import (
    FORMAT_VERSION,
    HEADER_SIZE,
    MAGIC,
    R,
    file_header,
    frame,
    read_frames,
    repair,
    scan,
)
from tracker.storage._replay import RunState

SEED = 20_000


def pack(record: list[Any]) -> bytes:
    return msgpack.packb(record, use_bin_type=True)


def history(keys: list[str], rows: list[tuple[int, float, list[Any]]]) -> list[Any]:
    """A HISTORY record with one key table, as the writer encodes it."""
    return [R.HISTORY, [keys], [[0, step, ts, *values] for step, ts, values in rows]]


def build_log(records: list[list[Any]]) -> tuple[bytes, list[int]]:
    """The bytes of a log holding ``records`` and the offset where each frame starts."""
    out = bytearray(file_header())
    starts = []
    for rec in records:
        starts.append(len(out))
        out += frame(pack(rec))
    return bytes(out), starts


def random_records(n: int, rng: random.Random) -> list[list[Any]]:
    """``n`` records of assorted kinds and sizes (a few bytes to about 1 KB)."""
    records: list[list[Any]] = []
    step = 0
    for _ in range(n):
        kind = rng.random()
        if kind < 0.7:
            rows = []
            for _ in range(rng.randint(1, 8)):
                rows.append((step, 1.7e9 + step, [rng.random(), "x" * rng.randint(0, 30)]))
                step += 1
            records.append(history(["loss", "tag"], rows))
        elif kind < 0.8:
            records.append([R.HEARTBEAT, 1.7e9 + step])
        elif kind < 0.9:
            records.append([R.CONSOLE, [[1.7e9, 0, "y" * rng.randint(0, 1000)]]])
        else:
            records.append([R.SUMMARY, {"_step": step, "loss": rng.random()}])
    return records


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------- header & frame


def test_file_header_bytes() -> None:
    head = file_header()
    assert len(head) == HEADER_SIZE == 16
    assert head[:8] == MAGIC == b"\x89TRKLOG\n"
    assert struct.unpack("<HH", head[8:12]) == (FORMAT_VERSION, 0) == (1, 0)
    assert struct.unpack("<I", head[12:]) == (zlib.crc32(head[:12]),)


def test_frame_bytes() -> None:
    payload = pack([R.HEARTBEAT, 1.5])
    data = frame(payload)
    length = struct.pack("<I", len(payload))
    assert data[:4] == length
    assert data[4:8] == struct.pack("<I", zlib.crc32(payload, zlib.crc32(length)))
    assert data[4:8] == struct.pack("<I", zlib.crc32(length + payload))
    assert data[8:] == payload


def test_frame_rejects_an_empty_payload() -> None:
    with pytest.raises(StorageError, match="outside"):
        frame(b"")


def test_frame_and_scan_round_trip(tmp_path: Path) -> None:
    records = random_records(200, random.Random(SEED))
    data, starts = build_log(records)
    got = scan(data, HEADER_SIZE)
    assert not got.torn
    assert got.end == got.size == len(data)
    assert got.records == list(zip(starts, records, strict=True))

    read = read_frames(write(tmp_path / "run.tlog", data))
    assert not read.torn
    assert read.end == read.size == len(data)
    assert read.records == got.records


def test_read_from_an_offset_continues_a_read(tmp_path: Path) -> None:
    records = random_records(100, random.Random(SEED + 1))
    data, starts = build_log(records)
    log = write(tmp_path / "run.tlog", data)
    first = read_frames(log)
    # An incremental reader resumes at any frame boundary, without the header.
    for start in (starts[1], starts[50], starts[-1], len(data)):
        rest = read_frames(log, offset=start)
        assert rest.records == [r for r in first.records if r[0] >= start]
        assert rest.end == len(data)
        assert not rest.torn


# ---------------------------------------------------------------------------- torn tails


def test_cut_at_random_offsets_returns_the_whole_records_before_the_cut(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    records = random_records(2000, rng)
    data, starts = build_log(records)
    ends = [*starts[1:], len(data)]
    cuts = rng.sample(range(HEADER_SIZE, len(data)), 320)
    cuts += rng.sample(ends, 20)  # cuts exactly at a frame end are not torn
    log = tmp_path / "run.tlog"
    torn = 0
    for cut in cuts:
        whole = sum(1 for end in ends if end <= cut)
        read = read_frames(write(log, data[:cut]))
        assert [rec for _, rec in read.records] == records[:whole], f"cut at {cut}"
        assert read.end == (ends[whole - 1] if whole else HEADER_SIZE)
        assert read.size == cut
        assert read.torn == (cut != read.end), f"cut at {cut}"
        torn += read.torn
    assert torn >= 300


def test_a_zeroed_region_at_the_end_is_torn(tmp_path: Path) -> None:
    # What a file system may leave after a crash: the size grew, the data never landed.
    records = random_records(50, random.Random(SEED + 2))
    data, starts = build_log(records)
    for zeros in (1, 7, 8, 4096):
        read = read_frames(write(tmp_path / "run.tlog", data + b"\0" * zeros))
        assert read.torn
        assert read.end == len(data)
        assert [rec for _, rec in read.records] == records
    # The last frame's bytes zeroed in place.
    zeroed = data[: starts[-1]] + b"\0" * (len(data) - starts[-1])
    read = read_frames(write(tmp_path / "run.tlog", zeroed))
    assert read.torn
    assert read.end == starts[-1]
    assert [rec for _, rec in read.records] == records[:-1]


@pytest.mark.parametrize("where", ["length", "crc", "payload"])
def test_a_damaged_frame_stops_the_read_there_without_resync(tmp_path: Path, where: str) -> None:
    """Reader rules 1 (and a batch sent to the server): never skip past damaged bytes."""
    records = random_records(50, random.Random(SEED + 3))
    data, starts = build_log(records)
    pos = starts[20] + {"length": 0, "crc": 5, "payload": 9}[where]
    damaged = bytearray(data)
    damaged[pos] ^= 0x40
    read = read_frames(write(tmp_path / "run.tlog", bytes(damaged)), resync=False)
    assert read.torn
    assert read.end == starts[20]
    assert [rec for _, rec in read.records] == records[:20]


def test_a_checksummed_payload_that_is_not_msgpack_is_a_corrupt_record() -> None:
    """Reader rules 2: its length is trustworthy (the CRC covers it), so reading goes on."""
    data = file_header() + frame(pack([R.HEARTBEAT, 1.0])) + frame(b"\xc1")  # 0xc1: never used
    read = scan(data + frame(pack([R.HEARTBEAT, 2.0])), HEADER_SIZE)
    assert not read.torn
    assert [rec for _, rec in read.records] == [[R.HEARTBEAT, 1.0], [R.HEARTBEAT, 2.0]]
    assert [(p["kind"], p["offset"]) for p in read.problems] == [("corrupt", len(data) - 9)]


# ---------------------------------------------------------------------------- repair


def test_repair_truncates_and_keeps_the_tail_aside(tmp_path: Path) -> None:
    records = random_records(30, random.Random(SEED + 4))
    data, _ = build_log(records)
    tail = frame(pack([R.HEARTBEAT, 2.0]))[:-3]
    log = write(tmp_path / "run.tlog", data + tail)
    result = repair(log)
    assert result.torn
    assert result.end == len(data)
    assert log.read_bytes() == data
    aside = tmp_path / f"run.tlog.torn-{len(data)}"
    assert aside.read_bytes() == tail
    # A clean log is left alone.
    again = repair(log)
    assert not again.torn
    assert log.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.tlog", aside.name]


@pytest.mark.parametrize("tail", ["half-frame", "zeros", "huge-length"])
def test_a_reopened_run_appends_cleanly_after_a_torn_tail(root: Path, tail: str) -> None:
    run = tracker.init(project="p", id="torn", config={"lr": 0.1})
    for i in range(100):
        run.log({"i": i, "session": 1})
    run.finish()
    log = Path(run.dir) / "run.tlog"
    size = log.stat().st_size
    garbage = {
        "half-frame": frame(pack(history(["i"], [(100, 1.0, [100])])))[:-5],
        "zeros": b"\0" * 1000,
        "huge-length": struct.pack("<II", 1 << 29, 0) + b"abc",
    }[tail]
    with open(log, "ab") as f:
        f.write(garbage)

    run = tracker.init(project="p", id="torn", resume="must")
    assert run.resumed
    assert run.step == 100
    assert dict(run.config) == {"lr": 0.1}
    for i in range(100, 150):
        run.log({"i": i, "session": 2})
    run.finish()

    read = read_frames(log)
    assert not read.torn
    state = RunState()
    state.feed(read.records)
    assert [r[0] for r in state.rows] == list(range(150))
    assert [r[2]["i"] for r in state.rows] == list(range(150))
    assert [r[2]["session"] for r in state.rows] == [1] * 100 + [2] * 50
    assert state.sessions == 2
    assert state.exit is not None
    assert state.exit["state"] == "finished"
    assert (log.parent / f"run.tlog.torn-{size}").read_bytes() == garbage


# ---------------------------------------------------------------------------- header errors


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04", "shorter than its header"),
        (b"PK\x03\x04" + bytes(12), "bad header"),
        (b"\x89TRKLOX\n" + file_header()[8:], "bad header"),
        (file_header()[:12] + b"\0\0\0\0", "bad header"),
        (file_header()[:9] + b"\x01" + file_header()[10:], "bad header"),  # version bit, old CRC
    ],
)
def test_a_bad_header_raises(tmp_path: Path, data: bytes, message: str) -> None:
    body = data if len(data) < HEADER_SIZE else data + frame(pack([R.HEARTBEAT, 1.0]))
    log = write(tmp_path / "run.tlog", body)
    with pytest.raises(CorruptRecordError, match=message) as info:
        read_frames(log)
    assert info.value.path == str(log)


@pytest.mark.parametrize("cut", [0, 1, 10, HEADER_SIZE - 1])
def test_a_log_killed_while_writing_its_header_reads_empty(tmp_path: Path, cut: int) -> None:
    log = write(tmp_path / "run.tlog", file_header()[:cut])
    result = read_frames(log)
    assert result.records == []
    assert result.end == 0
    assert result.torn is (cut > 0)


def test_a_run_killed_before_its_header_can_be_resumed_as_new(root: Path) -> None:
    import tracker

    first = tracker.init(project="p", id="early")
    first.finish()
    log = Path(first.dir) / "run.tlog"
    log.write_bytes(file_header()[:5])
    run = tracker.init(project="p", id="early", resume="allow")
    run.log({"x": 1})
    run.finish()
    state = RunState()
    state.feed(read_frames(log).records)
    assert [r[2] for r in state.rows] == [{"x": 1}]
    assert state.sessions == 1


def test_a_newer_version_is_rejected_with_a_clear_message(tmp_path: Path) -> None:
    log = write(tmp_path / "run.tlog", file_header(FORMAT_VERSION + 1) + frame(pack([R.HEARTBEAT, 1.0])))
    with pytest.raises(CorruptRecordError) as info:
        read_frames(log)
    message = str(info.value)
    assert f"v{FORMAT_VERSION + 1}" in message
    assert f"v{FORMAT_VERSION}" in message
    assert "newer" in message
    assert "upgrade tracker" in message
    # repair() reads first: a writer never appends to a log it cannot read.
    with pytest.raises(CorruptRecordError):
        repair(log)


def test_a_missing_log_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        read_frames(tmp_path / "absent.tlog")


# ---------------------------------------------------------------------------- replay rules


def test_unknown_record_types_are_skipped() -> None:
    known = [
        [R.RUN, {"id": "a", "created": 1.0}],
        history(["x"], [(0, 2.0, [1]), (1, 3.0, [2])]),
        [R.EXIT, {"state": "finished", "exit_code": 0, "ts": 4.0, "runtime": 3.0}],
    ]
    plain, extended = RunState(), RunState()
    plain.feed(list(enumerate(known)))
    extended.feed(list(enumerate([known[0], [99, {"future": True}], known[1], [5], known[2], [200, 1, 2]])))
    assert vars(plain) == vars(extended)
    assert [r[0] for r in extended.rows] == [0, 1]


def test_resume_rewind_moves_later_rows_to_superseded() -> None:
    state = RunState()
    state.apply([R.RUN, {"id": "a", "created": 1.0}])
    state.apply(history(["x"], [(s, 10.0 + s, [s]) for s in range(10)]))
    state.apply([R.EXIT, {"state": "failed", "exit_code": 1, "ts": 30.0, "runtime": 29.0}])
    state.apply([R.RESUME, {"ts": 40.0, "pid": 2, "rewind": 5, "step": 6}])
    assert state.exit is None
    assert state.sessions == 2
    assert state.max_step == 5
    assert [r[0] for r in state.superseded] == [6, 7, 8, 9]
    state.apply(history(["x"], [(s, 50.0 + s, [-s]) for s in range(6, 12)]))
    # A rewind past the last step hides nothing; a resume without rewind hides nothing.
    state.apply([R.RESUME, {"ts": 70.0, "pid": 3, "rewind": 100, "step": 12}])
    state.apply([R.RESUME, {"ts": 80.0, "pid": 4, "rewind": None, "step": 12}])
    assert [r[0] for r in state.rows] == list(range(12))
    assert [r[2]["x"] for r in state.rows] == [0, 1, 2, 3, 4, 5, -6, -7, -8, -9, -10, -11]
    assert [r[0] for r in state.superseded] == [6, 7, 8, 9]
    assert state.max_step == 11
    assert state.sessions == 4
    assert state.meta["pid"] == 4
    assert state.last_time == 80.0


def test_folding_in_pieces_equals_folding_at_once(tmp_path: Path) -> None:
    records = random_records(300, random.Random(SEED + 5))
    data, starts = build_log(records)
    log = write(tmp_path / "run.tlog", data)
    whole = RunState()
    whole.feed(read_frames(log).records)
    pieces = RunState()
    bounds = [0, starts[7], starts[100], starts[299], len(data)]
    for start, stop in itertools.pairwise(bounds):
        pieces.feed([r for r in read_frames(log, offset=start).records if r[0] < stop])
    assert vars(whole) == vars(pieces)


def test_resume_renames_only_what_it_names(root: Path) -> None:
    state = RunState()
    state.apply([R.RUN, {"id": "a", "name": "first", "tags": ["t1"], "notes": "n1", "pid": 1}])
    state.apply([R.RESUME, {"ts": 1.0, "pid": 2, "name": "second", "tags": None, "notes": None}])
    assert (state.meta["name"], state.meta["tags"], state.meta["notes"]) == ("second", ["t1"], "n1")
    assert state.meta["pid"] == 2

    # And through init: a name given when resuming sticks for later sessions.
    tracker.init(project="p", id="named", name="first", tags=["t1"]).finish()
    tracker.init(project="p", id="named", resume="must", name="second", tags=["t2"]).finish()
    run = tracker.init(project="p", id="named", resume="must")
    assert (run.name, run.tags) == ("second", ("t2",))
    run.finish()


def test_summary_tail_holds_keys_logged_after_the_last_snapshot() -> None:
    state = RunState()
    state.apply([R.HISTORY, [["a", "b"], ["a"]], [[0, 0, 1.0, 1, 2], [1, 1, 2.0, 3], [0, 2, 3.0, 5, 6]]])
    assert state.summary_tail == {"a": 5, "b": 6}
    state.apply([R.SUMMARY, {"a": 5, "b": 6}])
    assert state.summary_tail == {}
    state.apply([R.HISTORY, [["a"], ["a", "b"]], [[0, 3, 4.0, 7], [1, 4, 5.0, 8, 9], [0, 5, 6.0, 10]]])
    assert state.summary_tail == {"a": 10, "b": 9}


def test_resume_after_a_crash_restores_values_logged_after_the_last_summary(root: Path) -> None:
    import tracker

    run = tracker.init(project="p", id="tail", settings={"stats_interval": 0})
    for i in range(5):
        run.log({"loss": float(i)})
    run._writer.flush()
    # A crash: no exit record and no summary snapshot after the rows.
    run._finished = True
    run._writer.close({"state": "finished"}, 5.0)
    for hook in run._after_close:  # gives the run's lease back, as the crashed process's death would
        hook()
    log = Path(run.dir) / "run.tlog"
    good = [off for off, rec in read_frames(log).records if rec[0] == R.HISTORY][-1]
    end = read_frames(log).records
    cut = next(off for off, rec in end if off > good)
    with open(log, "r+b") as f:
        f.truncate(cut)
    from tracker import _process

    _process.forget(run)
    resumed = tracker.init(project="p", id="tail", resume="must")
    assert resumed.step == 5
    assert resumed.summary["loss"] == 4.0
    resumed.finish()


def test_exit_is_the_last_record_even_when_finish_races_capture(root: Path) -> None:
    import tracker

    run = tracker.init(project="p", settings={"stats_interval": 0, "flush_interval": 60})
    run.log({"a": 1})
    run.finish()
    records = [rec for _off, rec in read_frames(Path(run.dir) / "run.tlog").records]
    kinds = [rec[0] for rec in records]
    assert kinds[-1] == R.EXIT
    assert R.META in kinds
    assert kinds.count(R.EXIT) == 1
