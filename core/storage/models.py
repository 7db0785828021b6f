"""The tables: messages (the queue and the record) and their append-only events."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
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


class Message(SQLModel, table=True):
    """One SMS from CleverTap: its content, its place in the queue and its fate."""

    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("nickname", "message_id", name="uq_messages_nickname_message_id"),
        sa.Index("ix_messages_queue", "status_rank", "next_attempt_at"),
        sa.Index("ix_messages_vendor_id", "vendor_id"),
    )

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    nickname: str = Field(max_length=63)
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
    __table_args__ = (sa.Index("ix_message_events_message", "message_pk", "id"),)

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
