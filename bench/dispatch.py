"""Dispatch: how fast the dispatcher sends stored messages to a vendor, against a ceiling.

For each database kind, two lines take turns in rounds, both against one fake Pingbix
(:mod:`bench.fake_vendor`) in a process of its own:

* **ceiling (raw httpx)**: the requests the Pingbix plugin builds for the round's messages
  (its own ``build_payload``: the same multipart bodies, prepared before the clock
  starts), sent by plain loops on ``httpx.AsyncClient`` s made like the dispatcher's, with
  the dispatcher's concurrency: one client per worker (``concurrency``, each made by
  :func:`smsgate.dispatch.new_http_client` with its share of ``max_connections``), each
  with as many loops as the plugin has requests in flight (its ``concurrency``); each
  answer is read and its transaction id checked;
* **dispatcher**: ``smsgate serve`` with dispatch workers on (default settings, but for a
  short idle poll, so that a round does not start by waiting for it) and the relay off.
  The round's messages are stored with one Core insert (not timed) as the gateway's
  intake stores them; the clock runs from that commit until every one of them is
  ``submitted``, vendor id stored, which the benchmark checks by polling the database.

At the end the fake vendor's request count is checked: every message reached it exactly
once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import sqlalchemy as sa

from bench import harness
from bench.harness import (
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
from bench.ingest import BATCH, Serials, make_record, prepare_rows
from smsgate.dispatch import DispatchSettings, new_http_client
from smsgate.intake.records import parse_template_variables
from smsgate.sms.encoding import Encoding
from smsgate.storage.models import STATUS_RANK, Message, MessageStatus
from smsgate.types import OutboundMessage, VendorRequest
from smsgate_pingbix import PingbixOptions
from smsgate_pingbix.payloads import build_payload

PART = "dispatch"
RATIO_TARGET = 0.6
MESSAGES = Message.__table__  # type: ignore[attr-defined]
#: The idle poll of the benchmark's gateway: a round's messages are stored by the
#: benchmark, not through the gateway's intake, which would wake the workers at once.
POLL_INTERVAL = 0.02
_WAITING_RANKS = (STATUS_RANK[MessageStatus.ACCEPTED], STATUS_RANK[MessageStatus.SENDING])

#: Where the dispatcher's time goes, most specific first (see :func:`profile_shares`).
PROFILE_MARKS = (
    ("claiming (queue.claim)", "claim (core/dispatch/queue.py"),
    ("recording results (queue.record)", "record (core/dispatch/queue.py"),
    ("build_payload (Pingbix plugin)", "build_payload"),
    ("judging answers (Pingbix plugin)", "judge_response"),
    ("httpcore pool bookkeeping (assigning requests)", "_assign_requests_to_connections"),
    ("httpx: writing the multipart body", "_send_request_body"),
    ("httpx, httpcore, h11, anyio (rest of the requests)", "httpx/"),
    ("rest of send_batch (Pingbix plugin)", "pingbix/client.py"),
    ("rest of the dispatcher", "core/dispatch/"),
    ("logging (a line per vendor request)", "logging/"),
    ("asyncio", "asyncio/"),
)


def plugin_options(vendor_url: str) -> PingbixOptions:
    """The Pingbix options of the benchmark's config, for the ceiling's requests."""
    return PingbixOptions(
        base_url=vendor_url, userid="bench", password="bench-password", senderid="BENCHN"
    )


def outbound(rows: list[dict[str, Any]], first_id: int) -> list[OutboundMessage]:
    """The messages the dispatcher would hand to the plugin for ``rows``."""
    return [
        OutboundMessage(
            id=first_id + index,
            message_id=row["message_id"],
            to=row["to"],
            body=row["body"],
            template_id=row["template_id"],
            template_variables=parse_template_variables(row["template_variables"]),
            campaign_id=row["campaign_id"],
            extras=dict(row["extras"]),
            encoding=Encoding(row["encoding"]),
            segments=row["segments"],
        )
        for index, row in enumerate(rows)
    ]


class Ceiling:
    """The plain httpx loops: the plugin's requests, with the dispatcher's concurrency."""

    def __init__(self, vendor_url: str, settings: DispatchSettings) -> None:
        self.options = plugin_options(vendor_url)
        self.settings = settings
        self.clients = settings.concurrency
        self.in_flight = settings.concurrency * self.options.concurrency
        self.sent = 0

    def requests(self, rows: list[dict[str, Any]]) -> list[VendorRequest]:
        """The Pingbix requests for ``rows``, built by the plugin (not timed)."""
        built = build_payload(outbound(rows, self.sent + 1), self.options)
        if built.refused:
            raise BenchError(f"the plugin refused a message: {built.refused[0]}")
        return list(built.requests)

    def send(self, rows: list[dict[str, Any]]) -> Spent:
        """Time to send one request per row and read every answer."""
        requests = self.requests(rows)
        spent = asyncio.run(self._send(requests))
        self.sent += len(requests)
        return spent

    async def _send(self, requests: list[VendorRequest]) -> Spent:
        timeout = httpx.Timeout(
            connect=self.options.connect_timeout,
            read=self.options.read_timeout,
            write=self.options.read_timeout,
            pool=self.options.connect_timeout,
        )
        clients = [new_http_client(self.settings, share=self.clients) for _ in range(self.clients)]
        pending = iter(requests)

        async def loop(client: httpx.AsyncClient) -> None:
            for request in pending:
                response = await client.request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    files=request.files,
                    timeout=timeout,
                )
                if response.status_code != 200 or not response.json().get("transactionId"):
                    raise BenchError(f"the fake vendor answered {response.text[:200]}")

        try:
            cpu = time.process_time()
            with Stopwatch() as watch:
                await asyncio.gather(
                    *(loop(client) for client in clients for _ in range(self.options.concurrency))
                )
            cpu = time.process_time() - cpu
        finally:
            for client in clients:
                await client.aclose()
        return Spent(watch.seconds, cpu)


class Feeder(harness.Feeder):
    """Stores messages for the dispatcher (not timed) and times how long they take to go."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.stored = 0

    def store(self, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` as accepted messages, due now, in one transaction."""
        now = now_utc()
        for row in rows:
            row.update(next_attempt_at=now, created_at=now, updated_at=now)
        with self.engine.begin() as connection:
            connection.execute(sa.insert(MESSAGES), rows)
        self.stored += len(rows)

    def send(self, rows: list[dict[str, Any]], pid: int) -> Spent:
        """Time from storing ``rows`` until none of them waits or is sending.

        The CPU time is that of process ``pid``, the gateway.
        """
        self.store(rows)
        return self.drain(self.waiting, pid)

    def waiting(self) -> int:
        """Messages accepted or sending."""
        return self.count(
            sa.select(sa.func.count())
            .select_from(MESSAGES)
            .where(MESSAGES.c.status_rank.in_(_WAITING_RANKS))
        )

    def check(self) -> dict[str, int]:
        """Raise unless every message stored is submitted with a vendor id."""
        with self.engine.connect() as connection:
            counts = dict(
                connection.execute(
                    sa.select(MESSAGES.c.status, sa.func.count()).group_by(MESSAGES.c.status)
                ).all()
            )
            without_id = connection.execute(
                sa.select(sa.func.count())
                .select_from(MESSAGES)
                .where(MESSAGES.c.vendor_id.is_(None))
            ).scalar_one()
        if counts != {MessageStatus.SUBMITTED.value: self.stored} or without_id:
            raise BenchError(f"not every message was submitted: {counts}")
        return counts


def vendor_requests(vendor: HelperProcess) -> int:
    """Requests the fake vendor has answered."""
    return int(httpx.get(f"{vendor.url}/_count").json()["requests"])


# --- the part --------------------------------------------------------------------------


def run(context: Context) -> list[Result]:
    """Measure dispatch on each database kind of ``context``."""
    return [_measure(context, kind) for kind in context.databases]


def _measure(context: Context, kind: str) -> Result:
    size = context.size
    settings = DispatchSettings()
    serials = Serials()
    # CPU seconds are those of the process doing the sending while it sends: the
    # benchmark's own for the ceiling, the gateway's for the dispatcher.
    tally = Tally()
    now = now_utc()

    def rows(count: int) -> list[dict[str, Any]]:
        return prepare_rows([make_record(serial) for serial in serials.take(count)], now)

    say(PART, f"{kind}: ceiling and dispatcher in {size.rounds} rounds")
    with Rig(context, PART, kind) as rig:
        vendor = rig.helper("bench.fake_vendor")
        database = rig.database()
        config = rig.config(
            database,
            vendor_url=vendor.url,
            dispatch=True,
            delivery=False,
            dispatch_settings={"poll_interval": POLL_INTERVAL},
        )
        ceiling = Ceiling(vendor.url, settings)
        feeder = rig.closing(Feeder(database.url))
        gateway = rig.gateway(config)
        warmup = size.warmup * BATCH // 4
        ceiling.send(rows(warmup))
        feeder.send(rows(warmup), gateway.pid)
        take_turns(
            tally,
            size.dispatch_messages,
            size.rounds,
            [
                ("ceiling", lambda count: ceiling.send(rows(count))),
                ("dispatcher", lambda count: feeder.send(rows(count), gateway.pid)),
            ],
        )
        profile = profile_pass(
            context,
            PART,
            kind,
            gateway.pid,
            PROFILE_MARKS,
            "the dispatcher",
            lambda: feeder.send(rows(size.dispatch_messages), gateway.pid),
        )
        gateway.stop()
        counts = feeder.check()
        feeder.close()
        answered = vendor_requests(vendor)
        if answered != ceiling.sent + feeder.stored:
            raise BenchError(
                f"the fake vendor answered {answered} requests for "
                f"{ceiling.sent + feeder.stored} messages: some went twice or not at all"
            )
    messages = size.dispatch_messages
    rate = tally.rates(messages)
    details: dict[str, Any] = {
        "messages_per_line": messages,
        "rounds": size.rounds,
        "seconds_per_line": dict(tally.seconds),
        "cpu_ms_per_message": {line: 1000 * spent / messages for line, spent in tally.cpu.items()},
        "statuses": counts,
        "vendor_requests": answered,
        "in_flight": ceiling.in_flight,
        "http_clients": ceiling.clients,
        "dispatch_settings": {
            "concurrency": settings.concurrency,
            "batch_size": settings.batch_size,
            "poll_interval": POLL_INTERVAL,
            "plugin_concurrency": ceiling.options.concurrency,
        },
    }
    if profile:
        details["profile"] = profile
    return Result(
        part=PART,
        database=kind,
        line="dispatcher",
        rate=rate["dispatcher"],
        unit="msg/s",
        ceiling=rate["ceiling"],
        ceiling_label="raw httpx",
        target=RATIO_TARGET,
        peak_rss_bytes=gateway.peak_rss_bytes,
        details=details,
    )
