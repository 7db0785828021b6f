"""Relaying to CleverTap: batches in its format, and what each kind of answer does.

CleverTap is a fake over real HTTP (``ct_recorder``); timeouts and refused connections,
which no server can be made to show reliably, go through ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
from conftest import ServerThread
from ct_recorder import CleverTapRecorder
from delivery_helpers import FakeClock, write_config
from message_builders import NICK, START, accept, dispatch, relays, report

from smsgate.delivery import DeliveryWorkers
from smsgate.delivery.matching import store_reports
from smsgate.delivery.relay import RelayReport
from smsgate.types import EventKind

T = TypeVar("T")


@pytest.fixture(scope="module")
def clevertap() -> Iterator[tuple[CleverTapRecorder, str]]:
    recorder = CleverTapRecorder()
    with ServerThread(recorder.app()) as server:
        yield recorder, f"{server.url}/sms/generic?account=TEST-ACC"


@pytest.fixture
def ct(clevertap):
    recorder, url = clevertap
    with recorder.lock:
        recorder.posts.clear()
        recorder.answers.clear()
        recorder.refused = 0
        recorder.down = False
    return recorder, url


class Relay:
    """Delivery workers on a fake clock, driven one step at a time."""

    def __init__(self, engine, config, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.engine = engine
        self.config = config
        self.clock = FakeClock()
        self.transport = transport

    def run(self, work: Callable[[DeliveryWorkers], Awaitable[T]]) -> T:
        async def main() -> T:
            async with httpx.AsyncClient(transport=self.transport) as client:
                workers = DeliveryWorkers(
                    self.config,
                    self.engine,
                    client=client,
                    clock=self.clock,
                    random=lambda: 0.0,
                    owner="relay-test",
                )
                return await work(workers)

        return asyncio.run(main())

    def once(self) -> RelayReport:
        return self.run(lambda workers: workers.relay_once(NICK))


@pytest.fixture
def make_relay(engine, database_url, tmp_path):
    def make(url: str, transport: httpx.AsyncBaseTransport | None = None, **delivery: Any) -> Relay:
        config = write_config(tmp_path / "smsgate.toml", database_url, url, delivery=delivery)
        return Relay(engine, config, transport)

    return make


def finals(engine, delivered: int, failed: int) -> list[str]:
    """Messages with final reports of each kind queued for CleverTap; their message ids."""
    ids = [f"d{i}." for i in range(delivered)] + [f"f{i}." for i in range(failed)]
    accept(engine, ids)
    dispatch(engine, submitted={m: f"tx-{m}" for m in ids})
    reports = [report(f"tx-d{i}.", description="DELIVRD") for i in range(delivered)] + [
        report(f"tx-f{i}.", EventKind.FAILED, code="914", description="UNDELIV")
        for i in range(failed)
    ]
    store_reports(engine, NICK, reports, START)
    return ids


def test_records_go_in_posts_of_at_most_100_grouped_by_event_in_clevertaps_format(
    engine, ct, make_relay
):
    recorder, url = ct
    finals(engine, delivered=60, failed=70)
    relay = make_relay(url)

    first, second, third = relay.once(), relay.once(), relay.once()

    assert [first.claimed, second.claimed, third.claimed] == [100, 30, 0]
    assert [sum(len(group["data"]) for group in post) for post in recorder.posts] == [100, 30]
    for post in recorder.posts:
        assert [group["event"] for group in post] == sorted(
            {group["event"] for group in post}, key=["delivered", "failed"].index
        )
    received = recorder.records()
    assert len(received) == 130
    assert len({record["meta"] for _, record in received}) == 130
    ts = int(START.timestamp())
    assert ("delivered", {"ts": ts, "meta": "d0.", "description": "DELIVRD"}) in received
    assert (
        "failed",
        {"ts": ts, "meta": "f0.", "code": "914", "description": "UNDELIV"},
    ) in received
    assert {row.state for row in relays(engine)} == {"done"}


def test_records_clevertap_lists_as_unprocessed_are_dead_with_its_reason(engine, ct, make_relay):
    recorder, url = ct
    finals(engine, delivered=2, failed=1)
    refused = {
        "status": "partial",
        "processed": 2,
        "unprocessed": [
            {
                "status": "fail",
                "code": 400,
                "error": "Bad Request. Some mandatory parameter was missing",
                "record": {"event": "failed", "data": [{"meta": "f0.", "ts": 1}]},
            }
        ],
    }
    recorder.answers.append((200, refused))
    relay = make_relay(url)

    done = relay.once()

    assert (done.done, done.dead) == (2, 1)
    states = {row.record["meta"]: (row.state, row.last_error) for row in relays(engine)}
    assert states["d0."] == ("done", None)
    assert states["f0."][0] == "dead"
    assert "mandatory parameter was missing" in states["f0."][1]
    assert relay.once().claimed == 0


def test_a_4xx_kills_the_batch_visibly_and_it_is_never_sent_again(engine, ct, make_relay):
    recorder, url = ct
    finals(engine, delivered=2, failed=0)
    recorder.answers.append((400, {"status": "error", "message": "Bad request"}))
    relay = make_relay(url)

    first = relay.once()
    relay.clock.advance(7 * 24 * 3600)
    second = relay.once()

    assert (first.dead, second.claimed) == (2, 0)
    assert {row.state for row in relays(engine)} == {"dead"}
    assert all("HTTP 400" in row.last_error for row in relays(engine))


def test_a_200_carrying_an_error_body_kills_the_batch_visibly(engine, ct, make_relay):
    recorder, url = ct
    finals(engine, delivered=1, failed=1)
    error = {"status": "error", "message": "Bad request.", "error_code": 400}
    recorder.answers.append((200, error))
    relay = make_relay(url)

    first = relay.once()

    assert (first.done, first.dead) == (0, 2)
    assert all("took nothing" in row.last_error for row in relays(engine))
    assert relay.once().claimed == 0


def test_a_5xx_is_retried_after_the_first_delay_doubling_each_time(engine, ct, make_relay):
    recorder, url = ct
    finals(engine, delivered=1, failed=0)
    recorder.answers += [(503, {"status": "error"}), (500, {"status": "error"})]
    relay = make_relay(url)

    assert relay.once().retried == 1
    assert relays(engine)[0].next_attempt_at == START + timedelta(seconds=600)
    relay.clock.advance(599)
    assert relay.once().claimed == 0
    relay.clock.advance(1)
    assert relay.once().retried == 1
    assert relays(engine)[0].next_attempt_at == relay.clock.now + timedelta(seconds=1200)
    relay.clock.advance(1200)
    assert relay.once().done == 1

    assert [record["meta"] for _, record in recorder.records()] == ["d0."]
    assert relays(engine)[0].attempts == 3


def test_a_retry_after_longer_than_the_backoff_is_honoured(engine, ct, make_relay):
    recorder, url = ct
    finals(engine, delivered=1, failed=0)
    recorder.answers.append((429, {"status": "error"}))
    relay = make_relay(url, relay_first_delay=1.0)

    relay.once()

    assert relays(engine)[0].state == "pending"
    assert relays(engine)[0].next_attempt_at == START + timedelta(seconds=1)


@pytest.mark.parametrize("seconds", ["1e12", "99999999999"])
def test_a_retry_after_of_years_waits_the_backoff_cap_instead_of_breaking_the_relay(
    engine, make_relay, seconds
):
    finals(engine, delivered=1, failed=0)
    answer = httpx.Response(503, headers={"Retry-After": seconds}, text="maintenance")
    relay = make_relay(
        "https://ct.invalid/sms/generic",
        transport=httpx.MockTransport(lambda _: answer),
        relay_backoff_cap=3600,
    )

    relay.once()

    row = relays(engine)[0]
    assert row.state == "pending"
    assert row.next_attempt_at == START + timedelta(seconds=3600)


def raising(error: type[httpx.HTTPError]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("simulated", request=request)  # type: ignore[call-arg]

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    "error", [httpx.ReadTimeout, httpx.ConnectError, httpx.RemoteProtocolError]
)
def test_timeouts_and_connection_errors_are_retried_later(engine, make_relay, error):
    finals(engine, delivered=1, failed=0)
    relay = make_relay("https://ct.invalid/sms/generic", transport=raising(error))

    result = relay.once()

    row = relays(engine)[0]
    assert (result.retried, row.state) == (1, "pending")
    assert row.last_error.startswith(f"CleverTap not reached: {error.__name__}")
    assert row.next_attempt_at == START + timedelta(seconds=600)


def test_an_answer_still_coming_after_relay_timeout_is_a_timeout_retried_later(engine, make_relay):
    # Each read in time, the whole answer too late: the lease must not run out mid-POST.
    async def trickling(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={"status": "success"})

    finals(engine, delivered=1, failed=0)
    relay = make_relay(
        "https://ct.invalid/sms/generic",
        transport=httpx.MockTransport(trickling),
        relay_timeout=0.2,
        relay_lease=2,
    )

    result = relay.once()

    row = relays(engine)[0]
    assert (result.retried, row.state) == (1, "pending")
    assert row.last_error == "CleverTap not reached: no whole answer within 0.2 s"


def test_a_record_never_accepted_within_the_give_up_time_is_dead_with_the_last_error(
    engine, make_relay
):
    finals(engine, delivered=1, failed=0)
    relay = make_relay(
        "https://ct.invalid/sms/generic",
        transport=raising(httpx.ConnectError),
        relay_first_delay=3600,
        relay_give_up_after=9000,  # 2.5 h: the doubled delay after 1 h would overshoot it
    )

    queued = relays(engine)[0].created_at
    tries = []
    while relays(engine)[0].state == "pending":
        tries.append(relay.clock.now - queued)
        relay.once()
        relay.clock.now = relays(engine)[0].next_attempt_at

    row = relays(engine)[0]
    assert row.state == "dead"
    assert row.last_error.startswith(f"gave up after {len(tries)} attempts: CleverTap not")
    # Tried until the give-up time itself, not given up when a retry would fall beyond it.
    assert tries == [timedelta(0), timedelta(hours=1), timedelta(seconds=9000)]


def test_a_redirect_is_dead_and_names_the_setting_to_fix(engine, make_relay):
    finals(engine, delivered=1, failed=0)
    moved = httpx.MockTransport(
        lambda request: httpx.Response(301, headers={"location": "https://eu1.example/x"})
    )
    relay = make_relay("https://ct.invalid/sms/generic", transport=moved)

    relay.once()

    row = relays(engine)[0]
    assert row.state == "dead"
    assert "clevertap_callback_url" in row.last_error
