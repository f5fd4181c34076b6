"""Reference entries: data tracked by URI, never copied into the blob store.

``file://`` references are hashed (so ``verify`` and ``download`` can check them),
``s3://`` references get their size and ETag through fsspec when it is installed and
the object is reachable, and ``http(s)://`` references get ``Content-Length`` and
``ETag`` from a ``HEAD`` request. All of this runs in the background worker, never in
the caller; anything unreachable is recorded with the URI alone.

Following references on download (the trust boundary): a manifest says where to read
each reference, so a manifest written by someone else could point a reader's
``download()`` at the reader's own files (``file:///home/me/.ssh/id_rsa``) or at hosts
only the reader can reach (``http://10.0.0.5/admin``). :func:`refusal` decides, per
reference, with a :class:`Trust`:

- ``file://``: followed only when its real path (symlinks resolved) is under a folder
  the reader allows (``download(allow_roots=[...])`` or ``$TRACKER_ARTIFACT_ROOTS``), or,
  for a version logged on this data root, under the path given to ``add_reference``
  (recorded beside the manifest by the run that logged it, see
  :meth:`BlobStore.write_trust`; a manifest posted to a team server, or read from one,
  has no such record);
- ``http(s)://`` and ``s3://``: followed only when the reader opts in
  (``download(allow_references=True)`` or ``TRACKER_ALLOW_REFERENCES=1``), or for a
  version logged on this data root;
- ``data:`` and any other scheme: never.

Every reference is copied to a temporary name, hashed on the way, and renamed into
place only when it matches the digest the manifest records (:func:`fetch`).

A team server checks references when a manifest is posted (:func:`check_posted`).
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tracker.errors import StorageError, UsageError

__all__: list[str] = []

SCHEMES: Final = ("file", "s3", "http", "https")
HTTP_TIMEOUT: Final = 10.0
_log = logging.getLogger(__name__)


def check_uri(uri: object) -> str:
    """Validate a reference URI (a scheme tracker knows, no NUL).

    Raises:
        UsageError: Not a string, an unknown scheme, or no location.
    """
    if not isinstance(uri, str) or "\x00" in uri:
        raise UsageError(f"add_reference({uri!r}): pass a URI string.")
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in SCHEMES:
        raise UsageError(f"add_reference({uri!r}): use a file://, s3://, http:// or https:// URI.")
    if parsed.scheme == "file" and not parsed.path:
        raise UsageError(f"add_reference({uri!r}): a file:// URI needs a path.")
    if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
        raise UsageError(
            f"add_reference({uri!r}): a file:// URI names a path on this machine, not the host "
            f"{parsed.netloc!r}; write file:///absolute/path (Path.as_uri() does)."
        )
    if parsed.scheme != "file" and not parsed.netloc:
        raise UsageError(f"add_reference({uri!r}): the URI needs a host or bucket.")
    return uri


@dataclass(frozen=True)
class Trust:
    """What a download may follow.

    Attributes:
        roots: Real paths of folders (or files) under which ``file://`` references are read.
        remote: Whether ``http(s)://`` and ``s3://`` references are fetched.
    """

    roots: tuple[str, ...] = ()
    remote: bool = False

    def widen(self, roots: Iterable[str], remote: bool) -> Trust:
        """This trust plus ``roots`` and ``remote``."""
        return Trust(tuple(dict.fromkeys([*self.roots, *roots])), self.remote or remote)


def reader_trust(
    allow_roots: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] | None,
    allow_references: bool | None,
) -> Trust:
    """The reader's trust: the arguments, else ``$TRACKER_ARTIFACT_ROOTS`` / ``$TRACKER_ALLOW_REFERENCES``.

    Raises:
        UsageError: ``allow_references`` is not a bool, or a bad environment value.
    """
    from tracker._settings import ENV_ALLOW_REFERENCES, ENV_ARTIFACT_ROOTS, env, env_bool

    if allow_references is not None and not isinstance(allow_references, bool):
        raise UsageError(f"download(allow_references={allow_references!r}): pass True or False.")
    remote = env_bool(ENV_ALLOW_REFERENCES, False) if allow_references is None else allow_references
    if allow_roots is None:
        raw = env(ENV_ARTIFACT_ROOTS)
        given: list[Any] = [p for p in (raw or "").split(os.pathsep) if p]
    elif isinstance(allow_roots, (str, os.PathLike)):
        given = [allow_roots]
    else:
        given = list(allow_roots)
    roots = []
    for item in given:
        if not isinstance(item, (str, os.PathLike)):
            raise UsageError(f"download(allow_roots=...): {item!r} is not a path.")
        roots.append(os.path.realpath(Path(os.fspath(item)).expanduser()))
    return Trust(tuple(roots), remote)


def refusal(uri: Any, trust: Trust) -> tuple[str | None, Path | None]:
    """Why a download does not follow ``uri`` (None: it may), and the real path of a ``file://`` one.

    The caller reads the returned path, never the URI again, so a symlink swapped in
    after the check is not followed.
    """
    if not isinstance(uri, str) or "\x00" in uri:
        return f"reference {uri!r} is not a URI", None
    parsed = urllib.parse.urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme not in SCHEMES:
        return (
            f"reference {uri[:200]!r} has scheme {scheme or '(none)'!r}, which is never followed "
            "(only file://, s3://, http:// and https://)",
            None,
        )
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            return (
                f"reference {uri!r} names the host {parsed.netloc!r}; file:// is read on this machine only",
                None,
            )
        real = Path(os.path.realpath(local_path(uri)))
        for root in trust.roots:
            if real == Path(root) or Path(root) in real.parents:
                return None, real
        return (
            f"reference {uri!r} (scheme 'file') reads {real}, which is outside the folders this download "
            "may read: pass download(allow_roots=[...]) or set TRACKER_ARTIFACT_ROOTS to allow its folder",
            None,
        )
    if not trust.remote:
        return (
            f"reference {uri!r} (scheme {scheme!r}) is fetched only when you opt in: pass "
            "download(allow_references=True) or set TRACKER_ALLOW_REFERENCES=1",
            None,
        )
    return None, None


def check_posted(uri: Any, *, allow_private: bool = False) -> str | None:
    """Why a team server refuses a reference in a posted manifest, or None.

    Allowed: ``file://`` with an absolute path and no host, ``s3://<bucket>/...``, and
    ``http(s)://`` to a host that is not loopback, link-local, private or otherwise
    not global (literal addresses in any form, ``localhost``, ``*.local``,
    ``*.internal`` and one-label names), unless ``allow_private``. Host names are not
    resolved here: a reader's download still needs their opt-in.
    """
    if not isinstance(uri, str) or "\x00" in uri or not uri or len(uri) > 8192:
        return f"reference {str(uri)[:200]!r} is not a URI string"
    parsed = urllib.parse.urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme not in SCHEMES:
        return (
            f"reference {uri[:200]!r}: scheme {scheme or '(none)'!r} is not allowed "
            "(use file, s3, http or https)"
        )
    if scheme == "file":
        path = urllib.parse.unquote(parsed.path)
        if parsed.netloc not in ("", "localhost") or not path.startswith("/") or ".." in path.split("/"):
            return f"reference {uri!r}: a file:// reference needs an absolute path, no host and no '..'"
        return None
    if not parsed.netloc:
        return f"reference {uri!r}: the URI needs a host or bucket"
    if scheme == "s3" or allow_private:
        return None
    host = parsed.hostname or ""
    if not host or not_global(host):
        return (
            f"reference {uri!r} targets {host or '(no host)'!r}, a loopback, link-local or private address; "
            "this server refuses them (tracker server --allow-private-references accepts them)"
        )
    return None


def not_global(host: str) -> bool:
    """True when ``host`` is, or names by convention, an address that is not on the public internet."""
    import ipaddress
    import socket

    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith((".localhost", ".local", ".internal", ".localdomain")):
        return True
    try:
        ip: Any = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        try:
            ip = ipaddress.ip_address(socket.inet_aton(name))  # 127.1, 0x7f000001, 2130706433
        except (OSError, ValueError):
            return "." not in name  # a one-label name resolves inside a network
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global


def default_name(uri: str) -> str:
    """The entry name of a reference when none is given: the last path component."""
    parsed = urllib.parse.urlparse(uri)
    tail = urllib.parse.unquote(parsed.path).rstrip("/").rsplit("/", 1)[-1]
    return tail or parsed.netloc or "reference"


def local_path(uri: str) -> Path:
    """The local path of a ``file://`` URI."""
    return Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path))


