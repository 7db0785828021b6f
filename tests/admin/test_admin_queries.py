"""Finding messages: every filter, numbers in any form, and pages that never shift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from message_builders import accept, dispatch, kill_relays, texts

from smsgate.admin import queries
from smsgate.admin.queries import MessageFilter, search_messages
from smsgate.storage.models import utcnow

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
IN = {"IN"}


def ids(page):
    return [row.message_id for row in page.items]


def after(page):
    assert page.next_cursor is not None
    return queries.decode_cursor(page.next_cursor)


def test_a_number_is_found_in_whatever_form_it_is_typed(engine):
    accept(engine, [{"to": "+91 98765 43210", "body": "hi", "message_id": "a."}], START)
    accept(engine, texts(2), START)

    for typed in ("9876543210", "+919876543210", "09876543210", "91 98765-43210"):
        found = search_messages(engine, MessageFilter(number=typed), countries=IN)
        assert ids(found) == ["a."], typed


def test_a_number_the_intake_rejected_is_found_as_it_was_sent(engine):
    accept(engine, [{"to": "12ab", "body": "hi", "message_id": "bad."}], START)

    found = search_messages(engine, MessageFilter(number="12ab"), countries=IN)

    assert ids(found) == ["bad."]
    assert found.items[0].status == "failed"


def test_a_record_refused_for_want_of_a_body_is_found_by_its_number_and_campaign(engine):
    refused = {"to": "9876543299", "campaign_id": "diwali", "message_id": "dw.1."}
    accept(engine, [refused], START)

    by_number = search_messages(engine, MessageFilter(number="+919876543299"), countries=IN)
    by_campaign = search_messages(engine, MessageFilter(campaign_id="diwali"))

    assert ids(by_number) == ids(by_campaign) == ["dw.1."]
    assert by_number.items[0].status == "failed"


def test_filters_combine_campaign_status_nickname_and_time(engine):
    accept(engine, texts(3, prefix="old", campaign="diwali"), START)
    accept(engine, texts(3, prefix="new", campaign="diwali"), START + timedelta(hours=2))
    accept(engine, texts(2, prefix="other", campaign="holi"), START + timedelta(hours=2))
    dispatch(engine, START + timedelta(hours=2), failed={"new1.": "910"})

    assert set(ids(search_messages(engine, MessageFilter(campaign_id="diwali")))) == {
        "old1.",
        "old2.",
        "old3.",
        "new1.",
        "new2.",
        "new3.",
    }
    recent = MessageFilter(campaign_id="diwali", since=START + timedelta(hours=1))
    assert set(ids(search_messages(engine, recent))) == {"new1.", "new2.", "new3."}
    failed = MessageFilter(campaign_id="diwali", statuses=("failed",))
    assert ids(search_messages(engine, failed)) == ["new1."]
    early = MessageFilter(until=START + timedelta(hours=1))
    assert set(ids(search_messages(engine, early))) == {"old1.", "old2.", "old3."}
    assert ids(search_messages(engine, MessageFilter(nickname="nobody"))) == []
    assert ids(search_messages(engine, MessageFilter(message_id="holi"))) == []


def test_counts_by_status_answer_what_happened_to_a_campaign(engine):
    accept(engine, texts(4, campaign="diwali"), START)
    dispatch(engine, START, submitted={"m1.": "v1", "m2.": "v2"}, failed={"m3.": "901"})

    counts = queries.count_by_status(engine, MessageFilter(campaign_id="diwali"))

    assert counts["submitted"] == 2 and counts["failed"] == 1 and counts["accepted"] == 1
    assert counts["delivered"] == 0


def test_pages_are_newest_first_and_new_messages_do_not_shift_them(engine):
    accept(engine, texts(7), START)
    first = search_messages(engine, MessageFilter(), limit=3)
    assert ids(first) == ["m7.", "m6.", "m5."]

    accept(engine, texts(2, prefix="late"), START + timedelta(minutes=1))
    second = search_messages(engine, MessageFilter(), limit=3, cursor=after(first))
    third = search_messages(engine, MessageFilter(), limit=3, cursor=after(second))

    assert ids(second) == ["m4.", "m3.", "m2."]
    assert ids(third) == ["m1."] and third.next_cursor is None


@pytest.mark.parametrize(
    "cursor", ["", "x", "aWQ8LTE", "aWQ8MA", "a" * 65, "aWQ8OTk5OTk5OTk5OTk5OTk5OTk5OTk5"]
)
def test_a_cursor_this_api_did_not_give_is_refused(cursor):
    with pytest.raises(ValueError, match="cursor"):
        queries.decode_cursor(cursor)


def test_a_message_comes_with_its_events_and_relay_records(engine):
    now = utcnow()
    accept(engine, texts(1), now)
    dispatch(engine, now, failed={"m1.": "910"})
    dead = kill_relays(engine, now, "CleverTap refused the batch (HTTP 400)")

    pk = search_messages(engine, MessageFilter()).items[0].id
    detail = queries.get_message(engine, pk)

    assert detail is not None
    assert [event.kind for event in detail.events] == ["sending", "failed"]
    assert [(r.id, r.event, r.state) for r in detail.relays] == [(dead[0], "failed", "dead")]
    assert detail.relays[0].message_id == "m1."
    assert queries.get_message(engine, pk + 1000) is None
    assert queries.get_message(engine, 2**70) is None


def test_dead_relay_records_are_listed_newest_first(engine):
    now = utcnow()
    accept(engine, texts(3), now)
    dispatch(engine, now, failed={"m1.": "910", "m2.": "910", "m3.": "910"})
    kill_relays(engine, now, "HTTP 400")

    page = queries.list_relays(engine, states=("dead",), limit=2)
    rest = queries.list_relays(engine, states=("dead",), limit=2, cursor=after(page))

    assert [r.message_id for r in page.items + rest.items] == ["m3.", "m2.", "m1."]
    assert queries.list_relays(engine, states=("pending",)).items == []


def test_filter_text_with_a_nul_is_refused_before_the_database():
    with pytest.raises(ValueError, match="NUL"):
        queries.clean_text("a\x00b", "number")
    with pytest.raises(ValueError, match="unknown status"):
        queries.parse_statuses("failed,lost")
