"""Group commit for delivery reports: requests that arrive together are stored together.

A vendor pushes reports one request per message, dozens at once at its peak. Stored one
transaction per request, each would queue for the write lock (SQLite has one; PostgreSQL
serialises the commits' WAL flushes) and pay a commit and its fsync of its own: a few
hundred reports a second at most, whatever the machine.

:class:`ReportGroups` keeps one writer per process (two on PostgreSQL: see ``writers``). A
request hands over its work (reading its reports, which is the plugin's code, and storing
them) and waits. A writer takes every request waiting, reads and stores all of their
reports in one transaction (:func:`smsgate.delivery.matching.store_groups`), commits, and
only then answers each request: a vendor still gets its 200 only once its reports are
committed. While one group commits the next one gathers, so the groups grow with the load
and a lone request is stored at once, alone; nothing waits for a timer.

One request's trouble stays its own: reports the plugin cannot read fail that request
alone (its 400). When the group's transaction fails on something in the data, each request
of the group is stored again on its own, so that only the one at fault fails; when the
database is unavailable, every request of the group gets the error (a 503 the vendors
retry).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from smsgate.delivery.matching import Stored, store_groups
from smsgate.delivery.reports import Report
from smsgate.storage.models import utcnow

__all__ = ["ReportGroups"]

#: Reads one request's reports; raises what the request's answer should say.
Parse = Callable[[], Sequence[Report]]


@dataclass(slots=True)
class _Request:
    nickname: str
    parse: Parse
    future: asyncio.Future[tuple[int, Stored]]
    reports: Sequence[Report] = ()
    stored: Stored | None = None
    error: Exception | None = None


class ReportGroups:
    """Stores the reports of concurrent requests in shared transactions, one at a time.

    :param engine: the database.
    :param max_requests: the most requests stored in one transaction.
    :param writers: transactions at once; by default one on SQLite (it has one writer
        anyway) and two elsewhere, so that on PostgreSQL a group is being read and stored
        while the previous one waits for its round trips and its commit.
    """

    def __init__(
        self, engine: Engine, *, max_requests: int = 500, writers: int | None = None
    ) -> None:
        self.engine = engine
        self.max_requests = max_requests
        self.writers = writers or (1 if engine.dialect.name == "sqlite" else 2)
        self._waiting: list[_Request] = []
        self._writing = 0
        # The writer tasks, held so that they are not garbage-collected mid-write.
        self._tasks: set[asyncio.Task[None]] = set()

    async def store(self, nickname: str, parse: Parse) -> tuple[int, Stored]:
        """Read and store one request's reports; returns once committed.

        :returns: how many reports the request held, and what became of them.
        :raises: what ``parse`` raised, or the database's error.
        """
        future: asyncio.Future[tuple[int, Stored]] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Request(nickname, parse, future))
        if self._writing < self.writers:
            self._writing += 1
            self._tasks.add(asyncio.create_task(self._write(), name="smsgate-report-writer"))
        return await future

    async def _write(self) -> None:
        try:
            while self._waiting:
                group = self._waiting[: self.max_requests]
                del self._waiting[: len(group)]
                try:
                    await asyncio.to_thread(self._store, group)
                except BaseException as exc:
                    # Not the database's answer (that is per request): a bug, or the loop
                    # shutting down. Nobody is left waiting for an answer that cannot come.
                    for request in group:
                        if not request.future.done():
                            if isinstance(exc, Exception):
                                request.future.set_exception(exc)
                            else:
                                request.future.cancel()
                    raise
                for request in group:
                    if request.future.done():
                        continue  # the client went away; its reports are stored all the same
                    if request.error is not None:
                        request.future.set_exception(request.error)
                    else:
                        assert request.stored is not None
                        request.future.set_result((len(request.reports), request.stored))
        finally:
            # At once, not in a done callback: a request arriving in between would find
            # every writer counted and none left to take it.
            self._writing -= 1
            self._tasks.discard(asyncio.current_task())

    def _store(self, group: Sequence[_Request]) -> None:
        """Read every request's reports, then store them all in one transaction."""
        ready: list[_Request] = []
        for request in group:
            try:
                request.reports = list(request.parse())
            except Exception as exc:  # noqa: BLE001 - the request's own answer (a 400)
                request.error = exc
            else:
                ready.append(request)
        if not ready:
            return
        now = utcnow()
        try:
            stored = store_groups(self.engine, [(r.nickname, r.reports) for r in ready], now)
        except SQLAlchemyError as exc:
            if len(ready) == 1 or isinstance(exc, OperationalError):
                for request in ready:
                    request.error = exc
                return
            for request in ready:
                try:
                    request.stored = store_groups(
                        self.engine, [(request.nickname, request.reports)], now
                    )[0]
                except SQLAlchemyError as alone:
                    request.error = alone
            return
        for request, result in zip(ready, stored, strict=True):
            request.stored = result
