"""The example_provider sandbox over real HTTP: validation, answers, signed reports, faults.

It is started through the ``smsgate_sandbox`` fixture that smsgate ships for plugin authors.
"""

from __future__ import annotations

import base64
import queue
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import ServerThread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from smsgate import CallbackRequest, EventKind, SandboxSettings
from smsgate.plugins import PluginSet
from smsgate_example_provider.options import ExampleOptions
from smsgate_example_provider.sandbox import DEFAULT_API_KEY, DEFAULT_WEBHOOK_SECRET, create_app

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
WAIT = 10.0  # seconds before giving up on a report that should come at once
GOOD = {"reference": "1", "to": "+919876543210", "from": "ACMEIN", "text": "Your code is 4821"}


class WebhookReceiver:
    """A vendor-facing report endpoint that keeps each request as the plugin would see it."""

    def __init__(self, answers: tuple[int, ...] = ()) -> None:
        self.received: queue.Queue[CallbackRequest] = queue.Queue()
        self._answers = list(answers)

        async def webhook(request: Request) -> Response:
            headers = {key.lower(): value for key, value in request.headers.items()}
            body = await request.body()
            self.received.put(CallbackRequest("POST", headers, {}, body, "application/json"))
            status = self._answers.pop(0) if self._answers else 200
            return PlainTextResponse("ok", status_code=status)

        self.server = ServerThread(Starlette(routes=[Route("/wh", webhook, methods=["POST"])]))
        self.url = f"{self.server.url}/wh"

    def next(self) -> CallbackRequest:
        return self.received.get(timeout=WAIT)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    with receiver.server:
        yield receiver


@pytest.fixture
def sandbox(smsgate_sandbox: Any) -> str:
    return str(smsgate_sandbox("example_provider"))


def send(
    base: str, messages: list[dict[str, Any]], headers: dict[str, str] = AUTH
) -> httpx.Response:
    return httpx.post(f"{base}/v1/messages", json={"messages": messages}, headers=headers)


def options_for(base: str) -> ExampleOptions:
    return ExampleOptions(
        base_url=base, api_key=DEFAULT_API_KEY, webhook_secret=DEFAULT_WEBHOOK_SECRET, sender="X"
    )


def test_accepted_and_rejected_messages_each_get_their_result(sandbox: str) -> None:
    bad = {**GOOD, "reference": "2", "to": "919876543210"}

    answer = send(sandbox, [GOOD, bad])

    assert answer.status_code == 200
    accepted, rejected = answer.json()["results"]
    assert accepted["status"] == "accepted" and accepted["id"].startswith("msg_")
    assert rejected == {
        "reference": "2",
        "status": "rejected",
        "error": {"code": "invalid_number", "message": "The number must be + and 8 to 15 digits"},
    }


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"from": "AC!"}, "invalid_sender"),
        ({"text": None}, "empty_message"),
        ({"text": "x" * 1601}, "message_too_long"),
        ({"template_id": "12"}, "invalid_template"),
        ({"entity_id": "x"}, "invalid_entity"),
        ({"encoding": "utf-8"}, "invalid_encoding"),
    ],
)
def test_each_kind_of_bad_message_is_rejected_with_its_code(
    sandbox: str, changes: dict[str, Any], code: str
) -> None:
    (result,) = send(sandbox, [{**GOOD, **changes}]).json()["results"]

    assert (result["status"], result["error"]["code"]) == ("rejected", code)


def test_a_template_id_without_text_is_accepted(sandbox: str) -> None:
    item = {**GOOD, "text": None, "template_id": "1207161234567890123", "variables": ["4821"]}

    (result,) = send(sandbox, [item]).json()["results"]

    assert result["status"] == "accepted"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "The body is not JSON"),
        (b'{"messages": []}', "Give a non-empty list of messages"),
        (b'{"messages": [1]}', "Each message must be an object"),
        (b'{"messages": [{"reference": "1"}, {"reference": "1"}]}', "Each message needs its own"),
    ],
)
def test_a_malformed_request_is_refused_whole(sandbox: str, body: bytes, message: str) -> None:
    answer = httpx.post(f"{sandbox}/v1/messages", content=body, headers=AUTH)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_request"
    assert answer.json()["error"]["message"].startswith(message)


def test_more_than_max_batch_messages_are_refused(smsgate_sandbox: Any) -> None:
    base = smsgate_sandbox("example_provider", options={"max_batch": "2"})
    items = [{**GOOD, "reference": str(n)} for n in range(3)]

    answer = send(base, items)

    assert (answer.status_code, answer.json()["error"]["message"]) == (
        400,
        "At most 2 messages per request",
    )


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": DEFAULT_API_KEY}]
)
def test_a_wrong_or_missing_bearer_token_is_401(sandbox: str, headers: dict[str, str]) -> None:
    answer = send(sandbox, [GOOD], headers)

    assert answer.status_code == 401
    assert answer.json() == {"error": {"code": "unauthorized", "message": "Invalid API key"}}
    assert httpx.get(f"{sandbox}/v1/messages/msg_1", headers=headers).status_code == 401


