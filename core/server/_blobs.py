"""Team-server blobs: media, saved files and artifact files uploaded by content hash.

Endpoints (under ``/api/v1/``, added by :func:`install_blobs`; every one needs an API
key, the writes an editor or admin key, see :func:`allow`):

Blobs by tenant: a blob is stored once for the whole server, but a caller may use it
(be told it exists, link it, post a manifest naming it) only when they uploaded all of
its bytes themselves or a project they can read references it
(:mod:`tracker.server._blob_owners`); to anyone else it is missing, and they upload it.

- ``HEAD blobs/{sha256}``: 200 with ``Content-Length`` when the store holds the blob and
  the caller may use it, else 404. ``HEAD projects/{project}/blobs/{sha256}``: the same,
  counting only the references of that project (and the caller's own uploads). Clients
  ask first and skip what the server has.
- ``GET uploads/{sha256}``: ``{"offset": staged bytes, "complete": bool}``, where a cut
  upload resumes (each user stages their own upload).
- ``PUT blobs/{sha256}?offset=N&size=S``: bytes ``N..`` of a blob of ``S`` bytes. They
  are appended to the caller's staging file under ``<root>/.uploads/`` (bytes before the
  staged size are skipped: the content is fixed by its name, so a resent part changes
  nothing; an offset past it is 409 ``{"reason": "gap", "offset": staged}``). Once
  ``S`` bytes are staged they are hashed: the right hash moves them into the store, or
  drops them when the store already has that content (``{"complete": true}``; the
  caller is recorded as its uploader); a wrong one drops the staging and answers 400.
  ``S`` over the blob limit or a body over the request limit: 413.
- ``PUT runs/{project}/{run_id}/files/{path}`` with ``{"sha256": hex}``: the run's file
  ``path`` (under ``media/`` or ``files/``; no ``..``, absolute path, backslash or NUL)
  is that blob. 409 ``{"missing": [hex]}`` when the blob is not there yet (or the
  caller may not use it). The link is
  kept in ``<run_dir>/.blob-links.jsonl`` (the last line of a path wins) and the file
  is made readable where the dashboard looks: hard-linked (or copied) from a local
  store at once, fetched from a remote store on first read (:func:`resolve`).
  ``GET runs/{project}/{run_id}/files`` lists the links, so a client re-sends none.
- ``POST artifacts/{project}/{name}`` with ``{"type", "digest", "entries", "aliases",
  "metadata", "run_id"}``: an artifact version. The manifest must hash to ``digest``
  and every blob it names must be in the store (409 ``{"missing": [...]}`` otherwise);
  the version is registered in the server's state store by digest, so sending it again
  returns the same version and moves no alias. Reference entries are checked
  (:func:`tracker.artifacts._refs.check_posted`): a scheme other than ``file``, ``s3``,
  ``http``, ``https``, or a loopback, link-local or private target (unless the server
  allows them), is 400 naming the entry.
"""

# The endpoints are in :mod:`tracker.server._routes_ingest`; :func:`install_blobs` adds them.

import fcntl
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from tracker._naming import ID_RE, NAME_RE, has_root, name_problem, root_of, run_dir_for
from tracker.errors import StorageError, UsageError
from tracker.server._blob_owners import BlobOwners
from tracker.server._ingest import RefusedError
from tracker.storage._objects import LocalObjectStore, ObjectStore, blob_key, open_store

__all__ = [
    "MAX_BLOB",
    "BlobState",
    "allow",
    "check_run_path",
    "check_sha",
    "install_blobs",
    "link",
    "object_store",
    "read_links",
    "resolve",
    "run_dir",
]

MAX_BLOB: Final = 16 * 1024**3
MAX_JSON: Final = 16 * 1024 * 1024
LINKS_FILE: Final = ".blob-links.jsonl"
UPLOADS_DIR: Final = ".uploads"
_SHA: Final = re.compile(r"[0-9a-f]{64}")
_TOPS: Final = ("media", "files")
_CHUNK: Final = 1 << 20

#: The object store of each served data root, for :func:`resolve` (one server per root
#: per process; tests may run several).
_stores: dict[Path, ObjectStore] = {}


def allow(request: Any, write: bool) -> None:
    """The access check of these endpoints: the guard's :func:`~tracker.server._gate.upload_refusal`."""
    from tracker.server._gate import upload_refusal

    problem = upload_refusal(request, write=write)
    if problem is not None:
        raise RefusedError(problem[0], {"detail": problem[1]})


def check_sha(value: Any) -> str:
    if not isinstance(value, str) or not _SHA.fullmatch(value):
        raise RefusedError(400, {"detail": f"{value!r} is not a SHA-256 hex digest (64 lower-case hex)"})
    return value


