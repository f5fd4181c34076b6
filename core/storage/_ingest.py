"""From run-log records to column arrays: the backend-independent half of indexing.

:func:`fold` turns a slice of decoded records into a :class:`Delta`: run-level state
folded with :class:`~tracker.storage._replay.RunState`, plus, per ``(stream, key)``,
the new points as numpy columns (row number, step, timestamp, value) and the
non-numeric values as Python lists. A backend stores the columns in chunks (see
:func:`chunk_bounds`, :func:`pack_ints`) and applies rewinds in order.

Speed matters here (the target is 1M points/s): HISTORY frames already group rows by
key table, so each group becomes one 2-D float64 array built by numpy in C, after a
single C-level pass that checks every value is an int or a float. Only groups holding
other values (strings, bools, lists, media references) take the per-column path.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Final

from tracker.storage._format import R
from tracker.storage._replay import RunState

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__: list[str] = []

#: Points per numeric chunk (4096 x 32 bytes: a chunk's columns fit in two 64 KiB pages).
CHUNK_POINTS: Final = 4096
#: Values per chunk of non-numeric values (they may be large: tables, media references).
OBJECT_CHUNK_POINTS: Final = 1024
#: Largest integer a float64 holds exactly; larger ints are kept as Python objects.
_EXACT: Final = 2**53
_NUMERIC: Final = frozenset({int, float})
#: Stream numbers: logged rows and system-metric samples.
HISTORY_STREAM: Final = 0
EVENTS_STREAM: Final = 1


class Points:
    """New numeric points of one key, sorted by row number.

    ``ints`` flags, per point, a value logged as an int (None: no point was).
    """

    __slots__ = ("ints", "seq", "step", "ts", "val")

    def __init__(
        self,
        seq: NDArray[np.int64],
        step: NDArray[np.int64],
        ts: NDArray[np.float64],
        val: NDArray[np.float64],
        ints: NDArray[np.bool_] | None = None,
    ) -> None:
        self.seq = seq
        self.step = step
        self.ts = ts
        self.val = val
        self.ints = ints

    def __len__(self) -> int:
        return len(self.seq)


class Objects:
    """New non-numeric values of one key, sorted by row number."""

    __slots__ = ("seq", "step", "ts", "values")

    def __init__(
        self, seq: NDArray[np.int64], step: NDArray[np.int64], ts: NDArray[np.float64], values: list[Any]
    ) -> None:
        self.seq = seq
        self.step = step
        self.ts = ts
        self.values = values

    def __len__(self) -> int:
        return len(self.seq)


class Segment:
    """Points logged between two rewinds, by ``(stream, key)``."""

    __slots__ = ("numeric", "objects")

    def __init__(self) -> None:
        self.numeric: dict[tuple[int, str], Points] = {}
        self.objects: dict[tuple[int, str], Objects] = {}


class Delta:
    """What a slice of a log adds to the index, in log order.

    Attributes:
        ops: Segments of new points and rewinds (an ``int``: hide history rows with a
            step above it), to apply in order.
        state: The run's folded state after the slice.
        next_seq: Row number the next history row gets.
        next_sys: Row number the next system sample gets.
        records: Records in the slice.
    """

    __slots__ = ("next_seq", "next_sys", "ops", "records", "state")

    def __init__(
        self, ops: list[Segment | int], state: RunState, next_seq: int, next_sys: int, records: int
    ) -> None:
        self.ops = ops
        self.state = state
        self.next_seq = next_seq
        self.next_sys = next_sys
        self.records = records


class _Group:
    __slots__ = ("rows", "seqs")

    def __init__(self) -> None:
        self.rows: list[list[Any]] = []
        self.seqs: list[tuple[int, int] | list[int]] = []


class _Builder:
    """Collects packed rows per ``(stream, key table)`` until a segment ends."""

    def __init__(self) -> None:
        self.groups: dict[tuple[int, tuple[str, ...]], _Group] = {}
        self.max_step = -1

    def add(self, stream: int, tables: list[list[str]], packed: list[list[Any]], base: int) -> None:
        groups = self.groups
        if len(tables) == 1:
            key = (stream, tuple(tables[0]))
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group()
            group.rows.extend(packed)
            group.seqs.append((base, len(packed)))
            return
        split: dict[int, tuple[list[list[Any]], list[int]]] = {}
        for i, row in enumerate(packed):
            entry = split.get(row[0])
            if entry is None:
                entry = split[row[0]] = ([], [])
            entry[0].append(row)
            entry[1].append(base + i)
        for index, (rows, seqs) in split.items():
            key = (stream, tuple(tables[index]))
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group()
            group.rows.extend(rows)
            group.seqs.append(seqs)

    def finish(self) -> Segment:
        import numpy as np

        numeric: dict[tuple[int, str], list[Points]] = {}
        objects: dict[tuple[int, str], list[Objects]] = {}
        for (stream, keys), group in self.groups.items():
            seq = np.concatenate(
                [
                    np.arange(s[0], s[0] + s[1], dtype=np.int64)
                    if isinstance(s, tuple)
                    else np.asarray(s, np.int64)
                    for s in group.seqs
                ]
            )
            step = _columns(stream, keys, group.rows, seq, numeric, objects)
            if stream == HISTORY_STREAM and len(step):
                self.max_step = max(self.max_step, int(step.max()))
        self.groups = {}
        seg = Segment()
        for k, parts in numeric.items():
            seg.numeric[k] = parts[0] if len(parts) == 1 else _merge_points(parts)
        for k, oparts in objects.items():
            seg.objects[k] = oparts[0] if len(oparts) == 1 else _merge_objects(oparts)
        return seg


def _columns(
    stream: int,
    keys: tuple[str, ...],
    rows: list[list[Any]],
    seq: NDArray[np.int64],
    numeric: dict[tuple[int, str], list[Points]],
    objects: dict[tuple[int, str], list[Objects]],
) -> NDArray[np.int64]:
    """Split one key table's packed rows ``[table, step, ts, *values]`` into columns.

    Returns:
        The rows' steps.
    """
    import numpy as np

    if not rows:
        return np.zeros(0, dtype=np.int64)
    types = set(map(type, itertools.chain.from_iterable(rows)))
    if types <= _NUMERIC:
        # Fast path: every value is an int or a float; one C-level conversion.
        table = np.array(rows, dtype=np.float64)
        step = table[:, 1].astype(np.int64)
        ts = np.ascontiguousarray(table[:, 2])
        for j, key in enumerate(keys):
            col = np.ascontiguousarray(table[:, 3 + j])
            _add_numeric(numeric, objects, (stream, key), seq, step, ts, col, rows, 3 + j)
        return step
    cols = list(zip(*rows, strict=True))
    step = np.array(cols[1], dtype=np.int64)
    ts = np.array(cols[2], dtype=np.float64)
    for j, key in enumerate(keys):
        values = cols[3 + j]
        vtypes = set(map(type, values))
        if vtypes <= _NUMERIC:
            col = np.array(values, dtype=np.float64)
            _add_numeric(numeric, objects, (stream, key), seq, step, ts, col, rows, 3 + j)
            continue
        mask = np.fromiter((type(v) in _NUMERIC for v in values), dtype=bool, count=len(values))
        if mask.any():
            idx = np.flatnonzero(mask)
            col = np.array([values[i] for i in idx], dtype=np.float64)
            sub = [rows[i] for i in idx]
            _add_numeric(numeric, objects, (stream, key), seq[idx], step[idx], ts[idx], col, sub, 3 + j)
        other = np.flatnonzero(~mask)
        objects.setdefault((stream, key), []).append(
            Objects(seq[other], step[other], ts[other], [values[i] for i in other])
        )
    return step


def _add_numeric(
    numeric: dict[tuple[int, str], list[Points]],
    objects: dict[tuple[int, str], list[Objects]],
    key: tuple[int, str],
    seq: NDArray[np.int64],
    step: NDArray[np.int64],
    ts: NDArray[np.float64],
    col: NDArray[np.float64],
    rows: list[list[Any]],
    j: int,
) -> None:
    import numpy as np

    ints: NDArray[np.bool_] | None = None
    # An int column can only hide among columns whose values are all integral.
    if np.array_equal(col, np.trunc(col)):
        kinds = {type(r[j]) for r in rows}
        if int in kinds:
            if float in kinds:
                ints = np.fromiter((type(r[j]) is int for r in rows), dtype=bool, count=len(rows))
            else:
                ints = np.ones(len(rows), dtype=bool)
            if np.abs(col[ints]).max(initial=0.0) > _EXACT:
                # Too large for a float64: keep those as exact Python ints.
                big = np.abs(col) > _EXACT
                keep = np.flatnonzero(~big)
                move = np.flatnonzero(big)
                objects.setdefault(key, []).append(
                    Objects(seq[move], step[move], ts[move], [rows[i][j] for i in move])
                )
                seq, step, ts, col, ints = seq[keep], step[keep], ts[keep], col[keep], ints[keep]
                if not len(seq):
                    return
    numeric.setdefault(key, []).append(Points(seq, step, ts, col, ints))


def _merge_points(parts: list[Points]) -> Points:
    import numpy as np

    seq = np.concatenate([p.seq for p in parts])
    order = np.argsort(seq, kind="stable")
    ints = None
    if any(p.ints is not None for p in parts):
        ints = np.concatenate(
            [p.ints if p.ints is not None else np.zeros(len(p), dtype=bool) for p in parts]
        )[order]
    return Points(
        seq[order],
        np.concatenate([p.step for p in parts])[order],
        np.concatenate([p.ts for p in parts])[order],
        np.concatenate([p.val for p in parts])[order],
        ints,
    )


def _merge_objects(parts: list[Objects]) -> Objects:
    import numpy as np

    seq = np.concatenate([p.seq for p in parts])
    order = np.argsort(seq, kind="stable")
    values = [v for p in parts for v in p.values]
    return Objects(
        seq[order],
        np.concatenate([p.step for p in parts])[order],
        np.concatenate([p.ts for p in parts])[order],
        [values[i] for i in order],
    )


def fold(records: list[tuple[int, list[Any]]], state: RunState, next_seq: int, next_sys: int) -> Delta:
    """Fold a slice of records into ``state`` and collect its new points.

    Args:
        records: ``(offset, record)`` pairs, in log order.
        state: The run's state after the previous slice (updated in place).
        next_seq: Row number of the next history row.
        next_sys: Row number of the next system sample.
    """
    ops: list[Segment | int] = []
    builder = _Builder()
    apply = state.apply
    for _off, rec in records:
        kind = rec[0]
        if kind == R.HISTORY:
            packed = rec[2]
            if packed:
                builder.add(HISTORY_STREAM, rec[1], packed, next_seq)
                next_seq += len(packed)
                state.last_time = max(state.last_time, float(packed[-1][2]))
                _tail(state.summary_tail, rec[1], packed)
        elif kind == R.SYSTEM:
            samples = _system_rows(rec[1], next_sys)
            if samples[1]:
                builder.add(EVENTS_STREAM, samples[0], samples[1], next_sys)
                next_sys += len(samples[1])
        elif kind == R.CONSOLE:
            continue  # console output is read from the log by the dashboard, not indexed
        elif kind == R.RESUME:
            apply(rec)
            info = rec[1]
            for name in ("name", "notes", "tags"):
                if info.get(name) is not None:
                    state.meta[name] = info[name]
            rewind = info.get("rewind")
            if rewind is not None:
                _flush(builder, ops, state)
                ops.append(int(rewind))
                state.max_step = min(state.max_step, int(rewind))
        else:
            apply(rec)
    _flush(builder, ops, state)
    return Delta(ops, state, next_seq, next_sys, len(records))


def _tail(tail: dict[str, Any], tables: list[list[str]], packed: list[list[Any]]) -> None:
    """Fold a frame into ``RunState.summary_tail``: each key table's last row, in log order."""
    if len(tables) == 1:
        tail.update(zip(tables[0], packed[-1][3:], strict=True))
        return
    last: dict[int, int] = {}
    for i, row in enumerate(packed):
        last[row[0]] = i
    for i in sorted(last.values()):
        row = packed[i]
        tail.update(zip(tables[row[0]], row[3:], strict=True))


