"""Which message a report is about, and the inbox of reports that came too early.

A report names the vendor's id for a message (:attr:`SendResult.vendor_id`) and arrives on
the callback URL of one nickname: the nickname whose vendor sent the message, its
``route``. So a report is matched by ``(route, vendor_id)``. When one vendor id covers
several messages (a vendor that takes several numbers in one request), the report's number
picks one of them; numbers are compared by their digits, so that ``+919876543210``,
``919876543210`` and ``09876543210`` are one number.

A vendor can report faster than we store its answer to the send: the report then finds no
message with its vendor id. It is not an error. The report waits in ``delivery_inbox`` and
the vendor gets its 200. Two things match it later:

- :func:`match_inbox`, which the dispatcher calls in the transaction that stores vendor ids
  (``smsgate.dispatch.queue``): the report is applied the moment its message is known;
- :func:`sweep_inbox`, run every ``sweep_interval`` by the delivery workers, a safety net
  for the one race the first cannot see on PostgreSQL (the report's transaction commits
  just after the send result's) and for results stored by any other path.

Many reports are matched together: the reports of one request, and the requests that
:class:`~smsgate.delivery.grouping.ReportGroups` gathers into one transaction. Each nickname's
candidates are read with one ``SELECT … WHERE vendor_id IN (…)`` (locked, see
:mod:`~smsgate.delivery.status`), and the writes are a few bulk statements; the result is
the same as storing the reports one after another, in order.

Unmatched reports stay in the inbox, visible to operators, for ``inbox_retention`` (72 h
by default; 8x8 keeps looking for 48 h, Jasmin gives up after 20 s), then are purged. A
report naming no number for a vendor id that covers several messages cannot be matched by
waiting, and stays in the inbox marked ambiguous until it is purged.

A message left ``unknown`` (its worker died mid-send, or the vendor's answer never came)
has no vendor id, so its report would wait for nothing. The sweep matches such a report by
its number instead (:func:`sweep_inbox`'s ``adopt_after``), but only where nothing else can
be meant: the report names the whole number (with its country code), came after the
message was made and has waited longer than a send can take, the unknown message is the
only message of that nickname and number still waiting for a final status (none being
sent, none submitted under another id), and every waiting report about that number names
one and the same vendor id. The message then takes that vendor id and becomes
``submitted``, with an event saying so, and the report is applied as if it had matched at
once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from smsgate.delivery.reports import Report
from smsgate.delivery.status import Target, apply_reports
from smsgate.storage.models import (
    FINAL_RANK,
    STATUS_RANK,
    DeliveryInbox,
    Message,
    MessageEvent,
    MessageStatus,
)

__all__ = [
    "ADOPTED",
    "AMBIGUOUS",
    "WAITING",
    "Stored",
    "Swept",
    "match_inbox",
    "same_number",
    "store_groups",
    "store_reports",
    "submit_unknown",
    "sweep_inbox",
]

MESSAGES = Message.__table__  # type: ignore[attr-defined]
INBOX = DeliveryInbox.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]

#: Why a report waits: its message's send result is not stored (yet).
WAITING = "waiting: no message sent through this nickname has this vendor id yet"
#: Why a report cannot be matched by waiting.
AMBIGUOUS = "ambiguous: several messages share this vendor id and the report names no number"
_SWEEP_BATCH = 500
#: PostgreSQL's deadlock_detected and serialization_failure.
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
_ATTEMPTS = 3
#: National numbers have at least this many digits; shorter tails prove nothing.
_MIN_DIGITS = 7
#: Vendor ids looked up in one query: well below SQLite's 32,766 bound parameters.
_LOOKUP_SLICE = 2000
_TARGET_COLUMNS = (
    MESSAGES.c.id,
    MESSAGES.c.vendor_id,
    MESSAGES.c.route,
    MESSAGES.c.nickname,
    MESSAGES.c.message_id,
    MESSAGES.c.tracked,
    MESSAGES.c.to,
    MESSAGES.c.failure_code,
    MESSAGES.c.status_rank,
)
# Built once: SQLAlchemy then finds the compiled form in its cache without rebuilding the
# statement and its cache key for every group of reports.
_CANDIDATES = (
    sa.select(*_TARGET_COLUMNS)
    .where(MESSAGES.c.vendor_id.in_(sa.bindparam("vendor_ids", expanding=True)))
    .order_by(MESSAGES.c.id)
    .with_for_update()
)
_INSERT_INBOX = sa.insert(INBOX)
#: The event of a message that took its vendor id from a report about its number.
ADOPTED = "vendor_id_by_number"
_UNKNOWN = MessageStatus.UNKNOWN
_SUBMITTED = MessageStatus.SUBMITTED
_DELETE_INBOX = sa.delete(INBOX).where(INBOX.c.id.in_(sa.bindparam("ids", expanding=True)))


@dataclass(frozen=True, slots=True)
class Stored:
    """What became of a request's reports."""

    matched: int = 0
    #: Of the matched, how many moved their message's status.
    applied: int = 0
    waiting: int = 0


