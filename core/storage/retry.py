"""A write that must not be lost to a database blip: tried again until a deadline.

The dispatcher and the relay each hold a lease while they talk to a vendor or to CleverTap,
and write down the answer after. If that write fails because the database is restarting or
failing over, the answer would be lost with it: a message the vendor took would end
``unknown``, a batch CleverTap took would be sent again when the lease runs out (CleverTap
does not deduplicate). So the write is tried again, with a growing pause, as long as the
lease holds; only past it is the failure let through (the lease's expiry then does what it
is there for).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

__all__ = ["retry_until"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
#: The first pause after a failed write, doubled after each further failure up to the cap.
FIRST_PAUSE = 0.2
PAUSE_CAP = 2.0


async def retry_until(deadline: float, write: Callable[[], Awaitable[_T]], what: str) -> _T:
    """Await ``write()`` until it succeeds; give up with its error once the next try would
    start after ``deadline`` (a :func:`time.monotonic` instant).

    :param what: names the write in the log, e.g. "results for 5 message(s) of 'acme'".
    """
    pause = FIRST_PAUSE
    while True:
        try:
            return await write()
        except DBAPIError as exc:
            # Only the database being away is worth waiting for; a write the data makes
            # fail (an integrity or data error) fails the same way every time.
            transient = isinstance(exc, OperationalError | InterfaceError)
            if not (transient or exc.connection_invalidated):
                raise
            if time.monotonic() + pause >= deadline:
                raise
            logger.warning(
                "could not store %s (%s: %s); trying again in %g s",
                what,
                type(exc).__name__,
                str(exc).splitlines()[0][:200] if str(exc) else "",
                pause,
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, PAUSE_CAP)
