"""Applying one matched report to its message: a monotonic status, an event, a relay row.

Statuses only move up :data:`~smsgate.storage.models.STATUS_RANK`, with one conditional
statement, ``UPDATE messages … WHERE id = :id AND status_rank < :new``, so concurrent
reports for one message cannot race: the database decides which one moves it, and a
report that arrives late (``buffered`` after ``delivered``), twice, or after another final
report (the first final one wins) changes nothing. A failure code is written with
``COALESCE(:code, failure_code)``, so a report without a code never erases a stored one.

Every report is kept as a :class:`~smsgate.storage.models.MessageEvent` whether or not it
moved the status (``payload.applied`` says which), with the vendor's raw fields, secrets
masked. A report that moved the message to ``delivered`` or ``failed`` queues CleverTap's
record in the same transaction; ``clicked`` and ``replied`` are queued without touching the
status (the first of each per message; CleverTap does not deduplicate).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smsgate.delivery import clevertap
from smsgate.delivery.outbox import enqueue_record
from smsgate.delivery.reports import OTHER_ERROR, Report
from smsgate.storage.models import STATUS_RANK, Message, MessageEvent, MessageStatus
from smsgate.types import EventKind

__all__ = ["Target", "apply_report"]

MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]

#: The status each kind of report moves a message to; clicks and replies move none.
_STATUS = {
    EventKind.BUFFERED: MessageStatus.BUFFERED,
    EventKind.DELIVERED: MessageStatus.DELIVERED,
    EventKind.FAILED: MessageStatus.FAILED,
}


@dataclass(frozen=True, slots=True)
class Target:
    """The message a report is about, as matching found it."""

    id: int
    nickname: str
    message_id: str
    tracked: bool
    failure_code: str | None = None


def apply_report(
    connection: Connection,
    target: Target,
    report: Report,
    now: datetime,
    *,
    extra: dict[str, Any] | None = None,
) -> bool:
    """Apply ``report`` to ``target`` inside the caller's transaction; True if it moved it."""
    status = _STATUS.get(report.kind)
    applied = False
    if status is not None:
        rank = STATUS_RANK[status]
        values: dict[str, Any] = {"status": status.value, "status_rank": rank, "updated_at": now}
        if status is MessageStatus.FAILED:
            values["failure_code"] = sa.func.coalesce(report.code, MESSAGES.c.failure_code)
            values["failure_description"] = sa.func.coalesce(
                report.description or report.vendor_status, MESSAGES.c.failure_description
            )
        result = connection.execute(
            sa.update(MESSAGES)
            .where(MESSAGES.c.id == target.id, MESSAGES.c.status_rank < rank)
            .values(values)
            .execution_options(preserve_rowcount=True)
        )
        applied = result.rowcount == 1
    connection.execute(
        sa.insert(EVENTS).values(
            message_pk=target.id,
            kind=report.kind.value,
            status=status.value if applied and status is not None else None,
            code=report.code,
            description=report.description,
            payload={**report.payload(), "applied": applied, **(extra or {})},
            occurred_at=report.occurred_at,
            recorded_at=now,
        )
    )
    relayed = applied and status in (MessageStatus.DELIVERED, MessageStatus.FAILED)
    if target.tracked and (relayed or report.kind in (EventKind.CLICKED, EventKind.REPLIED)):
        record = _record(target, report)
        if record is not None:
            enqueue_record(connection, [(target.id, target.nickname, *record)], now)
    return applied


def _record(target: Target, report: Report) -> tuple[str, dict[str, Any]] | None:
    ts = clevertap.epoch_seconds(report.occurred_at)
    meta = target.message_id
    kind = report.kind
    if kind is EventKind.DELIVERED:
        words = report.description or report.vendor_status
        return "delivered", clevertap.delivered_record(meta, ts, words)
    if kind is EventKind.FAILED:
        code = report.code or target.failure_code or OTHER_ERROR
        words = report.description or report.vendor_status
        return "failed", clevertap.failed_record(meta, ts, code, words)
    if kind is EventKind.CLICKED:
        url = report.url or report.short_url
        if url is None:
            return None
        return "clicked", clevertap.clicked_record(meta, ts, url, report.short_url)
    if kind is EventKind.REPLIED:
        text = report.incoming_text or ""
        return "replied", clevertap.replied_record(meta, ts, text, report.to_phone)
    return None
