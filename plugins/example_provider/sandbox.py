"""A stand-in for the Example SMS API, for demos, cassette recording and tests.

**What a contributor changes here:** make it answer as the real vendor does: the same paths,
validation, answer shapes and error answers (from the vendor's documentation, or from real
answers you have seen), and push delivery reports the way the vendor does. Cassettes are
recorded against it, so it is the plugin's picture of the vendor. It must never need the
network beyond the delivery report URL. What every sandbox shares (the settings checks, the
request log, the faults, reports pushed with retries) is :mod:`smsgate.testing.sandbox`'s.

``smsgate sandbox example_provider --port 9092 --dlr-url URL`` serves it.

- ``POST /v1/messages``: a bearer token, then ``{"messages": [...]}`` of 1 to
  ``max_batch`` messages with unique ``reference`` values (else 400 ``invalid_request``).
  Each message is accepted (an ``msg_...`` id) or rejected with an error code of its own:
  ``invalid_number`` (``to`` not ``+`` and 8 to 15 digits), ``invalid_sender`` (``from``
  not 3 to 11 letters and digits), ``empty_message`` (no ``text`` and no ``template_id``),
  ``message_too_long`` (over 1600 characters), ``invalid_template`` / ``invalid_entity``
  (DLT ids not 10 to 25 digits), ``invalid_encoding``.
- ``GET /v1/messages/{id}``: the message's status: ``sent`` until its report is due, then
  its outcome (``delivered`` also for ``none``: the push was lost, the vendor still knows);
  404 ``not_found`` for an id it never gave.
- A wrong or missing bearer token is 401 ``unauthorized`` on both.
- After ``--delay`` seconds it POSTs a signed report per accepted message to ``--dlr-url``
  (Standard Webhooks: ``webhook-id`` the same on every retry, ``webhook-timestamp`` and
  ``webhook-signature`` of each attempt), retrying while that URL fails.

Options (``--option KEY=VALUE``): ``api_key`` (default :data:`DEFAULT_API_KEY`),
``webhook_secret`` (default :data:`DEFAULT_WEBHOOK_SECRET`), ``max_batch`` (default 100),
``dlr_retries`` (attempts per report, default 5), ``dlr_retry_delay`` (seconds before the
first retry, doubling; default 0.5).

Outcome names for ``--outcomes``: ``delivered``; ``failed`` (one of the next four, at
random); ``undelivered`` (914), ``expired`` (916), ``rejected`` (blacklisted, 903), ``dnd``
(901); and ``none`` (no report at all).

For tests, under ``/sandbox/``:

- ``GET /sandbox/requests``: every send request, in order: ``{"requests": [{"received_at",
  "status", "fault", "messages": [{"reference", "to", "from", "text", "template_id",
  "entity_id", "id", "error"}]}]}``. ``DELETE`` forgets them.
- ``POST /sandbox/faults`` with ``{"status": 503, "retry_after": "2"}`` (that HTTP status
  instead of the answer), ``{"delay": 2.0}`` (the answer held back that long),
  ``{"body": "<html>"}`` (that body with HTTP 200), and ``"count": N`` (the next N send
  requests; default 1). ``"accept": true`` makes a ``status`` or ``body`` fault still take
  the messages. ``GET`` lists what is pending, ``DELETE`` clears them.
- ``GET /sandbox/webhooks``: the reports pushed: ``{"webhooks": [{"id", "body",
  "attempts", "delivered"}]}``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smsgate import SandboxSettings
from smsgate.testing.sandbox import SandboxKit, takes_messages
from smsgate_example_provider import api
from smsgate_example_provider.signatures import SignatureError, parse_secret, sign

__all__ = ["DEFAULT_API_KEY", "DEFAULT_WEBHOOK_SECRET", "FAILURES", "create_app"]

DEFAULT_API_KEY = "sk_test_sandbox_0123456789abcdef"
DEFAULT_WEBHOOK_SECRET = (
    api.SECRET_PREFIX + base64.b64encode(b"sandbox-signing-key-0123456789ab").decode()
)

#: Failed outcomes: name -> (status, error code, error message).
FAILURES: dict[str, tuple[str, str | None, str | None]] = {
    "undelivered": ("undelivered", "absent_subscriber", "The handset could not be reached"),
    "expired": ("expired", None, None),
    "rejected": ("rejected", "blacklisted", "The number is blacklisted by the operator"),
    "dnd": ("failed", "dnd", "The number is on the Do Not Disturb register"),
}
_DELIVERED, _FAILED, _NONE = "delivered", "failed", "none"
_OUTCOMES = frozenset({_DELIVERED, _FAILED, _NONE, *FAILURES})

_NUMBER = re.compile(r"\+\d{8,15}")
_SENDER = re.compile(r"[A-Za-z0-9]{3,11}")
_DLT_ID = re.compile(r"\d{10,25}")
_MAX_TEXT = 1600


@dataclass
class _State:
    kit: SandboxKit
    api_key: str
    key: bytes
    max_batch: int
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    #: message id -> what the status endpoint knows about it.
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{self.kit.rng.getrandbits(96):024x}"

    def authorised(self, request: Request) -> bool:
        presented = request.headers.get(api.AUTH_HEADER, "")
        expected = f"{api.AUTH_SCHEME} {self.api_key}"
        return secrets.compare_digest(presented.encode(), expected.encode())


def create_app(settings: SandboxSettings) -> Starlette:
    """The sandbox as an ASGI application.

    Raises :class:`ValueError` for an unknown outcome name, a negative weight or delay, or
    an unknown or malformed option.
    """
    kit = SandboxKit(
        settings,
        outcomes=_OUTCOMES,
        options=("api_key", "webhook_secret", "max_batch"),
        counts={"max_batch": 100},
    )
    try:
        key = parse_secret(kit.options.get("webhook_secret", DEFAULT_WEBHOOK_SECRET))
    except SignatureError as exc:
        raise ValueError(f"webhook_secret {exc.reason}") from None
    state = _State(
        kit,
        api_key=kit.options.get("api_key", DEFAULT_API_KEY),
        key=key,
        max_batch=kit.counts["max_batch"],
    )

    async def send(request: Request) -> Response:
        return await _send(state, request)

    async def status(request: Request) -> Response:
        return _status(state, request)

    return kit.app(
        [
            Route(api.SEND_PATH, send, methods=["POST"]),
            Route(api.MESSAGE_PATH + "{message_id}", status, methods=["GET"]),
        ],
        reports=("webhooks", state.webhooks),
    )


async def _send(state: _State, request: Request) -> Response:
    received_at = datetime.now(UTC)
    fault = state.kit.next_fault()
    entry: dict[str, Any] = {
        "received_at": received_at.isoformat(),
        "status": None,
        "fault": fault.public(with_count=False) if fault is not None else None,
        "messages": [],
    }
    # Logged on arrival, so that a test sees the request while a delay fault holds it.
    state.kit.requests.append(entry)
    if not state.authorised(request):
        status, answer = 401, _error_body("unauthorized", "Invalid API key")
    else:
        status, answer = _validate(state, await request.body(), entry)
    entry["status"] = status
    if status == 200 and takes_messages(fault):
        for result, item in zip(answer[api.Result.RESULTS], entry["messages"], strict=True):
            if result[api.Result.STATUS] == api.ACCEPTED:
                _accept(state, result[api.Result.ID], item, received_at)
    replaced = await fault.answer() if fault is not None else None
    return replaced if replaced is not None else JSONResponse(answer, status_code=status)


def _validate(state: _State, raw: bytes, entry: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The HTTP status and answer for a send body; fills ``entry["messages"]``."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return 400, _error_body("invalid_request", "The body is not JSON")
    listed = body.get(api.Send.MESSAGES) if isinstance(body, dict) else None
    if not isinstance(listed, list) or not listed:
        return 400, _error_body("invalid_request", "Give a non-empty list of messages")
    if len(listed) > state.max_batch:
        return 400, _error_body(
            "invalid_request", f"At most {state.max_batch} messages per request"
        )
    if not all(isinstance(item, dict) for item in listed):
        return 400, _error_body("invalid_request", "Each message must be an object")
    references = [item.get(api.Send.REFERENCE) for item in listed]
    if not all(isinstance(ref, str) and ref for ref in references) or len(set(references)) != len(
        references
    ):
        return 400, _error_body("invalid_request", "Each message needs its own reference")
    results = []
    for item in listed:
        error = _problem(item)
        result: dict[str, Any] = {api.Result.REFERENCE: item[api.Send.REFERENCE]}
        if error is None:
            result.update({api.Result.STATUS: api.ACCEPTED, api.Result.ID: state.new_id("msg")})
        else:
            result.update({api.Result.STATUS: api.REJECTED, **_error_body(*error)})
        results.append(result)
        entry["messages"].append(
            {
                "reference": item[api.Send.REFERENCE],
                "to": item.get(api.Send.TO),
                "from": item.get(api.Send.FROM),
                "text": item.get(api.Send.TEXT),
                "template_id": item.get(api.Send.TEMPLATE_ID),
                "entity_id": item.get(api.Send.ENTITY_ID),
                "id": result.get(api.Result.ID),
                "error": error[0] if error else None,
            }
        )
    return 200, {api.Result.RESULTS: results}


def _problem(item: Mapping[str, Any]) -> tuple[str, str] | None:
    """The error code and message of one message, or ``None`` if it is accepted."""
    to, sender = item.get(api.Send.TO), item.get(api.Send.FROM)
    text, template = item.get(api.Send.TEXT), item.get(api.Send.TEMPLATE_ID)
    entity, encoding = item.get(api.Send.ENTITY_ID), item.get(api.Send.ENCODING)
    if not isinstance(to, str) or not _NUMBER.fullmatch(to):
        return "invalid_number", "The number must be + and 8 to 15 digits"
    if not isinstance(sender, str) or not _SENDER.fullmatch(sender):
        return "invalid_sender", "The sender id must be 3 to 11 letters and digits"
    if template is not None and not (isinstance(template, str) and _DLT_ID.fullmatch(template)):
        return "invalid_template", "The DLT template id must be 10 to 25 digits"
    if entity is not None and not (isinstance(entity, str) and _DLT_ID.fullmatch(entity)):
        return "invalid_entity", "The DLT entity id must be 10 to 25 digits"
    if text is None or (isinstance(text, str) and not text.strip()):
        if template is None:
            return "empty_message", "Give a text or a template id"
        return None
    if not isinstance(text, str):
        return "empty_message", "The text must be a string"
    if len(text) > _MAX_TEXT:
        return "message_too_long", f"The text is longer than {_MAX_TEXT} characters"
    if encoding is not None and encoding not in (api.ENCODING_GSM7, api.ENCODING_UCS2):
        return "invalid_encoding", "The encoding must be gsm7 or ucs2"
    return None


def _accept(state: _State, message_id: str, item: dict[str, Any], received_at: datetime) -> None:
    outcome = state.kit.pick_outcome()
    if outcome == _FAILED:
        outcome = state.kit.rng.choice(sorted(FAILURES))
    if outcome in FAILURES:
        status, code, text = FAILURES[outcome]
        error = {api.Error.CODE: code, api.Error.MESSAGE: text} if code else None
    else:
        status, error = api.DELIVERED, None
    state.messages[message_id] = {
        "data": {
            api.Report.ID: message_id,
            api.Report.REFERENCE: item["reference"],
            api.Report.TO: item["to"],
            api.Report.STATUS: status,
            api.Report.ERROR: error,
        },
        "due": received_at.timestamp() + state.kit.settings.delay,
    }
    if outcome == _NONE or state.kit.settings.dlr_url is None:
        return
    state.kit.spawn(_push(state, state.kit.settings.dlr_url, message_id))


def _status(state: _State, request: Request) -> Response:
    if not state.authorised(request):
        return JSONResponse(_error_body("unauthorized", "Invalid API key"), status_code=401)
    known = state.messages.get(request.path_params["message_id"])
    if known is None:
        return JSONResponse(_error_body("not_found", "No such message"), status_code=404)
    now = datetime.now(UTC)
    data = dict(known["data"])
    if now.timestamp() < known["due"]:
        data.update({api.Report.STATUS: "sent", api.Report.ERROR: None})
    data[api.Report.UPDATED_AT] = _iso(now)
    return JSONResponse(data)


async def _push(state: _State, url: str, message_id: str) -> None:
    await asyncio.sleep(state.kit.settings.delay)
    now = datetime.now(UTC)
    data = {**state.messages[message_id]["data"], api.Report.UPDATED_AT: _iso(now)}
    document = {
        api.Report.TYPE: api.STATUS_EVENT,
        api.Report.TIMESTAMP: _iso(now),
        api.Report.DATA: data,
    }
    body = json.dumps(document, separators=(",", ":")).encode()
    webhook_id = state.new_id("evt")

    async def attempt(client: httpx.AsyncClient) -> httpx.Response:
        # Each attempt is signed anew: the timestamp is the attempt's, the id stays.
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            api.HEADER_ID: webhook_id,
            api.HEADER_TIMESTAMP: str(stamp),
            api.HEADER_SIGNATURE: sign(state.key, webhook_id, stamp, body),
        }
        return await client.post(url, content=body, headers=headers)

    attempts, delivered = await state.kit.push(url, attempt)
    state.webhooks.append(
        {"id": webhook_id, "body": document, "attempts": attempts, "delivered": delivered}
    )


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {api.Error.ERROR: {api.Error.CODE: code, api.Error.MESSAGE: message}}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
