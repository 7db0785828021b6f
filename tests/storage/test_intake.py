"""Storing a request's records: once per (nickname, message_id), in one bulk statement."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg.errors
import pytest
import sqlalchemy as sa

from smsgate.intake.records import Rejection, prepare_record
from smsgate.storage import intake
from smsgate.storage.intake import StoreOutcome, store_records
from smsgate.storage.models import Message, MessageEvent

MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def row(message_id: str | None, nickname: str = "pingbix-in", body: str = "hi") -> dict[str, Any]:
    record = {"to": "9876543210", "body": body, "message_id": message_id}
    prepared = prepare_record(0, record, nickname=nickname, default_country="IN", now=NOW)
    assert isinstance(prepared, dict)
    return prepared


def rejected(message_id: str | None, code: str = "910", index: int = 0) -> Rejection:
    return Rejection(index, message_id, "'12' is not a possible phone number", code, "12")


def stored(engine: sa.Engine) -> dict[tuple[str, str], dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(MESSAGES)).mappings().all()
    return {(r["nickname"], r["message_id"]): dict(r) for r in rows}


def stored_events(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(EVENTS).order_by(EVENTS.c.id)).mappings().all()
    return [dict(r) for r in rows]


def test_new_messages_are_stored_and_counted(engine):
    outcome = store_records(engine, "pingbix-in", [row("a"), row("b"), row(None)], [], NOW)

    assert outcome == StoreOutcome(accepted=3, duplicates=0, untracked=1)
    messages = stored(engine)
    assert len(messages) == 3
    assert messages[("pingbix-in", "a")]["created_at"] == NOW
    assert messages[("pingbix-in", "a")]["next_attempt_at"] == NOW


def test_ids_already_stored_or_repeated_in_the_batch_are_duplicates(engine):
    store_records(engine, "pingbix-in", [row("a", body="first")], [], NOW)

    outcome = store_records(
        engine, "pingbix-in", [row("a", body="again"), row("b"), row("b", body="twice")], [], NOW
    )

    assert outcome == StoreOutcome(accepted=1, duplicates=2, untracked=0)
    messages = stored(engine)
    assert messages[("pingbix-in", "a")]["body"] == "first"
    assert messages[("pingbix-in", "b")]["body"] == "hi"


def test_the_same_id_under_another_nickname_is_another_message(engine):
    store_records(engine, "pingbix-in", [row("a")], [], NOW)
    outcome = store_records(engine, "other", [row("a", nickname="other")], [], NOW)

    assert outcome.accepted == 1
    assert set(stored(engine)) == {("pingbix-in", "a"), ("other", "a")}


def test_a_rejection_with_an_id_is_stored_failed_with_a_rejected_event(engine):
    outcome = store_records(
        engine,
        "pingbix-in",
        [],
        [rejected("r1", "910"), rejected("r2", "900"), rejected(None)],
        NOW,
    )

    assert outcome == StoreOutcome(accepted=0, duplicates=0, untracked=0, failed=2)
    messages = stored(engine)
    assert set(messages) == {("pingbix-in", "r1"), ("pingbix-in", "r2")}
    failed = messages[("pingbix-in", "r1")]
    assert (failed["status"], failed["status_rank"], failed["failure_code"]) == (
        "failed",
        100,
        "910",
    )
    assert failed["failure_description"] == "'12' is not a possible phone number"
    assert failed["raw_to"] == "12"
    events = stored_events(engine)
    assert [(e["message_pk"], e["kind"], e["status"], e["code"]) for e in events] == [
        (failed["id"], "rejected", "failed", "910"),
        (messages[("pingbix-in", "r2")]["id"], "rejected", "failed", "900"),
    ]
    assert events[0]["occurred_at"] == NOW


def test_a_rejection_never_touches_a_message_already_stored_under_its_id(engine):
    store_records(engine, "pingbix-in", [row("a")], [], NOW)
    store_records(engine, "pingbix-in", [], [rejected("r")], NOW)
    before = stored(engine), stored_events(engine)

    outcome = store_records(engine, "pingbix-in", [], [rejected("a"), rejected("r", "900")], NOW)

    assert (stored(engine), stored_events(engine)) == before
    assert (outcome.duplicates, outcome.repeated_rejections) == (2, {"a", "r"})


def test_an_id_both_accepted_and_rejected_in_one_batch_is_accepted(engine):
    outcome = store_records(engine, "pingbix-in", [row("a")], [rejected("a")], NOW)

    assert outcome.accepted == 1
    assert stored(engine)[("pingbix-in", "a")]["status"] == "accepted"
    assert stored_events(engine) == []


def test_a_batch_of_1000_is_one_insert_statement(engine):
    statements: list[tuple[str, bool]] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement.split("(")[0].strip(), executemany))

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        outcome = store_records(engine, "pingbix-in", [row(f"m{i}") for i in range(1000)], [], NOW)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)

    assert outcome.accepted == 1000
    inserts = [s for s in statements if s[0].upper().startswith("INSERT")]
    assert inserts == [("INSERT INTO messages", True)]


def test_a_transaction_aborted_as_a_deadlock_is_run_again():
    # A deadlock needs two PostgreSQL sessions locking in opposite orders; the store sorts
    # its rows so that it cannot take part in one, so the database's error is made here.
    calls: list[int] = []
    engine = sa.create_engine("sqlite://")

    def work(connection: sa.Connection) -> int:
        calls.append(1)
        if len(calls) < 3:
            raise sa.exc.OperationalError("INSERT", {}, psycopg.errors.DeadlockDetected())
        return 7

    assert intake._in_transaction(engine, work) == 7
    assert len(calls) == 3


def test_other_database_errors_are_not_retried():
    engine = sa.create_engine("sqlite://")
    calls: list[int] = []

    def work(connection: sa.Connection) -> int:
        calls.append(1)
        raise sa.exc.OperationalError("INSERT", {}, psycopg.errors.AdminShutdown())

    with pytest.raises(sa.exc.OperationalError):
        intake._in_transaction(engine, work)
    assert len(calls) == 1
