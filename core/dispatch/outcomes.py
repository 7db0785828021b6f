"""What a plugin's answer means for each message, and for the vendor's circuit.

Pure functions: a :class:`~smsgate.types.SendResult` and the message as claimed go in, a
:class:`Decision` (the row's next state and the event that records it) comes out. The
database work is in :mod:`smsgate.dispatch.queue`.

- submitted: the vendor's id is kept.
- retry: back to ``accepted`` after a jittered backoff that honours ``Retry-After``; when
  the next try would come after the message's validity it fails with 916 (expired) now, and
  after ``max_attempts`` tries, when that is set, with 904.
- failed: the plugin's CleverTap code (900 when it gave none that CleverTap knows).
- unknown: kept as ``unknown`` with the reason, never resent by the dispatcher.
- a result marked ``vendor_unusable`` (bad credentials, no balance) moves the message to the
  nickname's fallback, if it has one and the message has not been moved already. An
  ``unknown`` message is never moved: it may be on its way through the first vendor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from smsgate.delivery.reports import CLEVERTAP_CODE, OTHER_ERROR
from smsgate.dispatch.backoff import Random, retry_delay
from smsgate.dispatch.settings import DispatchSettings
from smsgate.dispatch.throttle import Verdict
from smsgate.storage.models import MessageStatus
from smsgate.types import Outcome, SendResult

__all__ = [
    "EXPIRED",
    "GAVE_UP",
    "Claimed",
    "Decision",
    "decide",
    "expired",
    "expires_at",
    "verdict",
]

#: CleverTap's code for a message not sent within its validity.
EXPIRED = "916"
#: CleverTap's "system error inside the SMS provider": the vendor kept asking us to retry.
GAVE_UP = "904"
_REASON_LIMIT = 512


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message as a worker claimed it: what the plugin needs and what a decision needs."""

    id: int
    nickname: str
    route: str
    message_id: str
    to: str
    body: str | None
    template_id: str | None
    template_variables: str | None
    campaign_id: str | None
    extras: Mapping[str, str]
    encoding: str
    segments: int
    #: Tries so far, this one included.
    attempts: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    """A message's next state after one try, and the event that records the transition."""

    message: int
    status: MessageStatus
    #: The event's kind: submitted, retry, failed, unknown or rerouted.
    kind: str
    attempts: int
    vendor_id: str | None = None
    code: str | None = None
    description: str | None = None
    next_attempt_at: datetime | None = None
    #: The nickname that sends it from now on, when it changes.
    route: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def decide(
    result: SendResult,
    message: Claimed,
    now: datetime,
    *,
    settings: DispatchSettings,
    fallback: str | None,
    random: Random,
) -> Decision:
    """The next state of ``message`` given the plugin's ``result`` for it.

    :param fallback: the nickname to move the message to when the vendor is unusable, or
        ``None`` when the route has no usable fallback.
    """
    reason = _clip(result.reason)
    if result.outcome is Outcome.SUBMITTED:
        return Decision(
            message.id,
            MessageStatus.SUBMITTED,
            "submitted",
            message.attempts,
            vendor_id=_clip(result.vendor_id, 128),
            payload={"attempt": message.attempts},
        )
    if result.outcome is Outcome.UNKNOWN:
        return Decision(
            message.id,
            MessageStatus.UNKNOWN,
            "unknown",
            message.attempts,
            description=reason or "the vendor's answer was lost; it may have the message",
            payload={"attempt": message.attempts},
        )
    if result.vendor_unusable and fallback is not None and message.route == message.nickname:
        return Decision(
            message.id,
            MessageStatus.ACCEPTED,
            "rerouted",
            0,
            description=_clip(f"moved from {message.route} to {fallback}: {reason}"),
            next_attempt_at=now,
            route=fallback,
            payload={"from": message.route, "to": fallback, "attempt": message.attempts},
        )
    if result.outcome is Outcome.FAILED:
        code = result.code if result.code and CLEVERTAP_CODE.fullmatch(result.code) else OTHER_ERROR
        return _failed(message, code, reason or "the vendor refused the message")
    return _retry(message, result, now, settings=settings, random=random)


def _retry(
    message: Claimed,
    result: SendResult,
    now: datetime,
    *,
    settings: DispatchSettings,
    random: Random,
) -> Decision:
    reason = _clip(result.reason) or "the vendor asked to try again"
    if settings.max_attempts is not None and message.attempts >= settings.max_attempts:
        gave_up = f"gave up after {message.attempts} attempts: {reason}"
        return _failed(message, GAVE_UP, gave_up[:_REASON_LIMIT])
    delay = retry_delay(
        message.attempts - 1,
        result.retry_after,
        base=settings.backoff_base,
        cap=settings.backoff_cap,
        max_retry_after=settings.max_retry_after,
        random=random,
    )
    next_attempt_at = now + timedelta(seconds=delay)
    if next_attempt_at >= expires_at(message, settings):
        return expired(message)
    return Decision(
        message.id,
        MessageStatus.ACCEPTED,
        "retry",
        message.attempts,
        description=reason,
        next_attempt_at=next_attempt_at,
        payload={
            "attempt": message.attempts,
            "delay": round(delay, 3),
            "retry_after": result.retry_after,
        },
    )


def expires_at(message: Claimed, settings: DispatchSettings) -> datetime:
    """When ``message`` stops being worth sending."""
    return message.created_at + timedelta(seconds=settings.validity)


def expired(message: Claimed) -> Decision:
    """``message`` fails with 916: it could not be sent within its validity."""
    return _failed(message, EXPIRED, "expired: not sent within its validity period")


def _failed(message: Claimed, code: str, reason: str) -> Decision:
    return Decision(
        message.id,
        MessageStatus.FAILED,
        "failed",
        message.attempts,
        code=code,
        description=reason,
        payload={"attempt": message.attempts},
    )


def verdict(results: Sequence[SendResult]) -> tuple[Verdict, str | None]:
    """What the results of one ``send_batch`` say about the vendor, with the reason."""
    for result in results:
        if result.vendor_unusable:
            return Verdict.UNUSABLE, result.reason
    if any(r.outcome in (Outcome.SUBMITTED, Outcome.FAILED) for r in results):
        return Verdict.HEALTHY, None
    if results:
        return Verdict.FAILING, results[0].reason
    return Verdict.NEUTRAL, None


def _clip(text: str | None, limit: int = _REASON_LIMIT) -> str | None:
    return None if text is None else text[:limit]
