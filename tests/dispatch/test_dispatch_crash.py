"""A gateway killed with SIGKILL mid-dispatch, then restarted: none sent twice, none lost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from dispatch_helpers import messages
from dispatch_processes import (
    add_fault,
    post_messages,
    records,
    sandbox,
    sends_per_text,
    serve,
    vendor_log,
    write_gateway_config,
)
from fault_invariants import Sent, assert_invariants, observe

from smsgate.storage.models import MessageEvent, MessageStatus

SETTLED = {MessageStatus.SUBMITTED, MessageStatus.UNKNOWN, MessageStatus.FAILED}


@pytest.mark.slow
@pytest.mark.faults
def test_sigkill_mid_dispatch_sends_nothing_twice_and_loses_nothing(
    database_url: str, engine: sa.Engine, tmp_path: Path
) -> None:
    count = 60
    with sandbox(tmp_path) as vendor:
        # Slow answers keep batches in flight, so the kill lands inside vendor calls.
        add_fault(vendor, delay=0.4, count=100_000)
        config = write_gateway_config(
            tmp_path / "smsgate.toml",
            database_url,
            vendor.url,
            {
                "concurrency": 2,
                "batch_size": 5,
                "poll_interval": 0.1,
                "send_timeout": 3.0,
                "lease": 4.0,
                "reclaim_interval": 0.5,
            },
        )
        gateway = serve(config, tmp_path / "serve-1.log")
        try:
            post_messages(gateway.url, records(count))
            _wait(
                lambda: (
                    len(vendor_log(vendor)) >= 12
                    and any(row.status == MessageStatus.SENDING for row in messages(engine))
                ),
                "sends in flight",
            )
        finally:
            gateway.kill()

        in_flight = [row for row in messages(engine) if row.status == MessageStatus.SENDING]
        assert in_flight, "the kill should have caught messages being sent"

        gateway = serve(config, tmp_path / "serve-2.log")
        try:
            _wait(
                lambda: {row.status for row in messages(engine)} <= SETTLED,
                "every message to settle",
                seconds=25,
            )
        finally:
            gateway.stop()

        sent = sends_per_text(vendor)
        log = vendor_log(vendor)
        seen = observe(engine, vendor.url)

    assert_invariants(seen, Sent(answered={r["message_id"] for r in records(count)}))

    rows = messages(engine)
    assert len(rows) == count
    # None sent twice.
    assert max(sent.values()) == 1
    # None lost: each submitted (and the vendor has it, under that id) or unknown with a reason.
    ids_by_text = {entry["msg"]: entry["transactionId"] for entry in log}
    statuses = {row.status for row in rows}
    assert statuses <= {MessageStatus.SUBMITTED, MessageStatus.UNKNOWN}
    for row in rows:
        if row.status == MessageStatus.SUBMITTED:
            assert ids_by_text[row.body] == row.vendor_id
        else:
            assert row.failure_description, row
            assert _event_kinds(engine, row.id)[-1] == "unknown"
    assert {row.id for row in in_flight} <= {
        row.id for row in rows if row.status == MessageStatus.UNKNOWN
    }
    assert sum(row.status == MessageStatus.SUBMITTED for row in rows) >= count - 2 * 2 * 5


def _event_kinds(engine: sa.Engine, pk: int) -> list[str]:
    table = MessageEvent.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(table.c.kind).where(table.c.message_pk == pk).order_by(table.c.id)
            ).scalars()
        )


def _wait(condition, what: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
