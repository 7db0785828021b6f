"""``send_batch`` for Example SMS: perform the requests and judge each answer.

**What a contributor changes here:** :func:`judge_response`, how the vendor's answers are
read. Keep the line this module draws: if a request certainly did not reach the vendor
(refused connection, connect timeout, 429, 502, 503), its messages are retried; if it
may have (read timeout, dropped connection, 500, 504, an answer that cannot be read), their fate
is *unknown* and smsgate never sends them again blindly. :mod:`smsgate.http` draws the part
of that line no vendor changes (which errors mean the request never left, what each class
of HTTP status means, ``Retry-After``); this module reads what is the vendor's own. Keep the
secrets out of every reason: vendors quote what they were sent in their error messages.

==========================================  ================================================
answer                                      outcome of each message of the request
==========================================  ================================================
2xx, its result ``accepted`` with an id     submitted under that id
2xx, its result ``rejected``                failed with the code of its error (``api``), or
                                            retry for ``throttled``
2xx, no result for it, or not JSON          unknown
401, 403, 402, or an unusable error code    retry, ``vendor_unusable`` (the account, not
                                            the message, is refused)
408, 429, 502, 503                          retry, after ``Retry-After`` when given
3xx (redirects are not followed)            retry, ``vendor_unusable`` (fix ``base_url``)
other 4xx                                   failed 900 with the vendor's message
other 5xx (504 too)                         unknown
connection refused, connect/pool timeout    retry
read/write timeout, connection dropped      unknown
==========================================  ================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx

from smsgate import SendResult, VendorRequest
from smsgate.http import (
    UNUSABLE_STATUSES,
    NoAnswer,
    Scrubber,
    StatusClass,
    classify_status,
    parse_retry_after,
    perform,
    send_each,
)
from smsgate_example_provider import api
from smsgate_example_provider.options import ExampleOptions

__all__ = ["judge_response", "send_batch"]

# 402: the vendor says the balance is empty, which no message of the account gets past.
_UNUSABLE_STATUSES = UNUSABLE_STATUSES | {402}
_MAX_REASON = 300

Clean = Callable[[str], str]


async def send_batch(
    requests: Sequence[VendorRequest],
    client: httpx.AsyncClient,
    options: ExampleOptions,
    progress: Callable[[SendResult], None] = lambda result: None,
) -> list[SendResult]:
    """Perform ``requests``, at most ``options.concurrency`` at once; one result per message.

    Each result goes to ``progress`` as soon as it is known (see :func:`smsgate.http.send_each`).
    """
    timeout = httpx.Timeout(
        connect=options.connect_timeout,
        read=options.read_timeout,
        write=options.read_timeout,
        pool=options.connect_timeout,
    )
    scrubber = Scrubber(
        options.api_key.get_secret_value(), options.webhook_secret.get_secret_value()
    )

    async def send(request: VendorRequest) -> list[SendResult]:
        return await _perform(request, client, timeout, scrubber)

    return await send_each(requests, send, concurrency=options.concurrency, progress=progress)


async def _perform(
    request: VendorRequest, client: httpx.AsyncClient, timeout: httpx.Timeout, scrubber: Scrubber
) -> list[SendResult]:
    answer = await perform(request, client, timeout)
    if isinstance(answer, NoAnswer):
        reason = scrubber.scrub(answer.reason("Example SMS", messages="the messages"))
        return [answer.result(message, reason) for message in request.message_ids]
    return judge_response(answer, request.message_ids, scrubber.scrub)


def judge_response(
    response: httpx.Response, message_ids: Sequence[int], clean: Clean = str
) -> list[SendResult]:
    """What the vendor's ``response`` means for each message of the request, in order.

    :param clean: removes secrets from the vendor's words before they go into a reason.
    """
    status = response.status_code
    kind = classify_status(status, unusable=_UNUSABLE_STATUSES)
    if kind is StatusClass.ANSWERED:
        return _judge_results(response, message_ids, clean)
    code, said = _error(response)
    said = clean(said)[:_MAX_REASON]
    detail = f"HTTP {status}" + (f" {code}" if code else "") + (f": {said!r}" if said else "")
    if kind is StatusClass.BUSY or code in api.RETRY_CODES:
        wait = parse_retry_after(response)
        reason = f"Example SMS is busy ({detail}); try again later"
        return [SendResult.retry(m, reason, retry_after=wait) for m in message_ids]
    if kind is StatusClass.UNUSABLE or code in api.UNUSABLE_CODES:
        reason = f"Example SMS refused the account ({detail}); check api_key and the balance"
        return [SendResult.retry(m, reason, vendor_unusable=True) for m in message_ids]
    if kind is StatusClass.REDIRECT:
        reason = f"Example SMS redirects (HTTP {status}); set base_url to the final address"
        return [SendResult.retry(m, reason, vendor_unusable=True) for m in message_ids]
    if kind is StatusClass.SERVER_ERROR:
        reason = f"Example SMS failed ({detail}); the messages may have been taken"
        return [SendResult.unknown(m, reason) for m in message_ids]
    reason = f"Example SMS refused the request ({detail})"
    return [SendResult.failed(m, reason, code="900") for m in message_ids]


def _judge_results(
    response: httpx.Response, message_ids: Sequence[int], clean: Clean
) -> list[SendResult]:
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    listed = body.get(api.Result.RESULTS) if isinstance(body, dict) else None
    if not isinstance(listed, list):
        reason = (
            f"Example SMS answered HTTP {response.status_code} without a list of results; "
            "the messages may have been taken"
        )
        return [SendResult.unknown(m, reason) for m in message_ids]
    by_reference: dict[str, dict[str, Any]] = {}
    for entry in listed:
        if isinstance(entry, dict):
            by_reference.setdefault(_text(entry.get(api.Result.REFERENCE)), entry)
    return [_judge_one(m, by_reference.get(str(m)), clean) for m in message_ids]


def _judge_one(message: int, entry: dict[str, Any] | None, clean: Clean) -> SendResult:
    if entry is None:
        return SendResult.unknown(message, "Example SMS answered without a result for it")
    status = _text(entry.get(api.Result.STATUS)).lower()
    if status == api.ACCEPTED:
        vendor_id = _text(entry.get(api.Result.ID))
        if vendor_id:
            return SendResult.submitted(message, vendor_id)
        return SendResult.unknown(message, "accepted without an id: delivery cannot be tracked")
    if status != api.REJECTED:
        return SendResult.unknown(message, f"Example SMS gave the unknown status {status[:40]!r}")
    error = entry.get(api.Result.ERROR)
    code = _text(error.get(api.Error.CODE)) if isinstance(error, dict) else ""
    said = clean(_text(error.get(api.Error.MESSAGE)) if isinstance(error, dict) else "")
    reason = f"Example SMS rejected it: {code or 'no code'}" + (
        f" ({said[:_MAX_REASON]!r})" if said else ""
    )
    if code in api.RETRY_CODES:
        return SendResult.retry(message, reason)
    return SendResult.failed(message, reason, code=api.REJECTION_CODES.get(code, "900"))


def _error(response: httpx.Response) -> tuple[str, str]:
    """The error code and message of a refusing answer, when it says them."""
    try:
        body: Any = response.json()
    except ValueError:
        return "", ""
    error = body.get(api.Error.ERROR) if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    return _text(error.get(api.Error.CODE))[:40], _text(error.get(api.Error.MESSAGE))


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()
