"""Reports of several requests stored in one transaction: the same outcome as one by one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest
import sqlalchemy as sa
from delivery_helpers import EVENTS, events, inbox, relayed
from message_builders import NICK, START, accept, dispatch, message, report

from smsgate.delivery.grouping import ReportGroups
from smsgate.delivery.matching import Stored, store_groups
from smsgate.delivery.reports import Report
from smsgate.errors import RequestError
from smsgate.types import EventKind

LATER = START + timedelta(seconds=30)


def test_reports_of_several_requests_in_one_transaction_end_as_if_stored_one_by_one(engine):
    accept(engine, ["m1.", "m2.", "m3."])
    dispatch(engine, submitted={"m1.": "tx-1", "m2.": "tx-2", "m3.": "tx-3"})

    stored = store_groups(
        engine,
        [
            (NICK, [report("tx-1", EventKind.BUFFERED), report("tx-2", EventKind.FAILED)]),
            (NICK, [report("tx-1", EventKind.DELIVERED), report("tx-not-yet")]),
            (NICK, [report("tx-2", EventKind.DELIVERED, code="901")]),
            (NICK, [report("tx-3", EventKind.FAILED, code="916"), report("tx-3")]),
        ],
        LATER,
    )

    assert stored == [
        Stored(matched=2, applied=2, waiting=0),
        Stored(matched=1, applied=1, waiting=1),
        # The failure came first in the transaction: a later delivered changes nothing.
        Stored(matched=1, applied=0, waiting=0),
        Stored(matched=2, applied=1, waiting=0),
    ]
    assert message(engine, "m1.").status == "delivered"
    assert (message(engine, "m2.").status, message(engine, "m2.").failure_code) == ("failed", None)
    assert (message(engine, "m3.").status, message(engine, "m3.").failure_code) == ("failed", "916")
    assert sorted((event, meta) for event, meta, _ in relayed(engine)) == [
        ("delivered", "m1."),
        ("failed", "m2."),
        ("failed", "m3."),
    ]
    assert [row.vendor_id for row in inbox(engine)] == ["tx-not-yet"]
    kept = [(row.kind, row.payload.get("applied")) for row in events(engine, "m3.")]
    assert ("failed", True) in kept
    assert ("delivered", False) in kept


def test_a_later_failure_without_a_code_in_the_same_transaction_keeps_the_first_code(engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})

    store_groups(
        engine,
        [
            (NICK, [report("tx-1", EventKind.FAILED, code="901")]),
            (NICK, [report("tx-1", EventKind.FAILED)]),
        ],
        LATER,
    )

    assert message(engine, "m1.").failure_code == "901"
    assert [record["code"] for event, _, record in relayed(engine) if event == "failed"] == ["901"]


def _run(coroutine):
    return asyncio.run(coroutine)


def _parse(reports: Sequence[Report]):
    return lambda: reports


def _refuse():
    raise RequestError(400, "the report cannot be read: no Transactionid")


def test_concurrent_requests_get_their_own_answers_from_a_shared_commit(engine):
    accept(engine, ["m1.", "m2."])
    dispatch(engine, submitted={"m1.": "tx-1", "m2.": "tx-2"})
    groups = ReportGroups(engine)

    async def main():
        return await asyncio.gather(
            groups.store(NICK, _parse([report("tx-1")])),
            groups.store(NICK, _parse([report("tx-2", EventKind.FAILED, code="914")])),
            groups.store(NICK, _parse([report("tx-unknown"), report("tx-1")])),
            groups.store(NICK, _refuse),
            return_exceptions=True,
        )

    first, second, third, fourth = _run(main())

    assert first == (1, Stored(matched=1, applied=1, waiting=0))
    assert second == (1, Stored(matched=1, applied=1, waiting=0))
    assert third == (2, Stored(matched=1, applied=0, waiting=1))
    assert isinstance(fourth, RequestError) and fourth.status_code == 400
    assert message(engine, "m1.").status == "delivered"
    assert message(engine, "m2.").status == "failed"


def test_a_request_whose_reports_the_database_refuses_fails_alone(engine):
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite does not enforce column lengths: nothing to refuse")
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})
    groups = ReportGroups(engine)
    # An event the messages table cannot take: its vendor id is longer than the column.
    # (normalise clips real ones; only a broken caller can hand over such a report.)
    too_long = Report(
        vendor_id="tx-" + "9" * 300,
        kind=EventKind.DELIVERED,
        occurred_at=START,
        received_at=START,
    )

    async def main():
        return await asyncio.gather(
            groups.store(NICK, _parse([report("tx-1")])),
            groups.store(NICK, _parse([too_long])),
            return_exceptions=True,
        )

    good, bad = _run(main())

    assert good == (1, Stored(matched=1, applied=1, waiting=0))
    assert isinstance(bad, sa.exc.DBAPIError)
    assert message(engine, "m1.").status == "delivered"
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar() > 0
