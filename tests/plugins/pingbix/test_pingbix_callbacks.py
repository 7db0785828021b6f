"""parse_callback: Pingbix's delivery reports, however they come, as delivery events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from smsgate import CallbackError, CallbackRequest, EventKind
from smsgate.plugins import PluginSet, VendorPlugin
from smsgate_pingbix.callbacks import parse_time
from smsgate_pingbix.options import PingbixOptions

REPORT = {
    "Transactionid": "6509661746837016106",
    "Messageid": "8123",
    "ErrorCode": "000",
    "mobileNo": "919845000001",
    "ReceivedTime": "2026-11-25 14:30:00",
    "DeliveredTime": "2026-11-25 14:30:07",
}


@pytest.fixture
def pingbix(plugins: PluginSet) -> VendorPlugin:
    return plugins.get("pingbix")


@pytest.fixture
def options() -> PingbixOptions:
    return PingbixOptions(userid="demo", password="demo-password", senderid="ACMEIN")


def get(fields: dict[str, str]) -> CallbackRequest:
    return CallbackRequest(method="GET", headers={}, query=fields, body=b"")


def post(request: httpx.Request) -> CallbackRequest:
    """A CallbackRequest the way the host builds it from an HTTP request."""
    content_type = request.headers.get("content-type", "")
    return CallbackRequest(
        method="POST",
        headers={key.lower(): value for key, value in request.headers.items()},
        query=dict(request.url.params),
        body=request.read(),
        content_type=content_type.partition(";")[0].strip().lower(),
    )


def test_delivered_time_with_error_code_zero_is_delivered_at_that_time_in_utc(pingbix, options):
    (event,) = pingbix.parse_callback(get(REPORT), options)

    assert event.kind is EventKind.DELIVERED
    assert event.vendor_id == "6509661746837016106"
    assert event.occurred_at == datetime(2026, 11, 25, 9, 0, 7, tzinfo=UTC)
    assert event.to == "+919845000001"
    assert event.code is None
    assert event.raw["messageid"] == "8123"


@pytest.mark.parametrize(
    ("fields", "kind", "code"),
    [
        ({"Status": "DELIVRD"}, EventKind.DELIVERED, None),
        ({"Status": "delivered", "ErrorCode": ""}, EventKind.DELIVERED, None),
        ({"Status": "UNDELIV", "ErrorCode": "001"}, EventKind.FAILED, "914"),
        ({"Status": "EXPIRED"}, EventKind.FAILED, "916"),
        ({"Status": "REJECTD"}, EventKind.FAILED, "900"),
        ({"Status": "DND"}, EventKind.FAILED, "901"),
        ({"Status": "NDNC"}, EventKind.FAILED, "913"),
        ({"Status": "DELETED"}, EventKind.FAILED, "917"),
        ({"Status": "SOMETHING NEW"}, EventKind.FAILED, "900"),
        ({"Status": "SUBMITTED"}, EventKind.BUFFERED, None),
        ({"Status": "ACCEPTD"}, EventKind.BUFFERED, None),
        ({"Status": "PENDING"}, EventKind.BUFFERED, None),
        ({"Status": "SENT", "DeliveredTime": ""}, EventKind.BUFFERED, None),
        ({"ErrorCode": "002"}, EventKind.FAILED, "900"),
        ({"ErrorCode": "0", "DeliveredTime": ""}, EventKind.BUFFERED, None),
        ({"Status": "SUCCESS"}, EventKind.DELIVERED, None),
        # Placeholders are no error and no delivery: the first final report wins for good.
        ({"ErrorCode": "null"}, EventKind.DELIVERED, None),
        ({"ErrorCode": "NA"}, EventKind.DELIVERED, None),
        ({"ErrorCode": "-"}, EventKind.DELIVERED, None),
        ({"ErrorCode": "00000"}, EventKind.DELIVERED, None),
        ({"ErrorCode": "0.0"}, EventKind.DELIVERED, None),
        ({"DeliveredTime": "0000-00-00 00:00"}, EventKind.BUFFERED, None),
        ({"DeliveredTime": "0001-01-01 00:00:00"}, EventKind.BUFFERED, None),
        ({"DeliveredTime": "1970-01-01 05:30:00"}, EventKind.BUFFERED, None),
        ({"DeliveredTime": "NA"}, EventKind.BUFFERED, None),
        ({"DeliveredTime": "-"}, EventKind.BUFFERED, None),
        ({"DeliveredTime": "0000-00-00 00:00:01"}, EventKind.BUFFERED, None),
        ({"DeliveredTime": "pending 2"}, EventKind.BUFFERED, None),
        # A time in a spelling not known here is a time all the same.
        ({"DeliveredTime": "25 Nov 2026 10:00:05 PM"}, EventKind.DELIVERED, None),
    ],
)
def test_statuses_and_error_codes_map_to_kinds_and_clevertap_codes(
    pingbix, options, fields, kind, code
):
    (event,) = pingbix.parse_callback(get({**REPORT, **fields}), options)

    assert (event.kind, event.code) == (kind, code)


def test_a_failed_status_wins_over_a_delivered_time(pingbix, options):
    (event,) = pingbix.parse_callback(get({**REPORT, "Status": "FAILED"}), options)

    assert event.kind is EventKind.FAILED
    assert event.description == "FAILED"


def test_the_error_codes_option_maps_pingbix_codes_when_no_status_is_sent(pingbix):
    options = PingbixOptions(
        userid="demo", password="pw", senderid="ACMEIN", error_codes={"004": "901"}
    )

    (event,) = pingbix.parse_callback(get({**REPORT, "ErrorCode": "004"}), options)

    assert (event.kind, event.code, event.description) == (
        EventKind.FAILED,
        "901",
        "Pingbix ErrorCode 004",
    )


@pytest.mark.parametrize("status", ["FAILED", "REJECTD"])
def test_the_error_codes_option_also_names_the_cause_of_a_generic_failed_status(pingbix, status):
    options = PingbixOptions(
        userid="demo", password="pw", senderid="ACMEIN", error_codes={"004": "901"}
    )
    report = {**REPORT, "Status": status}

    (mapped,) = pingbix.parse_callback(get({**report, "ErrorCode": "004"}), options)
    (unmapped,) = pingbix.parse_callback(get({**report, "ErrorCode": "005"}), options)
    (specific,) = pingbix.parse_callback(
        get({**report, "Status": "DND", "ErrorCode": "004"}), options
    )

    assert (mapped.code, unmapped.code, specific.code) == ("901", "900", "901")


def test_a_zero_date_at_the_edge_of_the_calendar_is_no_time_not_a_refused_report(pingbix, options):
    before = datetime.now(UTC)
    for zero in ("0001-01-01 00:00:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59-14:00"):
        fields = {**REPORT, "Status": "UNDELIV", "DeliveredTime": zero, "ReceivedTime": zero}
        (event,) = pingbix.parse_callback(get(fields), options)

        assert (event.kind, event.code) == (EventKind.FAILED, "914")
        assert event.occurred_at >= before


def test_keys_are_matched_in_any_case(pingbix, options):
    shouted = {key.upper(): value for key, value in REPORT.items()}
    lowered = {key.lower(): value for key, value in REPORT.items()}

    events = [pingbix.parse_callback(get(fields), options)[0] for fields in (shouted, lowered)]

    assert {(e.kind, e.vendor_id, e.occurred_at) for e in events} == {
        (EventKind.DELIVERED, REPORT["Transactionid"], datetime(2026, 11, 25, 9, 0, 7, tzinfo=UTC))
    }


def test_a_json_array_carries_several_reports(pingbix, options):
    second = {**REPORT, "Transactionid": "2", "Status": "EXPIRED"}
    request = httpx.Request("POST", "https://gw/callbacks/x/y", json=[REPORT, second])

    events = pingbix.parse_callback(post(request), options)

    assert [(e.vendor_id, e.kind) for e in events] == [
        (REPORT["Transactionid"], EventKind.DELIVERED),
        ("2", EventKind.FAILED),
    ]


def test_a_json_object_and_numbers_as_json_numbers_are_read(pingbix, options):
    body = {**REPORT, "Transactionid": 6509661746837016106, "ErrorCode": 0}
    request = httpx.Request("POST", "https://gw/cb", content=json.dumps(body).encode())

    (event,) = pingbix.parse_callback(post(request), options)

    assert (event.vendor_id, event.kind) == ("6509661746837016106", EventKind.DELIVERED)


@pytest.mark.parametrize("encoding", ["form", "multipart"])
def test_form_and_multipart_posts_are_read_with_the_query_fields(pingbix, options, encoding):
    fields = {key: value for key, value in REPORT.items() if key != "Transactionid"}
    query = {"Transactionid": REPORT["Transactionid"]}
    if encoding == "form":
        request = httpx.Request("POST", "https://gw/cb", params=query, data=fields)
    else:
        files = {key: (None, value) for key, value in fields.items()}
        request = httpx.Request("POST", "https://gw/cb", params=query, files=files)

    (event,) = pingbix.parse_callback(post(request), options)

    assert (event.vendor_id, event.kind, event.to) == (
        REPORT["Transactionid"],
        EventKind.DELIVERED,
        "+919845000001",
    )


def test_a_report_in_the_query_of_a_post_with_an_empty_form_is_read(pingbix, options):
    request = CallbackRequest("POST", {}, REPORT, b"&", "application/x-www-form-urlencoded")

    (event,) = pingbix.parse_callback(request, options)

    assert (event.vendor_id, event.kind) == (REPORT["Transactionid"], EventKind.DELIVERED)


def test_a_json_report_sent_with_a_form_content_type_is_read_as_json(pingbix, options):
    body = json.dumps(REPORT).encode()
    request = CallbackRequest("POST", {}, {}, body, "application/x-www-form-urlencoded")

    (event,) = pingbix.parse_callback(request, options)

    assert (event.vendor_id, event.kind) == (REPORT["Transactionid"], EventKind.DELIVERED)


def test_an_empty_request_is_a_ping_with_no_events(pingbix, options):
    assert pingbix.parse_callback(get({}), options) == []


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (get({"ErrorCode": "0"}), "a report has no Transactionid"),
        (
            CallbackRequest("POST", {}, {}, b"[1, 2]", "application/json"),
            "a JSON report must be an object of fields",
        ),
        (
            CallbackRequest("POST", {}, {}, b"{oops", "application/json"),
            "the body is not valid JSON",
        ),
        (
            CallbackRequest("POST", {}, {}, b"a=1&" * 201, "application/x-www-form-urlencoded"),
            "the form body is not key=value pairs",
        ),
        (
            # Cut short: a 200 for it would tell Pingbix the report had arrived.
            CallbackRequest(
                "POST",
                {"content-type": "multipart/form-data; boundary=XX"},
                {},
                b"--XX\r\ngarbage",
                "multipart/form-data",
            ),
            "no report field could be read from the body",
        ),
    ],
)
def test_what_cannot_be_read_is_refused_with_the_reason(pingbix, options, request_, reason):
    with pytest.raises(CallbackError) as refused:
        pingbix.parse_callback(request_, options)

    assert refused.value.reason == reason


def test_times_are_read_in_the_configured_zone(pingbix):
    options = PingbixOptions(userid="demo", password="pw", senderid="A", timezone="Asia/Dubai")

    (event,) = pingbix.parse_callback(get(REPORT), options)

    assert event.occurred_at == datetime(2026, 11, 25, 10, 30, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25 14:30:07", datetime(2026, 11, 25, 9, 0, 7, tzinfo=UTC)),
        ("2026-11-25T14:30:07", datetime(2026, 11, 25, 9, 0, 7, tzinfo=UTC)),
        ("25/11/2026 14:30:07", datetime(2026, 11, 25, 9, 0, 7, tzinfo=UTC)),
        ("2026-11-25T14:30:07+00:00", datetime(2026, 11, 25, 14, 30, 7, tzinfo=UTC)),
        ("1795597207", datetime(2026, 11, 25, 9, 0, 7, tzinfo=UTC)),
        ("1795597207000", datetime(2026, 11, 25, 9, 0, 7, tzinfo=UTC)),
        ("0000-00-00 00:00:00", None),
        ("0001-01-01 00:00:00", None),
        ("yesterday", None),
    ],
)
def test_report_times_in_the_spellings_seen_are_read(text, expected):
    assert parse_time(text, ZoneInfo("Asia/Kolkata")) == expected


def test_a_missing_time_is_the_time_of_arrival(pingbix, options):
    before = datetime.now(UTC)
    (event,) = pingbix.parse_callback(get({"Transactionid": "1", "Status": "DELIVRD"}), options)

    assert event.occurred_at >= before


def test_a_failure_without_its_own_time_is_not_dated_when_pingbix_took_the_message(
    pingbix, options
):
    # ReceivedTime is the send; CleverTap would show the failure hours before it happened.
    before = datetime.now(UTC)
    taken = {"Transactionid": "1", "ReceivedTime": "2026-11-25 10:00:00", "DeliveredTime": ""}
    (failed,) = pingbix.parse_callback(get({**taken, "ErrorCode": "004"}), options)
    (expired,) = pingbix.parse_callback(get({**taken, "Status": "EXPIRED"}), options)
    (buffered,) = pingbix.parse_callback(get(taken), options)

    assert failed.occurred_at >= before
    assert expired.occurred_at >= before
    assert buffered.occurred_at == datetime(2026, 11, 25, 4, 30, tzinfo=UTC)
