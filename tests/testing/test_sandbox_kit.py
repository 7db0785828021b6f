"""smsgate.testing.sandbox: the settings, faults and report retries every sandbox shares.

A sandbox of a few lines, built with the kit the way the shipped ones are, is served over
real loopback HTTP; so is the delivery report URL it pushes to.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smsgate import SandboxSettings
from smsgate.testing.sandbox import PUSHES_AT_ONCE, SandboxKit, parse_fault, takes_messages
from smsgate.testing.server import LoopbackServer

OUTCOMES = ("delivered", "failed")


def tiny_sandbox(settings: SandboxSettings, errors: tuple[str, ...] = ()) -> Starlette:
    """Takes ``POST /send`` and pushes ``{"id": N}`` to the DLR URL for each taken request."""
    kit = SandboxKit(settings, outcomes=OUTCOMES, errors=errors)
    pushed: list[dict[str, Any]] = []

    async def send(request: Request) -> Response:
        fault = kit.next_fault()
        kit.requests.append({"n": len(kit.requests) + 1})
        if takes_messages(fault) and settings.dlr_url is not None:
            number = len(kit.requests)

            async def push() -> None:
                url = str(settings.dlr_url)
                attempts, delivered = await kit.push(
                    url, lambda client: client.post(url, json={"id": number})
                )
                pushed.append({"id": number, "attempts": attempts, "delivered": delivered})

            kit.spawn(push())
        replaced = await fault.answer() if fault is not None else None
        return replaced if replaced is not None else JSONResponse({"ok": True})

    return kit.app([Route("/send", send, methods=["POST"])], reports=("pushed", pushed))


class FlakyReceiver:
    """A delivery report URL that fails the first ``failures`` attempts with a 503."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[Any] = []

        async def receive(request: Request) -> Response:
            self.received.append(await request.json())
            if len(self.received) <= self.failures:
                return Response(status_code=503)
            return Response(status_code=204)

        self.app = Starlette(routes=[Route("/dlr", receive, methods=["POST"])])


class SlowReceiver:
    """A delivery report URL that takes a while to answer and counts requests in flight."""

    def __init__(self) -> None:
        self.received = 0
        self.in_flight = 0
        self.most_in_flight = 0

        async def receive(request: Request) -> Response:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            await asyncio.sleep(0.05)
            self.in_flight -= 1
            self.received += 1
            return Response(status_code=204)

        self.app = Starlette(routes=[Route("/dlr", receive, methods=["POST"])])


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return result


def test_scripted_faults_answer_the_next_requests_in_order_then_stop():
    with LoopbackServer(tiny_sandbox(SandboxSettings())) as sandbox:
        added = httpx.post(
            f"{sandbox.url}/sandbox/faults", json={"status": 503, "retry_after": "2", "count": 2}
        )
        httpx.post(f"{sandbox.url}/sandbox/faults", json={"body": "<html>down</html>"})
        assert added.json() == {"pending": [{"count": 2, "status": 503, "retry_after": "2"}]}

        answers = [httpx.post(f"{sandbox.url}/send") for _ in range(4)]

        assert [a.status_code for a in answers] == [503, 503, 200, 200]
        assert answers[0].headers["retry-after"] == "2"
        assert answers[2].text == "<html>down</html>"
        assert answers[3].json() == {"ok": True}
        assert httpx.get(f"{sandbox.url}/sandbox/faults").json() == {"pending": []}
        assert len(httpx.get(f"{sandbox.url}/sandbox/requests").json()["requests"]) == 4
        assert httpx.delete(f"{sandbox.url}/sandbox/requests").json() == {"requests": []}


def test_a_fault_that_is_not_understood_is_refused_with_the_reason():
    with LoopbackServer(tiny_sandbox(SandboxSettings())) as sandbox:
        colour = httpx.post(f"{sandbox.url}/sandbox/faults", json={"colour": "red"})
        error = httpx.post(f"{sandbox.url}/sandbox/faults", json={"error": "balance"})
        cleared = httpx.delete(f"{sandbox.url}/sandbox/faults")

    assert (colour.status_code, colour.json()) == (400, {"error": "unknown key(s) colour"})
    assert (error.status_code, error.json()) == (400, {"error": "unknown key(s) error"})
    assert cleared.json() == {"pending": []}


