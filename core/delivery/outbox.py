"""The relay outbox: what CleverTap is still to hear, one row per event to tell.

Rows are added in the same transaction as the status change they report, so a report is
never stored without its relay row, nor the other way round. The unique ``(message_pk,
event, occurrence)`` triple makes each event reach CleverTap once however often it is
enqueued: a duplicate vendor report, a second process, a retried transaction all hit the
constraint and add nothing. ``delivered`` and ``failed`` have an empty occurrence (one per
message: the first final report wins); a click or a reply has the digest of its record, its
time and content (:func:`occurrence`), so that every distinct click and reply is relayed
once, a ``STOP`` after a ``YES`` included.

Every path into a final status calls :func:`enqueue_relay` in its own transaction: the
intake's rejects (:mod:`smsgate.storage.intake`), the dispatcher's final failures and
expiries (:mod:`smsgate.dispatch.queue`), and delivery reports
(:mod:`smsgate.delivery.status`). Untracked messages (no ``$$MessageID`` from CleverTap) are
never enqueued: CleverTap could not attribute them.

Claiming: due rows of one nickname are picked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
that several processes never pick the same row; under SQLite's ``BEGIN IMMEDIATE`` one
writer at a time) and leased by moving ``next_attempt_at`` to the end of the lease, with
``lease_owner`` set; the claim commits before the POST. A worker that dies mid-POST simply
lets its lease run out and the rows become due again. Results are written only where the
row is still ours (``lease_owner = :me``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from smsgate.delivery import clevertap
from smsgate.delivery.reports import CLEVERTAP_CODE, OTHER_ERROR
from smsgate.storage.database import reading
from smsgate.storage.models import Message, MessageStatus, RelayOutbox

__all__ = [
    "DEAD",
    "DONE",
    "PENDING",
    "Leased",
    "Outcome",
    "claim",
    "due_nicknames",
    "enqueue_record",
    "enqueue_relay",
    "occurrence",
    "purge_done",
    "settle",
]

MESSAGES = Message.__table__  # type: ignore[attr-defined]
OUTBOX = RelayOutbox.__table__  # type: ignore[attr-defined]

PENDING = "pending"
DONE = "done"
DEAD = "dead"

_FINAL = {MessageStatus.DELIVERED.value: "delivered", MessageStatus.FAILED.value: "failed"}
#: CleverTap's events that may happen more than once to one message.
_REPEATABLE = frozenset({"clicked", "replied"})
#: ``state = 'pending'`` for statements that pick rows by id. Written as an expression, not
#: the column: with a list of ids and ``state = ?``, SQLite (which has no statistics on its
#: own) walks the pending part of the due index, the whole backlog, instead of looking the
#: ids up, and every claim and settle costs as much as the backlog (measured: 25 ms per 100
#: records with 200,000 pending, against 2 ms).
_STILL_PENDING = sa.func.coalesce(OUTBOX.c.state, "") == PENDING
#: The insert of :func:`enqueue_record`, for SQLite (False) and PostgreSQL (True); built once
#: so that SQLAlchemy finds its compiled form in its cache.
_ENQUEUE = {
    is_postgresql: dialect.insert(OUTBOX)
    .on_conflict_do_nothing(index_elements=["message_pk", "event", "occurrence"])
    .execution_options(preserve_rowcount=True)
    for is_postgresql, dialect in ((False, sqlite), (True, postgresql))
}


def enqueue_relay(
    connection: Connection,
    message_pks: Sequence[int],
    now: datetime,
    *,
    occurred_at: datetime | None = None,
) -> int:
    """Queue CleverTap's ``delivered`` / ``failed`` record for messages now in a final status.

    Call it in the transaction that made the status final, after the update. Messages that
    are not final, or untracked, are skipped; one already queued is left as it is.
    ``failed`` records carry the message's ``failure_code`` (900 when it is missing or not
    a code CleverTap accepts) and ``failure_description``. ``ts`` is ``occurred_at``
    (default ``now``): when the failure happened.

    :returns: the number of rows added.
    """
    if not message_pks:
        return 0
    rows = connection.execute(
        sa.select(
            MESSAGES.c.id,
            MESSAGES.c.nickname,
            MESSAGES.c.message_id,
            MESSAGES.c.status,
            MESSAGES.c.failure_code,
            MESSAGES.c.failure_description,
        ).where(
            MESSAGES.c.id.in_(sorted(set(message_pks))),
            MESSAGES.c.tracked.is_(True),
            MESSAGES.c.status.in_(list(_FINAL)),
        )
    ).all()
    ts = clevertap.epoch_seconds(occurred_at or now)
    entries = []
    for row in rows:
        event = _FINAL[row.status]
        if event == "failed":
            code = (
                row.failure_code
                if row.failure_code and CLEVERTAP_CODE.fullmatch(row.failure_code)
                else OTHER_ERROR
            )
            record = clevertap.failed_record(row.message_id, ts, code, row.failure_description)
        else:
            record = clevertap.delivered_record(row.message_id, ts, None)
        entries.append((row.id, row.nickname, event, record))
    return enqueue_record(connection, entries, now)


def enqueue_record(
    connection: Connection,
    entries: Sequence[tuple[int, str, str, Mapping[str, Any]]],
    now: datetime,
) -> int:
    """Queue ``(message_pk, nickname, event, record)`` rows; one already queued is kept as is.

    "Already queued" means: the same message's ``delivered`` or ``failed``, whatever its
    record says, or a click or reply with the same :func:`occurrence`.
    """
    if not entries:
        return 0
    values = [
        {
            "message_pk": pk,
            "nickname": nickname,
            "event": event,
            "occurrence": occurrence(event, record),
            "record": dict(record),
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "lease_owner": None,
            "last_error": None,
            "created_at": now,
            "updated_at": now,
            "done_at": None,
        }
        for pk, nickname, event, record in entries
    ]
    statement = _ENQUEUE[connection.dialect.name == "postgresql"]
    return int(connection.execute(statement, values).rowcount)


def occurrence(event: str, record: Mapping[str, Any]) -> str:
    """What tells one ``clicked`` or ``replied`` record from another of the same message.

    The digest of the whole record (``ts``, the URL or the reply text and number): a vendor
    sending the same click twice gives the same occurrence, a second click at another time
    another one. Empty for ``delivered`` and ``failed``, which happen once per message.
    """
    if event not in _REPEATABLE:
        return ""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Leased:
    """An outbox row claimed by a worker: what to send and how often it was tried."""

    id: int
    message_pk: int
    event: str
    record: Mapping[str, Any]
    #: POSTs tried, this one included.
    attempts: int
    created_at: datetime


def due_nicknames(engine: Engine, now: datetime) -> list[str]:
    """Nicknames with pending rows due now."""
    with reading(engine).connect() as connection:
        return list(
            connection.execute(
                sa.select(OUTBOX.c.nickname)
                .where(OUTBOX.c.state == PENDING, OUTBOX.c.next_attempt_at <= now)
                .distinct()
            ).scalars()
        )


def claim(
    engine: Engine, nickname: str, *, owner: str, now: datetime, limit: int, lease: float
) -> list[Leased]:
    """Lease up to ``limit`` due rows of ``nickname`` to ``owner``, oldest first."""
    with engine.begin() as connection:
        rows = connection.execute(
            sa.select(
                OUTBOX.c.id,
                OUTBOX.c.message_pk,
                OUTBOX.c.event,
                OUTBOX.c.record,
                OUTBOX.c.attempts,
                OUTBOX.c.created_at,
            )
            .where(
                OUTBOX.c.state == PENDING,
                OUTBOX.c.nickname == nickname,
                OUTBOX.c.next_attempt_at <= now,
            )
            .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return []
        connection.execute(
            sa.update(OUTBOX)
            .where(OUTBOX.c.id.in_([row.id for row in rows]), _STILL_PENDING)
            .values(
                lease_owner=owner,
                next_attempt_at=now + timedelta(seconds=lease),
                attempts=OUTBOX.c.attempts + 1,
                updated_at=now,
            )
        )
    return [
        Leased(
            id=row.id,
            message_pk=row.message_pk,
            event=row.event,
            record=row.record,
            attempts=row.attempts + 1,
            created_at=row.created_at,
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a leased batch: done rows, dead rows and rows to try again."""

    done: Sequence[int] = ()
    #: row id -> CleverTap's reason (or ours) for refusing it.
    dead: Mapping[int, str] | None = None
    #: row id -> (when to try again, what went wrong).
    retry: Mapping[int, tuple[datetime, str]] | None = None


