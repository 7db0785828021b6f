"""Moving messages to a nickname's fallback when its vendor cannot take them (both DBs)."""

from __future__ import annotations

from dispatch_helpers import RigFactory, circuit, events, kinds, message, provider_toml, texts
from fakevendor import Fault

from smsgate.storage.models import MessageStatus

pytest_plugins = ["dispatch_fixtures"]


def _pair(url: str, *, fallback_back: bool = False) -> str:
    """``fake`` falling back on ``spare``; both on the fake vendor, with their own keys."""
    return provider_toml("fake", url, fallback="spare") + provider_toml(
        "spare", url, api_key="spare-key", fallback="fake" if fallback_back else None
    )


def test_bad_credentials_move_the_message_to_the_fallback_with_an_event(
    make_rig: RigFactory, vendor
) -> None:
    rig = make_rig(providers=_pair(vendor.url))
    rig.accept(texts(1))
    rig.vendor.bad_keys.add("good-key")

    moved = rig.dispatch("fake")
    row = message(rig.engine, "m0")
    sent = rig.dispatch("spare")

    assert moved.rerouted == 1
    assert (row.status, row.route, row.nickname, row.attempts) == (
        MessageStatus.ACCEPTED,
        "spare",
        "fake",
        0,
    )
    rerouted = events(rig.engine, "m0")[1]
    assert rerouted.kind == "rerouted"
    assert rerouted.payload["from"] == "fake" and rerouted.payload["to"] == "spare"
    assert "bad credentials" in rerouted.description
    assert sent.submitted == 1
    assert message(rig.engine, "m0").status == MessageStatus.SUBMITTED
    assert message(rig.engine, "m0").nickname == "fake"  # reports still go through `fake`
    assert rig.vendor.refs("spare-key") == ["m0"]
    assert kinds(rig.engine, "m0") == ["sending", "rerouted", "sending", "submitted"]


def test_messages_waiting_behind_an_unusable_vendor_move_at_once(
    make_rig: RigFactory, vendor
) -> None:
    rig = make_rig(providers=_pair(vendor.url), batch_size=2)
    rig.accept(texts(5))
    rig.vendor.broke_keys.add("good-key")

    first = rig.dispatch("fake")
    rest = rig.dispatch("fake")
    rig.dispatch("spare")
    rig.dispatch("spare")
    rig.dispatch("spare")

    assert (first.rerouted, rest.claimed, rest.moved) == (2, 0, 3)
    assert circuit(rig.engine, "fake") == "open"
    assert sorted(rig.vendor.refs("spare-key")) == [f"m{i}" for i in range(5)]
    assert sorted(rig.vendor.refs("good-key")) == ["m0", "m1"]


def test_a_circuit_open_past_fallback_after_moves_the_waiting_messages(
    make_rig: RigFactory, vendor
) -> None:
    rig = make_rig(
        providers=_pair(vendor.url),
        breaker_threshold=1,
        breaker_cooldown=600,
        fallback_after=60,
        batch_size=1,
    )
    rig.accept(texts(3))
    rig.vendor.fail_next(Fault(503))
    rig.dispatch("fake")
    assert circuit(rig.engine, "fake") == "open"

    rig.clock.advance(59)
    early = rig.dispatch("fake")
    rig.clock.advance(1)
    due = rig.dispatch("fake")

    assert early.moved == 0
    assert due.moved == 3
    assert {message(rig.engine, f"m{i}").route for i in range(3)} == {"spare"}
    assert "circuit open" in events(rig.engine, "m2")[-1].description


def test_waiting_messages_stay_while_the_fallbacks_circuit_is_open_too(
    make_rig: RigFactory, vendor
) -> None:
    rig = make_rig(
        providers=_pair(vendor.url),
        breaker_threshold=1,
        breaker_cooldown=600,
        fallback_after=60,
        batch_size=1,
    )
    rig.accept(texts(1, prefix="s"), nickname="spare")
    rig.vendor.fail_next(Fault(503))
    rig.dispatch("spare")
    rig.accept(texts(3))
    rig.vendor.fail_next(Fault(503))
    rig.dispatch("fake")
    assert (circuit(rig.engine, "fake"), circuit(rig.engine, "spare")) == ("open", "open")

    rig.clock.advance(60)
    held = rig.dispatch("fake")
    rig.clock.advance(600)
    rig.dispatch("spare")  # the probe gets through: the fallback's circuit closes
    moved = rig.dispatch("fake")

    assert held.moved == 0
    assert {message(rig.engine, f"m{i}").route for i in (1, 2)} == {"spare"}
    assert moved.moved >= 2


def test_a_message_whose_fate_is_unknown_never_fails_over(make_rig: RigFactory, vendor) -> None:
    rig = make_rig(providers=_pair(vendor.url), batch_size=1)
    rig.accept(texts(2))
    rig.vendor.fail_next(Fault(500))
    rig.dispatch("fake")
    rig.vendor.bad_keys.add("good-key")

    rig.dispatch("fake")
    rig.dispatch("spare")
    rig.dispatch("spare")

    unknown = message(rig.engine, "m0")
    assert (unknown.status, unknown.route) == (MessageStatus.UNKNOWN, "fake")
    assert "rerouted" not in kinds(rig.engine, "m0")
    assert rig.vendor.refs("spare-key") == ["m1"]


def test_a_moved_message_is_not_moved_back(make_rig: RigFactory, vendor) -> None:
    rig = make_rig(providers=_pair(vendor.url, fallback_back=True))
    rig.accept(texts(1))
    rig.vendor.bad_keys.update({"good-key", "spare-key"})

    rig.dispatch("fake")
    rig.dispatch("spare")
    rig.dispatch("fake")

    row = message(rig.engine, "m0")
    assert (row.status, row.route, row.failure_description) == (
        MessageStatus.FAILED,
        "spare",
        "bad credentials",
    )
    assert kinds(rig.engine, "m0").count("rerouted") == 1


def test_without_a_fallback_bad_credentials_fail_the_message(make_rig: RigFactory) -> None:
    rig = make_rig()
    rig.accept(texts(1))
    rig.vendor.bad_keys.add("good-key")

    rig.dispatch()

    row = message(rig.engine, "m0")
    assert (row.status, row.failure_code, row.route) == (MessageStatus.FAILED, "900", "fake")
