"""Asking the vendor about messages whose final report never came, and when to stop.

A message the vendor accepted (``submitted``, or ``buffered`` by an intermediate report)
and still without a final report ``lookup_after`` seconds later is looked up through its
route's plugin (the optional ``lookup_status`` hook), then again at doubling intervals: a
message of age *a* is next asked about after another *a* (15 min, 30 min, 1 h, 2 h …), so a
vendor that never answers costs a handful of requests per message, not one a minute. What a
lookup learns is stored exactly like a pushed report (:func:`~smsgate.delivery.matching.
store_reports`).

Between lookups, a submitted message's ``next_attempt_at`` says when it was last asked
about (at first: when it was submitted). The dispatcher only reads that column for
``accepted`` messages, so the two uses never meet.

When nothing is ever learned, nothing is invented. Once a message is older than the
dispatch ``validity`` plus ``lookup_grace`` it is no longer looked up: it stays
``submitted`` (or ``buffered``) and :func:`stale_messages` lists it for operators. It is
not reported ``failed`` to CleverTap: the vendor took it, and it may well have reached the
phone; a made-up failure would count a delivered SMS as lost in the campaign's figures and
could not be taken back if the real report turned up. A report that does turn up later is
still applied and relayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from smsgate.storage.database import reading
from smsgate.storage.models import STATUS_RANK, Message, MessageStatus
from smsgate.types import SubmittedMessage

__all__ = ["LOOKED_UP", "Stale", "claim_lookups", "stale_messages"]

MESSAGES = Message.__table__  # type: ignore[attr-defined]

#: The statuses that still wait for a final report.
LOOKED_UP = (MessageStatus.SUBMITTED, MessageStatus.BUFFERED)
_RANKS = [STATUS_RANK[status] for status in LOOKED_UP]
_STATUSES = [status.value for status in LOOKED_UP]


def claim_lookups(
    engine: Engine,
    route: str,
    now: datetime,
    *,
    after: float,
    give_up: float,
    limit: int,
) -> list[SubmittedMessage]:
    """Messages of ``route`` due for a lookup, each marked as asked about now.

    :param after: seconds between the last news of a message and its first lookup.
    :param give_up: messages older than this many seconds are not looked up any more.
    """
    wait = timedelta(seconds=after)
    with engine.begin() as connection:
        rows = connection.execute(
            sa.select(
                MESSAGES.c.id,
                MESSAGES.c.vendor_id,
                MESSAGES.c.to,
                MESSAGES.c.created_at,
                MESSAGES.c.next_attempt_at,
            )
            .where(
                MESSAGES.c.route == route,
                MESSAGES.c.status_rank.in_(_RANKS),
                MESSAGES.c.status.in_(_STATUSES),
                MESSAGES.c.next_attempt_at <= now - wait,
                MESSAGES.c.vendor_id.is_not(None),
                MESSAGES.c.created_at > now - timedelta(seconds=give_up),
            )
            .order_by(MESSAGES.c.next_attempt_at, MESSAGES.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return []
        # The next lookup comes after as long again as the message has lived, at least
        # `after`: next_attempt_at + after = now + max(after, age).
        connection.execute(
            sa.update(MESSAGES)
            .where(MESSAGES.c.id == sa.bindparam("b_id"))
            .values(next_attempt_at=sa.bindparam("b_next", type_=MESSAGES.c.next_attempt_at.type)),
            [
                {"b_id": row.id, "b_next": now + max(wait, now - row.created_at) - wait}
                for row in rows
            ],
        )
    return [
        SubmittedMessage(
            id=row.id, vendor_id=row.vendor_id, to=row.to, submitted_at=row.next_attempt_at
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class Stale:
    """A message whose fate the vendor never told, past the time anyone will ask."""

    id: int
    nickname: str
    message_id: str
    status: str
    vendor_id: str | None
    created_at: datetime


def stale_messages(
    engine: Engine,
    now: datetime,
    *,
    give_up: float,
    limit: int = 100,
    with_unknown: bool = True,
) -> list[Stale]:
    """Messages older than ``give_up`` seconds still waiting for a final status, oldest first.

    These are ``submitted`` or ``buffered`` messages no report or lookup settled, and, unless
    ``with_unknown`` is false, ``unknown`` ones (the gateway could not tell whether the
    vendor got them).
    """
    waiting = [*_STATUSES, *([MessageStatus.UNKNOWN.value] if with_unknown else [])]
    with reading(engine).connect() as connection:
        rows = connection.execute(
            sa.select(
                MESSAGES.c.id,
                MESSAGES.c.nickname,
                MESSAGES.c.message_id,
                MESSAGES.c.status,
                MESSAGES.c.vendor_id,
                MESSAGES.c.created_at,
            )
            .where(
                MESSAGES.c.status.in_(waiting),
                MESSAGES.c.created_at <= now - timedelta(seconds=give_up),
            )
            .order_by(MESSAGES.c.created_at, MESSAGES.c.id)
            .limit(limit)
        ).all()
    return [
        Stale(
            id=row.id,
            nickname=row.nickname,
            message_id=row.message_id,
            status=row.status,
            vendor_id=row.vendor_id,
            created_at=row.created_at,
        )
        for row in rows
    ]
