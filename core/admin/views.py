"""How rows are shown to operators: one set of models for the API, the dashboard and the CLI.

The admin API's OpenAPI schemas are generated from these models, so the document and the
answers cannot drift apart. Times are timezone-aware UTC and serialise as ISO 8601.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ActionResult",
    "CancelRequest",
    "CircuitView",
    "ErrorBody",
    "EventView",
    "MessageDetail",
    "MessagePage",
    "MessageSummary",
    "NicknameStats",
    "Overview",
    "RelayPage",
    "RelayView",
    "RetryRequest",
    "WindowStats",
]

_ROWS = ConfigDict(from_attributes=True)


class EventView(BaseModel):
    """One event on a message's timeline, with the vendor's or CleverTap's raw fields."""

    model_config = _ROWS

    id: int
    #: ``accepted``, ``sending``, ``submitted``, ``delivered``, ``retried`` (by an operator) …
    kind: str
    #: The status the event moved the message to, if it moved it.
    status: str | None
    code: str | None
    description: str | None
    #: Raw fields, secrets masked.
    payload: dict[str, Any]
    #: When it happened, by the clock of whoever reported it.
    occurred_at: datetime
    #: When smsgate stored it.
    recorded_at: datetime


class RelayView(BaseModel):
    """One record for CleverTap's callback URL and where it stands."""

    model_config = _ROWS

    id: int
    message_pk: int
    #: CleverTap's ``$$MessageID`` of the message (``meta`` in the record).
    message_id: str | None = None
    nickname: str
    #: ``delivered``, ``failed``, ``clicked`` or ``replied``.
    event: str
    #: ``pending``, ``done``, ``dead`` (refused, kept for operators) or ``given_up``.
    state: str
    attempts: int
    #: Exactly what CleverTap receives under ``data``.
    record: dict[str, Any]
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    done_at: datetime | None


class MessageSummary(BaseModel):
    """A message as search results list it."""

    model_config = _ROWS

    #: smsgate's own id: what the API's paths and the CLI take.
    id: int
    nickname: str
    #: The nickname whose vendor sends it (differs from ``nickname`` after a fallback).
    route: str | None
    #: CleverTap's ``$$MessageID``, byte for byte.
    message_id: str
    #: False when CleverTap sent no message id: no report can reach CleverTap for it.
    tracked: bool
    #: The number in E.164 (empty for a record rejected at intake; see ``raw_to``).
    to: str
    campaign_id: str | None
    template_id: str | None
    status: str
    failure_code: str | None
    failure_description: str | None
    vendor_id: str | None
    attempts: int
    segments: int
    encoding: str
    created_at: datetime
    updated_at: datetime


class MessageDetail(MessageSummary):
    """One message with everything known about it."""

    #: The number as CleverTap sent it.
    raw_to: str
    body: str | None
    template_variables: str | None
    extras: dict[str, str]
    next_attempt_at: datetime
    #: Oldest first.
    events: list[EventView] = Field(default_factory=list)
    relays: list[RelayView] = Field(default_factory=list)
    #: What an operator may do now: ``retry`` (send again), ``resend`` (send again though
    #: the vendor may have it), ``cancel`` (fail it and tell CleverTap).
    actions: list[str] = Field(default_factory=list)


class MessagePage(BaseModel):
    """One page of messages, newest first."""

    items: list[MessageSummary]
    #: Pass it as ``cursor`` for the next (older) page; ``null`` on the last page.
    next_cursor: str | None


class RelayPage(BaseModel):
    """One page of relay records, newest first."""

    items: list[RelayView]
    next_cursor: str | None


class CircuitView(BaseModel):
    """A nickname's circuit breaker, shared by every process."""

    #: ``closed`` (sending), ``open`` (paused after failures) or ``half_open`` (probing).
    state: str
    #: Consecutive failed batches.
    failures: int = 0
    reason: str | None = None
    #: When the current outage began.
    open_since: datetime | None = None


class WindowStats(BaseModel):
    """Messages CleverTap sent in a time window, by their status now."""

    #: Every status, zero included.
    counts: dict[str, int]
    total: int
    #: delivered ÷ (delivered + failed); ``null`` while none is final.
    delivery_rate: float | None
    #: Seconds from the vendor's acceptance to the final delivery report reaching smsgate.
    dlr_p50_seconds: float | None
    dlr_p95_seconds: float | None
    #: How many final reports the latency figures are computed from.
    dlr_samples: int


class NicknameStats(BaseModel):
    """The overview's figures for one nickname."""

    nickname: str
    plugin: str | None
    #: False for a nickname found in the database but no longer in the configuration.
    configured: bool
    #: Why its plugin cannot work, if it cannot.
    broken: str | None
    circuit: CircuitView
    #: Messages waiting to be sent through this nickname's vendor (its route).
    queue_depth: int
    sending: int
    #: Messages whose fate at this vendor is unknown; never resent without an operator.
    unknown: int
    #: Age in seconds of the oldest message waiting to be sent.
    oldest_waiting_seconds: float | None
    #: Records waiting to reach CleverTap.
    relay_backlog: int
    #: Records CleverTap refused or that ran out of retries.
    dead_relays: int
    #: Delivery reports that match no message yet.
    unmatched_reports: int
    last_hour: WindowStats
    last_day: WindowStats


class Overview(BaseModel):
    """Every nickname's figures at ``generated_at``, and the gateway's as a whole."""

    generated_at: datetime
    nicknames: list[NicknameStats]
    #: Every nickname together.
    all_last_hour: WindowStats
    all_last_day: WindowStats


class ActionResult(BaseModel):
    """What an action did, and the row as it is now."""

    #: One sentence for the operator.
    done: str
    message: MessageSummary | None = None
    relay: RelayView | None = None


class RetryRequest(BaseModel):
    """The body of ``POST /api/messages/{id}/retry`` (may be empty)."""

    model_config = ConfigDict(extra="forbid")

    #: Required for an ``unknown`` message: the vendor may have it, so sending it again may
    #: deliver it twice. Without it an unknown message is never resent.
    resend_unknown: bool = False


class CancelRequest(BaseModel):
    """The body of ``POST /api/messages/{id}/cancel`` (may be empty)."""

    model_config = ConfigDict(extra="forbid")

    #: The CleverTap failure code reported for it: 900-920 without 911.
    code: str = Field(default="900", pattern=r"^9(0\d|1[02-9]|20)$")
    #: What CleverTap is told; a default sentence names the operator's cancel.
    description: str | None = Field(default=None, max_length=512)


class ErrorBody(BaseModel):
    """Every refusal: what is wrong and what to do."""

    error: str
