"""When to try a message again: capped exponential backoff with full jitter.

Full jitter (``random(0, min(cap, base * 2**n))``) spreads the retries of a batch that failed
together over the whole window, so a vendor coming back from an outage is not hit by every
message at the same instant. A vendor's ``Retry-After`` is a floor: we never come back
earlier than it asked.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "Random", "backoff_delay", "retry_delay", "system_clock"]

#: Returns "now", timezone-aware. Injected so that tests move time instead of sleeping.
Clock = Callable[[], datetime]
#: Returns a float in [0, 1). Injected so that tests can pin the jitter.
Random = Callable[[], float]


def system_clock() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


def backoff_delay(attempt: int, *, base: float, cap: float, random: Random) -> float:
    """Seconds to wait after the ``attempt``-th failed try (0 for the first), with full jitter."""
    # 2**attempt overflows a float long before it matters; past 64 the cap has won anyway.
    ceiling = min(cap, base * 2.0 ** min(max(attempt, 0), 64))
    return ceiling * random()


def retry_delay(
    attempt: int,
    retry_after: float | None,
    *,
    base: float,
    cap: float,
    max_retry_after: float,
    random: Random,
) -> float:
    """Seconds until the next try: the jittered backoff, but never less than ``Retry-After``."""
    delay = backoff_delay(attempt, base=base, cap=cap, random=random)
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, max_retry_after))
    return delay
