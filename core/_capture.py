"""Run capture (git, program, Python, packages, host) and the console tee.

Capture runs in the writer thread after ``init`` has returned. The one ``git diff``
call is the only child process tracker ever starts; the commit, branch and remote are
read from ``.git`` files directly.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TextIO

from tracker._settings import environ_copy
from tracker._values import REDACTED, looks_secret

__all__: list[str] = []

DIFF_CAP: Final = 1 << 20  # bytes of `git diff HEAD` kept
GIT_TIMEOUT: Final = 5.0
_ENV_KEEP: Final = (
    "CUDA_VISIBLE_DEVICES",
    "SLURM_JOB_ID",
    "SLURM_STEP_ID",
    "TORCHELASTIC_RUN_ID",
    "LOCAL_RANK",
    "RANK",
    "WORLD_SIZE",
    "HOSTNAME",
)


def redact_argv(argv: list[str]) -> list[str]:
    """Hide values of secret-looking options (``--api-key=x`` and ``--token x``)."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if arg.startswith("-"):
            name, eq, _value = arg.partition("=")
            if looks_secret(name.lstrip("-")):
                if eq:
                    out.append(f"{name}={REDACTED}")
                    continue
                hide_next = True
        out.append(arg)
    return out


def captured_env() -> dict[str, str]:
    """The tracker/launcher variables worth keeping, with secrets redacted."""
    keep: dict[str, str] = {}
    for key, value in environ_copy().items():
        if key.startswith(("TRACKER_", "WANDB_")) or key in _ENV_KEEP:
            keep[key] = REDACTED if looks_secret(key) else value
    return keep


def _git_dir(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        dot = folder / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():
            text = dot.read_text(errors="replace").strip()
            if text.startswith("gitdir:"):
                return (folder / text.split(":", 1)[1].strip()).resolve()
    return None


def _read_ref(git_dir: Path, ref: str) -> str | None:
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():
        common = (git_dir / commondir.read_text().strip()).resolve()
    for base in (git_dir, common):
        path = base / ref
        if path.is_file():
            return path.read_text().strip()
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(errors="replace").splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    return None


def _strip_credentials(url: str) -> str:
    if "://" in url and "@" in url.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url


def git_info(cwd: Path, with_diff: bool = True) -> dict[str, Any]:
    """Commit, branch, remote and a capped ``git diff HEAD`` of the repository around ``cwd``."""
    git_dir = _git_dir(cwd)
    if git_dir is None:
        return {}
    info: dict[str, Any] = {"root": str(git_dir.parent)}
    head = (git_dir / "HEAD").read_text().strip() if (git_dir / "HEAD").is_file() else ""
    if head.startswith("ref:"):
        ref = head.split(":", 1)[1].strip()
        info["branch"] = ref.removeprefix("refs/heads/")
        commit = _read_ref(git_dir, ref)
    else:
        commit = head or None
    info["commit"] = commit
    config = git_dir / "config"
    if (git_dir / "commondir").is_file():
        config = (git_dir / (git_dir / "commondir").read_text().strip()).resolve() / "config"
    if config.is_file():
        section = ""
        for line in config.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == '[remote "origin"]' and line.startswith("url"):
                info["remote"] = _strip_credentials(line.split("=", 1)[1].strip())
    if with_diff and commit:
        info.update(_git_diff(git_dir.parent))
    return info


def _git_diff(root: Path) -> dict[str, Any]:
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "--no-pager", "diff", "HEAD", "--no-color", "--no-ext-diff"],
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"diff_error": repr(exc)}
    if proc.returncode != 0:
        return {"diff_error": proc.stderr.decode(errors="replace")[:500]}
    diff = proc.stdout
    return {
        "dirty": bool(diff),
        "diff": diff[:DIFF_CAP].decode(errors="replace"),
        "diff_truncated": len(diff) > DIFF_CAP,
    }


def package_versions() -> dict[str, str]:
    """Versions of the top-level packages this process has imported (cheap, no metadata scan)."""
    out: dict[str, str] = {}
    for name, module in sys.modules.copy().items():  # dict.copy is atomic under the GIL
        if "." in name or name.startswith("_") or module is None:
            continue
        # vars(), not getattr: some packages deprecate __version__ through a module __getattr__.
        version = vars(module).get("__version__") if hasattr(module, "__dict__") else None
        if isinstance(version, str):
            out[name] = version
    return out


def _os_string() -> str:
    if hasattr(os, "uname"):
        u = os.uname()
        return f"{u.sysname}-{u.release}-{u.machine}"
    return sys.platform


def capture(*, cwd: Path, argv: list[str], git: bool) -> dict[str, Any]:
    """Everything recorded about where and how the run was started."""
    import platform
    import socket

    info: dict[str, Any] = {
        "program": argv[0] if argv else "",
        "argv": redact_argv(argv),
        "cwd": str(cwd),
        "executable": sys.executable,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        # Not platform.platform(): on Linux it runs `uname -p` in a child process.
        "os": _os_string(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "cpu_count": os.cpu_count(),
        "env": captured_env(),
        "packages": package_versions(),
    }
    if git:
        try:
            info["git"] = git_info(cwd)
        except OSError as exc:
            info["git"] = {"error": repr(exc)}
    return info


class ConsoleTee:
    """Wraps ``sys.stdout``/``sys.stderr``: writes through, and queues whole lines.

    Lines go to a bounded deque that the writer drains; when it is full the oldest
    line is dropped and counted (console output is the one thing allowed to drop).
    """

    def __init__(self, stream: TextIO, stream_id: int, sink: Callable[[list[Any]], None]) -> None:
        self._stream = stream
        self._id = stream_id
        self._sink = sink
        self._partial = ""

    def write(self, text: str) -> int:
        n = self._stream.write(text)
        try:
            if "\n" not in text:
                self._partial += text
                if len(self._partial) > 65536:
                    self._emit(self._partial)
                    self._partial = ""
                return n
            parts = (self._partial + text).split("\n")
            self._partial = parts.pop()
            for line in parts:
                self._emit(line)
        except Exception:  # noqa: BLE001, S110 - the tee must never break the user's print()
            pass
        return n

    def _emit(self, line: str) -> None:
        self._sink([time.time(), self._id, line[:65536]])

    def flush(self) -> None:
        self._stream.flush()

    def finish(self) -> None:
        """Emit a trailing partial line."""
        if self._partial:
            self._emit(self._partial)
            self._partial = ""

    @property
    def wrapped(self) -> TextIO:
        """The stream this tee writes through to."""
        return self._stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
