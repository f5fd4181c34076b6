"""Row codecs of the index: run rows, chunk rows, and series assembled from chunks.

Kept apart from :mod:`tracker.storage._sql_index` (ingest transactions, queries) so that
each stays small; nothing here touches a connection, so the SQLite and PostgreSQL indexes
store exactly the same rows. The summary a run row carries follows
:mod:`tracker.storage._summary_rule`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from tracker.errors import CorruptRecordError, StorageError
from tracker.storage._base import RunRecord, Series
from tracker.storage._format import HEADER_SIZE, LogRead, no_writer, parse_header, scan, shift
from tracker.storage._ingest import (
    CHUNK_POINTS,
    OBJECT_CHUNK_POINTS,
    Delta,
    Objects,
    Points,
    chunk_bounds,
    pack_ints,
    pack_objects,
    stats,
    unpack_ints,
    unpack_objects,
)
from tracker.storage._replay import RunState
from tracker.storage._summary_rule import effective_summary

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__: list[str] = []

#: Chunk kinds: numeric points, other values.
NUM: Final = 0
OBJ: Final = 1


class Timestamps(Protocol):
    """Where a series gets its numeric timestamps from (loaded on first use)."""

    def blobs(self) -> list[bytes]:
        """The timestamp blob of each numeric chunk, in order."""
        ...

    def load(self) -> NDArray[np.float64]:
        """All timestamps, concatenated."""
        ...


def packb(value: Any) -> bytes:
    import msgpack

    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def unpackb(blob: bytes | None) -> Any:
    if blob is None:
        return None
    import msgpack

    return msgpack.unpackb(blob, raw=False, strict_map_key=False)


def read_slice(path: Path, offset: int, limit: int) -> LogRead:
    """Whole frames of ``path`` from ``offset``, at most ``limit`` bytes unless one frame is bigger."""
    p = str(path)
    try:
        with open(p, "rb") as f:
            if offset <= 0:
                parse_header(f.read(HEADER_SIZE), p)
                offset = HEADER_SIZE
            f.seek(0, os.SEEK_END)
            size = f.tell()
            ask = no_writer(p)
            while True:
                f.seek(offset)
                data = f.read(limit)
                out = scan(data, 0, resync=ask, eof=offset + len(data) >= size)
                if out.records or out.problems or len(data) < limit:
                    break
                limit *= 2  # a single frame larger than the slice
    except FileNotFoundError as exc:
        raise StorageError(f"run log {p} does not exist", path=p) from exc
    except CorruptRecordError:
        raise
    except OSError as exc:
        raise StorageError(f"cannot read run log {p}: {exc}", path=p) from exc
    shift(out, offset)
    out.size = max(size, offset + len(data))
    # A frame cut by the slice limit is not a torn tail: only the file's end can be.
    out.torn = out.torn and len(data) < limit
    return out


def run_blobs(delta: Delta) -> tuple[float, bytes, bytes]:
    """``(created_at, record, extra)`` of a run row after ``delta`` (see the index docstrings)."""
    st = delta.state
    meta = st.meta
    exit_rec = st.exit or {}
    extra = {
        "summary": st.summary,
        "summary_tail": st.summary_tail,
        "meta": meta,
        "exit": st.exit,
        "alerts": st.alerts,
        "capture": st.capture,
        "metrics": st.metrics,
        "files": st.files,
        "artifacts": st.artifacts,
    }
    pid = meta.get("pid")
    start_time = meta.get("start_time")
    created = float(meta.get("created") or 0.0)
    # Everything a listing needs in one msgpack array: one column to fetch and one
    # C-level decode per run (per-column fetches cost more than the data).
    record = [
        meta.get("name"),
        meta.get("entity"),
        meta.get("group"),
        meta.get("job_type"),
        list(meta.get("tags") or []),
        meta.get("notes"),
        meta.get("sweep_id"),
        created,
        st.state,
        exit_rec.get("exit_code"),
        exit_rec.get("runtime"),
        meta.get("host"),
        int(pid) if isinstance(pid, int) else None,
        int(start_time) if isinstance(start_time, int) else None,
        st.last_time,
        delta.next_seq,
        st.max_step,
        st.sessions,
        st.config,
        effective_summary(st),
        st.problems,
    ]
    return created, packb(record), packb(extra)


def restore_state(row: tuple[Any, ...]) -> RunState:
    """The RunState to continue folding from: ``row`` is (..., record, extra)."""
    record = unpackb(row[6]) or []
    extra = unpackb(row[7]) or {}
    state = RunState(keep_rows=False)
    state.summary = extra.get("summary") or {}
    state.summary_tail = extra.get("summary_tail") or {}
    state.meta = extra.get("meta") or {}
    state.exit = extra.get("exit")
    state.alerts = extra.get("alerts") or []
    state.capture = extra.get("capture") or {}
    state.metrics = extra.get("metrics") or {}
    state.files = extra.get("files") or []
    state.artifacts = extra.get("artifacts") or []
    if record:
        state.last_time = float(record[14] or 0.0)
        state.max_step = int(record[16])
        state.sessions = int(record[17] or 0)
        state.config = record[18] or {}
        state.problems = list(record[20]) if len(record) > 20 else []
    return state


def run_record(row: tuple[Any, ...]) -> RunRecord:
    project, run_id, blob = row
    (name, entity, group, job_type, tags, notes, sweep_id, created_at, state, exit_code, runtime, host,
     pid, start_time, last_time, rows_logged, max_step, sessions, config, summary,
     *rest) = unpackb(blob)  # fmt: skip
    return RunRecord(
        project,
        run_id,
        name or run_id,
        entity,
        group,
        job_type,
        tuple(tags),
        notes,
        sweep_id,
        created_at,
        state,
        exit_code,
        runtime,
        host,
        pid,
        start_time,
        last_time,
        rows_logged,
        max_step,
        sessions,
        config,
        summary,
        tuple(rest[0]) if rest else (),
    )


def numeric_row(rid: int, stream: int, key: str, cno: int, p: Points, a: int, b: int) -> tuple[Any, ...]:
    seq = p.seq[a:b]
    step = p.step[a:b]
    val = p.val[a:b]
    seq0, seq_stride, seqs = pack_ints(seq)
    step0, step_stride, steps = pack_ints(step)
    lo, hi, first, last = stats(val)
    is_int = int(p.ints is not None and bool(p.ints[a:b].all()))
    return (
        rid, stream, key, NUM, cno, b - a, int(seq[0]), int(seq[-1]), int(step.min()), int(step.max()),
        is_int, lo, hi, first, last, seq0, seq_stride, seqs, step0, step_stride, steps,
        p.ts[a:b].astype("<f8").tobytes(), val.astype("<f8").tobytes(),
    )  # fmt: skip


def object_row(rid: int, stream: int, key: str, cno: int, o: Objects, a: int, b: int) -> tuple[Any, ...]:
    seq = o.seq[a:b]
    step = o.step[a:b]
    seq0, seq_stride, seqs = pack_ints(seq)
    step0, step_stride, steps = pack_ints(step)
    return (
        rid, stream, key, OBJ, cno, b - a, int(seq[0]), int(seq[-1]), int(step.min()), int(step.max()), 0,
        None, None, None, None, seq0, seq_stride, seqs, step0, step_stride, steps,
        o.ts[a:b].astype("<f8").tobytes(), pack_objects(o.values[a:b]),
    )  # fmt: skip


def append_rows(
    rid: int, stream: int, key: str, kind: int, last: Any, new: Points | Objects
) -> list[tuple[Any, ...]]:
    """Chunk rows that append ``new`` after the key's last chunk ``last`` (``(cno, *chunk columns)``).

    A last chunk with room is rewritten with the new points appended (the first row then
    has its ``cno`` and replaces it); otherwise the rows start a new chunk.
    """
    import numpy as np

    size = CHUNK_POINTS if kind == NUM else OBJECT_CHUNK_POINTS
    cno = 0
    if last is not None:
        cno = int(last[0])
        if last[1] < size:
            if isinstance(new, Points):
                old = decode_numeric(last[1:])
                ints = None
                if new.ints is not None or old.ints is not None:
                    ints = np.concatenate(
                        [
                            old.ints if old.ints is not None else np.zeros(len(old), dtype=bool),
                            new.ints if new.ints is not None else np.zeros(len(new), dtype=bool),
                        ]
                    )
                new = Points(
                    np.concatenate([old.seq, new.seq]),
                    np.concatenate([old.step, new.step]),
                    np.concatenate([old.ts, new.ts]),
                    np.concatenate([old.val, new.val]),
                    ints,
                )
            else:
                objs = decode_objects(last[1:])
                new = Objects(
                    np.concatenate([objs.seq, new.seq]),
                    np.concatenate([objs.step, new.step]),
                    np.concatenate([objs.ts, new.ts]),
                    objs.values + new.values,
                )
        else:
            cno += 1
    rows = []
    for a, b in chunk_bounds(len(new), 0, size):
        if isinstance(new, Points):
            rows.append(numeric_row(rid, stream, key, cno, new, a, b))
        else:
            rows.append(object_row(rid, stream, key, cno, new, a, b))
        cno += 1
    return rows


def rewound_row(
    rid: int, stream: int, key: str, kind: int, cno: int, cols: Any, step: int
) -> tuple[Any, ...] | None:
    """The chunk ``cols`` without its points past ``step`` (a rewind), or None when none is left."""
    if kind == NUM:
        pts = decode_numeric(cols)
        keep = pts.step <= step
        if not keep.any():
            return None
        kept = Points(
            pts.seq[keep],
            pts.step[keep],
            pts.ts[keep],
            pts.val[keep],
            None if pts.ints is None else pts.ints[keep],
        )
        return numeric_row(rid, stream, key, cno, kept, 0, len(kept))
    objs = decode_objects(cols)
    idx = [i for i, s in enumerate(objs.step.tolist()) if s <= step]
    if not idx:
        return None
    kept_objs = Objects(objs.seq[idx], objs.step[idx], objs.ts[idx], [objs.values[i] for i in idx])
    return object_row(rid, stream, key, cno, kept_objs, 0, len(kept_objs))


def decode_numeric(cols: Any) -> Points:
    import numpy as np

    n, seq0, seq_stride, seqs, step0, step_stride, steps, ts, vals, is_int = cols
    return Points(
        unpack_ints(seq0, seq_stride, seqs, n),
        unpack_ints(step0, step_stride, steps, n),
        np.frombuffer(ts, dtype="<f8"),
        np.frombuffer(vals, dtype="<f8"),
        np.ones(n, dtype=bool) if is_int else None,
    )


def decode_objects(cols: Any) -> Objects:
    import numpy as np

    n, seq0, seq_stride, seqs, step0, step_stride, steps, ts, vals, _is_int = cols
    return Objects(
        unpack_ints(seq0, seq_stride, seqs, n),
        unpack_ints(step0, step_stride, steps, n),
        np.frombuffer(ts, dtype="<f8"),
        unpack_objects(vals),
    )


def assemble_series(chunks: list[Any], objs: list[Objects], stamps: Timestamps) -> Series:
    """Assemble a key's chunks; numeric ``_step``/timestamps are decoded only when used."""
    import numpy as np

    if chunks and objs:
        # Mixed: decode everything now (timestamps included) and merge by row number.
        chunks = [(*c[:7], blob, *c[8:]) for c, blob in zip(chunks, stamps.blobs(), strict=True)]
    if not objs:
        values = np.concatenate([np.frombuffer(c[8], dtype="<f8") for c in chunks])
        is_int = all(c[9] for c in chunks)
        seq_range = _contiguous(chunks)
        seq = None if seq_range else np.concatenate([unpack_ints(c[1], c[2], c[3], c[0]) for c in chunks])

        def step() -> NDArray[np.int64]:
            return np.concatenate([unpack_ints(c[4], c[5], c[6], c[0]) for c in chunks])

        return Series(seq, step, stamps.load, values, is_int, seq_range)
    # Mixed or non-numeric: merge both kinds by row number into Python values.
    nums = [decode_numeric(c) for c in chunks]
    seq = np.concatenate([p.seq for p in nums] + [o.seq for o in objs])
    order = np.argsort(seq, kind="stable")
    merged: list[Any] = []
    for p in nums:
        merged.extend(int(v) for v in p.val.tolist()) if p.ints is not None else merged.extend(p.val.tolist())
    for o in objs:
        merged.extend(o.values)
    step_all = np.concatenate([p.step for p in nums] + [o.step for o in objs])
    ts_all = np.concatenate([p.ts for p in nums] + [o.ts for o in objs])
    return Series(seq[order], step_all[order], ts_all[order], [merged[i] for i in order.tolist()], False)