def object_store(root: str | os.PathLike[str]) -> ObjectStore | None:
    """The object store :func:`install_blobs` set up for the data root ``root`` (None: none yet)."""
    return _stores.get(Path(root).resolve())


def run_dir(root: Path, project: str, run_id: str) -> Path:
    if not NAME_RE.fullmatch(project):
        raise RefusedError(400, {"detail": f"project {project!r}: {name_problem(project)}"})
    if not ID_RE.fullmatch(run_id):
        raise RefusedError(400, {"detail": f"run id {run_id!r}: use letters, digits, '_', '-' (at most 64)"})
    return run_dir_for(root, project, run_id)


def check_run_path(path: Any) -> str:
    """Return ``path`` if it names a file under ``media/`` or ``files/`` of a run, else refuse (400)."""
    bad = (
        not isinstance(path, str)
        or not path
        or len(path) > 1024
        or "\\" in path
        or "\x00" in path
        or path.startswith("/")
    )
    parts = [] if bad else path.split("/")
    if (
        bad
        or len(parts) < 2
        or parts[0] not in _TOPS
        or any(p in ("", ".", "..") or len(p.encode()) > 255 for p in parts)
    ):
        raise RefusedError(
            400,
            {
                "detail": f"file path {path!r}: use a relative path under media/ or files/ without "
                "'..', '.', empty segments, backslashes or NUL"
            },
        )
    return str(path)


