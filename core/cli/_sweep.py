"""``tracker sweep CONFIG.yaml`` / ``--stop|--pause|--resume|--cancel ID`` and ``tracker agent ID``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

__all__: list[str] = []

_STATES = {"stop": "finished", "pause": "paused", "resume": "running", "cancel": "cancelled"}


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``sweep`` and ``agent``."""
    sweep = commands.add_parser(
        "sweep",
        help="create a sweep from a W&B sweep config, or change a sweep's state",
        description="Validate a W&B sweep config (YAML) and create the sweep; print its id and the "
        "resolved range of every parameter. With --stop/--pause/--resume/--cancel, change a sweep's state.",
        parents=[common],
    )
    sweep.add_argument("target", metavar="CONFIG_YAML_OR_SWEEP_ID")
    sweep.add_argument("-p", "--project", help="project of the sweep's runs")
    sweep.add_argument("-e", "--entity", help="accepted for W&B compatibility")
    sweep.add_argument("--dry-run", action="store_true", help="validate and show the parameters only")
    sweep.add_argument(
        "--allow-exponent-bounds", action="store_true", help="accept log_uniform bounds that look like values"
    )
    group = sweep.add_mutually_exclusive_group()
    for flag in _STATES:
        group.add_argument(f"--{flag}", action="store_true", help=f"{flag} the sweep SWEEP_ID")
    sweep.set_defaults(_func=run_sweep, _parser=sweep)

    agent = commands.add_parser(
        "agent",
        help="run a sweep's program for each suggested run",
        description="Run the sweep's program/command (W&B macros) as a subprocess per run until the "
        "sweep has no more work or --count runs were taken.",
        parents=[common],
    )
    agent.add_argument("sweep_id", metavar="SWEEP_ID")
    agent.add_argument("--count", type=int, help="most runs this agent takes (failed runs count)")
    agent.add_argument("-p", "--project", help="accepted for W&B compatibility")
    agent.add_argument("-e", "--entity", help="accepted for W&B compatibility")
    agent.set_defaults(_func=run_agent, _parser=agent)


def _root(args: argparse.Namespace) -> Any:
    return getattr(args, "root", None)


def run_sweep(args: argparse.Namespace) -> int:
    """``tracker sweep``."""
    from pathlib import Path

    from tracker.storage._sqlite_state import SQLiteStateStore
    from tracker.sweeps import parse_config, sweep

    state = next((flag for flag in _STATES if getattr(args, flag)), None)
    if state is not None and _root(args) is None:
        from tracker.sweeps._remote import server, set_sweep_state

        remote = server()
        if remote is not None:  # $TRACKER_BASE_URL: the sweep lives on the team server
            sweep_id = args.target.strip("/").split("/")[-1]
            print(f"sweep {sweep_id}: {set_sweep_state(remote, sweep_id, _STATES[state])}")
            return 0
    if state is not None:
        from tracker.cli._runs import existing_root
        from tracker.errors import UsageError

        store = SQLiteStateStore.for_root(existing_root(args))
        try:
            sweep_id = args.target.strip("/").split("/")[-1]
            if store.sweep(sweep_id) is None:
                raise UsageError(f"no sweep {sweep_id!r}.")
            store.set_sweep_state(sweep_id, _STATES[state])
        finally:
            store.close()
        print(f"sweep {sweep_id}: {_STATES[state]}")
        return 0
    path = Path(args.target)
    raw = _load(path)
    config = parse_config(raw, allow_exponent_bounds=args.allow_exponent_bounds)
    for line in config.describe():
        print(f"  {line}")
    if args.dry_run:
        return 0
    sweep_id = sweep(
        raw,
        entity=args.entity,
        project=args.project,
        allow_exponent_bounds=args.allow_exponent_bounds,
        root=_root(args),
    )
    print(f"Created sweep with ID: {sweep_id}")
    print(f"Run sweep agent with: tracker agent {sweep_id}")
    return 0


def _load(path: Path) -> Any:
    """The sweep config of ``path``; a syntax error is reported as ``FILE:LINE:COLUMN: problem``."""
    import yaml

    from tracker.errors import UsageError
    from tracker.sweeps import load_yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = (
            ""
            if path.suffix in (".yaml", ".yml", ".json")
            else " (for a sweep id, add --stop, --pause, --resume or --cancel)"
        )
        raise UsageError(f"{path}: no such file{hint}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    try:
        return load_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise UsageError(f"{where}: invalid YAML: {what}.") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: invalid YAML: {exc}") from None


def run_agent(args: argparse.Namespace) -> int:
    """``tracker agent``."""
    from tracker.sweeps import agent

    taken = agent(args.sweep_id, count=args.count, root=_root(args))
    print(f"agent finished after {taken} run(s)", file=sys.stderr)
    return 0
