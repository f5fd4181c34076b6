"""``tracker sync`` (ship run logs to the team server) and ``tracker login`` (store credentials)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__: list[str] = []


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``sync`` and ``login``."""
    sync = commands.add_parser(
        "sync",
        help="ship local runs to the team server",
        description="Ship run logs to the server at TRACKER_BASE_URL (or `tracker login`) by offset: "
        "only what the server lacks is sent, whole records only, so it is safe to repeat and to run "
        "while a run is still being written.",
        parents=[common],
    )
    sync.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="run directories (…/projects/P/runs/ID)")
    sync.add_argument("--all", action="store_true", help="every run under the data root")
    sync.add_argument("--project", help="with --all: only this project")
    sync.set_defaults(_func=run_sync, _parser=sync)

    login = commands.add_parser(
        "login",
        help="store team-server credentials",
        description="Store the server URL and API key in ~/.config/tracker/credentials (mode 0600).",
        parents=[common],
    )
    login.add_argument("--host", required=True, help="server URL, e.g. http://tracker.example:8080")
    login.add_argument("--key", required=True, help="an API key from `tracker server keys create`")
    login.set_defaults(_func=run_login, _parser=login)


def run_login(args: argparse.Namespace) -> int:
    """``tracker login``."""
    import tracker

    tracker.login(key=args.key, host=args.host)
    print(f"stored credentials for {args.host}")
    return 0


def _runs(args: argparse.Namespace) -> list[tuple[str, str, Path]]:
    from tracker._settings import data_root
    from tracker.errors import UsageError

    if args.all == bool(args.run_dirs):
        raise UsageError("name RUN_DIRs or pass --all (not both).")
    if args.project and not args.all:
        raise UsageError("--project goes with --all.")
    out: list[tuple[str, str, Path]] = []
    if args.all:
        projects = data_root(getattr(args, "root", None)) / "projects"
        pattern = f"{args.project}/runs/*/run.tlog" if args.project else "*/runs/*/run.tlog"
        for log in sorted(projects.glob(pattern)):
            out.append((log.parent.parent.parent.name, log.parent.name, log))
        return out
    for raw in args.run_dirs:
        run_dir = Path(raw).resolve()
        log = run_dir / "run.tlog"
        if not log.is_file() or run_dir.parent.name != "runs":
            raise UsageError(
                f"{raw}: not a run directory (expected …/projects/<project>/runs/<id>/run.tlog)."
            )
        out.append((run_dir.parent.parent.name, run_dir.name, log))
    return out


def run_sync(args: argparse.Namespace) -> int:
    """``tracker sync``."""
    from tracker._settings import server_target
    from tracker._upload import Client, ship
    from tracker.errors import CommError, UsageError

    target = server_target()
    if target is None:
        raise UsageError("no team server: set TRACKER_BASE_URL and TRACKER_API_KEY, or run `tracker login`.")
    runs = _runs(args)
    client = Client(*target)
    failed = 0
    total = 0
    for project, run_id, log in runs:
        try:
            result = ship(client, log, project, run_id)
        except CommError as exc:
            failed += 1
            print(f"{project}/{run_id}: failed: {exc}", file=sys.stderr)
            continue
        total += result.sent
        state = "up to date" if result.sent == 0 else f"sent {result.sent} bytes in {result.batches} batches"
        print(f"{project}/{run_id}: {state} (server offset {result.offset})", flush=True)
    print(f"synced {len(runs) - failed} of {len(runs)} runs, {total} bytes sent", file=sys.stderr)
    return 1 if failed else 0