def store_reports(
    engine: Engine, nickname: str, reports: Sequence[Report], now: datetime
) -> Stored:
    """Match and apply ``reports`` that came through ``nickname``, in one transaction.

    Reports that match no message yet go to the inbox. Returns once committed.
    """
    return store_groups(engine, [(nickname, reports)], now)[0]


def store_groups(
    engine: Engine, groups: Sequence[tuple[str, Sequence[Report]]], now: datetime
) -> list[Stored]:
    """Store several requests' ``(nickname, reports)`` in one transaction, in order.

    The same as :func:`store_reports` for each group one after another, with one commit.
    Returns what became of each group, once committed.
    """
    if not any(reports for _, reports in groups):
        return [Stored() for _ in groups]
    attempt = 1
    while True:
        try:
            with engine.begin() as connection:
                return _store(connection, groups, now)
        except sa.exc.OperationalError as exc:
            # Two transactions reporting on the same messages in different orders can
            # deadlock on PostgreSQL; the loser did nothing and may simply run again.
            if attempt == _ATTEMPTS or _sqlstate(exc) not in _RETRYABLE_SQLSTATES:
                raise
            attempt += 1


def _store(
    connection: Connection, groups: Sequence[tuple[str, Sequence[Report]]], now: datetime
) -> list[Stored]:
    items = [(nickname, report) for nickname, reports in groups for report in reports]
    resolved = _resolve_all(connection, items)
    matched_items = []
    waiting = []
    for (nickname, report), (target, reason) in zip(items, resolved, strict=True):
        if target is None:
            waiting.append((nickname, report, reason))
        else:
            matched_items.append((target, report, None))
    applied = iter(apply_reports(connection, matched_items, now))
    _to_inbox(connection, waiting)
    results = []
    position = 0
    for _, reports in groups:
        matched = moved = unmatched = 0
        for target, _ in resolved[position : position + len(reports)]:
            if target is None:
                unmatched += 1
            else:
                matched += 1
                moved += next(applied)
        position += len(reports)
        results.append(Stored(matched=matched, applied=moved, waiting=unmatched))
    return results


def match_inbox(connection: Connection, message_pks: Sequence[int], now: datetime) -> int:
    """Apply the waiting reports of messages that just got their vendor ids.

    Call it in the transaction that stores the vendor ids, after the update (the dispatcher
    does, for every ``submitted`` result). Messages without a vendor id are skipped.

    :returns: the number of reports matched.
    """
    if not message_pks:
        return 0
    keys = connection.execute(
        sa.select(MESSAGES.c.route, MESSAGES.c.vendor_id).where(
            MESSAGES.c.id.in_(sorted(set(message_pks))), MESSAGES.c.vendor_id.is_not(None)
        )
    ).all()
    if not keys:
        return 0
    rows = connection.execute(
        sa.select(INBOX)
        .where(
            INBOX.c.vendor_id.in_(sorted({key.vendor_id for key in keys})),
            INBOX.c.nickname.in_(sorted({key.route for key in keys if key.route})),
        )
        .order_by(INBOX.c.id)
        # A sweep holding a row will apply it itself; waiting for it could deadlock.
        .with_for_update(skip_locked=True)
    ).all()
    wanted = {(key.route, key.vendor_id) for key in keys}
    return _apply_waiting(
        connection, [row for row in rows if (row.nickname, row.vendor_id) in wanted], now
    )


