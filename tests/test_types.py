"""The vocabulary plugins speak: values meant plainly are taken, others refused at once."""

from __future__ import annotations

from typing import Any

import pytest

from smsgate import Outcome, SendResult


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
