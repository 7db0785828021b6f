"""Delivery reports: how many reports a second the gateway accepts, against a ceiling.

For each database kind, two lines take turns in rounds, each loaded by the same load
generator (:mod:`bench.load`: prepared requests on :data:`bench.load.CONNECTIONS`
keep-alive connections) from the benchmark's process:

* **ceiling (bare Starlette)**: :mod:`bench.bare_app`, an endpoint at the same path that
  only reads the body, served by uvicorn as ``smsgate serve`` serves the gateway;
* **gateway stack, bare endpoint** (shown for information): the same bare endpoint inside
  the gateway's own application (``bench.bare_app --gateway-stack``: its middleware, access
  log, redaction and metrics), the report handler alone replaced: what the stack every
  gateway request passes through leaves for the handler;
* **gateway**: ``smsgate serve`` (dispatch and relay off: one thing at a time) on a
  database holding a submitted message, with its Pingbix transaction id, for every
  report. Each report is a Pingbix GET to ``/callbacks/{nickname}/{token}`` as Pingbix
  pushes them (``Transactionid``, ``Messageid``, ``mobileNo``, ``ReceivedTime``,
  ``DeliveredTime``, ``ErrorCode``, half of them with ``Status``); nine in ten say
  delivered, one in ten failed. A report counts once answered 200 with ``matched: 1``,
  which the gateway sends only after the commit.

At the end every message must be delivered or failed as reported, with one event per
report and one CleverTap record queued per message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa

from bench import load
from bench.harness import (
    CALLBACK_TOKEN,
    NICKNAME,
    BenchError,
    Context,
    Result,
    Rig,
    Spent,
    Tally,
    cpu_seconds,
    now_utc,
    profile_pass,
    say,
    take_turns,
)
from bench.ingest import Serials, make_record, prepare_rows
from smsgate.storage.database import create_engine
from smsgate.storage.models import (
    STATUS_RANK,
    Message,
    MessageEvent,
    MessageStatus,
    RelayOutbox,
)
from smsgate_pingbix import api

PART = "reports"
RATIO_TARGET = 0.5
MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
OUTBOX = RelayOutbox.__table__  # type: ignore[attr-defined]
PATH = f"/callbacks/{NICKNAME}/{CALLBACK_TOKEN}"

#: Where the gateway's time goes, most specific first (see :func:`profile_shares`).
PROFILE_MARKS = (
    ("reading: Pingbix parse_callback", "parse_callback"),
    ("reading: normalise (checks, masking)", "normalise (core/delivery/reports.py"),
    ("storing: matching, statuses, events, outbox", "store_groups"),
    ("group commit bookkeeping", "core/delivery/grouping.py"),
    ("callback handler (token, body, query)", "core/host/callbacks.py"),
    ("metrics wrapper", "core/host/metrics.py"),
    ("log lines (access log, redaction)", "logging/"),
    ("request id middleware", "@core/host/logs.py"),
    ("Starlette", "@starlette/"),
    ("uvicorn, h11 (HTTP)", "@uvicorn/"),
    ("uvicorn, h11 (HTTP)", "@h11/"),
    ("asyncio", "@asyncio/"),
)


def transaction_id(serial: int) -> str:
    """The Pingbix transaction id the benchmark gives message ``serial``."""
    return f"bench-tx-{serial:09d}"


def store_submitted(engine: sa.Engine, serials: range) -> None:
    """Store messages ``serials`` as Pingbix took them: submitted, with transaction ids."""
    if not serials:
        return
    now = now_utc()
    rows = prepare_rows([make_record(serial) for serial in serials], now)
    for serial, row in zip(serials, rows, strict=True):
        row.update(
            status=MessageStatus.SUBMITTED.value,
            status_rank=STATUS_RANK[MessageStatus.SUBMITTED],
            vendor_id=transaction_id(serial),
            attempts=1,
        )
    with engine.begin() as connection:
        connection.execute(sa.insert(MESSAGES), rows)


def report_query(serial: int) -> dict[str, str]:
    """The fields of Pingbix's report for message ``serial``."""
    record = make_record(serial)
    received = now_utc().astimezone(api.DLR_TIMEZONE)
    fields = {
        api.Dlr.TRANSACTION_ID: transaction_id(serial),
        api.Dlr.MESSAGE_ID: f"{serial:012d}",
        api.Dlr.MOBILE: record["to"].removeprefix("+"),
        api.Dlr.RECEIVED_TIME: received.strftime(api.DLR_TIME_FORMAT),
        api.Dlr.DELIVERED_TIME: (received + timedelta(seconds=4)).strftime(api.DLR_TIME_FORMAT),
    }
    failed = serial % 10 == 9
    fields[api.Dlr.ERROR_CODE] = "005" if failed else "000"
    if serial % 2:
        fields[api.Dlr.STATUS] = "UNDELIV" if failed else "DELIVRD"
    return fields


def report_requests(url: str, serials: range) -> list[bytes]:
    """Prepared GETs with the reports of ``serials``."""
    return [load.get_request(url, f"{PATH}?{urlencode(report_query(s))}") for s in serials]


def expect_matched(run: load.Run, gateway: bool, marker: bytes = b'"matched":1') -> None:
    """Raise unless every answer is a 200 (and, from the gateway, holds ``marker``)."""
    for answer in run.answers:
        if answer.status != 200:
            raise BenchError(f"answered {answer.status}: {answer.body[:300]!r}")
        if gateway and marker not in answer.body.replace(b" ", b""):
            raise BenchError(f"unexpected answer: {answer.body[:300]!r}")


