"""Garbage collection of the blob store: delete blobs that no live version references.

A blob is *referenced* when an entry of the manifest of a live (not deleted) version of
any artifact in the state store names its digest; registry collections are artifacts
too, so linked versions protect their blobs. A version deleted with
``StateStore.delete_artifact_version`` protects nothing. Manifests themselves are kept.

Safety against a concurrent ``log_artifact`` (which stores blobs first, then writes the
manifest, then registers the version), the rule:

    A blob is deleted only when it is unreferenced *and* its mtime is older than the gc
    start minus ``grace`` seconds, on the filesystem's own clock.

* The start is the mtime of a marker file gc writes under ``artifacts/tmp``, so it is on
  the same clock as blob mtimes (coarse kernel timestamps, a file server's clock).
* A blob written after gc started is newer than the start: kept. Storing content whose
  blob already exists touches the blob (``BlobStore.put_file``), so a reused blob is
  new again: kept.
* A blob is moved aside before it is unlinked and its mtime is read again there: a
  writer that touched it in between gets it restored, and a writer that touches it after
  the move finds it gone and copies it in again.
* Versions registered while gc scanned are re-read before deleting (new manifests are
  added to the referenced set).
* What stays unsafe: a writer that stored a blob more than ``grace`` seconds before gc
  started and registers its version only after gc re-read the state store. The default
  grace (one hour) covers artifacts whose files take less than that to hash and copy.

gc refuses to delete anything when a live version's manifest is missing or corrupted.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final, NamedTuple

from tracker.artifacts._store import BlobStore

if TYPE_CHECKING:
    from tracker.storage._base import StateStore

__all__: list[str] = []

DEFAULT_GRACE: Final = 3600.0
_HEX: Final = frozenset("0123456789abcdef")


class GcResult(NamedTuple):
    """What a gc pass found (and, unless ``dry_run``, did).

    Attributes:
        removed: ``(digest, size)`` of each unreferenced blob deleted (dry run: that
            would be deleted).
        referenced: Blobs kept because a live version references them.
        recent: Unreferenced blobs kept because they are newer than the cutoff.
        dry_run: True when nothing was deleted.
    """

    removed: list[tuple[str, int]]
    referenced: int
    recent: int
    dry_run: bool

    @property
    def freed(self) -> int:
        """Bytes freed (dry run: that would be freed)."""
        return sum(size for _digest, size in self.removed)


class Progress:
    """Throttled progress lines (``write(message)`` at most every ``interval`` seconds)."""

    def __init__(self, write: Callable[[str], None] | None, interval: float = 1.0) -> None:
        self._write = write
        self._interval = interval
        self._last = time.monotonic()

    def due(self) -> bool:
        """True when a line should be written now (then not again for ``interval``)."""
        if self._write is None:
            return False
        now = time.monotonic()
        if now - self._last < self._interval:
            return False
        self._last = now
        return True

    def __call__(self, message: str) -> None:
        if self._write is not None:
            self._write(message)


def live_manifests(state: StateStore) -> set[str]:
    """Manifest digests of every live version of every artifact of every project."""
    return {
        v.digest
        for info in state.artifacts()
        if info.latest is not None
        for v in state.artifact_versions(info.project, info.name)
    }


def _referenced(store: BlobStore, manifests: set[str], blobs: set[str], progress: Progress) -> None:
    for i, digest in enumerate(sorted(manifests), 1):
        for entry in store.read_manifest(digest).values():  # StorageError when missing: refuse
            if isinstance(entry.get("digest"), str):
                blobs.add(entry["digest"])
        if progress.due():
            progress(f"gc: read {i}/{len(manifests)} manifests")


def _start_ns(store: BlobStore) -> int:
    """Now, on the blob filesystem's clock: the mtime of a fresh marker file."""
    store.tmp.mkdir(parents=True, exist_ok=True)
    marker = store.tmp / f"gc-{uuid.uuid4().hex}.start"
    marker.write_bytes(b"")
    try:
        return marker.stat().st_mtime_ns
    finally:
        marker.unlink(missing_ok=True)


def collect(
    root: Path,
    state: StateStore,
    *,
    delete: bool = False,
    grace: float = DEFAULT_GRACE,
    progress: Callable[[str], None] | None = None,
    progress_interval: float = 1.0,
    _hook: Callable[[str], None] | None = None,
) -> GcResult:
    """Find (and with ``delete=True`` delete) the unreferenced blobs under ``root``.

    Args:
        root: The data root.
        state: Its state store (the source of truth for which versions are live).
        delete: Delete; otherwise a dry run that only reports.
        grace: Keep unreferenced blobs modified less than this many seconds before the start.
        progress: Receives progress lines on long work.
        progress_interval: Seconds between progress lines.

    Raises:
        StorageError: A live version's manifest is missing or corrupted (nothing is deleted).
    """
    store = BlobStore(root)
    tick = Progress(progress, progress_interval)
    cutoff = _start_ns(store) - int(grace * 1e9)
    manifests = live_manifests(state)
    referenced: set[str] = set()
    _referenced(store, manifests, referenced, tick)
    if _hook is not None:
        _hook("listed")

    candidates: list[tuple[str, Path, int]] = []
    kept = recent = scanned = 0
    for path, digest in _blobs(store):
        scanned += 1
        if tick.due():
            tick(f"gc: scanned {scanned} blobs")
        if digest in referenced:
            kept += 1
            continue
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        if st.st_mtime_ns >= cutoff:
            recent += 1
        else:
            candidates.append((digest, path, st.st_size))
    if _hook is not None:
        _hook("scanned")

    # Versions registered while we scanned: their blobs are referenced too.
    new = live_manifests(state) - manifests
    if new:
        _referenced(store, new, referenced, tick)
        late = [c for c in candidates if c[0] in referenced]
        kept += len(late)
        candidates = [c for c in candidates if c[0] not in referenced]

    removed: list[tuple[str, int]] = []
    for i, (digest, path, size) in enumerate(candidates, 1):
        if tick.due():
            tick(f"gc: {'deleting' if delete else 'checking'} {i}/{len(candidates)} blobs")
        if not delete:
            removed.append((digest, size))
        elif _remove(store, path, cutoff):
            removed.append((digest, size))
        else:
            recent += 1
    return GcResult(removed, kept, recent, not delete)


def _blobs(store: BlobStore) -> list[tuple[Path, str]]:
    """``(path, digest)`` of every well-named blob file, sorted."""
    out: list[tuple[Path, str]] = []
    if not store.blobs.is_dir():
        return out
    for sub in sorted(store.blobs.iterdir()):
        if len(sub.name) != 2 or not set(sub.name) <= _HEX or not sub.is_dir():
            continue
        for path in sorted(sub.iterdir()):
            if len(path.name) == 62 and set(path.name) <= _HEX and path.is_file():
                out.append((path, f"sha256:{sub.name}{path.name}"))
    return out


def _remove(store: BlobStore, path: Path, cutoff: int) -> bool:
    """Move a blob aside, re-check its mtime there, then unlink it (or put it back)."""
    aside = store.tmp / f"gc-{uuid.uuid4().hex}.blob"
    try:
        if path.stat().st_mtime_ns >= cutoff:
            return False
        os.rename(path, aside)
    except FileNotFoundError:
        return False  # another gc took it
    if aside.stat().st_mtime_ns >= cutoff:
        # A writer reused it just before the move: put it back (same content as any
        # copy the writer may have stored meanwhile, so replacing that is harmless).
        os.replace(aside, path)
        return False
    aside.unlink()
    return True
