"""``tracker artifact put``, ``get`` and ``ls``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.cli._progress import Progress

__all__: list[str] = []


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``artifact`` and its subcommands."""
    art = commands.add_parser("artifact", help="store, fetch and list artifacts", parents=[common])
    art.set_defaults(_parser=art)
    sub = art.add_subparsers(title="artifact commands", metavar="COMMAND")

    put = sub.add_parser(
        "put",
        help="store a file or folder as a new artifact version",
        description="Store a file or folder as a version of an artifact (no run needed).",
        parents=[common],
    )
    put.add_argument("path", metavar="PATH", help="file or folder to store")
    put.add_argument("--name", required=True, help="artifact name")
    put.add_argument("--type", required=True, help="artifact type (dataset, model, ...)")
    put.add_argument("--alias", action="append", default=[], help="alias to set (repeatable)")
    put.add_argument("--project", help="project (default: $TRACKER_PROJECT or uncategorized)")
    put.add_argument("--description", help="description stored with the version")
    put.set_defaults(_func=run_put, _parser=put)

    get = sub.add_parser(
        "get",
        help="download an artifact version",
        description="Download an artifact version; files already present with the same digest are skipped.",
        parents=[common],
    )
    get.add_argument("ref", metavar="NAME:ALIAS", help="[project/]name[:version|alias] (default: latest)")
    # --root is the data root everywhere in this CLI, so the download folder is --dir.
    get.add_argument("--dir", dest="dest", help="download folder (default: ./artifacts/<name>:v<N>)")
    get.set_defaults(_func=run_get, _parser=get)

    ls = sub.add_parser(
        "ls",
        help="list artifacts",
        description="List artifacts with their versions and aliases.",
        parents=[common],
    )
    ls.add_argument("project", nargs="?", help="project name (default: every project)")
    ls.add_argument("--json", action="store_true", help="print JSON lines")
    ls.set_defaults(_func=run_ls, _parser=ls)


def _api(args: argparse.Namespace, *, create: bool = False) -> Any:
    from tracker.cli._runs import api_for

    return api_for(args, create=create)  # local data, even with TRACKER_BASE_URL set


def run_put(args: argparse.Namespace) -> int:
    """Store PATH as the next version of ``--name`` (unchanged content: the same version)."""
    from tracker.artifacts import Artifact
    from tracker.artifacts._names import check_aliases, check_name
    from tracker.artifacts._ops import store_version
    from tracker.cli._progress import progress
    from tracker.errors import UsageError

    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"{args.path}: no such file or folder.")
    api = _api(args, create=True)
    project = check_name(args.project, "project name") if args.project else api.default_project
    art = Artifact(args.name, type=args.type, description=args.description)
    if path.is_dir():
        art.add_dir(path)
    elif path.is_file():
        art.add_file(path)
    else:
        raise UsageError(f"{args.path}: not a file or folder.")
    total = art.size
    with progress(total, f"storing {args.name}", unit="B") as bar:
        version = store_version(
            art, api.root, project, None, check_aliases(args.alias), api.state, bar.update
        )
    print(f"{project}/{version.name}:{version.label} {version.digest} aliases={','.join(version.aliases)}")
    return 0


def run_get(args: argparse.Namespace) -> int:
    """Download a version (file by file, with progress) and print where it is."""
    from tracker.cli._progress import progress

    api = _api(args)
    art = _artifact(api, args.ref)
    entries = art._entries()
    trust = art._trust(None, None)
    # References first, all in one call: each is checked before anything is written.
    refs = sorted(name for name, entry in entries.items() if entry.get("ref") is not None)
    files = sorted(name for name in entries if name not in refs)
    total = sum(int(entry.get("size") or 0) for entry in entries.values())
    with progress(total, f"downloading {art.qualified_name}", unit="B") as bar:
        folder = art._download_entries(args.dest, refs, trust=trust)
        bar.update(sum(int(entries[name].get("size") or 0) for name in refs))
        for name in files:
            folder = _fetch(art, args.dest, name, int(entries[name].get("size") or 0), trust, bar)
    print(folder)
    return 0


def _artifact(api: Any, ref: str) -> Any:
    """``api.artifact(ref)``; when there is none, the error names the close artifact names."""
    from tracker._human import did_you_mean
    from tracker.api._artifacts import _state_exists
    from tracker.errors import StorageError

    try:
        return api.artifact(ref)
    except StorageError as exc:
        path, _, _version = ref.rpartition(":") if ":" in ref else (ref, "", "")
        project, _, name = path.rpartition("/")
        infos = api.state.artifacts(project or api.default_project) if _state_exists(api) else []
        hint = did_you_mean(name, [info.name for info in infos])
        if not hint:
            raise
        raise StorageError(f"{str(exc).rstrip('.')}{hint}", path=str(api.root)) from None


#: Files at least this large are watched while they are copied, so the bar moves within one.
WATCH_BYTES = 16_000_000


def _fetch(art: Any, dest: str | None, name: str, size: int, trust: Any, bar: Progress) -> str:
    """Download one entry; for a large one, count the bytes of its ``.part`` file as they grow."""
    if size < WATCH_BYTES:
        folder: str = art._download_entries(dest, [name], trust=trust)
        bar.update(size)
        return folder
    import glob
    import threading

    target = (Path(dest) if dest is not None else art._default_root()) / name
    done: dict[str, Any] = {}

    def work() -> None:
        try:
            done["folder"] = art._download_entries(dest, [name], trust=trust)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, raised there
            done["error"] = exc

    worker = threading.Thread(target=work, name="tracker-artifact-get", daemon=True)
    worker.start()
    seen = 0
    while worker.is_alive():
        worker.join(0.25)
        for part in glob.glob(glob.escape(str(target.parent / f".{target.name}.")) + "*.part"):
            try:
                grown = Path(part).stat().st_size - seen
            except OSError:  # renamed into place meanwhile
                continue
            if grown > 0:
                bar.update(grown)
                seen += grown
    if "error" in done:
        raise done["error"]
    bar.update(max(0, size - seen))
    return str(done["folder"])


def run_ls(args: argparse.Namespace) -> int:
    """One row per live artifact version (from ``StateStore.artifacts``), with a header and human sizes."""
    from tracker.api._artifacts import _state_exists
    from tracker.artifacts._names import check_name
    from tracker.cli._format import print_table
    from tracker.cli._progress import format_size

    api = _api(args)
    project = check_name(args.project, "project name") if args.project else None
    infos = api.state.artifacts(project) if _state_exists(api) else []
    if project is not None and not infos:
        api.check_project(project)  # a typo: name the projects there are
    table = []
    for info in infos:
        proj, name, type_ = info.project, info.name, info.type
        for v in api.state.artifact_versions(proj, name) if info.latest is not None else []:
            row = {
                "project": proj, "name": name, "type": type_, "version": v.label, "aliases": list(v.aliases),
                "size": v.metadata.get("size"), "files": v.metadata.get("files"), "digest": v.digest,
                "run_id": v.run_id,
            }  # fmt: skip
            if args.json:
                print(json.dumps(row))
                continue
            size = row["size"]
            table.append([
                f"{proj}/{name}:{v.label}", type_, format_size(size) if isinstance(size, int) else "-",
                str(row["files"] if row["files"] is not None else "-"), ",".join(v.aliases), v.run_id or "-",
            ])  # fmt: skip
    if args.json:
        return 0
    if table:
        print_table(["ARTIFACT", "TYPE", "SIZE", "FILES", "ALIASES", "RUN"], table, right=["SIZE", "FILES"])
    else:
        print("(no artifacts)", file=sys.stderr)
    return 0
