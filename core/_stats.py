"""Wiring between a run and its system-metrics sampler (the sampler never sees the run).

``init`` resolves the interval before creating anything (a bad value raises there) and
attaches the sampler after the writer has started; the sampler thread then imports
psutil/pynvml, queues the hardware probe as a ``META`` record and feeds the run's
system samples, all through the run's port (:class:`tracker._port.RunPort`).
``finish`` stops the sampler (an ``on_finish`` hook) before the writer closes, so the
last sample is written. The sampler's callbacks hold the run weakly: :data:`_samplers`
is keyed by the run, so a strong reference from the sampler would keep every run alive.
"""

from __future__ import annotations

import os
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tracker._settings import ENV_STATS_INTERVAL, Settings, env_float
from tracker.errors import StorageError, UsageError
from tracker.storage._format import R, file_header, frame, repair
from tracker.storage._lease import Lease, acquire
from tracker.storage._system import LABEL_SEP, node_log_name

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracker._distributed import Topology
    from tracker._port import RunPort
    from tracker.system_metrics import SystemMetricsSampler

__all__: list[str] = []

DEFAULT_INTERVAL: Final = 10.0
MIN_INTERVAL: Final = 0.1
_FSYNC_EVERY: Final = 10.0
#: The sampler thread imports psutil/pynvml this long after init, so init returns first.
START_DELAY: Final = 0.2

_samplers: weakref.WeakKeyDictionary[Any, SystemMetricsSampler] = weakref.WeakKeyDictionary()


def interval(st: Settings) -> float:
    """Seconds between samples: ``stats_interval`` > W&B's ``x_disable_stats`` /
    ``x_stats_sampling_interval`` > ``$TRACKER_STATS_INTERVAL`` > 10. 0 turns sampling off.

    Raises:
        UsageError: Not a number, negative, or below 0.1 s.
    """
    if st.is_set("stats_interval"):
        raw, what = st.get("stats_interval"), "settings stats_interval"
    elif st.get("x_disable_stats"):
        return 0.0
    elif st.is_set("x_stats_sampling_interval"):
        raw, what = st.get("x_stats_sampling_interval"), "settings x_stats_sampling_interval"
    else:
        raw, what = env_float(ENV_STATS_INTERVAL, DEFAULT_INTERVAL), ENV_STATS_INTERVAL
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise UsageError(f"{what}={raw!r} is not a number of seconds.", key=what) from None
    if value != 0 and not value >= MIN_INTERVAL:
        raise UsageError(
            f"{what}={raw!r}: use 0 (no system metrics) or a number of seconds >= {MIN_INTERVAL}.", key=what
        )
    if value:
        # Imported now, before init starts the writer thread: imported later, init would
        # wait for the GIL behind the writer's run capture (5 ms switch interval, several times).
        import tracker.system_metrics  # noqa: F401
    return value


def sampler_of(run: Any) -> SystemMetricsSampler | None:
    """The system-metrics sampler of a run (None when it samples nothing)."""
    return _samplers.get(run)


def _weakly(method: Callable[..., None]) -> Callable[..., None]:
    """``method`` (bound to a run) without holding the run: a no-op once the run is gone."""
    ref = weakref.WeakMethod(method)

    def call(*args: Any) -> None:
        bound = ref()
        if bound is not None:
            bound(*args)

    return call


def attach(run: RunPort, every: float, topo: Topology, label: str | None) -> None:
    """Start the main process's sampler: samples and the probe (META) go to the run's log."""
    if every <= 0 or not topo.samples:
        return
    from tracker.system_metrics import SystemMetricsSampler

    record = _weakly(run.record)

    def probed(hardware: dict[str, Any]) -> None:
        meta: dict[str, Any] = {"hardware": hardware}
        if topo.distributed:
            meta["distributed"] = topo.as_meta(label or topo.host, hardware)
        record(R.META, meta)

    sampler = SystemMetricsSampler(
        _weakly(run.system_sample),
        interval=every,
        on_probe=probed,
        on_problem=_weakly(run.problem),
        name=f"tracker-system-{run.id}",
        start_delay=START_DELAY,
        at_least_one=True,  # a short run still records one sample (issue 19)
    )
    sampler.start()
    run.on_finish(sampler.stop)
    _samplers[run] = sampler


