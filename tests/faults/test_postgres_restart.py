"""PostgreSQL stopped mid-run and started again: /readyz tells the truth, no 202 while it is
down, and the gateway carries on without a restart, losing and repeating nothing.

The database is a private cluster (see ``private_postgres``), never the shared server.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fault_invariants import MESSAGES, assert_invariants, observe, settled, wait_for
from fault_scene import (
    Client,
    Poster,
    gateway_in_process,
    scene,
    texts,
)
from private_postgres import PrivatePostgres, unavailable

from smsgate.storage.database import create_engine

pytestmark = pytest.mark.faults

#: How long the database stays down.
DOWN = 2.0
#: Leases that outlast the outage: a write that fails while the database is down is retried
#: while the lease holds (see smsgate.storage.retry).
LEASES: dict[str, Any] = {
    "dispatch": {"lease": 6.0, "send_timeout": 5.0},
    "delivery": {"relay_lease": 6.0, "relay_timeout": 2.5},
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivatePostgres]:
    reason = unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"a private PostgreSQL cluster is required in CI: {reason}")
        pytest.skip(f"no private PostgreSQL cluster: {reason}")
    cluster = PrivatePostgres()
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def engine(cluster: PrivatePostgres) -> Iterator[sa.Engine]:
    """An engine on a new database of the private cluster, started if a test left it down."""
    if not cluster.is_running():
        cluster.start()
    engine = create_engine(cluster.create_database())
    yield engine
    engine.dispose()


def url_of(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_a_postgresql_restart_mid_run_is_ridden_out_without_restarting_the_gateway(
    cluster: PrivatePostgres, engine: sa.Engine, tmp_path: Path
) -> None:
    readiness: list[tuple[int, str]] = []
    with scene(url_of(engine), tmp_path, **LEASES) as (url, port, vendor, clevertap, config):
        client = Client(url)
        with (
            gateway_in_process(config, port),
            Poster(client, "pg-restart", 10, pause=0.05, stop_on_error=False) as poster,
        ):
            wait_for(lambda: poster.answered() >= 3, "messages flowing")
            cluster.stop()
            down_at = time.monotonic()
            while time.monotonic() - down_at < DOWN:
                answer = httpx.get(f"{url}/readyz", timeout=5)
                readiness.append((answer.status_code, answer.json()["database"]))
                time.sleep(0.1)
            up_at = time.monotonic()
            cluster.start()
            wait_for(
                lambda: httpx.get(f"{url}/readyz").status_code == 200,
                "the gateway to be ready again",
            )
            answered = poster.answered()
            wait_for(lambda: poster.answered() >= answered + 3, "messages flowing again")
            poster.stop()
            wait_for(lambda: settled(engine, vendor.url), "everything to settle")
        seen = observe(engine, vendor.url, clevertap.records())

    assert_invariants(seen, client.sent)
    # /readyz said "not ready" the whole time the database was down.
    assert readiness
    assert all(status == 503 and "unreachable" in why for status, why in readiness), readiness
    # No request made while it was down was answered 202: each got a 503 it can retry.
    during = [a for a in client.answers if down_at <= a.started and a.ended <= up_at]
    assert during, "the client should have posted while the database was down"
    assert {a.status for a in during} == {503}


def test_a_vendor_answer_that_comes_while_the_database_is_down_is_recorded_once_it_is_back(
    cluster: PrivatePostgres, engine: sa.Engine, tmp_path: Path
) -> None:
    with scene(url_of(engine), tmp_path, **LEASES) as (url, port, vendor, clevertap, config):
        client = Client(url)
        # The vendor takes the message at once and answers 1.5 s later.
        httpx.post(f"{vendor.url}/sandbox/faults", json={"delay": 1.5}).raise_for_status()
        with gateway_in_process(config, port):
            assert client.post(texts("held", 1)) == 202
            wait_for(lambda: observe(engine, vendor.url).vendor, "the send at the vendor")
            cluster.stop()
            time.sleep(DOWN)  # the answer comes meanwhile; it cannot be written yet
            cluster.start()
            wait_for(lambda: settled(engine, vendor.url), "everything to settle")
        seen = observe(engine, vendor.url, clevertap.records())

    assert_invariants(seen, client.sent)
    # Submitted under the vendor's id (and its report matched and relayed), not "unknown".
    with engine.connect() as connection:
        row = connection.execute(sa.select(MESSAGES)).one()
    assert row.vendor_id == seen.vendor[0]["transactionId"]
    assert row.status in ("delivered", "failed")
    assert len(seen.clevertap) == 1


def test_a_batch_clevertap_took_while_the_database_was_down_is_not_sent_to_it_again(
    cluster: PrivatePostgres, engine: sa.Engine, tmp_path: Path
) -> None:
    with scene(url_of(engine), tmp_path, **LEASES) as (url, port, vendor, clevertap, config):
        client = Client(url)
        # CleverTap takes the POST at once and answers 1.5 s later.
        clevertap.latency(1.5)
        with gateway_in_process(config, port):
            assert client.post(texts("relayed", 1)) == 202
            wait_for(
                lambda: httpx.get(f"{clevertap.url}/_fake/received").json()["requests"],
                "the relay's POST at CleverTap",
            )
            cluster.stop()
            time.sleep(DOWN)  # CleverTap answers meanwhile; the gateway cannot write it down
            cluster.start()
            # Were CleverTap's answer lost, the record would be pending until its lease ran
            # out, and then sent again.
            wait_for(lambda: settled(engine, vendor.url), "everything to settle")
        seen = observe(engine, vendor.url, clevertap.records())

    assert_invariants(seen, client.sent)
    assert len(seen.clevertap) == 1
