"""The messages table as a queue: claims under a lease, results, reclaims and moves.

Each function is one short transaction. The vendor is never called inside one: a worker
commits its claim, calls the vendor, then commits the result, so a slow vendor holds no lock.

Claiming, on PostgreSQL: the nickname's ``provider_state`` row is locked first
(``SELECT … FOR UPDATE``), then due messages are picked with ``FOR UPDATE SKIP LOCKED``, set
to ``sending`` with ``lease_owner`` / ``lease_until`` and ``attempts + 1``, and the bucket's
new level is written back; all in one commit. On SQLite the same statements run inside
``BEGIN IMMEDIATE`` (the engine begins every transaction so), which takes the one write lock
up front; SQLite has no row locks, so the FOR UPDATE clauses are simply not rendered.

How the rate limit is shared across processes: there is one ``provider_state`` row per
nickname, holding the bucket's ``tokens`` and ``refilled_at``. Every claim for that nickname,
in any process, reads it under its row lock, refills it for the time elapsed, takes the
segments of the messages it claims, and writes it back before it commits; a concurrent claim
waits for that commit and sees the new level. The lock is held only for the claim's few
statements. Clocks of the gateway hosts should be NTP-synchronised: the refill is computed
from ``refilled_at``, written by whichever host claimed last (a clock behind it refills
nothing until it catches up; it never refills twice). The circuit breaker lives in the same
row and is changed under the same lock.

Every transaction that makes a status final also queues CleverTap's record for it
(:func:`smsgate.delivery.outbox.enqueue_relay`), and the one that stores vendor ids applies
delivery reports that arrived before them (:func:`smsgate.delivery.matching.match_inbox`).

Recording a result: every update is conditional,
``WHERE id = :id AND lease_owner = :me AND status = 'sending'``, so a worker whose lease
was reclaimed meanwhile (it stalled, and its messages were marked unknown) cannot overwrite
what happened since; its answer is kept as a ``late_result`` event instead. Lock order is
always ``provider_state`` then ``messages``, so transactions of different workers cannot
deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from smsgate.delivery.matching import match_inbox, submit_unknown
from smsgate.delivery.outbox import enqueue_relay
from smsgate.dispatch.outcomes import Claimed, Decision, expired, expires_at
from smsgate.dispatch.settings import DispatchSettings
from smsgate.dispatch.throttle import Circuit, RouteState, Verdict, admit, after_batch, take_tokens
from smsgate.storage.database import reading
from smsgate.storage.models import (
    STATUS_RANK,
    Message,
    MessageEvent,
    MessageStatus,
    ProviderState,
)

__all__ = [
    "LEASE_EXPIRED",
    "Claim",
    "Recorded",
    "Route",
    "claim",
    "reclaim_expired_leases",
    "record",
    "record_unknown",
    "release",
]

MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
STATES = ProviderState.__table__  # type: ignore[attr-defined]

#: Why a message whose worker vanished is ``unknown`` rather than sent again.
LEASE_EXPIRED = (
    "the worker sending it stopped or stalled (its lease expired); the vendor may have "
    "received it, so it is not sent again"
)

_ACCEPTED = MessageStatus.ACCEPTED
_SENDING = MessageStatus.SENDING
_UNKNOWN = MessageStatus.UNKNOWN
_FAILED = MessageStatus.FAILED
_SUBMITTED = MessageStatus.SUBMITTED
_REROUTE_BATCH = 500
_CLAIM_COLUMNS = (
    MESSAGES.c.id,
    MESSAGES.c.nickname,
    MESSAGES.c.route,
    MESSAGES.c.message_id,
    MESSAGES.c.to,
    MESSAGES.c.body,
    MESSAGES.c.template_id,
    MESSAGES.c.template_variables,
    MESSAGES.c.campaign_id,
    MESSAGES.c.extras,
    MESSAGES.c.encoding,
    MESSAGES.c.segments,
    MESSAGES.c.attempts,
    MESSAGES.c.created_at,
)


@dataclass(frozen=True, slots=True)
class Route:
    """A nickname as a sender of messages.

    :param rate: SMS segments per second, or ``None`` for no limit.
    :param burst: segments the bucket holds.
    :param fallback: where messages go when this vendor is unusable; ``None`` for nowhere.
    """

    nickname: str
    rate: float | None = None
    burst: float = 1.0
    fallback: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """What one claim got.

    :param messages: the messages now ``sending`` under our lease (``attempts`` counts this
        try).
    :param probe: these are the half-open circuit's probe.
    :param wait: seconds until a claim for this route could get more; ``0`` when more is
        due now, ``None`` when nothing is due.
    :param expired: messages failed with 916 instead of claimed.
    :param moved: messages moved to the fallback route.
    """

    messages: tuple[Claimed, ...] = ()
    probe: bool = False
    wait: float | None = None
    expired: int = 0
    moved: int = 0


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a batch's results did."""

    applied: int
    #: Results that came after the lease was lost; kept as events only.
    late: int
    circuit: Circuit
    circuit_changed: bool


