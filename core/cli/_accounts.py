"""``tracker server users|teams|keys|projects``: accounts and project access of a team server.

Passwords are read from a prompt (asked twice) or, with ``--password-stdin``, from the
first line of standard input; never from the command line, where ``ps`` would show them.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

__all__: list[str] = []

_ROLES = ["viewer", "editor", "admin"]


def add(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register ``users``, ``teams``, ``keys`` and ``projects`` under ``tracker server``."""

    def group(name: str, text: str) -> Any:
        parser = sub.add_parser(name, help=text, parents=[common])
        parser.set_defaults(_parser=parser, _func=None)
        return parser.add_subparsers(title=f"{name} commands", metavar="COMMAND")

    def command(cmds: Any, name: str, text: str, func: Any) -> Any:
        parser = cmds.add_parser(name, help=text, parents=[common])
        parser.set_defaults(_func=func, _parser=parser)
        parser.add_argument(
            "--db",
            metavar="postgresql://...",
            help="the server's PostgreSQL database (default: SQLite in the root)",
        )
        return parser

    users = group("users", "manage users")
    create = command(users, "create", "create a user (asks for the password)", users_create)
    create.add_argument("name", help="user name")
    create.add_argument("--admin", action="store_true", help="a server admin: admin of every project")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    command(users, "ls", "list users", users_ls)
    disable = command(
        users, "disable", "disable a user (their keys and sessions stop working)", users_disable
    )
    disable.add_argument("name", help="user name")
    default = command(users, "default-team", "put the projects a user's runs create in a team", users_team)
    default.add_argument("name", help="user name")
    default.add_argument("team", nargs="?", help="team name (omit: back to the user)")

    teams = group("teams", "manage teams")
    command(teams, "create", "create a team", teams_create).add_argument("name", help="team name")
    add_member = command(teams, "add-member", "add a user to a team (or change their role)", teams_add)
    add_member.add_argument("team", help="team name")
    add_member.add_argument("user", help="user name")
    add_member.add_argument("--role", choices=_ROLES, default="editor", help="default editor")
    command(teams, "ls", "list teams and their members", teams_ls)

    keys = group("keys", "manage API keys")
    kc = command(keys, "create", "create a key and print it (once)", keys_create)
    kc.add_argument("--user", required=True, help="the user the key acts as")
    kc.add_argument("--name", required=True, help="what the key is for")
    kc.add_argument(
        "--role", choices=_ROLES, default="admin", help="cap on the key's rights (default: the user's own)"
    )
    command(keys, "ls", "list keys (never their secrets)", keys_ls).add_argument(
        "--user", help="only this user's"
    )
    revoke = command(keys, "revoke", "revoke a key by id", keys_revoke)
    revoke.add_argument("key_id", help="the id shown by `keys ls` (the part after trk_)")

    projects = group("projects", "project owners and visibility")
    vis = command(projects, "set-visibility", "who besides the owner may read a project", set_visibility)
    vis.add_argument("project")
    vis.add_argument("visibility", choices=["private", "team", "public"])
    owner = command(projects, "set-owner", "give a project to a user or a team", set_owner)
    owner.add_argument("project")
    who = owner.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="owner user")
    who.add_argument("--team", help="owner team")
    command(projects, "ls", "list project owners and visibility", projects_ls)


def _store(args: argparse.Namespace) -> Any:
    from tracker._settings import data_root
    from tracker.server._auth import AuthStore

    root = data_root(getattr(args, "root", None))
    return AuthStore.postgres(root, args.db) if args.db else AuthStore(root)


def _password(args: argparse.Namespace) -> str:
    from tracker.errors import UsageError

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the passwords differ.")
    return first


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t is not None else "-"


def users_create(args: argparse.Namespace) -> int:
    """``tracker server users create``."""
    info = _store(args).create_user(args.name, _password(args), site_admin=args.admin)
    print(f"created {'server admin' if info.site_admin else 'user'} {info.name!r}", file=sys.stderr)
    return 0


