"""Phone number normalisation to E.164.

Numbers arrive in whatever shape a CRM stored them: with or without a ``+``, with a
trunk ``0``, with an ``00`` international prefix, with spaces, dashes, dots and
parentheses. :func:`normalise_number` turns all of these into one canonical E.164
string (``+919876543210``) or raises :class:`InvalidNumberError` saying why not.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import (
    NumberParseException,
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberFormat,
    ValidationResult,
)

__all__ = ["MAX_INPUT_LENGTH", "InvalidNumberError", "normalise_number"]

MAX_INPUT_LENGTH = 32
"""Longest raw input accepted; longer strings are rejected before any parsing."""

# Separators people type between digit groups; everything else must be a digit or a
# leading '+'. NBSP is here because spreadsheets export it between digit groups.
_SEPARATORS = str.maketrans("", "", " \t\u00a0-.()")

# phonenumbers deems some numbers possible that E.164 forbids: 17-digit German ones,
# 4-digit ones in plans with short local numbers.
_E164_MAX_LENGTH = 16  # '+' and 15 digits
_E164_MIN_LENGTH = 8  # '+' and 7 digits, as in the shortest plans (Niue, St Helena)

_COUNTRY_CODE_OF_REGION: dict[str, int] = {
    region: phonenumbers.country_code_for_region(region)
    for region in phonenumbers.SUPPORTED_REGIONS
}
# The main region is listed first for a shared calling code (US for +1, GB for +44):
# checking it alone is much cheaper than is_valid_number's search over every region.
_MAIN_REGION_OF_COUNTRY_CODE: dict[int, str] = {
    code: regions[0] for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()
}
_SHARED_COUNTRY_CODES: frozenset[int] = frozenset(
    code for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items() if len(regions) > 1
)

# A number a spreadsheet or CRM saved as a decimal: 9812345678.0.
_DECIMAL_TAIL = re.compile(r"(?<=[0-9])\.0+$")

# Input already in E.164 form, as CleverTap usually sends it: 7 to 15 digits after '+'.
_E164_INPUT = re.compile(r"\+[1-9][0-9]{6,14}")
# Per calling code, the national prefix phonenumbers.parse would try to strip after it.
_NATIONAL_PREFIX_OF_COUNTRY_CODE: dict[int, re.Pattern[str] | None] = {}

_INTERNATIONAL_ONLY = " (no default country, so only international numbers are accepted)"

_PARSE_REASONS: dict[int, str] = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}

_POSSIBILITY_REASONS: dict[int, str] = {
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    ValidationResult.TOO_SHORT: "too short",
    ValidationResult.TOO_LONG: "too long",
    ValidationResult.INVALID_LENGTH: "wrong number of digits",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "too short (a local number without its area code)",
}


class InvalidNumberError(ValueError):
    """A phone number that cannot be normalised to E.164.

    ``reason`` is the human-readable explanation (also the exception message). It
    names the input only when the input looks like a phone number, so it never
    carries other data that was typed into the number field.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalise_number(raw: str, default_country: str | None) -> str:
    """Return ``raw`` as an E.164 string such as ``+919876543210``.

    ``default_country`` is an ISO 3166-1 alpha-2 region code (``"IN"``) used to read
    numbers written without a country code; with ``None`` only international forms
    are accepted (``+CC…``, ``00CC…`` or the bare digits ``CC…``).

    A digits-only input is read both nationally (in ``default_country``) and
    internationally (as if it started with ``+``): a valid reading wins, the
    national one first; failing that a merely possible one is accepted.

    Raises :class:`InvalidNumberError` when no reading is a possible number, or when the
    input is a valid number saved as a decimal (``9812345678.0``) that would otherwise be
    read, digits and all, as a merely possible one; and
    :class:`ValueError` (not its subclass) when ``default_country`` is not a region
    phonenumbers knows, since that is a configuration error, not a bad record.
    """
    region = _check_region(default_country)
    if _E164_INPUT.fullmatch(raw) and _valid_e164(raw[1:], region):
        return raw
    e164 = _normalise(raw, region)
    decimal = _DECIMAL_TAIL.search(raw)
    if decimal is not None and not _is_valid(phonenumbers.parse(e164, None), region):
        _refuse_decimal(raw, decimal.start(), region)
    return e164


def _refuse_decimal(raw: str, point: int, region: str | None) -> None:
    """Refuse ``raw`` when it is a valid number followed by a decimal point and zeros.

    Read with the dot as a separator, ``9812345678.0`` is another number, which may still be
    a possible one: a number a spreadsheet saved as a decimal would be sent there.
    """
    try:
        meant = _normalise(raw[:point], region)
    except InvalidNumberError:
        return
    if _is_valid(phonenumbers.parse(meant, None), region):
        raise InvalidNumberError(
            f"{raw!r} ends in {raw[point:]!r}, as a number saved as a decimal does; "
            f"send the number as text, without it"
        )


def _normalise(raw: str, region: str | None) -> str:
    """:func:`normalise_number` after the fast path, with the region checked."""
    if not raw:
        raise InvalidNumberError("phone number is empty")
    if len(raw) > MAX_INPUT_LENGTH:
        raise InvalidNumberError(
            f"phone number is {len(raw)} characters long; at most {MAX_INPUT_LENGTH} are accepted"
        )
    compact = raw.translate(_SEPARATORS)
    has_plus = compact.startswith("+")
    digits = compact[1:] if has_plus else compact
    if not (digits.isdigit() and digits.isascii()):
        raise InvalidNumberError(_describe_bad_characters(digits))

    if has_plus:
        return _first_acceptable(raw, ((compact, None),), region, "")
    # No numbering plan has a national number starting 00 (trunk prefix then area
    # code), so a leading 00 is the ITU international prefix. The national reading
    # still follows, for regions whose own prefix merely starts with 00 (000 in Kenya,
    # 001 in Mongolia) and which phonenumbers strips.
    if digits.startswith("00"):
        international = "+" + digits[2:]
        if region is None:
            return _first_acceptable(raw, ((international, None),), region, "")
        return _first_acceptable(raw, ((international, None), (digits, region)), region, "")
    international = "+" + digits
    if region is None:
        return _first_acceptable(raw, ((international, None),), region, _INTERNATIONAL_ONLY)
    return _first_acceptable(raw, ((digits, region), (international, None)), region, "")