def claim(
    engine: Engine, route: Route, *, owner: str, now: datetime, settings: DispatchSettings
) -> Claim:
    """Claim due messages of ``route`` as far as its circuit and its rate limit allow."""
    if not _anything_to_do(engine, route, now):
        # Idle polls end here, with one indexed read and no lock taken.
        return Claim()
    with engine.begin() as connection:
        before = _lock_state(connection, route, now)
        state, allowed, breaker_wait = admit(
            before,
            now,
            batch_size=settings.batch_size,
            probe_size=settings.probe_size,
            cooldown=settings.breaker_cooldown,
            probe_lease=settings.lease,
        )
        moved = 0
        if (
            route.fallback is not None
            and _fallback_due(state, now, settings)
            and _takes_messages(connection, route.fallback)
        ):
            moved = _move_to_fallback(connection, route, route.fallback, state, now)
        # Picked even while the circuit is open, so that stale messages still expire.
        rows = connection.execute(
            sa.select(*_CLAIM_COLUMNS)
            .where(
                MESSAGES.c.route == route.nickname,
                MESSAGES.c.status_rank == STATUS_RANK[_ACCEPTED],
                MESSAGES.c.status == _ACCEPTED.value,
                MESSAGES.c.next_attempt_at <= now,
            )
            .order_by(MESSAGES.c.next_attempt_at, MESSAGES.c.id)
            .limit(settings.batch_size)
            .with_for_update(skip_locked=True)
        ).all()
        candidates = [_claimed(row) for row in rows]
        stale = [c for c in candidates if expires_at(c, settings) <= now]
        live = [c for c in candidates if expires_at(c, settings) > now][:allowed]
        state, taken, token_wait = take_tokens(
            state, [c.segments for c in live], now, rate=route.rate, burst=route.burst
        )
        chosen = live[:taken]
        probe = allowed > 0 and state.circuit is Circuit.HALF_OPEN
        if probe and not chosen:
            # Nothing to probe with: the circuit stays as it was until there is.
            state = replace(before, tokens=state.tokens, refilled_at=state.refilled_at)
            probe = False
        if stale:
            _apply(connection, [expired(c) for c in stale], now, from_status=_ACCEPTED)
        if chosen:
            _mark_sending(connection, chosen, owner=owner, now=now, lease=settings.lease)
        # A refill alone need not be written: refilling later from the older point gives the
        # same level, since the bucket is capped either way.
        if chosen or _breaker(state) != _breaker(before):
            _save_state(connection, state, now)
    if allowed == 0:
        wait = breaker_wait
    elif token_wait is not None:
        wait = token_wait
    elif len(rows) >= settings.batch_size:
        wait = 0.0
    else:
        wait = None
    return Claim(
        messages=tuple(replace(c, attempts=c.attempts + 1) for c in chosen),
        probe=probe,
        wait=wait,
        expired=len(stale),
        moved=moved,
    )