@contextmanager
def _flock(path: Path) -> Iterator[Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        yield f


# ---------------------------------------------------------------------------- uploads
class _Uploads:
    """Staging files of resumable uploads; one lock per blob in this process, ``flock`` across."""

    def __init__(self, root: Path, store: ObjectStore, max_blob: int) -> None:
        self.dir = root / UPLOADS_DIR
        self.store = store
        self.max_blob = max_blob
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, sha: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(sha, threading.Lock())

    def part(self, sha: str, who: Any) -> Path:
        """The staging file of ``who``'s upload of ``sha`` (each user proves the content alone)."""
        tag = "anonymous" if who is None else hashlib.sha256(str(who.user).encode()).hexdigest()[:16]
        return self.dir / tag / f"{sha}.part"

    def staged(self, sha: str, who: Any) -> int:
        try:
            return self.part(sha, who).stat().st_size
        except FileNotFoundError:
            return 0

    def put(
        self, sha: str, offset: int, size: int, body: bytes, who: Any, usable: Any
    ) -> tuple[dict[str, Any], bool]:
        """Stage bytes; ``(answer, proved)``: ``proved`` when this call hashed all ``size`` bytes.

        ``usable()`` says whether the caller may use the blob already (their own upload,
        or a readable project's): only then does a fresh start short-cut to complete.
        """
        if size < 0 or offset < 0:
            raise RefusedError(400, {"detail": "offset and size must be >= 0"})
        if size > self.max_blob:
            raise RefusedError(
                413, {"detail": f"blob of {size} bytes is over this server's limit of {self.max_blob}"}
            )
        if offset + len(body) > size:
            raise RefusedError(400, {"detail": f"bytes {offset}..{offset + len(body)} run past size={size}"})
        if offset == 0 and self.store.exists(blob_key(sha)) and usable():  # fresh starts only
            return {"offset": size, "complete": True}, False
        part = self.part(sha, who)
        try:
            part.parent.mkdir(parents=True, exist_ok=True)
            with self._lock(str(part)), _flock(self.dir / "locks" / f"{sha[:2]}.lock"):  # 256 stripes
                staged = self.staged(sha, who)
                if offset > staged:
                    raise RefusedError(
                        409, {"reason": "gap", "offset": staged, "detail": f"the server has {staged} bytes"}
                    )
                new = body[staged - offset :]
                with open(part, "ab") as f:  # opened even for nothing new: an empty blob's file
                    f.write(new)
                staged += len(new)
                if staged < size:
                    return {"offset": staged, "complete": False}, False
                self._finish(sha, part, size)
                return {"offset": size, "complete": True}, True
        except OSError as exc:
            raise StorageError(f"cannot stage upload {sha}: {exc}", path=str(part)) from exc

    def _finish(self, sha: str, part: Path, size: int) -> None:
        h = hashlib.sha256()
        got = 0
        with open(part, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
                got += len(chunk)
        if got != size or h.hexdigest() != sha:
            part.unlink(missing_ok=True)
            raise RefusedError(
                400,
                {
                    "reason": "hash",
                    "detail": f"the {got} bytes uploaded hash to {h.hexdigest()}, not {sha}; "
                    "the upload was dropped, send the blob again",
                },
            )
        if self.store.exists(blob_key(sha)):
            part.unlink()  # proven, and stored once already (another user's upload)
        else:
            self.store.put_file(blob_key(sha), part, move=True)


# ---------------------------------------------------------------------------- links
def read_links(run_dir: Path) -> dict[str, str]:
    """``{path: sha256}`` of the files linked into a run (the last link of a path wins)."""
    out: dict[str, str] = {}
    try:
        with open(run_dir / LINKS_FILE, "rb") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                    out[str(entry["path"])] = str(entry["sha256"])
                except (ValueError, KeyError, TypeError):
                    continue  # a torn last line (crash while appending): the link is resent
    except FileNotFoundError:
        pass
    return out


def _materialise(store: ObjectStore, sha: str, target: Path) -> None:
    """Make ``target`` hold the blob: a hard link into a local store, else a copy."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}.part")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if isinstance(store, LocalObjectStore):
            try:
                os.link(store.path(blob_key(sha)), tmp)
            except OSError:  # another filesystem, or links not allowed: copy
                store.get_file(blob_key(sha), tmp)
        else:
            store.get_file(blob_key(sha), tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def link(store: ObjectStore, run_dir: Path, path: str, sha: str) -> bool:
    """Link ``path`` of the run to blob ``sha``; False when it already was."""
    if not store.exists(blob_key(sha)):
        raise RefusedError(409, {"missing": [sha], "detail": f"upload blob {sha} before linking {path}"})
    target = run_dir.joinpath(*path.split("/"))
    try:
        with _flock(run_dir / LINKS_FILE) as f:
            if read_links(run_dir).get(path) == sha and (
                target.is_file() or not isinstance(store, LocalObjectStore)
            ):
                return False
            if isinstance(store, LocalObjectStore):
                _materialise(store, sha, target)
            else:
                target.unlink(missing_ok=True)  # fetched again, with the new content, on first read
            f.write(json.dumps({"path": path, "sha256": sha}).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
    except (NotADirectoryError, IsADirectoryError, FileExistsError):
        raise RefusedError(
            409, {"detail": f"{path} clashes with a file or folder of that name in the run"}
        ) from None
    except OSError as exc:
        raise StorageError(f"cannot link {path} into {run_dir}: {exc}", path=str(target)) from exc
    return True


def resolve(run_dir: str | os.PathLike[str], ref: Any) -> Path:
    """Like :func:`tracker.media._read.resolve`, fetching a linked file from the object store if missing.

    The dashboard's file endpoints call this: on a team server whose store is remote
    (S3), a run's media and saved files are fetched on first read.

    Raises:
        UsageError: The reference names no file or leaves the run directory.
        StorageError: The file is neither there nor linked to a stored blob.
    """
    from tracker.media._read import resolve as local

    try:
        return local(run_dir, ref)
    except StorageError:
        rel = ref.get("path") if isinstance(ref, dict) else ref
        run = Path(run_dir)
        sha = read_links(run).get(str(rel))
        root = root_of(run).resolve() if has_root(run) else None
        store = _stores.get(root) if root is not None else None
        if sha is None or store is None or not store.exists(blob_key(sha)):
            raise
        _materialise(store, sha, run.joinpath(*str(rel).split("/")))
        return local(run_dir, ref)


# ---------------------------------------------------------------------------- artifacts
def _artifact(
    root: Path,
    store: ObjectStore,
    state: Any,
    project: str,
    name: str,
    body: Any,
    *,
    who: Any = None,
    owners: BlobOwners | None = None,
    allow_private: bool = False,
) -> dict[str, Any]:
    """Register the artifact version ``body`` posts (see the module docstring); its answer."""
    from tracker.artifacts._names import LATEST
    from tracker.artifacts._store import BlobStore, manifest_digest

    type_, entries, aliases, metadata, run_id = _posted_version(project, name, body)
    digest, _data = manifest_digest(entries)
    if body.get("digest") != digest:
        raise RefusedError(400, {"detail": f"the entries hash to {digest}, not {body.get('digest')!r}"})
    shas = _entry_blobs(entries, allow_private)
    owners = owners if owners is not None else BlobOwners(None)
    usable = owners.usable(who, shas)
    missing = sorted(s for s in shas if s not in usable or not store.exists(blob_key(s)))
    if missing:
        raise RefusedError(
            409, {"missing": missing, "detail": f"upload the {len(missing)} missing blobs first"}
        )
    BlobStore(root).write_manifest(entries)
    found = state.artifact_version(project, name, digest)
    created = found is None
    if found is None:
        try:
            found = state.add_artifact_version(
                project, name, type_, digest, metadata=metadata, run_id=run_id, aliases=[*aliases, LATEST]
            )
        except UsageError as exc:  # another type under this name
            raise RefusedError(409, {"detail": str(exc)}) from None
    owners.referenced(shas, project)
    return {
        "project": project,
        "name": name,
        "version": found.version,
        "digest": digest,
        "aliases": list(found.aliases),
        "created": created,
    }


def _posted_version(
    project: str, name: str, body: Any
) -> tuple[str, dict[str, Any], list[str], dict[str, Any], Any]:
    """``(type, entries, aliases, metadata, run_id)`` of a posted version, each checked (else 400)."""
    from tracker.artifacts._names import LATEST, check_alias, check_entry, check_name

    try:
        check_name(project, "project name")
        check_name(name)
        if not isinstance(body, dict):
            raise UsageError("the body must be a JSON object with type, digest and entries.")
        type_ = body.get("type")
        entries = body.get("entries")
        aliases = body.get("aliases") or []
        metadata = body.get("metadata") or {}
        run_id = body.get("run_id")
        if not isinstance(type_, str) or not type_ or len(type_) > 128:
            raise UsageError("'type' must be a non-empty string.")
        if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
            raise UsageError("'entries' must map file paths to entries.")
        for path in entries:
            check_entry(path)
        if not isinstance(aliases, list):
            raise UsageError("'aliases' must be a list.")
        aliases = [check_alias(a) for a in aliases if a != LATEST]
        if not isinstance(metadata, dict):
            raise UsageError("'metadata' must be an object.")
        if run_id is not None and (not isinstance(run_id, str) or not ID_RE.fullmatch(run_id)):
            raise UsageError(f"'run_id' {run_id!r} is not a run id.")
    except UsageError as exc:
        raise RefusedError(400, {"detail": str(exc)}) from None
    return type_, entries, aliases, metadata, run_id


def _entry_blobs(entries: dict[str, Any], allow_private: bool) -> set[str]:
    """The blobs a manifest's file entries name; its references checked (400 naming the entry)."""
    from tracker.artifacts._refs import check_posted

    shas = set()
    for path, entry in entries.items():
        if "digest" in entry and "ref" not in entry:  # a reference's digest names no blob here
            d = entry["digest"]
            hexpart = d[7:] if isinstance(d, str) and d.startswith("sha256:") else d
            shas.add(check_sha(hexpart))
        elif "ref" not in entry:
            raise RefusedError(400, {"detail": f"entry {path!r} has neither a digest nor a ref"})
        if "ref" in entry:
            problem = check_posted(entry["ref"], allow_private=allow_private)
            if problem is not None:
                raise RefusedError(400, {"detail": f"artifact entry {path!r}: {problem}", "entry": path})
    return shas


# ---------------------------------------------------------------------------- install
class BlobState:
    """What the blob endpoints (:mod:`tracker.server._routes_ingest`) read, on ``app.state.blobs``."""

    def __init__(
        self, root: Path, store: ObjectStore, state: Any, *, max_body: int, max_blob: int, allow_private: bool
    ) -> None:
        self.root = root
        self.store = store
        self.uploads = _Uploads(root, store, max_blob)
        self.max_body = max_body
        self.max_blob = max_blob
        self.allow_private = allow_private
        self._state = state
        self._guard = threading.Lock()

    def state(self) -> Any:
        """The state store for artifact versions (the data root's SQLite store unless given)."""
        with self._guard:
            if self._state is None:
                from tracker.storage._sqlite_state import SQLiteStateStore

                self._state = SQLiteStateStore.for_root(self.root)
            return self._state


def install_blobs(
    app: Any,
    store: ObjectStore | str | os.PathLike[str],
    root: str | os.PathLike[str],
    *,
    state: Any = None,
    max_body: int = 64 * 1024 * 1024,
    max_blob: int = MAX_BLOB,
    allow_private_refs: bool = False,
) -> ObjectStore:
    """Add the blob, file-link and artifact endpoints to the team-server ``app``.

    Args:
        app: The app from :func:`tracker.server.create_app` with the key middleware of
            ``tracker.server._ingest.install`` (which sets the caller's role).
        store: The object store, or its URL (see :func:`tracker.storage._objects.open_store`).
        root: The server's data root (runs, staging of uploads, manifests).
        state: The state store for artifact versions (default: the data root's SQLite store).
        max_body: Largest request body in bytes (413 above).
        max_blob: Largest blob in bytes (413 above).
        allow_private_refs: Accept artifact references to loopback, link-local and
            private addresses (``tracker server --allow-private-references``).

    Returns:
        The object store.

    Raises:
        StorageError: The store cannot be used.
    """
    from tracker.server._app import add_routes
    from tracker.server._routes_ingest import blobs

    if not isinstance(store, ObjectStore):
        store = open_store(store)
    store.check()
    root = Path(root)
    _stores[root.resolve()] = store
    app.state.blobs = BlobState(
        root, store, state, max_body=max_body, max_blob=max_blob, allow_private=allow_private_refs
    )
    add_routes(app, blobs)
    return store
