"""A stand-in for CleverTap's SMS callback URL that records what it receives.

It checks each POST the way CleverTap documents its generic SMS callback (a JSON array of
``{"event", "data": [...]}`` groups; every record with a 10-digit ``ts`` and a ``meta``;
``failed`` with a ``code`` from 900 to 920 and a ``description``) and answers as CleverTap
does: 200 with ``processed`` / ``unprocessed``, or 400 when a mandatory key is missing. It can
be told to fail for a while, to show that the gateway retries.

Control endpoints, for tests and the demo:

- ``GET /_fake/received``: every accepted record, with its ``event``, in arrival order.
- ``DELETE /_fake/received``: forget them.
- ``POST /_fake/outage`` with ``{"status": 503, "count": N}`` or ``{"status": 503, "seconds": S}``:
  answer that status to the next N callback requests, or for S seconds.
- ``POST /_fake/latency`` with ``{"seconds": S}``: take S seconds over each callback request
  before handling it (a slow CleverTap; 0 to stop).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

logger = logging.getLogger(__name__)

EVENTS = frozenset({"delivered", "failed", "clicked", "replied"})
CODES = frozenset({str(code) for code in range(900, 921)} - {"911"})
MANDATORY = {
    "delivered": ("ts", "meta"),
    "failed": ("ts", "meta", "code", "description"),
    "clicked": ("ts", "meta", "url"),
    "replied": ("ts", "meta", "incomingText"),
}


@dataclass
class FakeCleverTap:
    """What the fake has received, and the outage it is told to simulate."""

    records: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    outage_status: int = 503
    outage_count: int = 0
    outage_until: float = 0.0
    #: Seconds each callback request takes before it is handled.
    latency: float = 0.0
    echo: bool = False

    def in_outage(self) -> bool:
        """Whether the next callback request should fail, counting it down."""
        if self.outage_count > 0:
            self.outage_count -= 1
            return True
        return time.monotonic() < self.outage_until


def problems(record: Any, event: str) -> list[str]:
    """What CleverTap would reject in one record of ``event``."""
    if not isinstance(record, dict):
        return ["record is not an object"]
    missing = [key for key in MANDATORY[event] if key not in record]
    found = [f"missing {key}" for key in missing]
    ts = record.get("ts")
    if "ts" not in missing and not (isinstance(ts, int) and len(str(ts)) == 10):
        found.append("ts is not 10-digit epoch seconds")
    if event == "failed" and "code" not in missing and record.get("code") not in CODES:
        found.append("code is not a string from 900 to 920")
    return found


def create_app(echo: bool = False) -> Starlette:
    """The fake as an ASGI app; ``echo`` logs every accepted record."""
    state = FakeCleverTap(echo=echo)

    async def callback(request: Request) -> JSONResponse:
        state.requests += 1
        raw = await request.body()
        if state.latency:
            # Handled after the wait whether or not the caller is still there, as a real
            # server would: a caller that gives up mid-request may still have been heard.
            await asyncio.sleep(state.latency)
        if state.in_outage():
            return JSONResponse(
                {"status": "error", "message": "Service unavailable"},
                status_code=state.outage_status,
            )
        try:
            groups = json.loads(raw)
        except ValueError:
            return _bad_request("the body is not JSON")
        if not isinstance(groups, list):
            return _bad_request("the body is not an array of event groups")
        accepted: list[dict[str, Any]] = []
        unprocessed: list[dict[str, Any]] = []
        for group in groups:
            event = group.get("event") if isinstance(group, dict) else None
            data = group.get("data") if isinstance(group, dict) else None
            if event not in EVENTS or not isinstance(data, list):
                return _bad_request("each group needs an event and a data array")
            for record in data:
                found = problems(record, event)
                if found:
                    unprocessed.append(
                        {
                            "status": "fail",
                            "code": 400,
                            "error": "; ".join(found),
                            "record": {"event": event, "data": [record]},
                        }
                    )
                else:
                    accepted.append({"event": event, **record})
        if not accepted:
            return JSONResponse(
                {"status": "fail", "processed": 0, "unprocessed": unprocessed}, status_code=400
            )
        state.records.extend(accepted)
        if state.echo:
            for record in accepted:
                logger.warning("CleverTap received %s", json.dumps(record, ensure_ascii=False))
        status = "partial" if unprocessed else "success"
        return JSONResponse(
            {"status": status, "processed": len(accepted), "unprocessed": unprocessed}
        )

    async def received(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            state.records.clear()
            state.requests = 0
        return JSONResponse({"records": state.records, "requests": state.requests})

    async def outage(request: Request) -> JSONResponse:
        body = await request.json()
        state.outage_status = int(body.get("status", 503))
        state.outage_count = int(body.get("count", 0))
        state.outage_until = time.monotonic() + float(body.get("seconds", 0))
        return JSONResponse({"status": state.outage_status, "count": state.outage_count})

    async def latency(request: Request) -> JSONResponse:
        body = await request.json()
        state.latency = max(0.0, float(body.get("seconds", 0)))
        return JSONResponse({"seconds": state.latency})

    return Starlette(
        routes=[
            Route("/sms/generic", callback, methods=["POST"]),
            Route("/_fake/received", received, methods=["GET", "DELETE"]),
            Route("/_fake/outage", outage, methods=["POST"]),
            Route("/_fake/latency", latency, methods=["POST"]),
        ]
    )


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse(
        {"status": "error", "message": f"Bad request. {message}", "error_code": 400},
        status_code=400,
    )
