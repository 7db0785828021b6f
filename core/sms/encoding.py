"""SMS body encoding detection and segment counting.

A message travels as GSM-7 (GSM 03.38 / 3GPP TS 23.038 default alphabet, 7-bit
septets) when every character fits that alphabet or its extension table, and as
UCS-2 otherwise, which carriers actually treat as UTF-16. Vendors bill per segment,
so the count must match what the SMSC will send: 160 septets or 70 code units fit in
one SMS; longer bodies are split into parts of 153 septets or 67 code units (the
rest of each part carries the concatenation header), and a part never ends in the
middle of an escape pair or a surrogate pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "GSM7_BASIC_CHARACTERS",
    "GSM7_EXTENSION_CHARACTERS",
    "Encoding",
    "SegmentInfo",
    "detect_encoding",
    "gsm7_septets",
    "segment_info",
]

GSM7_BASIC_CHARACTERS: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
) - {"\x1b"}  # 0x1B is the escape to the extension table, not a character
"""The 127 characters of the GSM 03.38 default alphabet, one septet each."""

GSM7_EXTENSION_CHARACTERS: frozenset[str] = frozenset("\f^{}\\[~]|€")
"""Characters of the GSM 03.38 extension table, two septets each (escape + code)."""

_GSM7_CHARACTERS = GSM7_BASIC_CHARACTERS | GSM7_EXTENSION_CHARACTERS
# A tuple so counting runs as one C-level str.count per character.
_EXTENSION_TUPLE = tuple(GSM7_EXTENSION_CHARACTERS)

_GSM7_SINGLE_LIMIT = 160
_GSM7_PART_LIMIT = 153
_UCS2_SINGLE_LIMIT = 70
_UCS2_PART_LIMIT = 67


class Encoding(StrEnum):
    """The data coding an SMS body is sent with."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How a body will be sent: its encoding, its length in units, and its SMS count.

    ``units`` are septets for GSM-7 (an extension character counts 2) and UTF-16
    code units for UCS-2 (a character outside the BMP, such as an emoji, counts 2).
    """

    encoding: Encoding
    units: int
    segments: int


def detect_encoding(text: str) -> Encoding:
    """Return GSM-7 if every character of ``text`` is in the GSM 03.38 alphabet or
    its extension table, else UCS-2 (a single other character decides it)."""
    return Encoding.GSM7 if _GSM7_CHARACTERS.issuperset(text) else Encoding.UCS2


def gsm7_septets(text: str) -> int:
    """Return the number of GSM-7 septets ``text`` takes.

    Raises :class:`ValueError` if ``text`` has a character GSM-7 cannot encode.
    """
    if not _GSM7_CHARACTERS.issuperset(text):
        raise ValueError("text has characters outside the GSM 03.38 alphabet")
    return _count_septets(text)


def segment_info(text: str) -> SegmentInfo:
    """Return the encoding, unit count and number of SMS parts for ``text``.

    Empty text is one segment (an empty SMS is still sent).
    """
    if _GSM7_CHARACTERS.issuperset(text):
        septets = _count_septets(text)
        if septets <= _GSM7_SINGLE_LIMIT:
            return SegmentInfo(Encoding.GSM7, septets, 1)
        if septets == len(text):
            return SegmentInfo(Encoding.GSM7, septets, -(-septets // _GSM7_PART_LIMIT))
        return SegmentInfo(Encoding.GSM7, septets, _pack_gsm7(text))
    # surrogatepass so a lone surrogate (possible in a Python str) counts one unit
    # instead of raising.
    encoded = text.encode("utf-16-le", "surrogatepass")
    units = len(encoded) // 2
    if units <= _UCS2_SINGLE_LIMIT:
        return SegmentInfo(Encoding.UCS2, units, 1)
    if units == len(text):
        return SegmentInfo(Encoding.UCS2, units, -(-units // _UCS2_PART_LIMIT))
    return SegmentInfo(Encoding.UCS2, units, _pack_ucs2(encoded))


def _count_septets(text: str) -> int:
    return len(text) + sum(map(text.count, _EXTENSION_TUPLE))


def _pack_gsm7(text: str) -> int:
    """Count 153-septet parts, moving an escape pair that would straddle a part
    boundary whole into the next part."""
    parts = 1
    used = 0
    extension = GSM7_EXTENSION_CHARACTERS
    for character in text:
        width = 2 if character in extension else 1
        used += width
        if used > _GSM7_PART_LIMIT:
            parts += 1
            used = width
    return parts


def _pack_ucs2(encoded: bytes) -> int:
    """Count 67-unit parts of UTF-16-LE ``encoded``, moving a surrogate pair that
    would straddle a part boundary whole into the next part."""
    units = len(encoded) // 2
    start = 0
    parts = 1
    while units - start > _UCS2_PART_LIMIT:
        end = start + _UCS2_PART_LIMIT
        # Little-endian, so a code unit's high byte is its second one; only a real pair
        # (high surrogate then low surrogate) moves, as a lone surrogate stands alone.
        if _is_high_surrogate(encoded[2 * end - 1]) and _is_low_surrogate(encoded[2 * end + 1]):
            end -= 1
        start = end
        parts += 1
    return parts


def _is_high_surrogate(high_byte: int) -> bool:
    return 0xD8 <= high_byte <= 0xDB


def _is_low_surrogate(high_byte: int) -> bool:
    return 0xDC <= high_byte <= 0xDF
