"""Helpers for the delivery tests: messages stored and sent the real way, reports, queries.

Messages are accepted through the intake's own storage function and "sent" through the
dispatcher's own claim and record transactions (which call ``match_inbox`` and
``enqueue_relay``), so these tests exercise the paths production takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from conftest import CALLBACK_TOKEN, TOKEN

from smsgate.config import Config, load_config
from smsgate.delivery.reports import Report, normalise
from smsgate.dispatch import DispatchSettings, queue
from smsgate.dispatch.outcomes import Decision
from smsgate.dispatch.throttle import Verdict
from smsgate.intake.records import Rejection, prepare_record
from smsgate.plugins import load_plugins
from smsgate.storage.intake import store_records
from smsgate.storage.models import (
    DeliveryInbox,
    Message,
    MessageEvent,
    MessageStatus,
    RelayOutbox,
)
from smsgate.types import DeliveryEvent, EventKind

NICK = "pingbix-in"
START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
INBOX = DeliveryInbox.__table__  # type: ignore[attr-defined]
OUTBOX = RelayOutbox.__table__  # type: ignore[attr-defined]


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def accept(
    engine: sa.Engine,
    message_ids: Sequence[str],
    now: datetime = START,
    *,
    nickname: str = NICK,
    numbers: Mapping[str, str] | None = None,
) -> None:
    """Store one text per message id, the way the CleverTap endpoint does."""
    rows = []
    for index, message_id in enumerate(message_ids):
        record = {
            "to": (numbers or {}).get(message_id, f"98450{index:05d}"),
            "body": "hello",
            "message_id": message_id,
        }
        prepared = prepare_record(index, record, nickname=nickname, default_country="IN", now=now)
        assert not isinstance(prepared, Rejection), prepared
        rows.append(prepared)
    store_records(engine, nickname, rows, [], now)


def send(
    engine: sa.Engine,
    vendor_ids: Mapping[str, str],
    now: datetime = START,
    *,
    failed: Mapping[str, str] | None = None,
    nickname: str = NICK,
) -> None:
    """Claim the waiting messages and record the vendor's answer through the dispatcher.

    ``vendor_ids``: message id -> vendor id (submitted); ``failed``: message id -> CleverTap
    code (refused by the vendor). Other claimed messages are released untouched.
    """
    settings = DispatchSettings(batch_size=10_000)
    route = queue.Route(nickname)
    claim = queue.claim(engine, route, owner="test-worker", now=now, settings=settings)
    decisions = []
    for claimed in claim.messages:
        if claimed.message_id in vendor_ids:
            decisions.append(
                Decision(
                    claimed.id,
                    MessageStatus.SUBMITTED,
                    "submitted",
                    claimed.attempts,
                    vendor_id=vendor_ids[claimed.message_id],
                )
            )
        elif claimed.message_id in (failed or {}):
            decisions.append(
                Decision(
                    claimed.id,
                    MessageStatus.FAILED,
                    "failed",
                    claimed.attempts,
                    code=(failed or {})[claimed.message_id],
                    description="refused by the vendor",
                )
            )
    chosen = {decision.message for decision in decisions}
    queue.release(
        engine, [c.id for c in claim.messages if c.id not in chosen], owner="test-worker", now=now
    )
    if decisions:
        queue.record(
            engine,
            route,
            decisions,
            owner="test-worker",
            now=now,
            verdict=Verdict.HEALTHY,
            reason=None,
            settings=settings,
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


def message(engine: sa.Engine, message_id: str) -> Any:
    """The messages row of ``message_id``."""
    with engine.connect() as connection:
        return connection.execute(
            sa.select(MESSAGES).where(MESSAGES.c.message_id == message_id)
        ).one()


def events(engine: sa.Engine, message_id: str) -> list[Any]:
    """The events of one message, oldest first."""
    pk = message(engine, message_id).id
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(EVENTS).where(EVENTS.c.message_pk == pk).order_by(EVENTS.c.id)
            )
        )


def inbox(engine: sa.Engine) -> list[Any]:
    """Every waiting report, oldest first."""
    with engine.connect() as connection:
        return list(connection.execute(sa.select(INBOX).order_by(INBOX.c.id)))


def outbox(engine: sa.Engine) -> list[Any]:
    """Every relay row, oldest first."""
    with engine.connect() as connection:
        return list(connection.execute(sa.select(OUTBOX).order_by(OUTBOX.c.id)))


def relayed(engine: sa.Engine) -> list[tuple[str, str, dict[str, Any]]]:
    """``(event, meta, record)`` of every relay row, oldest first."""
    return [(row.event, row.record["meta"], row.record) for row in outbox(engine)]


def write_config(
    path: Path,
    database_url: str,
    clevertap_url: str,
    *,
    delivery: Mapping[str, Any] | None = None,
    base_url: str = "http://127.0.0.1:9",
    extra: str = "",
) -> Config:
    """A config with one Pingbix nickname, :data:`NICK`, relaying to ``clevertap_url``."""
    table = "".join(
        f"{key} = {str(value).lower() if isinstance(value, bool) else value!r}\n".replace("'", '"')
        for key, value in (delivery or {}).items()
    )
    path.write_text(
        f"""\
[gateway]
database_url = "{database_url}"
public_url = "http://127.0.0.1:8000"

[gateway.dispatch]
enabled = false

[gateway.delivery]
{table}
[providers.{NICK}]
plugin = "pingbix"
token = "{TOKEN}"
callback_token = "{CALLBACK_TOKEN}"
clevertap_callback_url = "{clevertap_url}"
default_country = "IN"

[providers.{NICK}.options]
base_url = "{base_url}"
userid = "demo"
password = "demo-password"
senderid = "ACMEIN"
{extra}"""
    )
    return load_config(path, load_plugins())