def resolve(uri: str) -> dict[str, Any]:
    """The manifest entry of a reference: ``{"ref": uri}`` plus what could be read."""
    from tracker.artifacts._store import hash_file

    entry: dict[str, Any] = {"ref": uri}
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme == "file":
        path = local_path(uri)
        try:
            entry["digest"], entry["size"] = hash_file(path)
        except OSError as exc:
            _log.debug("reference %s is not readable: %s", uri, exc)
    elif scheme == "s3":
        entry.update(_s3_info(uri))
    else:
        entry.update(_http_info(uri))
    return entry


def s3_filesystem() -> Any:
    """The fsspec filesystem for ``s3://`` (raises ImportError without fsspec/s3fs)."""
    import fsspec

    return fsspec.filesystem("s3")


def _s3_info(uri: str) -> dict[str, Any]:
    try:
        info = s3_filesystem().info(uri)
    except ImportError:
        _log.debug("reference %s: fsspec/s3fs not installed; recorded without size", uri)
        return {}
    except Exception as exc:  # noqa: BLE001 - any backend error means "not reachable": record the URI only
        _log.debug("reference %s is not reachable: %r", uri, exc)
        return {}
    out: dict[str, Any] = {}
    if info.get("size") is not None:
        out["size"] = int(info["size"])
    etag = info.get("ETag") or info.get("etag")
    if etag:
        out["etag"] = str(etag).strip('"')
    return out