def test_named_error_answers_are_faults_only_where_the_sandbox_has_them():
    fault = parse_fault(b'{"error": "balance", "delay": 1}', errors=("credentials", "balance"))

    assert fault.public() == {"count": 1, "delay": 1.0, "error": "balance"}
    assert takes_messages(fault)
    with pytest.raises(ValueError, match="error must be one of credentials, balance"):
        parse_fault(b'{"error": "colour"}', errors=("credentials", "balance"))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[]", "the body must be a JSON object"),
        (b"{", "the body must be a JSON object"),
        (b'{"count": 0, "status": 503}', "count must be a whole number, 1 or more"),
        (b'{"status": 99}', "status must be an HTTP status code"),
        (b'{"delay": 601}', "delay must be seconds between 0 and 600"),
        (b'{"body": 5}', "body must be a string"),
        (b'{"status": 503, "retry_after": [1]}', "retry_after must be a string or a number"),
        (b"{}", "give at least one of status, delay, body"),
    ],
)
def test_a_malformed_fault_says_what_is_wrong(body, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(")):
        parse_fault(body)


def test_only_an_accepting_fault_that_replaces_the_answer_still_takes_the_messages():
    assert takes_messages(None)
    assert takes_messages(parse_fault(b'{"delay": 2}'))
    assert not takes_messages(parse_fault(b'{"status": 500}'))
    assert not takes_messages(parse_fault(b'{"body": "x"}'))
    assert takes_messages(parse_fault(b'{"status": 500, "accept": true}'))


def test_a_report_is_retried_while_its_url_fails_and_the_attempts_are_listed():
    receiver = FlakyReceiver(failures=2)
    with LoopbackServer(receiver.app) as dlr:
        settings = SandboxSettings(
            dlr_url=f"{dlr.url}/dlr",
            delay=0,
            options={"dlr_retries": "3", "dlr_retry_delay": "0"},
        )
        with LoopbackServer(tiny_sandbox(settings)) as sandbox:
            httpx.post(f"{sandbox.url}/send")
            pushed = wait_for(lambda: httpx.get(f"{sandbox.url}/sandbox/pushed").json()["pushed"])

    assert pushed == [{"id": 1, "attempts": 3, "delivered": True}]
    assert receiver.received == [{"id": 1}] * 3


def test_a_report_whose_url_never_answers_is_given_up_after_the_retries():
    receiver = FlakyReceiver(failures=10)
    with LoopbackServer(receiver.app) as dlr:
        settings = SandboxSettings(
            dlr_url=f"{dlr.url}/dlr",
            delay=0,
            options={"dlr_retries": "2", "dlr_retry_delay": "0"},
        )
        with LoopbackServer(tiny_sandbox(settings)) as sandbox:
            httpx.post(f"{sandbox.url}/send")
            pushed = wait_for(lambda: httpx.get(f"{sandbox.url}/sandbox/pushed").json()["pushed"])

    assert pushed == [{"id": 1, "attempts": 2, "delivered": False}]


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        (
            SandboxSettings(outcomes={"lost": 1}),
            "unknown outcome(s) lost; known: delivered, failed",
        ),
        (SandboxSettings(outcomes={"delivered": 0}), "outcome weights must be zero or more"),
        (SandboxSettings(delay=-1), "delay must be zero or more seconds"),
        (
            SandboxSettings(options={"colour": "red"}),
            "unknown sandbox option(s) colour; known: max_batch, dlr_retries, dlr_retry_delay",
        ),
        (
            SandboxSettings(options={"max_batch": "many"}),
            "max_batch and dlr_retries must be whole numbers, dlr_retry_delay seconds",
        ),
        (
            SandboxSettings(options={"dlr_retries": "0"}),
            "max_batch and dlr_retries must be 1 or more, dlr_retry_delay zero or more",
        ),
    ],
)
def test_settings_the_sandbox_cannot_honour_are_refused(settings, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        SandboxKit(settings, outcomes=OUTCOMES, options=("max_batch",), counts={"max_batch": 1})


def test_counted_options_are_read_and_the_same_seed_draws_the_same_outcomes():
    settings = SandboxSettings(
        outcomes={"delivered": 1, "failed": 1}, seed=7, options={"max_batch": "3"}
    )
    kits = [
        SandboxKit(settings, outcomes=OUTCOMES, options=("max_batch",), counts={"max_batch": 1})
        for _ in range(2)
    ]

    assert kits[0].counts == {"max_batch": 3}
    assert (kits[0].dlr_retries, kits[0].dlr_retry_delay) == (5, 0.5)
    assert [kits[0].pick_outcome() for _ in range(20)] == [
        kits[1].pick_outcome() for _ in range(20)
    ]


def test_many_reports_due_at_once_are_pushed_a_few_at_a_time_and_all_arrive():
    receiver = SlowReceiver()
    sends = 300
    with LoopbackServer(receiver.app) as dlr:
        settings = SandboxSettings(dlr_url=f"{dlr.url}/dlr")
        with LoopbackServer(tiny_sandbox(settings)) as sandbox:
            with httpx.Client() as client:
                for _ in range(sends):
                    client.post(f"{sandbox.url}/send")
            wait_for(lambda: receiver.received == sends, timeout=60)

    assert 1 < receiver.most_in_flight <= PUSHES_AT_ONCE