def settle(engine: Engine, outcome: Outcome, *, owner: str, now: datetime) -> int:
    """Write ``outcome`` for the rows ``owner`` still holds; the number of rows written."""
    mine = sa.and_(OUTBOX.c.lease_owner == owner, _STILL_PENDING)
    written = 0
    with engine.begin() as connection:
        if outcome.done:
            written += connection.execute(
                sa.update(OUTBOX)
                .where(OUTBOX.c.id.in_(list(outcome.done)), mine)
                # An earlier attempt's error no longer describes a record CleverTap took.
                .values(state=DONE, lease_owner=None, last_error=None, done_at=now, updated_at=now)
                .execution_options(preserve_rowcount=True)
            ).rowcount
        if outcome.dead:
            written += connection.execute(
                sa.update(OUTBOX)
                .where(OUTBOX.c.id == sa.bindparam("b_id"), mine)
                .values(
                    state=DEAD,
                    lease_owner=None,
                    last_error=sa.bindparam("b_error"),
                    updated_at=now,
                )
                .execution_options(preserve_rowcount=True),
                [{"b_id": pk, "b_error": reason[:512]} for pk, reason in outcome.dead.items()],
            ).rowcount
        if outcome.retry:
            written += connection.execute(
                sa.update(OUTBOX)
                .where(OUTBOX.c.id == sa.bindparam("b_id"), mine)
                .values(
                    lease_owner=None,
                    next_attempt_at=sa.bindparam("b_next", type_=OUTBOX.c.next_attempt_at.type),
                    last_error=sa.bindparam("b_error"),
                    updated_at=now,
                )
                .execution_options(preserve_rowcount=True),
                [
                    {"b_id": pk, "b_next": when, "b_error": reason[:512]}
                    for pk, (when, reason) in outcome.retry.items()
                ],
            ).rowcount
    return int(written)


def purge_done(engine: Engine, before: datetime) -> int:
    """Delete rows relayed before ``before``; dead rows stay for operators."""
    with engine.begin() as connection:
        return int(
            connection.execute(
                sa.delete(OUTBOX)
                .where(OUTBOX.c.state == DONE, OUTBOX.c.done_at < before)
                .execution_options(preserve_rowcount=True)
            ).rowcount
        )
