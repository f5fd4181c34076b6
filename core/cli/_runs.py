"""``tracker runs ls`` and ``tracker runs show``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from tracker.api import Api, Run

__all__: list[str] = []


def add_ls(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``runs ls``."""
    ls = commands.add_parser(
        "ls",
        help="list runs",
        description="List the runs of a project (of every project when none is given), newest first.",
        parents=[common],
    )
    ls.add_argument("project", nargs="?", help="project name (default: every project)")
    ls.add_argument(
        "--filter", dest="filters", metavar="JSON", help='W&B-style filter, e.g. \'{"state": "running"}\''
    )
    ls.add_argument(
        "--order", default="-created_at", help="sort field with +/- prefix (default: -created_at)"
    )
    ls.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    ls.set_defaults(_func=run_ls, _parser=ls)


def add_show(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``runs show``."""
    show = commands.add_parser(
        "show",
        help="show one run",
        description="Show a run's state, config and summary.",
        parents=[common],
    )
    show.add_argument("run", metavar="RUN", help="PROJECT/ID (or ENTITY/PROJECT/ID)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(_func=run_show, _parser=show)


def api_for(args: argparse.Namespace, *, create: bool = False) -> Api:
    """The Api over ``--root`` (or the default data root; never a team server).

    Raises:
        StorageError: The data root does not exist (unless ``create``: it is made).
    """
    from tracker._settings import data_root
    from tracker.api import Api

    if create:
        root = data_root(getattr(args, "root", None))
        root.mkdir(parents=True, exist_ok=True)
        return Api(root)
    return Api(existing_root(args))


def existing_root(args: argparse.Namespace) -> Path:
    """The data root of ``--root`` (or the default); reading commands never create it.

    Raises:
        StorageError: It does not exist.
    """
    from tracker._settings import data_root
    from tracker.errors import StorageError

    root = data_root(getattr(args, "root", None))
    if not root.is_dir():
        raise StorageError(
            f"no data root at {root}: nothing was logged there yet (pass --root DIR or set TRACKER_DIR).",
            path=str(root),
        )
    return root


def check_project(api: Api, project: str) -> None:
    """Raise a StorageError naming the known projects (and the close ones) when ``project`` is unknown."""
    api.check_project(project)


def run_ls(args: argparse.Namespace) -> int:
    """``tracker runs ls [PROJECT]``."""
    from tracker.cli._format import print_table
    from tracker.errors import UsageError

    api = api_for(args)
    filters = None
    if args.filters:
        try:
            filters = json.loads(args.filters)
        except ValueError as exc:
            raise UsageError(f"--filter is not valid JSON: {exc}") from None
    if args.project:
        check_project(api, args.project)
        projects = [args.project]
    else:
        projects = [p.name for p in api.projects()]
    runs = [run for project in projects for run in api.runs(project, filters=filters, order=args.order)]
    _check_order_key(runs, args.order)
    if args.json:
        for run in runs:
            print(json.dumps(_brief(run), default=repr))
        return 0
    header = ["ID", "NAME", "STATE", "CREATED", "STEPS"]
    if not args.project:
        header.insert(0, "PROJECT")
    table = []
    for run in runs:
        row = [run.id, run.name, run.state, run.created_at.replace("T", " "), str(run.max_step + 1)]
        if not args.project:
            row.insert(0, run.project)
        table.append(row)
    print_table(header, table, right=["STEPS"])
    if not runs:
        print("(no runs)", file=sys.stderr)
    return 0


def run_show(args: argparse.Namespace) -> int:
    """``tracker runs show PROJECT/ID``."""
    from tracker.cli._format import describe

    run = api_for(args).run(args.run)
    info = _brief(run)
    info.update(config=run.config, summary=run.summary, alerts=run.alerts())
    if args.json:
        print(json.dumps(info, indent=2, default=repr))
        return 0
    for key in ("id", "name", "project", "state", "created_at", "heartbeat_at", "tags", "group", "job_type",
                "notes", "steps", "url"):  # fmt: skip
        value = info[key]
        if value in (None, [], ""):
            continue
        print(f"{key + ':':14}{', '.join(value) if isinstance(value, list) else value}")
    for section in ("config", "summary"):
        print(f"{section}:")
        items = info[section]
        if not items:
            print("  (empty)")
        for key in sorted(items):
            print(f"  {key}: {describe(items[key])}")
    if info["alerts"]:
        print("alerts:")
        for alert in info["alerts"]:
            print(f"  [{alert.get('level')}] {alert.get('title')}: {alert.get('text')}")
    return 0


def _check_order_key(runs: list[Run], order: str) -> None:
    """``--order -summary.val/los``: no run has the key, so nothing is sorted; say so, and what is close."""
    from tracker._human import did_you_mean

    field = order.lstrip("+-")
    for prefix, attr in (("config.", "config"), ("summary.", "summary"), ("summary_metrics.", "summary")):
        if runs and field.startswith(prefix):
            keys = {key for run in runs for key in getattr(run, attr)}
            if field[len(prefix) :] not in keys:
                hint = did_you_mean(field[len(prefix) :], sorted(keys), prefix=prefix) or "."
                print(
                    f"tracker runs ls: note: no run has {field!r}, so --order sorts nothing{hint}",
                    file=sys.stderr,
                )
            return


def _brief(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "project": run.project,
        "state": run.state,
        "created_at": run.created_at,
        "heartbeat_at": run.heartbeat_at,
        "tags": run.tags,
        "group": run.group,
        "job_type": run.job_type,
        "notes": run.notes,
        "steps": run.max_step + 1,
        "url": run.url,
    }
