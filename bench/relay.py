"""Relay: how many records a second the gateway relays to CleverTap, against a ceiling.

For each database kind, two lines take turns in rounds, both against one fake CleverTap
(:mod:`bench.fake_clevertap`) in a process of its own:

* **ceiling (raw httpx)**: the round's records in CleverTap's format, grouped as the relay
  groups them (at most ``relay_batch_size`` = 100 per POST, one group per event; built
  before the clock starts), POSTed as JSON by a plain loop on an ``httpx.AsyncClient``,
  ``relay_concurrency`` POSTs at a time, each answer read and checked;
* **relay**: ``smsgate serve`` with the relay on (default settings, but for a short idle
  poll, so that a round does not start by waiting for it) and dispatch off. The round's
  messages are stored delivered with their ``delivered`` records queued in the outbox, as
  a delivery report leaves them, in one transaction (not timed); the clock runs from that
  commit until no record of the outbox is pending, which the benchmark checks by polling
  the database.

At the end the fake's counts are checked: every record reached it, none twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import httpx
import sqlalchemy as sa

from bench import harness
from bench.harness import (
    NICKNAME,
    BenchError,
    Context,
    HelperProcess,
    Result,
    Rig,
    Spent,
    Stopwatch,
    Tally,
    now_utc,
    profile_pass,
    say,
    take_turns,
)
from bench.ingest import Serials, make_record, prepare_rows
from smsgate.delivery import DeliverySettings, clevertap
from smsgate.storage.models import STATUS_RANK, Message, MessageStatus, RelayOutbox

PART = "relay"
#: No target in the issues; this is what the benchmark aims at.
RATIO_AIM = 0.5
MESSAGES = Message.__table__  # type: ignore[attr-defined]
OUTBOX = RelayOutbox.__table__  # type: ignore[attr-defined]
#: The idle poll of the benchmark's relay tasks: the records are queued by the benchmark,
#: not by a report to the same process, which would wake them at once.
POLL_INTERVAL = 0.02
CALLBACK_PATH = "/sms/generic"

#: Where the relay's time goes, most specific first (see :func:`profile_shares`).
PROFILE_MARKS = (
    ("claiming (outbox.claim)", "claim (core/delivery/outbox.py"),
    ("settling (outbox.settle)", "settle (core/delivery/outbox.py"),
    ("building the batch", "batch_body"),
    ("judging answers", "judge_answer"),
    ("httpx: JSON encoding", "json/"),
    ("httpx, httpcore, h11 (the POSTs)", "httpx/"),
    ("rest of the relay", "core/delivery/"),
    ("logging", "logging/"),
    ("asyncio", "asyncio/"),
)


def delivered_rows(serials: range) -> tuple[list[dict[str, Any]], list[tuple[str, dict]]]:
    """Messages ``serials`` as a delivered report leaves them, and their CleverTap records."""
    now = now_utc()
    ts = clevertap.epoch_seconds(now)
    messages = prepare_rows([make_record(serial) for serial in serials], now)
    records = []
    for serial, row in zip(serials, messages, strict=True):
        row.update(
            status=MessageStatus.DELIVERED.value,
            status_rank=STATUS_RANK[MessageStatus.DELIVERED],
            vendor_id=f"bench-tx-{serial:09d}",
            attempts=1,
        )
        records.append(("delivered", clevertap.delivered_record(row["message_id"], ts, "DELIVRD")))
    return messages, records


def batches(records: Sequence[tuple[str, dict]], size: int) -> list[list[dict[str, Any]]]:
    """CleverTap bodies of at most ``size`` records, grouped by event as the relay does."""
    return [clevertap.batch_body(records[i : i + size]) for i in range(0, len(records), size)]


class Ceiling:
    """The plain httpx loop: the same bodies, as many POSTs at a time as the relay."""

    def __init__(self, url: str, settings: DeliverySettings) -> None:
        self.url = url
        self.settings = settings
        self.sent = 0

    def send(self, serials: range) -> Spent:
        """Time to POST the records of ``serials`` and read every answer."""
        _, records = delivered_rows(serials)
        bodies = batches(records, self.settings.relay_batch_size)
        spent = asyncio.run(self._send(bodies))
        self.sent += len(records)
        return spent

    async def _send(self, bodies: list[list[dict[str, Any]]]) -> Spent:
        limits = httpx.Limits(max_connections=max(10, 2 * self.settings.relay_concurrency))
        async with httpx.AsyncClient(timeout=self.settings.relay_timeout, limits=limits) as client:
            pending = iter(bodies)

            async def loop() -> None:
                for body in pending:
                    response = await client.post(self.url, json=body)
                    if response.status_code != 200 or response.json().get("unprocessed"):
                        raise BenchError(f"the fake CleverTap answered {response.text[:200]}")

            cpu = time.process_time()
            with Stopwatch() as watch:
                await asyncio.gather(*(loop() for _ in range(self.settings.relay_concurrency)))
            cpu = time.process_time() - cpu
        return Spent(watch.seconds, cpu)


class Feeder(harness.Feeder):
    """Queues records for the relay (not timed) and times how long they take to go."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.queued = 0

    def queue(self, serials: range) -> None:
        """Store ``serials`` delivered, their records pending in the outbox, in one commit."""
        messages, records = delivered_rows(serials)
        now = now_utc()
        with self.engine.begin() as connection:
            first = connection.execute(
                sa.insert(MESSAGES).returning(MESSAGES.c.id, sort_by_parameter_order=True),
                messages,
            ).scalars()
            connection.execute(
                sa.insert(OUTBOX),
                [
                    {
                        "message_pk": pk,
                        "nickname": NICKNAME,
                        "event": event,
                        "record": record,
                        "state": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for pk, (event, record) in zip(first, records, strict=True)
                ],
            )
        self.queued += len(records)

    def send(self, serials: range, pid: int) -> Spent:
        """Time from queueing ``serials`` until no record is pending; CPU of process ``pid``."""
        self.queue(serials)
        return self.drain(self.pending, pid)

    def pending(self) -> int:
        """Records not relayed yet."""
        return self.count(
            sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.state == "pending")
        )

    def check(self) -> dict[str, int]:
        """Raise unless every queued record is done."""
        with self.engine.connect() as connection:
            states = dict(
                connection.execute(
                    sa.select(OUTBOX.c.state, sa.func.count()).group_by(OUTBOX.c.state)
                ).all()
            )
        if states != {"done": self.queued}:
            raise BenchError(f"not every record was relayed: {states}")
        return states


