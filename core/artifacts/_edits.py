"""What an artifact does beyond files: media objects in and out, and edits saved after logging.

W&B's ``artifact.add(obj, name)`` stores a media object as ``<name>.<type>.json`` (a
table as ``<name>.table.json``: ``{"columns", "data"}``; an image as
``<name>.image-file.json``, a reference to its ``media/image/<sha256>.png``) beside the
files it refers to, and ``artifact.get(name)`` builds the object back from them.
``save()`` keeps edits of ``description``, ``metadata`` and ``aliases`` of a logged
version in the state store (a draft is logged to the current run instead).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from tracker.artifacts._names import check_entry
from tracker.errors import UsageError

if TYPE_CHECKING:
    from tracker.artifacts._artifact import Artifact, ArtifactEntry
    from tracker.storage._base import ArtifactVersion, StateStore

__all__: list[str] = []

#: The reference ``_type`` of each media file kind, as W&B names the JSON files.
_TABLE: Final = "table-file"
_SUFFIXES: Final = ("table", "image-file", "audio-file", "video-file", "html-file", "object3D-file",
                    "molecule-file", "plotly-file", "histogram")  # fmt: skip


def suffix_of(ref: dict[str, Any]) -> str:
    """W&B's file suffix for a reference: ``table`` for tables, else its ``_type``."""
    kind = str(ref.get("_type", "media"))
    return "table" if kind == _TABLE else kind


def add_media(art: Artifact, obj: Any, name: str) -> Any:
    """Encode ``obj`` into the draft as ``<name>.<type>.json`` and the files it refers to."""
    from tracker.media._base import Media
    from tracker.media._store import MediaStore

    art._require_draft("add()")
    plain = getattr(obj, "_tracker_plain", None)  # a Histogram: stored inline, as in a row
    if plain is not None and not isinstance(obj, Media):
        return _add_json(
            art,
            json.dumps(plain(), separators=(",", ":")).encode("utf-8"),
            f"{check_entry(name)}.histogram.json",
        )
    if not isinstance(obj, Media):
        raise UsageError(
            f"artifact.add() takes a tracker media object (Table, Image, Audio, Video, Html, Object3D, "
            f"Molecule, Plotly), not {type(obj).__name__}; use add_file() for files."
        )
    check_entry(name)
    if art._staging is None:
        art._staging = tempfile.mkdtemp(prefix="tracker-artifact-")
    stage = Path(art._staging) / ".media" / str(len(art._draft))
    problems: list[str] = []
    store = MediaStore(stage, lambda _key, message: problems.append(message), 1 << 30)
    ref = obj._encode(store)
    entry = f"{name}.{suffix_of(ref)}.json"
    own = ref.get("path") if ref.get("_type") == _TABLE else None
    if own is not None:  # the table's JSON is the entry itself, as in W&B
        body = (stage / own).read_bytes()
        (stage / own).unlink()
    else:
        body = json.dumps(ref, separators=(",", ":")).encode("utf-8")
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        rel = path.relative_to(stage).as_posix()
        if rel not in art._draft:
            art.add_file(path, name=rel)
    return _add_json(art, body, entry)


def _add_json(art: Artifact, body: bytes, entry: str) -> Any:
    if art._staging is None:
        art._staging = tempfile.mkdtemp(prefix="tracker-artifact-")
    target = Path(art._staging) / ".media" / "json" / entry
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    return art.add_file(target, name=entry, overwrite=True)


def get_media(art: Artifact, name: str) -> Any:
    """The media object stored by ``add(obj, name)`` (or the JSON of ``name`` itself), or None."""
    entries = {e.path for e in art.files()}
    candidates = [name, *(f"{name}.{s}.json" for s in _SUFFIXES)]
    found = next((c for c in candidates if c in entries and c.endswith(".json")), None)
    if found is None:
        return None
    with tempfile.TemporaryDirectory(prefix="tracker-get-") as tmp:
        root = _materialise(art, tmp)
        data = json.loads((root / found).read_text(encoding="utf-8"))
        if found.endswith(".table.json") or ("columns" in data and "data" in data and "_type" not in data):
            return _table(root, data)
        return from_ref(root, data)


def _materialise(art: Artifact, tmp: str) -> Path:
    if art.state == "DRAFT":
        root = Path(tmp)
        for path, entry in art._draft.items():
            if entry.local_path is not None:
                dest = root / path
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(entry.local_path, dest)
        return root
    return Path(art._download_entries(tmp, list(art._entries()), trust=art._trust(None, None)))


def _table(root: Path, data: dict[str, Any]) -> Any:
    from tracker.media._table import Table

    rows = [[_cell(root, c) for c in row] for row in data.get("data", [])]
    return Table(columns=list(data.get("columns", [])), data=rows)


def _cell(root: Path, value: Any) -> Any:
    if isinstance(value, dict) and ("path" in value or value.get("_type") == "histogram"):
        return from_ref(root, value)
    return value


