"""Durations as operators write them (``90d``, ``12h``, ``30m``) and moments in time.

A moment is an ISO 8601 time (``2026-11-25T09:00``, ``2026-11-25``; without a zone it is
UTC) or a duration, meaning that long before now (``1h``: an hour ago).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["format_duration", "parse_duration", "parse_moment"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d{1,9}(?:\.\d{1,6})?)\s*([smhdw])\s*$", re.IGNORECASE)
#: Far enough for any retention, near enough that ``now - duration`` never overflows.
_LONGEST = timedelta(days=100 * 365)


def parse_duration(text: str) -> timedelta:
    """``90d`` as a :class:`~datetime.timedelta`; raises :class:`ValueError` with the fix."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"{text.strip()[:32]!r} is not a duration: write a number and a unit, "
            "s, m, h, d or w (e.g. 90d, 12h, 30m)"
        )
    duration = timedelta(seconds=float(match[1]) * _UNITS[match[2].lower()])
    if duration > _LONGEST:
        raise ValueError("durations longer than 100 years are not supported")
    return duration


def format_duration(duration: timedelta) -> str:
    """The shortest exact spelling of ``duration`` in one unit: ``90d``, ``36h``, ``45s``."""
    seconds = duration.total_seconds()
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def parse_moment(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (UTC when it names no zone), or a duration before ``now``.

    Raises :class:`ValueError` saying what is accepted.
    """
    text = text.strip()
    if _DURATION.match(text):
        return now - parse_duration(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text[:40]!r} is not a time: use ISO 8601 (2026-11-25T09:00, UTC unless it "
            "names a zone) or a duration before now (1h, 7d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text[:40]!r} is out of range") from None
