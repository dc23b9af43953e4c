"""A tiny HTTP server on loopback for hostile-endpoint tests of the Google clients.

Each connection gets one request read (head and body) and one answer from `respond`,
which may misbehave as the test likes (redirect, flood, drip, echo). The clients under
test are the real google-api-python-client and httplib2: no mock of either.

Importable from any test module: pytest puts this folder on sys.path for the root
conftest.py (rootdir-style, no __init__.py).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

Respond = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


class Endpoint:
    """An HTTP server on `host` that answers each request with `respond`, one per connection.

    Attributes:
        requests: every request received (head and body).
        sent: bytes a flooding `respond` reports having written.
        answering: set once a request has been read and `respond` is called.
        closed: set when a connection ends.
    """

    def __init__(self, respond: Respond, host: str = "127.0.0.1") -> None:
        self.respond = respond
        self.host = host
        self.requests: list[bytes] = []
        self.sent = 0
        self.closed = asyncio.Event()
        self.answering = asyncio.Event()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            body = await reader.readexactly(int(length[1])) if length else b""
            self.requests.append(head + body)
            self.answering.set()
            await self.respond(head, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client hung up, or the test is over
        finally:
            self.closed.set()
            writer.close()

    async def __aenter__(self) -> Endpoint:
        self.server = await asyncio.start_server(self._handle, self.host, 0)
        self.url = f"http://{self.host}:{self.server.sockets[0].getsockname()[1]}/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


def answer(status: str, body: bytes, *headers: str) -> Respond:
    """Answer with `status`, `body` and `headers` (Content-Length always set)."""

    async def respond(_head: bytes, writer: asyncio.StreamWriter) -> None:
        lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()

    return respond
