"""The vocabulary plugins speak: values meant plainly are taken, others refused at once."""

from __future__ import annotations

from typing import Any

import pytest

from smsgate import BuiltPayload, Outcome, SendResult, VendorRequest


def test_a_send_result_takes_its_outcome_by_name() -> None:
    result = SendResult(1, "submitted", vendor_id="v1")  # type: ignore[arg-type]

    assert result.outcome is Outcome.SUBMITTED


def test_a_send_result_keeps_a_numeric_vendor_id_and_code_as_text() -> None:
    submitted = SendResult(1, Outcome.SUBMITTED, vendor_id=6509661746837016106)  # type: ignore[arg-type]
    failed = SendResult(2, Outcome.FAILED, code=910, reason="bad number")  # type: ignore[arg-type]
    waiting = SendResult(3, Outcome.RETRY, retry_after="7")  # type: ignore[arg-type]

    assert submitted.vendor_id == "6509661746837016106"
    assert failed.code == "910"
    assert waiting.retry_after == 7.0


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"message": 1, "outcome": "sent"}, ValueError),
        ({"message": "1", "outcome": Outcome.RETRY}, TypeError),
        ({"message": 1, "outcome": Outcome.SUBMITTED, "vendor_id": ["v1"]}, TypeError),
        ({"message": 1, "outcome": Outcome.RETRY, "retry_after": "soon"}, ValueError),
        ({"message": 1, "outcome": Outcome.RETRY, "retry_after": True}, TypeError),
    ],
)
def test_a_send_result_refuses_what_it_cannot_mean(
    fields: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        SendResult(**fields)


@pytest.mark.parametrize("vendor_id", [None, "", "  "])
def test_a_message_taken_without_a_vendor_id_is_unknown_not_submitted(vendor_id: Any) -> None:
    result = SendResult(1, Outcome.SUBMITTED, vendor_id=vendor_id)

    assert (result.outcome, result.vendor_id) == (Outcome.UNKNOWN, None)
    assert result.reason == "the vendor took it without giving an id"


def test_a_single_request_is_a_payload_of_one() -> None:
    request = VendorRequest("POST", "http://vendor.test/send", message_ids=[1, 2])  # type: ignore[arg-type]

    payload = BuiltPayload(requests=request)  # type: ignore[arg-type]

    assert payload.requests == (request,)
    assert request.message_ids == (1, 2)


@pytest.mark.parametrize(
    "fields",
    [
        {"requests": [{"method": "POST", "url": "http://vendor.test/send"}]},
        {"requests": "POST http://vendor.test/send"},
        {"refused": [{"message": 1, "outcome": "failed"}]},
    ],
    ids=["dicts", "text", "refused-dicts"],
)
def test_a_payload_refuses_anything_but_requests_and_results(fields: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=r"BuiltPayload\.(requests|refused) must"):
        BuiltPayload(**fields)


@pytest.mark.parametrize("message_ids", [(), ["1"], 7, "12"], ids=["none", "text-id", "int", "str"])
def test_a_request_must_name_the_messages_it_carries(message_ids: Any) -> None:
    with pytest.raises(TypeError, match="message_ids"):
        VendorRequest("POST", "http://vendor.test/send", message_ids=message_ids)
