"""Status lookups: when a message is asked about, what is learned, and when asking stops."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from conftest import CALLBACK_TOKEN, TOKEN
from delivery_helpers import FakeClock, relayed
from message_builders import START, accept, dispatch, message, relays
from stub_plugins import SendsNothing

from smsgate import DeliveryEvent, EventKind, hookimpl
from smsgate.config import load_config
from smsgate.delivery import DeliveryWorkers
from smsgate.delivery.lookup import claim_lookups, stale_messages
from smsgate.plugins import load_plugins

NICK = "looked"
AFTER = 900.0
GIVE_UP = 36000.0 + 86400.0


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def due(engine, at) -> list[str]:
    return [
        m.vendor_id
        for m in claim_lookups(engine, NICK, at, after=AFTER, give_up=GIVE_UP, limit=100)
    ]


def test_a_submitted_message_is_asked_about_after_lookup_after_then_at_doubling_intervals(
    engine,
):
    accept(engine, ["m1."], nickname=NICK)
    dispatch(engine, START, submitted={"m1.": "tx-1"}, nickname=NICK)

    assert due(engine, START + minutes(14)) == []
    assert due(engine, START + minutes(15)) == ["tx-1"]
    # Age 15 min: the next lookup comes 15 min later; then age 30 -> 30 min later.
    assert due(engine, START + minutes(29)) == []
    assert due(engine, START + minutes(30)) == ["tx-1"]
    assert due(engine, START + minutes(59)) == []
    assert due(engine, START + minutes(60)) == ["tx-1"]


def test_messages_with_a_final_report_or_past_their_validity_and_grace_are_not_asked_about(
    engine,
):
    accept(engine, ["final.", "old."], nickname=NICK)
    dispatch(engine, START, submitted={"old.": "tx-old"}, nickname=NICK, failed={"final.": "900"})

    assert due(engine, START + timedelta(seconds=GIVE_UP + 1)) == []
    stale = stale_messages(engine, START + timedelta(seconds=GIVE_UP + 1), give_up=GIVE_UP)
    assert [(s.message_id, s.status, s.vendor_id) for s in stale] == [
        ("old.", "submitted", "tx-old")
    ]
    assert stale_messages(engine, START + timedelta(seconds=GIVE_UP - 1), give_up=GIVE_UP) == []


def test_stale_messages_can_leave_out_the_unknown_ones_so_that_they_do_not_crowd_the_list(
    engine,
):
    # Stored in message id order: the unknown ones come first.
    accept(engine, ["a1.", "a2.", "old."], nickname=NICK)
    dispatch(engine, START, submitted={"old.": "tx-old"}, unknown=["a1.", "a2."], nickname=NICK)
    later = START + timedelta(seconds=GIVE_UP + 1)

    crowded = stale_messages(engine, later, give_up=GIVE_UP, limit=2)
    submitted = stale_messages(engine, later, give_up=GIVE_UP, limit=2, with_unknown=False)

    assert {s.status for s in crowded} == {"unknown"}
    assert [s.message_id for s in submitted] == ["old."]


class Vendor(SendsNothing):
    """A plugin whose vendor knows the fate of some transactions."""

    def __init__(self, known: dict[str, EventKind] | None = None, broken: bool = False) -> None:
        self.known = known or {}
        self.broken = broken
        self.asked: list[list[str]] = []

    @hookimpl
    def parse_callback(self, request, options):
        return []

    @hookimpl
    def lookup_status(self, messages, client, options):
        self.asked.append([m.vendor_id for m in messages])
        if self.broken:
            raise RuntimeError("vendor API changed")
        return [
            DeliveryEvent(
                vendor_id=m.vendor_id,
                kind=self.known[m.vendor_id],
                occurred_at=START + minutes(3),
                code="916" if self.known[m.vendor_id] is EventKind.FAILED else None,
                description="from the status API",
            )
            for m in messages
            if m.vendor_id in self.known
        ]


def run_lookup(engine, database_url, tmp_path, vendor: Vendor, at) -> int:
    path = tmp_path / "lookup.toml"
    path.write_text(
        f"""\
[gateway]
database_url = "{database_url}"
[providers.{NICK}]
plugin = "vendor"
token = "{TOKEN}"
callback_token = "{CALLBACK_TOKEN}"
clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"
"""
    )
    config = load_config(path, load_plugins(use_entry_points=False, extra={"vendor": vendor}))
    clock = FakeClock(at)

    async def main() -> int:
        async with httpx.AsyncClient() as client:
            workers = DeliveryWorkers(config, engine, client=client, clock=clock)
            return await workers.lookup_once(NICK)

    return asyncio.run(main())


def test_what_a_lookup_learns_goes_the_way_of_a_pushed_report(engine, database_url, tmp_path):
    accept(engine, ["m1.", "m2.", "m3."], nickname=NICK)
    dispatch(engine, START, submitted={"m1.": "tx-1", "m2.": "tx-2", "m3.": "tx-3"}, nickname=NICK)
    vendor = Vendor({"tx-1": EventKind.DELIVERED, "tx-2": EventKind.FAILED})

    learned = run_lookup(engine, database_url, tmp_path, vendor, START + minutes(16))

    assert learned == 2
    assert sorted(vendor.asked[0]) == ["tx-1", "tx-2", "tx-3"]
    assert [message(engine, m).status for m in ("m1.", "m2.", "m3.")] == [
        "delivered",
        "failed",
        "submitted",
    ]
    assert sorted((event, meta) for event, meta, _ in relayed(engine)) == [
        ("delivered", "m1."),
        ("failed", "m2."),
    ]
    assert {row.record["ts"] for row in relays(engine)} == {int((START + minutes(3)).timestamp())}


@pytest.mark.parametrize("vendor", [Vendor(), Vendor(broken=True)], ids=["silent", "broken"])
def test_a_lookup_that_learns_nothing_invents_no_failure(engine, database_url, tmp_path, vendor):
    accept(engine, ["m1."], nickname=NICK)
    dispatch(engine, START, submitted={"m1.": "tx-1"}, nickname=NICK)

    learned = run_lookup(engine, database_url, tmp_path, vendor, START + minutes(16))

    assert learned == 0
    assert message(engine, "m1.").status == "submitted"
    assert relays(engine) == []
