from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.sms.encoding import (
    GSM7_BASIC_CHARACTERS,
    GSM7_EXTENSION_CHARACTERS,
    Encoding,
    SegmentInfo,
    detect_encoding,
    gsm7_septets,
    segment_info,
)

FAST = settings(max_examples=200, deadline=None, database=None)

BASIC = sorted(GSM7_BASIC_CHARACTERS)
EXTENSION = sorted(GSM7_EXTENSION_CHARACTERS)
GSM_TEXT = st.text(alphabet=st.sampled_from(BASIC + EXTENSION), max_size=400)
NON_GSM = st.characters(exclude_characters=[*BASIC, *EXTENSION], exclude_categories=["Cs"])
ANY_TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(BASIC + EXTENSION), st.sampled_from("жé😀🇮🇳ç`"), NON_GSM),
    max_size=400,
)


def _reference_segments(widths: list[int], single: int, part: int) -> int:
    """Pack character widths into parts one by one, never splitting a character."""
    if sum(widths) <= single:
        return 1
    parts, used = 1, 0
    for width in widths:
        if used + width > part:
            parts, used = parts + 1, 0
        used += width
    return parts


def _gsm_widths(text: str) -> list[int]:
    return [2 if character in GSM7_EXTENSION_CHARACTERS else 1 for character in text]


def _utf16_widths(text: str) -> list[int]:
    return [2 if ord(character) > 0xFFFF else 1 for character in text]


def test_encoding_values_are_the_wire_names() -> None:
    assert Encoding("gsm7") is Encoding.GSM7
    assert Encoding("ucs2") is Encoding.UCS2
    assert f"{Encoding.GSM7}/{Encoding.UCS2}" == "gsm7/ucs2"


def test_segment_info_is_immutable() -> None:
    info = segment_info("hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.units = 3  # type: ignore[misc]


def test_gsm_alphabet_has_the_127_characters_and_10_extensions() -> None:
    assert len(GSM7_BASIC_CHARACTERS) == 127
    assert frozenset("^{}\\[~]|€\f") == GSM7_EXTENSION_CHARACTERS
    assert not GSM7_BASIC_CHARACTERS & GSM7_EXTENSION_CHARACTERS


def test_empty_text_is_one_gsm_segment() -> None:
    assert segment_info("") == SegmentInfo(Encoding.GSM7, 0, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, your OTP is 1234", Encoding.GSM7),
        ("Prix: 5€ [promo] {ok} ~ | ^ \\", Encoding.GSM7),
        ("ÄÖÑÜ§¿äöñüà@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¡¤\n\r\f", Encoding.GSM7),
        ("Hello `quoted`", Encoding.UCS2),  # the backtick is not in GSM 03.38
        ("Garçon", Encoding.UCS2),  # only the capital Ç is in the alphabet
        ("नमस्ते", Encoding.UCS2),
        ("Hi 😀", Encoding.UCS2),
        ("tab\there", Encoding.UCS2),
        ("\x1b", Encoding.UCS2),  # the escape code itself is not a character
    ],
)
def test_detect_encoding(text: str, expected: Encoding) -> None:
    assert detect_encoding(text) == expected


@pytest.mark.parametrize(
    ("length", "segments"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)]
)
def test_gsm_segment_limits_are_160_then_153_per_part(length: int, segments: int) -> None:
    assert segment_info("a" * length) == SegmentInfo(Encoding.GSM7, length, segments)


