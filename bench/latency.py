"""Latency: how long a client waits for a 1000-record accept at half the peak rate.

For each database kind, on one ``smsgate serve`` (one uvicorn worker, dispatch off) on a
fresh database:

1. **peak**: batches of 1000 records (those of :mod:`bench.ingest`) posted by two clients
   back to back, closed loop: the most batches a second the gateway accepts;
2. **half the peak**: as many batches again and more, each posted at its time on a fixed
   schedule, one every ``2 / peak`` seconds, open loop (:func:`bench.load.paced`): a batch
   is sent at its time even when earlier ones are still waiting, on a connection of its
   own if need be. Each batch's latency runs from its time on the schedule until the
   gateway's 202 with ``accepted: 1000`` (sent after the commit) has been read, so a
   stall of the gateway counts for every batch it delays (no coordinated omission).

Percentiles are nearest-rank: p99 is the smallest latency that at least 99 % of the
batches did not exceed. Target: p99 at most :data:`P99_LIMIT_MS`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import ingest, load
from bench.harness import (
    NICKNAME,
    TOKEN,
    BenchError,
    Context,
    Result,
    Rig,
    cpu_seconds,
    profile_pass,
    say,
)
from bench.ingest import BATCH, Serials, encode_batch, make_batches, post_batches

PART = "latency"
#: The issue's target for the p99 latency of a 1000-record accept at half the peak rate.
P99_LIMIT_MS = 250.0
PATH = f"/clevertap/{NICKNAME}"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
#: The gateway's access log line of an accepted batch, with the time it spent on it.
_ACCESS_LINE = re.compile(rf"POST {re.escape(PATH)} 202 ([0-9.]+) ms")


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``sorted_values`` (ascending), ``fraction`` in (0, 1]."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def batch_requests(url: str, batches: Sequence[list[dict[str, Any]]]) -> list[bytes]:
    """Prepared POSTs of ``batches`` to the benchmark's nickname, as CleverTap sends them."""
    return [load.post_request(url, PATH, encode_batch(batch), HEADERS) for batch in batches]


def expect_accepted(run: load.Paced) -> None:
    """Raise unless every batch was answered 202 with all 1000 records accepted."""
    for timed in run.timed:
        answer = timed.answer
        if answer.status != 202:
            raise BenchError(f"the gateway answered {answer.status}: {answer.body[:300]!r}")
        if json.loads(answer.body).get("accepted") != BATCH:
            raise BenchError(f"the gateway did not accept the whole batch: {answer.body[:300]!r}")


def summary(latencies_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99, max and mean of ``latencies_ms``."""
    ordered = sorted(latencies_ms)
    return {
        "p50": percentile(ordered, 0.50),
        "p95": percentile(ordered, 0.95),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1],
        "mean": sum(ordered) / len(ordered),
    }


def server_durations(log: Path, count: int) -> list[float]:
    """What the gateway's access log says it spent on its last ``count`` accepted batches.

    From the request-id middleware's start to the answer: the part of each latency spent
    inside the gateway's application, as against waiting to be read or in the network.
    Empty if the log does not hold that many such lines.
    """
    text = log.read_text(encoding="utf-8", errors="replace")
    found = [float(match) for match in _ACCESS_LINE.findall(text)]
    return found[-count:] if len(found) >= count else []


# --- the part --------------------------------------------------------------------------


def run(context: Context) -> list[Result]:
    """Measure the accept latency on each database kind of ``context``."""
    return [_measure(context, kind) for kind in context.databases]


def _measure(context: Context, kind: str) -> Result:
    size = context.size
    serials = Serials()
    with Rig(context, PART, kind) as rig:
        database = rig.database()
        gateway = rig.gateway(database.config)
        post_batches(gateway.url, make_batches(serials, size.warmup), 1)
        peak_seconds = post_batches(gateway.url, make_batches(serials, size.latency_peak), 2)
        peak = size.latency_peak / peak_seconds
        offered = peak / 2
        say(
            PART,
            f"{kind}: peak {peak:.1f} batches/s ({peak * BATCH:,.0f} msg/s); "
            f"{size.latency_batches} batches at {offered:.1f}/s, one every "
            f"{1000 / offered:.0f} ms",
        )
        requests = batch_requests(gateway.url, make_batches(serials, size.latency_batches))
        cpu = cpu_seconds(gateway.pid)
        paced = load.paced(gateway.url, requests, 1 / offered)
        cpu = cpu_seconds(gateway.pid) - cpu
        expect_accepted(paced)
        server = server_durations(gateway.log, size.latency_batches)

        def paced_again() -> None:
            again = batch_requests(gateway.url, make_batches(serials, size.latency_batches))
            expect_accepted(load.paced(gateway.url, again, 1 / offered))

        profile = profile_pass(
            context,
            PART,
            kind,
            gateway.pid,
            ingest.PROFILE_MARKS,
            "the gateway at half the peak rate",
            paced_again,
        )
        gateway.stop()
    figures = summary([1000 * timed.latency for timed in paced.timed])
    say(
        PART,
        f"{kind}: p50 {figures['p50']:.0f} ms, p95 {figures['p95']:.0f} ms, "
        f"p99 {figures['p99']:.0f} ms, max {figures['max']:.0f} ms; gateway CPU "
        f"{1000 * cpu / size.latency_batches:.0f} ms a batch, "
        f"{cpu / paced.seconds:.0%} of a core",
    )
    details: dict[str, Any] = {
        "latency_ms": figures,
        "batches": size.latency_batches,
        "records_per_batch": BATCH,
        "peak_batches_per_second": peak,
        "peak_batches_measured": size.latency_peak,
        "offered_batches_per_second": offered,
        "achieved_batches_per_second": size.latency_batches / paced.seconds,
        "gateway_cpu_ms_per_batch": 1000 * cpu / size.latency_batches,
        "gateway_cpu_share_of_a_core": cpu / paced.seconds,
        "max_send_lag_ms": max(1000 * timed.send_lag for timed in paced.timed),
        "connections_used": paced.connections,
        "latencies_ms": [round(1000 * timed.latency, 2) for timed in paced.timed],
    }
    if server:
        details["in_gateway_ms"] = summary(server)
        details["in_gateway_per_batch_ms"] = server
    if profile:
        details["profile"] = profile
    return Result(
        part=PART,
        database=kind,
        line="p99, 1000-record accept at half the peak rate",
        rate=figures["p99"],
        unit="ms",
        ceiling=P99_LIMIT_MS,
        ceiling_label="limit",
        target=1.0,
        higher_is_better=False,
        peak_rss_bytes=gateway.peak_rss_bytes,
        details=details,
    )
