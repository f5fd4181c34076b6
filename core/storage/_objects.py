"""Object storage for the team server: a local folder or an S3-compatible bucket (fsspec).

:func:`open_store` takes a local path (``/srv/tracker/objects``) or a URL
(``s3://bucket/prefix``) and returns an :class:`ObjectStore`: put, get, exists, size,
open for reading, delete and list of keys such as ``blobs/sha256/ab/ab12...``
(:func:`blob_key`). Contract, for every implementation:

* a ``put`` is atomic: a reader sees the old object, the new one, or none, never a
  part (local: a temporary file and ``os.replace``; S3: one ``PUT``, which S3 applies
  atomically);
* keys are relative, ``/``-separated, with no empty, ``.`` or ``..`` segment, no
  backslash and no NUL; anything else is a :class:`~tracker.errors.UsageError`;
* a missing object read with ``get``/``open``/``size`` is a
  :class:`~tracker.errors.StorageError` whose ``path`` is the key; every other failure
  of the backend (permissions, network) is a ``StorageError`` too, raised from the
  original exception.

A local folder needs only the standard library (the same operations fsspec's local
filesystem has, plus the atomic rename it lacks), so a single-host server needs no
extra. Any other URL goes through fsspec (``s3://`` with s3fs, from
``pip install 'tracker[server]'``). For S3 the endpoint comes from
``TRACKER_S3_ENDPOINT_URL`` or ``AWS_ENDPOINT_URL`` (MinIO, moto, Ceph ...), and the
credentials from the usual AWS sources (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, profiles, instance roles).
"""

from __future__ import annotations

import abc
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

from tracker.errors import StorageError, UsageError

__all__ = ["LocalObjectStore", "ObjectStore", "blob_key", "open_store"]

BLOB_PREFIX: Final = "blobs/sha256"
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_CHUNK: Final = 1 << 20
_TMP: Final = ".tmp"


def blob_key(sha256: str) -> str:
    """The key of a content-addressed blob: ``blobs/sha256/<first 2 hex>/<64 hex>``.

    Raises:
        UsageError: ``sha256`` is not 64 lower-case hex digits.
    """
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise UsageError(f"{sha256!r} is not a SHA-256 hex digest (64 lower-case hex digits).")
    return f"{BLOB_PREFIX}/{sha256[:2]}/{sha256}"


def check_key(key: str) -> str:
    """Return ``key`` if it is a valid object key (see the module docstring).

    Raises:
        UsageError: Empty, absolute, with a backslash, NUL, or an empty/``.``/``..`` segment.
    """
    if not isinstance(key, str) or not key:
        raise UsageError(f"object key {key!r}: use a non-empty relative path such as 'blobs/...'.")
    if "\\" in key or "\x00" in key or key.startswith("/"):
        raise UsageError(f"object key {key!r}: no backslash, NUL or leading '/'.")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise UsageError(f"object key {key!r}: no empty, '.' or '..' segment.")
    return key


class ObjectStore(abc.ABC):
    """Objects under string keys; see the module docstring for the contract.

    Implementations are safe to share between threads. Writers of the same key race
    harmlessly when, as for content-addressed blobs, they write the same bytes.

    Attributes:
        url: Where the store is, as given to :func:`open_store` (normalised).
    """

    url: str

    @abc.abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically, replacing any object there."""

    @abc.abstractmethod
    def put_file(self, key: str, path: str | os.PathLike[str], *, move: bool = False) -> None:
        """Store the content of a local file under ``key`` atomically.

        Args:
            key: The object key.
            path: The local file.
            move: The file may be consumed (renamed into place when the store is local);
                it is gone afterwards either way.
        """

    @abc.abstractmethod
    def open(self, key: str) -> IO[bytes]:
        """Open an object for reading (a binary file object; close it after use)."""

    def get(self, key: str) -> bytes:
        """The bytes of an object."""
        with self.open(key) as f:
            data: bytes = f.read()
        return data

    def get_file(self, key: str, dest: str | os.PathLike[str]) -> None:
        """Copy an object to a local file (through a temporary name: never a partial ``dest``)."""
        target = Path(dest)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with self.open(key) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
            os.replace(tmp, target)
        except OSError as exc:
            raise StorageError(f"cannot copy {key} from {self.url} to {target}: {exc}", path=key) from exc
        finally:
            tmp.unlink(missing_ok=True)

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """True when an object is stored under ``key``."""

    @abc.abstractmethod
    def size(self, key: str) -> int:
        """The size of an object in bytes."""

    @abc.abstractmethod
    def delete(self, key: str) -> bool:
        """Delete an object; False when there was none."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """The keys under ``prefix`` (a folder-like prefix such as ``blobs/``), sorted."""

    def check(self) -> None:  # noqa: B027 - a hook: most stores need no check
        """Make sure the store can be used (the folder exists, the bucket is reachable).

        Raises:
            StorageError: With what is wrong and how to fix it.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