@dataclass(frozen=True, slots=True)
class Swept:
    """What one sweep of the inbox did."""

    matched: int = 0
    purged: int = 0
    #: Unknown messages that took their vendor id from a report about their number.
    adopted: int = 0


def sweep_inbox(
    engine: Engine, now: datetime, *, retention: float, adopt_after: float | None = None
) -> Swept:
    """Match waiting reports whose message is known by now; purge those past ``retention``.

    :param adopt_after: seconds a report waits before it may be matched to an ``unknown``
        message by its number (see the module's docstring); longer than a send can take
        (the dispatch ``lease``), so that a message still being sent is not mistaken for
        one whose send result was lost. ``None``: reports are matched by vendor id only.
    """
    with engine.begin() as connection:
        rows = connection.execute(
            sa.select(INBOX)
            .where(_known(), sa.or_(INBOX.c.reason.is_(None), INBOX.c.reason != AMBIGUOUS))
            .order_by(INBOX.c.id)
            .limit(_SWEEP_BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        matched = _apply_waiting(connection, rows, now)
    # A transaction of its own: holding the reports and messages just applied while it
    # waits for an old row another sweep holds could close a circle of waits.
    with engine.begin() as connection:
        purged = connection.execute(
            sa.delete(INBOX)
            .where(INBOX.c.received_at < now - timedelta(seconds=retention))
            .execution_options(preserve_rowcount=True)
        ).rowcount
    adopted = 0
    if adopt_after is not None:
        with engine.begin() as connection:
            adopted, applied = _adopt_by_number(
                connection, now, waited=timedelta(seconds=adopt_after), retention=retention
            )
        matched += applied
    return Swept(matched=matched, purged=int(purged), adopted=adopted)


def submit_unknown(
    connection: Connection, vendor_ids: Mapping[int, str], now: datetime
) -> dict[int, str]:
    """Make unknown messages ``submitted`` under the vendor ids learned for them after all.

    ``vendor_ids`` maps message ids to the vendor ids learned. The vendor took each: it
    becomes submitted, as if the answer to its send had come, and is looked up from now on.
    Not a message that is no longer unknown, nor one whose vendor id another message of its
    route holds by now: a report would no longer tell the two apart.

    :returns: the part of ``vendor_ids`` that was taken.
    """
    if not vendor_ids:
        return {}
    other = MESSAGES.alias("other")
    connection.execute(
        sa.update(MESSAGES)
        .where(
            MESSAGES.c.id == sa.bindparam("b_id"),
            MESSAGES.c.status == _UNKNOWN.value,
            MESSAGES.c.vendor_id.is_(None),
            ~sa.exists().where(
                other.c.vendor_id == sa.bindparam("b_vendor_id"),
                sa.func.coalesce(other.c.route, "") == sa.func.coalesce(MESSAGES.c.route, ""),
            ),
        )
        .values(
            vendor_id=sa.bindparam("b_vendor_id"),
            status=_SUBMITTED.value,
            status_rank=STATUS_RANK[_SUBMITTED],
            next_attempt_at=now,
            updated_at=now,
        ),
        [{"b_id": pk, "b_vendor_id": vendor_id} for pk, vendor_id in vendor_ids.items()],
    )
    took = {
        (row.id, row.vendor_id)
        for row in connection.execute(
            sa.select(MESSAGES.c.id, MESSAGES.c.vendor_id).where(
                MESSAGES.c.id.in_(sorted(vendor_ids)), MESSAGES.c.status == _SUBMITTED.value
            )
        )
    }
    return {pk: vendor_id for pk, vendor_id in vendor_ids.items() if (pk, vendor_id) in took}


def _known() -> sa.Exists:
    """Whether a message of the inbox row's nickname has the row's vendor id by now."""
    return sa.exists().where(
        MESSAGES.c.vendor_id == INBOX.c.vendor_id,
        # An expression rather than the column: SQLite, without statistics, would otherwise
        # walk every message of the route for each waiting report instead of looking its
        # vendor id up. (The nickname is never empty, so this is route =.)
        sa.func.coalesce(MESSAGES.c.route, "") == INBOX.c.nickname,
    )


def _adopt_by_number(
    connection: Connection, now: datetime, *, waited: timedelta, retention: float
) -> tuple[int, int]:
    """Give unknown messages the vendor ids of the reports about their numbers.

    Returns how many messages took one, and how many reports were then applied.
    """
    # No report the inbox still keeps can be about a message older than that plus a day of
    # sending. (The index walked is the status rank's: every unknown message still stored.)
    recent = now - timedelta(seconds=retention, days=1)
    orphans = connection.execute(
        sa.select(MESSAGES.c.id, MESSAGES.c.route, MESSAGES.c.to, MESSAGES.c.created_at)
        .where(
            MESSAGES.c.status_rank == STATUS_RANK[_UNKNOWN],
            MESSAGES.c.status == _UNKNOWN.value,
            MESSAGES.c.vendor_id.is_(None),
            MESSAGES.c.created_at >= recent,
        )
        .order_by(MESSAGES.c.id)
    ).all()
    if not orphans:
        return 0, 0
    # Every waiting report of those nicknames the inbox still keeps, locked (in id order, as
    # every sweep takes them): one left out could name another vendor id for the number.
    reports = connection.execute(
        sa.select(INBOX.c.id, INBOX.c.nickname, INBOX.c.vendor_id, INBOX.c.to, INBOX.c.received_at)
        .where(
            INBOX.c.reason == WAITING,
            INBOX.c.to.is_not(None),
            INBOX.c.nickname.in_(sorted({o.route for o in orphans if o.route})),
            INBOX.c.received_at >= now - timedelta(seconds=retention),
            ~_known(),
        )
        .order_by(INBOX.c.id)
        .with_for_update()
    ).all()
    # Everything of those nicknames and numbers still waiting for a final status (not one
    # being sent, not one submitted under another id). Not locked: a message stored after
    # this read is younger than every report that could settle an orphan (see below).
    rivals = connection.execute(
        sa.select(MESSAGES.c.route, MESSAGES.c.to).where(
            MESSAGES.c.to.in_(sorted({o.to for o in orphans})),
            MESSAGES.c.status_rank < FINAL_RANK,
            MESSAGES.c.created_at >= recent,
        )
    ).all()
    awaiting = Counter((rival.route, rival.to) for rival in rivals)
    adoptions: dict[int, str] = {}
    for orphan in orphans:
        if awaiting[(orphan.route, orphan.to)] == 1:
            vendor_id = _the_one_vendor_id(orphan, reports, now - waited)
            if vendor_id is not None:
                adoptions[orphan.id] = vendor_id
    if not adoptions:
        return 0, 0
    # A message another process settled meanwhile keeps its state.
    adoptions = submit_unknown(connection, adoptions, now)
    if not adoptions:
        return 0, 0
    connection.execute(
        sa.insert(EVENTS),
        [
            {
                "message_pk": pk,
                "kind": ADOPTED,
                "status": _SUBMITTED.value,
                "description": (
                    "its send result was lost; a delivery report about its number, the only "
                    "message of that number waiting for one, gave the vendor's id"
                ),
                "payload": {"vendor_id": vendor_id},
                "occurred_at": now,
                "recorded_at": now,
            }
            for pk, vendor_id in adoptions.items()
        ],
    )
    route_of = {orphan.id: orphan.route for orphan in orphans}
    taken = {(route_of[pk], vendor_id) for pk, vendor_id in adoptions.items()}
    waiting = connection.execute(
        sa.select(INBOX)
        .where(INBOX.c.id.in_([r.id for r in reports if (r.nickname, r.vendor_id) in taken]))
        .order_by(INBOX.c.id)
    ).all()
    return len(adoptions), _apply_waiting(connection, waiting, now)


def _the_one_vendor_id(orphan: Any, reports: Sequence[Any], waited_since: datetime) -> str | None:
    """The vendor id every waiting report about ``orphan``'s number names, if it may take it.

    One report at least must name the whole number (its country code too), since one
    number can end with another (+91 917 234 5678 ends with +1 917 234 5678); any other
    spelling of it must name the same id. Every one must have come after the message was
    made (an older one is about an older message) and the first one longer ago than a send
    can take (no message of that number is still on its way).
    """
    whole = _digits(orphan.to)
    about = [r for r in reports if r.nickname == orphan.route and same_number(orphan.to, r.to)]
    vendor_ids = {r.vendor_id for r in about}
    if (
        len(vendor_ids) != 1
        or not any(_digits(r.to) == whole for r in about)
        or min(r.received_at for r in about) < orphan.created_at
        or min(r.received_at for r in about) > waited_since
    ):
        return None
    return str(vendor_ids.pop())


def same_number(left: str | None, right: str | None) -> bool:
    """Whether two spellings name one phone number (one may lack the country code)."""
    a, b = _digits(left), _digits(right)
    if not a or not b:
        return False
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return len(short) >= _MIN_DIGITS and long.endswith(short)


def _apply_waiting(connection: Connection, rows: Sequence[Any], now: datetime) -> int:
    reports = [Report.from_json(row.event) for row in rows]
    resolved = _resolve_all(
        connection, [(row.nickname, r) for row, r in zip(rows, reports, strict=True)]
    )
    matched = []
    for row, report, (target, reason) in zip(rows, reports, resolved, strict=True):
        if target is None:
            if reason != row.reason:
                connection.execute(
                    sa.update(INBOX).where(INBOX.c.id == row.id).values(reason=reason)
                )
            continue
        matched.append((row.id, target, report))
    if not matched:
        return 0
    apply_reports(
        connection,
        [(target, report, {"waited": True, "inbox_id": pk}) for pk, target, report in matched],
        now,
    )
    connection.execute(_DELETE_INBOX, {"ids": [pk for pk, _, _ in matched]})
    return len(matched)


def _resolve_all(
    connection: Connection, items: Sequence[tuple[str, Report]]
) -> list[tuple[Target | None, str | None]]:
    """The message each ``(nickname, report)`` is about, or ``None`` with the reason.

    The candidates are read, and locked, in one query by vendor id alone (per slice of
    :data:`_LOOKUP_SLICE` ids), in id order; the nickname is compared here. With the route
    in the query, SQLite (which has no statistics on a fresh database) would rather walk
    the route's index, every message the nickname ever sent, than look up a few ids.
    """
    vendor_ids = sorted({report.vendor_id for _, report in items})
    candidates: dict[tuple[str, str], list[Any]] = {}
    for start in range(0, len(vendor_ids), _LOOKUP_SLICE):
        rows = connection.execute(
            _CANDIDATES, {"vendor_ids": vendor_ids[start : start + _LOOKUP_SLICE]}
        ).all()
        for row in rows:
            candidates.setdefault((row.route, row.vendor_id), []).append(row)
    return [_pick(candidates.get((nickname, r.vendor_id), []), r) for nickname, r in items]


def _pick(candidates: Sequence[Any], report: Report) -> tuple[Target | None, str | None]:
    """The one of ``candidates`` (same vendor id, id order) that ``report`` is about."""
    if not candidates:
        return None, WAITING
    if len(candidates) > 1:
        # One vendor id for several numbers: every one of them was stored in the same
        # transaction, so the report's number decides now or never.
        candidates = [row for row in candidates if same_number(row.to, report.to)]
        if len(candidates) != 1:
            return None, AMBIGUOUS
    row = candidates[0]
    return (
        Target(
            id=row.id,
            nickname=row.nickname,
            message_id=row.message_id,
            tracked=row.tracked,
            failure_code=row.failure_code,
            status_rank=row.status_rank,
        ),
        None,
    )


def _to_inbox(connection: Connection, waiting: Sequence[tuple[str, Report, str | None]]) -> None:
    if not waiting:
        return
    connection.execute(
        _INSERT_INBOX,
        [
            {
                "nickname": nickname,
                "vendor_id": report.vendor_id,
                "to": report.to,
                "kind": report.kind.value,
                "event": report.to_json(),
                "source": report.source,
                "reason": reason,
                "occurred_at": report.occurred_at,
                "received_at": report.received_at,
            }
            for nickname, report, reason in waiting
        ],
    )


def _sqlstate(exc: sa.exc.DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def _digits(number: str | None) -> str:
    return "".join(ch for ch in number or "" if ch.isdigit()).lstrip("0")
