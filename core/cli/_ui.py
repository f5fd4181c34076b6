"""``tracker ui``: serve the dashboard on 127.0.0.1 and print its URL (with a per-launch token)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import socket

__all__: list[str] = []


def add(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register ``ui``."""
    ui = commands.add_parser(
        "ui",
        help="open the dashboard (a local web app)",
        description="Serve the dashboard of the data root. It listens on 127.0.0.1 by default, refuses "
        "requests for other host names and requires the token in the printed URL.",
        parents=[common],
    )
    ui.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ui.add_argument("--no-token", action="store_true", help="do not require the per-launch token")
    ui.set_defaults(_func=run_ui, _parser=ui)


def url_for(host: str, port: int, token: str | None) -> str:
    """The URL to print: ``http://HOST:PORT/`` plus ``?token=`` when one is required."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def run_ui(args: argparse.Namespace) -> int:
    """``tracker ui``."""
    import secrets

    import uvicorn

    from tracker._settings import data_root
    from tracker.errors import UsageError
    from tracker.server import create_app

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: use 0-65535.")
    root = data_root(getattr(args, "root", None))
    token = None if args.no_token else secrets.token_urlsafe(24)
    hosts = ["127.0.0.1", "localhost", "::1", "[::1]"]
    if args.host not in hosts and args.host not in ("0.0.0.0", "::"):
        hosts.append(args.host.lower())
    sock = listen(args.host, args.port)
    port = sock.getsockname()[1]
    app = create_app(root, token=token, allowed_hosts=hosts)
    print(f"tracker ui: serving {root}", file=sys.stderr)
    print(url_for(args.host, port, token), flush=True)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0 = a free port), ready before any URL is printed.

    Raises:
        UsageError: The address cannot be bound.
    """
    import socket

    from tracker.errors import UsageError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # before the URL is printed, so a client may connect at once
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}; try --port 0.") from None
    return sock