def _valid_e164(digits: str, default_region: str | None) -> bool:
    """Whether ``+digits`` is a valid number that phonenumbers would format back unchanged.

    The hot path for E.164 input: it builds the number phonenumbers.parse would build,
    skipping the parse (two thirds of the time), and only when no parsing rule could
    change it. Anything else returns False and takes the full path.
    """
    for length in (1, 2, 3):  # as phonenumbers finds the calling code: shortest known one
        code = int(digits[:length])
        if code in _MAIN_REGION_OF_COUNTRY_CODE:
            break
    else:
        return False
    national = digits[length:]
    if national[0] == "0":  # leading zeros are kept as a separate field; leave to parse
        return False
    prefix = _national_prefix(code)
    if prefix is not None and prefix.match(national):  # parse might strip it
        return False
    return _is_valid(PhoneNumber(country_code=code, national_number=int(national)), default_region)


def _national_prefix(code: int) -> re.Pattern[str] | None:
    try:
        return _NATIONAL_PREFIX_OF_COUNTRY_CODE[code]
    except KeyError:
        pass
    region = _MAIN_REGION_OF_COUNTRY_CODE[code]
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    text = metadata.national_prefix_for_parsing if metadata is not None else None
    pattern = re.compile(text) if text else None
    _NATIONAL_PREFIX_OF_COUNTRY_CODE[code] = pattern
    return pattern


def _check_region(default_country: str | None) -> str | None:
    if default_country is None or default_country in _COUNTRY_CODE_OF_REGION:
        return default_country
    upper = default_country.upper()
    if upper in _COUNTRY_CODE_OF_REGION:
        return upper
    raise ValueError(f"unknown default country {default_country!r}")


def _describe_bad_characters(digits: str) -> str:
    if not digits:
        return "phone number has no digits"
    if any(character.isalpha() for character in digits):
        return "phone number contains letters"
    return (
        "phone number contains characters other than digits, spaces, dashes, dots, "
        "parentheses and a leading '+'"
    )


def _first_acceptable(
    raw: str,
    readings: tuple[tuple[str, str | None], ...],
    default_region: str | None,
    note: str,
) -> str:
    """Return the first valid reading's E.164, else the first possible one's."""
    possible: list[tuple[int, str]] = []  # (index of the reading, E.164)
    failures: list[tuple[int, str]] = []  # (index of the reading, reason)
    for index, (text, region) in enumerate(readings):
        try:
            number = phonenumbers.parse(text, region)
        except NumberParseException as error:
            failures.append((index, _PARSE_REASONS.get(error.error_type, "not a number")))
            continue
        if _is_valid(number, default_region):
            e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            problem = _e164_length_problem(e164)
            if problem is None:
                return e164
            failures.append((index, problem))
            continue
        possibility = phonenumbers.is_possible_number_with_reason(number)
        if possibility == ValidationResult.IS_POSSIBLE:
            possible.append((index, phonenumbers.format_number(number, PhoneNumberFormat.E164)))
        else:
            failures.append((index, _POSSIBILITY_REASONS.get(possibility, "not possible")))
    # Checked only now, as a later valid reading makes the extra parse unnecessary.
    for index, e164 in possible:
        problem = _e164_length_problem(e164) or _unstable_problem(e164)
        if problem is None:
            return e164
        failures.append((index, problem))
    # The reason given is the first reading's, the one the input most likely meant.
    index, reason = min(failures)
    region = readings[index][1]
    if region is not None:
        raise InvalidNumberError(f"{raw!r} is not a possible phone number for {region}: {reason}")
    raise InvalidNumberError(f"{raw!r} is not a possible phone number: {reason}{note}")


def _e164_length_problem(e164: str) -> str | None:
    if len(e164) > _E164_MAX_LENGTH:
        return "too long for E.164 (at most 15 digits)"
    if len(e164) < _E164_MIN_LENGTH:
        return "too short for E.164 (at least 7 digits)"
    return None


def _unstable_problem(e164: str) -> str | None:
    """Say why a merely possible number's E.164 would not parse back to itself.

    phonenumbers keeps some leading zeros of a national number, so "+32 0022 530374"
    becomes +32022530374, yet reading that back strips a trunk 0 and gives +3222530374.
    A stored number must normalise to itself, so such readings are rejected. Valid
    numbers came back unchanged in all our fuzzing, so the hot path skips this parse.
    """
    try:
        again = phonenumbers.format_number(phonenumbers.parse(e164, None), PhoneNumberFormat.E164)
    except NumberParseException:
        again = ""
    if again == e164:
        return None
    return "superfluous zeros after the country code"


def _is_valid(number: PhoneNumber, default_region: str | None) -> bool:
    code = number.country_code or 0
    if default_region is not None and _COUNTRY_CODE_OF_REGION[default_region] == code:
        region: str | None = default_region
    else:
        region = _MAIN_REGION_OF_COUNTRY_CODE.get(code)
    if region is None:
        return False
    if phonenumbers.is_valid_number_for_region(number, region):
        return True
    # The other regions sharing the code (Jersey for +44, Canada for +1) need the full search.
    return code in _SHARED_COUNTRY_CODES and phonenumbers.is_valid_number(number)
