"""``tracker gc``: delete artifact blobs that no live version's manifest references.

A dry run by default (it prints what would be deleted and the bytes freed); ``--yes``
deletes. The safety rule against concurrent ``log_artifact`` calls is in
:mod:`tracker.artifacts._gc`: only unreferenced blobs older than the gc start minus
``--grace`` seconds are deleted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__: list[str] = []


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``gc``."""
    from tracker.artifacts._gc import DEFAULT_GRACE

    gc = commands.add_parser(
        "gc",
        help="delete artifact blobs no version references (dry run unless --yes)",
        description=(
            "Delete blobs of the artifact store that no manifest of a live artifact version "
            "references (deleted versions protect nothing). Prints what would be deleted unless "
            "--yes is given. Blobs modified less than --grace seconds before gc started are kept, "
            "so artifacts being logged meanwhile are safe."
        ),
        parents=[common],
    )
    gc.add_argument("--yes", action="store_true", help="delete (default: a dry run that only reports)")
    gc.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help=f"keep unreferenced blobs younger than this (default: {DEFAULT_GRACE:g})",
    )
    gc.add_argument("--quiet", action="store_true", help="print only the summary, not each blob")
    gc.set_defaults(_func=run_gc, _parser=gc)


def run_gc(args: argparse.Namespace) -> int:
    """Collect unreferenced blobs; print each one and a summary."""
    from tracker._settings import data_root
    from tracker.api import Api
    from tracker.api._artifacts import _state_exists
    from tracker.artifacts._gc import collect
    from tracker.artifacts._store import BlobStore
    from tracker.cli._progress import format_size
    from tracker.errors import StorageError, UsageError

    if not args.grace >= 0:
        raise UsageError(f"--grace {args.grace:g}: use a number of seconds >= 0.")
    root = data_root(getattr(args, "root", None))
    if not root.is_dir():
        print(f"nothing to collect: no data root at {root}.")
        return 0
    api = Api(root)  # local data, even with TRACKER_BASE_URL set
    if not _state_exists(api):
        blobs = BlobStore(api.root).blobs
        if blobs.is_dir() and any(blobs.iterdir()):
            # Without the state store every blob looks unreferenced: never guess.
            raise StorageError(
                f"no state store for {api.root}, but it holds artifact blobs; refusing to collect "
                "(is TRACKER_INDEX_DIR set as it was when they were stored?)."
            )
        print("nothing to collect: no artifacts stored.")
        return 0

    tty = sys.stderr.isatty()
    shown = False

    def progress(line: str) -> None:  # collect() calls this at most once a second
        nonlocal shown
        if tty:  # one line redrawn in place, as the other commands' bars
            sys.stderr.write(f"\r\x1b[K{line}")
            sys.stderr.flush()
            shown = True
        else:
            print(line, file=sys.stderr, flush=True)

    try:
        result = collect(api.root, api.state, delete=args.yes, grace=args.grace, progress=progress)
    finally:
        if shown:
            sys.stderr.write("\n")
    verb = "would delete" if result.dry_run else "deleted"
    if not args.quiet:
        for digest, size in result.removed:
            print(f"{verb} {digest}\t{size}")
    kept = f"kept {result.referenced} referenced, {result.recent} unreferenced newer than the grace period"
    count = len(result.removed)
    if result.dry_run:
        print(
            f"dry run: {count} unreferenced blob(s), {result.freed} bytes ({format_size(result.freed)}) "
            f"would be freed; {kept}."
        )
        if count:
            print("rerun with --yes to delete them.")
    else:
        freed = f"{result.freed} bytes ({format_size(result.freed)})"
        print(f"deleted {count} unreferenced blob(s), freed {freed}; {kept}.")
    return 0