def _http_info(uri: str) -> dict[str, Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(uri, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as resp:
            headers = resp.headers
    except (OSError, urllib.error.URLError, ValueError) as exc:
        _log.debug("reference %s is not reachable: %r", uri, exc)
        return {}
    out: dict[str, Any] = {}
    length = headers.get("Content-Length")
    if length is not None and length.isdigit():
        out["size"] = int(length)
    etag = headers.get("ETag")
    if etag:
        out["etag"] = etag.strip('"')
    return out


def fetch(
    uri: str, dest: Path, digest: str | None = None, *, path: Path | None = None, name: str = ""
) -> None:
    """Copy a reference to ``dest``: to a temporary name, renamed only if it hashes to ``digest``.

    Args:
        uri: The reference (its scheme was checked with :func:`refusal`).
        dest: Where it goes.
        digest: ``sha256:<hex>`` it must have (None: unknown, not checked).
        path: For ``file://``, the real path :func:`refusal` checked (read instead of the URI).
        name: The entry's name, for messages.

    Raises:
        StorageError: The content does not match ``digest`` (nothing is left at ``dest``).
        OSError, ImportError: It cannot be read.
    """
    import uuid

    from tracker.artifacts._store import hash_stream

    scheme = urllib.parse.urlparse(uri).scheme.lower()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with open(tmp, "wb") as out:
            if scheme == "file":
                with open(path if path is not None else local_path(uri), "rb", buffering=0) as src:
                    got, _size = hash_stream(src, out)
            elif scheme == "s3":
                with s3_filesystem().open(uri, "rb") as src:
                    got, _size = hash_stream(src, out)
            else:
                from urllib.request import urlopen

                with urlopen(uri, timeout=HTTP_TIMEOUT) as src:
                    got, _size = hash_stream(src, out)
        if digest is not None and got != digest:
            raise StorageError(
                f"artifact entry {name!r}: {uri} changed since it was logged (hash {got}, the manifest "
                f"says {digest}); nothing was written to {dest}.",
                path=uri,
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
