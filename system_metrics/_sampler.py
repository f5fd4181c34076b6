"""The sampling loop: one daemon thread, an Event and an interval (G7, G10).

The thread opens the sources (importing psutil and pynvml there, never in the caller),
reports the hardware probe once, then every ``interval`` seconds calls back with one
``{key: value}`` dict. ``stop()`` wakes it, takes a last sample, closes the sources and
joins. Nothing here raises into the caller's thread after ``start()``: failures are
logged once and reported through ``on_problem``.
"""

from __future__ import annotations

import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Final

from tracker._optional import _find
from tracker.errors import MissingExtraError, TrackerWarning, UsageError, _LazyLogger
from tracker.system_metrics._base import Source, SourceUnavailableError

__all__ = ["SOURCES", "SystemMetricsSampler", "available_sources"]

_log = _LazyLogger(__name__)

#: Source name → the module it needs.
SOURCES: Final = {"cpu": "psutil", "nvml": "pynvml"}
_PACKAGES: Final = {"psutil": "psutil", "pynvml": "nvidia-ml-py"}
#: A final sample at stop() is taken only if the last one is at least this old (seconds):
#: CPU percentages over a shorter window are noise.
MIN_FINAL_AGE: Final = 0.2

Callback = Callable[[float, dict[str, float]], None]

#: Missing libraries already announced at INFO level (once per process, not once per run).
_announced: set[str] = set()


