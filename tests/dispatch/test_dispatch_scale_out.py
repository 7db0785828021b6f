"""Three gateway processes on one PostgreSQL database share the queue: each message once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from dispatch_processes import (
    post_messages,
    records,
    sandbox,
    sends_per_text,
    serve,
    vendor_log,
    wait_ready,
    write_gateway_config,
)

from smsgate.storage.models import Message, MessageEvent, MessageStatus

COUNT = 5000


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_three_processes_send_5000_messages_each_exactly_once(
    database_url: str, engine: sa.Engine, tmp_path: Path
) -> None:
    with sandbox(tmp_path) as vendor:
        config = write_gateway_config(
            tmp_path / "smsgate.toml",
            database_url,
            vendor.url,
            # Generous timeouts: on a loaded test machine a slow answer is not what is tested.
            {
                "concurrency": 4,
                "batch_size": 100,
                "poll_interval": 0.2,
                "send_timeout": 60.0,
                "lease": 90.0,
            },
            {"read_timeout": 45.0},
        )
        gateways = [serve(config, tmp_path / f"serve-{i}.log", wait=False) for i in range(3)]
        try:
            for gateway in gateways:
                wait_ready(gateway)
            batch = records(COUNT)
            # Each process takes part of the intake, as behind a load balancer.
            for index, start in enumerate(range(0, COUNT, 1000)):
                post_messages(gateways[index % 3].url, batch[start : start + 1000])
            # Typically 20-40 s: the sandbox, one Python process, is the ceiling here.
            deadline = time.monotonic() + 90
            while (
                _count(engine, MessageStatus.SUBMITTED) + _count(engine, MessageStatus.UNKNOWN)
                < COUNT
            ):
                assert time.monotonic() < deadline, (_statuses(engine), _unsettled(engine))
                time.sleep(0.2)
        finally:
            for gateway in gateways:
                gateway.stop()
        sent = sends_per_text(vendor)
        log = vendor_log(vendor)

    # Every message reached the vendor, and none twice.
    assert len(log) == COUNT
    assert set(sent.values()) == {1}
    assert set(sent) == {record["body"] for record in batch}
    assert all(entry["accepted"] for entry in log)
    # Each is submitted, unless its answer was lost (then it is unknown, with the reason).
    unsettled = _unsettled(engine, limit=COUNT)
    assert all(reason for _, _, reason in unsettled), unsettled
    # The work was shared: every process claimed some of it.
    assert len(_workers(engine)) == 3


def _count(engine: sa.Engine, status: MessageStatus) -> int:
    table = Message.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count()).where(table.c.status == status.value)
            ).scalar_one()
        )


def _statuses(engine: sa.Engine) -> dict[str, int]:
    table = Message.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
        )
        return {status: count for status, count in rows}


def _unsettled(engine: sa.Engine, limit: int = 5) -> list[tuple[str, str, str | None]]:
    table = Message.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.message_id, table.c.status, table.c.failure_description)
            .where(table.c.status != MessageStatus.SUBMITTED.value)
            .limit(limit)
        )
        return [tuple(row) for row in rows]


def _workers(engine: sa.Engine) -> set[str]:
    table = MessageEvent.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        payloads = connection.execute(
            sa.select(table.c.payload).where(table.c.kind == "sending")
        ).scalars()
        # The owner name is host:pid:random; one per process.
        return {payload["worker"] for payload in payloads}
