"""Progress output for long commands: a bar on a terminal, periodic lines otherwise.

``progress(total, desc, unit)`` is a context manager that yields a ``Progress``; the
command calls ``.update(n)`` as work completes. On a TTY it redraws one line (``\\r``)
at most ten times a second with a bar, the rate and an ETA; on a pipe or a CI log it
prints one plain line every few seconds and one at the end, so logs stay short and
greppable. Output goes to stderr, so stdout stays the command's data. Stdlib only.

Example:
    >>> with progress(total=3, desc="runs") as bar:  # doctest: +SKIP
    ...     for _ in range(3):
    ...         bar.update(1)
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final, TextIO

from tracker._human import format_duration, format_size

__all__ = ["Progress", "format_duration", "format_size", "progress"]

_TTY_INTERVAL: Final = 0.1  # seconds between redraws of the bar
_LINE_INTERVAL: Final = 5.0  # seconds between plain lines when not a TTY
_BAR_WIDTH: Final = 24


def _count(n: float) -> str:
    """``12``, ``200,000``; a rate below 100 keeps one decimal (``2.5``)."""
    return f"{n:,.0f}" if n == int(n) or n >= 100 else f"{n:.1f}"


class Progress:
    """A running count of work done; see ``progress()``. Thread-safe ``update``."""

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str,
        stream: TextIO,
        *,
        tty: bool,
        interval: float,
        clock: Callable[[], float],
    ) -> None:
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = 0
        self._stream = stream
        self._tty = tty
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._start = clock()
        self._last = self._start
        self._drawn = False  # a bar line is on screen and must be ended with "\n"

    def update(self, n: int = 1) -> None:
        """Record ``n`` more units done; draws when the interval has passed."""
        with self._lock:
            self.n += n
            now = self._clock()
            if now - self._last >= self._interval:
                self._last = now
                self._emit(now, final=False)

    def set_total(self, total: int | None) -> None:
        """Set the total once it is known (e.g. after listing what to download)."""
        with self._lock:
            self.total = total

    def close(self) -> None:
        """Print the final line (always, TTY or not)."""
        with self._lock:
            self._emit(self._clock(), final=True)

    def _emit(self, now: float, *, final: bool) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.n / elapsed
        if self.unit == "B":
            done = format_size(self.n) + ("" if self.total is None else f"/{format_size(self.total)}")
            speed = f"{format_size(rate)}/s"
        else:
            of = "" if self.total is None else f"/{_count(self.total)}"
            done = f"{_count(self.n)}{of} {self.unit}"
            speed = f"{_count(rate) if rate >= 100 else f'{rate:.1f}'} {self.unit}/s"
        if final:
            text = f"{self.desc}: {done} in {format_duration(elapsed)} ({speed})"
        else:
            eta = ""
            if self.total is not None and rate > 0 and self.total > self.n:
                eta = f", ETA {format_duration((self.total - self.n) / rate)}"
            pct = ""
            if self.total:
                pct = f"{min(100.0, 100.0 * self.n / self.total):3.0f}% "
            text = f"{self.desc}: {pct}{done} ({speed}{eta})"
        if self._tty:
            bar = ""
            if self.total and not final:
                filled = min(_BAR_WIDTH, int(_BAR_WIDTH * self.n / self.total))
                bar = "|" + "#" * filled + "-" * (_BAR_WIDTH - filled) + "| "
            self._stream.write("\r\x1b[K" + bar + text + ("\n" if final else ""))
            self._drawn = not final
        else:
            self._stream.write(text + "\n")
        self._stream.flush()


@contextmanager
def progress(
    total: int | None,
    desc: str,
    unit: str = "it",
    *,
    stream: TextIO | None = None,
    interval: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Progress]:
    """Show progress of a long command on stderr.

    Args:
        total: How many units there are, or ``None`` when unknown (no bar, no ETA).
        desc: What is being done, e.g. ``"downloading model:v3"``.
        unit: The unit counted; ``"B"`` prints human sizes (``446.2 MB``, ``12.1 MB/s``).
        stream: Where to write (default ``sys.stderr``); a TTY gets a bar, anything
            else a plain line every ``interval`` seconds and one at the end.
        interval: Seconds between updates (default 0.1 on a TTY, 5 otherwise).
        clock: The time source (tests inject one).

    Yields:
        The ``Progress``; call ``.update(n)`` as work completes.
    """
    out = sys.stderr if stream is None else stream
    try:
        tty = out.isatty()
    except (AttributeError, ValueError):  # a closed or exotic stream: plain lines
        tty = False
    if interval is None:
        interval = _TTY_INTERVAL if tty else _LINE_INTERVAL
    bar = Progress(total, desc, unit, out, tty=tty, interval=interval, clock=clock)
    if tty:  # the bar shows at once: a long first step is not silence
        with bar._lock:
            bar._emit(bar._start, final=False)
    try:
        yield bar
    except BaseException:
        if bar._drawn:  # end the half-drawn bar so the error starts on its own line
            out.write("\n")
            out.flush()
        raise
    bar.close()