def _installed(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None
    return _find(module)


def available_sources() -> tuple[str, ...]:
    """Names of the sources whose library is installed (``"cpu"``, ``"nvml"``).

    Cheap: nothing is imported. NVML may still find no driver when the sampler starts.
    """
    return tuple(name for name, module in SOURCES.items() if _installed(module))


class SystemMetricsSampler:
    """Samples the system-metric sources on one daemon thread.

    Lifecycle: construct (nothing starts), :meth:`start` (the thread opens the sources,
    primes their counters and calls ``on_probe`` once), then one ``callback(unix_time,
    {key: value})`` every ``interval`` seconds, and :meth:`stop` (a last sample, sources
    closed, thread joined).

    Args:
        callback: Receives each sample. Called on the sampler thread.
        interval: Seconds between samples (> 0).
        sources: Source names to run; None runs every installed one ("auto"): a missing
            library then logs one INFO line. A source named here whose library is
            missing raises at once.
        on_probe: Receives the static hardware probe, once, on the sampler thread.
        on_problem: Receives ``(key, message)`` when a source breaks unexpectedly and is
            turned off; default: one ``TrackerWarning`` per key.
        name: The thread's name (it starts with ``tracker-``).
        source_options: Keyword arguments per source, e.g.
            ``{"cpu": {"per_core": True}, "nvml": {"visible_devices": "0"}}``.
        start_delay: Seconds the thread waits before opening the sources (importing
            psutil and pynvml holds the GIL for tens of milliseconds: ``init`` passes a
            short delay so that it returns first). Capped at half the interval; the first
            sample still comes one interval after :meth:`start`.
        at_least_one: Take a sample at :meth:`stop` when none was taken yet (a run
            shorter than the interval, or than the delay, still records one).

    Raises:
        UsageError: An unknown source name or a non-positive interval.
        MissingExtraError: A source named in ``sources`` has no library installed.

    Example:
        >>> samples = []
        >>> sampler = SystemMetricsSampler(lambda ts, d: samples.append(d), interval=1.0)
        >>> sampler.start()  # doctest: +SKIP
        >>> sampler.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        callback: Callback,
        *,
        interval: float = 10.0,
        sources: Sequence[str] | None = None,
        on_probe: Callable[[dict[str, Any]], None] | None = None,
        on_problem: Callable[[str, str], None] | None = None,
        name: str = "tracker-system-metrics",
        source_options: dict[str, dict[str, Any]] | None = None,
        start_delay: float = 0.0,
        at_least_one: bool = False,
    ) -> None:
        if not interval > 0:
            raise UsageError(f"SystemMetricsSampler(interval={interval!r}): use a number of seconds > 0.")
        if not name.startswith("tracker-"):
            name = f"tracker-{name}"
        self._explicit = sources is not None
        names = list(SOURCES) if sources is None else list(sources)
        for source in names:
            if source not in SOURCES:
                raise UsageError(f"Unknown system-metrics source {source!r}; use {sorted(SOURCES)}.")
            module = SOURCES[source]
            if self._explicit and not _installed(module):
                raise MissingExtraError(
                    f"The {source!r} system-metrics source needs {module}, which is not installed. "
                    f"Install it with: pip install {_PACKAGES[module]}"
                ) from None
        self._names = names
        self._callback = callback
        self.interval = float(interval)
        self._on_probe = on_probe
        self._on_problem = on_problem
        self._name = name
        self._options = source_options or {}
        self._delay = max(0.0, min(float(start_delay), self.interval / 2))
        self._at_least_one = at_least_one
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._problems: set[str] = set()
        self._cpu_start = 0.0
        self._cpu_used = 0.0
        #: CPU seconds the thread spent opening the sources and probing (imports included).
        self.open_cpu_seconds = 0.0
        #: Number of samples delivered so far.
        self.samples = 0
        #: Names of the sources that opened (set by the thread).
        self.active: tuple[str, ...] = ()
        #: Set once the sources are open and the probe was delivered (or the thread ended).
        self.opened = threading.Event()

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        """Start the sampler thread (at most once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Take a last sample, close the sources and join the thread.

        Idempotent. Returns False when the thread did not end within ``timeout`` (a hung
        driver call); it is a daemon thread, so it cannot keep the interpreter alive.
        """
        self._stop.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        if thread.is_alive():
            _log.debug("system metrics: the sampler thread did not stop within %.1f s", timeout)
            return False
        return True

    @property
    def alive(self) -> bool:
        """True while the sampler thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def thread(self) -> threading.Thread | None:
        """The sampler thread (None before :meth:`start`)."""
        return self._thread

    @property
    def cpu_seconds(self) -> float:
        """CPU time the sampler thread has used so far (``time.thread_time`` inside it)."""
        return self._cpu_used

    def wait_for_samples(self, count: int, timeout: float) -> bool:
        """Block until ``count`` samples were delivered (or the thread ended); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.samples >= count or not self.alive, timeout)

    # ------------------------------------------------------------------ the thread
    def _main(self) -> None:
        self._cpu_start = time.thread_time()
        sources: list[Source] = []
        try:
            first = time.monotonic() + self.interval
            if self._delay and self._stop.wait(self._delay) and not self._at_least_one:
                return  # stopped before it began: a run shorter than the delay samples nothing
            sources = self._open()
            self.active = tuple(s.name for s in sources)
            self.open_cpu_seconds = self._cpu_used = time.thread_time() - self._cpu_start
            self.opened.set()
            if not sources:
                return
            last = time.monotonic()
            next_at = max(first, last + self._delay)
            while not self._stop.wait(max(0.0, next_at - time.monotonic())):
                self._tick(sources)
                last = time.monotonic()
                next_at += self.interval
                if next_at <= last:  # a slow tick or a suspended process: skip, don't burst
                    next_at = last + self.interval
            if sources and (
                time.monotonic() - last >= MIN_FINAL_AGE or (self._at_least_one and not self.samples)
            ):
                self._tick(sources)
        except Exception as exc:  # noqa: BLE001 - the sampler must never take training down
            _log.debug("system metrics: sampler thread failed", exc_info=True)
            self._problem("system-metrics", f"system metrics stopped after an internal error: {exc!r}")
        finally:
            for source in sources:
                self._close(source)
            self._cpu_used = time.thread_time() - self._cpu_start
            self.opened.set()
            with self._cond:
                self._cond.notify_all()

    def _open(self) -> list[Source]:
        sources: list[Source] = []
        psutil_module: Any = None
        nvml: Any = None
        nvml_error: str | None = None
        for name in self._names:
            options = dict(self._options.get(name, {}))
            try:
                if name == "cpu":
                    from tracker.system_metrics._cpu import CpuSource

                    cpu = CpuSource(**options)
                    psutil_module = sys.modules.get("psutil")
                    sources.append(cpu)
                else:
                    from tracker.system_metrics._nvml import NvmlSource

                    cpu_source = next((s for s in sources if s.name == "cpu"), None)
                    if cpu_source is not None and "pids" not in options:
                        options["pids"] = cpu_source.pids  # type: ignore[attr-defined]
                    nvml = NvmlSource(**options)
                    sources.append(nvml)
            except ImportError:
                module = SOURCES[name]
                if name == "nvml":
                    nvml_error = f"{module} is not installed"
                message = (
                    f"system metrics: {module} is not installed, so the {name!r} source is off "
                    f"(pip install {_PACKAGES[module]})"
                )
                if self._explicit:
                    self._problem(f"system-metrics:{name}", message)
                elif module not in _announced:
                    _announced.add(module)
                    _log.info(message)
                else:
                    _log.debug(message)
            except SourceUnavailableError as exc:
                nvml_error = str(exc)
                # No GPU or no driver is the normal case on CPU machines: debug, not a problem.
                _log.debug("system metrics: %s", exc)
                if self._explicit:
                    self._problem(f"system-metrics:{name}", f"system metrics: {exc}")
            except Exception as exc:  # noqa: BLE001 - a source that breaks while opening is turned off
                _log.debug("system metrics: the %s source failed to open", name, exc_info=True)
                self._problem(
                    f"system-metrics:{name}",
                    f"system metrics: the {name!r} source failed to open ({exc!r}) and is turned off",
                )
        if self._on_probe is not None:
            from tracker.system_metrics._probe import probe

            try:
                hardware = probe(psutil=psutil_module, nvml=nvml, nvml_error=nvml_error)
            except Exception as exc:  # noqa: BLE001 - the probe is best effort; sampling goes on
                _log.debug("system metrics: the hardware probe failed", exc_info=True)
                self._problem("system-metrics:probe", f"system metrics: the hardware probe failed ({exc!r})")
            else:
                self._on_probe(hardware)
        return sources

    def _tick(self, sources: list[Source]) -> None:
        ts = time.time()
        data: dict[str, float] = {}
        for source in list(sources):
            try:
                data.update(source.sample())
            except Exception as exc:  # noqa: BLE001 - one broken source must not stop the others
                _log.debug("system metrics: the %s source failed", source.name, exc_info=True)
                sources.remove(source)
                self._close(source)
                self._problem(
                    f"system-metrics:{source.name}",
                    f"system metrics: the {source.name!r} source failed ({exc!r}) and is turned off",
                )
        if data:
            self._callback(ts, data)
        self._cpu_used = time.thread_time() - self._cpu_start
        with self._cond:
            self.samples += 1
            self._cond.notify_all()

    def _close(self, source: Source) -> None:
        try:
            source.close()
        except Exception:  # noqa: BLE001 - closing is best effort at the end of a run
            _log.debug("system metrics: closing the %s source failed", source.name, exc_info=True)

    def _problem(self, key: str, message: str) -> None:
        if key in self._problems:
            return
        self._problems.add(key)
        if self._on_problem is not None:
            self._on_problem(key, message)
        else:
            warnings.warn(message, TrackerWarning, stacklevel=2)
