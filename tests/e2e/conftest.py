"""Helpers for the crash tests: victim subprocesses that report progress on stdout.

A victim is a small script started with ``sys.executable``. It reports on stdout, one
line at a time, and the parent synchronises on those lines only (never on sleeps): a
reader thread drains the pipe continuously, so a chatty victim never blocks on a full
pipe, and every timeout below is a failure guard, not a wait.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

#: Longest time any single expected line may take to arrive (interpreter start included).
LINE_TIMEOUT = 30.0


class Victim:
    """A running victim process and the lines it has printed so far."""

    def __init__(self, args: list[str], *, env: dict[str, str], cwd: Path, stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")  # closed in wait()
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=cwd,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="victim-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            for raw in self.proc.stdout:
                line = raw.decode().rstrip("\n")
                self.lines.append(line)
                self._queue.put(line)
        except (OSError, ValueError):
            pass  # the pipe was closed by wait() after a failure; nothing more to read
        finally:
            self._queue.put(None)

    def expect(self, predicate: Callable[[str], bool], what: str) -> str:
        """Return the next line satisfying ``predicate``; fail if the victim exits first."""
        while True:
            try:
                line = self._queue.get(timeout=LINE_TIMEOUT)
            except queue.Empty:
                self.kill()
                pytest.fail(f"victim printed no {what} within {LINE_TIMEOUT} s; {self.diagnostics()}")
            if line is None:
                self.wait()
                pytest.fail(f"victim exited before printing {what}; {self.diagnostics()}")
            if predicate(line):
                return line

    def expect_line(self, text: str) -> str:
        """Return once the victim printed exactly ``text``."""
        return self.expect(lambda line: line == text, repr(text))

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the victim."""
        self.proc.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL the victim (no-op once it has exited)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def wait(self, timeout: float = LINE_TIMEOUT) -> int:
        """Wait for exit and for the last stdout line; return the return code."""
        try:
            code = self.proc.wait(timeout)
        finally:
            self._reader.join(timeout)
            for stream in (self.proc.stdin, self.proc.stdout, self._stderr):
                if stream is not None:
                    stream.close()
        return code

    def acks(self, prefix: str = "W ") -> list[int]:
        """The integers printed on lines starting with ``prefix``, in order."""
        return [int(line[len(prefix) :]) for line in list(self.lines) if line.startswith(prefix)]

    def diagnostics(self) -> str:
        """Return code, the last stdout lines and stderr, for failure messages."""
        err = (
            self.stderr_path.read_bytes().decode(errors="replace")[-2000:]
            if self.stderr_path.exists()
            else ""
        )
        return f"returncode={self.proc.poll()}, last lines={self.lines[-5:]}, stderr={err!r}"


@pytest.fixture
def spawn(root: Path, tmp_path: Path) -> Iterator[Callable[..., Victim]]:
    """Start victims: ``spawn(script_path, *args, cwd=None)``; all are killed at teardown."""
    started: list[Victim] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "WANDB_"))}
    env.update(
        TRACKER_DIR=str(root),
        TRACKER_STRICT="1",
        TRACKER_CONSOLE="off",
        TRACKER_DISABLE_GIT="1",
        PYTHONUNBUFFERED="1",
    )

    def start(script: Path, *args: str, cwd: Path | None = None) -> Victim:
        n = len(started)
        victim = Victim(
            [sys.executable, str(script), *args],
            env=env,
            cwd=cwd or tmp_path,
            stderr_path=tmp_path / f"victim-{n}.stderr",
        )
        started.append(victim)
        return victim

    yield start
    for victim in started:
        victim.kill()
        try:
            victim.wait(10)
        except Exception:
            pass


@pytest.fixture
def write_script(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a victim script into ``tmp_path`` and return its path."""

    def write(name: str, source: str) -> Path:
        path = tmp_path / name
        path.write_text(source)
        return path

    return write
