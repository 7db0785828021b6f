"""CleverTap's callback format, and what its answers mean."""

from __future__ import annotations

import json

import pytest

from smsgate.delivery.clevertap import (
    Judgement,
    batch_body,
    clicked_record,
    delivered_record,
    failed_record,
    judge_answer,
    records_by_meta,
    replied_record,
)

META = "9999999999.1200000000.165263328.20220606.0.wzrk_default.1."


def test_a_batch_is_an_array_of_event_groups_in_a_fixed_order():
    body = batch_body(
        [
            ("failed", failed_record(META, 1654512921, "901", "DND Failure")),
            ("delivered", delivered_record("a.", 1654512921, None)),
            ("replied", replied_record("b.", 1654512921, "x" * 600, "5555")),
            ("clicked", clicked_record("c.", 1654512921, "www.CleverTap.com", "ct9.io/12345")),
            ("failed", failed_record("d.", 1654512922, "902", None)),
        ]
    )

    assert [group["event"] for group in body] == ["delivered", "failed", "clicked", "replied"]
    assert body[1] == {
        "event": "failed",
        "data": [
            {"ts": 1654512921, "meta": META, "code": "901", "description": "DND Failure"},
            {"ts": 1654512922, "meta": "d.", "code": "902", "description": "Failed"},
        ],
    }
    assert body[0]["data"] == [{"ts": 1654512921, "meta": "a.", "description": "Delivered"}]
    assert body[2]["data"] == [
        {"ts": 1654512921, "meta": "c.", "url": "www.CleverTap.com", "shorturl": "ct9.io/12345"}
    ]
    assert len(body[3]["data"][0]["incomingText"]) == 512
    assert body[3]["data"][0]["toPhone"] == "5555"


@pytest.mark.parametrize(
    ("status", "judgement"),
    [
        (200, Judgement.DONE),
        (204, Judgement.DONE),
        (400, Judgement.DEAD),
        (404, Judgement.DEAD),
        (301, Judgement.DEAD),
        (408, Judgement.RETRY),
        (429, Judgement.RETRY),
        (500, Judgement.RETRY),
        (503, Judgement.RETRY),
    ],
)
def test_statuses_mean_done_dead_or_retry(status, judgement):
    assert judge_answer(status, b"{}").judgement is judgement


def test_retry_after_is_read_in_seconds():
    answer = judge_answer(503, b"", {"retry-after": "120"})

    assert answer.retry_after == 120.0
    assert judge_answer(503, b"", {"retry-after": "soon"}).retry_after is None
    assert judge_answer(503, b"", {"retry-after": "inf"}).retry_after is None
    dated = {
        "retry-after": "Wed, 25 Nov 2026 10:02:00 GMT",
        "date": "Wed, 25 Nov 2026 10:00:00 GMT",
    }
    assert judge_answer(503, b"", dated).retry_after == 120.0


@pytest.mark.parametrize(
    "record",
    [
        {"event": "failed", "data": [{"ts": 1, "meta": META, "description": "NDNCRejected"}]},
        json.dumps({"event": "failed", "data": [{"ts": 1, "meta": META}]}),
        {"meta": META, "event": "failed"},
    ],
    ids=["group", "json-string", "flat"],
)
def test_unprocessed_records_of_a_200_are_found_in_any_documented_shape(record):
    body = {
        "status": "partial",
        "processed": 1,
        "unprocessed": [
            {
                "status": "fail",
                "code": 400,
                "error": "Bad Request. Some mandatory parameter was missing",
                "record": record,
            }
        ],
    }

    answer = judge_answer(200, json.dumps(body).encode())
    dead = records_by_meta(
        [(1, "failed", {"meta": META}), (2, "delivered", {"meta": META})], answer.refused
    )

    assert answer.judgement is Judgement.DONE
    assert dead == {
        1: "CleverTap did not process it (400): Bad Request. Some mandatory parameter was missing"
    }


@pytest.mark.parametrize(
    "body",
    [
        {"status": "fail", "processed": 0, "unprocessed": [{"code": 400, "record": "<record>"}]},
        {"status": "error", "message": "Bad request. Some mandatory parameter was missing."},
        {"status": "success", "processed": "0"},
    ],
    ids=["older-fail", "newer-error", "none-processed"],
)
def test_a_200_that_says_nothing_was_processed_refuses_the_whole_batch(body):
    # Marked done, these records would be lost without a trace; dead, operators see them.
    answer = judge_answer(200, json.dumps(body).encode())

    assert answer.judgement is Judgement.DEAD
    assert answer.reason is not None
    assert answer.reason.startswith("CleverTap answered HTTP 200 but took nothing")


def test_a_200_whose_body_is_not_json_is_simply_done():
    answer = judge_answer(200, b"OK")

    assert (answer.judgement, dict(answer.refused)) == (Judgement.DONE, {})