def fake_counts(fake: HelperProcess) -> dict[str, int]:
    """What the fake CleverTap has taken."""
    return dict(httpx.get(f"{fake.url}/_count").json())


# --- the part --------------------------------------------------------------------------


def run(context: Context) -> list[Result]:
    """Measure the relay on each database kind of ``context``."""
    return [_measure(context, kind) for kind in context.databases]


def _measure(context: Context, kind: str) -> Result:
    size = context.size
    settings = DeliverySettings()
    serials = Serials()
    tally = Tally()
    say(PART, f"{kind}: ceiling and relay in {size.rounds} rounds")
    with Rig(context, PART, kind) as rig:
        fake = rig.helper("bench.fake_clevertap")
        database = rig.database()
        config = rig.config(
            database,
            delivery=True,
            clevertap_url=fake.url + CALLBACK_PATH,
            delivery_settings={"relay_poll_interval": POLL_INTERVAL},
        )
        ceiling = Ceiling(fake.url + CALLBACK_PATH, settings)
        feeder = rig.closing(Feeder(database.url))
        gateway = rig.gateway(config)
        warmup = min(2000, size.relay_records)
        ceiling.send(serials.take(warmup))
        feeder.send(serials.take(warmup), gateway.pid)
        take_turns(
            tally,
            size.relay_records,
            size.rounds,
            [
                ("ceiling", lambda count: ceiling.send(serials.take(count))),
                ("relay", lambda count: feeder.send(serials.take(count), gateway.pid)),
            ],
        )
        profile = profile_pass(
            context,
            PART,
            kind,
            gateway.pid,
            PROFILE_MARKS,
            "the relay",
            lambda: feeder.send(serials.take(size.relay_records), gateway.pid),
        )
        gateway.stop()
        states = feeder.check()
        feeder.close()
        taken = fake_counts(fake)
        expected = ceiling.sent + feeder.queued
        if taken["records"] != expected or taken["distinct"] != expected:
            raise BenchError(f"the fake CleverTap took {taken} for {expected} records")
    records = size.relay_records
    rate = tally.rates(records)
    return Result(
        part=PART,
        database=kind,
        line="relay to CleverTap",
        rate=rate["relay"],
        unit="records/s",
        ceiling=rate["ceiling"],
        ceiling_label="raw httpx",
        target=None,
        aim=RATIO_AIM,
        peak_rss_bytes=gateway.peak_rss_bytes,
        details={
            "records_per_line": records,
            "rounds": size.rounds,
            "seconds_per_line": dict(tally.seconds),
            "cpu_ms_per_100_records": {
                line: 100_000 * spent / records for line, spent in tally.cpu.items()
            },
            "relay_settings": {
                "relay_concurrency": settings.relay_concurrency,
                "relay_batch_size": settings.relay_batch_size,
                "relay_poll_interval": POLL_INTERVAL,
            },
            "outbox": states,
            "fake_clevertap": taken,
            **({"profile": profile} if profile else {}),
        },
    )
