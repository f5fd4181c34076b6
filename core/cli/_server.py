"""``tracker server``: the dashboard plus run-log ingest and API keys (a team server, phase 1).

``tracker server [--root DIR] [--host H] [--port N]`` serves the data root; every
request needs an API key or a login (see :mod:`tracker.server._gate`).
``tracker server users|teams|keys|projects ...`` manage accounts (:mod:`tracker.cli._accounts`).
``--db postgresql://...`` keeps the index and state store in PostgreSQL (several server
processes may share it); ``tracker server migrate --db URL`` applies its schema migrations.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tracker.cli import _accounts

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
    server.add_argument(
        "--store",
        metavar="PATH|s3://BUCKET/PREFIX",
        help="object store for media, saved files and artifact blobs (default <root>/objects)",
    )
    server.add_argument(
        "--max-blob-bytes", type=int, default=16 * 1024**3, help="largest uploaded blob (16 GiB)"
    )
    server.add_argument(
        "--allow-private-references",
        action="store_true",
        help="accept artifact references to loopback, link-local and private addresses (refused by default)",
    )
    server.add_argument(
        "--db",
        metavar="postgresql://...",
        help="PostgreSQL database for the index and state store (default: SQLite under the data root)",
    )
    server.add_argument(
        "--migrate", action="store_true", help="with --db: apply pending schema migrations before serving"
    )
    server.set_defaults(_func=run_server, _parser=server)
    sub = server.add_subparsers(title="server commands", metavar="COMMAND")
    migrate = sub.add_parser(
        "migrate",
        help="apply pending PostgreSQL schema migrations",
        description="Apply the schema migrations the database lacks, in order (safe to repeat and to "
        "run from several hosts at once).",
        parents=[common],
    )
    migrate.add_argument("--db", required=True, metavar="postgresql://...", help="the database to migrate")
    migrate.set_defaults(_func=run_migrate, _parser=migrate)
    _accounts.add(sub, common)


def run_server(args: argparse.Namespace) -> int:
    """``tracker server``."""
    import uvicorn

    from tracker._settings import data_root
    from tracker.cli._ui import listen, url_for
    from tracker.errors import UsageError
    from tracker.server import create_app
    from tracker.server._auth import AuthStore
    from tracker.server._ingest import install
    from tracker.server._remote import install_remote

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: use 0-65535.")
    if args.max_request_bytes < 1024:
        raise UsageError("--max-request-bytes: use at least 1024.")
    root = data_root(getattr(args, "root", None))
    index, state = _open_db(args.db, root, migrate=args.migrate)
    hosts = ["127.0.0.1", "localhost", "::1", "[::1]"]
    for name in [args.host, *args.allowed_host]:
        if name not in hosts and name not in ("0.0.0.0", "::"):
            hosts.append(name.lower())
    sock = listen(args.host, args.port)
    port = sock.getsockname()[1]
    app = create_app(root, token=None, allowed_hosts=hosts, index=index, state=state)
    auth = AuthStore.postgres(root, args.db, pooled=True) if args.db else None  # None: SQLite in root
    from tracker.server._offload import Offload

    offload = Offload(root, args.db)  # big uploads: checked and indexed off this process's GIL
    offload.start()
    install(app, root, max_body=args.max_request_bytes, store=auth, offload=offload)
    install_remote(app, root)
    from tracker.server._blobs import install_blobs

    store = install_blobs(
        app, args.store or root / "objects", root, state=state, max_body=args.max_request_bytes,
        max_blob=args.max_blob_bytes, allow_private_refs=args.allow_private_references,
    )  # fmt: skip
    print(f"tracker server: objects in {store.url}", file=sys.stderr)
    print(f"tracker server: serving {root}", file=sys.stderr)
    print(url_for(args.host, port, None), flush=True)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        offload.close()
    return 0


def _open_db(url: str | None, root: Any, *, migrate: bool) -> tuple[Any, Any]:
    """The PostgreSQL index and state store of ``--db`` (None, None: SQLite, the default)."""
    from tracker.errors import UsageError

    if url is None:
        if migrate:
            raise UsageError("--migrate needs --db postgresql://...")
        return None, None
    from tracker.storage._pg import migrate as apply_migrations
    from tracker.storage._pg import redact
    from tracker.storage._pg_index import PostgresIndex
    from tracker.storage._pg_state import PostgresStateStore

    if migrate:
        applied = apply_migrations(url)
        if applied:
            print(f"tracker server: applied migrations {', '.join(map(str, applied))}", file=sys.stderr)
    index = PostgresIndex(root, url)
    # Connect now: an unreachable database or a schema behind this tracker ("run
    # `tracker server migrate`") stops the server before it listens.
    index.projects()
    print(f"tracker server: index and state in {redact(url)}", file=sys.stderr)
    return index, PostgresStateStore(url)


def run_migrate(args: argparse.Namespace) -> int:
    """``tracker server migrate --db URL``."""
    from tracker.cli._progress import progress
    from tracker.storage._pg import migrate, redact
    from tracker.storage._pg_migrations import LATEST

    with progress(None, f"migrating {redact(args.db)}", unit="migrations") as bar:
        applied = migrate(args.db, lambda _version: bar.update(1))
    if applied:
        done = ", ".join(map(str, applied))
        print(f"{redact(args.db)}: applied migrations {done} (schema version {LATEST})")
    else:
        print(f"{redact(args.db)}: the schema is up to date (version {LATEST})")
    return 0
