"""What an operator may do to a message or a relay record, and what each action means.

Every action is one short transaction: the row is read under a lock, the change is
conditional on the state that was read (so it cannot undo what a worker did meanwhile), and
an event on the message's timeline records who did what and what the row was before.

**Retry a message** (send it again):

- ``accepted`` waiting for its backoff: it becomes due now.
- ``failed``: back to ``accepted`` with a fresh count of attempts, on the route it had. If
  CleverTap has not been told ``failed`` yet, that record is withdrawn; if it has, it stays
  told: a later ``delivered`` is relayed too, a second ``failed`` is not (CleverTap has one).
  Refused for a record rejected at intake (it has no usable number or text: fix it in
  CleverTap) and for a message older than the dispatch ``validity`` (it would expire at once).
- ``unknown``: the vendor may have it, so sending it again may deliver it twice. It is only
  resent when the operator says so explicitly (``resend_unknown``); otherwise refused.
- ``sending``, ``submitted``, ``buffered``, ``delivered``: refused, with the reason (a worker
  or the vendor has it; its report or a status lookup will settle it).

**Cancel a message**: an ``accepted`` one (not yet sent) or an ``unknown`` one (giving up on
it) becomes ``failed`` with a CleverTap code (900 unless given) and CleverTap is told, like
any failure. A message being sent, or already with the vendor, cannot be cancelled.

**Retry a relay record**: a ``dead`` (or ``given_up``) record is queued again as new: due
now, attempts from zero, a fresh give-up window. CleverTap refused it or stopped answering;
the operator has fixed the cause. **Give up a relay record**: a ``dead`` record becomes
``given_up``: it stays on the message's page and leaves the dead-letter list.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from smsgate.admin.queries import MAX_ID
from smsgate.delivery.outbox import DEAD, PENDING, enqueue_relay
from smsgate.delivery.relay import GAVE_UP_PREFIX
from smsgate.delivery.reports import CLEVERTAP_CODE
from smsgate.errors import ActionRefusedError
from smsgate.storage.models import (
    STATUS_RANK,
    Message,
    MessageEvent,
    MessageStatus,
    RelayOutbox,
)

__all__ = [
    "GIVEN_UP",
    "available",
    "cancel_message",
    "give_up_relay",
    "retry_message",
    "retry_relay",
]

MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
OUTBOX = RelayOutbox.__table__  # type: ignore[attr-defined]

#: A dead relay record an operator decided not to send; kept for the record.
GIVEN_UP = "given_up"

_ACCEPTED = MessageStatus.ACCEPTED.value
_FAILED = MessageStatus.FAILED.value
_UNKNOWN = MessageStatus.UNKNOWN.value
_NOT_NOW = {
    MessageStatus.SENDING.value: "a worker is sending it right now; wait for the vendor's answer",
    MessageStatus.SUBMITTED.value: (
        "the vendor has it; its delivery report or a status lookup will settle it"
    ),
    MessageStatus.BUFFERED.value: (
        "the vendor has it and reported it in transit; its final report will settle it"
    ),
    MessageStatus.DELIVERED.value: "it was delivered",
}
UNKNOWN_NEEDS_CONSENT = (
    "its fate is unknown: the vendor may have received it, so sending it again may deliver "
    "it twice. Resend only if you accept that: tick the dashboard's box 'I accept that it "
    "may arrive twice', pass "
    '{"resend_unknown": true} to the API, or --resend-unknown to the CLI'
)


def available(
    status: str,
    to: str,
    created_at: datetime,
    next_attempt_at: datetime,
    *,
    now: datetime,
    validity: float,
) -> list[str]:
    """The actions that fit a message in this state: ``retry``, ``resend``, ``cancel``."""
    fresh = created_at + timedelta(seconds=validity) > now
    if status == _ACCEPTED:
        return ["retry", "cancel"] if next_attempt_at > now else ["cancel"]
    if status == _UNKNOWN:
        return ["resend", "cancel"] if fresh else ["cancel"]
    if status == _FAILED and to and fresh:
        return ["retry"]
    return []


def retry_message(
    engine: Engine,
    pk: int,
    *,
    now: datetime,
    validity: float,
    by: str,
    resend_unknown: bool = False,
    only_if: str | None = None,
) -> str | None:
    """Send message ``pk`` again, as the module docstring says; ``None`` if there is none.

    :param validity: the dispatch ``validity`` in seconds.
    :param by: who asked (``dashboard``, ``api``, ``cli``), kept on the event.
    :param only_if: the status the asker saw (a list of unknown messages, say); refused
        when the message has moved on since.
    :returns: one sentence saying what was done.
    :raises ActionRefusedError: the message's state does not allow it.
    """
    with engine.begin() as connection:
        row = _lock_message(connection, pk)
        if row is None:
            return None
        status = row.status
        _refuse_if_moved_on(pk, status, only_if)
        if status in _NOT_NOW:
            raise ActionRefusedError(f"message {pk} cannot be retried: {_NOT_NOW[status]}")
        if status == _ACCEPTED:
            if row.next_attempt_at <= now:
                raise ActionRefusedError(
                    f"message {pk} is already waiting to be sent; nothing to retry"
                )
            _update(connection, pk, status, {"next_attempt_at": now})
            _event(
                connection,
                pk,
                "retried",
                now,
                status=_ACCEPTED,
                description=f"sent now by an operator instead of after its backoff ({by})",
                payload={"by": by, "previous_status": status},
            )
            return f"message {pk} will be sent now instead of after its backoff"
        if status == _UNKNOWN and not resend_unknown:
            raise ActionRefusedError(f"message {pk} was not resent: {UNKNOWN_NEEDS_CONSENT}")
        if status == _FAILED and not row.to:
            raise ActionRefusedError(
                f"message {pk} was rejected at intake ({row.failure_description or 'invalid'})"
                " and cannot be sent as it is: fix the record in CleverTap and send it again"
            )
        if row.created_at + timedelta(seconds=validity) <= now:
            raise ActionRefusedError(
                f"message {pk} is older than [gateway.dispatch] validity "
                f"({validity / 3600:g} h): it would expire at once (916) instead of being sent"
            )
        told = None
        if status == _FAILED:
            told = _withdraw_failed_record(connection, pk)
        _update(
            connection,
            pk,
            status,
            {
                "status": _ACCEPTED,
                "status_rank": STATUS_RANK[MessageStatus.ACCEPTED],
                "attempts": 0,
                "next_attempt_at": now,
                "vendor_id": None,
                "failure_code": None,
                "failure_description": None,
                "lease_owner": None,
                "lease_until": None,
            },
            now=now,
        )
        previous = f"{status} {row.failure_code}" if row.failure_code else status
        note = {
            None: "",
            True: "; CleverTap was already told it failed",
            False: "; the failure was not relayed yet and is withdrawn",
        }[told]
        if status == _UNKNOWN:
            note = "; the vendor may have had it already (operator accepted a duplicate)"
        _event(
            connection,
            pk,
            "retried",
            now,
            status=_ACCEPTED,
            description=f"queued again by an operator ({by}); was {previous}{note}",
            payload={
                "by": by,
                "previous_status": status,
                "previous_code": row.failure_code,
                "previous_vendor_id": row.vendor_id,
                **({"clevertap_told_failed": told} if told is not None else {}),
            },
        )
    return f"message {pk} is queued to be sent again (was {previous})"


def cancel_message(
    engine: Engine,
    pk: int,
    *,
    now: datetime,
    by: str,
    code: str = "900",
    description: str | None = None,
    only_if: str | None = None,
) -> str | None:
    """Fail an ``accepted`` or ``unknown`` message and tell CleverTap; ``None`` if none.

    :param only_if: as for :func:`retry_message`.
    :raises ValueError: ``code`` is not one CleverTap accepts.
    :raises ActionRefusedError: the message is being sent, with the vendor, or final.
    """
    if not CLEVERTAP_CODE.fullmatch(code):
        raise ValueError("code must be a CleverTap failure code, 900 to 920 (there is no 911)")
    with engine.begin() as connection:
        row = _lock_message(connection, pk)
        if row is None:
            return None
        status = row.status
        _refuse_if_moved_on(pk, status, only_if)
        if status not in (_ACCEPTED, _UNKNOWN):
            why = _NOT_NOW.get(status, "it has already failed")
            raise ActionRefusedError(f"message {pk} cannot be cancelled: {why}")
        default = (
            "cancelled by an operator before it was sent"
            if status == _ACCEPTED
            else "given up by an operator: whether the vendor got it is unknown"
        )
        words = (description or default)[:512]
        _update(
            connection,
            pk,
            status,
            {
                "status": _FAILED,
                "status_rank": STATUS_RANK[MessageStatus.FAILED],
                "failure_code": code,
                "failure_description": words,
            },
            now=now,
        )
        _event(
            connection,
            pk,
            "cancelled",
            now,
            status=_FAILED,
            code=code,
            description=words,
            payload={"by": by, "previous_status": status},
        )
        enqueue_relay(connection, [pk], now)
    told = "CleverTap will be told it failed" if row.tracked else "untracked: CleverTap not told"
    return f"message {pk} is failed with code {code} ({told})"


def retry_relay(engine: Engine, pk: int, *, now: datetime, by: str) -> str | None:
    """Queue a ``dead`` or ``given_up`` relay record again; ``None`` if there is none."""
    with engine.begin() as connection:
        row = _lock_relay(connection, pk)
        if row is None:
            return None
        if row.state not in (DEAD, GIVEN_UP):
            raise ActionRefusedError(
                f"relay record {pk} is {row.state}, not dead: "
                + ("it is already queued" if row.state == PENDING else "CleverTap has it")
            )
        _update_relay(
            connection,
            pk,
            row.state,
            {
                "state": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "lease_owner": None,
                # A fresh give-up window: the relay gives up relay_give_up_after past this.
                "created_at": now,
                "updated_at": now,
            },
        )
        _event(
            connection,
            row.message_pk,
            "relay_retried",
            now,
            description=f"{row.event} record for CleverTap queued again by an operator ({by})",
            payload={
                "by": by,
                "relay": pk,
                "event": row.event,
                "previous_state": row.state,
                "previous_error": row.last_error,
                "attempts": row.attempts,
            },
        )
    return f"relay record {pk} ({row.event}) is queued for CleverTap again"


def give_up_relay(engine: Engine, pk: int, *, now: datetime, by: str) -> str | None:
    """Mark a ``dead`` relay record ``given_up``; ``None`` if there is none."""
    with engine.begin() as connection:
        row = _lock_relay(connection, pk)
        if row is None:
            return None
        if row.state != DEAD:
            raise ActionRefusedError(
                f"relay record {pk} is {row.state}; only a dead record can be given up"
            )
        _update_relay(connection, pk, DEAD, {"state": GIVEN_UP, "updated_at": now})
        _event(
            connection,
            row.message_pk,
            "relay_given_up",
            now,
            description=f"{row.event} record for CleverTap given up by an operator ({by})",
            payload={"by": by, "relay": pk, "event": row.event, "last_error": row.last_error},
        )
    return f"relay record {pk} ({row.event}) is given up; CleverTap will not receive it"


def _lock_message(connection: Connection, pk: int) -> Any:
    if not 0 < pk <= MAX_ID:
        return None
    return connection.execute(
        sa.select(
            MESSAGES.c.id,
            MESSAGES.c.status,
            MESSAGES.c.to,
            MESSAGES.c.tracked,
            MESSAGES.c.vendor_id,
            MESSAGES.c.failure_code,
            MESSAGES.c.failure_description,
            MESSAGES.c.created_at,
            MESSAGES.c.next_attempt_at,
        )
        .where(MESSAGES.c.id == pk)
        .with_for_update()
    ).first()


def _lock_relay(connection: Connection, pk: int) -> Any:
    if not 0 < pk <= MAX_ID:
        return None
    return connection.execute(sa.select(OUTBOX).where(OUTBOX.c.id == pk).with_for_update()).first()


def _update(
    connection: Connection,
    pk: int,
    status: str,
    values: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> None:
    changes = dict(values)
    if now is not None:
        changes["updated_at"] = now
    done = connection.execute(
        sa.update(MESSAGES)
        .where(MESSAGES.c.id == pk, MESSAGES.c.status == status)
        .values(changes)
        .execution_options(preserve_rowcount=True)
    ).rowcount
    if done != 1:
        # The row lock makes this unreachable on PostgreSQL; kept as the honest answer.
        raise ActionRefusedError(f"message {pk} changed meanwhile; look again and retry")


def _update_relay(connection: Connection, pk: int, state: str, values: Mapping[str, Any]) -> None:
    done = connection.execute(
        sa.update(OUTBOX)
        .where(OUTBOX.c.id == pk, OUTBOX.c.state == state)
        .values(dict(values))
        .execution_options(preserve_rowcount=True)
    ).rowcount
    if done != 1:
        raise ActionRefusedError(f"relay record {pk} changed meanwhile; look again and retry")


def _refuse_if_moved_on(pk: int, status: str, expected: str | None) -> None:
    if expected is not None and status != expected:
        raise ActionRefusedError(
            f"message {pk} is {status} now, no longer {expected}: look again before acting"
        )


def _withdraw_failed_record(connection: Connection, pk: int) -> bool | None:
    """Drop a ``failed`` record CleverTap has not received; whether CleverTap was told.

    ``None`` when there is no such record (an untracked message). A record leased by a
    relay worker may be in flight: it counts as told. One CleverTap refused (dead by a 4xx
    or listed as unprocessed) was never received: it is dropped too, so that the next final
    status is the one CleverTap hears. One that died of timeouts or 5xx may have reached
    CleverTap, and one an operator gave up is the operator's: both count as told.
    """
    row = connection.execute(
        sa.select(OUTBOX.c.id, OUTBOX.c.state, OUTBOX.c.lease_owner, OUTBOX.c.last_error)
        .where(OUTBOX.c.message_pk == pk, OUTBOX.c.event == "failed")
        .with_for_update()
    ).first()
    if row is None:
        return None
    refused = row.state == DEAD and not (row.last_error or "").startswith(GAVE_UP_PREFIX)
    if (row.state == PENDING and row.lease_owner is None) or refused:
        connection.execute(sa.delete(OUTBOX).where(OUTBOX.c.id == row.id))
        return False
    return True


def _event(
    connection: Connection,
    pk: int,
    kind: str,
    now: datetime,
    *,
    status: str | None = None,
    code: str | None = None,
    description: str | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    connection.execute(
        sa.insert(EVENTS).values(
            message_pk=pk,
            kind=kind,
            status=status,
            code=code,
            description=None if description is None else description[:512],
            payload=payload or {},
            occurred_at=now,
            recorded_at=now,
        )
    )
