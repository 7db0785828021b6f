"""Messages in every state, made through the gateway's own transactions, for any test.

Accepting goes through the intake's storage function, sending through the dispatcher's
claim and record (which call ``match_inbox`` and ``enqueue_relay``), reports through the
matching code, relaying through the outbox's claim and settle: the states the tests look at
are the states production makes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from smsgate.delivery import outbox
from smsgate.delivery.matching import store_reports
from smsgate.delivery.reports import Report, normalise
from smsgate.dispatch import DispatchSettings, queue
from smsgate.dispatch.outcomes import Decision
from smsgate.dispatch.throttle import Verdict
from smsgate.intake.records import Rejection, prepare_record
from smsgate.storage.intake import store_records
from smsgate.storage.models import Message, MessageStatus, ProviderState, RelayOutbox
from smsgate.types import DeliveryEvent, EventKind

NICK = "pingbix-in"
START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
MESSAGES = Message.__table__  # type: ignore[attr-defined]
OUTBOX = RelayOutbox.__table__  # type: ignore[attr-defined]
STATES = ProviderState.__table__  # type: ignore[attr-defined]
_SETTINGS = DispatchSettings(batch_size=10_000)
_OWNER = "test-worker"


def accept(
    engine: sa.Engine,
    records: Sequence[str | Mapping[str, Any]],
    now: datetime = START,
    *,
    nickname: str = NICK,
) -> None:
    """Store CleverTap records the way the send endpoint does (rejects included).

    A record given as a bare message id is ``{"to": "98450<index>", "body": "hello",
    "message_id": id}``, its index counted from 0 in ``records``.
    """
    rows, rejections = [], []
    for index, given in enumerate(records):
        record = (
            {"to": f"98450{index:05d}", "body": "hello", "message_id": given}
            if isinstance(given, str)
            else dict(given)
        )
        prepared = prepare_record(index, record, nickname=nickname, default_country="IN", now=now)
        if isinstance(prepared, Rejection):
            rejections.append(prepared)
        else:
            rows.append(prepared)
    store_records(engine, nickname, rows, rejections, now)


def texts(count: int, *, prefix: str = "m", campaign: str | None = None) -> list[dict[str, str]]:
    """``count`` simple records with ids ``{prefix}1.`` …, numbers 98450 00001 …"""
    records = []
    for index in range(1, count + 1):
        record = {
            "to": f"98450{index:05d}",
            "body": f"hello {index}",
            "message_id": f"{prefix}{index}.",
        }
        if campaign:
            record["campaign_id"] = campaign
        records.append(record)
    return records


def dispatch(
    engine: sa.Engine,
    now: datetime = START,
    *,
    submitted: Mapping[str, str] | None = None,
    failed: Mapping[str, str] | None = None,
    unknown: Sequence[str] = (),
    nickname: str = NICK,
) -> None:
    """Claim what is due and record the vendor's answers through the dispatcher.

    ``submitted``: message id -> vendor id; ``failed``: message id -> CleverTap code (refused
    by the vendor); ``unknown``: message ids whose answer was lost. Other claimed messages
    are released untouched.
    """
    submitted, failed = submitted or {}, failed or {}
    route = queue.Route(nickname)
    claim = queue.claim(engine, route, owner=_OWNER, now=now, settings=_SETTINGS)
    decisions, lost = [], []
    for claimed in claim.messages:
        if claimed.message_id in submitted:
            decisions.append(
                Decision(
                    claimed.id,
                    MessageStatus.SUBMITTED,
                    "submitted",
                    claimed.attempts,
                    vendor_id=submitted[claimed.message_id],
                )
            )
        elif claimed.message_id in failed:
            decisions.append(
                Decision(
                    claimed.id,
                    MessageStatus.FAILED,
                    "failed",
                    claimed.attempts,
                    code=failed[claimed.message_id],
                    description="refused by the vendor",
                )
            )
        elif claimed.message_id in unknown:
            lost.append(claimed.id)
    chosen = {decision.message for decision in decisions} | set(lost)
    queue.release(
        engine, [c.id for c in claim.messages if c.id not in chosen], owner=_OWNER, now=now
    )
    if decisions:
        queue.record(
            engine,
            route,
            decisions,
            owner=_OWNER,
            now=now,
            verdict=Verdict.HEALTHY,
            reason=None,
            settings=_SETTINGS,
        )
    if lost:
        queue.record_unknown(
            engine, lost, owner=_OWNER, now=now, reason="the vendor's answer was lost"
        )


def report(
    vendor_id: str,
    kind: EventKind = EventKind.DELIVERED,
    *,
    at: datetime = START,
    received_at: datetime | None = None,
    **fields: Any,
) -> Report:
    """A normalised report, as the callback endpoint would store it."""
    event = DeliveryEvent(vendor_id=vendor_id, kind=kind, occurred_at=at, **fields)
    return normalise(event, received_at=received_at or at)


def store_report(
    engine: sa.Engine,
    vendor_id: str,
    kind: EventKind,
    at: datetime,
    *,
    nickname: str = NICK,
    **fields: Any,
) -> None:
    """A delivery report for ``vendor_id``, received at ``at``, stored as the callback does."""
    store_reports(engine, nickname, [report(vendor_id, kind, at=at, **fields)], at)


def kill_relays(
    engine: sa.Engine, now: datetime, reason: str, *, nickname: str = NICK
) -> list[int]:
    """Lease every due relay record of ``nickname`` and settle them dead, as a 4xx does."""
    leased = outbox.claim(engine, nickname, owner="test-relay", now=now, limit=1000, lease=60)
    outbox.settle(
        engine,
        outbox.Outcome(dead={row.id: reason for row in leased}),
        owner="test-relay",
        now=now,
    )
    return [row.id for row in leased]


def open_circuit(engine: sa.Engine, now: datetime, reason: str, *, nickname: str = NICK) -> None:
    """Make ``nickname``'s shared circuit open, as failing batches would."""
    with engine.begin() as connection:
        connection.execute(sa.delete(STATES).where(STATES.c.nickname == nickname))
        connection.execute(
            sa.insert(STATES).values(
                nickname=nickname,
                tokens=0.0,
                refilled_at=now,
                circuit="open",
                failures=5,
                opened_at=now,
                open_since=now - timedelta(minutes=3),
                open_reason=reason,
                unusable=False,
                updated_at=now,
            )
        )


def message(engine: sa.Engine, message_id: str) -> Any:
    """The messages row of ``message_id``."""
    with engine.connect() as connection:
        return connection.execute(
            sa.select(MESSAGES).where(MESSAGES.c.message_id == message_id)
        ).one()


def relays(engine: sa.Engine) -> list[Any]:
    """Every relay record, oldest first."""
    with engine.connect() as connection:
        return list(connection.execute(sa.select(OUTBOX).order_by(OUTBOX.c.id)))
