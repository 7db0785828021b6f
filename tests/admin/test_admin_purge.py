"""Purging old messages: in batches, with their events and relays; by hand or in serve."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from conftest import ServerThread
from message_builders import accept, dispatch, kill_relays, texts

from smsgate.admin.purge import purge
from smsgate.host.app import create_app
from smsgate.storage.models import DeliveryInbox, Message, MessageEvent, RelayOutbox, utcnow

TABLES = {
    "messages": Message.__table__,  # type: ignore[attr-defined]
    "events": MessageEvent.__table__,  # type: ignore[attr-defined]
    "relays": RelayOutbox.__table__,  # type: ignore[attr-defined]
    "inbox": DeliveryInbox.__table__,  # type: ignore[attr-defined]
}


def counts(engine):
    with engine.connect() as connection:
        return {
            name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in TABLES.items()
        }


def test_purge_deletes_old_messages_with_everything_about_them_in_batches(engine):
    now = utcnow()
    old = now - timedelta(days=100)
    accept(engine, texts(7, prefix="old"), old)
    dispatch(engine, old, failed={f"old{n}.": "910" for n in range(1, 8)})
    kill_relays(engine, old, "HTTP 400")
    before = counts(engine)
    accept(engine, texts(2, prefix="new"), now)
    dispatch(engine, now, failed={"new1.": "910"})
    new = {name: count - before[name] for name, count in counts(engine).items()}

    report = purge(engine, now - timedelta(days=90), batch_size=3)

    assert (report.messages, report.events, report.relays) == (
        before["messages"],
        before["events"],
        before["relays"],
    )
    assert counts(engine) == new
    assert new["messages"] == 2 and new["relays"] == 1


def test_a_message_whose_record_clevertap_is_still_to_hear_outlives_the_cutoff(engine):
    now = utcnow()
    old = now - timedelta(days=100)
    accept(engine, texts(2, prefix="old"), old)
    # A report that came very late: the failed record waits for CleverTap still.
    dispatch(engine, now, failed={"old1.": "910", "old2.": "910"})
    outbox, messages = TABLES["relays"], TABLES["messages"]
    old2 = sa.select(messages.c.id).where(messages.c.message_id == "old2.").scalar_subquery()
    with engine.begin() as connection:
        connection.execute(outbox.update().where(outbox.c.message_pk == old2).values(state="dead"))

    report = purge(engine, now - timedelta(days=90))

    assert report.messages == 1
    assert [row.message_id for row in relays_left(engine)] == ["old1."]
    assert relays_left(engine)[0].state == "pending"


def test_a_record_no_relay_worker_takes_any_more_no_longer_keeps_its_message(engine):
    # Queued longer ago than relay_give_up_after: its nickname may be gone from the file.
    now = utcnow()
    old = now - timedelta(days=100)
    accept(engine, texts(1, prefix="old"), old)
    dispatch(engine, old + timedelta(days=1), failed={"old1.": "910"})

    report = purge(engine, now - timedelta(days=90), abandoned_before=now - timedelta(days=3))

    assert report.messages == 1
    assert relays_left(engine) == []


def relays_left(engine):
    outbox, messages = TABLES["relays"], TABLES["messages"]
    with engine.connect() as connection:
        return connection.execute(
            sa.select(messages.c.message_id, outbox.c.state).join(
                outbox, outbox.c.message_pk == messages.c.id
            )
        ).all()


def test_serve_purges_on_its_own_when_purge_after_is_set(make_config, database_url, engine):
    now = utcnow()
    accept(engine, texts(3, prefix="old"), now - timedelta(days=10))
    accept(engine, texts(1, prefix="new"), now)
    config = make_config(
        database_url, extra="[gateway.dispatch]\nenabled = false\n", purge_after="7d"
    )

    with ServerThread(create_app(config)):
        deadline = time.monotonic() + 10
        while counts(engine)["messages"] != 1 and time.monotonic() < deadline:
            time.sleep(0.05)

    assert counts(engine)["messages"] == 1
