"""CleverTap's JSON bodies read into records: single, batched, global keys."""

from __future__ import annotations

import json

import pytest

from smsgate.errors import RequestError
from smsgate.intake.payloads import MAX_RECORDS, record_from_pairs, records_from_json
from smsgate.intake.records import MAX_EXTRAS


def read(document: object) -> list[object]:
    return records_from_json(json.dumps(document).encode())


def test_a_single_record_is_the_top_level_object():
    assert read({"to": "1", "body": "x"}) == [{"to": "1", "body": "x"}]


def test_keys_outside_the_batch_apply_to_records_that_do_not_set_them():
    records = read(
        {
            "template_id": "G",
            "campaign_id": "C",
            "messages": [
                {"to": "1"},
                {"to": "2", "template_id": "own"},
                {"to": "3", "campaign_id": None},
                {"to": "4", "template_id": ""},
                {"to": "5", "template_id": "$$TemplateID"},
            ],
        }
    )

    assert records == [
        {"template_id": "G", "campaign_id": "C", "to": "1"},
        {"template_id": "own", "campaign_id": "C", "to": "2"},
        # null, "" or a placeholder left unfilled is how a record says nothing.
        {"template_id": "G", "campaign_id": "C", "to": "3"},
        {"template_id": "G", "campaign_id": "C", "to": "4"},
        {"template_id": "G", "campaign_id": "C", "to": "5"},
    ]


def test_global_keys_too_large_to_copy_into_every_record_refuse_the_batch():
    with pytest.raises(RequestError) as refused:
        read({"note": "n" * MAX_EXTRAS, "messages": [{"to": "1"}] * 1000})

    assert refused.value.status_code == 400
    assert "global keys" in refused.value.message
    assert len(read({"note": "n" * 100, "messages": [{"to": "1"}] * 1000})) == 1000


def test_entries_that_are_not_objects_are_passed_on_to_be_rejected_by_index():
    assert read({"template_id": "G", "messages": ["x", 1, None]}) == ["x", 1, None]


def test_a_utf8_byte_order_mark_is_allowed():
    assert records_from_json(b'\xef\xbb\xbf{"to": "1"}') == [{"to": "1"}]


def test_exactly_1000_records_are_allowed():
    assert len(read({"messages": [{"to": "1"}] * MAX_RECORDS})) == MAX_RECORDS


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"", 400, "empty"),
        (b"  \n", 400, "empty"),
        (b"{", 400, "not valid JSON"),
        (b"\xff", 400, "UTF-8"),
        (b"[1]", 400, "not an array"),
        (b"12", 400, "not a number"),
        (b"true", 400, "not a boolean"),
        (b'{"messages": "x"}', 400, "must be an array"),
        (b'{"messages": []}', 400, "empty array"),
        (b"[" * 50_000, 400, "nested too deeply"),
        (b'{"to": ' + b"1" * 5000 + b"}", 400, "a number of more than 4300 digits"),
        (json.dumps({"messages": [{}] * (MAX_RECORDS + 1)}).encode(), 413, "at most 1000"),
    ],
)
def test_unusable_bodies_are_refused_with_status_and_reason(body, status, fragment):
    with pytest.raises(RequestError) as refused:
        records_from_json(body)

    assert refused.value.status_code == status
    assert fragment in refused.value.message


def test_form_fields_are_one_record_and_no_fields_is_an_error():
    assert record_from_pairs({"to": "1"}) == [{"to": "1"}]
    with pytest.raises(RequestError, match="no fields"):
        record_from_pairs({})


def test_a_plus_sent_unencoded_in_a_query_or_form_is_read_back_as_a_plus():
    # `?to=+6581234567`: form encoding turns the plus into a space.
    assert record_from_pairs({"to": " 6581234567"}) == [{"to": "+6581234567"}]
    assert record_from_pairs({"to": "  65 8123"}) == [{"to": "  65 8123"}]
    assert record_from_pairs({"to": "98765 43210"}) == [{"to": "98765 43210"}]
    # A multipart body sends a plus as a plus: a leading space there is a space.
    assert record_from_pairs({"to": " 6581234567"}, url_encoded=False) == [{"to": " 6581234567"}]
