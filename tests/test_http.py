"""smsgate.http: which requests can have reached a vendor, what statuses mean, Retry-After.

Answers and a refused connection come over real loopback HTTP; the timeouts and the dropped
connection, which no server shows on demand, come from ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from conftest import free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from smsgate import Outcome, SendResult, VendorRequest
from smsgate.http import (
    NOT_STARTED,
    NoAnswer,
    StatusClass,
    classify_status,
    parse_http_date,
    parse_retry_after,
    perform,
    send_each,
)
from smsgate.testing.server import LoopbackServer

TIMEOUT = httpx.Timeout(5.0)


def answer(**headers: str) -> httpx.Response:
    return httpx.Response(429, headers=headers)


# --- Retry-After ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "Infinity", "1e999", "nan", "-3"])
def test_retry_after_that_is_no_finite_wait_is_ignored(value):
    assert parse_retry_after(answer(**{"Retry-After": value})) is None


@pytest.mark.parametrize(("value", "seconds"), [("7", 7.0), (" 2.5 ", 2.5), ("0", 0.0)])
def test_retry_after_in_seconds_is_that_many_seconds(value, seconds):
    assert parse_retry_after(answer(**{"Retry-After": value})) == seconds


def test_retry_after_as_a_date_is_measured_on_the_servers_clock():
    response = answer(
        **{"Retry-After": "Wed, 21 Oct 2015 07:30:00 GMT", "Date": "Wed, 21 Oct 2015 07:28:00 GMT"}
    )

    assert parse_retry_after(response) == 120.0


def test_retry_after_as_a_date_without_a_date_header_is_measured_on_this_machines_clock():
    later = datetime(2100, 1, 1, tzinfo=UTC)

    wait = parse_retry_after(answer(**{"Retry-After": "Fri, 01 Jan 2100 00:00:00 GMT"}))

    assert wait is not None
    assert abs(wait - (later - datetime.now(UTC)).total_seconds()) < 60


def test_a_retry_after_date_in_the_past_means_no_wait():
    response = answer(
        **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT", "Date": "Wed, 21 Oct 2015 07:30:00 GMT"}
    )

    assert parse_retry_after(response) == 0.0


@pytest.mark.parametrize("value", ["", "soon", "-5", "Someday, 99 Nov 2026"])
def test_a_missing_negative_or_unreadable_retry_after_is_ignored(value):
    assert parse_retry_after(answer(**{"Retry-After": value})) is None
    assert parse_retry_after(httpx.Response(429)) is None


def test_an_http_date_is_read_in_utc_and_garbage_is_none():
    assert parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT") == datetime(
        2015, 10, 21, 7, 28, tzinfo=UTC
    )
    assert parse_http_date("Wed, 21 Oct 2015 07:28:00 -0000") == datetime(
        2015, 10, 21, 7, 28, tzinfo=UTC
    )
    assert parse_http_date("yesterday") is None
    assert parse_http_date("") is None


# --- Status classes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, StatusClass.ANSWERED),
        (202, StatusClass.ANSWERED),
        (301, StatusClass.REDIRECT),
        (307, StatusClass.REDIRECT),
        (400, StatusClass.REFUSED),
        (401, StatusClass.UNUSABLE),
        (402, StatusClass.REFUSED),
        (403, StatusClass.UNUSABLE),
        (404, StatusClass.REFUSED),
        (408, StatusClass.BUSY),
        (429, StatusClass.BUSY),
        (500, StatusClass.SERVER_ERROR),
        (502, StatusClass.BUSY),
        (503, StatusClass.BUSY),
        (504, StatusClass.SERVER_ERROR),
        (599, StatusClass.SERVER_ERROR),
    ],
)
def test_each_status_falls_in_its_class(status, kind):
    assert classify_status(status) is kind


def test_a_vendor_may_name_its_own_account_refusals():
    assert classify_status(402, unusable={401, 402, 403}) is StatusClass.UNUSABLE
    assert classify_status(403, unusable={402}) is StatusClass.REFUSED
    # Busy wins: a 429 is never the account's fault.
    assert classify_status(429, unusable={429}) is StatusClass.BUSY


# --- Performing a request ---------------------------------------------------------------------


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(
        f"{request.method} {request.url.query} {(await request.body()).decode()}",
        status_code=503,
        headers={"Location": "/elsewhere"},
    )


def request(
    url: str, params: dict[str, str] | None = None, data: dict[str, str] | None = None
) -> VendorRequest:
    return VendorRequest(method="POST", url=url, message_ids=(1, 2), params=params, data=data)


def test_an_answer_of_any_status_is_given_back_as_it_came():
    app = Starlette(routes=[Route("/send", echo, methods=["POST"])])
    with LoopbackServer(app) as server:

        async def go() -> httpx.Response | NoAnswer:
            async with httpx.AsyncClient() as client:
                return await perform(
                    request(f"{server.url}/send", params={"a": "1"}, data={"b": "2"}),
                    client,
                    TIMEOUT,
                )

        response = asyncio.run(go())

    assert isinstance(response, httpx.Response)
    assert (response.status_code, response.text) == (503, "POST a=1 b=2")


def test_a_refused_connection_certainly_did_not_reach_the_vendor():
    async def go() -> httpx.Response | NoAnswer:
        async with httpx.AsyncClient() as client:
            return await perform(request(f"http://127.0.0.1:{free_port()}/"), client, TIMEOUT)

    failure = asyncio.run(go())

    assert isinstance(failure, NoAnswer)
    assert not failure.may_have_arrived
    assert failure.result(7, "r").outcome is Outcome.RETRY
    assert failure.reason("Acme").startswith("Acme not reached (ConnectError")


def failing(error: httpx.HTTPError) -> NoAnswer:
    def raise_it(request: httpx.Request) -> httpx.Response:
        raise error

    async def go() -> httpx.Response | NoAnswer:
        async with httpx.AsyncClient(transport=httpx.MockTransport(raise_it)) as client:
            return await perform(request("http://vendor.test/send"), client, TIMEOUT)

    failure = asyncio.run(go())
    assert isinstance(failure, NoAnswer)
    return failure


@pytest.mark.parametrize(
    "error", [httpx.ConnectTimeout("connect"), httpx.PoolTimeout("pool"), httpx.ConnectError("")]
)
def test_a_request_that_never_left_is_retried(error):
    failure = failing(error)

    assert failure.result(1, "why").outcome is Outcome.RETRY
    assert failure.reason("Acme") == f"Acme not reached ({type(error).__name__}" + (
        f": {error})" if str(error) else ")"
    )


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("read"),
        httpx.WriteTimeout("write"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("reset"),
    ],
)
def test_a_request_that_may_have_left_is_unknown(error):
    failure = failing(error)

    assert failure.may_have_arrived
    assert failure.result(1, "why").outcome is Outcome.UNKNOWN
    assert failure.reason("Acme", messages="the messages") == (
        f"no answer from Acme ({type(error).__name__}: {error}); the messages may have been taken"
    )


def _requests(count: int) -> list[VendorRequest]:
    return [
        VendorRequest("POST", f"https://vendor.test/{n}", message_ids=(n,)) for n in range(count)
    ]


def test_send_each_reports_each_result_as_it_comes_and_returns_them_in_order():
    reported: list[SendResult] = []
    finish_order = [2, 0, 1]

    async def send(request: VendorRequest) -> list[SendResult]:
        (message,) = request.message_ids
        await asyncio.sleep(0.01 * finish_order.index(message))
        return [SendResult.submitted(message, f"v{message}")]

    results = asyncio.run(send_each(_requests(3), send, concurrency=3, progress=reported.append))

    assert [r.message for r in results] == [0, 1, 2]
    assert [r.message for r in reported] == finish_order


def test_send_each_runs_at_most_concurrency_requests_at_once():
    running = peak = 0

    async def send(request: VendorRequest) -> list[SendResult]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return [SendResult.submitted(request.message_ids[0], "v")]

    asyncio.run(send_each(_requests(7), send, concurrency=2, progress=lambda result: None))

    assert peak == 2


def test_a_cancelled_send_each_reports_the_requests_that_never_started_as_retries():
    reported: list[SendResult] = []

    async def send(request: VendorRequest) -> list[SendResult]:
        (message,) = request.message_ids
        if message == 1:
            await asyncio.sleep(60)  # the vendor never answers this one
        return [SendResult.submitted(message, f"v{message}")]

    async def cut_short() -> None:
        batch = send_each(_requests(4), send, concurrency=1, progress=reported.append)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(batch, timeout=0.2)

    asyncio.run(cut_short())

    assert sorted((r.message, r.outcome, r.reason) for r in reported) == [
        (0, Outcome.SUBMITTED, None),
        (2, Outcome.RETRY, NOT_STARTED),
        (3, Outcome.RETRY, NOT_STARTED),
    ]


def test_a_request_that_raises_stops_send_each_before_the_rest_are_sent():
    reported: list[SendResult] = []
    started: list[int] = []

    async def send(request: VendorRequest) -> list[SendResult]:
        (message,) = request.message_ids
        started.append(message)
        if message == 1:
            raise KeyError("a bug in the plugin")
        return [SendResult.submitted(message, f"v{message}")]

    with pytest.raises(KeyError, match="a bug in the plugin"):
        asyncio.run(send_each(_requests(4), send, concurrency=1, progress=reported.append))

    assert started == [0, 1]
    assert sorted((r.message, r.outcome, r.reason) for r in reported) == [
        (0, Outcome.SUBMITTED, None),
        (2, Outcome.RETRY, NOT_STARTED),
        (3, Outcome.RETRY, NOT_STARTED),
    ]
