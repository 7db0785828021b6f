"""``lookup_status`` for Example SMS: ask ``GET /v1/messages/{id}`` about a silent message.

**What a contributor changes here:** the request (:func:`_ask`) and how its answer is read;
or delete this module and the hook in ``__init__.py`` if the vendor has no status endpoint
(the hook is optional). Whatever the vendor answers, never invent a failure: a 404, an error
answer, an unreadable body, a timeout, a refused connection all mean "nothing learned", and
smsgate asks again later.

The answer has the fields of a delivery report's ``data`` object (``id``, ``reference``,
``to``, ``status``, ``error``, ``updated_at``) and is judged by the same rules
(:func:`smsgate_example_provider.callbacks.event_of`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from smsgate import CallbackError, DeliveryEvent, SubmittedMessage
from smsgate_example_provider import api
from smsgate_example_provider.callbacks import event_of
from smsgate_example_provider.options import ExampleOptions

__all__ = ["lookup_status"]

logger = logging.getLogger(__name__)


async def lookup_status(
    messages: Sequence[SubmittedMessage], client: httpx.AsyncClient, options: ExampleOptions
) -> list[DeliveryEvent]:
    """What the vendor knows about ``messages``, as events; none for what it does not know."""
    limit = asyncio.Semaphore(options.concurrency)
    timeout = httpx.Timeout(
        connect=options.connect_timeout,
        read=options.read_timeout,
        write=options.read_timeout,
        pool=options.connect_timeout,
    )

    async def ask(message: SubmittedMessage) -> list[DeliveryEvent]:
        async with limit:
            answer = await _ask(client, options, message.vendor_id, timeout)
        if not isinstance(answer, dict) or str(answer.get(api.Report.ID)) != message.vendor_id:
            return []
        try:
            event = event_of(answer, fallback=datetime.now(UTC))
        except CallbackError:
            return []
        return [event]

    found = await asyncio.gather(*(ask(message) for message in messages))
    return [event for events in found for event in events]


async def _ask(
    client: httpx.AsyncClient, options: ExampleOptions, vendor_id: str, timeout: httpx.Timeout
) -> Any:
    headers = {api.AUTH_HEADER: f"{api.AUTH_SCHEME} {options.api_key.get_secret_value()}"}
    url = options.base_url + api.MESSAGE_PATH + quote(vendor_id, safe="")
    try:
        response = await client.get(url, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        # The kind only: an exception's text could quote the request.
        logger.warning("Example SMS status lookup failed: %s", type(exc).__name__)
        return None
    if response.status_code != 200:
        if response.status_code != 404:
            logger.warning("Example SMS status lookup answered HTTP %d", response.status_code)
        return None
    try:
        return response.json()
    except ValueError:
        logger.warning("Example SMS status lookup answered a body that is not JSON")
        return None
