"""core/cli/_progress.py: a bar on a TTY, periodic lines otherwise (issue 20)."""

from __future__ import annotations

import io

import pytest

from tracker.cli._progress import format_duration, format_size, progress


class _Clock:
    """A clock the test moves by hand: no sleeps."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (446184657, "446.2 MB"), (3 * 10**12, "3.0 TB")],
)
def test_format_size_is_decimal_and_short(n: int, text: str) -> None:
    assert format_size(n) == text


def test_format_duration() -> None:
    assert format_duration(7.4) == "0:07"
    assert format_duration(723) == "12:03"
    assert format_duration(3723) == "1:02:03"


def test_not_a_tty_prints_a_line_per_interval_and_one_at_the_end() -> None:
    out, clock = io.StringIO(), _Clock()
    with progress(total=100 * 10**6, desc="downloading model:v1", unit="B", stream=out, clock=clock) as bar:
        for _ in range(10):  # 10 x 10 MB, one per second: one line at 5 s and one at 10 s
            clock.now += 1.0
            bar.update(10 * 10**6)
    lines = out.getvalue().splitlines()
    assert lines == [
        "downloading model:v1:  50% 50.0 MB/100.0 MB (10.0 MB/s, ETA 0:05)",
        "downloading model:v1: 100% 100.0 MB/100.0 MB (10.0 MB/s)",
        "downloading model:v1: 100.0 MB/100.0 MB in 0:10 (10.0 MB/s)",
    ]
    assert "\r" not in out.getvalue()


def test_unknown_total_counts_without_percent_or_eta() -> None:
    out, clock = io.StringIO(), _Clock()
    with progress(total=None, desc="syncing", unit="runs", stream=out, clock=clock, interval=1.0) as bar:
        clock.now += 2.0
        bar.update(4)
    assert out.getvalue().splitlines() == [
        "syncing: 4 runs (2.0 runs/s)",
        "syncing: 4 runs in 0:02 (2.0 runs/s)",
    ]


def test_a_tty_redraws_one_line_with_a_bar() -> None:
    out, clock = _Tty(), _Clock()
    with progress(total=4, desc="export", unit="runs", stream=out, clock=clock) as bar:
        clock.now += 1.0
        bar.update(1)
    text = out.getvalue()
    assert text.startswith("\r\x1b[K|------------------------| export:   0% 0/4 runs (0.0 runs/s)")
    assert "\r\x1b[K|######------------------| export:  25% 1/4 runs (1.0 runs/s, ETA 0:03)" in text
    assert text.endswith("\r\x1b[Kexport: 1/4 runs in 0:01 (1.0 runs/s)\n")


def test_an_error_ends_the_bar_line_and_prints_no_summary() -> None:
    out, clock = _Tty(), _Clock()

    def fail() -> None:
        with progress(total=2, desc="gc", stream=out, clock=clock) as bar:
            clock.now += 1.0
            bar.update(1)
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        fail()
    assert out.getvalue().endswith("ETA 0:01)\n")
    assert " in 0:" not in out.getvalue()
