"""Messages in every state, made through the gateway's own transactions, for operator tests.

Accepting goes through the intake's storage function, sending through the dispatcher's
claim and record, reports through the matching code, relaying through the outbox's claim
and settle: the states the dashboard, the API and the CLI show are the states production
makes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from smsgate.delivery import outbox
from smsgate.delivery.matching import store_reports
from smsgate.delivery.reports import normalise
from smsgate.dispatch import DispatchSettings, queue
from smsgate.dispatch.outcomes import Decision
from smsgate.dispatch.throttle import Verdict
from smsgate.intake.records import Rejection, prepare_record
from smsgate.storage.intake import store_records
from smsgate.storage.models import Message, MessageStatus, ProviderState, RelayOutbox
from smsgate.types import DeliveryEvent, EventKind

NICK = "pingbix-in"
ADMIN_TOKEN = "admin-token-0123456789"
MESSAGES = Message.__table__  # type: ignore[attr-defined]
OUTBOX = RelayOutbox.__table__  # type: ignore[attr-defined]
STATES = ProviderState.__table__  # type: ignore[attr-defined]
_SETTINGS = DispatchSettings(batch_size=10_000)


def accept(
    engine: sa.Engine,
    records: Sequence[Mapping[str, Any]],
    now: datetime,
    *,
    nickname: str = NICK,
) -> None:
    """Store CleverTap records the way the send endpoint does (rejects included)."""
    rows, rejections = [], []
    for index, record in enumerate(records):
        prepared = prepare_record(
            index, dict(record), nickname=nickname, default_country="IN", now=now
        )
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
    now: datetime,
    *,
    submitted: Mapping[str, str] | None = None,
    failed: Mapping[str, str] | None = None,
    unknown: Sequence[str] = (),
    nickname: str = NICK,
) -> None:
    """Claim what is due and record the vendor's answers; other claimed messages go back."""
    route = queue.Route(nickname)
    claim = queue.claim(engine, route, owner="test-worker", now=now, settings=_SETTINGS)
    decisions, lost = [], []
    for claimed in claim.messages:
        if claimed.message_id in (submitted or {}):
            decisions.append(
                Decision(
                    claimed.id,
                    MessageStatus.SUBMITTED,
                    "submitted",
                    claimed.attempts,
                    vendor_id=(submitted or {})[claimed.message_id],
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
        elif claimed.message_id in unknown:
            lost.append(claimed.id)
    chosen = {decision.message for decision in decisions} | set(lost)
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
            settings=_SETTINGS,
        )
    if lost:
        queue.record_unknown(
            engine, lost, owner="test-worker", now=now, reason="the vendor's answer was lost"
        )


def report(
    engine: sa.Engine,
    vendor_id: str,
    kind: EventKind,
    at: datetime,
    *,
    nickname: str = NICK,
    **fields: Any,
) -> None:
    """A delivery report for ``vendor_id``, received at ``at``, stored as the callback does."""
    event = DeliveryEvent(vendor_id=vendor_id, kind=kind, occurred_at=at, **fields)
    store_reports(engine, nickname, [normalise(event, received_at=at)], at)


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


ADMIN_CONFIG = """
[gateway.dispatch]
enabled = false

[gateway.delivery]
enabled = false
"""


def dashboard_client(base_url: str, token: str = ADMIN_TOKEN) -> Any:
    """An httpx client signed in to the dashboard (the session cookie in its jar)."""
    import httpx

    client = httpx.Client(base_url=base_url, follow_redirects=False)
    answer = client.post("/dashboard/login", data={"token": token, "next": "/dashboard/"})
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(page: str) -> str:
    """The CSRF token in a dashboard page's forms."""
    import re

    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def admin_config(make_config: Any, database_url: str, **gateway: str) -> Any:
    """The test config with the admin token, no workers, and a plain-HTTP public URL.

    Behind ``https://`` the session cookie is Secure, and a client talking plain HTTP to
    the loopback test server would rightly never send it back.
    """
    config = make_config(database_url, extra=ADMIN_CONFIG, admin_token=ADMIN_TOKEN, **gateway)
    config.settings.gateway.public_url = "http://127.0.0.1:8000"
    return config