@pytest.mark.parametrize(
    ("length", "segments"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_ucs2_segment_limits_are_70_then_67_per_part(length: int, segments: int) -> None:
    assert segment_info("ж" * length) == SegmentInfo(Encoding.UCS2, length, segments)


@pytest.mark.parametrize("character", EXTENSION)
def test_extension_characters_count_two_septets(character: str) -> None:
    assert gsm7_septets(character) == 2
    assert segment_info("a" * 158 + character) == SegmentInfo(Encoding.GSM7, 160, 1)
    assert segment_info("a" * 159 + character) == SegmentInfo(Encoding.GSM7, 161, 2)


def test_escape_pair_straddling_a_153_septet_boundary_needs_an_extra_part() -> None:
    # 306 septets would fill two parts exactly, but the € at septets 153-154 moves whole
    # into the second part, which then overflows.
    text = "a" * 152 + "€" + "a" * 152
    assert segment_info(text) == SegmentInfo(Encoding.GSM7, 306, 3)
    assert segment_info("a" * 151 + "€" + "a" * 153) == SegmentInfo(Encoding.GSM7, 306, 2)


def test_emoji_counts_two_utf16_code_units() -> None:
    assert segment_info("😀" * 35) == SegmentInfo(Encoding.UCS2, 70, 1)
    assert segment_info("😀" * 36) == SegmentInfo(Encoding.UCS2, 72, 2)
    assert segment_info("🇮🇳") == SegmentInfo(Encoding.UCS2, 4, 1)


def test_surrogate_pair_straddling_a_67_unit_boundary_needs_an_extra_part() -> None:
    text = "ж" * 66 + "😀" + "ж" * 66
    assert segment_info(text) == SegmentInfo(Encoding.UCS2, 134, 3)
    assert segment_info("ж" * 65 + "😀" + "ж" * 67) == SegmentInfo(Encoding.UCS2, 134, 2)


def test_lone_surrogate_counts_one_unit_and_does_not_pair_with_its_neighbour() -> None:
    text = "ж" * 66 + "\ud83d" + "ж" * 67
    assert segment_info(text) == SegmentInfo(Encoding.UCS2, 134, 2)


def test_gsm7_septets_rejects_text_gsm_cannot_encode() -> None:
    with pytest.raises(ValueError, match=r"outside the GSM 03\.38 alphabet"):
        gsm7_septets("ж")


@FAST
@given(GSM_TEXT)
def test_gsm_text_counts_septets_and_fits_one_segment_up_to_160(text: str) -> None:
    info = segment_info(text)
    septets = sum(_gsm_widths(text))
    assert info.encoding is Encoding.GSM7
    assert info.units == septets == gsm7_septets(text)
    assert (info.segments == 1) == (septets <= 160)


@FAST
@given(st.integers(min_value=0, max_value=160), st.data())
def test_gsm_text_of_n_septets_is_one_segment_until_161(septets: int, data: st.DataObject) -> None:
    text = data.draw(st.text(alphabet=st.sampled_from(BASIC + EXTENSION), max_size=septets))
    while sum(_gsm_widths(text)) > septets:
        text = text[:-1]
    padded = text + "a" * (septets - sum(_gsm_widths(text)))
    assert segment_info(padded) == SegmentInfo(Encoding.GSM7, septets, 1)
    if septets == 160:
        assert segment_info(padded + "a").segments == 2


@FAST
@given(GSM_TEXT, NON_GSM, st.data())
def test_one_non_gsm_character_switches_the_whole_text_to_ucs2(
    text: str, character: str, data: st.DataObject
) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(text)))
    mixed = text[:position] + character + text[position:]
    info = segment_info(mixed)
    assert detect_encoding(mixed) is info.encoding is Encoding.UCS2
    assert info.units == len(mixed.encode("utf-16-le")) // 2


@FAST
@given(ANY_TEXT)
def test_segments_match_packing_characters_one_by_one(text: str) -> None:
    info = segment_info(text)
    if info.encoding is Encoding.GSM7:
        expected = _reference_segments(_gsm_widths(text), 160, 153)
    else:
        expected = _reference_segments(_utf16_widths(text), 70, 67)
    assert info.segments == expected


@FAST
@given(ANY_TEXT, st.data())
def test_segments_never_decrease_as_text_grows(text: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    assert segment_info(text[:cut]).segments <= segment_info(text).segments
