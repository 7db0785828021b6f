"""Normalising a plugin's events: bounded, valid for CleverTap, secrets masked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from smsgate.delivery.reports import Report, mask, normalise, secrets_of
from smsgate.types import DeliveryEvent, EventKind

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def event(**fields: Any) -> DeliveryEvent:
    values: dict[str, Any] = {"vendor_id": "tx-1", "kind": EventKind.FAILED, "occurred_at": NOW}
    values.update(fields)
    return DeliveryEvent(**values)


@pytest.mark.parametrize(
    ("kind", "code", "kept"),
    [
        (EventKind.FAILED, "916", "916"),
        (EventKind.FAILED, "911", "900"),
        (EventKind.FAILED, "DND", "900"),
        (EventKind.FAILED, " 916\n", "916"),
        (EventKind.FAILED, None, None),
        (EventKind.DELIVERED, "916", None),
    ],
)
def test_only_failures_carry_a_code_and_only_one_clevertap_accepts(kind, code, kept):
    assert normalise(event(kind=kind, code=code), received_at=NOW).code == kept


@pytest.mark.parametrize(
    ("occurred", "expected"),
    [
        (
            datetime(2026, 11, 25, 14, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
        ),
        (datetime(2026, 11, 25, 8, 0), datetime(2026, 11, 25, 8, 0, tzinfo=UTC)),
        (datetime(1970, 1, 1, tzinfo=UTC), NOW),
        (NOW + timedelta(days=2), NOW),
    ],
)
def test_times_become_utc_and_impossible_ones_give_way_to_the_arrival(occurred, expected):
    assert normalise(event(occurred_at=occurred), received_at=NOW).occurred_at == expected


def test_long_values_are_clipped_to_their_columns():
    stored = normalise(
        event(vendor_id="9" * 300, description="x" * 2000, to="+" + "1" * 40), received_at=NOW
    )

    assert stored.description is not None and stored.to is not None
    assert (len(stored.vendor_id), len(stored.description), len(stored.to)) == (128, 512, 32)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [({"vendor_id": " "}, "an event has no vendor_id"), ({"kind": "opened"}, "unknown kind")],
)
def test_an_event_that_cannot_be_used_is_refused_with_the_reason(fields, reason):
    with pytest.raises(ValueError, match=reason):
        normalise(event(**fields), received_at=NOW)


def test_secrets_are_masked_anywhere_in_the_raw_fields_and_the_words():
    secrets = ["dlr-token-0123456789", "pw-secret"]
    stored = normalise(
        event(
            description="bad login pw-secret",
            raw={
                "url": "/cb/dlr-token-0123456789",
                "nested": [{"pw-secret": b"pw-secret"}],
                "n": 3,
            },
        ),
        received_at=NOW,
        secrets=secrets,
    )

    assert stored.description == "bad login ****"
    assert stored.raw == {"url": "/cb/****", "nested": [{"****": "****"}], "n": 3}


SECRET = "dlr-token-0123456789"
TEXT = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(["\x00", "\ud800"]))
FIELD = TEXT | st.sampled_from(
    [SECRET, f"x{SECRET}y", SECRET[:9], "a" * 5000, "a" * 4090 + SECRET, "a" * 4080 + SECRET]
)


@given(st.dictionaries(FIELD, FIELD, max_size=8))
def test_flat_text_fields_are_masked_clipped_and_escaped_one_by_one(raw):
    # mask() takes a short cut for flat clean text; it must agree with the field-by-field
    # rules, escapes of what no database stores included.
    def expected(text: str) -> str:
        text = text.replace("\x00", "\\u0000")
        return "".join(f"\\u{ord(ch):04x}" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)

    wanted: dict[str, str] = {}
    for key, value in raw.items():
        name = expected(key).replace(SECRET, "****")
        while name in wanted:
            name += "~"
        wanted[name] = expected(value).replace(SECRET, "****")[:4096]
    assert mask(raw, [SECRET]) == wanted


def test_raw_field_names_that_read_alike_once_escaped_or_masked_both_stay():
    raw = {"k\x00": "1", "k\\u0000": "2", SECRET: "3", "****": "4"}

    assert mask(raw, [SECRET]) == {"k\\u0000": "1", "k\\u0000~": "2", "****": "3", "****~": "4"}


def test_what_no_database_stores_is_kept_in_raw_fields_as_a_visible_escape():
    stored = normalise(
        event(
            raw={
                "cause\x00": "a\x00b",
                "note": "\udfff!",
                "bytes": b"\xffok",
                "numbers": [float("nan"), float("inf"), -float("inf"), 1.5],
            }
        ),
        received_at=NOW,
    )

    assert stored.raw == {
        "cause\\u0000": "a\\u0000b",
        "note": "\\udfff!",
        "bytes": "\\xffok",
        "numbers": ["NaN", "Infinity", "-Infinity", 1.5],
    }


def test_what_no_database_stores_in_a_field_the_event_is_judged_by_is_refused():
    with pytest.raises(ValueError, match="vendor_id contains a NUL"):
        normalise(event(vendor_id="tx\x001"), received_at=NOW)
    with pytest.raises(ValueError, match="description contains a lone surrogate"):
        normalise(event(description="\ud800"), received_at=NOW)


def test_the_secrets_of_a_provider_are_its_tokens_and_every_secret_option():
    class Options(BaseModel):
        userid: str
        password: SecretStr
        nested: dict[str, SecretStr]

    options = Options(userid="acme", password="pw-1", nested={"k": SecretStr("pw-2")})

    assert sorted(secrets_of("token-abc", options)) == ["pw-1", "pw-2", "token-abc"]
    assert mask({"a": SecretStr("x")}, []) == {"a": "****"}


def test_a_report_survives_its_trip_through_the_inbox():
    stored = normalise(
        event(kind=EventKind.CLICKED, url="https://a.in", short_url="a.in/1", raw={"k": "v"}),
        received_at=NOW,
    )

    assert Report.from_json(stored.to_json()) == stored


def test_no_part_of_a_secret_survives_where_a_long_text_is_clipped():
    long = "a" * 510 + "dlr-token-0123456789"
    stored = normalise(
        event(description=long, raw={"cause": "x" * 4090 + "dlr-token-0123456789"}),
        received_at=NOW,
        secrets=["dlr-token-0123456789"],
    )

    assert stored.description == "a" * 510 + "**"
    assert stored.raw["cause"] == "x" * 4090 + "****"
