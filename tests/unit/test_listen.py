"""`tracker ui` / `tracker server` listen on a socket asyncio will set TCP_NODELAY on."""

from __future__ import annotations

import asyncio
import socket

from tracker.cli._ui import listen


def test_accepted_connections_have_nagle_off() -> None:
    # asyncio sets TCP_NODELAY only where the socket's proto is IPPROTO_TCP, and accepted
    # sockets inherit the listener's proto: with 0, two-part responses waited ~40 ms.
    sock = listen("127.0.0.1", 0)
    proto = sock.proto
    seen: list[int] = []

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("socket")
            seen.append(peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=sock)
        port = sock.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await _reader.read()
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
    assert (proto, seen) == (socket.IPPROTO_TCP, [1])
