"""Applying matched reports to their messages: a monotonic status, an event, a relay row.

Statuses only move up :data:`~smsgate.storage.models.STATUS_RANK`. The matching step reads
each message's rank under a row lock (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` holds the one write lock for the whole transaction), so the reports of
a transaction are applied in order against the stored state as if one after another: a
report that arrives late (``buffered`` after ``delivered``), twice, or after another final
report (the first final one wins) changes nothing. The writes are then a few statements
whatever the number of reports: one conditional ``UPDATE messages … WHERE id = :id AND
status_rank < :new`` per target status, run for every message it moves (the condition
holds under the lock and guards it all the same), one insert of all the events, one of
all the relay rows. A failure code is written with ``COALESCE(:code, failure_code)``, so
a report without a code never erases a stored one.

Every report is kept as a :class:`~smsgate.storage.models.MessageEvent` whether or not it
moved the status (``payload.applied`` says which), with the vendor's raw fields, secrets
masked. A report that moved the message to ``delivered`` or ``failed`` queues CleverTap's
record in the same transaction; ``clicked`` and ``replied`` are queued without touching the
status, each distinct click and reply once (a vendor's repeat of one is recognised by its
time and content, :func:`smsgate.delivery.outbox.occurrence`; CleverTap does not
deduplicate).
"""

from __future__ import annotations

from collections.abc import Sequence
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

__all__ = ["Target", "apply_report", "apply_reports"]

MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]

#: The status each kind of report moves a message to; clicks and replies move none.
_STATUS = {
    EventKind.BUFFERED: MessageStatus.BUFFERED,
    EventKind.DELIVERED: MessageStatus.DELIVERED,
    EventKind.FAILED: MessageStatus.FAILED,
}
_FINAL = (MessageStatus.DELIVERED, MessageStatus.FAILED)


def _status_update(status: MessageStatus) -> sa.Update:
    values: dict[str, Any] = {
        "status": status.value,
        "status_rank": sa.bindparam("b_rank"),
        "updated_at": sa.bindparam("b_now", type_=MESSAGES.c.updated_at.type),
    }
    if status is MessageStatus.FAILED:
        values["failure_code"] = sa.func.coalesce(
            sa.bindparam("b_code", type_=MESSAGES.c.failure_code.type), MESSAGES.c.failure_code
        )
        values["failure_description"] = sa.func.coalesce(
            sa.bindparam("b_description", type_=MESSAGES.c.failure_description.type),
            MESSAGES.c.failure_description,
        )
    return (
        sa.update(MESSAGES)
        .where(
            MESSAGES.c.id == sa.bindparam("b_id"),
            MESSAGES.c.status_rank < sa.bindparam("b_rank"),
        )
        .values(values)
    )


# Built once, so that SQLAlchemy finds their compiled forms in its cache (see matching).
_UPDATES = {status: _status_update(status) for status in _STATUS.values()}
_INSERT_EVENTS = sa.insert(EVENTS)
_RANKS = (
    sa.select(MESSAGES.c.id, MESSAGES.c.status_rank)
    .where(MESSAGES.c.id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(MESSAGES.c.id)
    .with_for_update()
)


@dataclass(frozen=True, slots=True)
class Target:
    """The message a report is about, as matching found it (and locked it).

    :param status_rank: the stored rank; ``None`` when the caller did not read it, and
        :func:`apply_reports` reads it (under the lock) itself.
    """

    id: int
    nickname: str
    message_id: str
    tracked: bool
    failure_code: str | None = None
    status_rank: int | None = None


@dataclass(slots=True)
class _Moving:
    """One message as the reports of this transaction leave it."""

    rank: int
    failure_code: str | None
    status: MessageStatus | None = None
    #: The failing report that moved it, whose code and words are written.
    failure: Report | None = None


def apply_report(
    connection: Connection,
    target: Target,
    report: Report,
    now: datetime,
    *,
    extra: dict[str, Any] | None = None,
) -> bool:
    """Apply one report inside the caller's transaction; True if it moved the message."""
    return apply_reports(connection, [(target, report, extra)], now)[0]


def apply_reports(
    connection: Connection,
    items: Sequence[tuple[Target, Report, dict[str, Any] | None]],
    now: datetime,
) -> list[bool]:
    """Apply ``(target, report, extra)`` items in order, inside the caller's transaction.

    The targets must be locked by the caller (see the module docstring). Returns, per item,
    whether its report moved its message's status.
    """
    if not items:
        return []
    ranks = _stored_ranks(connection, [t.id for t, _, _ in items if t.status_rank is None])
    moving: dict[int, _Moving] = {}
    applied_flags: list[bool] = []
    events: list[dict[str, Any]] = []
    records: list[tuple[int, str, str, dict[str, Any]]] = []
    for target, report, extra in items:
        state = moving.get(target.id)
        if state is None:
            rank = target.status_rank if target.status_rank is not None else ranks[target.id]
            state = moving[target.id] = _Moving(rank, target.failure_code)
        status = _STATUS.get(report.kind)
        applied = status is not None and state.rank < STATUS_RANK[status]
        # The code a failed record falls back on is the one stored before this report.
        code_before = state.failure_code
        if applied:
            assert status is not None
            state.rank = STATUS_RANK[status]
            state.status = status
            if status is MessageStatus.FAILED:
                state.failure = report
                state.failure_code = report.code or state.failure_code
        applied_flags.append(applied)
        events.append(
            {
                "message_pk": target.id,
                "kind": report.kind.value,
                "status": status.value if applied and status is not None else None,
                "code": report.code,
                "description": report.description,
                "payload": {**report.payload(), "applied": applied, **(extra or {})},
                "occurred_at": report.occurred_at,
                "recorded_at": now,
            }
        )
        relayed = applied and status in _FINAL
        if target.tracked and (relayed or report.kind in (EventKind.CLICKED, EventKind.REPLIED)):
            record = _record(target, report, code_before)
            if record is not None:
                records.append((target.id, target.nickname, *record))
    _write_statuses(connection, moving, now)
    connection.execute(_INSERT_EVENTS, events)
    enqueue_record(connection, records, now)
    return applied_flags


def _stored_ranks(connection: Connection, ids: Sequence[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = connection.execute(_RANKS, {"ids": sorted(set(ids))}).all()
    return {row.id: row.status_rank for row in rows}


def _write_statuses(connection: Connection, moving: dict[int, _Moving], now: datetime) -> None:
    by_status: dict[MessageStatus, list[dict[str, Any]]] = {}
    for pk, state in sorted(moving.items()):
        if state.status is None:
            continue
        params: dict[str, Any] = {"b_id": pk, "b_rank": state.rank, "b_now": now}
        if state.status is MessageStatus.FAILED and state.failure is not None:
            params["b_code"] = state.failure.code
            params["b_description"] = state.failure.description or state.failure.vendor_status
        by_status.setdefault(state.status, []).append(params)
    for status, rows in by_status.items():
        connection.execute(_UPDATES[status], rows)


def _record(
    target: Target, report: Report, stored_code: str | None
) -> tuple[str, dict[str, Any]] | None:
    ts = clevertap.epoch_seconds(report.occurred_at)
    meta = target.message_id
    kind = report.kind
    if kind is EventKind.DELIVERED:
        words = report.description or report.vendor_status
        return "delivered", clevertap.delivered_record(meta, ts, words)
    if kind is EventKind.FAILED:
        code = report.code or stored_code or OTHER_ERROR
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
