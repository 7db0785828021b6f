"""CleverTap down for a while, then back: every report reaches it, once, without a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from fault_invariants import OUTBOX, assert_invariants, observe, settled, wait_for
from fault_scene import Client, gateway_in_process, scene, texts

pytestmark = pytest.mark.faults

OUTAGE = 2.0


def test_reports_held_back_by_a_clevertap_outage_arrive_once_when_it_recovers(
    database_url: str, engine: sa.Engine, tmp_path: Path
) -> None:
    with scene(database_url, tmp_path) as (url, port, vendor, clevertap, config):
        client = Client(url)
        with gateway_in_process(config, port):
            clevertap.outage(503, seconds=OUTAGE)
            assert client.post(texts("outage", 30)) == 202
            wait_for(lambda: settled(engine, vendor.url), "every report to be relayed")
        seen = observe(engine, vendor.url, clevertap.records())

    summary = assert_invariants(seen, client.sent)

    assert summary.relayed == 30
    # The gateway did meet the outage: records were tried more than once.
    with engine.connect() as connection:
        retried = connection.execute(
            sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.attempts > 1)
        ).scalar_one()
    assert retried > 0
