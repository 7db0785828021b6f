"""A vendor behind a network that fails a third of the time: nothing lost, nothing sent twice."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import free_port
from fault_invariants import assert_invariants, observe, settled, wait_for
from fault_scene import Client, gateway_in_process, texts, vendor_and_clevertap, write_config
from vendor_front import Fault, FaultyVendor

from smsgate.storage.models import MessageEvent

pytestmark = pytest.mark.faults

#: Short, so that the test is; long enough that only a ``timeout`` fault runs past it.
READ_TIMEOUT = 3.0
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
#: Faults after which nobody can know whether the vendor took the message.
UNSURE = (Fault.RESET_BEFORE, Fault.ERROR_AFTER, Fault.TIMEOUT, Fault.RESET_AFTER)
TAKEN_UNSURE = (Fault.ERROR_AFTER, Fault.TIMEOUT, Fault.RESET_AFTER)
#: Faults that say the vendor did not take it.
REFUSED = (Fault.UNAVAILABLE, Fault.THROTTLED)


def test_a_vendor_failing_a_third_of_the_time_loses_nothing_and_sends_nothing_twice(
    database_url: str, engine: sa.Engine, tmp_path: Path
) -> None:
    port = free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    client = Client(gateway_url)
    with (
        vendor_and_clevertap(gateway_url) as (vendor, clevertap),
        # Held past the plugin's read timeout.
        FaultyVendor(vendor.url, hold=READ_TIMEOUT + 0.5) as front,
    ):
        config = write_config(
            tmp_path / "smsgate.toml",
            database_url,
            front.url,
            clevertap.callback_url,
            dispatch={"send_timeout": READ_TIMEOUT + 1, "lease": READ_TIMEOUT + 2},
            options={"read_timeout": READ_TIMEOUT},
        )
        with gateway_in_process(config, port):
            for batch in range(3):
                assert client.post(texts("vendor-faults", 20, start=20 * batch)) == 202
            wait_for(lambda: settled(engine, vendor.url), "every message and report to settle")
        seen = observe(engine, vendor.url, clevertap.records())

    summary = assert_invariants(seen, client.sent)

    assert summary.stored == 60
    # Every kind of fault was dealt, to about 30 % of the requests.
    assert set(front.dealt) == set(Fault)
    assert 0.2 <= sum(front.dealt[f] for f in (*UNSURE, *REFUSED)) / front.dealt.total() <= 0.4
    # Refused requests were retried (and their messages sent in the end); a request that may
    # have reached the vendor left its message unknown, never resent.
    with engine.connect() as connection:
        kinds = list(connection.execute(sa.select(EVENTS.c.kind)).scalars())
    assert kinds.count("retry") == sum(front.dealt[f] for f in REFUSED)
    assert summary.statuses["unknown"] == sum(front.dealt[f] for f in UNSURE)
    # The reports the vendor sent for those it took wait in the inbox, unmatched, not lost.
    assert summary.waiting_reports == sum(front.dealt[f] for f in TAKEN_UNSURE)
    # The rest were sent, once each (a report may still be on its way for one of them).
    sent = sum(summary.statuses[status] for status in ("delivered", "failed", "submitted"))
    assert sent == 60 - sum(front.dealt[f] for f in UNSURE)
