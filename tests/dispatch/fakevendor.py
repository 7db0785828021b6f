"""A throwaway vendor for the dispatcher's tests: an HTTP server and the plugin that calls it.

The server is a real Starlette app, served over loopback HTTP with ``ServerThread``; it
counts every send per reference and answers as scripted by the test:

- ``POST /send`` with JSON ``{"ref", "to", "text"}`` and header ``x-api-key``:
  200 ``{"status": "ok", "id": ...}``; 200 ``{"status": "error", "error": "invalid_number"}``
  when the text contains ``[invalid]``; 401 for a key in ``bad_keys``; 402 for a key in
  ``broke_keys``; or the next scripted fault (any status, ``Retry-After``, a delay).

The plugin maps answers the way the hook spec asks: connection refused, 429, 502 and 503 are
retry (with ``Retry-After``), 500 and a read timeout are unknown, 401 is failed and 402 is
retry, both marked ``vendor_unusable``; other 4xx fail with 900.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from smsgate import (
    BuiltPayload,
    CallbackRequest,
    DeliveryEvent,
    OutboundMessage,
    SendResult,
    VendorRequest,
    hookimpl,
)
from smsgate.http import send_each


@dataclass
class Fault:
    """One scripted answer: an HTTP status (0 = answer normally) after ``delay`` seconds."""

    status: int = 0
    retry_after: str | None = None
    delay: float = 0.0


@dataclass
class FakeVendor:
    """What the fake vendor has seen, and how it will answer next."""

    delay: float = 0.0
    bad_keys: set[str] = field(default_factory=set)
    broke_keys: set[str] = field(default_factory=set)
    faults: deque[Fault] = field(default_factory=deque)
    #: A fault applied to every send while set (after the scripted ones run out).
    standing: Fault | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        """Forget every send and every scripted fault."""
        with self._lock:
            self.delay = 0.0
            self.bad_keys.clear()
            self.broke_keys.clear()
            self.faults.clear()
            self.standing = None
            self.requests.clear()
            self._ids = itertools.count(1)

    def received(self) -> Counter[str]:
        """How many sends reached the vendor, per reference."""
        with self._lock:
            return Counter(r["ref"] for r in self.requests)

    def refs(self, key: str | None = None) -> list[str]:
        """References received, in order, optionally only those sent with ``key``."""
        with self._lock:
            return [r["ref"] for r in self.requests if key is None or r["key"] == key]

    def fail_next(self, *faults: Fault) -> None:
        """Answer the next sends with ``faults``, one each, in order."""
        with self._lock:
            self.faults.extend(faults)

    def app(self) -> Starlette:
        """The vendor as an ASGI application."""
        return Starlette(routes=[Route("/send", self._send, methods=["POST"])])

    async def _send(self, request: Request) -> JSONResponse:
        body = await request.json()
        key = request.headers.get("x-api-key", "")
        with self._lock:
            self.requests.append({"ref": body["ref"], "to": body["to"], "key": key})
            fault = self.faults.popleft() if self.faults else self.standing
            vendor_id = f"fv-{next(self._ids)}"
        delay = fault.delay if fault and fault.delay else self.delay
        if delay:
            await asyncio.sleep(delay)
        if key in self.bad_keys:
            return JSONResponse({"error": "bad credentials"}, status_code=401)
        if key in self.broke_keys:
            return JSONResponse({"error": "no balance"}, status_code=402)
        if fault is not None and fault.status:
            headers = {"retry-after": fault.retry_after} if fault.retry_after else {}
            return JSONResponse({"error": "fault"}, status_code=fault.status, headers=headers)
        if "[invalid]" in body["text"]:
            return JSONResponse({"status": "error", "error": "invalid_number"})
        return JSONResponse({"status": "ok", "id": vendor_id})


class FakeVendorOptions(BaseModel):
    """Where the fake vendor listens and the key to present."""

    model_config = ConfigDict(extra="forbid")

    base_url: str
    api_key: str = "good-key"
    read_timeout: float = 10.0
    #: Requests at once; the rest wait for their turn.
    concurrency: int = 100


class FakeVendorPlugin:
    """A vendor plugin for the fake vendor; flags make it misbehave on purpose."""

    def __init__(self) -> None:
        self.raise_in_build = False
        self.raise_in_send = False
        #: Put the first request in the payload twice, as a buggy plugin might.
        self.duplicate_first = False
        #: Return only the first result, after telling ``progress`` all of them.
        self.return_only_first = False
        #: Build results as a careless author might: the outcome as plain text, and the
        #: vendor's id as the number its JSON held.
        self.plain_values = False
        #: Describe the requests as plain dicts instead of VendorRequest objects.
        self.requests_as_dicts = False

    @hookimpl
    def options_model(self) -> type[BaseModel]:
        """The fake vendor's options."""
        return FakeVendorOptions

    @hookimpl
    def build_payload(
        self, messages: Sequence[OutboundMessage], options: FakeVendorOptions
    ) -> BuiltPayload:
        """One request per message; a message without text is refused with 908."""
        if self.raise_in_build:
            raise RuntimeError("build_payload bug")
        requests = [
            VendorRequest(
                "POST",
                f"{options.base_url}/send",
                message_ids=(m.id,),
                headers={"x-api-key": options.api_key},
                json={"ref": m.message_id, "to": m.to, "text": m.body},
            )
            for m in messages
            if m.body
        ]
        refused = [
            SendResult.failed(m.id, "no text and no template", code="908")
            for m in messages
            if not m.body
        ]
        if self.duplicate_first and requests:
            requests.append(requests[0])
        if self.requests_as_dicts:
            return BuiltPayload(requests=[asdict(r) for r in requests], refused=refused)  # type: ignore[misc]
        return BuiltPayload(requests=requests, refused=refused)

    @hookimpl
    async def send_batch(
        self,
        requests: Sequence[VendorRequest],
        client: httpx.AsyncClient,
        options: FakeVendorOptions,
        progress: Callable[[SendResult], None],
    ) -> list[SendResult]:
        """Perform the requests, ``concurrency`` at once, and judge each answer."""
        if self.raise_in_send:
            raise RuntimeError("send_batch bug")

        async def send(request: VendorRequest) -> list[SendResult]:
            return [await self._send(request, client, options)]

        results = await send_each(
            requests, send, concurrency=options.concurrency, progress=progress
        )
        if self.plain_values:
            results = [
                SendResult(r.message, r.outcome.value, vendor_id=int(r.vendor_id.split("-")[1]))  # type: ignore[arg-type]
                if r.vendor_id
                else r
                for r in results
            ]
        return results[:1] if self.return_only_first else results

    @hookimpl
    def parse_callback(
        self, request: CallbackRequest, options: FakeVendorOptions
    ) -> list[DeliveryEvent]:
        """The fake vendor sends no delivery reports; the dispatch tests need none."""
        return []

    async def _send(
        self, request: VendorRequest, client: httpx.AsyncClient, options: FakeVendorOptions
    ) -> SendResult:
        pk = request.message_ids[0]
        try:
            response = await client.request(
                request.method,
                request.url,
                headers=request.headers,
                json=request.json,
                timeout=httpx.Timeout(options.read_timeout, connect=2.0),
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return SendResult.retry(pk, f"not sent: {type(exc).__name__}")
        except httpx.TransportError as exc:
            return SendResult.unknown(pk, f"no answer: {type(exc).__name__}")
        status = response.status_code
        retry_after = response.headers.get("retry-after")
        if status in (429, 502, 503):
            seconds = float(retry_after) if retry_after else None
            return SendResult.retry(pk, f"vendor said {status}", retry_after=seconds)
        if status == 401:
            return SendResult.failed(pk, "bad credentials", vendor_unusable=True)
        if status == 402:
            return SendResult.retry(pk, "no balance", vendor_unusable=True)
        if status >= 500:
            return SendResult.unknown(pk, f"vendor said {status}")
        if status >= 400:
            return SendResult.failed(pk, f"vendor said {status}")
        body = response.json()
        if body.get("status") == "ok":
            return SendResult.submitted(pk, body["id"])
        return SendResult.failed(pk, "invalid number", code="910")
