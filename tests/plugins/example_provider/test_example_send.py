"""send_batch for example_provider: per-message results, batches, and whole-request refusals.

Tests marked ``vcr`` replay cassettes recorded from the plugin's sandbox over real HTTP
(``example_cassettes``); answers no cassette shows use ``httpx.MockTransport``. The contract
suite (tests/plugins/test_contract_example_provider.py) covers the common faults.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import example_cassettes
import httpx
import pytest
from pydantic import SecretStr

from smsgate import Encoding, OutboundMessage, Outcome, SendResult
from smsgate.plugins import PluginSet, VendorPlugin
from smsgate_example_provider.options import ExampleOptions

options = example_cassettes.options
vcr_config = example_cassettes.vcr_config
vcr_cassette_dir = example_cassettes.vcr_cassette_dir

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def example(plugins: PluginSet) -> VendorPlugin:
    return plugins.get("example_provider")


def message(id: int, **fields: Any) -> OutboundMessage:
    values: dict[str, Any] = {
        "message_id": f"ct-{id}.",
        "to": f"+9198765432{id:02d}",
        "body": f"Your smsgate test code is {4800 + id}",
    }
    values.update(fields)
    return OutboundMessage(id=id, **values)


def send(
    example: VendorPlugin,
    options: ExampleOptions,
    messages: Sequence[OutboundMessage],
    handler: Handler | None = None,
) -> list[SendResult]:
    """Build and send ``messages``; through ``handler`` when given, else over HTTP."""
    built = example.build_payload(messages, options)
    assert built.refused == ()
    transport = httpx.MockTransport(handler) if handler is not None else None

    async def run() -> list[SendResult]:
        async with httpx.AsyncClient(transport=transport) as client:
            return await example.send_batch(built.requests, client, options)

    return asyncio.run(run())


def answer(status: int = 200, body: Any = None, **headers: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handler


# --- Recorded from the sandbox -----------------------------------------------------------


@pytest.mark.vcr
def test_each_message_of_a_batch_gets_its_own_result_in_order(
    example: VendorPlugin, options: ExampleOptions
) -> None:
    messages = [
        message(1),
        message(2, body="आपका कोड 4821 है", encoding=Encoding.UCS2),
        message(
            3,
            body=None,
            template_id=example_cassettes.TEMPLATE_ID,
            template_variables=("4821", "10"),
        ),
        message(4, to="+12"),
        message(5, extras={"senderid": "AC!"}),
        message(6, template_id="12"),
    ]

    results = send(example, options, messages)

    assert [(r.message, r.outcome, r.code) for r in results] == [
        (1, Outcome.SUBMITTED, None),
        (2, Outcome.SUBMITTED, None),
        (3, Outcome.SUBMITTED, None),
        (4, Outcome.FAILED, "910"),
        (5, Outcome.FAILED, "906"),
        (6, Outcome.FAILED, "908"),
    ]
    ids = [r.vendor_id for r in results[:3]]
    assert all(i is not None and i.startswith("msg_") for i in ids) and len(set(ids)) == 3
    assert results[3].reason == (
        "Example SMS rejected it: invalid_number ('The number must be + and 8 to 15 digits')"
    )


@pytest.mark.vcr
def test_a_group_larger_than_max_batch_goes_in_several_requests(
    example: VendorPlugin, options: ExampleOptions
) -> None:
    small = options.model_copy(update={"max_batch": 2})
    messages = [message(n) for n in range(1, 6)]

    built = example.build_payload(messages, small)
    results = send(example, small, messages)

    assert [r.message_ids for r in built.requests] == [(1, 2), (3, 4), (5,)]
    assert [r.outcome for r in results] == [Outcome.SUBMITTED] * 5
    assert len({r.vendor_id for r in results}) == 5


@pytest.mark.vcr
def test_a_refused_api_key_makes_the_vendor_unusable_without_failing_messages(
    example: VendorPlugin, options: ExampleOptions
) -> None:
    wrong = options.model_copy(update={"api_key": SecretStr("sk_test_not_the_key")})

    results = send(example, wrong, [message(1), message(2)])

    assert [(r.outcome, r.vendor_unusable) for r in results] == [(Outcome.RETRY, True)] * 2
    assert results[0].reason == (
        "Example SMS refused the account (HTTP 401 unauthorized: 'Invalid API key'); "
        "check api_key and the balance"
    )


@pytest.mark.vcr
def test_a_request_the_vendor_refuses_whole_fails_each_message_with_its_words(
    example: VendorPlugin, options: ExampleOptions
) -> None:
    # The operator allowed more per request than this vendor account takes (100).
    large = options.model_copy(update={"max_batch": 101})

    results = send(example, large, [message(n, to="+919876543210") for n in range(1, 102)])

    assert {(r.outcome, r.code) for r in results} == {(Outcome.FAILED, "900")}
    assert results[0].reason == (
        "Example SMS refused the request "
        "(HTTP 400 invalid_request: 'At most 100 messages per request')"
    )


# --- Answers no cassette shows ---------------------------------------------------------------


def test_an_account_without_funds_is_unusable(example: VendorPlugin, options: ExampleOptions):
    body = {"error": {"code": "insufficient_funds", "message": "Top up your balance"}}

    (result,) = send(example, options, [message(1)], answer(402, body))

    assert (result.outcome, result.vendor_unusable) == (Outcome.RETRY, True)


def test_a_message_missing_from_the_results_is_unknown_not_resent(
    example: VendorPlugin, options: ExampleOptions
) -> None:
    body = {"results": [{"reference": "1", "status": "accepted", "id": "msg_1"}]}

    results = send(example, options, [message(1), message(2)], answer(200, body))

    assert [(r.outcome, r.vendor_id) for r in results] == [
        (Outcome.SUBMITTED, "msg_1"),
        (Outcome.UNKNOWN, None),
    ]


@pytest.mark.parametrize(
    ("entry", "outcome"),
    [
        ({"status": "rejected", "error": {"code": "throttled"}}, Outcome.RETRY),
        ({"status": "accepted"}, Outcome.UNKNOWN),
        ({"status": "queued-for-review", "id": "msg_1"}, Outcome.UNKNOWN),
        ({"status": "rejected", "error": "not an object"}, Outcome.FAILED),
    ],
    ids=["throttled", "accepted-without-id", "unknown-status", "malformed-error"],
)
def test_odd_per_message_results_are_judged_without_guessing(
    example: VendorPlugin, options: ExampleOptions, entry: dict[str, Any], outcome: Outcome
) -> None:
    body = {"results": [{"reference": "1", **entry}]}

    (result,) = send(example, options, [message(1)], answer(200, body))

    assert result.outcome is outcome


def test_retry_after_as_a_date_is_measured_on_the_vendors_clock(
    example: VendorPlugin, options: ExampleOptions
) -> None:
    handler = answer(
        503,
        {"error": {"code": "unavailable", "message": "maintenance"}},
        **{"Retry-After": "Wed, 25 Nov 2026 13:10:00 GMT", "Date": "Wed, 25 Nov 2026 13:08:00 GMT"},
    )

    (result,) = send(example, options, [message(1)], handler)

    assert (result.outcome, result.retry_after) == (Outcome.RETRY, 120.0)


def test_the_api_key_in_a_quoted_error_is_blanked(
    example: VendorPlugin, options: ExampleOptions
) -> None:
    key = options.api_key.get_secret_value()
    body = {"error": {"code": "bad_request", "message": f"Header was 'Bearer {key}'"}}

    (result,) = send(example, options, [message(1)], answer(400, body))

    assert result.reason is not None and key not in result.reason
    assert "Bearer **********" in result.reason
