"""A nickname's shared throttle: its token bucket and its circuit breaker, as pure logic.

The state lives in one ``provider_state`` row per nickname (see :mod:`smsgate.dispatch.queue`
for how it is read and written under a row lock). The functions here only compute the next
state from the current one and the time, so they are tested without a database or a clock.

Token bucket: ``rate`` SMS segments per second, holding at most ``burst`` segments. A claim
takes messages in queue order while their segments fit; a message longer than the bucket is
let through once the bucket is full, so it is never starved.

Circuit breaker::

    closed ──(threshold failed batches, or one vendor_unusable result)──▶ open
    open ──(cool-down elapsed; one worker takes a probe)──▶ half_open
    half_open ──(probe gets an answer)──▶ closed
    half_open ──(probe fails)──▶ open (cool-down starts again)

While open (or half-open with a probe in flight) nothing is claimed, so waiting is never an
attempt. ``open_since`` keeps the start of the whole outage, for the fallback decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "Circuit",
    "RouteState",
    "Verdict",
    "admit",
    "after_batch",
    "take_tokens",
]


class Circuit(StrEnum):
    """The states of a nickname's circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Verdict(StrEnum):
    """What one batch says about the vendor's health."""

    #: The vendor answered for at least one message (accepted or refused it): it works.
    HEALTHY = "healthy"
    #: Every message came back retry or unknown, or the plugin raised in ``send_batch``.
    FAILING = "failing"
    #: The vendor said it will not work for us (bad credentials, no balance).
    UNUSABLE = "unusable"
    #: Nothing reached the vendor (every message refused up front): says nothing.
    NEUTRAL = "neutral"


@dataclass(frozen=True, slots=True)
class RouteState:
    """One ``provider_state`` row."""

    nickname: str
    tokens: float
    refilled_at: datetime
    circuit: Circuit = Circuit.CLOSED
    failures: int = 0
    opened_at: datetime | None = None
    open_since: datetime | None = None
    open_reason: str | None = None
    #: The circuit opened because the vendor said it will not work for us.
    unusable: bool = False
    probe_until: datetime | None = None


def take_tokens(
    state: RouteState,
    segments: Sequence[int],
    now: datetime,
    *,
    rate: float | None,
    burst: float,
) -> tuple[RouteState, int, float | None]:
    """Take tokens for the longest prefix of ``segments`` that fits.

    :returns: the new state, how many messages may be sent now, and, when some had to wait,
        the seconds until the next one fits (``None`` when none waits).
    """
    if rate is None:
        return state, len(segments), None
    elapsed = max((now - state.refilled_at).total_seconds(), 0.0)
    tokens = min(burst, state.tokens + elapsed * rate)
    taken = 0
    for count in segments:
        cost = max(count, 1)
        if tokens < min(cost, burst):
            break
        tokens -= cost
        taken += 1
    wait = None
    if taken < len(segments):
        needed = min(max(segments[taken], 1), burst)
        wait = max((needed - tokens) / rate, 0.0)
    refilled_at = max(now, state.refilled_at)
    return replace(state, tokens=tokens, refilled_at=refilled_at), taken, wait


def admit(
    state: RouteState,
    now: datetime,
    *,
    batch_size: int,
    probe_size: int,
    cooldown: float,
    probe_lease: float,
) -> tuple[RouteState, int, float | None]:
    """How many messages the breaker lets a worker claim now.

    :returns: the new state (a probe may have started), the number allowed, and when nothing
        is allowed, the seconds until something may be.
    """
    if state.circuit is Circuit.CLOSED:
        return state, batch_size, None
    if state.circuit is Circuit.OPEN:
        opened_at = state.opened_at or now
        reopen = opened_at + timedelta(seconds=cooldown)
        if now < reopen:
            return state, 0, (reopen - now).total_seconds()
    elif state.probe_until is not None and now < state.probe_until:
        # A probe is in flight; its lease bounds how long a dead prober can block others.
        return state, 0, (state.probe_until - now).total_seconds()
    probing = replace(
        state, circuit=Circuit.HALF_OPEN, probe_until=now + timedelta(seconds=probe_lease)
    )
    return probing, probe_size, None


def after_batch(
    state: RouteState,
    verdict: Verdict,
    now: datetime,
    *,
    threshold: int,
    reason: str | None = None,
) -> RouteState:
    """The breaker's state once a batch's results are known."""
    if verdict is Verdict.NEUTRAL:
        # A probe that never reached the vendor proves nothing: let the next claim probe.
        if state.circuit is Circuit.HALF_OPEN:
            return replace(state, probe_until=None)
        return state
    if verdict is Verdict.HEALTHY:
        return replace(
            state,
            circuit=Circuit.CLOSED,
            failures=0,
            opened_at=None,
            open_since=None,
            open_reason=None,
            unusable=False,
            probe_until=None,
        )
    failures = state.failures + 1
    if verdict is Verdict.UNUSABLE:
        failures = max(failures, threshold)
    if state.circuit is Circuit.HALF_OPEN or failures >= threshold:
        return replace(
            state,
            circuit=Circuit.OPEN,
            failures=failures,
            opened_at=now,
            open_since=state.open_since or now,
            open_reason=(reason or verdict.value)[:512],
            unusable=state.unusable or verdict is Verdict.UNUSABLE,
            probe_until=None,
        )
    return replace(state, failures=failures)