def _flush(builder: _Builder, ops: list[Segment | int], state: RunState) -> None:
    if builder.groups:
        seg = builder.finish()
        state.max_step = max(state.max_step, builder.max_step)
        builder.max_step = -1
        ops.append(seg)


def _system_rows(samples: list[Any], base: int) -> tuple[list[list[str]], list[list[Any]]]:
    """System samples (``[ts, {key: value}]``) as key tables and packed rows."""
    tables: dict[tuple[str, ...], int] = {}
    keylists: list[list[str]] = []
    packed: list[list[Any]] = []
    for i, sample in enumerate(samples):
        if not isinstance(sample, (list, tuple)) or len(sample) < 2 or not isinstance(sample[-1], dict):
            continue
        ts, data = sample[-2], sample[-1]
        keys = tuple(data)
        index = tables.get(keys)
        if index is None:
            index = tables[keys] = len(keylists)
            keylists.append(list(keys))
        packed.append([index, base + i, float(ts), *data.values()])
    return keylists, packed


# --------------------------------------------------------------------------- chunk codec
def chunk_bounds(n: int, room: int, size: int) -> list[tuple[int, int]]:
    """Slices of ``n`` new points: first ``room`` points, then ``size`` at a time."""
    out: list[tuple[int, int]] = []
    start = 0
    if room > 0:
        out.append((0, min(room, n)))
        start = min(room, n)
    while start < n:
        out.append((start, min(start + size, n)))
        start += size
    return out


