"""send_batch: how Pingbix's answers become submitted, retry, failed or unknown.

Tests marked ``vcr`` replay cassettes recorded from the sandbox over real HTTP (see
``plugins/pingbix/README.md`` to re-record them); faults no cassette shows (timeouts,
refused connections, throttling, server errors) use ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Sequence
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import httpx
import pingbix_cassettes
import pytest
from pydantic import SecretStr

from smsgate import Encoding, OutboundMessage, Outcome, SendResult
from smsgate.plugins import PluginSet, VendorPlugin
from smsgate_pingbix.options import PingbixOptions

options = pingbix_cassettes.options
vcr_config = pingbix_cassettes.vcr_config
vcr_cassette_dir = pingbix_cassettes.vcr_cassette_dir

MOBILE = pingbix_cassettes.account("PINGBIX_TEST_MOBILE")
TEMPLATE_ID = pingbix_cassettes.account("PINGBIX_DLT_TEMPLATE_ID")

Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]
)


@pytest.fixture
def pingbix(plugins: PluginSet) -> VendorPlugin:
    return plugins.get("pingbix")


def message(id: int = 1, **fields: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "message_id": f"ct-{id}.",
        "to": f"+{MOBILE}",
        "body": "Your smsgate test code is 4821",
    }
    values.update(fields)
    return OutboundMessage(id=id, **values)


def send(
    pingbix: VendorPlugin,
    options: PingbixOptions,
    messages: Sequence[OutboundMessage],
    handler: Handler | None = None,
) -> list[SendResult]:
    """Build and send ``messages``; through ``handler`` when given, else over HTTP."""
    built = pingbix.build_payload(messages, options)
    assert built.refused == ()
    transport = httpx.MockTransport(handler) if handler is not None else None

    async def run() -> list[SendResult]:
        async with httpx.AsyncClient(transport=transport) as client:
            return await pingbix.send_batch(built.requests, client, options)

    return asyncio.run(run())


def answer(status: int = 200, body: Any = None, **headers: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        content = body if isinstance(body, str | bytes) else json.dumps(body)
        return httpx.Response(status, content=content, headers=headers)

    return handler


def raising(error: type[httpx.HTTPError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("simulated", request=request)  # type: ignore[call-arg]

    return handler


def error_body(reason: str, status_code: str = "400") -> dict[str, str]:
    return {
        "status": "error",
        "mobile": "",
        "invalidMobile": "",
        "transactionId": "",
        "statusCode": status_code,
        "reason": reason,
        "msgId": "",
    }


def success_body(**changes: str) -> dict[str, str]:
    body = {
        "status": "success",
        "mobile": MOBILE,
        "invalidMobile": "",
        "transactionId": "6509661746837016106",
        "statusCode": "200",
        "reason": "success",
        "msgId": "",
    }
    body.update(changes)
    return body


# --- Recorded from the sandbox -----------------------------------------------------------


@pytest.mark.vcr
def test_an_accepted_message_is_submitted_under_its_transaction_id(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    (result,) = send(pingbix, options, [message()])

    assert result.outcome is Outcome.SUBMITTED
    assert result.message == 1
    assert result.vendor_id is not None and result.vendor_id.isdigit()
    assert len(result.vendor_id) == 19


@pytest.mark.vcr
def test_each_message_of_a_batch_gets_its_own_result_in_order(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    messages = [
        message(1),
        message(2, body="आपका कोड 4821 है", encoding=Encoding.UCS2),
        message(3, body=None, template_id=TEMPLATE_ID, template_variables=("4821", "10")),
        message(4, to="+12345"),
    ]

    results = send(pingbix, options, messages)

    assert [(r.message, r.outcome) for r in results] == [
        (1, Outcome.SUBMITTED),
        (2, Outcome.SUBMITTED),
        (3, Outcome.SUBMITTED),
        (4, Outcome.FAILED),
    ]
    assert len({r.vendor_id for r in results[:3]}) == 3
    assert results[3].code == "910"


@pytest.mark.vcr
def test_an_invalid_number_answered_with_http_200_fails_with_910(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    (result,) = send(pingbix, options, [message(to="+12345")])

    assert (result.outcome, result.code) == (Outcome.FAILED, "910")
    assert result.reason is not None and "Invalid mobile number" in result.reason


@pytest.mark.vcr
def test_a_refused_sender_id_fails_with_906(pingbix: VendorPlugin, options: PingbixOptions) -> None:
    (result,) = send(pingbix, options, [message(extras={"senderid": "AC-ME"})])

    assert (result.outcome, result.code) == (Outcome.FAILED, "906")


@pytest.mark.vcr
def test_a_refused_dlt_template_id_fails_with_908(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    (result,) = send(pingbix, options, [message(template_id="T-0001")])

    assert (result.outcome, result.code) == (Outcome.FAILED, "908")


@pytest.mark.vcr
def test_bad_credentials_make_the_vendor_unusable_without_failing_the_message(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    wrong = options.model_copy(update={"password": SecretStr("not-the-password")})

    (result,) = send(pingbix, wrong, [message()])

    assert result.outcome is Outcome.RETRY
    assert result.vendor_unusable is True
    assert result.reason is not None and "credentials" in result.reason
    assert "not-the-password" not in result.reason


# --- Faults no cassette shows --------------------------------------------------------------


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_a_request_that_never_left_is_retried(
    pingbix: VendorPlugin, options: PingbixOptions, error: type[httpx.HTTPError]
) -> None:
    (result,) = send(pingbix, options, [message()], raising(error))

    assert result.outcome is Outcome.RETRY
    assert result.vendor_unusable is False
    assert result.reason is not None and error.__name__ in result.reason


@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError]
)
def test_a_request_that_may_have_arrived_is_unknown(
    pingbix: VendorPlugin, options: PingbixOptions, error: type[httpx.HTTPError]
) -> None:
    (result,) = send(pingbix, options, [message()], raising(error))

    assert result.outcome is Outcome.UNKNOWN
    assert result.reason is not None and "may have been taken" in result.reason


@pytest.mark.parametrize("status", [408, 429, 502, 503])
def test_throttling_and_gateway_errors_are_retried(
    pingbix: VendorPlugin, options: PingbixOptions, status: int
) -> None:
    (result,) = send(pingbix, options, [message()], answer(status, "busy"))

    assert (result.outcome, result.retry_after) == (Outcome.RETRY, None)


@pytest.mark.parametrize("where", ["http", "body"])
def test_a_gateway_timeout_is_unknown_as_pingbix_may_have_taken_it(
    pingbix: VendorPlugin, options: PingbixOptions, where: str
) -> None:
    # A proxy that stopped waiting for Pingbix: resending could deliver the SMS twice.
    handler = (
        answer(504, "gateway timeout")
        if where == "http"
        else answer(200, error_body("gateway timeout", "504"))
    )

    (result,) = send(pingbix, options, [message()], handler)

    assert result.outcome is Outcome.UNKNOWN


def test_retry_after_in_seconds_is_honoured(pingbix: VendorPlugin, options: PingbixOptions) -> None:
    handler = answer(429, "slow down", **{"Retry-After": "7"})

    (result,) = send(pingbix, options, [message()], handler)

    assert (result.outcome, result.retry_after) == (Outcome.RETRY, 7.0)


def test_retry_after_as_a_date_is_measured_from_the_server_clock(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    handler = answer(
        503,
        "maintenance",
        **{"Retry-After": "Wed, 21 Oct 2015 07:30:00 GMT", "Date": "Wed, 21 Oct 2015 07:28:00 GMT"},
    )

    (result,) = send(pingbix, options, [message()], handler)

    assert (result.outcome, result.retry_after) == (Outcome.RETRY, 120.0)


@pytest.mark.parametrize("value", ["soon", "-5", ""])
def test_an_unreadable_retry_after_is_ignored(
    pingbix: VendorPlugin, options: PingbixOptions, value: str
) -> None:
    (result,) = send(pingbix, options, [message()], answer(429, "x", **{"Retry-After": value}))

    assert (result.outcome, result.retry_after) == (Outcome.RETRY, None)


@pytest.mark.parametrize("status", [500, 501, 520])
def test_server_errors_leave_the_message_unknown(
    pingbix: VendorPlugin, options: PingbixOptions, status: int
) -> None:
    (result,) = send(pingbix, options, [message()], answer(status, "oops"))

    assert result.outcome is Outcome.UNKNOWN


@pytest.mark.parametrize("status", [400, 404, 405, 422])
def test_other_client_errors_fail_the_message(
    pingbix: VendorPlugin, options: PingbixOptions, status: int
) -> None:
    (result,) = send(pingbix, options, [message()], answer(status, "no"))

    assert (result.outcome, result.code) == (Outcome.FAILED, "900")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, {"status": "error", "statusCode": "401", "reason": "Access denied"}),
        (200, {"status": "error", "statusCode": "402", "reason": "Low wallet amount"}),
        (200, {"status": "error", "statusCode": "403", "reason": "Your IP is not whitelisted"}),
        (200, {"status": "error", "reason": "Your IP is not whitelisted"}),
        (400, {"status": "error", "reason": "Invalid userid or password"}),
        (402, "Insufficient balance"),
    ],
    ids=["401-in-body", "402-in-body", "403-in-body", "ip-words", "http-400-words", "http-402"],
)
def test_an_account_refusal_in_any_form_holds_the_messages_instead_of_failing_them(
    pingbix: VendorPlugin, options: PingbixOptions, status: int, body: Any
) -> None:
    # Failed, every queued message would be lost to one empty wallet or a new server IP.
    (result,) = send(pingbix, options, [message()], answer(status, body))

    assert (result.outcome, result.vendor_unusable) == (Outcome.RETRY, True)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"status": "error", "statusCode": "403", "reason": "Template not approved"}, "908"),
        ({"status": "error", "statusCode": "1007", "reason": "Invalid template id"}, "908"),
        ({"status": "error", "reason": "Message forbidden: content not allowed"}, "900"),
    ],
    ids=["403-about-the-template", "code-over-599", "forbidden-content"],
)
def test_words_about_the_message_fail_only_that_message_whatever_the_code(
    pingbix: VendorPlugin, options: PingbixOptions, body: Any, code: str
) -> None:
    # Held as an account refusal, one bad message would stop the whole nickname.
    (result,) = send(pingbix, options, [message()], answer(200, body))

    assert (result.outcome, result.code, result.vendor_unusable) == (Outcome.FAILED, code, False)


def test_a_server_error_said_in_the_body_leaves_the_message_unknown(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    body = {"status": "error", "statusCode": "500", "reason": "Internal server error"}

    (result,) = send(pingbix, options, [message()], answer(200, body))

    assert result.outcome is Outcome.UNKNOWN


def test_a_client_error_with_words_about_the_message_fails_it_with_their_code(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    body = {"status": "error", "reason": "Invalid sender id"}

    (result,) = send(pingbix, options, [message()], answer(400, body))

    assert (result.outcome, result.code) == (Outcome.FAILED, "906")
    assert result.reason is not None and "(HTTP 400)" in result.reason


@pytest.mark.parametrize("status", [401, 403])
def test_an_http_auth_refusal_makes_the_vendor_unusable(
    pingbix: VendorPlugin, options: PingbixOptions, status: int
) -> None:
    (result,) = send(pingbix, options, [message()], answer(status, "denied"))

    assert (result.outcome, result.vendor_unusable) == (Outcome.RETRY, True)


def test_a_redirect_is_not_followed_and_points_at_base_url(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    handler = answer(301, "", Location="https://app.pingbix.com/SMSApi/send")

    (result,) = send(pingbix, options, [message()], handler)

    assert (result.outcome, result.vendor_unusable) == (Outcome.RETRY, True)
    assert result.reason is not None and "base_url" in result.reason


@pytest.mark.parametrize("body", ["<html>Service Unavailable</html>", "[1, 2]", '"success"', ""])
def test_an_unreadable_200_leaves_the_message_unknown(
    pingbix: VendorPlugin, options: PingbixOptions, body: str
) -> None:
    (result,) = send(pingbix, options, [message()], answer(200, body))

    assert result.outcome is Outcome.UNKNOWN


def test_success_without_a_transaction_id_is_unknown(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    handler = answer(200, success_body(transactionId=""))

    (result,) = send(pingbix, options, [message()], handler)

    assert result.outcome is Outcome.UNKNOWN


def test_success_that_lists_the_number_as_invalid_fails_with_910(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    handler = answer(200, success_body(mobile="", invalidMobile=MOBILE))

    (result,) = send(pingbix, options, [message()], handler)

    assert (result.outcome, result.code) == (Outcome.FAILED, "910")


@pytest.mark.parametrize(
    ("reason", "outcome", "code", "unusable"),
    [
        ("Invalid userid or password", Outcome.RETRY, None, True),
        ("Authentication failed", Outcome.RETRY, None, True),
        ("Insufficient balance", Outcome.RETRY, None, True),
        ("Your account is suspended", Outcome.RETRY, None, True),
        ("Too many requests, try again later", Outcome.RETRY, None, False),
        ("Sender ID not approved", Outcome.FAILED, "906", False),
        ("Invalid Entity ID", Outcome.FAILED, "907", False),
        ("DLT template not matched", Outcome.FAILED, "908", False),
        ("Number is in DND", Outcome.FAILED, "901", False),
        ("NDNC registered number", Outcome.FAILED, "913", False),
        ("Blacklisted number", Outcome.FAILED, "903", False),
        ("Duplicate message", Outcome.FAILED, "918", False),
        ("Invalid Mobile Numbers", Outcome.FAILED, "910", False),
        ("Something unexpected", Outcome.FAILED, "900", False),
        # One message's registration, though the words name the account or "try again":
        # neither the whole vendor nor a resend of what can never pass.
        ("Sender ID is blocked for this account", Outcome.FAILED, "906", False),
        ("Template inactive for this account", Outcome.FAILED, "908", False),
        ("Invalid template, please try again", Outcome.FAILED, "908", False),
        ("Header not registered, try again with a registered header", Outcome.FAILED, "906", False),
        ("Insufficient parameters", Outcome.FAILED, "900", False),
        ("Message type id missing", Outcome.FAILED, "900", False),
    ],
)
def test_error_reasons_map_to_outcomes_and_clevertap_codes(
    pingbix: VendorPlugin,
    options: PingbixOptions,
    reason: str,
    outcome: Outcome,
    code: str | None,
    unusable: bool,
) -> None:
    (result,) = send(pingbix, options, [message()], answer(200, error_body(reason)))

    assert (result.outcome, result.code, result.vendor_unusable) == (outcome, code, unusable)
    assert result.reason is not None and reason in result.reason


@pytest.mark.parametrize(
    "body",
    [{}, {"Status": "Success", "StatusCode": "200", "TransactionId": "6509661746837016106"}],
    ids=["empty", "other-spelling"],
)
def test_an_answer_that_names_no_status_is_unknown_not_a_refusal(
    pingbix: VendorPlugin, options: PingbixOptions, body: dict[str, str]
) -> None:
    # Failed, CleverTap would hear of a failure for a message Pingbix may be delivering.
    (result,) = send(pingbix, options, [message()], answer(200, body))

    assert result.outcome is Outcome.UNKNOWN
    assert result.reason is not None and "without a status" in result.reason


@pytest.mark.parametrize("status_code", ["429", "503"])
def test_an_error_body_that_says_busy_is_retried(
    pingbix: VendorPlugin, options: PingbixOptions, status_code: str
) -> None:
    handler = answer(200, error_body("Service busy", status_code))

    (result,) = send(pingbix, options, [message()], handler)

    assert result.outcome is Outcome.RETRY


def test_the_password_never_appears_in_a_reason(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    password = options.password.get_secret_value()
    handler = answer(200, error_body(f"Invalid password {password} for user"))

    (result,) = send(pingbix, options, [message()], handler)

    assert result.reason is not None and password not in result.reason


def test_the_password_quoted_back_in_a_url_never_appears_in_a_reason(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    password = "s3cr&t+pa ss%/word"
    awkward = options.model_copy(update={"password": SecretStr(password)})
    quoted = urlencode({"password": password})
    redirect = answer(302, "", location=f"https://app.pingbix.com/x?{quoted}")
    echo = answer(200, error_body(f"Invalid login: {quote(password)}"))

    reasons = [
        send(pingbix, awkward, [message()], handler)[0].reason for handler in (redirect, echo)
    ]

    for reason in reasons:
        assert reason is not None and "**********" in reason
        assert quote(password, safe="") not in reason and quote_plus(password) not in reason


def test_each_request_carries_the_configured_timeouts(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    seen: list[dict[str, float | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json=success_body())

    tuned = options.model_copy(update={"connect_timeout": 2.5, "read_timeout": 9.0})
    send(pingbix, tuned, [message()], handler)

    assert seen == [{"connect": 2.5, "read": 9.0, "write": 9.0, "pool": 2.5}]


def test_no_more_requests_are_in_flight_than_the_concurrency_option(
    pingbix: VendorPlugin, options: PingbixOptions
) -> None:
    in_flight = 0
    most = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        for _ in range(5):  # let the other tasks run while this one is "on the wire"
            await asyncio.sleep(0)
        in_flight -= 1
        return httpx.Response(200, json=success_body())

    narrow = options.model_copy(update={"concurrency": 3})
    results = send(pingbix, narrow, [message(i) for i in range(1, 11)], handler)

    assert [r.message for r in results] == list(range(1, 11))
    assert most == 3
