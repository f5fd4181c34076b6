"""``tracker artifact put``, ``get`` and ``ls``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

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


def _api(args: argparse.Namespace) -> Any:
    from tracker._settings import data_root
    from tracker.api import Api

    return Api(data_root(getattr(args, "root", None)))  # local data, even with TRACKER_BASE_URL set


def run_put(args: argparse.Namespace) -> int:
    """Store PATH as the next version of ``--name`` (unchanged content: the same version)."""
    from tracker.artifacts import Artifact
    from tracker.artifacts._names import check_aliases, check_name
    from tracker.artifacts._ops import store_version
    from tracker.errors import UsageError

    api = _api(args)
    project = check_name(args.project, "project name") if args.project else api.default_project
    path = Path(args.path)
    art = Artifact(args.name, type=args.type, description=args.description)
    if path.is_dir():
        art.add_dir(path)
    elif path.is_file():
        art.add_file(path)
    else:
        raise UsageError(f"{args.path}: no such file or folder.")
    version = store_version(art, api.root, project, None, check_aliases(args.alias), api.state)
    print(f"{project}/{version.name}:{version.label} {version.digest} aliases={','.join(version.aliases)}")
    return 0


def run_get(args: argparse.Namespace) -> int:
    """Download a version and print where it is."""
    art = _api(args).artifact(args.ref)
    print(art.download(args.dest))
    return 0


def run_ls(args: argparse.Namespace) -> int:
    """Print one line per live artifact version (artifacts from ``StateStore.artifacts``)."""
    from tracker.api._artifacts import _state_exists
    from tracker.artifacts._names import check_name

    api = _api(args)
    project = check_name(args.project, "project name") if args.project else None
    infos = api.state.artifacts(project) if _state_exists(api) else []
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
            else:
                print(f"{proj}/{name}:{v.label}\t{type_}\t{row['size']}\t{','.join(v.aliases)}")
    return 0