def test_a_signed_report_is_pushed_and_the_plugin_verifies_it(
    smsgate_sandbox: Any, receiver: WebhookReceiver, plugins: PluginSet
) -> None:
    base = smsgate_sandbox("example_provider", dlr_url=receiver.url)
    (result,) = send(base, [GOOD]).json()["results"]

    pushed = receiver.next()

    assert pushed.headers["webhook-id"].startswith("evt_")
    assert pushed.headers["webhook-signature"].startswith("v1,")
    (event,) = plugins.get("example_provider").parse_callback(pushed, options_for(base))
    assert (event.vendor_id, event.kind, event.to) == (
        result["id"],
        EventKind.DELIVERED,
        GOOD["to"],
    )
    assert event.raw["reference"] == "1"


def test_reports_use_the_configured_secret_and_outcomes(
    smsgate_sandbox: Any, receiver: WebhookReceiver, plugins: PluginSet
) -> None:
    secret = "whsec_" + base64.b64encode(b"another-sandbox-secret-012345").decode()
    base = smsgate_sandbox(
        "example_provider",
        dlr_url=receiver.url,
        outcomes={"expired": 1},
        options={"webhook_secret": secret},
    )
    send(base, [GOOD])
    options = ExampleOptions(
        base_url=base, api_key=DEFAULT_API_KEY, webhook_secret=secret, sender="X"
    )

    (event,) = plugins.get("example_provider").parse_callback(receiver.next(), options)

    assert (event.kind, event.code) == (EventKind.FAILED, "916")


def test_a_report_is_retried_with_the_same_id_while_the_url_fails(
    smsgate_sandbox: Any,
) -> None:
    receiver = WebhookReceiver(answers=(503, 500))
    with receiver.server:
        base = smsgate_sandbox(
            "example_provider", dlr_url=receiver.url, options={"dlr_retry_delay": "0"}
        )
        send(base, [GOOD])
        attempts = [receiver.next() for _ in range(3)]

        assert len({a.headers["webhook-id"] for a in attempts}) == 1
        assert len({a.body for a in attempts}) == 1
        webhooks = httpx.get(f"{base}/sandbox/webhooks").json()["webhooks"]
        assert [(w["attempts"], w["delivered"]) for w in webhooks] == [(3, True)]


def test_the_status_endpoint_says_sent_until_the_report_is_due(smsgate_sandbox: Any) -> None:
    base = smsgate_sandbox("example_provider", delay=600)
    (result,) = send(base, [GOOD]).json()["results"]

    known = httpx.get(f"{base}/v1/messages/{result['id']}", headers=AUTH)
    unknown = httpx.get(f"{base}/v1/messages/msg_nope", headers=AUTH)

    assert known.json()["status"] == "sent" and known.json()["reference"] == "1"
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")


def test_faults_answer_instead_of_the_vendor_and_can_still_take_the_message(sandbox: str) -> None:
    httpx.post(f"{sandbox}/sandbox/faults", json={"status": 503, "retry_after": "2"})
    httpx.post(f"{sandbox}/sandbox/faults", json={"status": 500, "accept": True})

    refused = send(sandbox, [GOOD])
    taken = send(sandbox, [{**GOOD, "reference": "2"}])

    assert (refused.status_code, refused.headers["retry-after"]) == (503, "2")
    assert taken.status_code == 500
    logged = httpx.get(f"{sandbox}/sandbox/requests").json()["requests"]
    assert [m["id"] is not None for r in logged for m in r["messages"]] == [True, True]
    assert [r["fault"] for r in logged] == [
        {"status": 503, "retry_after": "2"},
        {"status": 500, "accept": True},
    ]


def test_a_bad_fault_is_refused(sandbox: str) -> None:
    answer = httpx.post(f"{sandbox}/sandbox/faults", json={"status": 503, "colour": "red"})

    assert (answer.status_code, answer.json()) == (400, {"error": "unknown key(s) colour"})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (SandboxSettings(outcomes={"lost": 1}), "unknown outcome(s) lost"),
        (SandboxSettings(outcomes={"delivered": 0}), "outcome weights must be zero or more"),
        (SandboxSettings(options={"colour": "red"}), "unknown sandbox option(s) colour"),
        (SandboxSettings(options={"max_batch": "many"}), "max_batch and dlr_retries must be"),
        (SandboxSettings(options={"webhook_secret": "plain"}), "webhook_secret must start with"),
    ],
)
def test_the_sandbox_explains_settings_it_cannot_use(settings: SandboxSettings, message: str):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create_app(settings)
