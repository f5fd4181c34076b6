"""The ``tracker`` command line: a thin ``main(argv) -> int`` over argparse (G19).

Exit codes: 0 success, 1 a tracker error (the message says what to do), 2 a usage
error (the subcommand's help is printed), 130 interrupted. Tracebacks are printed only
with ``--debug``. Each command imports what it needs when it runs.
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
    from tracker.cli import _artifact, _demo, _export, _gc, _runs, _server, _sweep, _sync, _ui

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
        args, extra = parser.parse_known_args(argv)
    except _ParseError as exc:
        return _usage(exc.parser, exc.message)
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else 0
    sub: argparse.ArgumentParser = getattr(args, "_parser", parser)
    if extra:  # reported against the innermost command, with its help
        return _usage(sub, f"unrecognized arguments: {' '.join(extra)}")
    func: Callable[[Any], int] | None = getattr(args, "_func", None)
    if func is None:
        return _usage(sub, "a command is required")
    debug = bool(getattr(args, "debug", False))
    try:
        return func(args)
    except UsageError as exc:
        if debug:
            _traceback()
        return _usage(sub, str(exc))
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


def _usage(parser: argparse.ArgumentParser, message: str) -> int:
    parser.print_help(sys.stderr)
    print(f"\n{parser.prog}: error: {message}", file=sys.stderr)
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
