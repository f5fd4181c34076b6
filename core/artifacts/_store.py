"""The content-addressed blob store and the manifests of artifact versions.

Layout under the data root::

    artifacts/blobs/sha256/<2 hex>/<62 hex>     one file per distinct content
    artifacts/manifests/<2 hex>/<64 hex>.json   one manifest per distinct version content
    artifacts/trusted/<2 hex>/<64 hex>.json     the references a run on this root added
    artifacts/tmp/                              partial writes (same filesystem)

A blob is named by the SHA-256 of its bytes, so identical content is stored once across
versions, artifacts and projects. Files are hashed in fixed-size chunks (bounded memory
whatever their size), copied only when the blob is missing, re-hashed while copying (a
file that changed in between is refused), and moved into place with ``os.replace``, so
concurrent writers of the same content both end with one complete blob.

A manifest is canonical JSON (sorted keys) of ``{"format": 1, "entries": {path:
entry}}``; its SHA-256 is the version's digest, which identifies the version across
stores. A file entry is ``{"digest": "sha256:<hex>", "size": n}``; a reference entry
is ``{"ref": uri}`` plus ``size``/``etag``/``digest`` when they could be read.

A manifest with references that a run on this data root logged gets a *trust record*
beside it (``trusted/``): the real paths ``add_reference`` was given, and whether it has
remote references. ``download()`` follows such a version's references without the
reader's opt-in (see :mod:`tracker.artifacts._refs`). Only ``log_artifact`` writes it: a
manifest posted to a team server on this root, or read from one, has none.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from pathlib import Path
from typing import IO, Any, Final

from tracker.errors import StorageError

__all__: list[str] = []

MANIFEST_FORMAT: Final = 1
CHUNK: Final = 1 << 20
_PREFIX: Final = "sha256:"


def hash_stream(fh: io.RawIOBase, out: IO[bytes] | None = None) -> tuple[str, int]:
    """SHA-256 (``sha256:<hex>``) and size of a stream, optionally copying it to ``out``."""
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    size = 0
    while n := fh.readinto(view):
        chunk = view[:n]
        h.update(chunk)
        if out is not None:
            out.write(chunk)
        size += n
    return _PREFIX + h.hexdigest(), size


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """SHA-256 (``sha256:<hex>``) and size of a file, read in 1 MiB chunks."""
    with open(path, "rb", buffering=0) as fh:
        return hash_stream(fh)


def _hex(digest: str) -> str:
    hexpart = digest[len(_PREFIX) :] if digest.startswith(_PREFIX) else digest
    if len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise StorageError(f"{digest!r} is not a sha256 digest.")
    return hexpart


def _touch(blob: Path) -> bool:
    """Mark an existing blob as just (re)used, so ``tracker gc`` keeps it; False if it vanished.

    ``tracker gc`` deletes only blobs whose mtime is older than its start, and restores a
    blob it finds touched after moving it aside (see ``tracker.artifacts._gc``).
    """
    try:
        os.utime(blob)
    except FileNotFoundError:
        return False  # gc took it: copy it in again
    except OSError:
        pass  # not ours to touch (a shared, read-only store): it is still there
    return True


def canonical(manifest: dict[str, Any]) -> bytes:
    """The bytes a manifest is stored as and hashed over."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_digest(entries: dict[str, dict[str, Any]]) -> tuple[str, bytes]:
    """``(digest, bytes)`` of the manifest holding ``entries``."""
    data = canonical({"format": MANIFEST_FORMAT, "entries": entries})
    return _PREFIX + hashlib.sha256(data).hexdigest(), data


