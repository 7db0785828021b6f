"""The tables: messages (the queue and the record) and their append-only events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, :meth:`process_bind_param` and the text SQLAlchemy stores, in one step.

        A delivery report binds seven datetimes, a stored message three. SQLAlchemy's
        SQLite formatting is a ``%`` template over a dict of the fields, after our
        conversion; ``isoformat`` writes the same text, ``YYYY-MM-DD HH:MM:SS.ffffff``, in
        one call (3.5 → 2.3 µs a datetime, measured).
        """
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given; use datetime.now(UTC)")
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


#: 64-bit ids, except on SQLite where only INTEGER PRIMARY KEY auto-increments.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


class MessageStatus(StrEnum):
    """Where a message stands. Statuses only move up in :data:`STATUS_RANK`."""

    ACCEPTED = "accepted"  # stored, waiting for a dispatch worker
    SENDING = "sending"  # claimed by a worker under a lease
    UNKNOWN = "unknown"  # may have reached the vendor; must be learned, not resent
    SUBMITTED = "submitted"  # the vendor took it
    BUFFERED = "buffered"  # the vendor or network reported it in transit
    DELIVERED = "delivered"
    FAILED = "failed"


#: Ranks for the conditional ``UPDATE … WHERE status_rank < :new``; 100 and up are final.
STATUS_RANK: dict[MessageStatus, int] = {
    MessageStatus.ACCEPTED: 0,
    MessageStatus.SENDING: 10,
    MessageStatus.UNKNOWN: 15,
    MessageStatus.SUBMITTED: 20,
    MessageStatus.BUFFERED: 30,
    MessageStatus.DELIVERED: 100,
    MessageStatus.FAILED: 100,
}
FINAL_RANK = 100


def _own_nickname(context: DefaultExecutionContext) -> Any:
    # A new message is sent by its own nickname's plugin until a fallback moves it.
    return context.get_current_parameters()["nickname"]  # type: ignore[no-untyped-call]


