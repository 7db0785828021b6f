"""What an HTTP answer, or the lack of one, means for messages sent to a vendor.

Every vendor plugin's ``send_batch`` draws the same line: if a request certainly did not
reach the vendor, its messages may be sent again (``retry``); if it may have, their fate is
``unknown`` and smsgate never sends them again blindly. The part of that judgement that
does not depend on the vendor lives here, so that every plugin draws the line alike:

- :func:`perform` makes a :class:`~smsgate.types.VendorRequest` with httpx and gives the
  response, or a :class:`NoAnswer` saying whether the request can have arrived;
- :func:`classify_status` sorts an HTTP status into a :class:`StatusClass`;
- :func:`parse_retry_after` reads the ``Retry-After`` header;
- :func:`send_each` performs a batch's requests a few at a time, tells ``send_batch``'s
  ``progress`` each result as it comes, and, when smsgate cuts the batch short, reports
  the requests that had not started as retries;
- :class:`Scrubber` blanks the account's secrets out of what a vendor quotes back.

How a vendor's body is read, and the words of each reason, stay the plugin's.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from smsgate.types import SendResult, VendorRequest

__all__ = [
    "NOT_SENT",
    "NOT_STARTED",
    "RETRY_STATUSES",
    "UNUSABLE_STATUSES",
    "NoAnswer",
    "Scrubber",
    "StatusClass",
    "classify_status",
    "describe_error",
    "httpx_arguments",
    "parse_http_date",
    "parse_retry_after",
    "perform",
    "retry_after_seconds",
    "send_each",
    "spellings",
]

#: HTTP statuses that say the request was not processed and may be sent again. 408 is the
#: server giving up on reading the request, so it cannot have acted on it either. 504 is not
#: here: it is a proxy giving up on waiting for the vendor, which may have taken the message
#: meanwhile, as after our own read timeout.
RETRY_STATUSES = frozenset({408, 429, 502, 503})
#: HTTP statuses that say the account, not the message, is refused.
UNUSABLE_STATUSES = frozenset({401, 403})
#: httpx errors raised before any byte of the request can have reached the server.
NOT_SENT: tuple[type[httpx.HTTPError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)


class StatusClass(StrEnum):
    """What an HTTP status alone says about a send request."""

    #: 2xx: the vendor answered; its body says what became of each message.
    ANSWERED = "answered"
    #: One of :data:`RETRY_STATUSES`: not processed, send again later (``retry``).
    BUSY = "busy"
    #: The account is refused (401, 403 by default): ``retry`` with ``vendor_unusable``.
    UNUSABLE = "unusable"
    #: 3xx: redirects are not followed, so the request was not processed, and every message
    #: would meet the same redirect: the setting is wrong (``retry``, ``vendor_unusable``).
    REDIRECT = "redirect"
    #: Another 4xx: the request is refused (``failed``).
    REFUSED = "refused"
    #: Another 5xx, 504 included (or a status outside 200-599): it may have been taken
    #: (``unknown``).
    SERVER_ERROR = "server_error"


def classify_status(status: int, *, unusable: Collection[int] = UNUSABLE_STATUSES) -> StatusClass:
    """The :class:`StatusClass` of HTTP ``status``.

    :param unusable: the statuses by which this vendor refuses the account (some add 402
        for an empty balance).
    """
    if status in RETRY_STATUSES:
        return StatusClass.BUSY
    if status in unusable:
        return StatusClass.UNUSABLE
    if 200 <= status < 300:
        return StatusClass.ANSWERED
    if 300 <= status < 400:
        return StatusClass.REDIRECT
    if 400 <= status < 500:
        return StatusClass.REFUSED
    return StatusClass.SERVER_ERROR


@dataclass(frozen=True, slots=True)
class NoAnswer:
    """A request that got no HTTP answer: refused, timed out, or dropped."""

    #: What httpx raised.
    error: httpx.HTTPError

    @property
    def may_have_arrived(self) -> bool:
        """False only when the request certainly did not reach the vendor (see :data:`NOT_SENT`).

        A read timeout or a dropped connection comes after the request was written: the
        vendor may have acted on it.
        """
        return not isinstance(self.error, NOT_SENT)

    def reason(self, vendor: str, *, messages: str = "the message") -> str:
        """Why the messages got no answer, naming ``vendor``; scrub it before use.

        :param messages: how the reason calls the request's messages.
        """
        detail = describe_error(self.error)
        if self.may_have_arrived:
            return f"no answer from {vendor} ({detail}); {messages} may have been taken"
        return f"{vendor} not reached ({detail})"

    def result(self, message: int, reason: str) -> SendResult:
        """``message``'s result: ``unknown`` if the request may have arrived, else ``retry``."""
        if self.may_have_arrived:
            return SendResult.unknown(message, reason)
        return SendResult.retry(message, reason)


