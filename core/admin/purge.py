"""Deleting old messages, with their events and relay records, in batches.

``smsgate purge --older-than 90d`` runs it once; ``[gateway] purge_after = "90d"`` runs it
in every ``smsgate serve`` process (at start, then every :data:`INTERVAL`). Each batch is
one short transaction of at most ``batch_size`` messages, picked oldest first with ``FOR
UPDATE SKIP LOCKED`` on PostgreSQL, so several processes purging at once share the work
instead of queueing behind each other, and the intake and the workers are never held up
for long. Unmatched delivery reports received before the cutoff go too.

A message is deleted whatever its status: past the cutoff, which must exceed the dispatch
``validity``, the delivery ``lookup_grace`` and ``relay_give_up_after`` together (4 days and
10 hours by default, :attr:`smsgate.config.GatewaySettings.shortest_purge`), nothing will
send, look up or relay it any more. A message whose record CleverTap is still to hear (a
report that came late) waits for that record all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from smsgate.delivery.outbox import PENDING
from smsgate.dispatch.backoff import Clock, system_clock
from smsgate.storage.models import DeliveryInbox, Message, MessageEvent, RelayOutbox

__all__ = ["INTERVAL", "PurgeReport", "Purger", "count_purgeable", "purge"]

logger = logging.getLogger(__name__)

MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
OUTBOX = RelayOutbox.__table__  # type: ignore[attr-defined]
INBOX = DeliveryInbox.__table__  # type: ignore[attr-defined]

#: How often ``serve`` purges when ``purge_after`` is set.
INTERVAL = timedelta(hours=1)
BATCH_SIZE = 1000


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """Rows deleted."""

    messages: int = 0
    events: int = 0
    relays: int = 0
    reports: int = 0


def purge(
    engine: Engine,
    before: datetime,
    *,
    batch_size: int = BATCH_SIZE,
    stopping: Callable[[], bool] = lambda: False,
    abandoned_before: datetime | None = None,
) -> PurgeReport:
    """Delete what was created before ``before``, ``batch_size`` messages per transaction.

    A message with a relay record CleverTap is still to hear stays, unless that record was
    queued before ``abandoned_before``: past ``relay_give_up_after`` no relay worker takes
    it any more (one of a nickname since removed from the file would wait for ever).

    :param stopping: asked between batches; the purge ends early when it says so.
    """
    purgeable = _purgeable(before, abandoned_before)
    messages = events = relays = reports = 0
    while not stopping():
        with engine.begin() as connection:
            ids = list(
                connection.execute(
                    sa.select(MESSAGES.c.id)
                    .where(*purgeable)
                    .order_by(MESSAGES.c.created_at, MESSAGES.c.id)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if ids:
                # Children first: the foreign keys cascade too, but explicit deletes do not
                # depend on SQLite's foreign_keys pragma and say what they cost.
                events += _deleted(
                    connection, sa.delete(EVENTS).where(EVENTS.c.message_pk.in_(ids))
                )
                relays += _deleted(
                    connection, sa.delete(OUTBOX).where(OUTBOX.c.message_pk.in_(ids))
                )
                messages += _deleted(connection, sa.delete(MESSAGES).where(MESSAGES.c.id.in_(ids)))
        if len(ids) < batch_size:
            break
    while not stopping():
        with engine.begin() as connection:
            ids = list(
                connection.execute(
                    sa.select(INBOX.c.id)
                    .where(INBOX.c.received_at < before)
                    .order_by(INBOX.c.id)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if ids:
                reports += _deleted(connection, sa.delete(INBOX).where(INBOX.c.id.in_(ids)))
        if len(ids) < batch_size:
            break
    return PurgeReport(messages=messages, events=events, relays=relays, reports=reports)


def count_purgeable(
    engine: Engine, before: datetime, *, abandoned_before: datetime | None = None
) -> int:
    """How many messages :func:`purge` with the same arguments would delete now."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count())
                .select_from(MESSAGES)
                .where(*_purgeable(before, abandoned_before))
            ).scalar_one()
        )


def _purgeable(before: datetime, abandoned_before: datetime | None) -> list[sa.ColumnElement[bool]]:
    """What makes a message deletable: old enough, and no relay record still awaited."""
    awaited = [OUTBOX.c.message_pk == MESSAGES.c.id, OUTBOX.c.state == PENDING]
    if abandoned_before is not None:
        awaited.append(OUTBOX.c.created_at >= abandoned_before)
    relay_awaited = sa.select(OUTBOX.c.id).where(*awaited).exists()
    return [MESSAGES.c.created_at < before, ~relay_awaited]


def _deleted(connection: sa.Connection, statement: sa.Delete) -> int:
    return int(connection.execute(statement.execution_options(preserve_rowcount=True)).rowcount)


class Purger:
    """Runs :func:`purge` in ``serve``: at start, then every ``interval``.

    :param older_than: what to delete: messages created longer ago than this.
    :param relay_give_up: ``relay_give_up_after``: a relay record queued longer ago than
        this no longer keeps its message.
    """

    def __init__(
        self,
        engine: Engine,
        older_than: timedelta,
        *,
        interval: timedelta = INTERVAL,
        clock: Clock = system_clock,
        batch_size: int = BATCH_SIZE,
        relay_give_up: timedelta | None = None,
    ) -> None:
        self.engine = engine
        self.older_than = older_than
        self.relay_give_up = relay_give_up
        self.interval = interval
        self._clock = clock
        self._batch_size = batch_size
        self._task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._halt = threading.Event()

    async def start(self) -> None:
        """Start the schedule; the first purge begins at once, in the background."""
        self._stopped = asyncio.Event()
        self._halt = threading.Event()
        self._task = asyncio.create_task(self._run(), name="smsgate-purge")

    async def stop(self) -> None:
        """Stop after the batch in progress, if any."""
        self._halt.set()
        self._stopped.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def purge_once(self) -> PurgeReport:
        """One purge, now."""
        now = self._clock()
        before = now - self.older_than
        abandoned = None if self.relay_give_up is None else now - self.relay_give_up
        report = await asyncio.to_thread(
            purge,
            self.engine,
            before,
            batch_size=self._batch_size,
            stopping=self._halt.is_set,
            abandoned_before=abandoned,
        )
        if report.messages or report.reports:
            logger.info(
                "purged %d message(s), %d event(s), %d relay record(s) and %d unmatched "
                "report(s) from before %s",
                report.messages,
                report.events,
                report.relays,
                report.reports,
                before.isoformat(timespec="seconds"),
            )
        return report

    async def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                await self.purge_once()
            except SQLAlchemyError as exc:
                logger.warning("purge: database error, trying again later: %s", exc)
            except Exception:
                logger.exception("purge failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self.interval.total_seconds())
