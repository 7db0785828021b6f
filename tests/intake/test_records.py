"""One CleverTap record: checked, normalised and shaped into a messages row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate.intake.records import (
    INVALID_NUMBER,
    MAX_EXTRAS,
    OTHER_ERROR,
    Rejection,
    json_type,
    parse_template_variables,
    prepare_record,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def prepare(record: object, *, index: int = 0, country: str | None = "IN") -> Any:
    return prepare_record(index, record, nickname="pingbix-in", default_country=country, now=NOW)


def rejection(record: object) -> Rejection:
    result = prepare(record)
    assert isinstance(result, Rejection), result
    return result


def test_a_complete_record_becomes_a_row_waiting_to_be_sent():
    row = prepare(
        {
            "to": "+91 98765-43210",
            "body": "Hello",
            "template_id": "T1",
            "template_variables": "a|b",
            "campaign_id": "C1",
            "message_id": "m.1.",
            "senderid": "ACMEIN",
        }
    )

    assert row == {
        "nickname": "pingbix-in",
        "message_id": "m.1.",
        "tracked": True,
        "to": "+919876543210",
        "raw_to": "+91 98765-43210",
        "body": "Hello",
        "template_id": "T1",
        "template_variables": "a|b",
        "campaign_id": "C1",
        "extras": {"senderid": "ACMEIN"},
        "encoding": "gsm7",
        "segments": 1,
        "status": "accepted",
        "status_rank": 0,
        "attempts": 0,
        "next_attempt_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }


def test_the_provider_default_country_reads_national_numbers():
    assert prepare({"to": "09876543210", "body": "x"})["to"] == "+919876543210"
    assert prepare({"to": "+1 650 253 0000", "body": "x"})["to"] == "+16502530000"


def test_encoding_and_segments_follow_the_body():
    row = prepare({"to": "9876543210", "body": "ж" * 71})
    assert (row["encoding"], row["segments"]) == ("ucs2", 2)
    row = prepare({"to": "9876543210", "body": "a" * 161})
    assert (row["encoding"], row["segments"]) == ("gsm7", 2)


@pytest.mark.parametrize("message_id", [None, ""], ids=["absent", "empty"])
def test_a_record_without_message_id_gets_a_unique_generated_one(message_id):
    record = {"to": "9876543210", "body": "x", "message_id": message_id}
    first, second = prepare(record), prepare(record)

    assert first["tracked"] is second["tracked"] is False
    assert first["message_id"].startswith("smsgate-")
    assert first["message_id"] != second["message_id"]


def test_numbers_are_accepted_where_ids_and_numbers_are_expected():
    row = prepare({"to": 919876543210, "body": "x", "message_id": 17, "campaign_id": 99})

    assert (row["to"], row["message_id"], row["campaign_id"]) == ("+919876543210", "17", "99")


def test_extras_are_strings_and_nulls_are_left_out():
    row = prepare({"to": "9876543210", "body": "x", "a": 1, "b": False, "c": None, "d": {"k": "ü"}})

    assert row["extras"] == {"a": "1", "b": "false", "d": '{"k": "ü"}'}


@pytest.mark.parametrize(
    ("record", "code", "fragment"),
    [
        ({"to": "12", "body": "x"}, INVALID_NUMBER, "too short"),
        ({"to": "not a number", "body": "x"}, INVALID_NUMBER, "phone number"),
        ({"body": "x"}, OTHER_ERROR, "`to` is missing; map it to $$To"),
        ({"to": "", "body": "x"}, OTHER_ERROR, "`to` is missing"),
        ({"to": "9876543210"}, OTHER_ERROR, "$$Body or $$TemplateID"),
        ({"to": "9876543210", "body": "", "template_id": ""}, OTHER_ERROR, "neither"),
        ({"to": "9876543210", "body": " \n\t "}, OTHER_ERROR, "`body` is blank"),
        ({"to": True, "body": "x"}, OTHER_ERROR, "`to` must be a string, not a boolean"),
        ({"to": 98.5, "body": "x"}, OTHER_ERROR, "`to` must be a string, not a number"),
        ({"to": ["1"], "body": "x"}, OTHER_ERROR, "not an array"),
        ({"to": "9876543210", "body": {}}, OTHER_ERROR, "`body` must be a string, not an object"),
        ({"to": "9" * 65, "body": "x"}, OTHER_ERROR, "`to` is longer than 64"),
        ({"to": "9876543210", "template_id": "t" * 65}, OTHER_ERROR, "longer than 64"),
        ({"to": "9876543210", "body": "a\x00"}, OTHER_ERROR, "`body` contains a NUL"),
        ({"to": "9876543210", "body": "\udc80"}, OTHER_ERROR, "`body` contains a lone surrogate"),
        ({"to": "9876543210", "body": "x", "k\x00": "v"}, OTHER_ERROR, "a key contains a NUL"),
        ({"to": "9876543210", "body": "x", "\ud800": "v"}, OTHER_ERROR, "a key contains a lone"),
        ({"to": "9876543210", "body": "x", "s": ["\ud800"]}, OTHER_ERROR, "`s` contains a lone"),
        ({"to": "9876543210", "body": "x", "s": "\x00"}, OTHER_ERROR, "`s` contains a NUL"),
        (
            {"to": "9876543210", "template_id": "T", "template_variables": [{"a": 1}]},
            OTHER_ERROR,
            "list of strings or numbers",
        ),
        ("a string", OTHER_ERROR, "must be a JSON object"),
        (None, OTHER_ERROR, "must be a JSON object"),
        ([{"to": "9876543210"}], OTHER_ERROR, "must be a JSON object"),
    ],
)
def test_unusable_records_are_rejected_with_the_clevertap_code_and_a_reason(record, code, fragment):
    refused = rejection(record)

    assert refused.code == code
    assert fragment in refused.error


def test_a_rejection_keeps_the_message_id_and_the_number_as_sent():
    refused = prepare({"to": "12", "body": "x", "message_id": "m.1."}, index=7)

    assert refused == Rejection(7, "m.1.", refused.error, INVALID_NUMBER, "12")


def test_a_rejection_for_a_bad_type_still_carries_the_message_id():
    assert rejection({"to": {"n": 1}, "body": "x", "message_id": "m.2."}).message_id == "m.2."
    assert rejection({"to": "1", "body": 2.5, "message_id": "m.3."}).message_id == "m.3."


@pytest.mark.parametrize("field", ["body", "template_id", "template_variables", "campaign_id"])
def test_a_rejection_for_a_bad_type_keeps_the_number_and_campaign_for_operators(field):
    record = {"to": "9876543210", "body": "x", "campaign_id": "C-9", "message_id": "m.4."}
    refused = rejection({**record, field: {"not": "text"}})

    assert f"`{field}` must be a string" in refused.error
    assert refused.to == "+919876543210"
    assert refused.raw_to == "9876543210"
    assert refused.campaign_id == (None if field == "campaign_id" else "C-9")


def test_a_blank_body_gives_way_to_the_template():
    row = prepare({"to": "9876543210", "body": "   ", "template_id": "1107"})

    assert row["body"] is None
    assert row["template_id"] == "1107"


@pytest.mark.parametrize(
    "message_id", [{"x": 1}, "m" * 256, "a\x00b", "\ud800"], ids=["object", "long", "nul", "surr"]
)
def test_an_unusable_message_id_rejects_the_record_without_an_id(message_id):
    refused = rejection({"to": "9876543210", "body": "x", "message_id": message_id})

    assert refused.message_id is None
    assert "`message_id`" in refused.error


@pytest.mark.parametrize(
    ("field", "placeholder"),
    [
        ("template_id", "$$TemplateID"),
        ("template_variables", "$$TemplateVariables"),
        ("campaign_id", "$$CampaignID"),
    ],
)
def test_a_placeholder_clevertap_left_unfilled_counts_as_not_set(field, placeholder):
    assert prepare({"to": "9876543210", "body": "x", field: placeholder})[field] is None


def test_an_extra_key_left_as_its_placeholder_is_not_set():
    # `"senderid": "$$SenderID"` would otherwise override the configured sender.
    row = prepare({"to": "9876543210", "body": "x", "senderid": "$$SenderID", "k": "v"})

    assert row["extras"] == {"k": "v"}


def test_a_message_id_left_as_its_placeholder_is_untracked_not_a_shared_id():
    # Stored as it came, it would make every later record with it a duplicate, never sent.
    rows = [prepare({"to": "9876543210", "body": "x", "message_id": "$$MessageID"}) for _ in "ab"]

    assert [row["tracked"] for row in rows] == [False, False]
    assert rows[0]["message_id"] != rows[1]["message_id"]


def test_a_record_whose_number_is_the_placeholder_itself_says_so():
    refused = rejection({"to": "$$To", "body": "x", "message_id": "m.1."})

    assert "placeholder $$To itself" in refused.error
    assert refused.message_id == "m.1."


def test_extras_are_kept_up_to_a_size_and_a_larger_record_is_rejected():
    record = {"to": "9876543210", "body": "x"}
    kept = prepare({**record, "note": "n" * (MAX_EXTRAS - 4)})
    refused = rejection({**record, "note": "n" * (MAX_EXTRAS - 3)})

    assert len(kept["extras"]["note"]) == MAX_EXTRAS - 4
    assert f"at most {MAX_EXTRAS}" in refused.error


def test_a_long_extra_key_is_shortened_in_the_reason():
    key = "k" * 1000
    refused = rejection({"to": "9876543210", "body": "x", key: "\x00"})

    assert len(refused.error) < 100


def test_deeply_nested_extra_is_rejected_not_raised():
    nested: Any = "x"
    for _ in range(100_000):
        nested = [nested]
    assert "nested too deeply" in rejection({"to": "9876543210", "body": "x", "n": nested}).error


@pytest.mark.parametrize(
    ("raw", "values"),
    [
        (None, ()),
        ("", ()),
        ('["a", "b c", 3]', ("a", "b c", "3")),
        ('  ["x|y", "1,2"] ', ("x|y", "1,2")),
        ("[1.5, true, null]", ("1.5", "true", "null")),
        ("a|b|c", ("a", "b", "c")),
        ("a | b ", ("a", "b")),
        ("a,b,c", ("a", "b", "c")),
        ("a, b", ("a", "b")),
        ("1,000|2,000", ("1,000", "2,000")),
        ("only", ("only",)),
        ("[not json", ("[not json",)),
        ('{"a": 1}', ('{"a": 1}',)),
        ("नमस्ते|😀", ("नमस्ते", "😀")),
    ],
)
def test_template_variables_are_read_as_json_array_or_pipe_or_comma_separated(raw, values):
    assert parse_template_variables(raw) == values


def test_template_variables_never_raise_on_odd_json_arrays():
    assert parse_template_variables('[{"a": 1}, ["b"]]') == ('{"a": 1}', '["b"]')
    assert parse_template_variables("[" * 100_000) == ("[" * 100_000,)


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(st.text(), max_size=5))
def test_template_variables_round_trip_through_a_json_array(values):
    assert parse_template_variables(json.dumps(values)) == tuple(values)


def test_json_type_names_values_the_way_json_does():
    values: list[object] = [{}, [], "", 1, 1.5, True, None]
    assert [json_type(v) for v in values] == [
        "an object",
        "an array",
        "a string",
        "a number",
        "a number",
        "a boolean",
        "null",
    ]
