"""Finding messages and relay records: filters, keyset pagination, one message in full.

Pages are newest first and keyed on the primary key: a cursor is the last id of a page,
so a page costs one indexed range read however deep it is, and rows that arrive meanwhile
never shift a page. Filters match exactly (a number is compared after normalising it the
way the intake does, once per configured default country), so each can use an index.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from smsgate.admin.views import (
    EventView,
    MessageDetail,
    MessagePage,
    MessageSummary,
    RelayPage,
    RelayView,
)
from smsgate.sms.numbers import normalise_number
from smsgate.storage.database import reading
from smsgate.storage.models import Message, MessageEvent, MessageStatus, RelayOutbox

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_FILTER",
    "MAX_ID",
    "MAX_LIMIT",
    "MessageFilter",
    "clean_text",
    "count_by_status",
    "decode_cursor",
    "encode_cursor",
    "get_message",
    "get_relay",
    "list_relays",
    "messages_by_message_id",
    "number_candidates",
    "parse_id",
    "parse_statuses",
    "search_messages",
]

MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
OUTBOX = RelayOutbox.__table__  # type: ignore[attr-defined]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
#: Ids are 64-bit; anything larger names no row (and must not reach PostgreSQL as a bigint).
MAX_ID = 2**63 - 1
MAX_FILTER = 255
_CURSOR_PREFIX = "id<"

_SUMMARY_COLUMNS = tuple(MESSAGES.c[name] for name in MessageSummary.model_fields)
_RELAY_COLUMNS = (
    *(OUTBOX.c[name] for name in RelayView.model_fields if name != "message_id"),
    MESSAGES.c.message_id,
)


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """What to look for; every field set must match.

    :param number: a phone number in any form CleverTap might send it.
    :param since: created at or after (inclusive).
    :param until: created before (exclusive).
    """

    nickname: str | None = None
    statuses: tuple[str, ...] = ()
    number: str | None = None
    message_id: str | None = None
    campaign_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def narrowed(self) -> bool:
        """A filter beyond status and time: counting its matches is cheap and worth showing."""
        return bool(self.nickname or self.number or self.message_id or self.campaign_id)


def clean_text(value: str | None, what: str) -> str | None:
    """A filter value stripped, or ``None`` when empty; :class:`ValueError` when unusable.

    A NUL character cannot be stored in PostgreSQL text, so no row can hold it: it is
    refused here rather than sent to the database.
    """
    if value is None:
        return None
    value = value.strip()
    if "\x00" in value:
        raise ValueError(f"{what} contains a NUL character")
    if len(value) > MAX_FILTER:
        raise ValueError(f"{what} is longer than {MAX_FILTER} characters")
    return value or None


def parse_statuses(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"failed,unknown"`` (or a list of names) as statuses; :class:`ValueError` if unknown."""
    if text is None:
        return ()
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = tuple(dict.fromkeys(part.strip().lower() for part in parts if part.strip()))
    known = {status.value for status in MessageStatus}
    wrong = [name for name in names if name not in known]
    if wrong:
        choices = ", ".join(status.value for status in MessageStatus)
        raise ValueError(f"unknown status {wrong[0][:32]!r}; use one of: {choices}")
    return names


def number_candidates(text: str, countries: Iterable[str | None]) -> set[str]:
    """The E.164 forms the intake may have stored ``text`` as: one per default country.

    ``countries`` are the configured nicknames' ``default_country`` values (``None`` for a
    nickname without one, which reads international forms only).
    """
    found = set()
    for country in set(countries) or {None}:
        try:
            found.add(normalise_number(text, country))
        except ValueError:
            continue
    return found


