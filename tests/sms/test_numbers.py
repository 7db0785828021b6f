from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.sms.numbers import MAX_INPUT_LENGTH, InvalidNumberError, normalise_number

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
FAST = settings(max_examples=150, deadline=None, database=None)

REGIONS = ("IN", "US", "GB", "DE", "FR", "BR", "AE", "SG", "AU", "JP", "NG", "IT", "CA", "JE")


def _example_numbers(regions: Iterable[str]) -> list[tuple[str, str]]:
    examples: list[tuple[str, str]] = []
    for region in sorted(regions):
        for number_type in sorted(phonenumbers.PhoneNumberType.values()):
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is not None and phonenumbers.is_valid_number(example):
                examples.append((region, phonenumbers.format_number(example, 0)))
    return examples


ALL_EXAMPLES = _example_numbers(phonenumbers.SUPPORTED_REGIONS)
SOME_EXAMPLES = _example_numbers(REGIONS)


def _national(e164: str) -> str:
    return phonenumbers.format_number(
        phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.NATIONAL
    )


def _international(e164: str) -> str:
    return phonenumbers.format_number(
        phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )


@pytest.mark.parametrize(
    "raw",
    [
        "+919876543210",
        "+91 98765 43210",
        "+91-98765-43210",
        "+91.98765.43210",
        "+91 (0) 98765 43210",
        "(+91) 98765 43210",
        "919876543210",
        "91 98765 43210",
        "9876543210",
        "98765-43210",
        "09876543210",
        "(098765) 43210",
        "00919876543210",
        "0091 98765 43210",
        " +91 98765 43210 ",
        "+91\u00a098765\u00a043210",
    ],
)
def test_indian_mobile_in_any_common_shape_becomes_e164(raw: str) -> None:
    assert normalise_number(raw, "IN") == "+919876543210"


@pytest.mark.parametrize(
    "raw", ["+919876543210", "+91 98765 43210", "919876543210", "00919876543210"]
)
def test_international_forms_need_no_default_country(raw: str) -> None:
    assert normalise_number(raw, None) == "+919876543210"


def test_default_country_is_case_insensitive() -> None:
    assert normalise_number("9876543210", "in") == "+919876543210"


def test_unknown_default_country_is_a_configuration_error_not_a_bad_number() -> None:
    with pytest.raises(ValueError, match="unknown default country 'XX'") as caught:
        normalise_number("9876543210", "XX")
    assert not isinstance(caught.value, InvalidNumberError)


def test_valid_international_reading_beats_merely_possible_national_one() -> None:
    # As an Indian national number 12 digits are "possible" but not valid.
    assert normalise_number("447400123456", "IN") == "+447400123456"


def test_national_reading_wins_when_both_readings_are_valid() -> None:
    # +20 1555 0123 is a valid Egyptian number too.
    assert normalise_number("2015550123", "US") == "+12015550123"
    assert normalise_number("2015550123", "IN") == "+2015550123"


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("0044 7400 123456", "US"),  # 00 although the US dials 011 abroad
        ("011 44 7400 123456", "US"),  # the region's own international prefix
        ("000 44 7400 123456", "KE"),
        ("0044 7400 123456", None),
    ],
)
def test_international_call_prefixes_are_understood(raw: str, region: str | None) -> None:
    assert normalise_number(raw, region) == "+447400123456"


def test_crown_dependency_number_is_valid_under_the_shared_country_code() -> None:
    # +44 7797 is Jersey: valid, though not for the main region GB.
    assert normalise_number("07797 123456", "GB") == "+447797123456"
    assert normalise_number("07797 123456", "JE") == "+447797123456"


def test_possible_but_not_valid_number_is_accepted() -> None:
    assert normalise_number("+91 1234 5678", None) == "+9112345678"


@pytest.mark.parametrize(
    ("raw", "region", "message"),
    [
        ("12345", "IN", "'12345' is not a possible phone number for IN: too short"),
        ("+12345", None, "'+12345' is not a possible phone number: too short"),
        ("+91 12", "IN", "'+91 12' is not a possible phone number: too short"),
        ("12345678901234567890", "IN", "for IN: too long"),
        ("+0091 98765", None, "unknown country code"),
        ("+49 30 123456789012345", None, "too long"),
        # phonenumbers deems these possible, but E.164 needs at least 7 digits.
        ("0336", "DE", "for DE: too short for E.164"),
        ("+98 0635", None, "too short for E.164"),
        # Possible, yet phonenumbers makes it +32022530374, which reads back as +3222530374.
        ("+32 0022 530374", None, "superfluous zeros after the country code"),
        ("", "IN", "phone number is empty"),
        ("   ", "IN", "phone number has no digits"),
        ("+", None, "phone number has no digits"),
        ("98765 4321O", "IN", "phone number contains letters"),
        ("+91 98765 43210 ext 1", "IN", "phone number contains letters"),
        ("98765#43210", "IN", "characters other than digits"),
        ("91+9876543210", "IN", "characters other than digits"),
        ("9812345678.0", "IN", "ends in '.0', as a number saved as a decimal does"),
        ("+91 98123 45678.00", None, "ends in '.00'"),
        ("\u0669\u0668\u0667\u0666\u0665\u0664\u0663\u0662\u0661\u0660", "IN", "other than"),
        ("9" * (MAX_INPUT_LENGTH + 1), "IN", f"at most {MAX_INPUT_LENGTH} are accepted"),
    ],
)
def test_rejection_says_what_is_wrong(raw: str, region: str, message: str) -> None:
    with pytest.raises(InvalidNumberError, match=re.escape(message)) as caught:
        normalise_number(raw, region)
    assert caught.value.reason == str(caught.value)


