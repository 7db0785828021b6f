"""Storing a CleverTap request's records in one transaction, once per (nickname, message_id)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from smsgate.intake.records import Rejection
from smsgate.storage.models import FINAL_RANK, Message, MessageEvent, MessageStatus
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class StoreOutcome:
    """What became of a request's records once committed."""

    accepted: int
    duplicates: int
    untracked: int


def store_records(
    engine: Engine,
    nickname: str,
    rows: Sequence[dict[str, Any]],
    rejections: Sequence[Rejection],
    now: datetime,
) -> StoreOutcome:
    """Insert new messages and remember rejections, in one transaction.

    A ``(nickname, message_id)`` already stored, by an earlier request or a concurrent one,
    is left alone and counted as a duplicate: the unique constraint decides, not a prior read.
    A rejection that carries a message_id is stored as a failed message with a ``rejected``
    event, so that CleverTap hears about it like any other failure.
    """
    fresh, repeated = _unique(rows)
    failed_rows = [
        _failed_row(nickname, rejection, now) for rejection in rejections if rejection.message_id
    ]
    failed_rows, _ = _unique(failed_rows)
    with engine.begin() as connection:
        inserted = _insert_new(connection, fresh)
        if failed_rows:
            stored = _insert_new(connection, failed_rows)
            codes = {row["message_id"]: row for row in failed_rows}
            events = [
                {
                    "message_pk": pk,
                    "kind": "rejected",
                    "status": MessageStatus.FAILED.value,
                    "code": codes[message_id]["failure_code"],
                    "description": codes[message_id]["failure_description"],
                    "payload": {},
                    "occurred_at": now,
                    "recorded_at": now,
                }
                for pk, message_id in stored
            ]
            if events:
                connection.execute(sa.insert(EVENTS), events)
    accepted_ids = {message_id for _, message_id in inserted}
    untracked = sum(1 for row in fresh if not row["tracked"])
    return StoreOutcome(
        accepted=len(accepted_ids),
        duplicates=len(fresh) - len(accepted_ids) + repeated,
        untracked=untracked,
    )


def _insert_new(connection: sa.Connection, rows: Sequence[dict[str, Any]]) -> list[tuple[int, str]]:
    if not rows:
        return []
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(MESSAGES)
        .on_conflict_do_nothing(index_elements=["nickname", "message_id"])
        .returning(MESSAGES.c.id, MESSAGES.c.message_id)
    )
    # One executemany; SQLAlchemy folds it into multi-row INSERTs that still return rows.
    result = connection.execute(statement, list(rows))
    return [(row.id, row.message_id) for row in result]


def _unique(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    seen: set[str] = set()
    unique = []
    for row in rows:
        if row["message_id"] not in seen:
            seen.add(row["message_id"])
            unique.append(row)
    return unique, len(rows) - len(unique)


def _failed_row(nickname: str, rejection: Rejection, now: datetime) -> dict[str, Any]:
    return {
        "nickname": nickname,
        "message_id": rejection.message_id,
        "tracked": True,
        "to": "",
        "raw_to": rejection.raw_to[:64],
        "body": None,
        "template_id": None,
        "template_variables": None,
        "campaign_id": None,
        "extras": {},
        "encoding": "gsm7",
        "segments": 0,
        "status": MessageStatus.FAILED.value,
        "status_rank": FINAL_RANK,
        "attempts": 0,
        "next_attempt_at": now,
        "failure_code": rejection.code,
        "failure_description": rejection.error[:512],
        "created_at": now,
        "updated_at": now,
    }
