"""``POST /api/series``: bucketed views of (run, key) series on one shared x grid, cached.

A chart asks once for all its runs. Over ``_step`` the views come from the index's
chunk statistics (:func:`~tracker.server._downsample.bucketize_chunks`); other x axes
read the points. Each run's view is cached under (run, key, grid) together with the
run's index position (rows logged, largest step, last record time), so a chart that is
opened again, or refreshed while other runs grow, recomputes only the runs that changed.

Two encodings of the same result:

* JSON (the default): ``{"x", "x_min", "x_max", "buckets", "series": {key: {run: view}}}``
  with every array as a list;
* binary (``"format": "binary"`` in the body), what the dashboard uses: a little-endian
  ``uint32`` header length, the JSON header (the same document with each view's arrays
  replaced by ``"fields"``, ``"len"`` and ``"offset"``, and without ``first``, which the
  chart does not draw: the view's arrays are ``len``
  float64 values each, one after the other in ``fields`` order, starting ``offset`` bytes
  into the data), padded with spaces to a multiple of 8 bytes, then the data: every
  array as little-endian float64. Parsing it is a few typed-array views instead of
  millions of JSON numbers.
"""

from __future__ import annotations

import json
import math
import struct
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

from tracker._naming import ID_RE, KEY_RE, NAME_RE
from tracker.errors import UsageError

if TYPE_CHECKING:
    from tracker.api import Api

__all__ = ["MAX_BUCKETS", "MAX_SERIES", "SeriesReader", "encode_binary", "encode_json"]

MAX_BUCKETS: Final = 4000
MAX_SERIES: Final = 4000
#: Bytes of cached views kept (least recently used go first).
CACHE_BYTES: Final = 96 * 1024 * 1024
_X_KEYS: Final = ("_step", "_runtime", "_timestamp")
#: Array fields of a view, in the order the binary encoding writes them.
_RAW_FIELDS: Final = ("x", "y")
_BUCKET_FIELDS: Final = ("x", "min", "max", "last", "last_x", "n")


