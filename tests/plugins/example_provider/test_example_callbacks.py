"""Signed delivery reports (Standard Webhooks) for example_provider: verified, then read.

The clock is passed in (``now=``), so the replay window is tested without waiting.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from smsgate import CallbackError, CallbackRequest, EventKind
from smsgate_example_provider.callbacks import parse_callback
from smsgate_example_provider.options import ExampleOptions
from smsgate_example_provider.signatures import SignatureError, parse_secret, sign, verify

SECRET = "whsec_" + base64.b64encode(b"callback-test-signing-key-0123456").decode()
KEY = parse_secret(SECRET)
NOW = 1_795_000_000  # 2026-11-17, our clock in these tests
OPTIONS = ExampleOptions(api_key="sk_test_key_0123", webhook_secret=SECRET, sender="ACMEIN")


def report(
    status: str = "delivered",
    error: Any = None,
    *,
    timestamp: str | None = "2026-11-17T08:26:41Z",
    **data: Any,
) -> bytes:
    fields = {
        "id": "msg_0f3a",
        "reference": "17",
        "to": "+919876543210",
        "status": status,
        "error": error,
        "updated_at": "2026-11-17T08:26:40Z",
        **data,
    }
    document: dict[str, Any] = {"type": "message.status", "data": fields}
    if timestamp is not None:
        document["timestamp"] = timestamp
    return json.dumps(document).encode()


def signed(
    body: bytes, *, stamp: int = NOW, webhook_id: str = "evt_1", signature: str | None = None
) -> CallbackRequest:
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature or sign(KEY, webhook_id, stamp, body),
    }
    return CallbackRequest("POST", headers, {}, body, "application/json")


def refusal(request: CallbackRequest, now: float = NOW) -> str:
    with pytest.raises(CallbackError) as caught:
        parse_callback(request, OPTIONS, now=now)
    return caught.value.reason


# --- Signatures --------------------------------------------------------------------------------


def test_a_report_signed_with_the_secret_is_read():
    (event,) = parse_callback(signed(report()), OPTIONS, now=NOW)

    assert (event.vendor_id, event.kind, event.to) == (
        "msg_0f3a",
        EventKind.DELIVERED,
        "+919876543210",
    )
    assert event.occurred_at == datetime(2026, 11, 17, 8, 26, 40, tzinfo=UTC)
    assert event.raw["webhook_id"] == "evt_1"
    assert event.raw["reference"] == "17"


def test_the_signature_is_the_spec_example():
    # The Standard Webhooks specification's own test vector.
    key = parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'

    assert sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_a_body_changed_after_signing_is_refused():
    request = signed(report())
    tampered = CallbackRequest(
        "POST", request.headers, {}, report(status="failed"), "application/json"
    )

    assert refusal(tampered) == "signature refused: no v1 signature matches the body"


def test_a_body_parsed_and_serialised_again_no_longer_matches():
    body = report()
    request = signed(body)
    again = json.dumps(json.loads(body), separators=(",", ":")).encode()

    assert "no v1 signature matches" in refusal(CallbackRequest("POST", request.headers, {}, again))


def test_a_report_signed_with_another_secret_is_refused():
    other = parse_secret("whsec_" + base64.b64encode(b"x" * 32).decode())
    body = report()

    assert "no v1 signature matches" in refusal(
        signed(body, signature=sign(other, "evt_1", NOW, body))
    )


@pytest.mark.parametrize(
    ("stamp", "reason"),
    [
        (NOW - 301, "signature refused: the webhook-timestamp is too old (a replayed report?)"),
        (NOW + 301, "signature refused: the webhook-timestamp is in the future (check the clocks)"),
    ],
    ids=["too-old", "too-new"],
)
def test_a_timestamp_outside_five_minutes_either_way_is_refused(stamp: int, reason: str):
    assert refusal(signed(report(), stamp=stamp)) == reason


@pytest.mark.parametrize("offset", [-300, 300])
def test_a_timestamp_at_the_edge_of_the_window_is_accepted(offset: int):
    assert parse_callback(signed(report(), stamp=NOW + offset), OPTIONS, now=NOW)


def test_the_window_follows_the_tolerance_option():
    strict = OPTIONS.model_copy(update={"webhook_tolerance": 10})

    with pytest.raises(CallbackError, match="too old"):
        parse_callback(signed(report(), stamp=NOW - 11), strict, now=NOW)


def test_during_a_secret_rotation_any_listed_v1_signature_is_enough():
    body = report()
    old = "v1," + base64.b64encode(b"\0" * 32).decode()
    listed = f"v1a,ed25519sig {old} {sign(KEY, 'evt_1', NOW, body)} v1,!!notbase64"

    assert parse_callback(signed(body, signature=listed), OPTIONS, now=NOW)


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("webhook-id", "", "the webhook-id header is missing"),
        ("webhook-timestamp", "", "the webhook-timestamp header is missing"),
        ("webhook-signature", "", "the webhook-signature header is missing"),
        ("webhook-timestamp", "1795000000.5", "the webhook-timestamp header is not epoch seconds"),
        ("webhook-timestamp", "-1795000000", "the webhook-timestamp header is not epoch seconds"),
        ("webhook-id", "evt.1", "the webhook-id header is malformed"),
        ("webhook-signature", "v2,abc", "no v1 signature matches the body"),
    ],
)
def test_missing_or_malformed_signature_headers_are_refused(header: str, value: str, reason: str):
    request = signed(report())
    headers = {**request.headers, header: value}

    assert (
        refusal(CallbackRequest("POST", headers, {}, request.body))
        == f"signature refused: {reason}"
    )


def test_a_get_is_refused_before_anything_is_read():
    assert refusal(CallbackRequest("GET", {}, {"id": "msg_1"}, b"")) == (
        "reports come as POST with a signed JSON body, not GET"
    )


def test_verify_names_the_webhook_id():
    body = report()
    headers = signed(body, webhook_id="evt_42").headers

    assert verify(headers, body, KEY, now=NOW, tolerance=300) == "evt_42"


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "must start with whsec_"),
        ("whsec_not base64!", "is not whsec_ followed by base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "must hold 24 to 64 bytes"),
    ],
)
def test_a_malformed_secret_is_refused_without_quoting_it(secret: str, reason: str):
    with pytest.raises(SignatureError) as caught:
        parse_secret(secret)

    assert caught.value.reason.startswith(reason)
    assert secret not in caught.value.reason


# --- Reading reports ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "kind", "code"),
    [
        ("delivered", None, EventKind.DELIVERED, None),
        ("queued", None, EventKind.BUFFERED, None),
        ("sent", None, EventKind.BUFFERED, None),
        ("undelivered", {"code": "absent_subscriber"}, EventKind.FAILED, "914"),
        ("expired", None, EventKind.FAILED, "916"),
        ("rejected", {"code": "blacklisted"}, EventKind.FAILED, "903"),
        ("failed", {"code": "dnd"}, EventKind.FAILED, "901"),
        ("failed", None, EventKind.FAILED, "900"),
        ("Delivered", None, EventKind.DELIVERED, None),
        ("on_hold", None, EventKind.BUFFERED, None),
    ],
)
def test_each_status_becomes_its_event_with_the_clevertap_code(
    status: str, error: Any, kind: EventKind, code: str | None
):
    (event,) = parse_callback(signed(report(status, error)), OPTIONS, now=NOW)

    assert (event.kind, event.code) == (kind, code)
    assert event.vendor_status == status.lower()


def test_the_vendors_error_words_are_kept_in_the_description():
    error = {"code": "absent_subscriber", "message": "The handset could not be reached"}
    (event,) = parse_callback(signed(report("undelivered", error)), OPTIONS, now=NOW)

    assert event.description == "undelivered: absent_subscriber (The handset could not be reached)"


def test_a_report_of_another_type_gives_no_event():
    body = json.dumps({"type": "account.balance_low", "data": {"balance": 3}}).encode()

    assert parse_callback(signed(body), OPTIONS, now=NOW) == []


def test_a_report_without_its_time_happened_at_the_signature_time():
    (event,) = parse_callback(signed(report(updated_at=None, timestamp=None)), OPTIONS, now=NOW)

    assert event.occurred_at == datetime.fromtimestamp(NOW, UTC)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"type": "message.status"}', "the report has no data object"),
        (
            b'{"type": "message.status", "data": {"status": "delivered"}}',
            "the report has no data.id",
        ),
        (b'{"type": "message.status", "data": {"id": "msg_1"}}', "the report has no data.status"),
        (b"[1, 2]", "the body is not a JSON object"),
        (b"\xff\xfe", "the body is not valid JSON"),
    ],
)
def test_a_signed_but_unusable_report_is_refused_with_the_reason(body: bytes, reason: str):
    assert refusal(signed(body)) == reason


def test_a_duplicate_delivery_of_one_webhook_gives_the_same_event():
    request = signed(report(), webhook_id="evt_dup")

    assert parse_callback(request, OPTIONS, now=NOW) == parse_callback(
        request, OPTIONS, now=NOW + 60
    )