def test_a_valid_number_ending_in_a_dotted_zero_is_still_a_number() -> None:
    # Both readings valid (German numbers vary in length): nothing says it was a decimal.
    assert normalise_number("+49 30 1234567.0", None) == "+493012345670"
    assert normalise_number("98765.43210", "IN") == "+919876543210"


def test_national_number_without_default_country_is_rejected_saying_why() -> None:
    with pytest.raises(InvalidNumberError, match="only international numbers are accepted"):
        normalise_number("09876543210", None)


@pytest.mark.parametrize(
    "raw", ["jane.doe@example.com", "call me on 98765", "x" * 500, "Jane (mobile)"]
)
def test_rejection_does_not_echo_input_that_is_not_a_number(raw: str) -> None:
    with pytest.raises(InvalidNumberError) as caught:
        normalise_number(raw, "IN")
    assert raw not in caught.value.reason
    assert "Jane" not in caught.value.reason


def test_invalid_number_error_is_a_value_error() -> None:
    assert issubclass(InvalidNumberError, ValueError)


def test_every_example_number_of_every_region_is_accepted_as_it_is() -> None:
    assert len(ALL_EXAMPLES) > 1000
    for _region, e164 in ALL_EXAMPLES:
        if len(e164) >= 8:
            assert normalise_number(e164, None) == e164
        else:
            # Iran's 4-digit universal access numbers are valid, but shorter than the
            # 7 digits E.164 subscriber numbers have.
            with pytest.raises(InvalidNumberError, match=r"too short for E\.164"):
                normalise_number(e164, None)


@FAST
@given(st.sampled_from(SOME_EXAMPLES))
def test_example_numbers_round_trip_from_international_format(example: tuple[str, str]) -> None:
    _region, e164 = example
    assert normalise_number(_international(e164), None) == e164
    assert normalise_number(e164[1:], None) == e164
    assert normalise_number("00" + e164[1:], None) == e164


@FAST
@given(st.sampled_from(SOME_EXAMPLES))
def test_example_numbers_round_trip_from_their_own_national_format(
    example: tuple[str, str],
) -> None:
    region, e164 = example
    assert normalise_number(_national(e164), region) == e164


@FAST
@given(st.sampled_from(SOME_EXAMPLES), st.sampled_from(REGIONS))
def test_plus_international_number_ignores_the_default_country(
    example: tuple[str, str], default_country: str
) -> None:
    _region, e164 = example
    assert normalise_number(_international(e164), default_country) == e164


@FAST
@given(st.sampled_from(SOME_EXAMPLES), st.data())
def test_formatting_noise_between_digits_does_not_change_the_result(
    example: tuple[str, str], data: st.DataObject
) -> None:
    _region, e164 = example
    noise = st.text(alphabet=" -.()", max_size=2)
    pieces = [e164[0]]
    for digit in e164[1:]:
        pieces.append(data.draw(noise))
        pieces.append(digit)
    noisy = "".join(pieces)
    if len(noisy) <= MAX_INPUT_LENGTH:
        assert normalise_number(noisy, None) == e164


digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=20)
raw_numbers = st.one_of(
    digit_strings,
    digit_strings.map(lambda digits: "+" + digits),
    digit_strings.map(lambda digits: "00" + digits),
    st.sampled_from(SOME_EXAMPLES).map(lambda example: _national(example[1])),
)
default_countries = st.one_of(st.none(), st.sampled_from(REGIONS))


@FAST
@given(raw_numbers, default_countries)
def test_output_is_always_e164_and_normalising_it_again_changes_nothing(
    raw: str, default_country: str | None
) -> None:
    try:
        e164 = normalise_number(raw, default_country)
    except InvalidNumberError:
        return
    assert E164.match(e164)
    assert normalise_number(e164, default_country) == e164
    assert normalise_number(e164, None) == e164


@FAST
@given(st.text(max_size=40), default_countries)
def test_arbitrary_text_gives_e164_or_invalid_number_error(
    raw: str, default_country: str | None
) -> None:
    try:
        e164 = normalise_number(raw, default_country)
    except InvalidNumberError as error:
        assert error.reason
    else:
        assert E164.match(e164)