class Message(SQLModel, table=True):
    """One SMS from CleverTap: its content, its place in the queue and its fate."""

    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("nickname", "message_id", name="uq_messages_nickname_message_id"),
        sa.Index("ix_messages_queue", "status_rank", "next_attempt_at"),
        sa.Index("ix_messages_vendor_id", "vendor_id"),
        sa.Index("ix_messages_route_queue", "route", "status_rank", "next_attempt_at"),
        # Operators' searches and time windows (see migration 0004).
        sa.Index("ix_messages_to", "to", "id"),
        sa.Index("ix_messages_campaign", "campaign_id", "id"),
        sa.Index("ix_messages_created", "created_at"),
    )

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    nickname: str = Field(max_length=63)
    #: The nickname whose plugin sends it: ``nickname`` unless a fallback moved it; reports
    #: to CleverTap always go through ``nickname``. Filled on insert, never NULL (nullable
    #: only so that SQLite could add the column in place).
    route: str | None = Field(
        default=None, max_length=63, sa_column_kwargs={"default": _own_nickname}
    )
    #: CleverTap's ``$$MessageID``, byte for byte; generated when CleverTap sent none.
    message_id: str = Field(max_length=255)
    #: False when smsgate generated the id: no report can reach CleverTap for it.
    tracked: bool = True
    to: str = Field(max_length=32)
    raw_to: str = Field(max_length=64)
    body: str | None = Field(default=None, sa_type=sa.Text)
    template_id: str | None = Field(default=None, max_length=64)
    template_variables: str | None = Field(default=None, sa_type=sa.Text)
    campaign_id: str | None = Field(default=None, max_length=128)
    extras: dict[str, str] = Field(default_factory=dict, sa_type=sa.JSON)
    encoding: str = Field(max_length=8)
    segments: int = 1
    status: str = Field(default=MessageStatus.ACCEPTED, max_length=16)
    status_rank: int = 0
    vendor_id: str | None = Field(default=None, max_length=128)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failure_code: str | None = Field(default=None, max_length=8)
    failure_description: str | None = Field(default=None, max_length=512)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MessageEvent(SQLModel, table=True):
    """Something that happened to a message. Rows are only ever added."""

    __tablename__ = "message_events"
    __table_args__ = (
        sa.Index("ix_message_events_message", "message_pk", "id"),
        sa.Index("ix_message_events_recorded", "recorded_at"),
    )

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    message_pk: int = Field(sa_type=BigId, foreign_key="messages.id", ondelete="CASCADE")
    #: What happened: ``accepted``, ``rejected``, ``submitted``, ``delivered`` …
    kind: str = Field(max_length=32)
    status: str | None = Field(default=None, max_length=16)
    code: str | None = Field(default=None, max_length=8)
    description: str | None = Field(default=None, max_length=512)
    #: The vendor's or CleverTap's own words, secrets masked.
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProviderState(SQLModel, table=True):
    """A nickname's dispatch throttle, shared by every process: token bucket and circuit."""

    __tablename__ = "provider_state"

    nickname: str = Field(max_length=63, primary_key=True)
    #: SMS segments that may be sent right now (negative after an over-long message).
    tokens: float = 0.0
    refilled_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    #: ``closed``, ``open`` or ``half_open``.
    circuit: str = Field(default="closed", max_length=16)
    #: Consecutive failed batches.
    failures: int = 0
    opened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    open_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    open_reason: str | None = Field(default=None, max_length=512)
    unusable: bool = False
    probe_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DeliveryInbox(SQLModel, table=True):
    """A delivery report that matches no sent message yet; waits for its send result.

    Rows are deleted when matched (the report then lives on as a :class:`MessageEvent`),
    and purged unmatched after ``[gateway.delivery] inbox_retention`` (72 h by default).
    """

    __tablename__ = "delivery_inbox"
    __table_args__ = (
        sa.Index("ix_delivery_inbox_vendor", "nickname", "vendor_id"),
        sa.Index("ix_delivery_inbox_received", "received_at"),
    )

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    #: The nickname whose callback URL (or status lookup) brought it: the message's route.
    nickname: str = Field(max_length=63)
    vendor_id: str = Field(max_length=128)
    #: The recipient the report names, if any (to tell apart numbers under one vendor id).
    to: str | None = Field(default=None, max_length=32)
    #: ``delivered``, ``failed``, ``buffered``, ``clicked`` or ``replied``.
    kind: str = Field(max_length=16)
    #: The normalised event with the vendor's raw fields, secrets masked.
    event: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    #: ``callback`` or ``lookup``.
    source: str = Field(default="callback", max_length=16)
    #: Why it is still waiting (no such vendor id yet, or several messages under it).
    reason: str | None = Field(default=None, max_length=512)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RelayOutbox(SQLModel, table=True):
    """One event to tell CleverTap about one message.

    At most one row per (message, event, occurrence): one ``delivered`` or ``failed`` per
    message, one ``clicked`` or ``replied`` per distinct click or reply.
    """

    __tablename__ = "relay_outbox"
    __table_args__ = (
        sa.UniqueConstraint("message_pk", "event", "occurrence", name="uq_relay_outbox_occurrence"),
        sa.Index("ix_relay_outbox_due", "state", "nickname", "next_attempt_at"),
    )

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    message_pk: int = Field(sa_type=BigId, foreign_key="messages.id", ondelete="CASCADE")
    #: The message's own nickname: whose ``clevertap_callback_url`` receives it.
    nickname: str = Field(max_length=63)
    #: CleverTap's event: ``delivered``, ``failed``, ``clicked`` or ``replied``.
    event: str = Field(max_length=16)
    #: Which click or reply this is: a digest of its record (time and content), so that a
    #: vendor's repeat of one reply adds nothing and a second reply is relayed too. Empty
    #: for ``delivered`` and ``failed``, which happen once per message.
    occurrence: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    #: The record exactly as CleverTap receives it under ``data`` (ts, meta, …).
    record: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    #: ``pending`` (waiting or leased), ``done`` or ``dead`` (refused; not retried).
    state: str = Field(default="pending", max_length=16)
    #: POSTs tried so far.
    attempts: int = 0
    #: When a pending row is due; while a worker holds it, the end of its lease.
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=64)
    #: The last failure, or CleverTap's reason for a dead row.
    last_error: str | None = Field(default=None, max_length=512)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
