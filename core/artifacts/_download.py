"""Materialising and checking a committed artifact's files: ``download`` and ``verify``.

:class:`tracker.Artifact` delegates here. Files come from the local blob store, or from
the team server the version was read from (:mod:`tracker.artifacts._remote`), or, for a
reference, from where it points when the reader's :class:`~tracker.artifacts._refs.Trust`
allows it. Every reference is checked before anything is written, every copy is checked
against its digest before it is renamed into place, and nothing is written outside the
target folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from tracker.artifacts._names import safe_join
from tracker.errors import StorageError, UsageError

if TYPE_CHECKING:
    from tracker.artifacts._artifact import Artifact
    from tracker.artifacts._refs import Trust
    from tracker.artifacts._store import BlobStore

__all__: list[str] = []


def trust_of(
    art: Artifact,
    allow_roots: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] | None,
    allow_references: bool | None,
) -> Trust:
    """The reader's trust, widened by the trust record of a version logged on this root."""
    from tracker.artifacts._refs import reader_trust
    from tracker.artifacts._store import BlobStore

    trust = reader_trust(allow_roots, allow_references)
    if art._remote is None and art._root is not None and art._committed is not None:
        logged = BlobStore(art._root).read_trust(art._committed.digest)
        if logged is not None:
            trust = trust.widen(*logged)
    return trust


def download_entries(
    art: Artifact, root: str | os.PathLike[str] | None, names: list[str], allow_missing: bool, trust: Trust
) -> str:
    """Write the entries ``names`` under ``root`` (see ``Artifact.download``); return the folder."""
    from tracker.artifacts._refs import fetch, refusal
    from tracker.artifacts._store import BlobStore

    entries = art._entries()
    assert art._root is not None
    store = BlobStore(art._root)
    real: dict[str, Path | None] = {}
    for name in names:  # every reference is checked before anything is written
        ref = entries[name].get("ref")
        if ref is not None:
            why, real[name] = refusal(ref, trust)
            if why is not None:
                raise StorageError(
                    f"artifact {art.qualified_name}, entry {name!r}: {why}.", path=str(ref)[:200]
                )
    base = Path(root) if root is not None else art._default_root()
    base.mkdir(parents=True, exist_ok=True)
    for name in names:
        entry = entries[name]
        dest = safe_join(base, name)
        digest = entry.get("digest")
        if digest is not None and _has(dest, str(digest)):
            continue
        ref = entry.get("ref")
        if ref is None:
            _copy_blob(art, store, name, str(digest), dest)
            continue
        try:
            fetch(ref, dest, None if digest is None else str(digest), path=real[name], name=name)
        except (OSError, ImportError) as exc:
            if allow_missing:
                continue
            raise StorageError(f"artifact entry {name!r}: cannot fetch {ref}: {exc}", path=ref) from exc
    return str(base)


def _has(dest: Path, digest: str) -> bool:
    """True when ``dest`` already holds content with ``digest`` (then it is not copied again)."""
    from tracker.artifacts._store import hash_file

    if not dest.is_file():
        return False
    try:
        return hash_file(dest)[0] == digest
    except OSError:
        return False  # unreadable: copy it again


def _copy_blob(art: Artifact, store: BlobStore, name: str, digest: str, dest: Path) -> None:
    """A stored file: from the local blob store, else from the team server it was read from."""
    if art._remote is not None and not store.has(digest):
        from tracker.artifacts._remote import download_file

        assert art._committed is not None
        download_file(art._remote, art._committed, name, digest, dest)
    else:
        store.copy_out(digest, dest, name)


def verify(art: Artifact, root: str | os.PathLike[str] | None) -> None:
    """Check content against the manifest (see :meth:`tracker.Artifact.verify`).

    Raises:
        StorageError: The first entry that is missing or differs, by name.
        UsageError: No ``root`` for an artifact read from a team server.
    """
    from tracker.artifacts._store import BlobStore, hash_file

    assert art._root is not None
    if root is None and art._remote is not None:
        raise UsageError(
            f"verify() of {art.qualified_name}, read from the team server {art._remote.base_url}: "
            "pass root=, the folder download() wrote, to check the files there."
        )
    store = BlobStore(art._root)
    for name, entry in sorted(art._entries().items()):
        digest = entry.get("digest")
        if digest is None:
            continue
        if root is not None:
            path = safe_join(Path(root), name)
            where = f"{path}"
        else:
            if entry.get("ref") is not None:
                continue
            path = store.blob_path(digest)
            where = f"its stored blob {path}"
        try:
            got = hash_file(path)[0]
        except OSError as exc:
            raise StorageError(f"artifact file {name!r} is missing ({where}): {exc}", path=str(path)) from exc
        if got != digest:
            raise StorageError(
                f"artifact file {name!r} is corrupted: {where} has hash {got}, the manifest says {digest}.",
                path=str(path),
            )
