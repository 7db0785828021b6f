"""Text that a database cannot store as it is.

PostgreSQL refuses a NUL character in text and in JSON, and no database takes a lone
surrogate (``\\ud800``-``\\udfff``, which a decoded URL or JSON escape can hold) as UTF-8.
What to do about it is the caller's: the intake refuses the record, a delivery report's
judged fields refuse the report, its raw fields keep an escape instead.
"""

from __future__ import annotations

__all__ = ["unstorable"]


def unstorable(text: str) -> str | None:
    """Why no database can store ``text`` unchanged ("contains a NUL character" …), or None."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (\\ud800-\\udfff)"
    return None
