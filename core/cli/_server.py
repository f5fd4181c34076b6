"""``tracker server``: the dashboard plus run-log ingest and API keys (a team server, phase 1).

``tracker server [--root DIR] [--host H] [--port N]`` serves the data root; every
``/api/`` request needs an API key. ``tracker server keys create|ls|revoke`` manages keys.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__: list[str] = []


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``server`` and ``server keys``."""
    server = commands.add_parser(
        "server",
        help="run the team server (dashboard, run-log ingest, API keys)",
        description="Serve the data root to a team: the dashboard plus HTTP ingest of run logs "
        "(`tracker sync`, online mode). Every API call needs a key from `tracker server keys create`.",
        parents=[common],
    )
    server.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    server.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    server.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name clients use to reach the server (repeatable; loopback names are always allowed)",
    )
    server.add_argument(
        "--max-request-bytes",
        type=int,
        default=64 * 1024 * 1024,
        help="largest request body (64 MiB)",
    )
    server.set_defaults(_func=run_server, _parser=server)
    sub = server.add_subparsers(title="server commands", metavar="COMMAND")
    keys = sub.add_parser("keys", help="manage API keys", parents=[common])
    keys.set_defaults(_parser=keys, _func=None)
    keys_cmds = keys.add_subparsers(title="keys commands", metavar="COMMAND")
    create = keys_cmds.add_parser("create", help="create a key and print it (once)", parents=[common])
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument(
        "--role", choices=["admin", "editor", "viewer"], default="editor", help="default editor"
    )
    create.set_defaults(_func=keys_create, _parser=create)
    ls = keys_cmds.add_parser("ls", help="list keys (never their secrets)", parents=[common])
    ls.set_defaults(_func=keys_ls, _parser=ls)
    revoke = keys_cmds.add_parser("revoke", help="revoke a key by id", parents=[common])
    revoke.add_argument("key_id", help="the id shown by `keys ls` (the part after trk_)")
    revoke.set_defaults(_func=keys_revoke, _parser=revoke)


def _store(args: argparse.Namespace) -> Any:
    from tracker._settings import data_root
    from tracker.server._ingest import KeyStore

    return KeyStore(data_root(getattr(args, "root", None)))


def keys_create(args: argparse.Namespace) -> int:
    """``tracker server keys create``."""
    key, info = _store(args).create(args.name, args.role)
    print(f"created {info.role} key {info.key_id} for {info.name!r}; it is shown only once:", file=sys.stderr)
    print(key, flush=True)
    return 0


def keys_ls(args: argparse.Namespace) -> int:
    """``tracker server keys ls``."""
    import time

    for info in _store(args).list():
        state = "revoked" if info.revoked is not None else "active"
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.created))
        print(f"{info.key_id}\t{info.role}\t{state}\t{created}\t{info.name}")
    return 0


def keys_revoke(args: argparse.Namespace) -> int:
    """``tracker server keys revoke``."""
    from tracker.errors import UsageError

    if not _store(args).revoke(args.key_id):
        raise UsageError(f"no active key {args.key_id!r}; see `tracker server keys ls`.")
    print(f"revoked key {args.key_id}")
    return 0


def run_server(args: argparse.Namespace) -> int:
    """``tracker server``."""
    import uvicorn

    from tracker._settings import data_root
    from tracker.cli._ui import listen, url_for
    from tracker.errors import UsageError
    from tracker.server import create_app
    from tracker.server._ingest import install

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: use 0-65535.")
    if args.max_request_bytes < 1024:
        raise UsageError("--max-request-bytes: use at least 1024.")
    root = data_root(getattr(args, "root", None))
    hosts = ["127.0.0.1", "localhost", "::1", "[::1]"]
    for name in [args.host, *args.allowed_host]:
        if name not in hosts and name not in ("0.0.0.0", "::"):
            hosts.append(name.lower())
    sock = listen(args.host, args.port)
    port = sock.getsockname()[1]
    app = create_app(root, token=None, allowed_hosts=hosts)
    install(app, root, max_body=args.max_request_bytes)
    print(f"tracker server: serving {root}", file=sys.stderr)
    print(url_for(args.host, port, None), flush=True)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
