"""One writer per run: an exclusive lease that dies with the process that took it.

``init`` takes the lease of a run before it reads, repairs or appends to the run's log;
a second process gets a :class:`~tracker.errors.UsageError` naming the live writer (or
waits for it with ``resume_timeout``). Readers ask :func:`held` whether a live process
still writes a log (a frame that looks torn may be a write in flight).

The lease is a POSIX record lock (``fcntl.lockf``) on a dedicated file next to the log,
``.lease`` for ``run.tlog`` and ``.<name>.lease`` for another log of the run directory
(a node's ``system-<label>.tlog``); never on the log itself. The kernel drops the lock
when the holder dies (kill -9 and OOM included), and a forked child (a DataLoader
worker) neither inherits it nor keeps it alive. The file also holds the writer's host,
pid and start time for the message; it is emptied on release and never deleted (deleting
a lock file lets two processes lock two different files of one name).

The POSIX-lock pitfall: closing *any* descriptor of the locked file in the holding
process drops its lock. So the holding process answers :func:`held` from an in-process
registry and never opens the file again; other processes probe with a shared lock on a
descriptor of their own.

Where locks do not work (``lockf`` fails with ``ENOLCK``, ``EOPNOTSUPP``, ...: some
network filesystems) the lease falls back to a file ``.lease-heartbeat`` created with
``link(2)`` and refreshed by a daemon thread every :data:`HEARTBEAT_SECONDS`; it is
stale after :data:`STALE_HEARTBEATS` missed refreshes, or at once when its process is
gone on this host. That fallback is best effort: two processes that find the same stale
file within a few milliseconds of each other may both take it.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Final

from tracker._naming import LOG_NAME
from tracker.errors import UsageError
from tracker.storage._liveness import process_alive, this_host

try:
    import fcntl
except ImportError:  # Windows: no POSIX locks; the heartbeat lease stands in
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LEASE_NAME",
    "Lease",
    "acquire",
    "held",
    "holder",
    "is_lease_file",
    "lease_path",
    "proc_start_time",
]

LEASE_NAME: Final = ".lease"
HEARTBEAT_NAME: Final = ".lease-heartbeat"
#: Seconds between refreshes of a heartbeat lease.
HEARTBEAT_SECONDS: Final = 5.0
#: A heartbeat lease is stale after this many missed refreshes.
STALE_HEARTBEATS: Final = 6
#: A lock held by a process that has not written its name yet (or by a reader's probe):
#: retried this long before it counts as taken.
_SETTLE_SECONDS: Final = 2.0
_POLL_SECONDS: Final = 0.05
_NO_LOCKS: Final = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.EBADF}
_BUSY: Final = {errno.EAGAIN, errno.EACCES}

#: Tests set this to exercise the heartbeat fallback on a filesystem whose locks work.
_force_heartbeat = False
_guard = threading.Lock()
_registry: dict[str, Lease] = {}


def lease_path(target: str | os.PathLike[str]) -> Path:
    """The lease file of a run directory or of one log in it.

    ``<run>/`` and ``<run>/run.tlog`` share ``<run>/.lease``; any other log
    ``<run>/<name>`` (a node's system metrics) has ``<run>/.<name>.lease``.
    """
    p = Path(target)
    if p.suffix == ".tlog" or p.is_file():
        return p.parent / (LEASE_NAME if p.name == LOG_NAME else f".{p.name}{LEASE_NAME}")
    return p / LEASE_NAME


def is_lease_file(name: str) -> bool:
    """Whether a file name in a run directory is a lease or heartbeat file.

    Folder walkers in the writing process (``Artifact.add_dir(run.dir)``) must skip
    them: opening and closing a lease file there would drop the process's lock.
    """
    return name.startswith(".") and name.endswith((LEASE_NAME, f"{LEASE_NAME}-heartbeat"))


def _beat_path(path: Path) -> Path:
    """The heartbeat file that stands in for the lease file ``path`` where locks do not work."""
    return path.with_name(HEARTBEAT_NAME if path.name == LEASE_NAME else f"{path.name}-heartbeat")


def _key(path: Path) -> str:
    return os.path.join(os.path.realpath(path.parent), path.name)


def proc_start_time() -> int | None:
    """This process's start time in clock ticks since boot (Linux), for crash detection."""
    try:
        with open(f"/proc/{os.getpid()}/stat", "rb") as f:
            stat = f.read()
        return int(stat[stat.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _info(mode: str) -> dict[str, Any]:
    argv = " ".join(sys.argv) if sys.argv else ""
    return {
        "host": this_host(),
        "pid": os.getpid(),
        "start_time": proc_start_time(),
        "started": time.time(),
        "heartbeat": time.time(),
        "command": argv[:300],
        "mode": mode,
        "token": os.urandom(8).hex(),
    }


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        info = json.loads(raw.decode())
    except (UnicodeDecodeError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _read_info(path: Path) -> dict[str, Any] | None:
    try:
        return _parse(path.read_bytes())
    except OSError:
        return None


def _gone(info: dict[str, Any]) -> bool:
    """Whether the process named in ``info`` is known to be dead (only checkable on its host)."""
    pid = info.get("pid")
    if info.get("host") != this_host() or not isinstance(pid, int):
        return False
    start = info.get("start_time")
    return process_alive(pid, start if isinstance(start, int) else None) is False


def describe(info: dict[str, Any] | None) -> str:
    """``pid 123 on host 'gpu-4' since 12:00:01 UTC (python train.py)`` for messages."""
    if not info:
        return "another process (it has not recorded its name yet)"
    started = info.get("started")
    when = (
        time.strftime(" since %Y-%m-%d %H:%M:%S UTC", time.gmtime(started))
        if isinstance(started, (int, float))
        else ""
    )
    command = f" ({info['command']})" if info.get("command") else ""
    return f"pid {info.get('pid')} on host {info.get('host')!r}{when}{command}"


class Lease:
    """The exclusive right to write one log; :meth:`release` it, or let the process end.

    Attributes:
        path: The lease file.
        mode: ``lock`` (a POSIX record lock) or ``heartbeat`` (the fallback).
        pid: The process that holds it (a forked child holds nothing).
    """

    def __init__(self, path: Path, mode: str, fd: int, info: dict[str, Any]) -> None:
        self.path = path
        self.mode = mode
        self.pid = os.getpid()
        self.info = info
        self._fd = fd
        self._released = False
        self._stop = threading.Event()
        self._beating = threading.Lock()  # a refresh never re-creates a released file
        self._thread: threading.Thread | None = None
        #: Set when a heartbeat lease found another process's token in its file.
        self.lost = False

    @property
    def active(self) -> bool:
        """True in the process that took it, until released."""
        return not self._released and self.pid == os.getpid()

    def release(self) -> None:
        """Give the lease up (a second call, or a call in a forked child, does nothing)."""
        if not self.active:
            return
        self._released = True
        with _guard:
            if _registry.get(_key(self.path)) is self:
                del _registry[_key(self.path)]
        if self.mode == "lock":
            try:
                os.ftruncate(self._fd, 0)  # a stale name must not outlive the lock
            except OSError:
                pass
            # Closing the descriptor drops the lock; explicit unlock first for clarity.
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_UN)
            except OSError:
                pass
            os.close(self._fd)
            return
        with self._beating:
            self._stop.set()
            info = _read_info(self.path)
            if info is not None and info.get("token") == self.info["token"]:
                try:
                    self.path.unlink()
                except OSError:
                    pass

    def _beat(self) -> None:
        interval = HEARTBEAT_SECONDS
        while not self._stop.wait(interval):
            with self._beating:
                if self._stop.is_set():
                    return
                info = _read_info(self.path)
                if info is None or info.get("token") != self.info["token"]:
                    self.lost = True
                    return
                self.info["heartbeat"] = time.time()
                try:
                    _write_file(self.path, self.info)
                except OSError:
                    pass  # the next beat retries; readers only see an older heartbeat

    def __repr__(self) -> str:
        return f"Lease({str(self.path)!r}, mode={self.mode!r}, active={self.active})"


def _write_file(path: Path, info: dict[str, Any]) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(json.dumps(info).encode())
    os.replace(tmp, path)


def acquire(target: str | os.PathLike[str], *, timeout: float = 0.0, what: str | None = None) -> Lease:
    """Take the exclusive lease of a run directory (or of one log in it).

    Args:
        target: The run directory, its ``run.tlog``, or another log in it.
        timeout: Seconds to wait for a live writer to finish (0: fail at once).
        what: How the message names the run (default: the lease's directory).

    Raises:
        UsageError: Another live process holds the lease (named by host and pid), or this
            process already holds it.
    """
    path = lease_path(target)
    name = what or str(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = _key(path)
    with _guard:
        mine = _registry.get(key)
        if mine is not None and mine.active:
            raise UsageError(
                f"run {name} is already being written by this process; finish() that run before "
                "starting it again."
            )
    deadline = time.monotonic() + max(0.0, float(timeout))
    settle = time.monotonic() + _SETTLE_SECONDS
    lease = None if _force_heartbeat or fcntl is None else _acquire_lock(path, name, deadline, settle)
    if lease is None:
        lease = _acquire_heartbeat(_beat_path(path), name, deadline)
    with _guard:
        _registry[key] = lease
    return lease


def _taken(name: str, info: dict[str, Any] | None, timeout: float) -> UsageError:
    wait = (
        f"waited {timeout:g} s (resume_timeout)"
        if timeout > 0
        else "pass resume_timeout=<seconds> to init to wait for it"
    )
    return UsageError(
        f"run {name} is being written by {describe(info)}: two writers would corrupt it. Stop "
        f"that process first, {wait}, or start a new run (another id). In a distributed job, "
        "let rank 0 log (init without an id under torchrun/SLURM shares one run)."
    )


def _acquire_lock(path: Path, name: str, deadline: float, settle: float) -> Lease | None:
    """A POSIX-lock lease, or None when this filesystem has no working locks."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    start = time.monotonic()
    try:
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in _NO_LOCKS:
                    os.close(fd)
                    return None
                if exc.errno not in _BUSY:
                    raise
            else:
                mine = _info("lock")
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(mine).encode(), 0)
                return Lease(path, "lock", fd, mine)
            # Taken. An empty file (or a dead name) is a holder that has not written its
            # name yet, one that is releasing, or another process's probe: retry a moment.
            info = _parse(os.pread(fd, 4096, 0))
            now = time.monotonic()
            transient = info is None or _gone(info)
            if now >= deadline and not (transient and now < settle):
                raise _taken(name, info, deadline - start)
            time.sleep(_POLL_SECONDS if transient else min(0.25, max(_POLL_SECONDS, deadline - now)))
    except BaseException:
        os.close(fd)  # this process holds no lock on it: closing drops nobody's lease
        raise


def _acquire_heartbeat(path: Path, name: str, deadline: float) -> Lease:
    start = time.monotonic()
    while True:
        info = _info("heartbeat")
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{info['token']}.tmp")
        tmp.write_bytes(json.dumps(info).encode())
        try:
            os.link(tmp, path)  # atomic create-if-absent, also on NFS
        except FileExistsError:
            pass
        else:
            lease = Lease(path, "heartbeat", -1, info)
            lease._thread = threading.Thread(
                target=lease._beat, name=f"tracker-lease-{path.parent.name}", daemon=True
            )
            lease._thread.start()
            return lease
        finally:
            tmp.unlink(missing_ok=True)
        current = _read_info(path)
        if current is None or _stale(current):
            # Remove the stale file only if it is still the one judged stale.
            again = _read_info(path)
            if again == current:
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
            continue
        if time.monotonic() >= deadline:
            raise _taken(name, current, deadline - start)
        time.sleep(min(0.25, max(_POLL_SECONDS, deadline - time.monotonic())))


def _stale(info: dict[str, Any]) -> bool:
    beat = info.get("heartbeat")
    if not isinstance(beat, (int, float)):
        return True
    return _gone(info) or time.time() - beat > HEARTBEAT_SECONDS * STALE_HEARTBEATS


def held(log_path: str | os.PathLike[str]) -> bool:
    """Whether some live process holds the writer lease of this log (this one included).

    In the process that holds it the answer comes from memory; elsewhere from a shared-lock
    probe on a descriptor of the caller's own (and the heartbeat file, where locks do not
    work). A run written before leases existed has no lease file: not held.
    """
    path = lease_path(log_path)
    with _guard:
        mine = _registry.get(_key(path))
    if mine is not None and mine.active:
        return True
    probed = _probe(path)
    if probed:
        return True
    beat = _beat_path(path)
    info = _read_info(beat) if beat.exists() else None
    return info is not None and not _stale(info)


def holder(log_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The host, pid and start time recorded by the lease's live holder (None when free)."""
    if not held(log_path):
        return None
    path = lease_path(log_path)
    with _guard:
        mine = _registry.get(_key(path))
    if mine is not None and mine.active:
        return dict(mine.info)
    return _read_info(path) or _read_info(_beat_path(path))


def _probe(path: Path) -> bool | None:
    """True/False from a lock probe; None when there is no lease file or no working locks."""
    if fcntl is None or not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return True if exc.errno in _BUSY else None
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _after_fork_in_child() -> None:
    global _guard
    _guard = threading.Lock()  # another thread of the parent may have held it
    _registry.clear()  # the child holds no lease (the kernel did not copy the locks)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