def _contiguous(chunks: list[Any]) -> tuple[int, int] | None:
    """``(first, stop)`` when the chunks' row numbers are one unbroken ``range``."""
    first = chunks[0][1]
    expect = first
    for n, seq0, stride, blob in (c[:4] for c in chunks):
        if seq0 != expect or blob is not None or (stride != 1 and n > 1):
            return None
        expect = seq0 + n
    return int(first), int(expect)


def slice_series(series: Series, min_seq: int | None, max_seq: int | None) -> Series:
    import numpy as np

    lo_seq = -(2**62) if min_seq is None else min_seq
    hi_seq = 2**62 if max_seq is None else max_seq
    values = series.values
    if series.seq_range is not None:
        first, stop = series.seq_range
        i = min(max(lo_seq - first, 0), stop - first)
        j = max(min(hi_seq - first, stop - first), i)
        if (i, j) == (0, stop - first):
            return series
        whole = series
        return Series(
            None,
            lambda: whole.step[i:j],
            lambda: whole.ts[i:j],
            values[i:j],
            series.is_int,
            (first + i, first + j),
        )
    seq = series.seq
    keep = (seq >= lo_seq) & (seq < hi_seq)
    if keep.all():
        return series
    idx = np.flatnonzero(keep)
    sliced: Any = values[idx] if not isinstance(values, list) else [values[k] for k in idx.tolist()]
    return Series(seq[idx], series.step[idx], series.ts[idx], sliced, series.is_int)
