"""Matching reports to messages, the inbox of early reports, and monotonic statuses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from delivery_helpers import events, inbox, relayed
from message_builders import NICK, START, accept, dispatch, message, relays, report

from smsgate.delivery.matching import (
    ADOPTED,
    AMBIGUOUS,
    WAITING,
    same_number,
    store_reports,
    sweep_inbox,
)
from smsgate.types import EventKind

LATER = START + timedelta(seconds=30)


def test_a_report_moves_its_message_to_delivered_and_queues_one_clevertap_record(engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})

    stored = store_reports(engine, NICK, [report("tx-1", description="DELIVRD")], LATER)

    assert (stored.matched, stored.applied, stored.waiting) == (1, 1, 0)
    row = message(engine, "m1.")
    assert (row.status, row.status_rank) == ("delivered", 100)
    assert relayed(engine) == [
        (
            "delivered",
            "m1.",
            {"ts": int(START.timestamp()), "meta": "m1.", "description": "DELIVRD"},
        )
    ]


def test_a_failed_report_keeps_its_code_and_words_on_the_message_and_for_clevertap(engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})

    store_reports(
        engine,
        NICK,
        [report("tx-1", EventKind.FAILED, code="916", description="EXPIRED")],
        LATER,
    )

    row = message(engine, "m1.")
    assert (row.status, row.failure_code, row.failure_description) == ("failed", "916", "EXPIRED")
    assert relayed(engine)[0][2] == {
        "ts": int(START.timestamp()),
        "meta": "m1.",
        "code": "916",
        "description": "EXPIRED",
    }


def test_duplicates_are_kept_as_events_but_change_nothing_and_relay_nothing_more(engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})
    delivered = report("tx-1")

    first = store_reports(engine, NICK, [delivered], LATER)
    second = store_reports(engine, NICK, [delivered, delivered], LATER)

    assert (first.applied, second.applied, second.matched) == (1, 0, 2)
    reports = [e for e in events(engine, "m1.") if e.kind == "delivered"]
    assert [e.payload["applied"] for e in reports] == [True, False, False]
    assert len(relays(engine)) == 1


def test_a_final_status_never_regresses_and_the_first_final_report_wins(engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})

    store_reports(engine, NICK, [report("tx-1", EventKind.FAILED, code="914")], LATER)
    store_reports(engine, NICK, [report("tx-1", EventKind.BUFFERED)], LATER)
    store_reports(engine, NICK, [report("tx-1", EventKind.DELIVERED)], LATER)

    row = message(engine, "m1.")
    assert (row.status, row.failure_code) == ("failed", "914")
    assert [(event, meta) for event, meta, _ in relayed(engine)] == [("failed", "m1.")]


def test_an_intermediate_report_moves_the_message_to_buffered_and_relays_nothing(engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})

    store_reports(
        engine, NICK, [report("tx-1", EventKind.BUFFERED, vendor_status="ACCEPTD")], LATER
    )

    assert message(engine, "m1.").status == "buffered"
    assert relays(engine) == []


def test_a_later_failure_without_a_code_never_erases_the_stored_code(engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})

    store_reports(engine, NICK, [report("tx-1", EventKind.FAILED, code="901")], LATER)
    store_reports(engine, NICK, [report("tx-1", EventKind.FAILED)], LATER)

    assert message(engine, "m1.").failure_code == "901"
    assert relayed(engine)[0][2]["code"] == "901"


def test_a_failure_without_any_code_reaches_clevertap_as_900(engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})

    store_reports(engine, NICK, [report("tx-1", EventKind.FAILED, vendor_status="FAILED")], LATER)

    assert relayed(engine)[0][2] == {
        "ts": int(START.timestamp()),
        "meta": "m1.",
        "code": "900",
        "description": "FAILED",
    }


def test_a_report_before_its_send_result_waits_and_is_applied_when_the_result_lands(engine):
    accept(engine, ["m1."])

    early = store_reports(engine, NICK, [report("tx-1")], START)

    assert (early.matched, early.waiting) == (0, 1)
    assert [(row.vendor_id, row.kind, row.reason) for row in inbox(engine)] == [
        ("tx-1", "delivered", WAITING)
    ]
    assert message(engine, "m1.").status == "accepted"

    dispatch(engine, LATER, submitted={"m1.": "tx-1"})

    assert inbox(engine) == []
    assert message(engine, "m1.").status == "delivered"
    kinds = [event.kind for event in events(engine, "m1.")]
    assert kinds[-2:] == ["submitted", "delivered"]
    assert events(engine, "m1.")[-1].payload["waited"] is True
    assert [event for event, _, _ in relayed(engine)] == ["delivered"]


def test_early_reports_are_applied_in_the_order_they_arrived(engine):
    accept(engine, ["m1."])
    store_reports(engine, NICK, [report("tx-1", EventKind.BUFFERED)], START)
    store_reports(engine, NICK, [report("tx-1", EventKind.FAILED, code="916")], START)
    store_reports(engine, NICK, [report("tx-1", EventKind.DELIVERED)], START)

    dispatch(engine, LATER, submitted={"m1.": "tx-1"})

    row = message(engine, "m1.")
    assert (row.status, row.failure_code) == ("failed", "916")
    assert [event for event, _, _ in relayed(engine)] == ["failed"]


def test_the_sweep_matches_a_report_whose_message_became_known_by_another_path(engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})
    # As if the report's transaction had committed just after the send result's.
    from delivery_helpers import INBOX

    with engine.begin() as connection:
        early = report("tx-1")
        connection.execute(
            INBOX.insert().values(
                nickname=NICK,
                vendor_id="tx-1",
                to=None,
                kind="delivered",
                event=early.to_json(),
                source="callback",
                reason=WAITING,
                occurred_at=START,
                received_at=START,
            )
        )

    swept = sweep_inbox(engine, LATER, retention=72 * 3600)

    assert (swept.matched, swept.purged) == (1, 0)
    assert message(engine, "m1.").status == "delivered"
    assert inbox(engine) == []


def test_unmatched_reports_stay_visible_for_the_retention_and_are_purged_after(engine):
    store_reports(engine, NICK, [report("tx-never")], START)

    kept = sweep_inbox(engine, START + timedelta(hours=71), retention=72 * 3600)
    assert (kept.purged, len(inbox(engine))) == (0, 1)

    purged = sweep_inbox(engine, START + timedelta(hours=73), retention=72 * 3600)
    assert (purged.purged, inbox(engine)) == (1, [])


def test_reports_match_only_messages_sent_through_their_nickname(engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})

    stored = store_reports(engine, "other-vendor", [report("tx-1")], LATER)

    assert stored.waiting == 1
    assert message(engine, "m1.").status == "submitted"


def test_one_vendor_id_for_several_numbers_is_told_apart_by_the_reported_number(engine):
    accept(
        engine,
        [
            {"to": "9845000001", "body": "hello", "message_id": "m1."},
            {"to": "9845000002", "body": "hello", "message_id": "m2."},
        ],
    )
    dispatch(engine, submitted={"m1.": "tx-shared", "m2.": "tx-shared"})

    store_reports(
        engine,
        NICK,
        [
            report("tx-shared", EventKind.DELIVERED, to="919845000002"),
            report("tx-shared", EventKind.FAILED, code="901", to="9845000001"),
        ],
        LATER,
    )

    assert message(engine, "m1.").status == "failed"
    assert message(engine, "m2.").status == "delivered"
    assert sorted((event, meta) for event, meta, _ in relayed(engine)) == [
        ("delivered", "m2."),
        ("failed", "m1."),
    ]


def test_a_shared_vendor_id_without_a_number_waits_as_ambiguous_and_the_sweep_leaves_it(engine):
    accept(engine, ["m1.", "m2."])
    dispatch(engine, submitted={"m1.": "tx-shared", "m2.": "tx-shared"})

    stored = store_reports(engine, NICK, [report("tx-shared")], LATER)
    swept = sweep_inbox(engine, LATER, retention=72 * 3600)

    assert (stored.waiting, swept.matched) == (1, 0)
    assert [row.reason for row in inbox(engine)] == [AMBIGUOUS]
    assert {message(engine, m).status for m in ("m1.", "m2.")} == {"submitted"}


SEND_LEASE = 210.0
RETENTION = 72 * 3600


def sweep_later(engine, **later):
    """The delivery workers' sweep, ``later`` (timedelta's arguments) after the reports."""
    return sweep_inbox(
        engine, LATER + timedelta(**later), retention=RETENTION, adopt_after=SEND_LEASE
    )


def test_a_report_about_an_unknown_messages_number_settles_it_once_no_send_can_be_in_flight(
    engine,
):
    accept(engine, ["m1.", "m2."])
    dispatch(engine, unknown=["m1."], submitted={"m2.": "tx-2"})
    store_reports(engine, NICK, [report("tx-lost", to="919845000000")], LATER)

    early = sweep_later(engine, seconds=60)
    assert (early.adopted, message(engine, "m1.").status) == (0, "unknown")

    swept = sweep_later(engine, seconds=211)

    row = message(engine, "m1.")
    assert (swept.adopted, swept.matched) == (1, 1)
    assert (row.status, row.vendor_id) == ("delivered", "tx-lost")
    assert ADOPTED in [event.kind for event in events(engine, "m1.")]
    assert [(event, meta) for event, meta, _ in relayed(engine)] == [("delivered", "m1.")]
    assert inbox(engine) == []


def test_a_report_that_could_be_about_two_unknown_messages_settles_neither(engine):
    same = {"to": "9845000001", "body": "hello"}
    accept(engine, [{**same, "message_id": "m1."}, {**same, "message_id": "m2."}])
    dispatch(engine, unknown=["m1.", "m2."])
    store_reports(engine, NICK, [report("tx-lost", to="919845000001")], LATER)

    swept = sweep_later(engine, hours=1)

    assert swept.adopted == 0
    assert {message(engine, m).vendor_id for m in ("m1.", "m2.")} == {None}
    assert [row.reason for row in inbox(engine)] == [WAITING]


def test_two_vendor_ids_reported_for_one_unknown_number_give_it_neither(engine):
    accept(engine, ["m1."])
    dispatch(engine, unknown=["m1."])
    store_reports(
        engine,
        NICK,
        [report("tx-a", to="919845000000"), report("tx-b", EventKind.FAILED, to="919845000000")],
        LATER,
    )

    swept = sweep_later(engine, hours=1)

    assert swept.adopted == 0
    assert message(engine, "m1.").status == "unknown"
    assert len(inbox(engine)) == 2


def test_a_message_of_the_same_number_still_waiting_for_its_fate_keeps_the_report_unmatched(
    engine,
):
    same = {"to": "9845000001", "body": "hello"}
    accept(engine, [{**same, "message_id": "m1."}, {**same, "message_id": "m2."}])
    # m2 was submitted under another id: the report may well be its own, under a vendor id
    # its send answer did not show.
    dispatch(engine, unknown=["m1."], submitted={"m2.": "tx-2"})
    store_reports(engine, NICK, [report("tx-other", to="919845000001")], LATER)

    swept = sweep_later(engine, hours=1)

    assert swept.adopted == 0
    assert message(engine, "m1.").vendor_id is None


def test_a_report_for_the_number_anywhere_in_the_inbox_stops_the_adoption(engine):
    accept(engine, ["m1."])
    dispatch(engine, unknown=["m1."])
    unrelated = [report(f"tx-x{n}", to=f"9198451{n:05d}") for n in range(499)]
    store_reports(engine, NICK, unrelated, START)
    store_reports(
        engine,
        NICK,
        [report("tx-a", to="919845000000"), report("tx-b", EventKind.FAILED, to="919845000000")],
        LATER,
    )

    swept = sweep_later(engine, hours=1)

    assert swept.adopted == 0
    assert message(engine, "m1.").status == "unknown"


def test_a_report_naming_a_number_that_ends_another_goes_to_the_whole_numbers_message(engine):
    # +91 91723 45678 ends with +1 917 234 5678: the report's whole number decides.
    accept(
        engine,
        [
            {"to": "+919172345678", "body": "hello", "message_id": "in."},
            {"to": "+19172345678", "body": "hello", "message_id": "us."},
        ],
    )
    dispatch(engine, unknown=["in.", "us."])
    store_reports(engine, NICK, [report("tx-us", to="19172345678")], LATER)

    swept = sweep_later(engine, hours=1)

    assert swept.adopted == 1
    assert message(engine, "in.").vendor_id is None
    assert (message(engine, "us.").vendor_id, message(engine, "us.").status) == (
        "tx-us",
        "delivered",
    )


def test_a_report_older_than_the_unknown_message_is_not_about_it(engine):
    store_reports(engine, NICK, [report("tx-old", to="919845000000")], START)
    later = START + timedelta(minutes=5)
    accept(engine, ["m1."], later)
    dispatch(engine, later, unknown=["m1."])

    swept = sweep_later(engine, hours=1)

    assert swept.adopted == 0
    assert message(engine, "m1.").status == "unknown"


def test_clicks_and_replies_are_relayed_once_each_without_touching_the_status(engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})
    click = report("tx-1", EventKind.CLICKED, url="https://acme.in/offer", short_url="ac.me/1")
    reply = report("tx-1", EventKind.REPLIED, incoming_text="STOP" * 200, to_phone="5555")

    store_reports(engine, NICK, [click, reply, click], LATER)

    assert message(engine, "m1.").status == "submitted"
    records = {event: record for event, _, record in relayed(engine)}
    assert records["clicked"] == {
        "ts": int(START.timestamp()),
        "meta": "m1.",
        "url": "https://acme.in/offer",
        "shorturl": "ac.me/1",
    }
    assert len(records["replied"]["incomingText"]) == 512
    assert records["replied"]["toPhone"] == "5555"
    assert len(relays(engine)) == 2


def test_every_distinct_reply_and_click_is_relayed_and_a_vendors_repeat_is_not(engine):
    accept(engine, ["m1."])
    dispatch(engine, submitted={"m1.": "tx-1"})
    yes = report("tx-1", EventKind.REPLIED, incoming_text="YES", to_phone="5555")
    stop = report("tx-1", EventKind.REPLIED, at=LATER, incoming_text="STOP", to_phone="5555")
    offer = report("tx-1", EventKind.CLICKED, url="https://acme.in/offer")
    again = report("tx-1", EventKind.CLICKED, at=LATER, url="https://acme.in/offer")

    store_reports(engine, NICK, [yes, offer], LATER)
    store_reports(engine, NICK, [yes, stop, offer, again, stop], LATER)

    assert sorted(
        (event, record.get("incomingText") or record["url"], record["ts"])
        for event, _, record in relayed(engine)
    ) == [
        ("clicked", "https://acme.in/offer", int(START.timestamp())),
        ("clicked", "https://acme.in/offer", int(LATER.timestamp())),
        ("replied", "STOP", int(LATER.timestamp())),
        ("replied", "YES", int(START.timestamp())),
    ]
    assert len(events(engine, "m1.")) == 2 + 7


def test_a_second_final_report_adds_no_second_record_whatever_it_says(engine):
    accept(engine, ["m1.", "m2."])
    dispatch(engine, submitted={"m1.": "tx-1", "m2.": "tx-2"})

    store_reports(engine, NICK, [report("tx-1"), report("tx-2", description="DELIVRD")], LATER)
    store_reports(
        engine,
        NICK,
        [
            report("tx-1", at=LATER, description="again"),
            report("tx-2", EventKind.FAILED, code="901"),
        ],
        LATER,
    )

    assert sorted((event, meta) for event, meta, _ in relayed(engine)) == [
        ("delivered", "m1."),
        ("delivered", "m2."),
    ]


def test_reports_about_untracked_messages_are_stored_but_never_relayed(engine):
    from message_builders import MESSAGES

    accept(engine, ["m1."])
    with engine.begin() as connection:
        connection.execute(MESSAGES.update().values(tracked=False))
    dispatch(engine, submitted={"m1.": "tx-1"})

    store_reports(engine, NICK, [report("tx-1")], LATER)

    assert message(engine, "m1.").status == "delivered"
    assert relays(engine) == []


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("+919845000001", "919845000001", True),
        ("+919845000001", "9845000001", True),
        ("+919845000001", "09845000001", True),
        ("+919845000001", "+919845000002", False),
        ("+919845000001", "45000001", True),
        ("+919845000001", "000001", False),
        (None, "9845000001", False),
    ],
)
def test_numbers_are_the_same_when_their_digits_agree_up_to_the_country_code(left, right, same):
    assert same_number(left, right) is same
