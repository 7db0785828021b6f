"""The Pingbix sandbox over real HTTP: validation, answer shapes, delivery reports, faults."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest
from conftest import ServerThread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from smsgate import OutboundMessage, Outcome, SandboxSettings, SendResult
from smsgate.errors import PluginHookError
from smsgate.plugins import PluginSet
from smsgate_pingbix.options import PingbixOptions

GOOD = {
    "userid": "demo",
    "password": "demo-password",
    "sendMethod": "quick",
    "mobile": "919876543210",
    "msg": "Your OTP is 4821",
    "senderid": "ACMEIN",
    "msgType": "text",
    "dltEntityId": "1201159100000000000",
    "dltTemplateId": "1207161234567890123",
    "output": "json",
}
WAIT = 10.0  # seconds before giving up on an event that should come at once


class DlrReceiver:
    """A vendor-facing DLR endpoint that records what it gets and answers as scripted."""

    def __init__(self, answers: tuple[int, ...] = ()) -> None:
        self.received: queue.Queue[dict[str, str]] = queue.Queue()
        self._answers = list(answers)

        async def dlr(request: Request) -> Response:
            self.received.put(dict(request.query_params))
            status = self._answers.pop(0) if self._answers else 200
            return PlainTextResponse("ok", status_code=status)

        self.server = ServerThread(Starlette(routes=[Route("/dlr", dlr, methods=["GET"])]))
        self.url = f"{self.server.url}/dlr"

    def next(self) -> dict[str, str]:
        return self.received.get(timeout=WAIT)


@pytest.fixture
def receiver() -> Iterator[DlrReceiver]:
    receiver = DlrReceiver()
    with receiver.server:
        yield receiver


SandboxFactory = Callable[..., str]


@pytest.fixture
def start_sandbox(plugins: PluginSet) -> Iterator[SandboxFactory]:
    """Start the Pingbix sandbox (through the plugin hook) and return its base URL."""
    servers: list[ServerThread] = []

    def start(**settings: Any) -> str:
        settings.setdefault("delay", 0.0)
        settings.setdefault("seed", 7)
        app = plugins.get("pingbix").sandbox_app(SandboxSettings(**settings))
        server = ServerThread(app).__enter__()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
def sandbox(start_sandbox: SandboxFactory) -> str:
    return start_sandbox()


def send(base: str, fields: Mapping[str, str], **kwargs: Any) -> httpx.Response:
    files = {key: (None, value) for key, value in fields.items()}
    return httpx.post(f"{base}/SMSApi/send", files=files, **kwargs)


def without(key: str) -> dict[str, str]:
    return {k: v for k, v in GOOD.items() if k != key}


def test_a_valid_multipart_send_is_accepted_with_a_transaction_id(sandbox: str) -> None:
    response = send(sandbox, GOOD)

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "status": "success",
        "mobile": "919876543210",
        "invalidMobile": "",
        "transactionId": body["transactionId"],
        "statusCode": "200",
        "reason": "success",
        "msgId": "",
    }
    assert len(body["transactionId"]) == 19 and body["transactionId"].isdigit()


def test_get_query_and_urlencoded_post_are_accepted_too(sandbox: str) -> None:
    by_get = httpx.get(f"{sandbox}/SMSApi/send", params=GOOD).json()
    by_form = httpx.post(f"{sandbox}/SMSApi/send", data=GOOD).json()

    assert by_get["status"] == by_form["status"] == "success"
    assert by_get["transactionId"] != by_form["transactionId"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({**GOOD, "password": "wrong"}, "Invalid userid or password"),
        (without("userid"), "Invalid userid or password"),
        ({**GOOD, "sendMethod": "group"}, "Invalid sendMethod"),
        ({**GOOD, "mobile": "12345"}, "Invalid mobile number"),
        (without("msg"), "Message is empty"),
        (without("senderid"), "Invalid senderid"),
        ({**GOOD, "senderid": "AC-ME"}, "Invalid senderid"),
        ({**GOOD, "msgType": "binary"}, "Invalid msgType"),
        ({**GOOD, "dltEntityId": "PE-1"}, "Invalid dltEntityId"),
        ({**GOOD, "dltTemplateId": "T1"}, "Invalid dltTemplateId"),
    ],
)
def test_errors_are_answered_in_json_with_http_200(
    sandbox: str, fields: dict[str, str], reason: str
) -> None:
    response = send(sandbox, fields)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "error"
    assert body["reason"] == reason
    assert body["transactionId"] == ""
    assert body["statusCode"] != "200"


def test_invalid_numbers_are_listed_beside_the_valid_ones(sandbox: str) -> None:
    body = send(sandbox, {**GOOD, "mobile": "919876543210,12,919876543211"}).json()

    assert body["status"] == "success"
    assert body["mobile"] == "919876543210,919876543211"
    assert body["invalidMobile"] == "12"


def test_a_bad_number_alone_is_named_in_the_error(sandbox: str) -> None:
    body = send(sandbox, {**GOOD, "mobile": "12"}).json()

    assert (body["status"], body["invalidMobile"]) == ("error", "12")


def test_the_accepted_account_is_set_by_options(start_sandbox: SandboxFactory) -> None:
    base = start_sandbox(options={"userid": "acme", "password": "s3cret"})

    assert send(base, GOOD).json()["status"] == "error"
    assert send(base, {**GOOD, "userid": "acme", "password": "s3cret"}).json()["status"] == (
        "success"
    )


def test_every_send_request_is_listed_for_tests(sandbox: str) -> None:
    accepted = send(sandbox, GOOD).json()["transactionId"]
    send(sandbox, {**GOOD, "mobile": "1"})

    listed = httpx.get(f"{sandbox}/sandbox/requests").json()["requests"]

    assert [(r["transactionId"], r["accepted"], r["reason"]) for r in listed] == [
        (accepted, True, None),
        (None, False, "Invalid mobile number"),
    ]
    first = listed[0]
    assert {key: first[key] for key in ("mobile", "msg", "senderid", "msgType")} == {
        "mobile": GOOD["mobile"],
        "msg": GOOD["msg"],
        "senderid": GOOD["senderid"],
        "msgType": GOOD["msgType"],
    }
    assert first["dltTemplateId"] == GOOD["dltTemplateId"]
    assert first["received_at"].endswith("+00:00")

    httpx.delete(f"{sandbox}/sandbox/requests")
    assert httpx.get(f"{sandbox}/sandbox/requests").json() == {"requests": []}


def test_a_seed_makes_transaction_ids_reproducible(start_sandbox: SandboxFactory) -> None:
    first, second = start_sandbox(seed=42), start_sandbox(seed=42)

    ids = [[send(base, GOOD).json()["transactionId"] for _ in range(3)] for base in (first, second)]

    assert ids[0] == ids[1]
    assert len(set(ids[0])) == 3


def test_a_delivery_report_is_pushed_for_each_accepted_number(
    start_sandbox: SandboxFactory, receiver: DlrReceiver
) -> None:
    base = start_sandbox(dlr_url=receiver.url, outcomes={"delivered": 1.0})

    transaction_id = send(base, {**GOOD, "mobile": "919876543210,919876543211"}).json()[
        "transactionId"
    ]
    reports = sorted([receiver.next(), receiver.next()], key=lambda r: r["mobileNo"])

    assert [r["mobileNo"] for r in reports] == ["919876543210", "919876543211"]
    for report in reports:
        assert report["Transactionid"] == transaction_id
        assert report["ErrorCode"] == "000"
        assert report["Messageid"].isdigit()
        assert report["ReceivedTime"] and report["DeliveredTime"]
        assert report.get("Status", "DELIVRD") == "DELIVRD"
    assert reports[0]["Messageid"] != reports[1]["Messageid"]


def test_failed_reports_carry_an_error_code_and_sometimes_a_status(
    start_sandbox: SandboxFactory, receiver: DlrReceiver
) -> None:
    base = start_sandbox(dlr_url=receiver.url, outcomes={"failed": 1.0}, seed=3)

    for _ in range(8):
        send(base, GOOD)
    reports = [receiver.next() for _ in range(8)]

    assert all(report["ErrorCode"] not in ("", "0", "000") for report in reports)
    statuses = {report.get("Status") for report in reports}
    assert None in statuses  # some reports come without Status, as on the platform
    assert statuses - {None} <= {"UNDELIV", "EXPIRED", "REJECTD", "DND"}
    assert statuses - {None}


def test_refused_requests_get_no_delivery_report(
    start_sandbox: SandboxFactory, receiver: DlrReceiver
) -> None:
    base = start_sandbox(dlr_url=receiver.url)

    send(base, {**GOOD, "password": "wrong"})
    accepted = send(base, GOOD).json()["transactionId"]

    assert receiver.next()["Transactionid"] == accepted
    assert receiver.received.empty()


def test_a_report_is_retried_while_the_dlr_url_fails(start_sandbox: SandboxFactory) -> None:
    receiver = DlrReceiver(answers=(503, 503))
    with receiver.server:
        base = start_sandbox(dlr_url=receiver.url, options={"dlr_retry_delay": "0"})

        transaction_id = send(base, GOOD).json()["transactionId"]
        attempts = [receiver.next() for _ in range(3)]

        assert {attempt["Transactionid"] for attempt in attempts} == {transaction_id}
        dlrs = httpx.get(f"{base}/sandbox/dlrs").json()["dlrs"]
        assert [(d["attempts"], d["delivered"]) for d in dlrs] == [(3, True)]


def test_unknown_outcome_names_are_refused(plugins: PluginSet) -> None:
    with pytest.raises(PluginHookError, match="ValueError in sandbox_app") as raised:
        plugins.get("pingbix").sandbox_app(SandboxSettings(outcomes={"lost": 1.0}))
    assert "unknown outcome(s) lost" in str(raised.value.__cause__)


def test_a_status_fault_answers_the_next_requests_then_stops(sandbox: str) -> None:
    fault = {"status": 503, "count": 2, "retry_after": "7"}
    assert httpx.post(f"{sandbox}/sandbox/faults", json=fault).status_code == 200

    answers = [send(sandbox, GOOD) for _ in range(3)]

    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["retry-after"] == "7"
    listed = httpx.get(f"{sandbox}/sandbox/requests").json()["requests"]
    assert [r["accepted"] for r in listed] == [False, False, True]
    assert httpx.get(f"{sandbox}/sandbox/faults").json() == {"pending": []}


def test_error_and_body_faults_imitate_vendor_trouble(sandbox: str) -> None:
    httpx.post(f"{sandbox}/sandbox/faults", json={"error": "balance"})
    httpx.post(f"{sandbox}/sandbox/faults", json={"body": "<html>busy</html>"})

    balance = send(sandbox, GOOD)
    garbled = send(sandbox, GOOD)

    assert (balance.status_code, balance.json()["reason"]) == (200, "Insufficient balance")
    assert (garbled.status_code, garbled.text) == (200, "<html>busy</html>")


def test_an_accepting_fault_takes_the_message_but_answers_the_fault(
    sandbox: str,
) -> None:
    httpx.post(f"{sandbox}/sandbox/faults", json={"status": 500, "accept": True})

    assert send(sandbox, GOOD).status_code == 500
    (listed,) = httpx.get(f"{sandbox}/sandbox/requests").json()["requests"]
    assert listed["accepted"] is True and listed["transactionId"]


def test_a_delay_fault_holds_the_answer_after_taking_the_message(sandbox: str) -> None:
    httpx.post(f"{sandbox}/sandbox/faults", json={"delay": 1.0})

    with pytest.raises(httpx.ReadTimeout):
        send(sandbox, GOOD, timeout=httpx.Timeout(5.0, read=0.05))

    (listed,) = httpx.get(f"{sandbox}/sandbox/requests").json()["requests"]
    assert listed["accepted"] is True
    assert listed["fault"] == {"delay": 1.0}


@pytest.mark.parametrize(
    "fault",
    [{"status": 99}, {"count": 0, "status": 503}, {"error": "nope"}, {"colour": "red"}, {}, []],
)
def test_malformed_faults_are_refused_with_the_reason(sandbox: str, fault: object) -> None:
    response = httpx.post(f"{sandbox}/sandbox/faults", json=fault)

    assert response.status_code == 400
    assert response.json()["error"]


def _send_through_plugin(plugins: PluginSet, base: str, timeout: float = 5.0) -> list[SendResult]:
    pingbix = plugins.get("pingbix")
    options = PingbixOptions(
        base_url=base,
        userid="demo",
        password="demo-password",
        senderid="ACMEIN",
        read_timeout=timeout,
    )
    message = OutboundMessage(id=1, message_id="ct-1.", to="+919876543210", body="Hi")
    requests = pingbix.build_payload([message], options).requests

    async def run() -> list[SendResult]:
        async with httpx.AsyncClient() as client:
            return await pingbix.send_batch(requests, client, options)

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        (None, Outcome.SUBMITTED),
        ({"status": 503, "retry_after": "3"}, Outcome.RETRY),
        ({"status": 500, "accept": True}, Outcome.UNKNOWN),
        ({"error": "credentials"}, Outcome.RETRY),
        ({"error": "template"}, Outcome.FAILED),
        ({"body": "not json"}, Outcome.UNKNOWN),
    ],
)
def test_the_plugin_judges_what_the_sandbox_answers(
    plugins: PluginSet, sandbox: str, fault: dict[str, object] | None, outcome: Outcome
) -> None:
    if fault is not None:
        httpx.post(f"{sandbox}/sandbox/faults", json=fault)

    (result,) = _send_through_plugin(plugins, sandbox)

    assert result.outcome is outcome
    listed = httpx.get(f"{sandbox}/sandbox/requests").json()["requests"]
    assert len(listed) == 1
    if outcome is Outcome.SUBMITTED:
        assert result.vendor_id == listed[0]["transactionId"]
