"""A bare HTTP/1.1 server on asyncio streams, for the benchmark's stand-ins of our peers.

It reads each request (head, then a ``Content-Length`` or chunked body), hands the request
line and the body to a handler, and writes what the handler answers, keeping the connection
open. Nothing else: a stand-in must cost far less per request than what is measured against
it, so that the gateway and the ceilings, not the stand-in, set the rates.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

#: ``(request line, body) -> (status, JSON body)``.
Handler = Callable[[bytes, bytes], tuple[int, bytes]]

_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}
_MAX_HEAD = 64 * 1024


def answer(status: int, body: bytes) -> bytes:
    """A complete HTTP/1.1 response with a JSON body."""
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    return head % (status, _REASONS.get(status, b"Unknown"), len(body)) + body


def serve(handler: Handler, host: str, port: int, delay: float = 0.0) -> None:
    """Serve ``handler`` on ``host:port`` until SIGTERM or SIGINT.

    With ``delay``, each answer is sent that many seconds after its request was read, as a
    slow peer would (other connections are served meanwhile).
    """
    asyncio.run(_serve(handler, host, port, delay))


async def _serve(handler: Handler, host: str, port: int, delay: float) -> None:
    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                request_line, _, header_block = head.partition(b"\r\n")
                length, chunked, close = _framing(header_block)
                if chunked:
                    body = await _read_chunks(reader)
                else:
                    body = await reader.readexactly(length) if length else b""
                response = answer(*handler(request_line, body))
                if delay:
                    await asyncio.sleep(delay)
                writer.write(response)
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    server = await asyncio.start_server(connection, host, port, limit=_MAX_HEAD, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def _framing(header_block: bytes) -> tuple[int, bool, bool]:
    length, chunked, close = 0, False, False
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    return length, chunked, close


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        body += (await reader.readexactly(size + 2))[:size]
        if size == 0:
            return bytes(body)


def path_of(request_line: bytes) -> bytes:
    """The path (and query) of a request line."""
    parts = request_line.split(b" ")
    return parts[1] if len(parts) > 1 else b""
