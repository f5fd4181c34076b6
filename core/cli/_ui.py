"""``tracker ui``: serve the dashboard on 127.0.0.1 and print its URL (with a per-launch token)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import socket
    from pathlib import Path

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


def url_for(host: str, port: int, token: str | None, path: str = "/") -> str:
    """The URL to print: ``http://HOST:PORT/PATH`` plus ``?token=`` when one is required."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}{path}" + (f"?token={token}" if token else "")


def run_ui(args: argparse.Namespace) -> int:
    """``tracker ui``."""
    from tracker._settings import data_root

    root = data_root(getattr(args, "root", None))
    return serve(root, host=args.host, port=args.port, token_required=not args.no_token)


def serve(
    root: Path,
    *,
    host: str,
    port: int,
    token_required: bool,
    path: str = "/",
    open_browser: bool = False,
) -> int:
    """Serve the dashboard of ``root`` until interrupted; print its URL first.

    While it serves, ``<root>/.ui.json`` (mode 0600) holds the URL and token, so that
    ``run.url`` links to it (``tracker._ui_link``); the file is removed on the way out.

    Args:
        root: The data root.
        host: Address to bind.
        port: Port (0 picks a free one).
        token_required: Require the per-launch token (printed in the URL).
        path: The page the printed URL (and the browser) opens.
        open_browser: Open the URL in a web browser once listening.

    Raises:
        UsageError: A port out of range, or an address that cannot be bound.
    """
    import secrets

    from tracker._ui_link import clear_ui_file
    from tracker.errors import UsageError
    from tracker.server import create_app

    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: use 0-65535.")
    token = secrets.token_urlsafe(24) if token_required else None
    hosts = ["127.0.0.1", "localhost", "::1", "[::1]"]
    if host not in hosts and host not in ("0.0.0.0", "::"):
        hosts.append(host.lower())
    sock = listen(host, port)
    bound = sock.getsockname()[1]
    app = create_app(root, token=token, allowed_hosts=hosts)
    url = url_for(host, bound, token, path)
    previous = _on_sigterm()  # before the file is written: a SIGTERM from then on removes it
    try:
        _serve(server_app=app, sock=sock, root=root, host=host, bound=bound, token=token, url=url,
               open_browser=open_browser)  # fmt: skip
    except _Terminated:
        return 128 + 15  # as a shell reports a process ended by SIGTERM
    finally:
        clear_ui_file(root)
        if previous is not None:
            import signal

            signal.signal(signal.SIGTERM, previous)
    return 0


def _serve(
    *, server_app: Any, sock: socket.socket, root: Path, host: str, bound: int, token: str | None, url: str,
    open_browser: bool,
) -> None:  # fmt: skip
    import uvicorn

    from tracker._ui_link import write_ui_file

    try:  # before the URL is printed: whoever saw the URL finds the file
        write_ui_file(root, url_for(host, bound, None).rstrip("/"), token)
    except OSError as exc:  # a read-only root still gets its dashboard, only run.url is not linked
        print(
            f"tracker ui: cannot write {root}/.ui.json ({exc.strerror}): run.url will not carry the token",
            file=sys.stderr,
        )
    print(f"tracker ui: serving {root}", file=sys.stderr)
    print(url, flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    config = uvicorn.Config(server_app, log_level="warning", timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])


class _Terminated(BaseException):
    """SIGTERM arrived: unwind through ``finally`` (the default action would skip it)."""


def _on_sigterm() -> Any:
    """Make SIGTERM unwind like Ctrl-C; return the handler it replaced (None off the main thread).

    uvicorn handles SIGTERM itself while it serves, then restores the handler it found
    and raises the signal again; with the default handler that ends the process on the
    spot, before ``finally`` removes ``.ui.json`` (and its token).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def terminated(signum: int, frame: Any) -> None:
        raise _Terminated

    return signal.signal(signal.SIGTERM, terminated)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0 = a free port), ready before any URL is printed.

    Raises:
        UsageError: The address cannot be bound.
    """
    import socket

    from tracker.errors import UsageError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto
    # says TCP, and accepted sockets inherit it; with 0 a response written in two parts on a
    # kept-alive connection waits ~40 ms for a delayed ACK (every module file of the page).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # before the URL is printed, so a client may connect at once
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}; try --port 0.") from None
    return sock
