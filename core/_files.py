"""``run.save()``: copy files into ``<run_dir>/files/`` (W&B's ``wandb.save``).

The caller resolves the glob against its working directory (:func:`save_spec`) and
enqueues it; the writer thread does the copying (:class:`FileSaver`), so a large
checkpoint never blocks ``log()``. Each copy goes through a temporary name and
``os.replace`` (a reader never sees half a file) and is recorded in a FILES record,
``[11, [{"path", "size", "sha256", "policy", "ts"}, ...]]``, with ``path`` relative to
``files/``.

Policies: ``now`` copies the files matching now; ``end`` copies what matches when the
run finishes; ``live`` copies now and again whenever a matching file changes (size or
mtime) or a new one appears, checked from the writer's own cycle every
``LIVE_EVERY`` seconds (no thread, no busy loop) and a last time at ``finish()``.
"""

from __future__ import annotations

import glob
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from tracker.errors import UsageError

__all__: list[str] = []

POLICIES: Final = ("live", "now", "end")
#: Seconds between two checks of the "live" files.
LIVE_EVERY: Final = 2.0
_CHUNK: Final = 1 << 20


def save_spec(glob_str: Any, base_path: Any, policy: Any) -> dict[str, str]:
    """Validate ``save()``'s arguments and resolve them against the current directory.

    W&B's rules: a relative glob keeps its folders below ``base_path`` (default the
    current directory); an absolute glob without ``base_path`` saves the files flat.

    Raises:
        UsageError: Not a path, an unknown policy, a URL, or a glob that walks above
            ``base_path``.
    """
    if isinstance(glob_str, bytes):
        glob_str = glob_str.decode()
    if not isinstance(glob_str, (str, os.PathLike)) or not os.fspath(glob_str):
        raise UsageError(f"save() takes a file path or glob, not {glob_str!r}.")
    raw = os.fspath(glob_str)
    if "://" in raw:
        raise UsageError(
            f"save({raw!r}): URLs are not files; use an Artifact with add_reference() to track remote data."
        )
    if policy not in POLICIES:
        raise UsageError(f"save(policy={policy!r}): use 'live', 'now' or 'end'.")
    pattern = os.path.abspath(raw)
    if base_path is None:
        base = os.path.dirname(pattern) if os.path.isabs(raw) else os.getcwd()
    else:
        base = os.path.abspath(os.fspath(base_path))
    rel = os.path.relpath(pattern, base)
    if rel == ".." or rel.startswith(".." + os.sep):
        raise UsageError(f"save({raw!r}, base_path={base!r}): the glob walks above base_path.")
    return {"pattern": pattern, "base": base, "policy": str(policy)}


def matches(spec: dict[str, str], exclude: Path | None = None) -> list[tuple[Path, str]]:
    """``(source, path relative to files/)`` of the regular files the spec matches now."""
    out = []
    for name in sorted(glob.glob(spec["pattern"], recursive=True)):
        src = Path(name)
        if not src.is_file():
            continue
        if exclude is not None and src.resolve().is_relative_to(exclude):
            continue  # never copy the run's own files (run.tlog, media/, files/) into itself
        out.append((src, Path(os.path.relpath(src, spec["base"])).as_posix()))
    return out


class FileSaver:
    """The writer thread's half of ``save()``: copies files, returns FILES entries."""

    def __init__(self, run_dir: Path, problem: Callable[[str, str], None]) -> None:
        self.run_dir = run_dir
        self.files_dir = run_dir / "files"
        self._problem = problem
        self._live: list[dict[str, str]] = []
        self._end: list[dict[str, str]] = []
        self._copied: dict[str, tuple[int, int]] = {}  # path -> (mtime_ns, size) last copied
        self._last_poll = time.monotonic()
        self._root = run_dir.resolve()

    def add(self, spec: dict[str, str]) -> list[dict[str, Any]]:
        """A new ``save()`` call: copy what it matches now unless its policy is ``end``."""
        policy = spec["policy"]
        if policy == "end":
            self._end.append(spec)
            return []
        if policy == "live":
            self._live.append(spec)
        return self._copy_all(spec, force=policy == "now")

    def poll(self, final: bool) -> list[dict[str, Any]]:
        """Re-copy changed live files (at most every ``LIVE_EVERY`` s); at ``final``, end files too."""
        if not self._live and not (final and self._end):
            return []
        now = time.monotonic()
        if not final and now - self._last_poll < LIVE_EVERY:
            return []
        self._last_poll = now
        out: list[dict[str, Any]] = []
        for spec in self._live:
            out.extend(self._copy_all(spec, force=False))
        if final:
            for spec in self._end:
                out.extend(self._copy_all(spec, force=False))
            self._live.clear()
            self._end.clear()
        return out

    def _copy_all(self, spec: dict[str, str], force: bool) -> list[dict[str, Any]]:
        out = []
        for src, rel in matches(spec, self._root):
            try:
                st = src.stat()
                stamp = (st.st_mtime_ns, st.st_size)
                if not force and self._copied.get(rel) == stamp:
                    continue
                out.append(self._copy(src, rel, spec["policy"]))
                self._copied[rel] = stamp
            except OSError as exc:
                self._problem(f"save:{rel}", f"save(): could not copy {src} into the run: {exc}")
        return out

    def _copy(self, src: Path, rel: str, policy: str) -> dict[str, Any]:
        dest = self.files_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        h = hashlib.sha256()
        size = 0
        try:
            with open(src, "rb") as fin, open(tmp, "wb") as fout:
                while chunk := fin.read(_CHUNK):
                    h.update(chunk)
                    fout.write(chunk)
                    size += len(chunk)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return {"path": rel, "size": size, "sha256": h.hexdigest(), "policy": policy, "ts": time.time()}