def record(
    engine: Engine,
    route: Route,
    decisions: Sequence[Decision],
    *,
    owner: str,
    now: datetime,
    verdict: Verdict,
    reason: str | None,
    settings: DispatchSettings,
) -> Recorded:
    """Store a batch's outcomes and what they say about the vendor's circuit."""
    with engine.begin() as connection:
        current = _read_state(connection, route, now, lock=False)
        changed = after_batch(
            current, verdict, now, threshold=settings.breaker_threshold, reason=reason
        )
        if changed != current:
            # Re-read under the lock: another worker may have moved the circuit meanwhile.
            current = _read_state(connection, route, now, lock=True)
            changed = after_batch(
                current, verdict, now, threshold=settings.breaker_threshold, reason=reason
            )
            _save_state(connection, changed, now)
        ids = [d.message for d in decisions]
        owned = set(
            connection.execute(
                sa.select(MESSAGES.c.id)
                .where(
                    MESSAGES.c.id.in_(ids),
                    MESSAGES.c.lease_owner == owner,
                    MESSAGES.c.status == _SENDING.value,
                )
                .with_for_update()
            ).scalars()
        )
        mine = [d for d in decisions if d.message in owned]
        _apply(connection, mine, now, from_status=_SENDING, owner=owner, route=route.nickname)
        late = [d for d in decisions if d.message not in owned]
        if late:
            _late_results(connection, late, now)
    return Recorded(
        applied=len(mine),
        late=len(late),
        circuit=changed.circuit,
        circuit_changed=changed.circuit is not current.circuit,
    )


def record_unknown(
    engine: Engine, ids: Sequence[int], *, owner: str, now: datetime, reason: str
) -> int:
    """Mark messages we still hold ``unknown`` (they may have left), without a verdict."""
    with engine.begin() as connection:
        rows = connection.execute(
            sa.select(MESSAGES.c.id, MESSAGES.c.attempts)
            .where(
                MESSAGES.c.id.in_(ids),
                MESSAGES.c.lease_owner == owner,
                MESSAGES.c.status == _SENDING.value,
            )
            .with_for_update()
        ).all()
        decisions = [
            Decision(row.id, _UNKNOWN, "unknown", row.attempts, description=reason[:512])
            for row in rows
        ]
        _apply(connection, decisions, now, from_status=_SENDING, owner=owner)
    return len(decisions)


def release(engine: Engine, ids: Sequence[int], *, owner: str, now: datetime) -> int:
    """Give back claimed messages that were never handed to the plugin; not an attempt."""
    with engine.begin() as connection:
        result = connection.execute(
            sa.update(MESSAGES)
            .where(
                MESSAGES.c.id.in_(ids),
                MESSAGES.c.lease_owner == owner,
                MESSAGES.c.status == _SENDING.value,
            )
            .values(
                status=_ACCEPTED.value,
                status_rank=STATUS_RANK[_ACCEPTED],
                attempts=MESSAGES.c.attempts - 1,
                lease_owner=None,
                lease_until=None,
                updated_at=now,
            )
            .returning(MESSAGES.c.id)
        )
        released = list(result.scalars())
        _events(
            connection,
            [
                _event(pk, "released", _ACCEPTED, now, description="shutting down before sending")
                for pk in released
            ],
        )
    return len(released)


