"""``tracker.Artifact``: a versioned set of files and references (W&B's ``wandb.Artifact``).

An artifact starts as a *draft*: ``add_file``/``add_dir``/``add_reference``/``new_file``
only validate and note what to include (a ``stat``, no hashing). ``run.log_artifact``
hands it to the run's artifact worker, which hashes and stores the files and registers
the version; the artifact is then *pending* until :meth:`Artifact.wait` returns, and
*committed* afterwards. Artifacts returned by ``use_artifact`` and ``Api().artifact``
are committed: read-only, with a version, aliases and a manifest. One read from a team
server (``Api(base_url=...)``, or ``use_artifact`` in online mode when the local data root
lacks it) gets its manifest and files from there (:mod:`tracker.artifacts._remote`);
downloads and checks are in :mod:`tracker.artifacts._download`. ``logged_by``/``used_by``
read lineage through a :class:`tracker._lineage.LineageReader` (the ``Api`` that returned
the artifact, else one the composition root's factory builds): artifacts never import the
read side.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tracker.artifacts._edits import MediaAndEdits
from tracker.artifacts._names import check_entry, check_name
from tracker.errors import StorageError, UsageError
from tracker.storage._lease import is_lease_file

if TYPE_CHECKING:
    from tracker._client import Client
    from tracker._lineage import LineageReader
    from tracker.artifacts._refs import Trust
    from tracker.storage._base import ArtifactVersion

__all__ = ["Artifact", "ArtifactEntry"]


@dataclass(frozen=True)
class ArtifactEntry:
    """One file or reference of an artifact (W&B's ``ArtifactManifestEntry``).

    Attributes:
        path: The entry's path inside the artifact (POSIX, relative).
        size: Size in bytes, or None when unknown (a draft file before hashing, an
            unreachable reference).
        digest: ``sha256:<hex>`` of the content, or None when unknown.
        ref: The URI of a reference entry, or None for a stored file.
        etag: The ETag of an ``s3://`` or ``http(s)://`` reference, when it was read.
        local_path: For a draft, the file that will be stored.
    """

    path: str
    size: int | None = None
    digest: str | None = None
    ref: str | None = None
    etag: str | None = None
    local_path: str | None = None
    _artifact: Artifact | None = None
    _stamp: tuple[int, int] | None = None  # (size, mtime_ns) at add_file: a later change is refused
    _root: str | None = None  # a file:// reference: the real path add_reference was given

    @property
    def name(self) -> str:
        """The entry's path (W&B's ``File.name``)."""
        return self.path

    def download(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        allow_roots: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
        allow_references: bool | None = None,
    ) -> str:
        """Download this entry only (into the artifact's download folder by default).

        ``allow_roots`` and ``allow_references`` are those of :meth:`Artifact.download`.

        Returns:
            The local path of the file.
        """
        if self._artifact is None:
            raise UsageError(f"entry {self.path!r} is not attached to a logged artifact.")
        trust = self._artifact._trust(allow_roots, allow_references)
        base = self._artifact._download_entries(root, [self.path], trust=trust)
        return str(Path(base) / self.path)


class Artifact(MediaAndEdits):
    """A versioned, deduplicated set of files and references, with lineage.

    Args:
        name: Artifact name (letters, digits, ``.``, ``_``, ``-``).
        type: Artifact type (``dataset``, ``model``, ...).
        description: Free text stored with each version.
        metadata: JSON-serialisable dict stored with each version.

    Raises:
        UsageError: An invalid name or type, or metadata that is not a mapping.

    Example:
        >>> art = tracker.Artifact("mnist", type="dataset")  # doctest: +SKIP
        >>> art.add_dir("data/mnist")  # doctest: +SKIP
        >>> run.log_artifact(art, aliases=["raw"]).wait().version  # doctest: +SKIP
        'v0'
    """

    def __init__(
        self,
        name: str,
        type: str,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        incremental: bool = False,
        use_as: str | None = None,
    ) -> None:
        self._name = check_name(name)
        self.type = check_name(type, "artifact type")
        if description is not None and not isinstance(description, str):
            raise UsageError("Artifact(description=...) must be a string.")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise UsageError("Artifact(metadata=...) must be a dict.")
        self.description = description
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._draft: dict[str, ArtifactEntry] = {}
        self._staging: str | None = None
        self._done: threading.Event | None = None
        self._error: BaseException | None = None
        self._committed: ArtifactVersion | None = None
        self._root: Path | None = None
        self._manifest: dict[str, dict[str, Any]] | None = None
        self._pending_aliases: list[str] = []
        self._aliases: list[str] = []
        self._remote: Client | None = None  # the team server a committed version is read from
        self._lineage: LineageReader | None = None  # who reads logged_by/used_by (else the factory's)

    # ---------------------------------------------------------------- identity
    @property
    def name(self) -> str:
        """``name`` for a draft, ``name:v<N>`` once committed (as W&B)."""
        v = self._committed
        return self._name if v is None else f"{self._name}:{v.label}"

    @property
    def source_name(self) -> str:
        """The artifact's name without a version."""
        return self._name

    @property
    def version(self) -> str | None:
        """``v<N>`` once committed, else None."""
        return None if self._committed is None else self._committed.label

    @property
    def project(self) -> str | None:
        """The project it was logged to, once committed."""
        return None if self._committed is None else self._committed.project

    @property
    def qualified_name(self) -> str:
        """``project/name:v<N>`` once committed, else the name."""
        v = self._committed
        return self._name if v is None else f"{v.project}/{self._name}:{v.label}"

    @property
    def digest(self) -> str | None:
        """The manifest digest (identifies the version across stores), once committed."""
        return None if self._committed is None else self._committed.digest

    @property
    def aliases(self) -> list[str]:
        """Aliases of the version (``latest`` included); edit the list, then :meth:`save`."""
        return self._aliases

    @aliases.setter
    def aliases(self, value: list[str]) -> None:
        self._aliases = value

    @property
    def created_at(self) -> float | None:
        """Unix time the version was created, once committed."""
        return None if self._committed is None else self._committed.created_at

    @property
    def state(self) -> str:
        """``DRAFT``, ``PENDING`` (being stored by a run's worker) or ``COMMITTED``."""
        if self._committed is not None:
            return "COMMITTED"
        return "PENDING" if self._done is not None else "DRAFT"

    def is_draft(self) -> bool:
        """True until the artifact is logged."""
        return self.state == "DRAFT"

    @property
    def size(self) -> int:
        """Total size in bytes of the entries whose size is known."""
        return sum(e.size or 0 for e in self.files())

    def __repr__(self) -> str:
        return f"<Artifact {self.qualified_name} type={self.type} ({self.state.lower()})>"

    def _repr_html_(self) -> str:
        """Jupyter's view: name, type, state, aliases, size and files."""
        from tracker._html import artifact_html

        v = self._committed
        return artifact_html(
            name=self.qualified_name,
            type_=self.type,
            state=self.state,
            aliases=self.aliases,
            size=self.size if v is None else v.metadata.get("size"),
            files=len(self._draft) if v is None else v.metadata.get("files"),
            digest=self.digest,
            description=self.description,
        )

    # ---------------------------------------------------------------- building
    def _require_draft(self, what: str) -> None:
        if self.state != "DRAFT":
            raise UsageError(
                f"{what} on {self.qualified_name}: a logged artifact is immutable; create a new "
                "tracker.Artifact with the same name to make the next version."
            )

    def _put(self, entry: ArtifactEntry, overwrite: bool) -> None:
        if entry.path in self._draft and not overwrite:
            raise UsageError(
                f"artifact {self._name} already has an entry {entry.path!r}; pass overwrite=True "
                "to replace it.",
                key=entry.path,
            )
        self._draft[entry.path] = entry

    def add_file(
        self,
        local_path: str | os.PathLike[str],
        name: str | None = None,
        is_tmp: bool | None = False,
        skip_cache: bool | None = False,
        policy: str | None = "mutable",
        overwrite: bool = False,
    ) -> ArtifactEntry:
        """Add a local file; it is hashed and stored when the artifact is logged.

        Args:
            local_path: The file.
            name: Its path inside the artifact (default: the file name).
            is_tmp: Accepted for W&B compatibility.
            skip_cache: Accepted for W&B compatibility.
            policy: Accepted for W&B compatibility. The file is read in the background
                after ``log_artifact``: do not modify it until ``wait()`` returns (a file
                whose size or mtime changed since ``add_file`` is refused, not stored).
            overwrite: Replace an existing entry of the same name.

        Returns:
            The new entry.

        Raises:
            UsageError: Not a regular file, an unsafe name, a duplicate, or the artifact
                was already logged.
        """
        self._require_draft("add_file()")
        path = Path(os.fspath(local_path)).expanduser()
        if not path.is_file():
            raise UsageError(f"add_file({os.fspath(local_path)!r}): not a file.")
        entry_name = check_entry(name if name is not None else path.name)
        st = path.stat()
        entry = ArtifactEntry(
            entry_name, size=st.st_size, local_path=str(path.absolute()), _stamp=(st.st_size, st.st_mtime_ns)
        )
        self._put(entry, overwrite)
        return entry

    def add_dir(
        self, local_path: str | os.PathLike[str], name: str | None = None, skip_cache: bool | None = False,
        policy: str | None = "mutable", merge: bool = False,
    ) -> None:  # fmt: skip
        """Add every file under a folder, keeping its layout (under ``name/`` if given).

        A run's lease files (``.lease``...) are skipped: they are not data, and reading
        one from the process that writes the run would release its lock.

        Args:
            local_path: The folder.
            name: A prefix inside the artifact (default: the root).
            skip_cache: Accepted for W&B compatibility.
            policy: Accepted for W&B compatibility.
            merge: Replace entries that already exist instead of raising.

        Raises:
            UsageError: Not a folder, an unsafe name, or the artifact was already logged.
        """
        self._require_draft("add_dir()")
        base = Path(os.fspath(local_path)).expanduser()
        if not base.is_dir():
            raise UsageError(f"add_dir({os.fspath(local_path)!r}): not a folder.")
        prefix = check_entry(name) + "/" if name else ""
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for fname in sorted(filenames):
                full = Path(dirpath) / fname
                if full.is_file() and not is_lease_file(fname):
                    rel = full.relative_to(base).as_posix()
                    self.add_file(full, name=prefix + rel, overwrite=merge)

    def add_reference(
        self, uri: str, name: str | None = None, checksum: bool = True, max_objects: int | None = None
    ) -> list[ArtifactEntry]:
        """Track data by URI without copying it (``file://``, ``s3://``, ``http(s)://``).

        When the artifact is logged, ``file://`` references are hashed, ``s3://`` ones
        get size and ETag through fsspec (when installed and reachable) and
        ``http(s)://`` ones get ``Content-Length`` and ``ETag`` from a ``HEAD`` request.
        A ``file://`` folder adds one reference per file. Downloads on this data root
        follow these references; elsewhere (a team server's readers) only where the
        reader allows (see :meth:`download`).

        Args:
            uri: The URI.
            name: Entry name (default: the URI's last path component).
            checksum: Accepted for W&B compatibility.
            max_objects: Accepted for W&B compatibility.

        Returns:
            The entries added.

        Raises:
            UsageError: An unsupported scheme, an unsafe name, or the artifact was
                already logged.
        """
        from tracker.artifacts._refs import check_uri, default_name, local_path

        self._require_draft("add_reference()")
        check_uri(uri)
        entry_name = check_entry(name if name is not None else default_name(uri))
        root = None
        if uri.startswith("file:"):
            folder = local_path(uri)
            root = os.path.realpath(folder)  # what this machine's downloads of it may read
            if folder.is_dir():
                added = []
                for full in sorted(p for p in folder.rglob("*") if p.is_file()):
                    rel = full.relative_to(folder).as_posix()
                    entry = ArtifactEntry(
                        check_entry(f"{entry_name}/{rel}"), ref=full.absolute().as_uri(), _root=root
                    )
                    self._put(entry, False)
                    added.append(entry)
                return added
        entry = ArtifactEntry(entry_name, ref=uri, _root=root)
        self._put(entry, False)
        return [entry]

    @contextlib.contextmanager
    def new_file(self, name: str, mode: str = "x", encoding: str | None = None) -> Iterator[IO[Any]]:
        """Write a new file straight into the artifact.

        Example:
            >>> with art.new_file("labels.json") as f:  # doctest: +SKIP
            ...     f.write('{"cat": 0}')

        Raises:
            UsageError: An unsafe or duplicate name, a read mode, or the artifact was
                already logged.
        """
        self._require_draft("new_file()")
        entry_name = check_entry(name)
        if entry_name in self._draft:
            raise UsageError(f"artifact {self._name} already has an entry {entry_name!r}.", key=entry_name)
        if not any(c in mode for c in "wxa"):
            raise UsageError(f"new_file(mode={mode!r}): use a write mode such as 'w' or 'x'.")
        if self._staging is None:
            self._staging = tempfile.mkdtemp(prefix="tracker-artifact-")
        path = Path(self._staging) / entry_name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, mode, encoding=encoding if "b" not in mode else None) as fh:
            yield fh
        self.add_file(path, name=entry_name)

    # ---------------------------------------------------------------- reading
    def _entries(self) -> dict[str, dict[str, Any]]:
        if self._committed is None:
            raise UsageError(f"artifact {self._name} is not logged yet; call wait() after log_artifact().")
        if self._manifest is None and self._remote is not None:
            from tracker.artifacts._remote import artifact_manifest

            self._manifest = artifact_manifest(self._remote, self._committed)
        if self._manifest is None:
            assert self._root is not None
            from tracker.artifacts._store import BlobStore

            self._manifest = BlobStore(self._root).read_manifest(self._committed.digest)
        return self._manifest

    def files(self, names: list[str] | None = None, per_page: int = 50) -> list[ArtifactEntry]:
        """The entries, sorted by path (optionally only ``names``)."""
        if self.state != "COMMITTED":
            out = [self._draft[k] for k in sorted(self._draft)]
        else:
            out = [
                ArtifactEntry(path, e.get("size"), e.get("digest"), e.get("ref"), e.get("etag"), None, self)
                for path, e in sorted(self._entries().items())
            ]
        if names is not None:
            wanted = set(names)
            out = [e for e in out if e.path in wanted]
        return out

    def get_entry(self, name: str) -> ArtifactEntry:
        """The entry named ``name``.

        Raises:
            KeyError: No such entry.
        """
        for entry in self.files([check_entry(name)]):
            return entry
        raise KeyError(f"artifact {self.qualified_name} has no entry {name!r}")

    def get_path(self, name: str) -> ArtifactEntry:
        """The entry named ``name`` (W&B's name; ``.download()`` fetches it)."""
        return self.get_entry(name)

    def wait(self, timeout: float | None = None) -> Artifact:
        """Wait until a logged artifact is stored and versioned; return it.

        Raises:
            UsageError: The artifact was never logged.
            StorageError: Storing it failed (the cause is chained), or the timeout passed.
        """
        if self._committed is not None:
            return self
        if self._done is None:
            raise UsageError(f"artifact {self._name} was not logged; call run.log_artifact() first.")
        if not self._done.wait(timeout):
            raise StorageError(f"artifact {self._name} is still being stored after {timeout} s.")
        if self._error is not None:
            raise StorageError(f"logging artifact {self._name} failed: {self._error}") from self._error
        return self

    # ---------------------------------------------------------------- download / verify
    def _default_root(self) -> Path:
        return Path("artifacts") / self.name.replace(":", "-" if os.name == "nt" else ":")

    def download(
        self, root: str | os.PathLike[str] | None = None, allow_missing_references: bool = False,
        skip_cache: bool | None = None, path_prefix: str | None = None, *,
        allow_roots: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
        allow_references: bool | None = None,
    ) -> str:  # fmt: skip
        """Materialise the files under ``root`` (default ``./artifacts/<name>:v<N>``).

        Files already present with the same digest are not copied again. Every copy is
        written to a temporary name, checked against its digest and only then renamed
        into place; nothing is ever written outside ``root``. An artifact read from a
        team server streams each file from there (or copies it from the local blob
        store when that holds the same content); a file whose bytes do not match its
        digest is not written.

        References are followed only where the reader allows (a manifest is data that
        whoever logged the version wrote): ``file://`` ones under ``allow_roots``, and
        ``http(s)://``/``s3://`` ones with ``allow_references=True``. A version logged by
        a run on this data root also follows its own references (``file://`` under the
        path given to ``add_reference``); one read from a team server follows none
        unless allowed. ``data:`` and other schemes are never followed. Every
        reference is checked before anything is written.

        Args:
            root: Target folder.
            allow_missing_references: Skip references that cannot be fetched (unreachable
                or missing; a refused reference still raises).
            skip_cache: Accepted for W&B compatibility.
            path_prefix: Only entries whose path starts with this.
            allow_roots: Folders ``file://`` references may be read from (default:
                ``$TRACKER_ARTIFACT_ROOTS``, paths separated by ``os.pathsep``).
            allow_references: Fetch ``http(s)://`` and ``s3://`` references (default:
                ``$TRACKER_ALLOW_REFERENCES``, else False).

        Returns:
            The folder, as a string.

        Raises:
            StorageError: A blob is missing or corrupted, a reference is refused, cannot
                be fetched or changed since it was logged (the entry is named).
        """
        self.wait()
        trust = self._trust(allow_roots, allow_references)
        names = [p for p in self._entries() if path_prefix is None or p.startswith(path_prefix)]
        return self._download_entries(root, names, allow_missing_references, trust=trust)

    def _trust(
        self,
        allow_roots: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] | None,
        allow_references: bool | None,
    ) -> Trust:
        """The reader's trust, widened by the trust record of a version logged on this root."""
        from tracker.artifacts._download import trust_of

        return trust_of(self, allow_roots, allow_references)

    def _download_entries(
        self, root: str | os.PathLike[str] | None, names: list[str], allow_missing: bool = False,
        *, trust: Trust,
    ) -> str:  # fmt: skip
        from tracker.artifacts._download import download_entries

        return download_entries(self, root, names, allow_missing, trust)

    def verify(self, root: str | os.PathLike[str] | None = None) -> None:
        """Check content against the manifest.

        With ``root``, every entry with a digest must be present under ``root`` with that
        digest. Without it, every stored blob of this version is re-hashed.

        Raises:
            StorageError: The first entry that is missing or differs, by name.
        """
        from tracker.artifacts._download import verify

        self.wait()
        verify(self, root)

    # ---------------------------------------------------------------- lineage
    def logged_by(self) -> Any:
        """The run that created this version (a :class:`tracker.api.Run`), or None (logged without a run)."""
        self.wait()
        return self._lineage_reader().artifact_logged_by(self)

    def used_by(self) -> list[Any]:
        """The runs (:class:`tracker.api.Run`) that used this version (``use_artifact``), oldest first."""
        self.wait()
        return self._lineage_reader().artifact_used_by(self)

    def _lineage_reader(self) -> LineageReader:
        if self._lineage is not None:
            return self._lineage
        from tracker._lineage import reader_for

        assert self._root is not None
        return reader_for(self._root, self._remote)

    # ---------------------------------------------------------------- internals
    def _bind(self, version: ArtifactVersion, root: Path) -> None:
        """Become the committed artifact of ``version`` (the worker or a reader calls this)."""
        self._root = root
        self._committed = version
        self._aliases = list(version.aliases)
        self._manifest = None
        meta = version.metadata
        if isinstance(meta.get("metadata"), dict):
            self.metadata = dict(meta["metadata"])
        if "description" in meta:
            self.description = meta["description"]
        self._draft = {}
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    @classmethod
    def _from_version(
        cls,
        version: ArtifactVersion,
        root: Path,
        remote: Client | None = None,
        lineage: LineageReader | None = None,
    ) -> Artifact:
        art = cls(version.name, version.type)  # as stored: valid names
        art._remote = remote
        art._lineage = lineage
        art._bind(version, root)
        return art
