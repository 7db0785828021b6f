"""The workers inside the gateway: woken by an accept, stopped gracefully (both DBs)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from conftest import TOKEN, ServerThread
from dispatch_helpers import load, message, provider_toml, write_config
from fakevendor import FakeVendorPlugin, Fault

from smsgate.host.app import create_app
from smsgate.http import NOT_STARTED
from smsgate.storage.models import MessageStatus

pytest_plugins = ["dispatch_fixtures"]


def _gateway(
    database_url: str, vendor_url: str, tmp_path: Path, concurrency: int = 100, **dispatch: object
):
    providers = provider_toml("fake", vendor_url, concurrency=concurrency)
    path = write_config(tmp_path / "smsgate.toml", database_url, providers, dispatch)
    return ServerThread(create_app(load(path, FakeVendorPlugin())))


def _send(gateway: ServerThread, *message_ids: str) -> None:
    records = [
        {"to": "9845012345", "body": "Your OTP is 1234", "message_id": m} for m in message_ids
    ]
    response = httpx.post(
        f"{gateway.url}/clevertap/fake",
        json={"messages": records},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 202, response.text


def _wait_for(condition, seconds: float = 10.0) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, "condition not met in time"
        time.sleep(0.005)
    return time.monotonic() - start


def test_an_accepted_message_is_on_its_way_within_two_seconds(
    database_url: str, engine: sa.Engine, vendor, tmp_path: Path
) -> None:
    # A long poll interval: only the wake-up from the accept can meet the promise.
    with _gateway(database_url, vendor.url, tmp_path, poll_interval=30) as gateway:
        time.sleep(0.2)  # let the workers finish their first look and go idle
        _send(gateway, "otp-1")
        took = _wait_for(lambda: vendor.vendor.received()["otp-1"] == 1)
        _wait_for(lambda: message(engine, "otp-1").status == MessageStatus.SUBMITTED)

    assert took < 2.0


def test_shutdown_lets_the_batch_in_flight_finish(
    database_url: str, engine: sa.Engine, vendor, tmp_path: Path
) -> None:
    vendor.vendor.delay = 1.0
    with _gateway(database_url, vendor.url, tmp_path) as gateway:
        _send(gateway, "m1", "m2")
        _wait_for(lambda: len(vendor.vendor.received()) == 2)
    # The server has stopped: the answers that were in flight were recorded first.

    assert message(engine, "m1").status == MessageStatus.SUBMITTED
    assert message(engine, "m2").status == MessageStatus.SUBMITTED


def test_dispatch_can_be_switched_off(
    database_url: str, engine: sa.Engine, vendor, tmp_path: Path
) -> None:
    with _gateway(database_url, vendor.url, tmp_path, enabled=False) as gateway:
        _send(gateway, "m1")
        time.sleep(0.3)

    assert message(engine, "m1").status == MessageStatus.ACCEPTED
    assert vendor.vendor.received() == {}


def test_a_send_still_running_after_the_grace_period_is_left_unknown(
    database_url: str, engine: sa.Engine, vendor, tmp_path: Path
) -> None:
    vendor.vendor.delay = 2.0
    with _gateway(database_url, vendor.url, tmp_path, shutdown_grace=0.2) as gateway:
        _send(gateway, "m1")
        _wait_for(lambda: len(vendor.vendor.received()) == 1)

    row = message(engine, "m1")
    assert row.status == MessageStatus.UNKNOWN
    assert row.failure_description == "the gateway stopped while sending; the vendor may have it"


def test_a_shutdown_mid_batch_keeps_the_answers_in_hand_and_sends_nothing_twice(
    database_url: str, engine: sa.Engine, vendor, tmp_path: Path
) -> None:
    # One request at a time: m1 is answered at once, m2 hangs, m3 waits for its turn.
    vendor.vendor.fail_next(Fault(), Fault(delay=3.0))
    with _gateway(database_url, vendor.url, tmp_path, concurrency=1, shutdown_grace=0.2) as gw:
        _send(gw, "m1", "m2", "m3")
        _wait_for(lambda: len(vendor.vendor.received()) == 2)

    answered, hung, waiting = (message(engine, m) for m in ("m1", "m2", "m3"))
    assert (answered.status, answered.vendor_id) == (MessageStatus.SUBMITTED, "fv-1")
    assert hung.status == MessageStatus.UNKNOWN
    assert hung.failure_description == "the gateway stopped while sending; the vendor may have it"
    assert waiting.status == MessageStatus.ACCEPTED
    assert waiting.failure_description == NOT_STARTED
    assert vendor.vendor.received() == {"m1": 1, "m2": 1}
