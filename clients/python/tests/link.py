"""A network the tests can break: a loopback TCP relay between the client and the gateway.

`hold(direction)` silently drops what its connections carry one way from now on (a frame
that never arrives); `cut()` resets every connection at once (a dropped network: the client
sees no close frame, the gateway a closed socket). Connections made afterwards work again.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Literal

Direction = Literal["up", "down"]  # up: client → gateway; down: gateway → client


class _Connection:
    def __init__(self, client: asyncio.StreamWriter, gateway: asyncio.StreamWriter) -> None:
        self.writers = (client, gateway)
        self.held: set[Direction] = set()


class Link:
    def __init__(self, gateway_base: str) -> None:
        target = urllib.parse.urlsplit(gateway_base)
        assert target.hostname and target.port
        self._target = (target.hostname, target.port)
        self._connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self.cuts = 0

    async def start(self) -> str:
        """Listens on a free loopback port; returns the base URL to give the client."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def hold(self, direction: Direction) -> None:
        for connection in self._connections:
            connection.held.add(direction)

    def cut(self) -> None:
        for connection in self._connections:
            for writer in connection.writers:
                writer.transport.abort()
        self._connections.clear()
        self.cuts += 1

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        gateway_reader, gateway_writer = await asyncio.open_connection(*self._target)
        connection = _Connection(client_writer, gateway_writer)
        self._connections.add(connection)
        try:
            await asyncio.gather(
                _pipe(client_reader, gateway_writer, connection, "up"),
                _pipe(gateway_reader, client_writer, connection, "down"),
            )
        except (ConnectionError, OSError):
            pass
        finally:
            self._connections.discard(connection)
            for writer in connection.writers:
                writer.transport.abort()


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: _Connection, direction: Direction
) -> None:
    while data := await reader.read(65536):
        if direction in connection.held:
            continue
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()