def parse_id(text: str) -> int | None:
    """``text`` as a row id (ASCII digits, 1 to :data:`MAX_ID`), or ``None``."""
    # str.isdigit() also accepts "²" and other digits int() refuses.
    if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def encode_cursor(pk: int) -> str:
    """The opaque cursor for the page after the row ``pk``."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{pk}".encode()).decode().rstrip("=")


def decode_cursor(text: str) -> int:
    """The id a cursor stands for; :class:`ValueError` for anything this API did not make."""
    problem = "not a cursor this API gave out: pass next_cursor exactly as it came"
    if len(text) > 64:
        raise ValueError(problem)
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError(problem) from None
    pk = parse_id(decoded.removeprefix(_CURSOR_PREFIX))
    if not decoded.startswith(_CURSOR_PREFIX) or pk is None:
        raise ValueError(problem)
    return pk


def _conditions(filters: MessageFilter, countries: Iterable[str | None]) -> list[Any]:
    conditions: list[Any] = []
    if filters.nickname:
        conditions.append(MESSAGES.c.nickname == filters.nickname)
    if filters.statuses:
        conditions.append(MESSAGES.c.status.in_(list(filters.statuses)))
    if filters.message_id:
        conditions.append(MESSAGES.c.message_id == filters.message_id)
    if filters.campaign_id:
        conditions.append(MESSAGES.c.campaign_id == filters.campaign_id)
    if filters.since:
        conditions.append(MESSAGES.c.created_at >= filters.since)
    if filters.until:
        conditions.append(MESSAGES.c.created_at < filters.until)
    if filters.number:
        candidates = number_candidates(filters.number, countries)
        # A number no country reads is one the intake rejected: it is kept as sent.
        conditions.append(
            MESSAGES.c.to.in_(sorted(candidates))
            if candidates
            else MESSAGES.c.raw_to == filters.number
        )
    return conditions


def search_messages(
    engine: Engine,
    filters: MessageFilter,
    *,
    countries: Iterable[str | None] = (),
    limit: int = DEFAULT_LIMIT,
    cursor: int | None = None,
) -> MessagePage:
    """One page of the messages matching ``filters``, newest first.

    :param countries: the configured default countries, to read national numbers.
    :param cursor: the id the previous page ended with (from :func:`decode_cursor`).
    """
    limit = max(1, min(limit, MAX_LIMIT))
    conditions = _conditions(filters, countries)
    if cursor is not None:
        conditions.append(MESSAGES.c.id < cursor)
    query = (
        sa.select(*_SUMMARY_COLUMNS)
        .where(*conditions)
        .order_by(MESSAGES.c.id.desc())
        .limit(limit + 1)
    )
    with reading(engine).connect() as connection:
        rows = connection.execute(query).all()
    items = [MessageSummary.model_validate(row._mapping) for row in rows[:limit]]
    more = len(rows) > limit
    return MessagePage(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)


def count_by_status(
    engine: Engine, filters: MessageFilter, *, countries: Iterable[str | None] = ()
) -> dict[str, int]:
    """How many messages match ``filters``, by status (every status, zero included)."""
    query = (
        sa.select(MESSAGES.c.status, sa.func.count())
        .where(*_conditions(filters, countries))
        .group_by(MESSAGES.c.status)
    )
    with reading(engine).connect() as connection:
        found = {status: int(count) for status, count in connection.execute(query)}
    return {status.value: found.get(status.value, 0) for status in MessageStatus} | found


def messages_by_message_id(engine: Engine, message_id: str) -> list[MessageSummary]:
    """Every message stored under CleverTap's ``message_id`` (one per nickname at most)."""
    with reading(engine).connect() as connection:
        rows = connection.execute(
            sa.select(*_SUMMARY_COLUMNS)
            .where(MESSAGES.c.message_id == message_id)
            .order_by(MESSAGES.c.id)
        ).all()
    return [MessageSummary.model_validate(row._mapping) for row in rows]


def get_message(engine: Engine, pk: int) -> MessageDetail | None:
    """The message with id ``pk``, its events (oldest first) and relay records; or ``None``.

    ``actions`` is left empty: :func:`smsgate.admin.actions.available` fills it.
    """
    if not 0 < pk <= MAX_ID:
        return None
    with reading(engine).connect() as connection:
        row = connection.execute(sa.select(MESSAGES).where(MESSAGES.c.id == pk)).first()
        if row is None:
            return None
        events = connection.execute(
            sa.select(EVENTS).where(EVENTS.c.message_pk == pk).order_by(EVENTS.c.id)
        ).all()
        relays = _relays(connection, [OUTBOX.c.message_pk == pk], order=OUTBOX.c.id.asc())
    return MessageDetail.model_validate(
        {
            **row._mapping,
            "extras": dict(row.extras or {}),
            "events": [EventView.model_validate(event._mapping) for event in events],
            "relays": relays,
        }
    )


def get_relay(engine: Engine, pk: int) -> RelayView | None:
    """The relay record with id ``pk``, or ``None``."""
    if not 0 < pk <= MAX_ID:
        return None
    with reading(engine).connect() as connection:
        found = _relays(connection, [OUTBOX.c.id == pk], order=OUTBOX.c.id.asc())
    return found[0] if found else None


def list_relays(
    engine: Engine,
    *,
    states: Sequence[str] = ("dead",),
    nickname: str | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: int | None = None,
) -> RelayPage:
    """One page of relay records in ``states``, newest first."""
    limit = max(1, min(limit, MAX_LIMIT))
    conditions: list[Any] = [OUTBOX.c.state.in_(list(states))]
    if nickname:
        conditions.append(OUTBOX.c.nickname == nickname)
    if cursor is not None:
        conditions.append(OUTBOX.c.id < cursor)
    with reading(engine).connect() as connection:
        rows = _relays(connection, conditions, order=OUTBOX.c.id.desc(), limit=limit + 1)
    items = rows[:limit]
    more = len(rows) > limit
    return RelayPage(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)


def _relays(
    connection: Connection, conditions: Sequence[Any], *, order: Any, limit: int | None = None
) -> list[RelayView]:
    query = (
        sa.select(*_RELAY_COLUMNS)
        .select_from(OUTBOX.join(MESSAGES, MESSAGES.c.id == OUTBOX.c.message_pk))
        .where(*conditions)
        .order_by(order)
    )
    if limit is not None:
        query = query.limit(limit)
    return [RelayView.model_validate(row._mapping) for row in connection.execute(query)]
