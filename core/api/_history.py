"""History rows from indexed series: joining keys by row, downsampling, output shapes.

Rows are joined on their row number (``seq``: position in the run's log), so rows
logged out of step order keep their log order, and every returned row is a real row
as logged. Downsampling (``samples=N``) is M4 per key: for each of ``B`` equal-count
buckets of a key's points, the rows holding the bucket's first, min, max and last
value; the union over keys plus the first and last row. ``B`` starts at ``N // 4``
for one key (``N // (2 + 2 * keys)`` for several, whose bucket edges usually
coincide) and shrinks until the union has at most ``N`` rows, so a single spike
always survives. NaN never wins min or max.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from tracker.storage._base import Series

__all__: list[str] = []

#: Columns every history row carries, as W&B names them.
STEP: Final = "_step"
TIMESTAMP: Final = "_timestamp"
RUNTIME: Final = "_runtime"
SPECIAL: Final = (STEP, TIMESTAMP, RUNTIME)


class Rows:
    """Selected rows: their step and time, and each key's values on them.

    A plain class, not a dataclass: importing :mod:`dataclasses` loads :mod:`inspect`, about
    5 ms of a fresh process's first ``history()``.
    """

    __slots__ = ("columns", "seq", "step", "ts")

    def __init__(
        self,
        seq: NDArray[np.int64],
        step: NDArray[np.int64],
        ts: NDArray[np.float64],
        columns: dict[str, tuple[NDArray[np.int64], NDArray[np.float64] | list[Any], bool]],
    ) -> None:
        self.seq = seq
        self.step = step
        self.ts = ts
        #: key -> (positions of the rows that have the key, values at those positions)
        self.columns = columns

    def __len__(self) -> int:
        return len(self.seq)


def select(
    series: dict[str, Series],
    keys: list[str],
    *,
    required: Iterable[str] = (),
    samples: int | None = None,
) -> Rows:
    """The rows to return, with the values of ``keys`` on them.

    Args:
        series: Loaded series by key (keys with no points are absent).
        keys: Output keys, in column order.
        required: Only rows that have all of these keys are returned.
        samples: At most this many rows (M4 downsampling), or all when None.
    """
    import numpy as np

    needed = list(required)
    if any(k not in series for k in needed) or not series:
        return _empty(keys)
    size = max(_stop(s) for s in series.values())
    if needed:
        mask = np.ones(size, dtype=bool)
        for key in needed:
            has = np.zeros(size, dtype=bool)
            _mark(has, series[key])
            mask &= has
    else:
        mask = np.zeros(size, dtype=bool)
        for s in series.values():
            _mark(mask, s)
    rows = np.flatnonzero(mask)
    if samples is not None and len(rows) > samples:
        rows = _downsample(rows, mask, [series[k] for k in (needed or keys) if k in series], samples)
    return _gather(rows, size, series, keys)


def _stop(s: Series) -> int:
    return s.seq_range[1] if s.seq_range is not None else int(s.seq[-1]) + 1


def _mark(mask: NDArray[np.bool_], s: Series) -> None:
    if s.seq_range is not None:
        mask[s.seq_range[0] : s.seq_range[1]] = True
    else:
        mask[s.seq] = True


def _empty(keys: list[str]) -> Rows:
    import numpy as np

    empty = np.zeros(0, dtype=np.int64)
    return Rows(empty, empty, np.zeros(0), {k: (empty, np.zeros(0), False) for k in keys})


def _gather(rows: NDArray[np.int64], size: int, series: dict[str, Series], keys: list[str]) -> Rows:
    import numpy as np

    m = len(rows)
    # Common case: the rows are one unbroken range and a key covers exactly that range,
    # so its columns are used as they are, without scattering through row positions.
    whole_range = (int(rows[0]), int(rows[0]) + m) if m and int(rows[-1]) - int(rows[0]) + 1 == m else None
    ident: Any = None
    pos: Any = None
    step: Any = None
    ts: Any = None
    filled: Any = None
    columns: dict[str, tuple[Any, Any, bool]] = {}
    order = [k for k in keys if k in series] + [k for k in series if k not in keys]
    for key in order:
        s = series[key]
        if whole_range is not None and s.seq_range == whole_range:
            if ident is None:
                ident = np.arange(m, dtype=np.int64)
            if key in keys:
                columns[key] = (ident, s.values, s.is_int)
            if filled is None:
                step, ts = s.step, s.ts
                filled = True
            elif filled is not True and not filled.all():
                step[~filled] = s.step[~filled]
                ts[~filled] = s.ts[~filled]
                filled = True
            continue
        if pos is None:
            pos = np.full(size, -1, dtype=np.int64)
            pos[rows] = np.arange(m, dtype=np.int64)
        at = pos[s.seq_range[0] : s.seq_range[1]] if s.seq_range is not None else pos[s.seq]
        sel = np.flatnonzero(at >= 0)
        complete = len(sel) == len(at)
        idx = at if complete else at[sel]
        if key in keys:
            values = s.values
            if complete:
                picked = values
            else:
                picked = values[sel] if not isinstance(values, list) else [values[i] for i in sel.tolist()]
            columns[key] = (idx, picked, s.is_int)
        if filled is True:
            if key not in keys:
                break
            continue
        if filled is None:
            step = np.zeros(m, dtype=np.int64)
            ts = np.zeros(m, dtype=np.float64)
            filled = np.zeros(m, dtype=bool)
        need = ~filled[idx]
        if need.any():
            # Step and time are decoded only for keys that fill rows still unknown.
            src = sel[need]
            step[idx[need]] = s.step[src]
            ts[idx[need]] = s.ts[src]
            filled[idx[need]] = True
            if filled.all():
                filled = True
    if step is None:
        step, ts = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.float64)
    for key in keys:
        if key not in columns:
            columns[key] = (np.zeros(0, dtype=np.int64), np.zeros(0), False)
    return Rows(rows, step, ts, columns)


def _downsample(
    rows: NDArray[np.int64], mask: NDArray[np.bool_], series: list[Series], n: int
) -> NDArray[np.int64]:
    import numpy as np

    if n <= 1:
        return rows[:n]
    # Per key: (row number of its first candidate point or None, row numbers or None,
    # values for min, values for max); positions map to rows without a full arange.
    prepared: list[tuple[int, Any, Any, Any, int]] = []
    for s in series:
        first = 0
        seqs: Any = None
        if s.seq_range is not None:
            start, stop = s.seq_range
            inside = mask[start:stop]
            if inside.all():
                sel = None
                first = start
            else:
                sel = np.flatnonzero(inside)
                seqs = sel + start
        else:
            inside = mask[s.seq]
            sel = None if inside.all() else np.flatnonzero(inside)
            seqs = s.seq if sel is None else s.seq[sel]
        values = s.values
        count = len(values) if sel is None else len(sel)
        if isinstance(values, list) or not count:
            prepared.append((first, seqs, None, None, count))
            continue
        vals = values if sel is None else values[sel]
        nan = np.isnan(vals)
        if nan.any():
            prepared.append((first, seqs, np.where(nan, np.inf, vals), np.where(nan, -np.inf, vals), count))
        else:
            prepared.append((first, seqs, vals, vals, count))
    buckets = max(1, n // 4) if len(prepared) <= 1 else max(1, n // (2 + 2 * len(prepared)))
    ends = rows[[0, -1]]
    while True:
        picked = [ends]
        for first, seqs, lo, hi, count in prepared:
            at = _m4(count, lo, hi, buckets)
            picked.append(at + first if seqs is None else seqs[at])
        chosen = np.unique(np.concatenate(picked))
        if len(chosen) <= n:
            return chosen
        if buckets == 1:
            break
        buckets = max(1, min(buckets - 1, int(buckets * n / len(chosen))))
    # More keys than rows allowed: an even spread of the M4 rows, first and last kept.
    spread = np.unique(np.linspace(0, len(chosen) - 1, n).round().astype(np.int64))
    out: NDArray[np.int64] = chosen[spread]
    return out


def _m4(
    count: int, lo: NDArray[np.float64] | None, hi: NDArray[np.float64] | None, buckets: int
) -> NDArray[np.int64]:
    """Positions of the first, min, max and last point of at most ``buckets`` equal buckets."""
    import numpy as np

    if buckets >= count:
        return np.arange(count, dtype=np.int64)
    width = -(-count // buckets)
    nb = -(-count // width)
    starts = np.arange(nb, dtype=np.int64) * width
    out = [starts, np.minimum(starts + width, count) - 1]
    if lo is not None and hi is not None:
        whole = count // width  # complete buckets: a reshaped view, no copy
        for src, arg in ((lo, np.argmin), (hi, np.argmax)):
            out.append(starts[:whole] + arg(src[: whole * width].reshape(whole, width), axis=1))
            if whole < nb:
                out.append(np.array([whole * width + int(arg(src[whole * width :]))], dtype=np.int64))
    return np.concatenate(out)


# --------------------------------------------------------------------------- output shapes
def to_frame(rows: Rows, keys: list[str], created: float, *, step: bool = True) -> Any:
    """A pandas DataFrame: ``_step`` (unless ``step`` is False), ``_timestamp``, ``_runtime``, ``keys``."""
    import numpy as np
    import pandas as pd

    m = len(rows)
    data: dict[str, Any] = {STEP: rows.step} if step else {}
    data.update({TIMESTAMP: rows.ts, RUNTIME: rows.ts - created})
    for key in keys:
        if key in SPECIAL:
            continue
        idx, values, is_int = rows.columns[key]
        complete = len(idx) == m
        if isinstance(values, list):
            col: list[Any] = [None] * m
            for i, v in zip(idx.tolist(), values, strict=True):
                col[i] = v
            data[key] = pd.Series(col, dtype=object)
        elif complete:
            data[key] = values.astype(np.int64) if is_int else values
        else:
            full = np.full(m, np.nan)
            full[idx] = values
            data[key] = full
    return pd.DataFrame(data)


def to_dicts(
    rows: Rows, keys: list[str], created: float, *, special: bool = True, step: bool = True
) -> list[dict[str, Any]]:
    """Rows as dicts holding only the keys each row has (plus the special columns).

    ``special=False`` leaves out the special columns unless ``keys`` names them;
    ``step=False`` leaves out ``_step`` (the events stream has none).
    """
    m = len(rows)
    if special:
        steps = rows.step.tolist()
        stamps = rows.ts.tolist()
        if step:
            out = [{STEP: s, TIMESTAMP: t, RUNTIME: t - created} for s, t in zip(steps, stamps, strict=True)]
        else:
            out = [{TIMESTAMP: t, RUNTIME: t - created} for t in stamps]
    else:
        out = [{} for _ in range(m)]
    for key in keys:
        if key in SPECIAL:
            if not special:
                column = {STEP: rows.step.tolist(), TIMESTAMP: rows.ts.tolist(),
                          RUNTIME: (rows.ts - created).tolist()}[key]  # fmt: skip
                for row, value in zip(out, column, strict=True):
                    row[key] = value
            continue
        idx, values, is_int = rows.columns[key]
        plain = values if isinstance(values, list) else values.tolist()
        if is_int and not isinstance(values, list):
            plain = [int(v) for v in plain]
        for i, v in zip(idx.tolist(), plain, strict=True):
            out[i][key] = v
    return out
