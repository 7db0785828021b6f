"""The delivery workers as ``serve`` runs them: maintenance passes, start and stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from delivery_helpers import FakeClock, inbox, write_config
from message_builders import NICK, START, accept, dispatch, message, relays, report

from smsgate.delivery import DeliveryWorkers
from smsgate.delivery.matching import store_reports
from smsgate.delivery.outbox import Outcome, claim, settle


def workers_for(engine, database_url, tmp_path, clock) -> DeliveryWorkers:
    config = write_config(tmp_path / "smsgate.toml", database_url, "https://ct.invalid/sms/generic")
    return DeliveryWorkers(config, engine, clock=clock, owner="workers-test")


def test_a_sweep_matches_late_purges_unmatched_after_72_hours_and_relayed_after_7_days(
    engine, database_url, tmp_path
):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})
    store_reports(engine, NICK, [report("tx-1"), report("tx-unknown")], START)
    (row,) = claim(engine, NICK, owner="a", now=START, limit=10, lease=30)
    settle(engine, Outcome(done=[row.id]), owner="a", now=START)
    clock = FakeClock(START + timedelta(hours=73))
    workers = workers_for(engine, database_url, tmp_path, clock)

    swept = asyncio.run(workers.sweep_once())
    assert (swept.purged_inbox, swept.purged_done) == (1, 0)
    clock.advance(6 * 24 * 3600)
    swept = asyncio.run(workers.sweep_once())

    assert (swept.purged_inbox, swept.purged_done) == (0, 1)
    assert inbox(engine) == [] and relays(engine) == []
    assert message(engine, "m1.").status == "delivered"


def test_workers_start_and_stop_promptly_and_close_their_own_client(engine, database_url, tmp_path):
    workers = workers_for(engine, database_url, tmp_path, FakeClock())

    async def main() -> httpx.AsyncClient | None:
        await workers.start()
        client = workers.client
        await asyncio.wait_for(workers.stop(), timeout=5)
        assert workers.client is None
        return client

    client = asyncio.run(main())
    assert client is not None and client.is_closed
