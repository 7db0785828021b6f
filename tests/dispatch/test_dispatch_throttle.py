"""The per-nickname rate limit and circuit breaker, shared through the database (both DBs)."""

from __future__ import annotations

import asyncio

import httpx
from dispatch_helpers import Rig, RigFactory, circuit, message, messages, provider_toml, texts
from fakevendor import Fault

from smsgate.dispatch import Dispatcher, queue
from smsgate.storage.models import MessageStatus

pytest_plugins = ["dispatch_fixtures"]


def _two_dispatchers(rig: Rig, steps: int, tick: float) -> list[tuple[int, int]]:
    """Run dispatchers ``a`` and ``b`` on one database; messages each claimed per step."""

    async def main() -> list[tuple[int, int]]:
        async with httpx.AsyncClient() as client:
            pair = [
                Dispatcher(rig.config, rig.engine, client, clock=rig.clock, owner=owner)
                for owner in ("a", "b")
            ]
            claimed = []
            for step in range(steps):
                # Each goes first in turn, as two processes would race for the bucket.
                first, second = pair if step % 2 == 0 else pair[::-1]
                reports = {
                    d.owner: (await d.dispatch_once("fake")).claimed for d in (first, second)
                }
                claimed.append((reports["a"], reports["b"]))
                rig.clock.advance(tick)
            return claimed

    return asyncio.run(main())


def test_segments_per_second_hold_across_two_dispatchers(make_rig: RigFactory, vendor) -> None:
    rig = make_rig(providers=provider_toml("fake", vendor.url, rate_limit=10))
    rig.accept(texts(60))

    claimed = _two_dispatchers(rig, steps=31, tick=0.1)

    total = 0
    for step, (a, b) in enumerate(claimed):
        total += a + b
        elapsed = step * 0.1
        # A full bucket (1 s of rate) at the start, then 10 segments per second, shared.
        assert total <= 10 + 10 * elapsed + 1e-6
        assert total >= 10 + 10 * elapsed - 1
    assert sum(a for a, _ in claimed) > 0 and sum(b for _, b in claimed) > 0
    assert max(rig.vendor.received().values()) == 1


def test_long_messages_take_one_token_per_segment(make_rig: RigFactory, vendor) -> None:
    rig = make_rig(providers=provider_toml("fake", vendor.url, rate_limit=6))
    rig.accept(texts(4, body="x" * 400))  # 3 segments each
    assert message(rig.engine, "m0").segments == 3

    first = rig.dispatch()
    rig.clock.advance(0.49)
    too_early = rig.dispatch()
    rig.clock.advance(0.01)
    on_time = rig.dispatch()

    assert (first.claimed, too_early.claimed, on_time.claimed) == (2, 0, 1)
    assert too_early.wait is not None and 0 < too_early.wait <= 0.01 + 1e-6


def test_waiting_for_the_rate_limit_is_not_an_attempt(make_rig: RigFactory, vendor) -> None:
    rig = make_rig(providers=provider_toml("fake", vendor.url, rate_limit=2))
    rig.accept(texts(5))

    rig.dispatch()
    rig.dispatch()

    attempts = {row.message_id: row.attempts for row in messages(rig.engine)}
    assert attempts == {"m0": 1, "m1": 1, "m2": 0, "m3": 0, "m4": 0}
    assert message(rig.engine, "m2").status == MessageStatus.ACCEPTED


def test_circuit_opens_after_failing_batches_and_stops_claiming(make_rig: RigFactory) -> None:
    rig = make_rig(breaker_threshold=3, batch_size=2, max_attempts=20, breaker_cooldown=30)
    rig.accept(texts(4))
    rig.vendor.standing = Fault(503)
    rig.jitter.append(0.0)

    for _ in range(3):
        assert rig.dispatch().claimed == 2
    assert circuit(rig.engine, "fake") == "open"
    rig.clock.advance(29)
    stopped = rig.dispatch()

    assert stopped.claimed == 0
    assert stopped.wait is not None and 0 < stopped.wait <= 1
    assert sum(rig.vendor.received().values()) == 6
    # Waiting behind an open circuit is not an attempt.
    assert {row.message_id: row.attempts for row in messages(rig.engine)} == {
        "m0": 3,
        "m1": 3,
        "m2": 0,
        "m3": 0,
    }


def test_half_open_probe_closes_the_circuit_when_the_vendor_answers(
    make_rig: RigFactory,
) -> None:
    rig = make_rig(breaker_threshold=1, batch_size=3, breaker_cooldown=30)
    rig.accept(texts(4))
    rig.vendor.fail_next(Fault(503), Fault(503), Fault(503))
    rig.jitter.append(0.0)
    rig.dispatch()
    assert circuit(rig.engine, "fake") == "open"

    rig.clock.advance(30)
    probe = rig.dispatch()
    after = rig.dispatch()

    assert (probe.probe, probe.claimed, probe.submitted) == (True, 1, 1)
    assert circuit(rig.engine, "fake") == "closed"
    assert after.claimed == 3


def test_a_failed_probe_opens_the_circuit_again(make_rig: RigFactory) -> None:
    rig = make_rig(breaker_threshold=1, breaker_cooldown=30, max_attempts=20)
    rig.accept(texts(3))
    rig.vendor.standing = Fault(503)
    rig.jitter.append(0.0)
    rig.dispatch()

    rig.clock.advance(30)
    probe = rig.dispatch()
    rig.clock.advance(29)
    blocked = rig.dispatch()
    rig.clock.advance(1)
    second_probe = rig.dispatch()

    assert (probe.probe, probe.claimed) == (True, 1)
    assert blocked.claimed == 0
    assert (second_probe.probe, second_probe.claimed) == (True, 1)
    assert circuit(rig.engine, "fake") == "open"


def test_a_probe_in_flight_keeps_other_workers_out(make_rig: RigFactory) -> None:
    rig = make_rig(breaker_threshold=1, breaker_cooldown=30, max_attempts=20)
    rig.accept(texts(3))
    rig.vendor.fail_next(Fault(503), Fault(503), Fault(503))
    rig.jitter.append(0.0)
    rig.dispatch()
    rig.clock.advance(30)

    probe = queue.claim(
        rig.engine,
        queue.Route("fake"),
        owner="prober",
        now=rig.clock(),
        settings=rig.settings,
    )
    other = rig.dispatch(owner="other")

    assert probe.probe and len(probe.messages) == 1
    assert other.claimed == 0
    assert circuit(rig.engine, "fake") == "half_open"


def test_bad_credentials_open_the_circuit_at_once(make_rig: RigFactory) -> None:
    rig = make_rig(breaker_threshold=5, batch_size=1)
    rig.accept(texts(3))
    rig.vendor.bad_keys.add("good-key")

    first = rig.dispatch()
    second = rig.dispatch()

    assert first.failed == 1
    assert message(rig.engine, "m0").failure_description == "bad credentials"
    assert circuit(rig.engine, "fake") == "open"
    assert second.claimed == 0


def test_circuit_state_is_shared_by_dispatchers(make_rig: RigFactory) -> None:
    rig = make_rig(breaker_threshold=1, batch_size=1)
    rig.accept(texts(2))
    rig.vendor.fail_next(Fault(502))

    rig.dispatch(owner="process-1")
    elsewhere = rig.dispatch(owner="process-2")

    assert circuit(rig.engine, "fake") == "open"
    assert elsewhere.claimed == 0
