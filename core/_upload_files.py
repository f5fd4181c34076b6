"""Shipping a run's media, saved files and logged artifacts to the team server by content hash.

:class:`FileShipper` is the half of shipping a run that is not the run log (that goes by
offset, see :mod:`tracker._upload`). For every file under ``<run_dir>/media/`` and
``<run_dir>/files/`` it asks the server whether it has the blob (``HEAD``), uploads it
if not, resumably (from the size the server has staged, in parts, retried by the
caller), and then links the run's path to the blob. For every artifact version the run
logged (ARTIFACT records with ``op: log`` in the run log) it uploads the blobs of the
manifest's files, then posts the version. Blobs always go before the link or version
that references them, and every step is idempotent, so a round cut anywhere is simply
repeated.

Cheap when repeated: the links the server already holds are fetched once per shipper,
file hashes are cached by ``(inode, size, mtime)``, and only files of folders whose
mtime changed are looked at again (media and saved files are written by rename, which
changes it), so a round over an unchanged run costs one ``stat`` per folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, Protocol

from tracker._client import comm_error
from tracker._naming import LOG_NAME, root_of
from tracker._upload import Client
from tracker.errors import StorageError

__all__: list[str] = []

_SHA: Final = re.compile(r"[0-9a-f]{64}")
#: Files shipped at once (each is a few small requests).
WORKERS: Final = 4
_MIN_PART: Final = 64 * 1024
_TOPS: Final = ("media", "files")
#: A folder whose mtime is this recent is listed again next round (mtime granularity).
_SETTLE_NS: Final = 2_000_000_000


class ChangedError(StorageError):
    """A local file changed while it was uploaded (its bytes no longer match its hash)."""


@dataclass
class FilesResult:
    """What one :meth:`FileShipper.ship` round did.

    Attributes:
        files: Run files newly linked on the server (media and saved files).
        blobs: Blobs uploaded (the server lacked them).
        bytes: Blob bytes the server took.
        artifacts: Artifact versions the server did not have before.
        pending: Things left for a later round (a file changing, a stop request).
        problems: One line per thing that failed this round.
    """

    files: int = 0
    blobs: int = 0
    bytes: int = 0
    artifacts: int = 0
    pending: int = 0
    problems: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, problem: str | None = None, **counts: int) -> None:
        """Add to the counters (thread-safe: a round ships files from several threads)."""
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)
            if problem is not None:
                self.problems.append(problem)


def upload_blob(
    client: Client,
    sha256: str,
    size: int,
    opener: Callable[[], IO[bytes]],
    *,
    part: int | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Upload one blob unless the server has it for this key; return the bytes the server took.

    The server answers "has it" only for blobs this user uploaded or that a project they
    can read references; for anyone else it is missing, and they send every byte, which
    the server hashes (proof that they hold the content) and keeps once. Resumes from the server's staged size
    (of this user's upload); halves the part size (``part``, default the client's
    ``blob_part``, which remembers it) when the server says a part is too large.

    Raises:
        ChangedError: The local bytes do not hash to ``sha256`` (the file changed).
        CommError: The server is unreachable or refused the upload.
        StorageError: The local file cannot be read.
    """
    if client.has_blob(sha256):
        return 0
    part = part or client.blob_part
    # One part: send it from 0 (the server skips bytes it has staged). Several: resume.
    offset, complete = client.staged(sha256) if size > part else (0, False)
    taken = 0
    refusals = 0
    try:
        with opener() as f:
            while not complete:
                if stop is not None and stop.is_set():
                    raise comm_error(f"upload of {sha256} stopped", None)
                f.seek(min(offset, size))
                body = f.read(max(0, min(part, size - offset)))
                if len(body) != max(0, min(part, size - offset)):
                    raise ChangedError(f"{getattr(f, 'name', sha256)} shrank while it was uploaded")
                q = f"blobs/{sha256}?offset={offset}&size={size}"
                status, data = client.request("PUT", client.api(q), body)
                if status == 200 and isinstance(data.get("offset"), int):
                    taken += max(0, int(data["offset"]) - offset)
                    offset, complete = int(data["offset"]), bool(data.get("complete"))
                    refusals = 0
                    continue
                refusals += 1
                if refusals > 4:
                    raise comm_error(f"team server keeps refusing blob {sha256}: HTTP {status}", status)
                if status == 409 and isinstance(data.get("offset"), int):
                    offset = int(data["offset"])  # a gap: resume where the server is
                elif status == 413 and part > _MIN_PART and size <= _declared_limit(data, size):
                    part = client.blob_part = max(_MIN_PART, part // 2)  # bounded: not a refusal
                    refusals = 0
                elif status == 400 and data.get("reason") == "hash":
                    raise ChangedError(f"{getattr(f, 'name', sha256)} changed while it was uploaded")
                elif status in (400, 413):  # permanent: this server will never take it
                    raise StorageError(f"team server refuses blob {sha256}: {data.get('detail', data)}")
                else:
                    raise comm_error(
                        f"team server refused blob {sha256}: HTTP {status}: {data.get('detail', data)}",
                        status,
                    )
    except OSError as exc:
        raise StorageError(f"cannot read {sha256} for upload: {exc}") from exc
    return taken


def _declared_limit(data: dict[str, Any], size: int) -> int:
    """A 413 about the whole blob (not the part) cannot be helped by smaller parts."""
    detail = str(data.get("detail", ""))
    return -1 if detail.startswith("blob of") else size


class ArtifactBlobs(Protocol):
    """Where a run's logged artifact versions are read (a ``tracker.artifacts._store.BlobStore``).

    The composition root (``tracker._init``, the CLI) passes one in: the write path does
    not import the artifacts domain.
    """

    def read_manifest(self, digest: str) -> dict[str, dict[str, Any]]:
        """The entries of the manifest ``digest``."""

    def blob_path(self, digest: str) -> Path:
        """The file of the blob ``digest`` (``sha256:<hex>``)."""


class _Tree:
    """Files under a folder: each call returns the files of the folders whose mtime changed.

    Media and saved files are written by rename, which changes their folder's mtime, so an
    unchanged folder holds the files it held. A folder modified in the last
    ``_SETTLE_NS`` is listed again next time (mtime granularity).
    """

    def __init__(self, top: Path) -> None:
        self.top = top
        self._seen: dict[Path, tuple[int, list[Path]]] = {}  # folder -> (mtime, subfolders)

    def files(self) -> list[Path]:
        out: list[Path] = []
        stack = [self.top]
        now = time.time_ns()
        while stack:
            folder = stack.pop()
            try:
                mtime = folder.stat().st_mtime_ns
            except FileNotFoundError:
                self._seen.pop(folder, None)
                continue
            cached = self._seen.get(folder)
            files: list[Path] = []
            if cached is not None and cached[0] == mtime:
                dirs = list(cached[1])
            else:
                dirs = []
                with os.scandir(folder) as it:
                    for entry in it:
                        if entry.name.startswith("."):
                            continue  # temporary files of the writer
                        if entry.is_dir(follow_symlinks=False):
                            dirs.append(Path(entry.path))
                        elif entry.is_file(follow_symlinks=False):
                            files.append(Path(entry.path))
                if now - mtime > _SETTLE_NS:
                    self._seen[folder] = (mtime, dirs)
            out.extend(files)
            stack.extend(dirs)
        return out


class FileShipper:
    """Ships one run's media, saved files and logged artifacts (see the module docstring).

    Args:
        client: The server.
        run_dir: The local run directory (``<root>/projects/<project>/runs/<id>``).
        project: Project of the run.
        run_id: Id of the run.
        blobs: The data root's artifact store (None: the run is not inside a data root).
    """

    def __init__(
        self, client: Client, run_dir: Path, project: str, run_id: str, *, blobs: ArtifactBlobs | None
    ) -> None:
        # Imported here, in the caller's thread: an import in the uploader thread would
        # mutate sys.modules while the run's writer may iterate it (run capture).
        import concurrent.futures  # noqa: F401 - see above
        import urllib.parse  # noqa: F401 - see above

        import tracker.storage._sqlite_state  # noqa: F401 - see above
        from tracker.storage._format import read_frames  # noqa: F401 - see above

        self.client = client
        self.run_dir = run_dir
        self.project = project
        self.run_id = run_id
        self.blobs = blobs
        self._trees = [_Tree(run_dir / top) for top in _TOPS]
        self._linked: dict[str, str] | None = None  # the server's links, fetched once
        self._todo: set[Path] = set()  # files to check: new, changed, or not shipped yet
        self._hashes: dict[Path, tuple[tuple[int, int, int], str]] = {}
        self._present: set[str] = set()
        self._scan = 0  # offset of the run log scanned for ARTIFACT records
        self._artifacts: dict[tuple[str, str], dict[str, Any]] = {}  # (name, digest) -> record
        self._posted: set[tuple[str, str]] = set()

    # ------------------------------------------------------------- the round
    def ship(self, stop: threading.Event | None = None) -> FilesResult:
        """Ship what the server lacks; return what was done.

        Raises:
            CommError: The server is unreachable or refused a request (the round stops;
                what was done stays done).
        """
        out = FilesResult()
        if self._linked is None:
            self._linked = self._fetch_links()
        self._todo.update(self._local_files())
        todo = sorted(self._todo)
        if len(todo) < 2 * WORKERS:
            for path in todo:
                self._one(path, out, stop)
        else:
            # Small media files cost a few requests each: several in flight at once.
            from concurrent.futures import ThreadPoolExecutor

            cut = threading.Event()  # set by the first failure: the rest wait for the next round

            def task(path: Path) -> None:
                if cut.is_set():
                    return
                try:
                    self._one(path, out, stop)
                except BaseException:
                    cut.set()
                    raise

            with ThreadPoolExecutor(WORKERS, thread_name_prefix=f"tracker-files-{self.run_id}") as pool:
                for done in [pool.submit(task, path) for path in todo]:
                    done.result()
        self._ship_artifacts(out, stop)
        return out

    def _one(self, path: Path, out: FilesResult, stop: threading.Event | None) -> None:
        """Ship one run file: hash, blob, link. Raises CommError; records anything else in ``out``."""
        if stop is not None and stop.is_set():
            out.add(pending=1)
            return
        assert self._linked is not None
        rel = path.relative_to(self.run_dir).as_posix()
        try:
            sha, size = self._hash(path)
            if self._linked.get(rel) != sha:
                self._blob(sha, size, lambda: open(path, "rb"), out, stop)
                self._link(rel, sha)
                out.add(files=1)
        except ChangedError as exc:  # being rewritten: next round
            self._hashes.pop(path, None)
            out.add(pending=1, problem=f"{rel}: {exc}")
            return
        except FileNotFoundError:
            self._hashes.pop(path, None)  # replaced or removed since it was listed
        except (OSError, StorageError) as exc:  # unreadable: reported, not retried forever
            out.add(problem=f"{rel}: {exc}")
        self._todo.discard(path)

    def _local_files(self) -> list[Path]:
        found: list[Path] = []
        for tree in self._trees:
            try:
                found.extend(tree.files())
            except OSError as exc:
                raise StorageError(f"cannot list {tree.top}: {exc}", path=str(tree.top)) from exc
        return sorted(found)

    def _hash(self, path: Path) -> tuple[str, int]:
        st = path.stat()
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._hashes.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1], st.st_size
        stem = path.name.split(".", 1)[0]
        if path.relative_to(self.run_dir).parts[0] == "media" and _SHA.fullmatch(stem):
            sha = stem  # media files are named by their hash (tracker.media._store)
        else:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            sha = h.hexdigest()
        self._hashes[path] = (stamp, sha)
        return sha, st.st_size

    def _blob(
        self,
        sha: str,
        size: int,
        opener: Callable[[], IO[bytes]],
        out: FilesResult,
        stop: threading.Event | None,
    ) -> None:
        if sha in self._present:
            return
        taken = upload_blob(self.client, sha, size, opener, stop=stop)
        self._present.add(sha)
        if taken or size == 0:
            out.add(blobs=1, bytes=taken)

    def _fetch_links(self) -> dict[str, str]:
        url = self.client.api(self.client.run_path(self.project, self.run_id) + "/files")
        status, data = self.client.request("GET", url)
        files = data.get("files")
        if status != 200 or not isinstance(files, dict):
            raise comm_error(
                f"team server refused the file list of {self.project}/{self.run_id}: HTTP {status}", status
            )
        return {str(k): str(v) for k, v in files.items()}

    def _link(self, rel: str, sha: str) -> None:
        import urllib.parse

        url = self.client.api(
            self.client.run_path(self.project, self.run_id) + "/files/" + urllib.parse.quote(rel)
        )
        status, data = self.client.request("PUT", url, json_body={"sha256": sha})
        if status == 409 and data.get("missing"):
            self._present.discard(sha)  # gone from the server (gc?): upload it again next round
        if status != 200:
            raise comm_error(
                f"team server refused to link {rel}: HTTP {status}: {data.get('detail', data)}", status
            )
        assert self._linked is not None
        self._linked[rel] = sha

    # ------------------------------------------------------------- artifacts
    def _ship_artifacts(self, out: FilesResult, stop: threading.Event | None) -> None:
        from tracker.storage._format import R, read_frames

        log = self.run_dir / LOG_NAME
        if log.exists():
            found = read_frames(log, self._scan)
            for _off, record in found.records:
                info = record[1] if record[0] == R.ARTIFACT else None
                if isinstance(info, dict) and info.get("op") == "log":
                    key = (str(info.get("name")), str(info.get("digest")))
                    if key not in self._posted:
                        self._artifacts[key] = info
            self._scan = found.end
        for key, rec in list(self._artifacts.items()):
            if stop is not None and stop.is_set():
                out.pending += 1
                continue
            try:
                created = self._artifact(rec, out, stop)
            except ChangedError as exc:
                out.pending += 1
                out.problems.append(f"artifact {key[0]}: {exc}")
                continue
            except (OSError, StorageError) as exc:  # e.g. a blob gc'd locally: cannot be helped
                created = False
                out.problems.append(f"artifact {key[0]}: {exc}")
            del self._artifacts[key]
            self._posted.add(key)
            out.artifacts += int(created)

    def _artifact(self, rec: dict[str, Any], out: FilesResult, stop: threading.Event | None) -> bool:
        """Upload a version's blobs and post it; True when the server did not have it."""
        import urllib.parse

        if self.blobs is None:
            raise StorageError(f"{self.run_dir} is not inside a data root; its artifacts cannot be found")
        digest = str(rec.get("digest"))
        entries = self.blobs.read_manifest(digest)
        for entry in entries.values():
            d = entry.get("digest")
            if isinstance(d, str) and entry.get("ref") is None:  # a reference has no blob
                blob = self.blobs.blob_path(d)
                size = blob.stat().st_size if blob.is_file() else -1
                if size < 0:
                    raise StorageError(
                        f"blob {d} of artifact {rec.get('name')} is missing locally (tracker gc?)"
                    )
                self._blob(d[7:], size, lambda b=blob: open(b, "rb"), out, stop)  # type: ignore[misc]
        body = {
            "type": rec.get("type"),
            "digest": digest,
            "entries": entries,
            "aliases": [a for a in rec.get("aliases") or [] if isinstance(a, str)],
            "metadata": self._metadata(rec),
            "run_id": self.run_id,
        }
        q = urllib.parse.quote
        project = str(rec.get("project") or self.project)
        url = self.client.api(f"artifacts/{q(project, safe='')}/{q(str(rec.get('name')), safe='')}")
        status, data = self.client.request("POST", url, json_body=body)
        if status == 409 and isinstance(data.get("missing"), list):
            self._present.difference_update(str(s) for s in data["missing"])
        if status == 200:
            return bool(data.get("created"))
        if status == 400:  # permanent: this server will never take it
            raise StorageError(f"team server refuses artifact {rec.get('name')}: {data.get('detail', data)}")
        raise comm_error(
            f"team server refused artifact {rec.get('name')}: HTTP {status}: {data.get('detail', data)}",
            status,
        )

    def _metadata(self, rec: dict[str, Any]) -> dict[str, Any]:
        """Description and metadata of the version, from the local state store when it has them."""
        from tracker.storage._sqlite_state import SQLiteStateStore

        try:
            state = SQLiteStateStore.for_root(root_of(self.run_dir))
            try:
                found = state.artifact_version(
                    str(rec.get("project") or self.project), str(rec.get("name")), str(rec.get("digest"))
                )
            finally:
                state.close()
        except StorageError:
            return {}
        return dict(found.metadata) if found is not None else {}


def ship_files(
    client: Client, run_dir: Path, project: str, run_id: str, *, blobs: ArtifactBlobs | None
) -> FilesResult:
    """One round of :class:`FileShipper` for a run (``tracker sync``).

    Raises:
        CommError: The server is unreachable or refused a request.
    """
    return FileShipper(client, run_dir, project, run_id, blobs=blobs).ship()