def users_ls(args: argparse.Namespace) -> int:
    """``tracker server users ls``."""
    rows = []
    for u in _store(args).users():
        state = "disabled" if u.disabled is not None else "active"
        kind = "admin" if u.site_admin else "user"
        rows.append([u.name, kind, state, _when(u.created), u.default_team or "-"])
    _table(["USER", "KIND", "STATE", "CREATED", "DEFAULT TEAM"], rows, "users")
    return 0


def users_disable(args: argparse.Namespace) -> int:
    """``tracker server users disable``."""
    from tracker.errors import UsageError

    if not _store(args).disable_user(args.name):
        raise UsageError(f"no enabled user {args.name!r}; see `tracker server users ls`.")
    print(f"disabled user {args.name!r}")
    return 0


def users_team(args: argparse.Namespace) -> int:
    """``tracker server users default-team``."""
    _store(args).set_default_team(args.name, args.team)
    return 0


def teams_create(args: argparse.Namespace) -> int:
    """``tracker server teams create``."""
    _store(args).create_team(args.name)
    print(f"created team {args.name!r}", file=sys.stderr)
    return 0


def teams_add(args: argparse.Namespace) -> int:
    """``tracker server teams add-member``."""
    _store(args).add_member(args.team, args.user, args.role)
    print(f"{args.user!r} is {args.role} in {args.team!r}", file=sys.stderr)
    return 0


def teams_ls(args: argparse.Namespace) -> int:
    """``tracker server teams ls``."""
    rows = [
        [team, ", ".join(f"{m}:{r}" for m, r in members.items()) or "-"]
        for team, members in _store(args).teams().items()
    ]
    _table(["TEAM", "MEMBERS (USER:ROLE)"], rows, "teams")
    return 0


def keys_create(args: argparse.Namespace) -> int:
    """``tracker server keys create``."""
    key, info = _store(args).create_key(args.user, args.name, args.role)
    print(
        f"created key {info.key_id} ({info.role} cap) of {info.user!r} for {info.name!r}; "
        "it is shown only once:",
        file=sys.stderr,
    )
    print(key, flush=True)
    return 0


def keys_ls(args: argparse.Namespace) -> int:
    """``tracker server keys ls``."""
    rows = []
    for info in _store(args).keys(args.user):
        state = "revoked" if info.revoked is not None else "active"
        rows.append([info.key_id, info.user, info.role, state, _when(info.created), info.name])
    _table(["KEY", "USER", "ROLE", "STATE", "CREATED", "NAME"], rows, "keys")
    return 0


def keys_revoke(args: argparse.Namespace) -> int:
    """``tracker server keys revoke``."""
    from tracker.errors import UsageError

    if not _store(args).revoke_key(args.key_id):
        raise UsageError(f"no active key {args.key_id!r}; see `tracker server keys ls`.")
    print(f"revoked key {args.key_id}")
    return 0


def set_visibility(args: argparse.Namespace) -> int:
    """``tracker server projects set-visibility``."""
    _store(args).set_visibility(args.project, args.visibility)
    return 0


def set_owner(args: argparse.Namespace) -> int:
    """``tracker server projects set-owner``."""
    _store(args).set_owner(args.project, user=args.user, team=args.team)
    return 0


def projects_ls(args: argparse.Namespace) -> int:
    """``tracker server projects ls``."""
    rows = [[p.name, f"{p.owner_kind}:{p.owner}", p.visibility] for p in _store(args).projects()]
    _table(["PROJECT", "OWNER", "VISIBILITY"], rows, "projects")
    return 0


def _table(header: list[str], rows: list[list[str]], what: str) -> None:
    from tracker.cli._format import print_table

    if rows:
        print_table(header, rows)
    else:
        print(f"(no {what})", file=sys.stderr)