async def perform(
    request: VendorRequest, client: httpx.AsyncClient, timeout: httpx.Timeout
) -> httpx.Response | NoAnswer:
    """Make ``request`` with ``client``: the response (any status), or why there is none.

    Redirects are not followed (httpx's default): a vendor's redirect is a setting to fix.
    """
    try:
        return await client.request(**httpx_arguments(request), timeout=timeout)
    except httpx.HTTPError as exc:
        return NoAnswer(exc)


def httpx_arguments(request: VendorRequest) -> dict[str, Any]:
    """``request`` as the keyword arguments of :meth:`httpx.AsyncClient.request`."""
    return {
        "method": request.method,
        "url": request.url,
        "params": request.params,
        "headers": request.headers,
        "data": request.data,
        "files": request.files,
        "json": request.json,
    }


def describe_error(error: Exception) -> str:
    """``ConnectError: [Errno 111] ...``: the type of ``error`` and its text, if any.

    The text can quote the request (a URL with credentials in its query): scrub it.
    """
    detail = str(error)
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def parse_retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from the ``Retry-After`` header: delay-seconds or an HTTP-date.

    An HTTP-date is measured from the response's ``Date`` header when there is one (the
    server's clock against itself), else from this machine's clock; a date in the past is
    0. ``None`` when the header is missing, negative or unreadable.
    """
    return retry_after_seconds(
        response.headers.get("retry-after", ""), response.headers.get("date", "")
    )


def retry_after_seconds(value: str, date: str = "") -> float | None:
    """:func:`parse_retry_after` for a ``Retry-After`` value and the answer's ``Date``."""
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        when = parse_http_date(value)
        if when is None:
            return None
        now = parse_http_date(date) or datetime.now(UTC)
        return max(0.0, (when - now).total_seconds())
    # float() also reads "inf" and "nan", which no backoff or JSON payload can hold.
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_http_date(value: str) -> datetime | None:
    """An HTTP-date (``Wed, 21 Oct 2015 07:28:00 GMT``) as an aware datetime, or ``None``.

    A date without a zone is taken as UTC, as HTTP dates always are.
    """
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


#: Why a request that never started is retried.
NOT_STARTED = "not sent: the batch was stopped before this request's turn"


async def send_each(
    requests: Sequence[VendorRequest],
    send: Callable[[VendorRequest], Awaitable[Sequence[SendResult]]],
    *,
    concurrency: int,
    progress: Callable[[SendResult], None],
) -> list[SendResult]:
    """``send`` every request, at most ``concurrency`` at once; their results, in order.

    Each request's results go to ``progress`` as soon as ``send`` returns them. When the
    batch is cancelled (smsgate's ``send_timeout``), the requests still waiting for their
    turn are reported to ``progress`` as :meth:`SendResult.retry`: they never left. Those
    under way are not reported; smsgate marks them unknown (so are the rare ones cancelled
    before they even began to wait, which is safe). When ``send`` raises for one request,
    the others are cancelled in the same way and its error is raised.
    """
    turns = asyncio.Semaphore(concurrency)
    failed = False

    def not_started(request: VendorRequest) -> None:
        for message in request.message_ids:
            progress(SendResult.retry(message, NOT_STARTED))

    async def one(request: VendorRequest) -> Sequence[SendResult]:
        nonlocal failed
        try:
            await turns.acquire()
        except asyncio.CancelledError:
            not_started(request)
            raise
        try:
            if failed:
                # Another request raised; its error ends the batch before this one leaves.
                not_started(request)
                return []
            results = await send(request)
        except Exception:
            failed = True
            raise
        finally:
            turns.release()
        for result in results:
            progress(result)
        return results

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(request)) for request in requests]
    except BaseExceptionGroup as errors:
        # A request raised (a bug in ``send``): the others were cancelled, so none is sent
        # after smsgate has been told the batch failed; raise its error as it came.
        raise errors.exceptions[0] from None
    return [result for task in tasks for result in task.result()]


class Scrubber:
    """Blanks an account's secrets out of text that may reach logs, events or CleverTap.

    Vendors quote back what they were sent, in error messages and in redirect URLs: each
    secret is blanked as it is and as a URL carries it (percent-encoded, a space as ``+``).
    """

    def __init__(self, *secrets: str) -> None:
        spelled = {form for secret in secrets if secret for form in spellings(secret)}
        # Longest first, so that a secret containing another is blanked whole.
        self._secrets = sorted(spelled, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` with every secret replaced by ``**********``."""
        for secret in self._secrets:
            text = text.replace(secret, "**********")
        return text


def spellings(secret: str) -> set[str]:
    """``secret`` as it is and as URLs and form bodies encode it."""
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret, safe="")}