def reclaim_expired_leases(engine: Engine, now: datetime, *, limit: int = 1000) -> list[int]:
    """Mark ``unknown`` the messages still ``sending`` after their lease expired.

    Such a message was claimed by a worker that died or stalled after its claim committed.
    The claim commits before the vendor is called, and nothing records the moment the
    request leaves, so the message may well have reached the vendor: sending it again could
    deliver it twice (an OTP twice, a charge twice). It is kept as ``unknown`` with the
    reason, for a status lookup or an operator to settle; never resent automatically.
    """
    with engine.begin() as connection:
        rows = connection.execute(
            sa.select(MESSAGES.c.id, MESSAGES.c.lease_owner, MESSAGES.c.attempts)
            .where(
                MESSAGES.c.status_rank == STATUS_RANK[_SENDING],
                MESSAGES.c.status == _SENDING.value,
                MESSAGES.c.lease_until < now,
            )
            .order_by(MESSAGES.c.lease_until)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return []
        reclaimed = list(
            connection.execute(
                sa.update(MESSAGES)
                .where(
                    MESSAGES.c.id.in_([row.id for row in rows]),
                    MESSAGES.c.status == _SENDING.value,
                    MESSAGES.c.lease_until < now,
                )
                .values(
                    status=_UNKNOWN.value,
                    status_rank=STATUS_RANK[_UNKNOWN],
                    failure_description=LEASE_EXPIRED,
                    lease_owner=None,
                    lease_until=None,
                    updated_at=now,
                )
                .returning(MESSAGES.c.id)
            ).scalars()
        )
        owners = {row.id: (row.lease_owner, row.attempts) for row in rows}
        _events(
            connection,
            [
                _event(
                    pk,
                    "unknown",
                    _UNKNOWN,
                    now,
                    description=LEASE_EXPIRED,
                    payload={"worker": owners[pk][0], "attempt": owners[pk][1]},
                )
                for pk in reclaimed
            ],
        )
    return reclaimed


def _anything_to_do(engine: Engine, route: Route, now: datetime) -> bool:
    waiting = [
        MESSAGES.c.route == route.nickname,
        MESSAGES.c.status_rank == STATUS_RANK[_ACCEPTED],
        MESSAGES.c.status == _ACCEPTED.value,
    ]
    if route.fallback is None:
        # With a fallback, a message not due yet may still have to move.
        waiting.append(MESSAGES.c.next_attempt_at <= now)
    with reading(engine).connect() as connection:
        found = connection.execute(sa.select(MESSAGES.c.id).where(*waiting).limit(1)).first()
    return found is not None


def _breaker(state: RouteState) -> tuple[object, ...]:
    return (
        state.circuit,
        state.failures,
        state.opened_at,
        state.open_since,
        state.open_reason,
        state.unusable,
        state.probe_until,
    )


def _fallback_due(state: RouteState, now: datetime, settings: DispatchSettings) -> bool:
    if state.circuit is Circuit.CLOSED:
        return False
    if state.unusable:
        return True
    since = state.open_since
    return since is not None and now - since >= timedelta(seconds=settings.fallback_after)


def _takes_messages(connection: Connection, nickname: str) -> bool:
    # A fallback whose own circuit is open would only hold the messages, and keep them even
    # when this vendor recovers first: they wait here until the fallback's circuit closes.
    circuit = connection.execute(
        sa.select(STATES.c.circuit).where(STATES.c.nickname == nickname)
    ).scalar_one_or_none()
    return circuit is None or circuit == Circuit.CLOSED.value


def _move_to_fallback(
    connection: Connection, route: Route, fallback: str, state: RouteState, now: datetime
) -> int:
    # Only waiting messages move (never one that is sending or unknown: it may be on its way
    # through this vendor), and only on their first route, so that two nicknames that fall
    # back on each other cannot pass a message to and fro.
    ids = list(
        connection.execute(
            sa.select(MESSAGES.c.id)
            .where(
                MESSAGES.c.route == route.nickname,
                MESSAGES.c.nickname == route.nickname,
                MESSAGES.c.status_rank == STATUS_RANK[_ACCEPTED],
                MESSAGES.c.status == _ACCEPTED.value,
            )
            .order_by(MESSAGES.c.next_attempt_at, MESSAGES.c.id)
            .limit(_REROUTE_BATCH)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not ids:
        return 0
    moved = list(
        connection.execute(
            sa.update(MESSAGES)
            .where(MESSAGES.c.id.in_(ids), MESSAGES.c.status == _ACCEPTED.value)
            .values(route=fallback, attempts=0, next_attempt_at=now, updated_at=now)
            .returning(MESSAGES.c.id)
        ).scalars()
    )
    why = state.open_reason or "vendor failing"
    description = f"moved from {route.nickname} to {fallback}: circuit open ({why})"[:512]
    _events(
        connection,
        [
            _event(
                pk,
                "rerouted",
                _ACCEPTED,
                now,
                description=description,
                payload={"from": route.nickname, "to": fallback},
            )
            for pk in moved
        ],
    )
    return len(moved)


def _mark_sending(
    connection: Connection, chosen: Sequence[Claimed], *, owner: str, now: datetime, lease: float
) -> None:
    connection.execute(
        sa.update(MESSAGES)
        .where(MESSAGES.c.id.in_([c.id for c in chosen]), MESSAGES.c.status == _ACCEPTED.value)
        .values(
            status=_SENDING.value,
            status_rank=STATUS_RANK[_SENDING],
            lease_owner=owner,
            lease_until=now + timedelta(seconds=lease),
            attempts=MESSAGES.c.attempts + 1,
            updated_at=now,
        )
    )
    _events(
        connection,
        [
            _event(
                c.id,
                "sending",
                _SENDING,
                now,
                payload={"attempt": c.attempts + 1, "route": c.route, "worker": owner},
            )
            for c in chosen
        ],
    )


def _apply(
    connection: Connection,
    decisions: Sequence[Decision],
    now: datetime,
    *,
    from_status: MessageStatus,
    owner: str | None = None,
    route: str | None = None,
) -> None:
    if not decisions:
        return
    conditions = [MESSAGES.c.id == sa.bindparam("b_id"), MESSAGES.c.status == from_status.value]
    if owner is not None:
        conditions.append(MESSAGES.c.lease_owner == owner)
    values: dict[str, Any] = {
        "status": sa.bindparam("b_status"),
        "status_rank": sa.bindparam("b_rank"),
        "attempts": sa.bindparam("b_attempts"),
        "vendor_id": sa.bindparam("b_vendor_id"),
        "failure_code": sa.bindparam("b_code"),
        "failure_description": sa.bindparam("b_description"),
        "next_attempt_at": sa.bindparam("b_next", type_=MESSAGES.c.next_attempt_at.type),
        "lease_owner": None,
        "lease_until": None,
        "updated_at": now,
    }
    if route is not None:
        values["route"] = sa.bindparam("b_route")
    params = []
    for decision in decisions:
        param = {
            "b_id": decision.message,
            "b_status": decision.status.value,
            "b_rank": STATUS_RANK[decision.status],
            "b_attempts": decision.attempts,
            "b_vendor_id": decision.vendor_id,
            "b_code": decision.code,
            "b_description": decision.description,
            "b_next": decision.next_attempt_at or now,
        }
        if route is not None:
            param["b_route"] = decision.route or route
        params.append(param)
    connection.execute(sa.update(MESSAGES).where(*conditions).values(values), params)
    _events(
        connection,
        [
            _event(
                d.message,
                d.kind,
                d.status,
                now,
                code=d.code,
                description=d.description,
                payload={
                    **d.payload,
                    **({"vendor_id": d.vendor_id} if d.vendor_id else {}),
                    **(
                        {"next_attempt_at": d.next_attempt_at.isoformat()}
                        if d.next_attempt_at and d.status is _ACCEPTED
                        else {}
                    ),
                },
            )
            for d in decisions
        ],
    )
    # Same transaction, so that no final status is stored without its CleverTap record, and
    # a delivery report that beat the vendor's answer is applied the moment its id is known.
    enqueue_relay(connection, [d.message for d in decisions if d.status is _FAILED], now)
    match_inbox(connection, [d.message for d in decisions if d.status is _SUBMITTED], now)


def _late_results(connection: Connection, late: Sequence[Decision], now: datetime) -> None:
    existing = set(
        connection.execute(
            sa.select(MESSAGES.c.id).where(MESSAGES.c.id.in_([d.message for d in late]))
        ).scalars()
    )
    _events(
        connection,
        [
            _event(
                d.message,
                "late_result",
                None,
                now,
                code=d.code,
                description=(f"{d.kind} after this worker's lease was lost: {d.description or ''}")[
                    :512
                ],
                payload={"outcome": d.kind, "vendor_id": d.vendor_id},
            )
            for d in late
            if d.message in existing
        ],
    )
    # The message was made unknown when this worker's lease ran out, and is never resent;
    # but the vendor did take it, under the id the worker learned after all.
    learned = {
        d.message: d.vendor_id
        for d in late
        if d.vendor_id and d.status is _SUBMITTED and d.message in existing
    }
    match_inbox(connection, list(submit_unknown(connection, learned, now)), now)
    # Nor is the vendor's refusal any less final for coming late: CleverTap is told.
    refused = [d for d in late if d.status is _FAILED and d.message in existing]
    if refused:
        still_unknown = set(
            connection.execute(
                sa.select(MESSAGES.c.id)
                .where(
                    MESSAGES.c.id.in_(sorted(d.message for d in refused)),
                    MESSAGES.c.status == _UNKNOWN.value,
                )
                .with_for_update()
            ).scalars()
        )
        failing = [d for d in refused if d.message in still_unknown]
        _apply(connection, failing, now, from_status=_UNKNOWN)


def _event(
    message: int,
    kind: str,
    status: MessageStatus | None,
    now: datetime,
    *,
    code: str | None = None,
    description: str | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "message_pk": message,
        "kind": kind,
        "status": None if status is None else status.value,
        "code": code,
        "description": None if description is None else description[:512],
        "payload": payload or {},
        "occurred_at": now,
        "recorded_at": now,
    }


def _events(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        connection.execute(sa.insert(EVENTS), list(rows))


def _claimed(row: Any) -> Claimed:
    return Claimed(
        id=row.id,
        nickname=row.nickname,
        route=row.route,
        message_id=row.message_id,
        to=row.to,
        body=row.body,
        template_id=row.template_id,
        template_variables=row.template_variables,
        campaign_id=row.campaign_id,
        extras=dict(row.extras or {}),
        encoding=row.encoding,
        segments=row.segments,
        attempts=row.attempts,
        created_at=row.created_at,
    )


def _lock_state(connection: Connection, route: Route, now: datetime) -> RouteState:
    return _read_state(connection, route, now, lock=True)


def _read_state(connection: Connection, route: Route, now: datetime, *, lock: bool) -> RouteState:
    query = sa.select(STATES).where(STATES.c.nickname == route.nickname)
    if lock:
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        connection.execute(
            dialect.insert(STATES)
            .values(
                nickname=route.nickname,
                tokens=route.burst if route.rate is not None else 0.0,
                refilled_at=now,
                circuit=Circuit.CLOSED.value,
                failures=0,
                unusable=False,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["nickname"])
        )
        row = connection.execute(query).one()
    return RouteState(
        nickname=row.nickname,
        tokens=row.tokens,
        refilled_at=row.refilled_at,
        circuit=Circuit(row.circuit),
        failures=row.failures,
        opened_at=row.opened_at,
        open_since=row.open_since,
        open_reason=row.open_reason,
        unusable=row.unusable,
        probe_until=row.probe_until,
    )


def _save_state(connection: Connection, state: RouteState, now: datetime) -> None:
    connection.execute(
        sa.update(STATES)
        .where(STATES.c.nickname == state.nickname)
        .values(
            tokens=state.tokens,
            refilled_at=state.refilled_at,
            circuit=state.circuit.value,
            failures=state.failures,
            opened_at=state.opened_at,
            open_since=state.open_since,
            open_reason=state.open_reason,
            unusable=state.unusable,
            probe_until=state.probe_until,
            updated_at=now,
        )
    )
