"""The relay outbox: every path into a final status queues CleverTap's record, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from delivery_helpers import relayed
from message_builders import NICK, OUTBOX, START, accept, dispatch, message, relays

from smsgate.delivery import outbox as relay_outbox
from smsgate.delivery.outbox import Outcome, claim, enqueue_relay, purge_done, settle
from smsgate.intake.records import Rejection, prepare_record
from smsgate.storage.intake import store_records

LATER = START + timedelta(seconds=5)


def test_an_intake_reject_with_a_message_id_reaches_clevertap_as_failed_with_its_code(engine):
    prepared = prepare_record(
        0,
        {"to": "12", "body": "hi", "message_id": "bad-number."},
        nickname=NICK,
        default_country="IN",
        now=START,
    )
    assert isinstance(prepared, Rejection)

    store_records(engine, NICK, [], [prepared], START)

    assert relayed(engine) == [
        (
            "failed",
            "bad-number.",
            {
                "ts": int(START.timestamp()),
                "meta": "bad-number.",
                "code": prepared.code,
                "description": prepared.error[:512],
            },
        )
    ]


def test_a_vendor_refusal_recorded_by_the_dispatcher_reaches_clevertap_as_failed(engine):
    accept(engine, ["m1.", "m2."])

    dispatch(engine, submitted={"m2.": "tx-2"}, failed={"m1.": "906"})

    assert relayed(engine) == [
        (
            "failed",
            "m1.",
            {
                "ts": int(START.timestamp()),
                "meta": "m1.",
                "code": "906",
                "description": "refused by the vendor",
            },
        )
    ]


def test_enqueueing_twice_adds_nothing_and_skips_messages_not_final_or_untracked(engine):
    accept(engine, ["final.", "waiting.", "untracked."])
    dispatch(engine, submitted={"waiting.": "tx-w"}, failed={"final.": "900", "untracked.": "900"})
    ids = [message(engine, m).id for m in ("final.", "waiting.", "untracked.")]
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE messages SET tracked = :no WHERE message_id = 'untracked.'"),
            {"no": False},
        )
        connection.execute(sa.delete(OUTBOX))

    with engine.begin() as connection:
        first = enqueue_relay(connection, ids, LATER)
    with engine.begin() as connection:
        second = enqueue_relay(connection, ids, LATER)

    assert (first, second) == (1, 0)
    assert [(event, meta) for event, meta, _ in relayed(engine)] == [("failed", "final.")]


def test_a_code_clevertap_would_refuse_is_relayed_as_900(engine):
    accept(engine, ["m1."])
    dispatch(engine, failed={"m1.": "911"})

    assert relayed(engine)[0][2]["code"] == "900"


def test_claimed_rows_are_leased_and_not_claimed_again_until_the_lease_ends(engine):
    accept(engine, [f"m{i}." for i in range(3)])
    dispatch(engine, failed={f"m{i}.": "900" for i in range(3)})

    first = claim(engine, NICK, owner="a", now=LATER, limit=2, lease=30)
    second = claim(engine, NICK, owner="b", now=LATER, limit=10, lease=30)
    after_lease = claim(
        engine, NICK, owner="c", now=LATER + timedelta(seconds=31), limit=10, lease=30
    )

    assert [len(first), len(second)] == [2, 1]
    assert {row.id for row in first}.isdisjoint({row.id for row in second})
    assert sorted(row.id for row in after_lease) == sorted(row.id for row in first + second)
    assert {row.attempts for row in after_lease} == {2}


def test_results_are_written_only_for_rows_the_worker_still_holds(engine):
    accept(engine, ["m1.", "m2."])
    dispatch(engine, failed={"m1.": "900", "m2.": "900"})
    mine = claim(engine, NICK, owner="a", now=LATER, limit=10, lease=30)
    # The lease ran out and another worker took the rows over.
    theirs = claim(engine, NICK, owner="b", now=LATER + timedelta(seconds=31), limit=10, lease=30)

    written = settle(engine, Outcome(done=[row.id for row in mine]), owner="a", now=LATER)
    assert written == 0
    written = settle(
        engine,
        Outcome(done=[theirs[0].id], dead={theirs[1].id: "refused"}),
        owner="b",
        now=LATER,
    )

    assert written == 2
    assert [(row.state, row.last_error) for row in relays(engine)] == [
        ("done", None),
        ("dead", "refused"),
    ]


def test_retried_rows_wait_until_their_time_and_done_rows_are_purged_after_retention(engine):
    accept(engine, ["m1.", "m2."])
    dispatch(engine, failed={"m1.": "900", "m2.": "900"})
    first, second = claim(engine, NICK, owner="a", now=LATER, limit=10, lease=30)
    settle(
        engine,
        Outcome(done=[first.id], retry={second.id: (LATER + timedelta(minutes=10), "HTTP 503")}),
        owner="a",
        now=LATER,
    )

    assert (
        claim(engine, NICK, owner="a", now=LATER + timedelta(minutes=9), limit=10, lease=30) == []
    )
    assert relay_outbox.due_nicknames(engine, LATER + timedelta(minutes=10)) == [NICK]
    assert purge_done(engine, LATER) == 0
    assert purge_done(engine, LATER + timedelta(seconds=1)) == 1
    assert [row.last_error for row in relays(engine)] == ["HTTP 503"]


def test_a_row_locked_by_another_process_is_skipped_not_waited_for(engine, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: there are no row locks to skip")
    accept(engine, ["m1.", "m2."])
    dispatch(engine, failed={"m1.": "900", "m2.": "900"})
    rows = relays(engine)

    with engine.connect() as other:
        transaction = other.begin()
        other.execute(sa.select(OUTBOX).where(OUTBOX.c.id == rows[0].id).with_for_update())
        got = claim(engine, NICK, owner="a", now=LATER, limit=10, lease=30)
        transaction.rollback()

    assert [row.id for row in got] == [rows[1].id]
