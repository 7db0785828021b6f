"""``lookup_status`` for Pingbix: ask ``/SMSApi/report/status`` about a transaction.

One GET per transaction id (``uuid``), with the account's credentials and ``output=json``;
the answer lists one entry per number, ``{"response": {"reports_statusList": [{"status":
{"Status": "DELIVERED", "Cause": "Success"}}]}}``. Each entry is judged like a pushed
report (:func:`smsgate_pingbix.callbacks.classify`). An entry names its number when it
has one; otherwise, for a transaction of one message, the entry is that message's.

Nothing is made up: an empty list, an error answer, an unreadable body, a timeout, a
refused connection all mean "nothing learned", and the message is asked about again later.
The request carries the password in its query, so neither its URL nor an exception that
could quote it is ever logged; only the kind of failure is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from smsgate import DeliveryEvent, SubmittedMessage
from smsgate_pingbix import api
from smsgate_pingbix.callbacks import classify
from smsgate_pingbix.options import PingbixOptions

__all__ = ["entries", "lookup_status"]

logger = logging.getLogger(__name__)


async def lookup_status(
    messages: Sequence[SubmittedMessage], client: httpx.AsyncClient, options: PingbixOptions
) -> list[DeliveryEvent]:
    """What Pingbix knows about ``messages``, as events; none for what it does not know."""
    by_transaction: dict[str, list[SubmittedMessage]] = {}
    for message in messages:
        by_transaction.setdefault(message.vendor_id, []).append(message)
    limit = asyncio.Semaphore(options.concurrency)
    timeout = httpx.Timeout(
        connect=options.connect_timeout,
        read=options.read_timeout,
        write=options.read_timeout,
        pool=options.connect_timeout,
    )

    async def ask(transaction: str, mine: list[SubmittedMessage]) -> list[DeliveryEvent]:
        async with limit:
            answer = await _status(client, options, transaction, timeout)
        if answer is None:
            return []
        now = datetime.now(UTC)
        events = []
        found = entries(answer)
        for fields in found:
            event = classify(fields, transaction, options.zone, now, options.error_codes)
            if event.to is None and len(mine) == 1 and len(found) == 1:
                event = _with_number(event, mine[0].to)
            events.append(event)
        return events

    batches = await asyncio.gather(
        *(ask(transaction, mine) for transaction, mine in by_transaction.items())
    )
    return [event for batch in batches for event in batch]


async def _status(
    client: httpx.AsyncClient, options: PingbixOptions, transaction: str, timeout: httpx.Timeout
) -> Any:
    params = {
        api.Param.USERID: options.userid,
        api.Param.PASSWORD: options.password.get_secret_value(),
        api.Param.UUID: transaction,
        api.Param.OUTPUT: api.OUTPUT_JSON,
    }
    try:
        response = await client.get(
            options.base_url + api.STATUS_PATH, params=params, timeout=timeout
        )
    except httpx.HTTPError as exc:
        logger.warning("Pingbix status lookup failed: %s", type(exc).__name__)
        return None
    if response.status_code != 200:
        logger.warning("Pingbix status lookup answered HTTP %d", response.status_code)
        return None
    try:
        return response.json()
    except ValueError:
        logger.warning("Pingbix status lookup answered a body that is not JSON")
        return None


def entries(answer: Any) -> list[dict[str, str]]:
    """The per-number entries of a status answer, each with lower-case keys."""
    root = _lowered(answer) if isinstance(answer, Mapping) else {}
    response = root.get(api.StatusReply.RESPONSE.lower(), root)
    if not isinstance(response, Mapping):
        return []
    listed = _lowered(response).get(api.StatusReply.REPORTS.lower())
    if not isinstance(listed, list):
        return []
    found = []
    for item in listed:
        if not isinstance(item, Mapping):
            continue
        fields = _lowered(item)
        nested = fields.pop(api.StatusReply.STATUS.lower(), None)
        if isinstance(nested, Mapping):
            fields.update(_lowered(nested))
        elif isinstance(nested, str):
            fields[api.StatusReply.STATUS_WORD.lower()] = nested
        flat = {key: _text(value) for key, value in fields.items()}
        # An entry without a status word says nothing about delivery.
        if flat.get(api.StatusReply.STATUS_WORD.lower(), "").strip().upper() in (
            "",
            *api.DLR_ENVELOPE,
        ):
            continue
        found.append(flat)
    return found


def _with_number(event: DeliveryEvent, to: str) -> DeliveryEvent:
    return DeliveryEvent(
        vendor_id=event.vendor_id,
        kind=event.kind,
        occurred_at=event.occurred_at,
        to=to,
        code=event.code,
        description=event.description,
        vendor_status=event.vendor_status,
        raw=event.raw,
    )


def _lowered(fields: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(key).strip().lower(): value for key, value in fields.items()}


def _text(value: Any) -> str:
    return "" if value is None else str(value)
