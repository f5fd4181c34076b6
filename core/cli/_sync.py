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
        description="Ship runs to the server at TRACKER_BASE_URL (or `tracker login`): the run log by "
        "offset (whole records only), media, saved files and logged artifacts by content hash. Only what "
        "the server lacks is sent, so it is safe to repeat and to run while a run is still being written.",
        parents=[common],
    )
    sync.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="run directories (…/projects/P/runs/ID)")
    sync.add_argument("--all", action="store_true", help="every run under the data root")
    sync.add_argument("--project", help="with --all: only this project")
    sync.add_argument(
        "--watch",
        action="store_true",
        help="keep shipping until the runs finish (Ctrl-C stops); with --all, runs started meanwhile too",
    )
    sync.add_argument(
        "--interval", type=float, default=2.0, help="with --watch: seconds between rounds (0.1-60, default 2)"
    )
    sync.set_defaults(_func=run_sync, _parser=sync)

    login = commands.add_parser(
        "login",
        help="store team-server credentials",
        description="Store the server URL and API key in ~/.config/tracker/credentials (mode 0600).",
        parents=[common],
    )
    login.add_argument("url", nargs="?", metavar="URL", help="server URL, e.g. http://tracker.example:8080")
    login.add_argument("--host", help="the server URL, as an option (same as URL)")
    login.add_argument(
        "--key",
        help="an API key from `tracker server keys create` (omit: asked for, or read from stdin, "
        "so that it stays out of the shell history and the process list)",
    )
    login.set_defaults(_func=run_login, _parser=login)


def run_login(args: argparse.Namespace) -> int:
    """``tracker login``."""
    import tracker
    from tracker.errors import UsageError

    if args.url and args.host and args.url != args.host:
        raise UsageError(f"two server URLs: {args.url} and --host {args.host}; give one.")
    host = args.url or args.host
    if not host:
        raise UsageError(
            "which server? `tracker login http://tracker.example:8080` (the URL `tracker server` prints)."
        )
    key = args.key
    if key is None:
        if sys.stdin.isatty():
            import getpass

            key = getpass.getpass("API key: ")
        else:
            key = sys.stdin.readline()
        key = key.strip()
        if not key:
            raise UsageError("no API key given: paste it at the prompt or pipe it to stdin.")
    tracker.login(key=key, host=host)
    print(f"stored credentials for {host}")
    return 0


def _runs(args: argparse.Namespace) -> list[tuple[str, str, Path]]:
    from tracker._naming import LOG_NAME, RUNS_DIR, projects_dir
    from tracker._settings import data_root
    from tracker.errors import UsageError

    if args.all == bool(args.run_dirs):
        raise UsageError("name RUN_DIRs or pass --all (not both).")
    if args.project and not args.all:
        raise UsageError("--project goes with --all.")
    out: list[tuple[str, str, Path]] = []
    if args.all:
        projects = projects_dir(data_root(getattr(args, "root", None)))
        pattern = f"{args.project or '*'}/{RUNS_DIR}/*/{LOG_NAME}"
        for log in sorted(projects.glob(pattern)):
            out.append((log.parent.parent.parent.name, log.parent.name, log))
        return out
    for raw in args.run_dirs:
        run_dir = Path(raw).resolve()
        log = run_dir / LOG_NAME
        if not log.is_file() or run_dir.parent.name != RUNS_DIR:
            raise UsageError(
                f"{raw}: not a run directory (expected …/projects/<project>/runs/<id>/run.tlog)."
            )
        out.append((run_dir.parent.parent.name, run_dir.name, log))
    return out


def run_sync(args: argparse.Namespace) -> int:
    """``tracker sync``."""
    from tracker._settings import server_target
    from tracker._upload import Client
    from tracker.cli._progress import format_size, progress
    from tracker.cli._watch import Shipping
    from tracker.errors import CommError, StorageError, UsageError

    target = server_target()
    if target is None:
        raise UsageError("no team server: set TRACKER_BASE_URL and TRACKER_API_KEY, or run `tracker login`.")
    if args.watch:
        if not 0.1 <= args.interval <= 60:
            raise UsageError(f"--interval {args.interval}: use 0.1 to 60 seconds.")
        from tracker.cli._watch import watch

        return watch(Client(*target), lambda: _runs(args), args.interval)
    if args.interval != 2.0:
        raise UsageError("--interval goes with --watch.")
    runs = _runs(args)
    client = Client(*target)
    failed = 0
    total = 0
    with progress(len(runs), "syncing", unit="runs") as bar:
        for project, run_id, log in runs:
            job = Shipping(client, project, run_id, log)
            try:
                sent = job.round()
            except (CommError, StorageError) as exc:
                failed += 1
                print(f"{project}/{run_id}: failed: {exc}", file=sys.stderr)
                bar.update(1)
                continue
            total += job.log_bytes + job.blob_bytes
            state = "up to date" if not sent else f"sent {job.describe()}"
            print(f"{project}/{run_id}: {state} (server offset {job.offset})", flush=True)
            for problem in job.problems:
                print(f"{project}/{run_id}: {problem}", file=sys.stderr)
            bar.update(1)
    print(f"synced {len(runs) - failed} of {len(runs)} runs, {format_size(total)} sent", file=sys.stderr)
    return 1 if failed else 0
