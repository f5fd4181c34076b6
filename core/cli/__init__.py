"""The ``tracker`` command line: a thin ``main(argv) -> int`` over argparse (G19).

Exit codes: 0 success, 1 a tracker error (the message says what to do), 2 a usage
error, 130 interrupted. Only a mistake argparse finds (an unknown option, a missing
argument) prints the command's usage; every other error is one line, ``tracker: error:
...``, with a "did you mean" where one exists. Tracebacks are printed only with
``--debug``. Each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["main"]


class _ParseError(Exception):
    """argparse found a usage error; carries the (sub)parser that found it."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ParseError(self, message)


def _common() -> _Parser:
    # Options valid both before and after the subcommand (`tracker --root X runs ls`
    # and `tracker runs ls --root X`); SUPPRESS keeps a later default from erasing them.
    common = _Parser(add_help=False)
    common.add_argument(
        "--root", default=argparse.SUPPRESS, help="data root (default: $TRACKER_DIR or ~/.tracker)"
    )
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="print tracebacks on errors"
    )
    return common


def _build() -> _Parser:
    from tracker._version import __version__
    from tracker.cli import _artifact, _demo, _export, _gc, _import, _runs, _server, _sweep, _sync, _ui

    common = _common()
    parser = _Parser(
        prog="tracker",
        description="tracker: a local-first ML experiment tracker with W&B's Python API.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"tracker {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    runs = commands.add_parser("runs", help="list and inspect runs", parents=[common])
    runs.set_defaults(_parser=runs)
    runs_cmds = runs.add_subparsers(title="runs commands", metavar="COMMAND")
    _runs.add_ls(runs_cmds, common)
    _runs.add_show(runs_cmds, common)

    _export.add(commands, common)
    _sweep.add(commands, common)
    _artifact.add(commands, common)
    _ui.add(commands, common)
    _demo.add(commands, common)
    _gc.add(commands, common)
    _server.add(commands, common)
    _sync.add(commands, common)
    _import.add(commands, common)
    parser.set_defaults(_parser=parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``tracker`` command line.

    Args:
        argv: Arguments without the program name (default ``sys.argv[1:]``).

    Returns:
        The exit code.
    """
    from tracker.errors import Error, UsageError

    parser = _build()
    try:
        args, extra = parser.parse_known_args(_dash_values(sys.argv[1:] if argv is None else list(argv)))
    except _ParseError as exc:
        return _usage(exc.parser, _suggest_choice(exc.message))
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else 0
    sub: argparse.ArgumentParser = getattr(args, "_parser", parser)
    if extra:  # reported against the innermost command, with its usage
        return _usage(sub, f"unrecognized arguments: {' '.join(extra)}")
    func: Callable[[Any], int] | None = getattr(args, "_func", None)
    if func is None:
        sub.print_help(sys.stderr)  # `tracker`, `tracker runs`: the list of commands
        print(f"\n{sub.prog}: error: a command is required", file=sys.stderr)
        return 2
    debug = bool(getattr(args, "debug", False))
    try:
        return func(args)
    except UsageError as exc:  # a bad value found at run time: one line, no usage dump
        if debug:
            _traceback()
        print(f"{sub.prog}: error: {exc}", file=sys.stderr)
        return 2
    except Error as exc:
        if debug:
            _traceback()
        print(f"tracker: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tracker: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `tracker runs ls | head`: the reader left; that is not an error.
        _silence_stdout()
        return 0
    except Exception as exc:  # noqa: BLE001 - the CLI boundary: a message, the traceback only with --debug
        if debug:
            _traceback()
        print(f"tracker: internal error: {exc!r} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1


#: Options whose value may start with "-" (``--order -summary.val/loss``); argparse
#: would read such a value as an option and say "expected one argument".
_DASH_VALUE_OPTIONS = frozenset({"--order"})


def _dash_values(argv: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _DASH_VALUE_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def _suggest_choice(message: str) -> str:
    """argparse's "invalid choice: 'rnus' (choose from ...)" with "did you mean 'runs'?"."""
    import re

    from tracker._human import did_you_mean

    found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if found is None:
        return message
    # Quoted up to Python 3.13 ('runs', 'export'), bare from 3.14 (runs, export).
    choices = re.findall(r"'([^']*)'", found.group(2)) or [c.strip() for c in found.group(2).split(",")]
    hint = did_you_mean(found.group(1), choices)
    return message[: found.start(2) - len(" (choose from ")] + hint + f" (choose from {', '.join(choices)})"


def _usage(parser: argparse.ArgumentParser, message: str) -> int:
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    print(f"(see `{parser.prog} --help`)", file=sys.stderr)
    return 2


def _traceback() -> None:
    import traceback

    traceback.print_exc(file=sys.stderr)


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        return