class BlobStore:
    """Blobs and manifests under ``<root>/artifacts``; safe for concurrent processes.

    Args:
        root: The data root.
    """

    def __init__(self, root: Path) -> None:
        self.base = root / "artifacts"
        self.blobs = self.base / "blobs" / "sha256"
        self.manifests = self.base / "manifests"
        self.tmp = self.base / "tmp"

    # ---------------------------------------------------------------- blobs
    def blob_path(self, digest: str) -> Path:
        """Where the blob of ``digest`` lives (whether or not it exists)."""
        hexpart = _hex(digest)
        return self.blobs / hexpart[:2] / hexpart[2:]

    def has(self, digest: str) -> bool:
        """True when the blob exists."""
        return self.blob_path(digest).is_file()

    def put_file(self, src: Path) -> tuple[str, int, bool]:
        """Store a file's content unless already stored.

        Returns:
            ``(digest, size, copied)``; ``copied`` is False when the blob existed.

        Raises:
            StorageError: The file cannot be read, or it changed while being stored.
        """
        try:
            digest, size = hash_file(src)
            dest = self.blob_path(digest)
            if dest.is_file() and dest.stat().st_size == size and _touch(dest):
                return digest, size, False
            self._copy_in(src, digest, dest)
        except OSError as exc:
            raise StorageError(f"cannot store {src} as an artifact blob: {exc}", path=str(src)) from exc
        return digest, size, True

    def _copy_in(self, src: Path, digest: str, dest: Path) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp / f"{uuid.uuid4().hex}.part"
        try:
            with open(src, "rb", buffering=0) as fin, open(tmp, "wb") as fout:
                copied, _size = hash_stream(fin, fout)
                fout.flush()
                os.fsync(fout.fileno())
            if copied != digest:
                raise StorageError(
                    f"{src} changed while it was being stored (hash {copied} != {digest}); "
                    "log the artifact again once the file is complete.",
                    path=str(src),
                )
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def copy_out(self, digest: str, dest: Path, name: str) -> None:
        """Copy a blob to ``dest`` (atomically), checking its hash on the way.

        Raises:
            StorageError: The blob is missing or corrupted (the message names ``name``).
        """
        src = self.blob_path(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with open(src, "rb", buffering=0) as fin, open(tmp, "wb") as fout:
                got, _size = hash_stream(fin, fout)
            if got != digest:
                raise StorageError(
                    f"artifact file {name!r}: its stored blob {src} is corrupted (hash {got}, "
                    f"expected {digest}).",
                    path=str(src),
                )
            os.replace(tmp, dest)
        except FileNotFoundError as exc:
            raise StorageError(f"artifact file {name!r}: its blob {src} is missing.", path=str(src)) from exc
        except OSError as exc:
            raise StorageError(
                f"artifact file {name!r}: cannot copy to {dest}: {exc}", path=str(dest)
            ) from exc
        finally:
            tmp.unlink(missing_ok=True)

    # ---------------------------------------------------------------- manifests
    def manifest_path(self, digest: str) -> Path:
        """Where the manifest of a version digest lives."""
        hexpart = _hex(digest)
        return self.manifests / hexpart[:2] / f"{hexpart}.json"

    def write_manifest(self, entries: dict[str, dict[str, Any]]) -> str:
        """Store a manifest (once per content) and return its digest."""
        digest, data = manifest_digest(entries)
        dest = self.manifest_path(digest)
        if dest.is_file():
            return digest
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
            tmp = self.tmp / f"{uuid.uuid4().hex}.json"
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot write manifest {dest}: {exc}", path=str(dest)) from exc
        return digest

    def trust_path(self, digest: str) -> Path:
        """Where the trust record of a version digest lives."""
        hexpart = _hex(digest)
        return self.base / "trusted" / hexpart[:2] / f"{hexpart}.json"

    def write_trust(self, digest: str, roots: list[str], remote: bool) -> None:
        """Record that a run on this root logged ``digest`` with references under ``roots``.

        Merged with an existing record (the same content logged again from other folders).
        """
        dest = self.trust_path(digest)
        old_roots, old_remote = self.read_trust(digest) or ((), False)
        data = {"file_roots": sorted({*old_roots, *roots}), "remote": bool(remote or old_remote)}
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
            tmp = self.tmp / f"{uuid.uuid4().hex}.trust"
            try:
                tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot write {dest}: {exc}", path=str(dest)) from exc

    def read_trust(self, digest: str) -> tuple[tuple[str, ...], bool] | None:
        """``(file roots, remote)`` of the trust record of ``digest``, or None when it has none."""
        try:
            data = json.loads(self.trust_path(digest).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        roots = data.get("file_roots") if isinstance(data, dict) else None
        if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
            return None
        return tuple(roots), data.get("remote") is True

    def read_manifest(self, digest: str) -> dict[str, dict[str, Any]]:
        """The entries of a stored manifest.

        Raises:
            StorageError: Missing, unreadable, or its content does not match ``digest``.
        """
        path = self.manifest_path(digest)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StorageError(f"manifest {path} of version {digest} cannot be read: {exc}",
                               path=str(path)) from exc  # fmt: skip
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise StorageError(f"manifest {path} is corrupted (its hash is not {digest}).", path=str(path))
        entries = json.loads(data)["entries"]
        assert isinstance(entries, dict)
        return entries