class _Cache:
    """A byte-bounded LRU of views; an entry is valid while its run's version is unchanged."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[tuple[Any, ...], tuple[Any, Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], version: Any) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != version:
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: tuple[Any, ...], version: Any, value: Any, nbytes: int) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.size -= old[2]
            self._items[key] = (version, value, nbytes)
            self.size += nbytes
            while self.size > self.max_bytes and self._items:
                _, (_, _, n) = self._items.popitem(last=False)
                self.size -= n


def _nbytes(view: dict[str, Any]) -> int:
    return 256 + sum(getattr(v, "nbytes", 0) for v in view.values())


class SeriesReader:
    """Computes (and caches) the views of ``POST /api/series`` from an :class:`~tracker.api.Api`."""

    def __init__(self, api: Api, cache_bytes: int = CACHE_BYTES) -> None:
        self.api = api
        self.cache = _Cache(cache_bytes)

    def series(self, body: dict[str, Any]) -> dict[str, Any]:
        """The views asked for by ``body`` (arrays as float64 numpy arrays).

        Args:
            body: ``{project, runs: [id], keys: [key], x: "_step"|"_runtime"|"_timestamp"|key,
                x_min, x_max, buckets}``.

        Raises:
            UsageError: A malformed body (bad project name, too many pairs, bad key).
        """
        project = body.get("project")
        if not isinstance(project, str) or not NAME_RE.match(project):
            raise UsageError(f"{project!r} is not a valid project name.")
        runs = body.get("runs") or []
        keys = body.get("keys") or []
        x_key = str(body.get("x") or "_step")
        try:
            buckets = int(body.get("buckets") or 1000)
        except (TypeError, ValueError):
            raise UsageError(f"buckets must be an integer, not {body.get('buckets')!r}.") from None
        if not isinstance(runs, list) or not isinstance(keys, list):
            raise UsageError("runs and keys must be lists.")
        if len(runs) * len(keys) > MAX_SERIES:
            raise UsageError(f"at most {MAX_SERIES} (run, key) pairs per request.")
        if not 1 <= buckets <= MAX_BUCKETS:
            raise UsageError(f"buckets must be between 1 and {MAX_BUCKETS}.")
        for key in [*keys, x_key]:
            if not isinstance(key, str) or not KEY_RE.match(key):
                raise UsageError(f"bad key {key!r}.")
        for run_id in runs:
            # Checked before the id reaches the index, which looks for the run's log by it.
            if not isinstance(run_id, str) or not ID_RE.match(run_id):
                raise UsageError(f"{run_id!r} is not a valid run id.")
        x_min = _opt_float(body.get("x_min"), "x_min")
        x_max = _opt_float(body.get("x_max"), "x_max")
        index = self.api.index
        # Only the requested runs' logs are checked for new data (one stat each).
        records: dict[str, Any] = {}
        for run_id in dict.fromkeys(runs):
            index.refresh(project, run_id)
            record = index.run(project, run_id)
            if record is not None:
                records[run_id] = record
        result = None
        if x_key == "_step":
            result = self._step_series(project, records, keys, x_min, x_max, buckets)
        if result is None:
            result = self._point_series(project, records, keys, x_key, x_min, x_max, buckets)
        return _one_grid(result)

    @staticmethod
    def _version(record: Any) -> tuple[Any, ...]:
        return (record.rows_logged, record.max_step, record.last_time, record.sessions)

    def _step_series(
        self,
        project: str,
        records: dict[str, Any],
        keys: list[str],
        x_min: float | None,
        x_max: float | None,
        buckets: int,
    ) -> dict[str, Any] | None:
        """Views over ``_step`` from the index's chunk statistics (None: not supported)."""
        ranges = self._step_ranges(project, records, keys)
        if ranges is None:
            return None
        spans = [r for per in ranges.values() for r in per.values() if r[0] <= r[1]]
        x_lo = x_min if x_min is not None else (float(min(a for a, _ in spans)) if spans else None)
        x_hi = x_max if x_max is not None else (float(max(b for _, b in spans)) if spans else None)
        out: dict[str, Any] = {}
        if x_lo is None or x_hi is None:
            return {"x": "_step", "x_min": x_lo, "x_max": x_hi, "buckets": buckets, "series": out}
        # (A thread pool over the runs gained nothing measurable on 2 busy cores: 150 ms
        # cold for 100 runs x 100k points either way, so the loop stays sequential.)
        for run_id, record in records.items():
            wanted = [key for key in keys if key in ranges[run_id]]
            views = self._step_views(project, run_id, record, wanted, (x_lo, x_hi), buckets)
            if views is None:
                return None
            for key in keys:
                if key in views:
                    out.setdefault(key, {})[run_id] = views[key]
        return {"x": "_step", "x_min": x_lo, "x_max": x_hi, "buckets": buckets, "series": out}

    def _step_ranges(
        self, project: str, records: dict[str, Any], keys: list[str]
    ) -> dict[str, dict[str, tuple[float, float]]] | None:
        """The x range of each run's keys, from the chunk statistics alone (None: not supported)."""
        wanted = tuple(keys)
        ranges: dict[str, dict[str, tuple[float, float]]] = {}
        for run_id, record in records.items():
            version = self._version(record)
            cache_key = ("range", project, run_id, wanted)
            found = self.cache.get(cache_key, version)
            if found is None:
                meta = self.api.index.numeric_chunks(project, run_id, keys, values=False)
                if meta is None:
                    return None
                found = {
                    k: (min(c.step_min for c in cs), max(c.step_max for c in cs))
                    if cs
                    else (math.inf, -math.inf)
                    for k, cs in meta.items()
                }
                self.cache.put(cache_key, version, found, 256 + 64 * len(found))
            ranges[run_id] = found
        return ranges

    def _step_views(
        self, project: str, run_id: str, record: Any, keys: list[str], span: tuple[float, float], buckets: int
    ) -> dict[str, Any] | None:
        """The run's views of ``keys`` on ``span`` (cached ones reused); None: no fast path."""
        from tracker.server._downsample import bucketize_chunks

        lo, hi = span
        version = self._version(record)
        views: dict[str, Any] = {}
        missing: list[str] = []
        for key in keys:
            view = self.cache.get(("step", project, run_id, key, lo, hi, buckets), version)
            if view is None:
                missing.append(key)
            else:
                views[key] = view
        if missing:
            found = self.api.index.numeric_chunks(project, run_id, missing, step_min=lo, step_max=hi)
            if found is None:
                return None
            for key in missing:
                view = bucketize_chunks(found.get(key, []), lo, hi, buckets, arrays=True)
                self.cache.put(("step", project, run_id, key, lo, hi, buckets), version, view, _nbytes(view))
                views[key] = view
        return views

    def _point_series(
        self,
        project: str,
        records: dict[str, Any],
        keys: list[str],
        x_key: str,
        x_min: float | None,
        x_max: float | None,
        buckets: int,
    ) -> dict[str, Any]:
        """Views over any x axis, from the points (x = step, wall time, run time or a metric)."""
        import numpy as np

        from tracker.server._downsample import bucketize

        index = self.api.index
        extra = [] if x_key in _X_KEYS else [x_key]
        xs: dict[tuple[str, str], tuple[Any, Any]] = {}
        for run_id, record in records.items():
            data = index.series(project, run_id, [*keys, *extra])
            for key in keys:
                s = data.get(key)
                if s is None or not isinstance(s.values, np.ndarray):
                    continue
                if x_key == "_step":
                    x = s.step.astype(np.float64)
                elif x_key == "_timestamp":
                    x = s.ts
                elif x_key == "_runtime":
                    x = s.ts - record.created_at
                else:
                    xs_series = data.get(x_key)
                    if xs_series is None or not isinstance(xs_series.values, np.ndarray):
                        continue
                    pos = np.searchsorted(xs_series.seq, s.seq)
                    pos = np.minimum(pos, len(xs_series.seq) - 1)
                    ok = xs_series.seq[pos] == s.seq
                    x = np.where(ok, xs_series.values[pos], np.nan)
                    keep = np.isfinite(x)
                    xs[(run_id, key)] = (x[keep], s.values[keep])
                    continue
                xs[(run_id, key)] = (x, s.values)
        lo: float | None = None
        hi: float | None = None
        for x, _y in xs.values():
            if len(x):
                lo = float(np.nanmin(x)) if lo is None else min(lo, float(np.nanmin(x)))
                hi = float(np.nanmax(x)) if hi is None else max(hi, float(np.nanmax(x)))
        x_lo = x_min if x_min is not None else lo
        x_hi = x_max if x_max is not None else hi
        out: dict[str, Any] = {}
        for (run_id, key), (x, y) in xs.items():
            out.setdefault(key, {})[run_id] = bucketize(x, y, x_lo, x_hi, buckets, arrays=True)
        return {"x": x_key, "x_min": x_lo, "x_max": x_hi, "buckets": buckets, "series": out}


