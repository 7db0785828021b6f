"""``send_batch`` for Pingbix: perform the requests and judge each answer.

Pingbix reports errors in the JSON body, usually with HTTP 200, so the body decides; the
HTTP status decides only what the body cannot: throttling and gateway errors (the request
was not taken), and server errors or silence (it may have been). The line that matters is
whether the request can have reached Pingbix: if it certainly did not, the message is
retried; if it may have, its fate is unknown and smsgate must not send it again blindly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx

from smsgate import SendResult, VendorRequest
from smsgate.http import (
    RETRY_STATUSES,
    NoAnswer,
    Scrubber,
    StatusClass,
    classify_status,
    parse_retry_after,
    perform,
    send_each,
)
from smsgate_pingbix import api
from smsgate_pingbix.options import PingbixOptions

__all__ = ["judge_response", "send_batch"]

_MAX_REASON = 300

Judge = Callable[[int], SendResult]


async def send_batch(
    requests: Sequence[VendorRequest],
    client: httpx.AsyncClient,
    options: PingbixOptions,
    progress: Callable[[SendResult], None] = lambda result: None,
) -> list[SendResult]:
    """Perform ``requests`` (at most ``options.concurrency`` at once); one result per message.

    Each result goes to ``progress`` as soon as it is known (see :func:`smsgate.http.send_each`).
    """
    timeout = httpx.Timeout(
        connect=options.connect_timeout,
        read=options.read_timeout,
        write=options.read_timeout,
        pool=options.connect_timeout,
    )
    secrets = Scrubber(options.password.get_secret_value())

    async def send(request: VendorRequest) -> list[SendResult]:
        judge = await _perform(request, client, timeout, secrets)
        return [judge(message) for message in request.message_ids]

    return await send_each(requests, send, concurrency=options.concurrency, progress=progress)


async def _perform(
    request: VendorRequest, client: httpx.AsyncClient, timeout: httpx.Timeout, secrets: Scrubber
) -> Judge:
    answer = await perform(request, client, timeout)
    if isinstance(answer, NoAnswer):
        reason = secrets.scrub(answer.reason("Pingbix"))
        return lambda message: answer.result(message, reason)
    return judge_response(answer, _sent_mobile(request), secrets.scrub)


def judge_response(
    response: httpx.Response, mobile: str | None, scrub: Callable[[str], str] = str
) -> Judge:
    """What Pingbix's ``response`` means for each message of the request.

    :param mobile: the number the request was for, to spot it in ``invalidMobile``.
    :param scrub: removes secrets from text that goes into a reason.
    """
    status = response.status_code
    kind = classify_status(status, unusable=api.ACCOUNT_STATUS_CODES)
    if kind is StatusClass.BUSY:
        wait = parse_retry_after(response)
        reason = f"Pingbix answered HTTP {status}; try again later"
        return lambda message: SendResult.retry(message, reason, retry_after=wait)
    if kind is StatusClass.UNUSABLE:
        reason = f"Pingbix refused the account (HTTP {status}); check userid and password"
        return lambda message: SendResult.retry(message, reason, vendor_unusable=True)
    if kind is StatusClass.SERVER_ERROR:
        reason = f"Pingbix answered HTTP {status}; the message may have been taken"
        return lambda message: SendResult.unknown(message, reason)
    if kind is StatusClass.REFUSED:
        # Its words may well say the account is at fault rather than the message.
        return _judge_body(response, mobile, scrub, refused=True)
    if kind is StatusClass.REDIRECT:
        location = scrub(response.headers.get("location", "elsewhere"))
        reason = f"Pingbix redirects to {location}; set base_url to the final address"
        return lambda message: SendResult.retry(message, reason, vendor_unusable=True)
    return _judge_body(response, mobile, scrub)


def _judge_body(
    response: httpx.Response,
    mobile: str | None,
    scrub: Callable[[str], str],
    *,
    refused: bool = False,
) -> Judge:
    """Judge the JSON answer; ``refused``: its HTTP status already says it was not taken."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        if refused:
            plain = f"Pingbix answered HTTP {response.status_code}"
            return lambda message: SendResult.failed(message, plain, code="900")
        reason = f"Pingbix answered HTTP {response.status_code} with a body that is not JSON"
        unsure = f"{reason}; the message may have been taken"
        return lambda message: SendResult.unknown(message, unsure)
    status = _text(body.get(api.Reply.STATUS)).lower()
    status_code = _text(body.get(api.Reply.STATUS_CODE))
    if not status and not status_code and not refused:
        # Nothing says it was refused: it may as well have been taken.
        unsure = (
            f"Pingbix answered HTTP {response.status_code} without a status; "
            "the message may have been taken"
        )
        return lambda message: SendResult.unknown(message, unsure)
    said = scrub(_text(body.get(api.Reply.REASON)) or status or "no reason given")[:_MAX_REASON]
    success = status == api.STATUS_SUCCESS or (
        not status and status_code == api.STATUS_CODE_SUCCESS
    )
    if success and not refused:
        return _judge_success(body, mobile)
    code_said = int(status_code) if status_code.isdigit() else None
    if code_said in RETRY_STATUSES:
        reason = f"Pingbix is busy (statusCode {status_code}: {said!r}); try again later"
        return lambda message: SendResult.retry(message, reason)
    if code_said is not None and 500 <= code_said < 600:
        unsure = f"Pingbix failed (statusCode {status_code}: {said!r}); it may have been taken"
        return lambda message: SendResult.unknown(message, unsure)
    refusal = api.judge_error(said)
    if code_said in api.ACCOUNT_STATUS_CODES and refusal is api.UNKNOWN_ERROR:
        # Words that name nothing about the message, under a code that refuses the account:
        # failed, every queued message would be lost to one empty wallet.
        refusal = api.Refusal(api.Verdict.UNUSABLE, "900", "Pingbix refused the account")
    reason = f"{refusal.description}; Pingbix said {said!r}"
    if status_code:
        reason += f" (statusCode {status_code})"
    elif response.status_code != 200:
        reason += f" (HTTP {response.status_code})"
    if refusal.verdict is api.Verdict.UNUSABLE:
        return lambda message: SendResult.retry(message, reason, vendor_unusable=True)
    if refusal.verdict is api.Verdict.RETRY:
        return lambda message: SendResult.retry(message, reason)
    code = refusal.code
    return lambda message: SendResult.failed(message, reason, code=code)


def _judge_success(body: dict[str, Any], mobile: str | None) -> Judge:
    invalid = _numbers(body.get(api.Reply.INVALID_MOBILE))
    if (
        mobile is not None
        and mobile in invalid
        and mobile not in _numbers(body.get(api.Reply.MOBILE))
    ):
        reason = f"Pingbix listed {mobile} as an invalid mobile number"
        return lambda message: SendResult.failed(message, reason, code="910")
    transaction_id = _text(body.get(api.Reply.TRANSACTION_ID))
    if not transaction_id:
        reason = "Pingbix answered success without a transaction id; delivery cannot be tracked"
        return lambda message: SendResult.unknown(message, reason)
    return lambda message: SendResult.submitted(message, transaction_id)


def _sent_mobile(request: VendorRequest) -> str | None:
    for fields in (request.files, request.data, request.params):
        if fields and api.Param.MOBILE in fields:
            value = fields[api.Param.MOBILE]
            return value[1] if isinstance(value, tuple) else value
    return None


def _numbers(value: object) -> set[str]:
    return {part.strip() for part in _text(value).split(api.MOBILE_SEPARATOR) if part.strip()}


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()
