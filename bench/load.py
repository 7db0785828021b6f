"""A small HTTP/1.1 load generator: many keep-alive connections, prepared requests.

It writes requests encoded before the clock starts and reads each answer (status line,
headers, ``Content-Length`` body) on plain asyncio streams: some tens of microseconds of
CPU a request, so that on a 2-core machine the server measured, not the client, sets the
rate. (An ``httpx`` client costs about a millisecond a request here, as much as a bare
Starlette endpoint, and would make itself the ceiling.)

Two ways to load: :func:`run`, closed loop (each connection sends its next request when
the last one is answered: the most the server manages), and :func:`paced`, open loop (each
request goes at its time on a fixed schedule, whether or not earlier ones are answered:
the latency a client at a given rate sees).
"""

from __future__ import annotations

import asyncio
import collections
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


def post_request(url: str, target: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A POST of ``body`` to ``target`` on the server of ``url``, keep-alive."""
    host = urlsplit(url).netloc
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}", "User-Agent: bench"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


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


@dataclass(frozen=True)
class Timed:
    """One request of a paced run: its answer and when things happened, in seconds."""

    answer: Answer
    #: From the request's time on the schedule until its answer was read: what its client
    #: waited, including any time it could not be sent because of earlier requests.
    latency: float
    #: From its time on the schedule until it was written (the load generator's own lag).
    send_lag: float


@dataclass(frozen=True)
class Paced:
    """What one paced run saw."""

    #: From the first request's time on the schedule until the last answer.
    seconds: float
    timed: list[Timed]
    #: Connections used: one per request in flight at the worst moment.
    connections: int


def paced(url: str, requests: Sequence[bytes], interval: float, connections: int = 4) -> Paced:
    """Send ``requests`` one every ``interval`` seconds, open loop.

    Request ``i`` is due ``i * interval`` after the start. It goes on an idle connection,
    or on a new one when every connection is waiting for an answer, so that a slow answer
    never delays the requests after it: latency is measured from the time on the schedule,
    not from the moment of sending, and so counts every wait a client at this rate would
    see (no coordinated omission). ``connections`` are opened before the start.
    """
    return asyncio.run(_paced(url, requests, interval, connections))


async def _paced(url: str, requests: Sequence[bytes], interval: float, connections: int) -> Paced:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    idle = collections.deque(
        [await asyncio.open_connection(host, port) for _ in range(connections)]
    )
    opened = list(idle)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def one(index: int) -> Timed:
        due = start + index * interval
        await asyncio.sleep(due - loop.time())
        # Oldest idle connection first, and none the server has closed meanwhile (uvicorn
        # closes a connection idle for 5 s): a client would not send on it either.
        while idle and idle[0][0].at_eof():
            idle.popleft()
        stream = idle.popleft() if idle else await asyncio.open_connection(host, port)
        if stream not in opened:
            opened.append(stream)
        reader, writer = stream
        sent = loop.time()
        writer.write(requests[index])
        answer = await _read_answer(reader)
        done = loop.time()
        idle.append(stream)
        return Timed(answer, done - due, sent - due)

    try:
        timed = await asyncio.gather(*(one(index) for index in range(len(requests))))
        seconds = loop.time() - start
    finally:
        for _, writer in opened:
            writer.close()
    return Paced(seconds, list(timed), len(opened))