def _one_grid(result: dict[str, Any]) -> dict[str, Any]:
    """Raw views of a key charted with bucketed ones are bucketed too, on the same grid.

    Otherwise the short runs' points would sit between the long runs' bucket centres and
    every line would have a gap at the other runs' x values (bands drawn in stripes).
    Raw views stay raw when all of a key's views are raw (zoomed in to full detail).
    """
    from tracker.server._downsample import bucketize

    for key, per in result["series"].items():
        kinds = {bool(v["raw"]) for v in per.values()}
        if len(kinds) < 2:
            continue
        lo, hi = result["x_min"], result["x_max"]
        regridded = {}
        for rid, view in per.items():
            if view["raw"]:
                redone = bucketize(view["x"], view["y"], lo, hi, result["buckets"], arrays=True, always=True)
                redone["nan_count"] = view["nan_count"]
                redone["count"] = view["count"]
                view = redone
            regridded[rid] = view
        result["series"][key] = regridded
    return result


def _opt_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a number, not {value!r}.") from None
    if not math.isfinite(out):
        raise UsageError(f"{name} must be finite, not {value!r}.")
    return out


def encode_json(result: dict[str, Any]) -> bytes:
    """The JSON encoding (arrays as lists; ``n`` as integers)."""
    from tracker.server._downsample import as_lists

    series = {
        key: {rid: as_lists(view) for rid, view in per.items()} for key, per in result["series"].items()
    }
    return json.dumps({**result, "series": series}, separators=(",", ":"), allow_nan=False).encode()


def encode_binary(result: dict[str, Any]) -> bytes:
    """The binary encoding (see the module docstring)."""
    import numpy as np

    blocks: list[bytes] = []
    series: dict[str, dict[str, Any]] = {}
    offset = 0
    for key, per in result["series"].items():
        out = series[key] = {}
        for rid, view in per.items():
            fields = _RAW_FIELDS if view["raw"] else _BUCKET_FIELDS
            head = {k: v for k, v in view.items() if not isinstance(v, np.ndarray)}
            head["fields"] = list(fields)
            head["len"] = len(view["x"])
            head["offset"] = offset
            out[rid] = head
            for name in fields:
                blocks.append(np.ascontiguousarray(view[name], dtype="<f8").tobytes())
                offset += 8 * head["len"]
    header = json.dumps({**result, "series": series}, separators=(",", ":"), allow_nan=False).encode()
    header += b" " * (-(len(header) + 4) % 8)
    return b"".join([struct.pack("<I", len(header)), header, *blocks])
