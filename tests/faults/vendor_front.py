"""A misbehaving network in front of a vendor: 5xx, 429, timeouts, resets and slow answers.

:class:`FaultyVendor` listens on a loopback port and speaks just enough HTTP/1.1
(keep-alive, ``Content-Length`` bodies) to pass each request on to the vendor behind it (the
Pingbix sandbox), or not. Which requests misbehave is dealt from a shuffled deck
(:data:`DECK`, seeded): in every 20 requests, 6 fail, one of each kind below, and one is slow;
so a run of any length sees the whole mix, about 30 % failures, in an order that changes
with the seed but not from run to run.

Whether the vendor *took* the message is the point of each fault, because that is what
decides between "retry" and "unknown" at the gateway:

========================  ===============  ==================================================
fault                     vendor took it?  what the gateway sees
========================  ===============  ==================================================
``unavailable``           no               503, before the vendor saw the request
``throttled``             no               429 with ``Retry-After: 1``
``reset-before``          no               the connection reset after the request was sent
``error-after``           yes              500 instead of the vendor's answer
``timeout``               yes              no answer until past the client's read timeout
``reset-after``           yes              the connection reset instead of the answer
``slow``                  yes              the vendor's answer, :data:`SLOW` seconds late
========================  ===============  ==================================================
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
from collections import Counter
from enum import StrEnum

import httpx

#: How long a ``slow`` answer is held back; well inside the client's read timeout.
SLOW = 0.3
_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}
)


class Fault(StrEnum):
    """What happens to one request."""

    OK = "ok"
    SLOW = "slow"
    UNAVAILABLE = "unavailable"
    THROTTLED = "throttled"
    RESET_BEFORE = "reset-before"
    ERROR_AFTER = "error-after"
    TIMEOUT = "timeout"
    RESET_AFTER = "reset-after"


#: One round of 20 requests: 13 answered normally, one slow, and one of each failure.
DECK = (
    [Fault.OK] * 13
    + [Fault.SLOW]
    + [
        Fault.UNAVAILABLE,
        Fault.THROTTLED,
        Fault.RESET_BEFORE,
        Fault.ERROR_AFTER,
        Fault.TIMEOUT,
        Fault.RESET_AFTER,
    ]
)
FAILURES = frozenset(DECK) - {Fault.OK, Fault.SLOW}


class FaultyVendor:
    """The vendor at ``upstream``, reached through a network that fails as dealt.

    :param upstream: the vendor's base URL.
    :param hold: how long a ``timeout`` keeps the client waiting; longer than its timeout.
    :param seed: shuffles the deck.
    """

    def __init__(self, upstream: str, *, hold: float, seed: int = 7) -> None:
        self.upstream = upstream.rstrip("/")
        self.hold = hold
        self.dealt: Counter[Fault] = Counter()
        self._random = random.Random(seed)
        self._deck: list[Fault] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._client: httpx.AsyncClient | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.url = ""

    def __enter__(self) -> FaultyVendor:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def deal(self) -> Fault:
        """The next card; a new shuffled deck when this one is used up."""
        with self._lock:
            if not self._deck:
                self._deck = list(DECK)
                self._random.shuffle(self._deck)
            fault = self._deck.pop()
            self.dealt[fault] += 1
            return fault

    async def _start(self) -> None:
        self._client = httpx.AsyncClient(timeout=30)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        assert self._server is not None and self._client is not None
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        await self._client.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while await self._one_request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._connections.discard(task)
            writer.transport.abort()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Read, forward (or not) and answer one request; whether the connection lives on."""
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines if line]
        named = {name.lower(): value for name, value in headers}
        assert "chunked" not in named.get("transfer-encoding", ""), "chunked bodies unsupported"
        body = await reader.readexactly(int(named.get("content-length", "0")))
        fault = self.deal()

        if fault is Fault.UNAVAILABLE:
            await _answer(writer, 503, b"vendor unavailable\n")
            return True
        if fault is Fault.THROTTLED:
            await _answer(writer, 429, b"slow down\n", [("Retry-After", "1")])
            return True
        if fault is Fault.RESET_BEFORE:
            _reset(writer)
            return False

        assert self._client is not None
        response = await self._client.request(
            method,
            self.upstream + target,
            headers=[(name, value) for name, value in headers if name.lower() not in _HOP_HEADERS],
            content=body,
        )
        if fault is Fault.ERROR_AFTER:
            await _answer(writer, 500, b"internal error\n")
            return True
        if fault is Fault.TIMEOUT:
            await asyncio.sleep(self.hold)
            _reset(writer)
            return False
        if fault is Fault.RESET_AFTER:
            _reset(writer)
            return False
        if fault is Fault.SLOW:
            await asyncio.sleep(SLOW)
        passed = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in _HOP_HEADERS
        ]
        await _answer(writer, response.status_code, response.content, passed)
        return True


async def _answer(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Answer')}"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    lines += [f"Content-Length: {len(body)}", "", ""]
    writer.write("\r\n".join(lines).encode("latin-1") + body)
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Drop the connection with a TCP reset, as a crashed peer or a middlebox does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


_REASONS = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Unavailable"}
