"""Alembic migrations: from nothing to the models' schema and back, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from smsgate.storage import models
from smsgate.storage.database import (
    alembic_config,
    create_engine,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)

FIRST = "0001"


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def _schema_differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_revisions_form_one_line_from_the_first():
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert scripts.get_heads() == [head_revision()]
    assert scripts.get_bases() == [FIRST]


def test_upgrade_from_empty_to_head_gives_exactly_the_models_schema(empty_database_url):
    upgrade(empty_database_url)
    engine = create_engine(empty_database_url)
    try:
        assert current_revision(engine) == head_revision()
        assert _tables(engine) == set(SQLModel.metadata.tables)
        assert _schema_differences(engine) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_every_table_and_upgrade_rebuilds_them(empty_database_url):
    engine = create_engine(empty_database_url)
    try:
        upgrade(empty_database_url)
        downgrade(empty_database_url)
        assert current_revision(engine) is None
        assert _tables(engine) == set()
        upgrade(empty_database_url)
        assert current_revision(engine) == head_revision()
        assert _schema_differences(engine) == []
    finally:
        engine.dispose()


#: A naive UTC time, as the schema's columns hold them.
NOW = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)


def store_message(connection: sa.Connection, status: str, rank: int) -> None:
    """Message 1, ``m-1.``, with the columns every revision since the first has."""
    names = ["id", "nickname", "message_id", "tracked", "to", "raw_to", "extras", "encoding"]
    names += ["segments", "status", "status_rank", "attempts", "next_attempt_at"]
    names += ["created_at", "updated_at"]
    messages = sa.table("messages", *(sa.column(name) for name in names))
    connection.execute(
        messages.insert().values(
            id=1,
            nickname="pingbix-in",
            message_id="m-1.",
            tracked=True,
            to="+919876543210",
            raw_to="9876543210",
            extras="{}",
            encoding="gsm7",
            segments=1,
            status=status,
            status_rank=rank,
            attempts=1,
            next_attempt_at=NOW,
            created_at=NOW,
            updated_at=NOW,
        )
    )


def test_stored_messages_and_events_survive_the_upgrade_to_head(empty_database_url):
    upgrade(empty_database_url, FIRST)
    engine = create_engine(empty_database_url)
    now = NOW
    events = sa.table(
        "message_events",
        *(sa.column(n) for n in ["message_pk", "kind", "payload", "occurred_at", "recorded_at"]),
    )
    try:
        with engine.begin() as connection:
            store_message(connection, "submitted", 3)
            connection.execute(
                events.insert().values(
                    message_pk=1,
                    kind="submitted",
                    payload="{}",
                    occurred_at=now,
                    recorded_at=now,
                )
            )
        upgrade(empty_database_url)
        with engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT message_id FROM messages")).scalars()
            assert list(stored) == ["m-1."]
            kept = connection.execute(sa.text("SELECT count(*) FROM message_events")).scalar()
            assert kept == 1
    finally:
        engine.dispose()


def test_queued_relays_keep_their_place_across_the_occurrence_revision(empty_database_url):
    # 0005 lets a message have several clicks and replies queued: what was queued before
    # stays queued once, and going back keeps the first click of the message.
    upgrade(empty_database_url, "0004")
    engine = create_engine(empty_database_url)
    now = NOW
    columns = ["message_pk", "nickname", "event", "state", "attempts", "next_attempt_at"]
    columns += ["created_at", "updated_at"]
    outbox = sa.table(
        "relay_outbox", sa.column("record", sa.JSON), *(sa.column(name) for name in columns)
    )
    outbox_now = sa.table(
        "relay_outbox",
        sa.column("record", sa.JSON),
        *(sa.column(name) for name in [*columns, "occurrence"]),
    )

    def queued(event: str, ts: int) -> dict[str, object]:
        return {
            "message_pk": 1,
            "nickname": "pingbix-in",
            "event": event,
            "record": {"ts": ts, "meta": "m-1."},
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }

    try:
        with engine.begin() as connection:
            store_message(connection, "delivered", 100)
            connection.execute(outbox.insert(), [queued("delivered", 1), queued("clicked", 2)])
        upgrade(empty_database_url)
        with engine.begin() as connection:
            stored = connection.execute(
                sa.text("SELECT event, occurrence FROM relay_outbox ORDER BY id")
            ).all()
            assert [tuple(row) for row in stored] == [("delivered", ""), ("clicked", "")]
            connection.execute(
                outbox_now.insert(), [{**queued("clicked", 3), "occurrence": "a second click"}]
            )
        downgrade(empty_database_url, "0004")
        with engine.connect() as connection:
            kept = connection.execute(sa.select(outbox.c.event, outbox.c.record)).all()
        assert sorted((event, record["ts"]) for event, record in kept) == [
            ("clicked", 2),
            ("delivered", 1),
        ]
    finally:
        engine.dispose()


def test_models_module_declares_every_table_the_migrations_create():
    # The migration environment compares against this metadata: a table declared elsewhere
    # and never imported would go unnoticed.
    assert models.Message.metadata is SQLModel.metadata
    assert {"messages", "message_events"} <= set(SQLModel.metadata.tables)
