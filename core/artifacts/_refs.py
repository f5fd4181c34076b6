"""Reference entries: data tracked by URI, never copied into the blob store.

``file://`` references are hashed (so ``verify`` and ``download`` can check them),
``s3://`` references get their size and ETag through fsspec when it is installed and
the object is reachable, and ``http(s)://`` references get ``Content-Length`` and
``ETag`` from a ``HEAD`` request. All of this runs in the background worker, never in
the caller; anything unreachable is recorded with the URI alone.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from pathlib import Path
from typing import Any, Final

from tracker.errors import UsageError

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
    if parsed.scheme != "file" and not parsed.netloc:
        raise UsageError(f"add_reference({uri!r}): the URI needs a host or bucket.")
    return uri


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


def fetch(uri: str, dest: Path) -> None:
    """Download a reference to ``dest`` (atomically); the caller checks its digest."""
    import shutil
    import uuid

    scheme = urllib.parse.urlparse(uri).scheme
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with open(tmp, "wb") as out:
            if scheme == "file":
                with open(local_path(uri), "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
            elif scheme == "s3":
                with s3_filesystem().open(uri, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
            else:
                from urllib.request import urlopen

                with urlopen(uri, timeout=HTTP_TIMEOUT) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
