"""``parse_callback`` for Example SMS: signed delivery reports, one per webhook request.

**What a contributor changes here:** :func:`event_of`, how one report's fields become a
:class:`~smsgate.DeliveryEvent`. The order stays: verify the signature over the raw body
first, parse second, and raise :class:`~smsgate.CallbackError` (never anything else) for
whatever cannot be used, so that the vendor gets a 400 with the reason.

A report is ``POST`` JSON, signed as :mod:`~smsgate_example_provider.signatures` describes::

    {"type": "message.status", "timestamp": "2026-11-25T13:08:29Z",
     "data": {"id": "msg_...", "reference": "17", "to": "+919876543210",
              "status": "delivered", "error": null, "updated_at": "2026-11-25T13:08:29Z"}}

==========================================  ================================================
``data.status``                             event
==========================================  ================================================
``delivered``                               delivered
``queued``, ``sent``                        buffered (not final)
``failed``, ``rejected``, ``undelivered``,  failed; the code of ``data.error.code`` when
``expired``                                 ``api.REJECTION_CODES`` lists it, else the
                                            status's own (914 undelivered, 916 expired, 900)
anything else                               buffered, with the vendor's word kept: a
                                            made-up failure would be final
==========================================  ================================================

A report of another ``type`` carries no delivery news and gives no event. A duplicate (the
same ``webhook-id`` again, as the vendor retries) gives the same event again; the gateway's
state machine makes that harmless.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from smsgate import CallbackError, CallbackRequest, DeliveryEvent, EventKind
from smsgate_example_provider import api
from smsgate_example_provider.options import ExampleOptions
from smsgate_example_provider.signatures import SignatureError, verify

__all__ = ["event_of", "parse_callback", "parse_time"]

_MAX_FIELD = 256


def parse_callback(
    request: CallbackRequest, options: ExampleOptions, *, now: float | None = None
) -> list[DeliveryEvent]:
    """The event of one signed report; none for a report type without delivery news.

    :param now: our clock in epoch seconds, for the replay window; default: the real one.
    """
    if request.method.upper() != "POST":
        raise CallbackError(f"reports come as POST with a signed JSON body, not {request.method}")
    clock = time.time() if now is None else now
    try:
        webhook_id = verify(
            request.headers,
            request.body,
            options.signing_key,
            now=clock,
            tolerance=options.webhook_tolerance,
        )
    except SignatureError as exc:
        raise CallbackError(f"signature refused: {exc.reason}") from None
    document = _json(request.body)
    if document.get(api.Report.TYPE) != api.STATUS_EVENT:
        return []
    data = document.get(api.Report.DATA)
    if not isinstance(data, dict):
        raise CallbackError(f"the report has no {api.Report.DATA} object")
    fallback = parse_time(document.get(api.Report.TIMESTAMP)) or datetime.fromtimestamp(
        int(request.headers[api.HEADER_TIMESTAMP]), UTC
    )
    return [event_of(data, webhook_id=webhook_id, fallback=fallback)]


def event_of(
    data: Mapping[str, Any], *, fallback: datetime, webhook_id: str | None = None
) -> DeliveryEvent:
    """The event one report's ``data`` object stands for (see the module docstring).

    :param fallback: when it happened, if ``data`` does not say.
    :param webhook_id: the report's ``webhook-id``, kept in the event's raw fields.
    """
    vendor_id = _field(data, api.Report.ID)
    if not vendor_id:
        raise CallbackError(f"the report has no {api.Report.DATA}.{api.Report.ID}")
    status = _field(data, api.Report.STATUS).lower()
    if not status:
        raise CallbackError(f"the report has no {api.Report.DATA}.{api.Report.STATUS}")
    error = data.get(api.Report.ERROR)
    error_code = _field(error, api.Error.CODE) if isinstance(error, Mapping) else ""
    error_text = _field(error, api.Error.MESSAGE) if isinstance(error, Mapping) else ""
    code: str | None = None
    if status == api.DELIVERED:
        kind = EventKind.DELIVERED
    elif status in api.FAILED_STATUSES:
        kind = EventKind.FAILED
        code = api.REJECTION_CODES.get(error_code) or api.FAILED_STATUSES[status]
    else:
        kind = EventKind.BUFFERED
    description = status if not error_code else f"{status}: {error_code}"
    if error_text:
        description = f"{description} ({error_text})"
    to = _field(data, api.Report.TO)
    return DeliveryEvent(
        vendor_id=vendor_id,
        kind=kind,
        occurred_at=parse_time(data.get(api.Report.UPDATED_AT)) or fallback,
        to=to if to.startswith("+") and to[1:].isdigit() else None,
        code=code,
        description=description,
        vendor_status=status,
        raw={
            **({"webhook_id": webhook_id} if webhook_id else {}),
            **{str(key): value for key, value in data.items()},
        },
    )


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time with a zone, in UTC; ``None`` if absent, zoneless or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CallbackError("the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise CallbackError("the body is not a JSON object")
    return document


def _field(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()[:_MAX_FIELD]