class _Problems:
    """A node log's problem list that reports each problem to the run (held weakly)."""

    def __init__(self, run: RunPort) -> None:
        self._report = _weakly(run.problem)

    def append(self, problem: tuple[str, str]) -> None:
        self._report(*problem)


def attach_node(run: RunPort, run_dir: Path, every: float, topo: Topology, label: str) -> None:
    """Start a non-main node's sampler, writing ``system-<label>.tlog`` in the run directory."""
    from tracker.system_metrics import SystemMetricsSampler

    problems = _Problems(run)
    log = NodeLog(run_dir / node_log_name(label), problems)
    suffix = f"{LABEL_SEP}{label}"

    def feed(ts: float, data: dict[str, float]) -> None:
        log.write([R.SYSTEM, [[ts, {k + suffix: v for k, v in data.items()}]]])

    def probed(hardware: dict[str, Any]) -> None:
        log.write([R.META, {"node": topo.as_meta(label, hardware), "hardware": hardware}])

    def problem(key: str, message: str) -> None:
        problems.append((key, message))

    sampler = SystemMetricsSampler(
        feed,
        interval=every,
        on_probe=probed,
        on_problem=problem,
        name=f"tracker-system-{run.id}-node",
        start_delay=START_DELAY,
        at_least_one=True,  # a short run still records one sample (issue 19)
    )

    def stop() -> None:
        if sampler.stop():
            log.close()

    sampler.start()
    run.on_finish(stop)
    _samplers[run] = sampler


class NodeLog:
    """A node's system-metrics log: the run-log header, then META and SYSTEM records.

    Only the sampler thread writes it (its callbacks), so it needs no thread lock; the file
    is opened on the first write, not in ``init``, under the log's own lease
    (``.<name>.lease``, see :mod:`tracker.storage._lease`): a second process sampling under
    the same label is refused (its samples are dropped with a problem), never interleaved.
    """

    def __init__(self, path: Path, problems: list[tuple[str, str]] | _Problems) -> None:
        self.path = path
        self._problems = problems
        self._fd = -1
        self._lease: Lease | None = None
        self._packer: Any = None
        self._closed = False
        self._failed = False
        self._last_sync = 0.0

    def _open(self) -> None:
        import msgpack

        self._packer = msgpack.Packer(use_bin_type=True, autoreset=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lease = acquire(self.path, what=f"{self.path.parent.name} ({self.path.name})")
        header = None
        if self.path.is_file() and self.path.stat().st_size > 0:
            repair(self.path)  # a relaunched node appends after the last whole record (under the lease)
        else:
            header = file_header()
        self._fd = os.open(
            self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644
        )
        if header is not None:
            os.write(self._fd, header)

    def write(self, record: list[Any]) -> None:
        """Append one record (dropped, with one problem reported, when the disk fails)."""
        if self._closed or self._failed:
            return
        try:
            if self._fd < 0:
                self._open()
            os.write(self._fd, frame(self._packer.pack(record)))
            now = time.monotonic()
            if now - self._last_sync >= _FSYNC_EVERY:
                os.fsync(self._fd)
                self._last_sync = now
        except (OSError, StorageError, UsageError) as exc:
            self._failed = True
            self._release()
            self._problems.append(
                (
                    "node-log",
                    f"cannot write the node's system metrics to {self.path}: {exc}; they are dropped",
                )
            )

    def close(self) -> None:
        """fsync and close the file."""
        self._closed = True
        if self._fd >= 0:
            try:
                os.fsync(self._fd)
                os.close(self._fd)
            except OSError as exc:
                self._problems.append(("node-log-close", f"closing {self.path} failed: {exc}"))
            self._fd = -1
        self._release()

    def _release(self) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None
