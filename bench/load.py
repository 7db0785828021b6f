"""A small HTTP/1.1 load generator: many keep-alive connections, prepared requests.

It writes requests encoded before the clock starts and reads each answer (status line,
headers, ``Content-Length`` body) on plain asyncio streams: some tens of microseconds of
CPU a request, so that on a 2-core machine the server measured, not the client, sets the
rate. (An ``httpx`` client costs about a millisecond a request here, as much as a bare
Starlette endpoint, and would make itself the ceiling.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.harness import BenchError

#: Concurrent connections, as a vendor pushing reports at its peak might open.
CONNECTIONS = 32


@dataclass(frozen=True)
class Answer:
    """One response: the status and the body."""

    status: int
    body: bytes


@dataclass(frozen=True)
class Run:
    """What one run of the load generator saw."""

    seconds: float
    #: CPU seconds the load generator itself used.
    cpu: float
    answers: list[Answer]


def get_request(url: str, target: str) -> bytes:
    """A GET for ``target`` (path and query) on the server of ``url``, keep-alive."""
    host = urlsplit(url).netloc
    return f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench\r\n\r\n".encode("ascii")


def run(url: str, requests: Sequence[bytes], connections: int = CONNECTIONS) -> Run:
    """Send ``requests`` over ``connections`` connections; answers in request order."""
    return asyncio.run(_run(url, requests, connections))


async def _run(url: str, requests: Sequence[bytes], connections: int) -> Run:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    streams = [await asyncio.open_connection(host, port) for _ in range(connections)]
    answers: list[Answer | None] = [None] * len(requests)
    pending = iter(range(len(requests)))

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for index in pending:
            writer.write(requests[index])
            answers[index] = await _read_answer(reader)

    cpu = time.process_time()
    started = time.perf_counter()
    try:
        await asyncio.gather(*(client(reader, writer) for reader, writer in streams))
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        for _, writer in streams:
            writer.close()
    done = [answer for answer in answers if answer is not None]
    if len(done) != len(requests):
        raise BenchError(f"{len(requests) - len(done)} requests got no answer")
    return Run(seconds, cpu, done)


async def _read_answer(reader: asyncio.StreamReader) -> Answer:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        raise BenchError("the server closed a connection mid-run") from None
    status_line, _, headers = head.partition(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length = 0
    for line in headers.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return Answer(status, body)
