"""The limit on wrong admin tokens per client address: its window, and its memory."""

from __future__ import annotations

from smsgate.host.auth import FailureLimiter


class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_waits_until_its_oldest_failure_leaves_the_window():
    clock = Clock()
    limiter = FailureLimiter(limit=3, window=60, clock=clock)
    for moment in (1000, 1010, 1030):
        clock.now = moment
        assert limiter.wait("10.0.0.1") == 0
        limiter.failed("10.0.0.1")

    assert limiter.wait("10.0.0.1") == 30
    assert limiter.wait("10.0.0.2") == 0
    clock.now = 1059.5
    assert limiter.wait("10.0.0.1") == 1
    clock.now = 1060
    assert limiter.wait("10.0.0.1") == 0
    # Three failures within a minute again (1010, 1030, 1060): wait for 1010's to pass.
    limiter.failed("10.0.0.1")
    assert limiter.wait("10.0.0.1") == 10


def test_a_flood_of_addresses_is_kept_to_a_bounded_number():
    clock = Clock()
    limiter = FailureLimiter(limit=2, window=60, max_clients=100, clock=clock)
    for n in range(10_000):
        limiter.failed(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
        limiter.failed(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")

    assert len(limiter) == 100
    # The most recent failing addresses are the ones kept, and still refused.
    assert limiter.wait("10.0.39.15") == 60
    assert limiter.wait("10.0.0.1") == 0


def test_addresses_whose_failures_are_old_are_forgotten():
    clock = Clock()
    limiter = FailureLimiter(limit=2, window=60, clock=clock)
    for n in range(50):
        limiter.failed(f"10.0.0.{n}")
    clock.now += 61

    limiter.failed("10.0.1.1")

    assert len(limiter) == 1
