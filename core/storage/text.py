"""Text that a database cannot store as it is.

PostgreSQL refuses a NUL character in text and in JSON, and no database takes a lone
surrogate (``\\ud800``-``\\udfff``, which a decoded URL or JSON escape can hold) as UTF-8.
A byte that is not UTF-8, read with Python's ``surrogateescape`` (as the callback URL's
query is), is such a surrogate too: ``\\udc80``-``\\udcff`` stand for the bytes 0x80-0xff.
What to do about it is the caller's: the intake refuses the record, a delivery report's
judged fields refuse the report, its raw fields keep an escape instead.
"""

from __future__ import annotations

import re

__all__ = ["escaped", "unstorable"]

_SURROGATE = re.compile("[\ud800-\udfff]")
#: Where ``surrogateescape`` puts the bytes that are not UTF-8.
_BYTES = range(0xDC80, 0xDD00)


def unstorable(text: str) -> str | None:
    """Why no database can store ``text`` unchanged ("contains a NUL character" …), or None."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        found = _SURROGATE.search(text)
        if found is not None and ord(found.group()) in _BYTES:
            # Which one it was is lost in the decoding; the vendor knows.
            return "contains a lone surrogate or a byte that is not UTF-8"
        return "contains a lone surrogate (\\ud800-\\udfff)"
    return None


def escaped(text: str) -> str:
    """``text`` with what no database stores written as visible escapes.

    A NUL becomes ``\\u0000``, a byte that is not UTF-8 ``\\xff``, and any other lone
    surrogate ``\\ud800``.
    """
    if unstorable(text) is None:
        return text
    return _SURROGATE.sub(_escape, text.replace("\x00", "\\u0000"))


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code - 0xDC00:02x}" if code in _BYTES else f"\\u{code:04x}"
