"""``log_artifact``, ``use_artifact`` and ``link_artifact``: the write side of artifacts.

``Run`` delegates here. Storing a version (hashing, copying into the blob store,
resolving references, registering it in the state store) runs in a small per-run
worker thread, so ``log_artifact`` returns at once; jobs run in call order, so a run
that logs ``v0`` and then links it gets the link after the version exists. The
worker is started on first use and joined by ``run.finish()`` (it waits for the
artifacts still being stored, as W&B waits for uploads). Each step also appends an
ARTIFACT record (``op``: ``log``, ``use`` or ``link``) to the run log: the lineage
edges the read side (``logged_artifacts``, ``used_by``) is built from.

In online mode, ``use_artifact("name:alias")`` that the local state store cannot resolve
asks the run's team server (:mod:`tracker.artifacts._remote`): the artifact it returns
reads its manifest and files from there, and the use is recorded with the server's
version number, so the server's lineage names the version it holds.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.artifacts._artifact import Artifact
from tracker.artifacts._names import (
    LATEST,
    REGISTRY_PROJECT,
    check_aliases,
    check_name,
    parse_ref,
    registry_target,
)
from tracker.errors import StorageError, UsageError
from tracker.storage._format import R

if TYPE_CHECKING:
    from tracker._port import RunPort
    from tracker.storage._base import ArtifactVersion, StateStore

__all__: list[str] = []

_log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- storing
def store_version(
    art: Artifact, root: Path, project: str, run_id: str | None, aliases: Iterable[str], state: StateStore,
    on_stored: Callable[[int], None] | None = None,
) -> ArtifactVersion:  # fmt: skip
    """Hash and store a draft's files, write its manifest, register the version.

    An unchanged artifact (same manifest digest) gets the existing version back;
    ``latest`` is set in the same transaction as the other aliases. ``on_stored(size)``
    is called after each file is stored (``tracker artifact put`` shows progress).
    """
    from tracker.artifacts._refs import resolve
    from tracker.artifacts._store import BlobStore

    store = BlobStore(root)
    entries: dict[str, dict[str, Any]] = {}
    ref_roots: list[str] = []
    remote_refs = False
    for path, entry in sorted(art._draft.items()):
        if entry.ref is None:
            assert entry.local_path is not None
            src = Path(entry.local_path)
            _check_unchanged(src, entry._stamp, path)
            digest, size, _copied = store.put_file(src)
            _check_unchanged(src, entry._stamp, path)
            entries[path] = {"digest": digest, "size": size}
            if on_stored is not None:
                on_stored(size)
        else:
            entries[path] = resolve(entry.ref)
            if entry._root is not None:
                ref_roots.append(entry._root)
            else:
                remote_refs = True
    digest = store.write_manifest(entries)
    if ref_roots or remote_refs:  # this run added them: its own downloads follow them
        store.write_trust(digest, ref_roots, remote_refs)
    metadata = {
        "description": art.description,
        "metadata": art.metadata,
        "files": len(entries),
        "size": sum(int(e.get("size") or 0) for e in entries.values()),
    }
    version = state.add_artifact_version(
        project, art.source_name, art.type, digest, metadata=metadata, run_id=run_id,
        aliases=[*aliases, LATEST],
    )  # fmt: skip
    art._bind(version, root)
    return version


def _check_unchanged(src: Path, stamp: tuple[int, int] | None, name: str) -> None:
    try:
        st = src.stat()
    except OSError as exc:
        raise StorageError(f"artifact file {name!r}: {src} disappeared before it was stored.") from exc
    if stamp is not None and (st.st_size, st.st_mtime_ns) != stamp:
        raise StorageError(
            f"artifact file {name!r}: {src} changed after add_file() and before it was stored; "
            "write each version to its own path, or call wait() before changing the file."
        )


def link_version(
    art: Artifact, collection: str, aliases: Iterable[str], root: Path, state: StateStore
) -> Artifact:
    """Link a committed version into ``model-registry/<collection>``.

    The collection is kept as the artifact ``<collection>`` of the reserved project
    ``model-registry``: its own version numbers (by digest, so relinking the same
    content is idempotent), its own ``latest`` and aliases. The provenance link is
    recorded with :meth:`StateStore.link_artifact` as well.
    """
    src = art._committed
    assert src is not None
    state.link_artifact(f"{REGISTRY_PROJECT}/{collection}", src.project, src.name, src.version)
    meta = dict(src.metadata)
    meta["source"] = {"project": src.project, "name": src.name, "version": src.version}
    linked = state.add_artifact_version(
        REGISTRY_PROJECT, collection, src.type, src.digest, metadata=meta, run_id=src.run_id,
        aliases=[*aliases, LATEST],
    )  # fmt: skip
    return Artifact._from_version(linked, root)


def edge(op: str, version: ArtifactVersion, **extra: Any) -> dict[str, Any]:
    """The ARTIFACT record of one lineage edge."""
    return {
        "op": op, "project": version.project, "name": version.name, "type": version.type,
        "version": version.version, "digest": version.digest, **extra,
    }  # fmt: skip


# --------------------------------------------------------------------------- the worker
class _Worker:
    """One run's artifact thread: runs jobs in order; started lazily, joined at finish."""

    def __init__(self, run: RunPort) -> None:
        self.root = run_root(run)
        self._state: StateStore | None = None
        self._run = run
        self._jobs: collections.deque[Callable[[], None]] = collections.deque()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> StateStore:
        """The data root's state store, opened on first use (in the worker, for log_artifact)."""
        if self._state is None:
            from tracker.storage._sqlite_state import SQLiteStateStore

            self._state = SQLiteStateStore.for_root(self.root)
        return self._state

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._stop:
                raise UsageError(f"run {self._run.id} finished; artifacts can no longer be logged to it.")
            self._jobs.append(job)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._main, name=f"tracker-artifacts-{self._run.id}", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def flush(self) -> None:
        """Wait until every job submitted so far has run."""
        if self._thread is None:
            return
        done = threading.Event()
        self.submit(done.set)
        done.wait()

    def close(self) -> None:
        with self._lock:
            self._stop = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()
        if self._state is not None:
            self._state.close()

    def _main(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while self._jobs:
                self._jobs.popleft()()
            if self._stop and not self._jobs:
                return

    def record(self, rec: dict[str, Any]) -> None:
        self._run.record(R.ARTIFACT, rec)

    def fail(self, art: Artifact, what: str, exc: BaseException) -> None:
        _log.debug("artifact %s failed", art.source_name, exc_info=exc)
        art._error = exc
        self._run.problem(f"artifact:{art.source_name}", f"{what} {art.source_name} failed: {exc}")


_workers: weakref.WeakKeyDictionary[RunPort, _Worker] = weakref.WeakKeyDictionary()
_workers_lock = threading.Lock()


def _worker(run: RunPort) -> _Worker:
    # Import what the worker needs here, in the caller: an import in the worker thread
    # mutates sys.modules while the run's writer may be iterating it (run capture).
    import tracker.artifacts._refs
    import tracker.artifacts._store
    import tracker.storage._sqlite_state  # noqa: F401 - see above

    with _workers_lock:
        worker = _workers.get(run)
        if worker is None:
            worker = _workers[run] = _Worker(run)
            run.on_finish(worker.close)
        return worker


def run_root(run: RunPort) -> Path:
    """The data root of a run (its directory is ``<root>/projects/<project>/runs/<id>``)."""
    root = run.root
    if root is None:
        raise UsageError(f"run {run.id} has no data root; artifacts cannot be logged to it.")
    return root


# --------------------------------------------------------------------------- run operations
def _as_artifact(obj: Any, name: str | None, type_: str | None) -> Artifact:
    if isinstance(obj, Artifact):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        path = Path(os.fspath(obj))
        art = Artifact(check_name(name or path.name.replace(" ", "_") or "artifact"), type_ or "unspecified")
        if path.is_dir():
            art.add_dir(path)
        else:
            art.add_file(path)
        return art
    raise UsageError(f"expected a tracker.Artifact or a path, not {type(obj).__name__}.")


def log_artifact(
    run: RunPort, artifact: Any, name: str | None = None, type: str | None = None, aliases: Any = None
) -> Artifact:
    """``Run.log_artifact``: hand the artifact to the run's worker and return at once."""
    art = _as_artifact(artifact, name, type)
    wanted = check_aliases(aliases)
    if run.disabled:
        return art
    run.require_live("log_artifact()")
    if art.state == "PENDING":
        raise UsageError(f"artifact {art.source_name} is already being logged; call wait() on it.")
    worker = _worker(run)
    if art.state == "COMMITTED":
        version = art._committed
        assert version is not None
        for alias in wanted:
            worker.state.set_alias(version.project, version.name, alias, version.version)
        worker.record(edge("log", version, aliases=wanted))
        return art
    art._done = threading.Event()

    def job() -> None:
        try:
            version = store_version(art, worker.root, run.project, run.id, wanted, worker.state)
            worker.record(edge("log", version, aliases=wanted))
        except Exception as exc:  # noqa: BLE001 - handed to wait() and surfaced as a run problem (G9)
            worker.fail(art, "logging artifact", exc)
        finally:
            assert art._done is not None
            art._done.set()

    worker.submit(job)
    return art


def use_artifact(
    run: RunPort, artifact: Any, type: str | None = None, aliases: Any = None, use_as: str | None = None
) -> Artifact:
    """``Run.use_artifact``: resolve a reference (or take an artifact) and record the use."""
    if run.disabled:
        if isinstance(artifact, Artifact):
            return artifact
        ref = parse_ref(artifact)
        return Artifact(ref.name, type or "unspecified")
    run.require_live("use_artifact()")
    worker = _worker(run)
    if isinstance(artifact, Artifact):
        if artifact.state == "DRAFT":
            log_artifact(run, artifact, aliases=aliases)
        art = artifact.wait()
        version = art._committed
        assert version is not None
    else:
        ref = parse_ref(artifact)
        worker.flush()  # this run's own pending versions first: "name:latest" after log_artifact
        project = ref.project or run.project
        found = worker.state.artifact_version(project, ref.name, ref.ref)
        if found is None or found.deleted:
            art = _from_server(run, worker.root, project, ref.name, ref.ref)
            version = art._committed
            assert version is not None
        else:
            version = found
            art = Artifact._from_version(version, worker.root)
    if type is not None and type != version.type:
        raise UsageError(
            f"artifact {version.project}/{version.name} has type {version.type!r}, not {type!r}."
        )
    worker.record(edge("use", version))
    return art


def _from_server(run: RunPort, root: Path, project: str, name: str, ref: str | int) -> Artifact:
    """The version ``project/name:ref`` of the online run's team server (not in the local store).

    Raises:
        StorageError: The run is not online, or neither store has the version.
    """
    where = f"no artifact {project}/{name}:{ref} under {root}"
    target = run.server
    if target is None:
        raise StorageError(f"{where}; a run in online mode would also look on its team server.")
    from tracker._client import Client
    from tracker.artifacts._remote import artifact_version

    remote = Client(*target)
    try:
        version = artifact_version(remote, project, name, ref)
    except StorageError as exc:
        raise StorageError(f"{where}, nor on the team server: {exc}") from exc
    return Artifact._from_version(version, root, remote)


def link_artifact(run: RunPort, artifact: Artifact, target_path: str, aliases: Any = None) -> Artifact:
    """``Run.link_artifact``: link into ``model-registry/<collection>`` (in the background)."""
    collection = registry_target(target_path)
    wanted = check_aliases(aliases)
    if not isinstance(artifact, Artifact):
        raise UsageError(f"link_artifact() takes a tracker.Artifact, not {type(artifact).__name__}.")
    if run.disabled:
        return artifact
    run.require_live("link_artifact()")
    if artifact.state == "DRAFT":
        log_artifact(run, artifact)
    worker = _worker(run)

    def job() -> None:
        if artifact._committed is None:
            return  # logging it failed; wait() reports why
        try:
            linked = link_version(artifact, collection, wanted, worker.root, worker.state)._committed
            assert linked is not None
            worker.record(edge("link", linked, source=artifact.qualified_name, aliases=wanted))
        except Exception as exc:  # noqa: BLE001 - surfaced as a run problem (G9)
            worker.fail(artifact, f"linking to {target_path}:", exc)

    worker.submit(job)
    return artifact


class _Ops:
    """The run operations above as one object: the ``tracker._port.ArtifactOps`` that
    ``tracker._init`` wires into ``Run``'s artifact methods."""

    log_artifact = staticmethod(log_artifact)
    use_artifact = staticmethod(use_artifact)
    link_artifact = staticmethod(link_artifact)


OPS = _Ops()