def _missing(store: ObjectStore, key: str) -> StorageError:
    return StorageError(f"object {key!r} is not in the store {store.url}", path=key)


class LocalObjectStore(ObjectStore):
    """Objects as files under a local folder (``<folder>/<key>``), with the standard library.

    Args:
        folder: The store's folder (created when missing).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).absolute()
        self.url = str(self.folder)

    def path(self, key: str) -> Path:
        """The file of ``key`` (whether or not it exists)."""
        return self.folder.joinpath(*check_key(key).split("/"))

    def _tmp(self) -> Path:
        tmp = self.folder / _TMP
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp / f"{uuid.uuid4().hex}.part"

    def _install(self, tmp: Path, key: str) -> None:
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)

    def put(self, key: str, data: bytes) -> None:
        self.path(key)
        tmp = self._tmp()
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            self._install(tmp, key)
        except OSError as exc:
            raise StorageError(f"cannot store {key} in {self.url}: {exc}", path=key) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(self, key: str, path: str | os.PathLike[str], *, move: bool = False) -> None:
        self.path(key)
        src = Path(path)
        tmp = self._tmp()
        try:
            if move:
                try:
                    os.replace(src, tmp)  # same filesystem: no copy
                except OSError:
                    shutil.copyfile(src, tmp)
                    src.unlink()
            else:
                shutil.copyfile(src, tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            self._install(tmp, key)
        except OSError as exc:
            raise StorageError(f"cannot store {src} as {key} in {self.url}: {exc}", path=key) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def open(self, key: str) -> IO[bytes]:
        path = self.path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise _missing(self, key) from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key} from {self.url}: {exc}", path=key) from exc

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        path = self.path(key)
        try:
            if path.is_file():
                return path.stat().st_size
        except OSError as exc:
            raise StorageError(f"cannot stat {key} in {self.url}: {exc}", path=key) from exc
        raise _missing(self, key)

    def delete(self, key: str) -> bool:
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete {key} from {self.url}: {exc}", path=key) from exc
        return True

    def list(self, prefix: str = "") -> list[str]:
        base = self.path(prefix.rstrip("/")) if prefix.strip("/") else self.folder
        return sorted(self._walk(base))

    def _walk(self, base: Path) -> Iterator[str]:
        try:
            for dirpath, dirnames, filenames in os.walk(base):
                if Path(dirpath) == self.folder:
                    dirnames[:] = [d for d in dirnames if d != _TMP]
                rel = Path(dirpath).relative_to(self.folder).as_posix()
                for name in filenames:
                    yield name if rel == "." else f"{rel}/{name}"
        except OSError as exc:
            raise StorageError(f"cannot list {self.url}: {exc}", path=str(base)) from exc

    def check(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / _TMP).mkdir(exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot use {self.url} as the object store: {exc}; pass a writable folder to --store.",
                path=self.url,
            ) from exc


class FsspecObjectStore(ObjectStore):
    """Objects in an fsspec filesystem (S3 through s3fs) under ``<bucket>/<prefix>/<key>``.

    Args:
        url: ``s3://bucket[/prefix]`` (or another fsspec URL).
        fs: The filesystem (built by :func:`open_store`).
    """

    def __init__(self, url: str, fs: Any) -> None:
        protocol, _, rest = url.partition("://")
        self.url = f"{protocol}://{rest.strip('/')}"
        self.fs = fs
        self.base = rest.strip("/")
        self.bucket = self.base.split("/", 1)[0]

    def _path(self, key: str) -> str:
        return f"{self.base}/{check_key(key)}"

    def _fail(self, what: str, key: str, exc: BaseException) -> StorageError:
        return StorageError(f"cannot {what} {key} in {self.url}: {exc}", path=key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            self.fs.pipe_file(path, data)  # one PUT
        except (OSError, ValueError) as exc:
            raise self._fail("store", key, exc) from exc

    def put_file(self, key: str, path: str | os.PathLike[str], *, move: bool = False) -> None:
        remote = self._path(key)
        try:
            self.fs.put_file(os.fspath(path), remote)  # one PUT (multipart when large)
        except (OSError, ValueError) as exc:
            raise self._fail("store", key, exc) from exc
        if move:
            Path(path).unlink(missing_ok=True)

    def open(self, key: str) -> IO[bytes]:
        path = self._path(key)
        try:
            f: IO[bytes] = self.fs.open(path, "rb")
        except FileNotFoundError as exc:
            raise _missing(self, key) from exc
        except (OSError, ValueError) as exc:
            raise self._fail("read", key, exc) from exc
        return f

    def exists(self, key: str) -> bool:
        path = self._path(key)
        try:
            return bool(self.fs.isfile(path))
        except (OSError, ValueError) as exc:
            raise self._fail("look up", key, exc) from exc

    def size(self, key: str) -> int:
        path = self._path(key)
        try:
            info = self.fs.info(path)
        except FileNotFoundError as exc:
            raise _missing(self, key) from exc
        except (OSError, ValueError) as exc:
            raise self._fail("stat", key, exc) from exc
        if info.get("type") != "file":
            raise _missing(self, key)
        return int(info["size"])

    def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            if not self.fs.isfile(path):
                return False
            self.fs.rm_file(path)
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            raise self._fail("delete", key, exc) from exc
        return True

    def list(self, prefix: str = "") -> list[str]:
        top = self.base + ("/" + check_key(prefix.rstrip("/")) if prefix.strip("/") else "")
        try:
            found = self.fs.find(top)
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise self._fail("list", prefix or "/", exc) from exc
        cut = len(self.base) + 1
        return sorted(str(p)[cut:] for p in found if str(p).startswith(self.base + "/"))

    def check(self) -> None:
        try:
            ok = self.fs.exists(self.bucket)
        except (OSError, ValueError) as exc:
            raise StorageError(
                f"cannot reach the object store {self.url}: {exc}; check the endpoint "
                "(TRACKER_S3_ENDPOINT_URL / AWS_ENDPOINT_URL) and the AWS credentials.",
                path=self.url,
            ) from exc
        if not ok:
            raise StorageError(
                f"bucket {self.bucket!r} of the object store {self.url} does not exist; create it first.",
                path=self.url,
            )


def open_store(url: str | os.PathLike[str]) -> ObjectStore:
    """The object store at a local path or an fsspec URL such as ``s3://bucket/prefix``.

    Args:
        url: A folder (created on first write), ``file://...``, or ``s3://bucket[/prefix]``.

    Raises:
        UsageError: An empty or malformed URL.
        MissingExtraError: s3fs/fsspec are not installed (``pip install 'tracker[server]'``).
    """
    raw = os.fspath(url)
    if not raw:
        raise UsageError("object store: give a folder or s3://bucket/prefix.")
    if "://" not in raw:
        return LocalObjectStore(raw)
    protocol, _, rest = raw.partition("://")
    if protocol == "file":
        return LocalObjectStore(rest)
    if not rest.strip("/"):
        raise UsageError(f"object store {raw!r}: name the bucket, e.g. s3://my-bucket/tracker.")
    from tracker._optional import require_extra

    if protocol in ("s3", "s3a"):
        require_extra("s3fs", feature=f"the S3 object store {raw}", extra="server")
        import s3fs

        from tracker._settings import ENV_S3_ENDPOINT_URL, env

        endpoint = env(ENV_S3_ENDPOINT_URL) or env("AWS_ENDPOINT_URL")
        kwargs: dict[str, Any] = {"skip_instance_cache": True, "use_listings_cache": False}
        if endpoint:
            kwargs["endpoint_url"] = endpoint
        return FsspecObjectStore(f"s3://{rest}", s3fs.S3FileSystem(**kwargs))
    require_extra("fsspec", feature=f"the object store {raw}", extra="server")
    import fsspec

    try:
        fs = fsspec.filesystem(protocol, skip_instance_cache=True)
    except (ImportError, ValueError) as exc:
        raise UsageError(f"object store {raw!r}: fsspec cannot open {protocol}:// ({exc}).") from exc
    return FsspecObjectStore(raw, fs)