def check_stored(url: str, reports: int) -> dict[str, int]:
    """Raise unless each reported message is final with one event and one queued record."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            statuses = dict(
                connection.execute(
                    sa.select(MESSAGES.c.status, sa.func.count()).group_by(MESSAGES.c.status)
                ).all()
            )
            events = connection.execute(
                sa.select(sa.func.count())
                .select_from(EVENTS)
                .where(EVENTS.c.kind.in_(["delivered", "failed"]))
            ).scalar_one()
            queued = connection.execute(sa.select(sa.func.count()).select_from(OUTBOX)).scalar_one()
    finally:
        engine.dispose()
    final = statuses.get("delivered", 0) + statuses.get("failed", 0)
    if final != reports or events != reports or queued != reports:
        raise BenchError(
            f"{reports} reports, but statuses {statuses}, {events} events, {queued} queued"
        )
    return {"statuses": statuses, "events": events, "queued": queued}


# --- the part --------------------------------------------------------------------------


def run(context: Context) -> list[Result]:
    """Measure report intake on each database kind of ``context``."""
    return [result for kind in context.databases for result in _measure(context, kind)]


def _measure(context: Context, kind: str) -> list[Result]:
    size = context.size
    warmup = min(1000, size.reports)
    serials = Serials()
    tally = Tally()
    # The load generator's CPU seconds, over the ceiling's and the gateway's rounds.
    load_cpu = 0.0
    say(PART, f"{kind}: bare Starlette, gateway stack and gateway in {size.rounds} rounds")
    with Rig(context, PART, kind) as rig:
        bare = rig.helper("bench.bare_app")
        database = rig.database()
        stack_database = rig.database()
        config = rig.config(database, delivery=False)
        stack_config = rig.config(stack_database, "stack", delivery=False)
        in_stack = rig.helper(
            "bench.bare_app",
            "--gateway-stack",
            str(stack_config),
            log=rig.path("stack", ".log").name,
        )
        engine = create_engine(database.url)
        try:
            everything = serials.take(warmup + size.reports)
            store_submitted(engine, everything)
            profiled_serials = serials.take(size.reports if context.py_spy else 0)
            store_submitted(engine, profiled_serials)
        finally:
            engine.dispose()
        gateway = rig.gateway(config)
        first = everything.start
        load.run(bare.url, report_requests(bare.url, range(first, first + warmup)))
        load.run(in_stack.url, report_requests(in_stack.url, range(first, first + warmup)))
        expect_matched(
            load.run(gateway.url, report_requests(gateway.url, range(first, first + warmup))),
            gateway=True,
        )
        # The three lines of a round send the same reports; the ceiling's turn, the first,
        # picks them.
        batch = range(first + warmup, first + warmup)

        def measure_ceiling(count: int) -> Spent:
            nonlocal batch, load_cpu
            batch = range(batch.stop, batch.stop + count)
            ceiling = load.run(bare.url, report_requests(bare.url, batch))
            expect_matched(ceiling, gateway=False)
            load_cpu += ceiling.cpu
            return Spent(ceiling.seconds)

        def measure_stack(count: int) -> Spent:
            floor = load.run(in_stack.url, report_requests(in_stack.url, batch))
            expect_matched(floor, gateway=True, marker=b'"bare":true')
            return Spent(floor.seconds)

        def measure_gateway(count: int) -> Spent:
            nonlocal load_cpu
            requests = report_requests(gateway.url, batch)
            started = cpu_seconds(gateway.pid)
            measured = load.run(gateway.url, requests)
            spent = Spent(measured.seconds, cpu_seconds(gateway.pid) - started)
            expect_matched(measured, gateway=True)
            load_cpu += measured.cpu
            return spent

        take_turns(
            tally,
            size.reports,
            size.rounds,
            [("ceiling", measure_ceiling), ("stack", measure_stack), ("gateway", measure_gateway)],
        )
        profile = profile_pass(
            context,
            PART,
            kind,
            gateway.pid,
            PROFILE_MARKS,
            "the gateway",
            lambda: expect_matched(
                load.run(gateway.url, report_requests(gateway.url, profiled_serials)),
                gateway=True,
            ),
        )
        gateway.stop()
        stored = check_stored(database.url, warmup + size.reports + len(profiled_serials))
    rate = tally.rates(size.reports)
    details: dict[str, Any] = {
        "reports_per_line": size.reports,
        "rounds": size.rounds,
        "connections": load.CONNECTIONS,
        "seconds_per_line": dict(tally.seconds),
    }
    stack_line = Result(
        part=PART,
        database=kind,
        line="gateway stack, bare endpoint",
        rate=rate["stack"],
        unit="requests/s",
        ceiling=rate["ceiling"],
        ceiling_label="bare Starlette",
        target=None,
        peak_rss_bytes=None,
        details=details,
    )
    return [
        Result(
            part=PART,
            database=kind,
            line="delivery reports",
            rate=rate["gateway"],
            unit="reports/s",
            ceiling=rate["ceiling"],
            ceiling_label="bare Starlette",
            target=RATIO_TARGET,
            peak_rss_bytes=gateway.peak_rss_bytes,
            details={
                **details,
                "cpu_ms_per_report": {
                    "gateway": 1000 * tally.cpu["gateway"] / size.reports,
                    "load generator": 1000 * load_cpu / (2 * size.reports),
                },
                "stored": stored,
                "ratio_to_gateway_stack": rate["gateway"] / rate["stack"],
                **({"profile": profile} if profile else {}),
            },
        ),
        stack_line,
    ]