def pack_ints(a: NDArray[np.int64]) -> tuple[int, int, bytes | None]:
    """``(first, stride, None)`` for an arithmetic sequence, else ``(first, 0, raw bytes)``."""
    import numpy as np

    n = len(a)
    if n == 0:
        return 0, 0, b""
    first = int(a[0])
    if n == 1:
        return first, 0, None
    stride = int(a[1]) - first
    if stride != 0 and int(a[-1]) == first + stride * (n - 1):
        if np.array_equal(np.diff(a), np.full(n - 1, stride, dtype=np.int64)):
            return first, stride, None
    return first, 0, a.astype("<i8").tobytes()


def unpack_ints(first: int, stride: int, blob: bytes | None, n: int) -> NDArray[np.int64]:
    """Inverse of :func:`pack_ints`."""
    import numpy as np

    if blob is None:
        if stride == 0:
            return np.full(n, first, dtype=np.int64)
        return np.arange(first, first + stride * n, stride, dtype=np.int64)
    return np.frombuffer(blob, dtype="<i8").astype(np.int64, copy=False)


def stats(val: NDArray[np.float64]) -> tuple[float | None, float | None, float | None, float | None]:
    """``(min, max, first, last)`` of a chunk; NaN is ignored by min/max and stored as None."""
    import numpy as np

    finite = val[~np.isnan(val)]
    lo = float(finite.min()) if len(finite) else None
    hi = float(finite.max()) if len(finite) else None
    first = float(val[0])
    last = float(val[-1])
    return lo, hi, None if first != first else first, None if last != last else last


def pack_objects(values: list[Any]) -> bytes:
    """Non-numeric values of a chunk as one msgpack array."""
    import msgpack

    return msgpack.packb(values, use_bin_type=True)  # type: ignore[no-any-return]


def unpack_objects(blob: bytes) -> list[Any]:
    """Inverse of :func:`pack_objects`."""
    import msgpack

    return msgpack.unpackb(blob, raw=False, strict_map_key=False)  # type: ignore[no-any-return]
