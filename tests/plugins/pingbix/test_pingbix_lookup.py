"""lookup_status: what ``/SMSApi/report/status`` tells about a transaction, as events.

Tests marked ``vcr`` replay cassettes recorded from the sandbox over real HTTP, the way
``test_send.py`` does (``smsgate sandbox pingbix --port 9090 --delay 0 --seed 20241125``,
then ``pytest tests/plugins/pingbix/test_pingbix_lookup.py -m vcr --record-mode=rewrite``);
the query's ``userid`` and ``password`` are filtered out of them. Faults no cassette shows
(timeouts, server errors) use ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import httpx
import pingbix_cassettes
import pytest
from pydantic import SecretStr

from smsgate import DeliveryEvent, EventKind, OutboundMessage, Outcome, SubmittedMessage
from smsgate.plugins import PluginSet, VendorPlugin
from smsgate_pingbix.lookup import entries
from smsgate_pingbix.options import PingbixOptions

options = pingbix_cassettes.options
vcr_config = pingbix_cassettes.vcr_config
vcr_cassette_dir = pingbix_cassettes.vcr_cassette_dir

MOBILE = pingbix_cassettes.account("PINGBIX_TEST_MOBILE")
SENT_AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def pingbix(plugins: PluginSet) -> VendorPlugin:
    return plugins.get("pingbix")


def submit(pingbix: VendorPlugin, options: PingbixOptions) -> SubmittedMessage:
    """Send one message through the plugin; the message as a lookup sees it."""
    outbound = OutboundMessage(id=1, message_id="ct-1.", to=f"+{MOBILE}", body="Your code is 4821")
    built = pingbix.build_payload([outbound], options)

    async def run() -> list:
        async with httpx.AsyncClient() as client:
            return await pingbix.send_batch(built.requests, client, options)

    (result,) = asyncio.run(run())
    assert result.outcome is Outcome.SUBMITTED and result.vendor_id
    return SubmittedMessage(id=1, vendor_id=result.vendor_id, to=f"+{MOBILE}", submitted_at=SENT_AT)


def look_up(
    pingbix: VendorPlugin,
    options: PingbixOptions,
    messages: Sequence[SubmittedMessage],
    handler: Callable[[httpx.Request], httpx.Response] | None = None,
) -> list[DeliveryEvent]:
    transport = httpx.MockTransport(handler) if handler is not None else None

    async def run() -> list[DeliveryEvent]:
        async with httpx.AsyncClient(transport=transport) as client:
            return await pingbix.lookup_status(messages, client, options)

    return asyncio.run(run())


@pytest.mark.vcr
def test_a_delivered_transaction_is_learned_as_delivered_for_its_number(pingbix, options):
    sent = submit(pingbix, options)

    (event,) = look_up(pingbix, options, [sent])

    assert event.kind is EventKind.DELIVERED
    assert event.vendor_id == sent.vendor_id
    assert event.to == f"+{MOBILE}"
    assert event.description == "DELIVERED: Success"


@pytest.mark.vcr
def test_a_transaction_the_vendor_does_not_know_teaches_nothing(pingbix, options):
    unknown = SubmittedMessage(id=9, vendor_id="1000000000000000000", to="+1", submitted_at=SENT_AT)

    assert look_up(pingbix, options, [unknown]) == []


@pytest.mark.vcr
def test_refused_credentials_teach_nothing_and_invent_no_failure(pingbix, options):
    wrong = options.model_copy(update={"password": SecretStr("not-the-password")})
    unknown = SubmittedMessage(id=9, vendor_id="1000000000000000001", to="+1", submitted_at=SENT_AT)

    assert look_up(pingbix, wrong, [unknown]) == []


@pytest.mark.parametrize(
    "handler",
    [
        lambda request: httpx.Response(503, text="busy"),
        lambda request: httpx.Response(200, text="<html>maintenance</html>"),
    ],
)
def test_server_errors_and_unreadable_answers_teach_nothing(pingbix, options, handler):
    sent = SubmittedMessage(id=1, vendor_id="42", to="+919845000001", submitted_at=SENT_AT)

    assert look_up(pingbix, options, [sent], handler) == []


def test_a_timeout_teaches_nothing_and_the_password_is_not_logged(pingbix, options, caplog):
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout(f"timed out on {request.url}", request=request)

    sent = SubmittedMessage(id=1, vendor_id="42", to="+919845000001", submitted_at=SENT_AT)

    with caplog.at_level("DEBUG"):
        assert look_up(pingbix, options, [sent], timeout) == []

    assert options.password.get_secret_value() not in caplog.text
    assert "ReadTimeout" in caplog.text


def test_each_number_of_a_status_answer_is_one_entry_and_acknowledgements_are_not():
    answer = {
        "response": {
            "reports_statusList": [
                {"status": {"Status": "EXPIRED", "Cause": "Validity over", "mobile": "9198"}},
                {"status": {"Status": "success"}},
                {"Status": "DELIVRD"},
                "noise",
            ]
        }
    }

    assert entries(answer) == [
        {"status": "EXPIRED", "cause": "Validity over", "mobile": "9198"},
        {"status": "DELIVRD"},
    ]
    assert entries({"status": "success"}) == []
    assert entries(["not", "an", "object"]) == []