def from_ref(root: Path, ref: dict[str, Any]) -> Any:
    """A media object from a reference whose files are under ``root`` (the dict if unknown)."""
    import tracker.media as media
    from tracker.media._read import resolve

    kind = ref.get("_type")
    if kind == "histogram":
        return media.Histogram(np_histogram=(ref["values"], ref["bins"]))
    if kind == _TABLE:
        return _table(root, json.loads(resolve(root, ref).read_text(encoding="utf-8")))
    makers: dict[str, Any] = {
        "image-file": lambda p: media.Image(p, caption=ref.get("caption")),
        "audio-file": lambda p: media.Audio(p, caption=ref.get("caption")),
        "video-file": lambda p: media.Video(p, caption=ref.get("caption")),
        "html-file": lambda p: media.Html(Path(p)),
        "object3D-file": lambda p: media.Object3D(p, caption=ref.get("caption")),
        "molecule-file": lambda p: media.Molecule(p, caption=ref.get("caption")),
        "plotly-file": lambda p: media.Plotly(json.loads(Path(p).read_text(encoding="utf-8"))),
    }
    make = makers.get(str(kind))
    if make is None or not ref.get("path"):
        return ref
    return make(str(resolve(root, ref)))


class MediaAndEdits:
    """:class:`~tracker.Artifact`'s ``add``, ``get`` and ``save`` (kept here, beside their code)."""

    def add(self, obj: Any, name: str, overwrite: bool = False) -> ArtifactEntry:
        """Add a media object (``Table``, ``Image``, ...) as ``<name>.<type>.json``, as W&B.

        Raises:
            UsageError: Not a media object, an unsafe name, or the artifact was logged.
        """
        entry: ArtifactEntry = add_media(cast("Artifact", self), obj, name)
        return entry

    def get(self, name: str) -> Any:
        """The media object :meth:`add` stored as ``name`` (a ``Table``, an ``Image``...), or None."""
        return get_media(cast("Artifact", self), name)

    def save(self) -> Artifact:
        """Keep edits of a logged version's ``description``, ``metadata`` and ``aliases``.

        A draft is logged to the current run instead (``run.log_artifact``).

        Raises:
            UsageError: A draft without a run, invalid edits, or a version read from a team server.
        """
        return save(cast("Artifact", self))


# ------------------------------------------------------------------------- edits
def save(art: Artifact) -> Artifact:
    """Log a draft to the current run, or keep a logged version's edits (description,
    metadata, aliases) in the state store."""
    if art.state == "DRAFT":
        from tracker import _process

        run: Any = _process.current()
        if run is None:
            raise UsageError(
                f"artifact {art.source_name}.save(): a draft is saved by logging it; call "
                "tracker.init() first or use run.log_artifact(artifact)."
            )
        logged: Artifact = run.log_artifact(art)
        return logged
    art.wait()
    version = art._committed
    assert version is not None
    if art._remote is not None or art._root is None:
        raise UsageError(
            f"artifact {art.qualified_name} was read from a team server; editing it there is not "
            "supported yet: edit it with tracker.Api(root=...) on the server's data root."
        )
    from tracker.storage._sqlite_state import SQLiteStateStore

    if not isinstance(art.metadata, dict):
        raise UsageError(f"artifact {art.qualified_name}: metadata must be a dict to save it.")
    if art.description is not None and not isinstance(art.description, str):
        raise UsageError(f"artifact {art.qualified_name}: description must be a string to save it.")
    wanted = _aliases(art.aliases, art.qualified_name)
    state = SQLiteStateStore.for_root(art._root)
    try:
        meta = dict(version.metadata)
        meta.update(description=art.description, metadata=json.loads(json.dumps(art.metadata, default=str)))
        state.set_artifact_metadata(version.project, version.name, version.version, meta)
        _follow_links(state, version, meta)
        for alias in sorted(set(version.aliases) - set(wanted)):
            state.remove_alias(version.project, version.name, alias)
        for alias in wanted:
            if alias not in version.aliases:
                state.set_alias(version.project, version.name, alias, version.version)
        fresh = state.artifact_version(version.project, version.name, version.version)
    finally:
        state.close()
    assert fresh is not None
    art._bind(fresh, art._root)
    return art


def _follow_links(state: StateStore, version: ArtifactVersion, meta: dict[str, Any]) -> None:
    """Registry versions linked from ``version`` show its edited description and metadata."""
    from tracker.artifacts._names import REGISTRY_PROJECT

    if version.project == REGISTRY_PROJECT:
        return
    source = {"project": version.project, "name": version.name, "version": version.version}
    for info in state.artifacts(REGISTRY_PROJECT):
        for linked in state.artifact_versions(REGISTRY_PROJECT, info.name):
            if linked.metadata.get("source") == source:
                edited = dict(linked.metadata)
                edited.update(description=meta["description"], metadata=meta["metadata"])
                state.set_artifact_metadata(REGISTRY_PROJECT, info.name, linked.version, edited)


def _aliases(aliases: Iterable[Any], name: str) -> list[str]:
    if isinstance(aliases, str) or not all(isinstance(a, str) for a in aliases):
        raise UsageError(f"artifact {name}: aliases must be a list of strings, got {aliases!r}.")
    return list(dict.fromkeys(aliases))
