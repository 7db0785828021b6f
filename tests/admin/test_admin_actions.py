"""Retry, cancel and give up: what each does in each state, and what it refuses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from message_builders import accept, dispatch, kill_relays, message, relays, store_report, texts

from smsgate.admin import actions, queries
from smsgate.delivery import outbox
from smsgate.errors import ActionRefusedError
from smsgate.storage.models import utcnow
from smsgate.types import EventKind

VALIDITY = 36000.0


def retry(engine, message_id, now, **kwargs):
    pk = message(engine, message_id).id
    return actions.retry_message(engine, pk, now=now, validity=VALIDITY, by="test", **kwargs)


def detail_of(engine, message_id):
    detail = queries.get_message(engine, message(engine, message_id).id)
    assert detail is not None
    return detail


def failed_with_a_dead_record(engine, reason):
    """Message ``m1.`` failed (905), its record for CleverTap dead with ``reason``; now."""
    now = utcnow()
    accept(engine, texts(1), now)
    dispatch(engine, now, failed={"m1.": "905"})
    kill_relays(engine, now, reason)
    return now


def kinds(engine, message_id):
    return [event.kind for event in detail_of(engine, message_id).events]


def test_a_failed_message_is_queued_again_and_its_unsent_failure_withdrawn(engine):
    now = utcnow()
    accept(engine, texts(1), now)
    dispatch(engine, now, failed={"m1.": "905"})
    assert [r.event for r in relays(engine)] == ["failed"]

    done = retry(engine, "m1.", now + timedelta(seconds=5))

    row = message(engine, "m1.")
    assert "queued to be sent again" in (done or "")
    assert (row.status, row.attempts, row.failure_code, row.vendor_id) == (
        "accepted",
        0,
        None,
        None,
    )
    assert relays(engine) == []  # CleverTap had not been told: it never will be
    assert kinds(engine, "m1.")[-1] == "retried"


def test_a_failed_record_clevertap_refused_is_withdrawn_so_the_next_failure_reaches_it(engine):
    now = failed_with_a_dead_record(engine, "HTTP 400")

    retry(engine, "m1.", now)
    dispatch(engine, now, failed={"m1.": "910"})

    [record] = relays(engine)
    assert (record.event, record.state, record.record["code"]) == ("failed", "pending", "910")
    retried = next(e for e in detail_of(engine, "m1.").events if e.kind == "retried")
    assert retried.payload["clevertap_told_failed"] is False


def test_a_failed_record_given_up_after_timeouts_counts_as_told(engine):
    # CleverTap may have received one of those tries: a second final event would be a double.
    now = failed_with_a_dead_record(
        engine, "gave up after 9 attempts: CleverTap not reached: ReadTimeout"
    )

    retry(engine, "m1.", now)

    assert [(r.event, r.state) for r in relays(engine)] == [("failed", "dead")]
    retried = next(e for e in detail_of(engine, "m1.").events if e.kind == "retried")
    assert retried.payload["clevertap_told_failed"] is True


def test_a_record_clevertap_took_on_a_later_try_keeps_no_earlier_error(engine):
    now = failed_with_a_dead_record(engine, "HTTP 400")
    [record] = relays(engine)
    actions.retry_relay(engine, record.id, now=now, by="test")

    leased = outbox.claim(engine, "pingbix-in", owner="r", now=now, limit=10, lease=60)
    outbox.settle(engine, outbox.Outcome(done=[row.id for row in leased]), owner="r", now=now)

    [record] = relays(engine)
    assert (record.state, record.last_error) == ("done", None)


def test_a_failed_message_clevertap_already_heard_of_stays_told(engine):
    now = utcnow()
    accept(engine, texts(1), now)
    dispatch(engine, now, failed={"m1.": "905"})
    leased = outbox.claim(engine, "pingbix-in", owner="r", now=now, limit=10, lease=60)
    outbox.settle(engine, outbox.Outcome(done=[row.id for row in leased]), owner="r", now=now)

    retry(engine, "m1.", now)
    dispatch(engine, now, submitted={"m1.": "v-2"})
    store_report(engine, "v-2", EventKind.DELIVERED, now + timedelta(seconds=3))

    assert [(r.event, r.state) for r in relays(engine)] == [
        ("failed", "done"),
        ("delivered", "pending"),
    ]
    retried = next(e for e in detail_of(engine, "m1.").events if e.kind == "retried")
    assert retried.payload["clevertap_told_failed"] is True


def test_an_unknown_message_is_never_resent_without_consent(engine):
    now = utcnow()
    accept(engine, texts(1), now)
    dispatch(engine, now, unknown=["m1."])

    with pytest.raises(ActionRefusedError, match="may deliver it twice"):
        retry(engine, "m1.", now)
    assert message(engine, "m1.").status == "unknown"

    retry(engine, "m1.", now, resend_unknown=True)
    row = message(engine, "m1.")
    assert row.status == "accepted"
    event = detail_of(engine, "m1.").events[-1]
    assert "duplicate" in (event.description or "")


def test_a_message_waiting_for_its_backoff_is_sent_now(engine):
    now = utcnow()
    accept(engine, texts(1), now)
    pk = message(engine, "m1.").id
    with pytest.raises(ActionRefusedError, match="already waiting"):
        retry(engine, "m1.", now)
    later = now - timedelta(minutes=5)  # as if its backoff ends in five minutes' time
    with engine.begin() as connection:
        connection.execute(
            queries.MESSAGES.update()
            .where(queries.MESSAGES.c.id == pk)
            .values(next_attempt_at=now + timedelta(minutes=5))
        )

    assert "sent now" in (retry(engine, "m1.", later + timedelta(minutes=5)) or "")
    assert message(engine, "m1.").next_attempt_at == now


@pytest.mark.parametrize(
    ("setup", "refusal"),
    [
        ("submitted", "the vendor has it"),
        ("delivered", "it was delivered"),
        ("rejected", "rejected at intake"),
        ("expired", "older than"),
    ],
)
def test_retry_refuses_what_cannot_or_must_not_be_sent_again(engine, setup, refusal):
    now = utcnow()
    if setup == "rejected":
        accept(engine, [{"to": "12ab", "body": "x", "message_id": "m1."}], now)
    else:
        created = now - timedelta(hours=11) if setup == "expired" else now
        accept(engine, texts(1), created)
        if setup == "expired":
            dispatch(engine, created, failed={"m1.": "905"})
        else:
            dispatch(engine, created, submitted={"m1.": "v"})
        if setup == "delivered":
            store_report(engine, "v", EventKind.DELIVERED, now)
    before = message(engine, "m1.")

    with pytest.raises(ActionRefusedError, match=refusal):
        retry(engine, "m1.", now)

    assert message(engine, "m1.").status == before.status


def test_cancel_fails_an_unsent_message_and_tells_clevertap(engine):
    now = utcnow()
    accept(engine, texts(1), now)
    pk = message(engine, "m1.").id

    done = actions.cancel_message(engine, pk, now=now, by="test", code="917", description="dup")

    row = message(engine, "m1.")
    assert "failed with code 917" in (done or "")
    assert (row.status, row.failure_code, row.failure_description) == ("failed", "917", "dup")
    (relay,) = relays(engine)
    assert relay.event == "failed" and relay.record["code"] == "917"
    assert relay.record["meta"] == "m1."


def test_cancel_gives_up_on_an_unknown_message_and_refuses_a_sent_one(engine):
    now = utcnow()
    accept(engine, texts(2), now)
    dispatch(engine, now, unknown=["m1."], submitted={"m2.": "v"})

    actions.cancel_message(engine, message(engine, "m1.").id, now=now, by="test")
    assert message(engine, "m1.").failure_description.startswith("given up by an operator")
    with pytest.raises(ActionRefusedError, match="the vendor has it"):
        actions.cancel_message(engine, message(engine, "m2.").id, now=now, by="test")
    with pytest.raises(ValueError, match="CleverTap failure code"):
        actions.cancel_message(engine, message(engine, "m2.").id, now=now, by="test", code="911")
    with pytest.raises(ValueError, match="CleverTap failure code"):
        # CleverTap would get "901\n" as the code.
        actions.cancel_message(engine, message(engine, "m1.").id, now=now, by="test", code="901\n")


def test_a_dead_relay_record_is_queued_again_as_new_or_given_up(engine):
    now = utcnow()
    accept(engine, texts(2), now)
    dispatch(engine, now, failed={"m1.": "910", "m2.": "910"})
    first, second = kill_relays(engine, now, "CleverTap refused the batch (HTTP 400)")

    later = now + timedelta(hours=1)
    assert "queued for CleverTap again" in (
        actions.retry_relay(engine, first, now=later, by="t") or ""
    )
    assert "given up" in (actions.give_up_relay(engine, second, now=later, by="t") or "")

    rows = {row.id: row for row in relays(engine)}
    assert (rows[first].state, rows[first].attempts, rows[first].next_attempt_at) == (
        "pending",
        0,
        later,
    )
    assert rows[second].state == actions.GIVEN_UP
    assert (
        outbox.claim(engine, "pingbix-in", owner="r", now=later, limit=10, lease=60)[0].id == first
    )
    with pytest.raises(ActionRefusedError, match="not dead"):
        actions.retry_relay(engine, first, now=later, by="t")
    with pytest.raises(ActionRefusedError, match="only a dead record"):
        actions.give_up_relay(engine, second, now=later, by="t")
    assert kinds(engine, "m1.")[-1] == "relay_retried"


def test_actions_on_rows_that_do_not_exist_say_so(engine):
    now = utcnow()
    assert actions.retry_message(engine, 99, now=now, validity=VALIDITY, by="t") is None
    assert actions.cancel_message(engine, 2**64, now=now, by="t") is None
    assert actions.retry_relay(engine, 99, now=now, by="t") is None
    assert actions.give_up_relay(engine, -1, now=now, by="t") is None
