"""Background loops that poll for work, sleep between polls, and stop with a grace period.

The dispatcher and the delivery workers run the same way inside ``smsgate serve``: a few
asyncio tasks each go round their work, sleep when there was none until the next poll is due
or until :meth:`Loops.notify` says new work was committed in this process, and, when the
application stops, finish what they hold for a grace period before they are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

__all__ = ["Loops"]


class Loops:
    """The background tasks of one component: started, woken and stopped together.

    :param logger: where a failing round of :meth:`every` is logged.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._stopped = asyncio.Event()
        self._generation = 0
        self._wakeup = asyncio.Event()

    @property
    def stopping(self) -> bool:
        """:meth:`stop` was called: take no new work."""
        return self._stopping

    def start(self) -> None:
        """Be ready to run loops again (after a :meth:`stop`)."""
        self._stopping = False
        self._stopped = asyncio.Event()

    def spawn(self, loop: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``loop`` as a task of this group; it should return soon after :meth:`stop`."""
        self._tasks.append(asyncio.create_task(loop, name=name))

    def notify(self) -> None:
        """New work was committed: wake the loops sleeping in :meth:`poll` now."""
        self._generation += 1
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    async def poll(self, round_: Callable[[], Awaitable[float | None]]) -> None:
        """Run ``round_`` until :meth:`stop`.

        ``round_`` goes once over the work and returns ``None`` to go again at once (it did
        a full batch, so more may wait), or the seconds to sleep. The sleep ends early at a
        :meth:`notify` made since the round began, so that work committed while the round
        ran is not left for the next poll.
        """
        while not self._stopping:
            generation = self._generation
            seconds = await round_()
            if seconds is not None and not self._stopping:
                await self._sleep(generation, seconds)

    async def every(
        self,
        seconds: float,
        work: Callable[[], Awaitable[object]],
        what: str,
        *,
        wait_first: bool = False,
    ) -> None:
        """Call ``work`` every ``seconds`` until :meth:`stop`; a failure is logged, not fatal.

        :param what: names the work in log lines (``"delivery maintenance"``).
        :param wait_first: wait ``seconds`` before the first call.
        """
        if wait_first:
            await self._wait_for_stop(seconds)
        while not self._stopping:
            try:
                await work()
            except SQLAlchemyError as exc:
                self._logger.warning("%s: database error: %s", what, exc)
            except Exception:
                self._logger.exception("%s failed", what)
            # Work notifications do not concern periodic work; only a stop cuts the wait short.
            await self._wait_for_stop(seconds)

    async def stop(self, grace: float) -> None:
        """Stop the loops: wait up to ``grace`` seconds for them to finish, then cancel them."""
        self._stopping = True
        self._stopped.set()
        self.notify()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []

    async def _sleep(self, generation: int, seconds: float) -> None:
        if generation != self._generation:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout=seconds)

    async def _wait_for_stop(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=seconds)
