"""Memory: the gateway's peak resident set with 100,000 messages in flight.

For each database kind, one ``smsgate serve`` (one uvicorn worker, dispatch on with every
setting at its default, the relay off) on a fresh database sends to a slow vendor: the
fake Pingbix (:mod:`bench.fake_vendor`) answers each request :data:`VENDOR_DELAY` seconds
late, so the dispatcher keeps its 40 requests in flight and the rest piles up, as it would
behind a vendor that has slowed down. Meanwhile :data:`CLIENTS` concurrent clients post
``size.memory_messages`` records in batches of 1000 (those of :mod:`bench.ingest`); then
the gateway keeps dispatching for ``size.memory_hold`` seconds.

Then every message must be in flight (accepted, being sent, submitted, or unknown after a
batch outlived ``send_timeout``: none final), and the figure is the gateway's ``VmHWM``
from ``/proc``, its peak resident set since it started. Target: at most :data:`LIMIT_MB`.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from bench.harness import BenchError, Context, Result, Rig, Stopwatch, say
from bench.ingest import BATCH, Serials, make_batches, post_batches
from smsgate.storage.database import create_engine
from smsgate.storage.models import FINAL_RANK, STATUS_RANK, Message

PART = "memory"
#: The issue's target for the peak RSS with 100,000 messages in flight, in MiB.
LIMIT_MB = 250.0
#: Seconds the slow vendor takes to answer each request.
VENDOR_DELAY = 0.5
#: Concurrent clients posting batches, as several CleverTap campaigns at once might.
CLIENTS = 4
MESSAGES = Message.__table__  # type: ignore[attr-defined]
_IN_FLIGHT = frozenset(status for status, rank in STATUS_RANK.items() if rank < FINAL_RANK)


def resident_bytes(pid: int) -> int:
    """VmRSS of process ``pid`` now, in bytes."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"no VmRSS in /proc/{pid}/status")


def statuses(url: str) -> dict[str, int]:
    """Messages per status."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(MESSAGES.c.status, sa.func.count()).group_by(MESSAGES.c.status)
            ).all()
    finally:
        engine.dispose()
    return {str(status): int(count) for status, count in rows}


# --- the part --------------------------------------------------------------------------


def run(context: Context) -> list[Result]:
    """Measure the gateway's memory on each database kind of ``context``."""
    return [_measure(context, kind) for kind in context.databases]


def _measure(context: Context, kind: str) -> Result:
    size = context.size
    serials = Serials()
    batches = size.memory_messages // BATCH
    with Rig(context, PART, kind) as rig:
        vendor = rig.helper("bench.fake_vendor", "--delay", str(VENDOR_DELAY))
        database = rig.database()
        config = rig.config(database, vendor_url=vendor.url, dispatch=True, delivery=False)
        gateway = rig.gateway(config)
        at_start = resident_bytes(gateway.pid)
        say(PART, f"{kind}: {CLIENTS} clients post {batches} batches to a slow vendor's nickname")
        with Stopwatch() as posting:
            post_batches(gateway.url, make_batches(serials, batches), CLIENTS)
        time.sleep(size.memory_hold)
        after_posting = resident_bytes(gateway.pid)
        counts = statuses(database.url)
        peak = gateway.peak_rss()
        gateway.stop()
    in_flight = sum(counts.get(status.value, 0) for status in _IN_FLIGHT)
    if in_flight != batches * BATCH or sum(counts.values()) != in_flight:
        raise BenchError(f"expected {batches * BATCH:,} messages in flight, found {counts}")
    details: dict[str, Any] = {
        "messages_in_flight": in_flight,
        "statuses": counts,
        "clients": CLIENTS,
        "vendor_delay_seconds": VENDOR_DELAY,
        "posting_seconds": posting.seconds,
        "hold_seconds": size.memory_hold,
        "rss_at_start_bytes": at_start,
        "rss_at_end_bytes": after_posting,
    }
    say(
        PART,
        f"{kind}: {in_flight:,} in flight ({counts}); peak RSS {peak / 2**20:.0f} MB "
        f"(at start {at_start / 2**20:.0f} MB, at the end {after_posting / 2**20:.0f} MB)",
    )
    return Result(
        part=PART,
        database=kind,
        line=f"peak RSS, {in_flight:,} messages in flight",
        rate=peak / 2**20,
        unit="MB",
        ceiling=LIMIT_MB,
        ceiling_label="limit",
        target=1.0,
        higher_is_better=False,
        peak_rss_bytes=peak,
        details=details,
    )
