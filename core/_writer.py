"""The writer thread: the only code that touches a run's log file (G10).

Producers (``Run.log``, config and summary changes, the console tee, samplers) only
append to deques. The writer wakes every ``flush_interval`` seconds (or when asked),
drains everything queued, keeps the run summary, encodes msgpack frames and appends
them with ``write()``; it fsyncs at most once a second and at close. This module holds the
thread, its cycle and the frame encoding; ``define_metric`` (step metrics, summary
aggregates) is :mod:`tracker._writer_metrics`, and the appends, the bytes held after a
failed write and fsync are :mod:`tracker._writer_file`.

Durability: a cycle hands what it has encoded to the OS at least every ``_WRITE_EVERY``
seconds (``_WRITE_MEDIA`` while it encodes media), so a long cycle (a large backlog, media
to encode) never holds rows back until its end. Media of a row are encoded (their files
written) just before the row, in log order, so a row never references a file that does
not exist yet; the media queue is bounded by encoding time
(``tracker.media._store.Budget``), so a row behind a media backlog reaches the OS well
within a second of ``log()`` returning.

Failures here never reach the training loop: they are recorded in ``problems``
(surfaced as one warning each by the run, in the caller's thread) and the writer
keeps going; bytes that could not be written are retried on the next cycle.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from tracker._writer_file import LogFile
from tracker._writer_metrics import Metrics
from tracker.media._base import Pending
from tracker.media._store import MediaStore
from tracker.storage._format import R, frame

__all__: list[str] = []


#: A history row as the caller enqueues it: (step, unix time, {key: value}).
Row = tuple[int, float, dict[str, Any]]

# Rows per HISTORY frame. Small batches keep each stretch of GIL-holding encode work short
# (the writer yields between batches), so a log() call never waits long for the GIL.
_BATCH_ROWS: Final = 256
# With a backlog this long the producer is not waiting on anything: don't yield, drain.
_YIELD_BELOW: Final = 8192
_SUMMARY_EVERY: Final = 2.0
# A cycle writes what it has encoded at least this often (seconds); after media, which
# take long to encode, at least every _WRITE_MEDIA.
_WRITE_EVERY: Final = 0.05
_WRITE_MEDIA: Final = 0.01
# While media are queued the writer cycles at least this often (seconds), so encoding
# keeps pace with the producer instead of starting a flush interval late.
_MEDIA_CYCLE: Final = 0.02


class Ctl:
    """A non-row item in the queue: a record to write or a request to the writer."""

    __slots__ = ("args", "kind")

    def __init__(self, kind: str, *args: Any) -> None:
        self.kind = kind
        self.args = args


def _default(obj: Any) -> Any:
    """msgpack hook for values snapshotted lazily by the caller (numpy, torch on device)."""
    mod = type(obj).__module__
    if mod.startswith("torch"):
        value = obj.detach()
        return value.item() if value.numel() == 1 else value.cpu().tolist()
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return obj.tolist()
    if hasattr(obj, "_tracker_value"):
        return obj._tracker_value()
    return repr(obj)


class Writer:
    """Owns one run's log file and the thread that appends to it.

    Lifecycle: construct (opens nothing), :meth:`start` (thread), producers append to
    :attr:`queue`, :meth:`close` (drain, exit record, fsync, join with a timeout).
    """

    def __init__(
        self,
        path: Path,
        *,
        run_id: str,
        fsync: bool,
        flush_interval: float,
        heartbeat: float,
        start_step: int = 0,
        summary: dict[str, Any] | None = None,
        capture: Callable[[], dict[str, Any]] | None = None,
        media_max_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.path = path
        self.run_id = run_id
        self.queue: collections.deque[Row | Ctl] = collections.deque()
        self.console: collections.deque[list[Any]] = collections.deque(maxlen=20_000)
        self.system: collections.deque[list[Any]] = collections.deque(maxlen=10_000)
        self.wake = threading.Event()
        #: Set once run capture (git, packages, host) has been queued, or when there is none.
        self.captured = threading.Event()
        self.drained = threading.Condition()
        self.problems: list[tuple[str, str]] = []
        self.write_listeners: list[Callable[[int], None]] = []
        self.dropped_console = 0
        self.dropped_system = 0
        self._interval = flush_interval
        self._heartbeat = heartbeat
        self._capture = capture
        if capture is None:
            self.captured.set()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._file = LogFile(path, fsync, self._problem)  # write(2), held bytes, fsync
        self._last_write = time.time()
        self._last_summary = 0.0
        self._summary: dict[str, Any] = dict(summary or {})
        self._summary_dirty = False
        self._max_step = start_step - 1
        self._last_step_written = start_step - 1
        self._rows_encoded = 0
        # The durable position: rows of this session whose bytes write(2) has accepted (in
        # the page cache: a SIGKILL cannot lose them; fsync is a separate, once-a-second
        # matter) and the largest step among them. Only the writer thread assigns them, each
        # an int, after every successful write(), so any thread may read them without a lock.
        # Rows are written in log order: every row logged before that one is durable too.
        # `Run._durable_step()` and the crash tests read `durable_step`.
        self.durable_rows = 0
        self.durable_step = start_step - 1
        self._wait = flush_interval  # before the next cycle
        self._out_of_order = 0
        self._metrics = Metrics(self._summary)  # define_metric: step metrics, aggregates
        self._start_time = time.time()
        # A resumed run keeps counting its runtime from where the last session stopped.
        self._runtime_offset = float((summary or {}).get("_runtime") or 0.0)
        self._seen_problems: set[str] = set()
        self._packer: Any = None
        # Media (tracker.Image, ...) are encoded by the packer's default hook; the store
        # writes their files and bounds the bytes queued (queue_max_bytes).
        self.media = MediaStore(path.parent, self._problem, media_max_bytes)
        self._files: Any = None  # tracker._files.FileSaver after the first save()

    # ---------------------------------------------------------------- lifecycle
    def open(self, header: bytes | None) -> None:
        """Open the log for appending (the caller has created or repaired it)."""
        import msgpack

        self._packer = msgpack.Packer(use_bin_type=True, default=self._default, autoreset=True)
        self._file.open(header)

    def write_now(self, record: list[Any]) -> None:
        """Append one record synchronously (init's run record, before the thread starts)."""
        self._file.write_now(frame(self._packer.pack(record)))

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._main, name=f"tracker-writer-{self.run_id}", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True while the writer thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far is written; False on timeout."""
        if not self.alive:
            return False
        done = threading.Event()
        self.queue.append(Ctl("barrier", done))
        self.wake.set()
        return done.wait(timeout)

    def close(self, exit_record: dict[str, Any], timeout: float) -> bool:
        """Drain, append the exit record, fsync, close; False if the join timed out."""
        self.queue.append(Ctl("exit", exit_record))
        self._stop = True
        self.wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ---------------------------------------------------------------- the thread
    def _main(self) -> None:
        while True:
            # A backlog means the producer is running hot: cycle again at once. Otherwise
            # cycles start every interval (every _MEDIA_CYCLE while media are queued); one
            # that took longer is followed at once by the next, which takes what arrived
            # meanwhile.
            if len(self.queue) < _BATCH_ROWS and not self._stop and self._wait > 0.0:
                self.wake.wait(self._wait)
            self.wake.clear()
            stopping = self._stop
            if stopping and self._capture is not None:
                # Finishing before the first cycle ran capture: capture now, ahead of the
                # exit record (EXIT is always a session's last record).
                self._run_capture(front=True)
            began = time.monotonic()
            try:
                self._cycle(final=stopping and not self.queue)
            except Exception as exc:  # noqa: BLE001 - the writer must outlive its own bugs
                _debug("writer cycle failed", exc_info=True)
                self._problem("writer", f"internal writer error: {exc!r}")
            self._wait = self._interval - (time.monotonic() - began)
            if self.media.budget.pending and self.queue:
                self._wait = min(self._wait, _MEDIA_CYCLE)
            if self._capture is not None:
                # After the first write, so rows reach the disk before capture's slow parts.
                self._run_capture(front=False)
                continue
            if stopping and not self.queue:
                break
        self._file.close()

    def _run_capture(self, front: bool) -> None:
        capture, self._capture = self._capture, None
        try:
            if capture is not None:
                item = Ctl("record", [R.META, capture()])
                (self.queue.appendleft if front else self.queue.append)(item)
        except Exception as exc:  # noqa: BLE001 - capture is best effort, never fatal
            self._problem("capture", f"run capture failed: {exc!r}")
        finally:
            self.captured.set()

    def _cycle(self, final: bool) -> None:
        out: list[bytes] = []
        barriers: list[threading.Event] = []
        rows: list[Row] = []
        queue = self.queue
        popleft = queue.popleft
        exit_rec: dict[str, Any] | None = None
        clock = time.monotonic
        written = clock()
        # Every media row of this cycle was counted before it was queued (MediaStore.account):
        # with none pending, no row needs looking into.
        media = self.media.budget.pending > 0
        # Only what was queued when the cycle began: against a producer as fast as the
        # writer, `while queue` would never end and nothing would reach the disk.
        budget = len(queue)
        while budget and queue:
            budget -= 1
            item = popleft()
            if type(item) is tuple:
                rows.append(item)
                if media and self._encode_media(item[2]) and clock() - written >= _WRITE_MEDIA:
                    # Encoding took a while: hand the rows before this one (and it) to the OS.
                    self._emit_rows(rows, out)
                    rows = []
                    out = self._write_early(out)
                    written = clock()
                elif len(rows) >= _BATCH_ROWS:
                    self._emit_rows(rows, out)
                    rows = []
                    if clock() - written >= _WRITE_EVERY:
                        out = self._write_early(out)
                        written = clock()
                    if len(queue) < _YIELD_BELOW:
                        _yield_gil()
                continue
            assert isinstance(item, Ctl)
            if rows:
                self._emit_rows(rows, out)
                rows = []
            kind = item.kind
            if kind == "barrier":
                barriers.append(item.args[0])
            elif kind == "exit":
                exit_rec = item.args[0]
            else:
                self._control(item, out)
        if rows:
            self._emit_rows(rows, out)
        # Never block on this lock: a SIGTERM handler that finishes the run may interrupt
        # the producer while it holds it (backpressure), and the final write must still happen.
        if self.drained.acquire(timeout=0.05):
            try:
                self.drained.notify_all()
            finally:
                self.drained.release()
        self._emit_side_channels(out)
        if self._files is not None:
            saved = self._files.poll(final=exit_rec is not None or final)
            if saved:
                out.append(self._frame([R.FILES, saved]))
        now = time.time()
        if exit_rec is not None or (self._summary_dirty and now - self._last_summary > _SUMMARY_EVERY):
            self._emit_summary(out)
        if exit_rec is not None:
            exit_rec.setdefault("ts", now)
            exit_rec["runtime"] = now - self._start_time + self._runtime_offset
            out.append(self._frame([R.EXIT, exit_rec]))
        if not out and not self._file.held and now - self._last_write >= self._heartbeat:
            out.append(self._frame([R.HEARTBEAT, now]))
        self._write(out, force_sync=exit_rec is not None or final)
        for event in barriers:
            event.set()

    # ---------------------------------------------------------------- rows & summary
    def _encode_media(self, data: dict[str, Any]) -> bool:
        """Encode the media of one row now (their files written); True if there were any.

        Done row by row, ahead of packing the row's frame (whose msgpack hook then finds
        each reference cached), so a cycle can write between two expensive rows.
        """
        found = False
        store = self.media
        for value in data.values():
            t = type(value)
            if t is Pending:
                value._tracker_encode(store)
                found = True
            elif t is list and value and type(value[0]) is Pending:
                for v in value:
                    if type(v) is Pending:
                        v._tracker_encode(store)
                found = True
        return found

    def _emit_rows(self, rows: list[Row], out: list[bytes]) -> None:
        """Encode a batch of rows as one HISTORY frame and fold it into the summary.

        Rows are stored against per-frame key tables (``[keys_index, step, ts, *values]``),
        so key strings are written once per frame, not once per row.
        """
        summary = self._summary
        top = self._max_step
        metrics = self._metrics
        if metrics.specs:
            for row in rows:
                metrics.apply(row[2])
        row_keys = [tuple(r[2]) for r in rows]
        first = row_keys[0]
        keylists: list[tuple[str, ...]]
        if row_keys.count(first) == len(row_keys):
            # The common case: every row of the batch has the same keys (comprehensions,
            # no per-row Python bookkeeping).
            keylists = [first]
            packed = [[0, s, t, *d.values()] for s, t, d in rows]
            summary.update(rows[-1][2])
        else:
            tables: dict[tuple[str, ...], int] = {}
            keylists = []
            last_at: dict[int, int] = {}
            packed = []
            for i, (keys, (step, ts, data)) in enumerate(zip(row_keys, rows, strict=True)):
                idx = tables.get(keys)
                if idx is None:
                    idx = tables[keys] = len(keylists)
                    keylists.append(keys)
                packed.append([idx, step, ts, *data.values()])
                last_at[idx] = i
            # The last value of every key: the last row of each key table, in log order.
            for i in sorted(last_at.values()):
                summary.update(rows[i][2])
        steps = [r[0] for r in rows]
        if top < steps[0] and steps == sorted(steps) and len(set(steps)) == len(steps):
            top = steps[-1]
        else:
            for step in steps:
                # A step at or below the last committed one: log(step=N) with N behind the
                # run's step (W&B drops such rows; we keep and count them).
                if step <= top:
                    self._out_of_order += 1
                else:
                    top = step
        if metrics.aggs:
            metrics.fold(rows, set().union(*keylists))
        last = rows[-1]
        summary["_step"] = max(top, self._max_step)
        summary["_timestamp"] = last[1]
        summary["_runtime"] = last[1] - self._start_time + self._runtime_offset
        self._max_step = top
        self._summary_dirty = True
        try:
            out.append(self._frame([R.HISTORY, keylists, packed]))
        except Exception as exc:  # noqa: BLE001 - one bad value must not lose the batch
            self._problem("encode", f"a logged value could not be encoded ({exc!r}); stored its repr")
            safe = [[*row[:3], *map(_safe, row[3:])] for row in packed]
            out.append(self._frame([R.HISTORY, keylists, safe]))
        self._last_step_written = top
        self._rows_encoded += len(rows)

    def _emit_summary(self, out: list[bytes]) -> None:
        out.append(self._frame([R.SUMMARY, self.summary_snapshot()]))
        self._last_summary = time.time()
        self._summary_dirty = False

    def summary_snapshot(self) -> dict[str, Any]:
        """The summary plus tracker's counters (call after :meth:`flush` for an exact view)."""
        summary = self.media.plain(self._summary) if self.media.used else dict(self._summary)
        if self._out_of_order:
            summary["_tracker.out_of_order_rows"] = self._out_of_order
        if self.dropped_console:
            summary["_tracker.dropped_console_lines"] = self.dropped_console
        if self.dropped_system:
            summary["_tracker.dropped_system_samples"] = self.dropped_system
        return summary

    def _control(self, item: Ctl, out: list[bytes]) -> None:
        kind = item.kind
        if kind == "record":
            out.append(self._frame(item.args[0]))
        elif kind == "summary_set":
            updates, deletes = item.args
            self._summary.update(updates)
            for key in deletes:
                self._summary.pop(key, None)
            self._summary_dirty = True
            self._emit_summary(out)
        elif kind == "define_metric":
            spec = item.args[0]
            self._metrics.define(spec)
            out.append(self._frame([R.DEFINE_METRIC, spec]))
        elif kind == "save":
            if self._files is None:
                from tracker._files import FileSaver

                self._files = FileSaver(self.path.parent, self._problem)
            saved = self._files.add(item.args[0])
            if saved:
                out.append(self._frame([R.FILES, saved]))

    def _emit_side_channels(self, out: list[bytes]) -> None:
        if self.console:
            lines = []
            while self.console:
                lines.append(self.console.popleft())
            out.append(self._frame([R.CONSOLE, lines]))
        if self.system:
            samples = []
            while self.system:
                samples.append(self.system.popleft())
            out.append(self._frame([R.SYSTEM, samples]))

    # ---------------------------------------------------------------- I/O
    def _frame(self, record: list[Any]) -> bytes:
        return frame(self._packer.pack(record))

    def _default(self, obj: Any) -> Any:
        """The packer's hook: media are encoded here (files written), the rest as ``_default``."""
        encode = getattr(obj, "_tracker_encode", None)
        if encode is not None:
            return encode(self.media)
        return _default(obj)

    def _write_early(self, out: list[bytes]) -> list[bytes]:
        """Write ``out`` in the middle of a cycle; return what is left to write (nothing).

        After a failed write (a full disk) the held bytes are retried once per cycle, at its
        end, not after every batch: ``out`` is then kept and returned as it is.
        """
        if self._file.held:
            return out
        self._write(out, force_sync=False)
        return []

    def _write(self, out: list[bytes], force_sync: bool) -> None:
        written = self._file.append(out)
        if written is False:
            return  # held for the next cycle (a full disk): no fsync either
        if written:
            self._last_write = time.time()
            self.durable_rows = self._rows_encoded
            self.durable_step = self._last_step_written
            for listener in self.write_listeners:
                listener(self._last_step_written)
        self._file.sync(force_sync)

    def _problem(self, key: str, message: str) -> None:
        if key not in self._seen_problems:
            self._seen_problems.add(key)
            self.problems.append((key, message))
            _debug("tracker writer problem: %s", message)


def _yield_gil() -> None:
    # Not a synchronisation sleep: sleep(0) releases the GIL so a waiting training
    # thread runs now instead of after the 5 ms switch interval.
    time.sleep(0)


def _debug(msg: str, *args: Any, exc_info: bool = False) -> None:
    import logging

    logging.getLogger(__name__).debug(msg, *args, exc_info=exc_info)


def _safe(value: Any) -> Any:
    import msgpack

    try:
        msgpack.packb(value, default=_default)
    except Exception:  # noqa: BLE001 - anything unencodable is stored as its repr
        return repr(value)
    return value
