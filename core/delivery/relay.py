"""One relay step: lease a batch of a nickname's due records, POST it to CleverTap, settle.

At most ``relay_batch_size`` (≤ 100) records go in one POST, grouped by event in CleverTap's
format (:mod:`smsgate.delivery.clevertap`). The lease commits before the POST and the
outcome after it, so no database lock is held while CleverTap thinks.

- 2xx: every record is done, except those CleverTap lists under ``unprocessed``: dead, with
  its reason; they were refused, and sending them again would be refused again.
- 4xx (other than 408/425/429) or a redirect: the batch is dead, with the status and the
  first words of the answer, and kept for operators; never retried.
- 5xx, 408, 425, 429, a timeout or a connection error: retried after ``relay_first_delay``
  (CleverTap advises 10 minutes), doubling each time up to ``relay_backoff_cap``, with up to
  ``relay_jitter`` more at random, never sooner than a ``Retry-After``; a record still not
  accepted ``relay_give_up_after`` after it was queued is dead.

CleverTap does not deduplicate, so a record is sent again only when it may not have
arrived: after a failure answer, or when the process holding it died mid-POST (its lease
runs out; that POST may have arrived, which is the one way CleverTap can see a record
twice, and the reason the lease is short and the POST's timeout shorter still). Writing
down CleverTap's answer is retried while the lease holds, so that a database restart
between the answer and that write does not send the batch again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.engine import Engine

from smsgate.delivery import clevertap, outbox
from smsgate.delivery.clevertap import Answer, Judgement
from smsgate.delivery.settings import DeliverySettings
from smsgate.dispatch.backoff import Clock, Random
from smsgate.storage.retry import retry_until

__all__ = ["GAVE_UP_PREFIX", "RelayReport", "outcome_of", "relay_batch", "retry_at"]

#: How the reason of a record given up after its retries begins (CleverTap may have it).
GAVE_UP_PREFIX = "gave up after"

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RelayReport:
    """What one relay step did for one nickname."""

    nickname: str
    claimed: int = 0
    done: int = 0
    dead: int = 0
    retried: int = 0


def retry_at(attempts: int, now: datetime, settings: DeliverySettings, random: Random) -> datetime:
    """When to POST again after the ``attempts``-th failed POST (1 for the first)."""
    # 2**n overflows a float long before it matters; past 64 the cap has won anyway.
    exponent = min(max(attempts - 1, 0), 64)
    delay = min(settings.relay_backoff_cap, settings.relay_first_delay * 2.0**exponent)
    return now + timedelta(seconds=delay * (1 + settings.relay_jitter * random()))


def outcome_of(
    leased: Sequence[outbox.Leased],
    answer: Answer,
    now: datetime,
    settings: DeliverySettings,
    random: Random,
) -> outbox.Outcome:
    """What ``answer`` means for each leased row."""
    if answer.judgement is Judgement.DONE:
        refused = clevertap.records_by_meta(
            [(row.id, row.event, row.record) for row in leased], answer.refused
        )
        return outbox.Outcome(
            done=[row.id for row in leased if row.id not in refused], dead=refused
        )
    reason = answer.reason or "CleverTap did not accept the batch"
    if answer.judgement is Judgement.DEAD:
        return outbox.Outcome(dead={row.id: reason for row in leased})
    dead: dict[int, str] = {}
    retry: dict[int, tuple[datetime, str]] = {}
    give_up = timedelta(seconds=settings.relay_give_up_after)
    for row in leased:
        when = retry_at(row.attempts, now, settings, random)
        if answer.retry_after is not None:
            # Honoured up to the backoff's own cap: a Retry-After of years would otherwise
            # overflow the clock, or give up a batch CleverTap may take in an hour.
            wait = min(answer.retry_after, settings.relay_backoff_cap)
            when = max(when, now + timedelta(seconds=wait))
        deadline = row.created_at + give_up
        if now >= deadline:
            dead[row.id] = f"{GAVE_UP_PREFIX} {row.attempts} attempts: {reason}"[:512]
        else:
            # The last try is at the deadline itself: "dead after 3 days" means 3 days.
            retry[row.id] = (min(when, deadline), reason)
    return outbox.Outcome(dead=dead, retry=retry)


async def relay_batch(
    engine: Engine,
    client: httpx.AsyncClient,
    nickname: str,
    url: str,
    *,
    owner: str,
    settings: DeliverySettings,
    clock: Clock,
    random: Random,
) -> RelayReport:
    """Relay one batch of ``nickname``'s due records to ``url``."""
    lease_ends = time.monotonic() + settings.relay_lease
    leased = await asyncio.to_thread(
        outbox.claim,
        engine,
        nickname,
        owner=owner,
        now=clock(),
        limit=settings.relay_batch_size,
        lease=settings.relay_lease,
    )
    if not leased:
        return RelayReport(nickname)
    body = clevertap.batch_body((row.event, row.record) for row in leased)
    try:
        # httpx's timeout bounds each wait (connect, each read), not the whole answer: an
        # answer trickling in could outlast the lease, and another worker would send the
        # records a second time meanwhile.
        async with asyncio.timeout(settings.relay_timeout):
            response = await client.post(url, json=body, timeout=settings.relay_timeout)
    except TimeoutError:
        answer = Answer(
            Judgement.RETRY,
            f"CleverTap not reached: no whole answer within {settings.relay_timeout:g} s",
        )
    except httpx.HTTPError as exc:
        answer = Answer(Judgement.RETRY, f"CleverTap not reached: {_describe(exc)}")
    else:
        answer = clevertap.judge_answer(
            response.status_code, response.content, dict(response.headers)
        )
    outcome = outcome_of(leased, answer, clock(), settings, random)
    # CleverTap has answered: losing that to a database blip would send the batch again when
    # the lease runs out, so the write is retried while the lease holds.
    await retry_until(
        lease_ends,
        lambda: asyncio.to_thread(outbox.settle, engine, outcome, owner=owner, now=clock()),
        f"CleverTap's answer for {len(leased)} record(s) of {nickname!r}",
    )
    dead = len(outcome.dead or {})
    retried = len(outcome.retry or {})
    if dead:
        logger.warning(
            "%d record(s) of %r are dead, not sent again: %s",
            dead,
            nickname,
            next(iter((outcome.dead or {}).values())),
        )
    if retried:
        logger.warning(
            "%d record(s) of %r will be sent again later: %s", retried, nickname, answer.reason
        )
    return RelayReport(
        nickname, claimed=len(leased), done=len(outcome.done), dead=dead, retried=retried
    )


def _describe(exc: httpx.HTTPError) -> str:
    words = str(exc).strip()
    return f"{type(exc).__name__}: {words}"[:300] if words else type(exc).__name__
