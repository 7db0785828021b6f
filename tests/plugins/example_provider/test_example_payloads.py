"""build_payload for example_provider: what goes into each JSON batch, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from smsgate import Encoding, OutboundMessage, Outcome
from smsgate_example_provider.options import ExampleOptions
from smsgate_example_provider.payloads import build_payload
from smsgate_example_provider.sandbox import DEFAULT_WEBHOOK_SECRET

OPTIONS = ExampleOptions(
    base_url="https://api.example-sms.test/",
    api_key="sk_test_payload_0123",
    webhook_secret=DEFAULT_WEBHOOK_SECRET,
    sender="ACMEIN",
)


def message(id: int = 1, **fields: Any) -> OutboundMessage:
    values: dict[str, Any] = {"message_id": f"ct-{id}.", "to": "+919876543210", "body": "Hi"}
    values.update(fields)
    return OutboundMessage(id=id, **values)


def test_one_request_carries_the_whole_group_with_a_bearer_token():
    (request,) = build_payload([message(1), message(2)], OPTIONS).requests

    assert (request.method, request.url) == ("POST", "https://api.example-sms.test/v1/messages")
    assert request.message_ids == (1, 2)
    assert request.headers == {
        "Authorization": "Bearer sk_test_payload_0123",
        "Accept": "application/json",
    }
    assert request.json == {
        "messages": [
            {
                "reference": "1",
                "to": "+919876543210",
                "from": "ACMEIN",
                "text": "Hi",
                "encoding": "gsm7",
            },
            {
                "reference": "2",
                "to": "+919876543210",
                "from": "ACMEIN",
                "text": "Hi",
                "encoding": "gsm7",
            },
        ]
    }


def test_the_api_key_is_masked_when_a_request_is_printed():
    (request,) = build_payload([message()], OPTIONS).requests

    assert "sk_test_payload_0123" not in repr(request)
    assert "'Authorization': '**********'" in repr(request)


def test_groups_are_split_at_max_batch_in_order():
    options = OPTIONS.model_copy(update={"max_batch": 3})

    built = build_payload([message(n) for n in range(1, 8)], options)

    assert [r.message_ids for r in built.requests] == [(1, 2, 3), (4, 5, 6), (7,)]


def test_unicode_text_is_sent_as_ucs2_text():
    (request,) = build_payload([message(body="नमस्ते 😀", encoding=Encoding.UCS2)], OPTIONS).requests

    assert request.json["messages"][0]["text"] == "नमस्ते 😀"
    assert request.json["messages"][0]["encoding"] == "ucs2"


def test_dlt_ids_travel_with_the_text():
    options = OPTIONS.model_copy(update={"dlt_entity_id": "1201159100000000000"})

    (request,) = build_payload([message(template_id="1207161234567890123")], options).requests

    item = request.json["messages"][0]
    assert (item["template_id"], item["entity_id"]) == (
        "1207161234567890123",
        "1201159100000000000",
    )
    assert item["text"] == "Hi"


def test_a_template_without_text_lets_the_vendor_fill_it():
    record = message(
        body=None, template_id="1207161234567890123", template_variables=("4821", "10")
    )

    (request,) = build_payload([record], OPTIONS).requests

    item = request.json["messages"][0]
    assert item["variables"] == ["4821", "10"]
    assert "text" not in item and "encoding" not in item


def test_a_per_campaign_sender_id_wins_over_the_option():
    (request,) = build_payload([message(extras={"Sender_ID": " PROMO "})], OPTIONS).requests

    assert request.json["messages"][0]["from"] == "PROMO"


@pytest.mark.parametrize(
    ("fields", "code", "reason"),
    [
        ({"to": "919876543210"}, "910", "the number is not in E.164 form"),
        ({"to": "+91 98765"}, "910", "the number is not in E.164 form"),
        ({"body": "  "}, "900", "the record has neither a body nor a DLT template id"),
        ({"body": None}, "900", "the record has neither a body nor a DLT template id"),
    ],
)
def test_unsendable_messages_are_refused_up_front_and_the_rest_sent(
    fields: dict[str, Any], code: str, reason: str
):
    built = build_payload([message(1, **fields), message(2)], OPTIONS)

    (refused,) = built.refused
    assert (refused.message, refused.outcome, refused.code, refused.reason) == (
        1,
        Outcome.FAILED,
        code,
        reason,
    )
    assert [r.message_ids for r in built.requests] == [(2,)]


def test_nothing_to_send_makes_no_request():
    assert build_payload([message(to="x")], OPTIONS).requests == ()
