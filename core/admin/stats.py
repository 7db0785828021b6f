"""The overview's figures per nickname, from a handful of indexed queries.

- **Counts by status** for the last hour and day: messages CleverTap sent in the window
  (by ``created_at``), by the status they have now. **Delivery rate**: delivered ÷
  (delivered + failed) among them; messages still on their way do not count either way.
- **DLR latency** p50 / p95: from the vendor's acceptance (the ``submitted`` event) to the
  final report (``delivered`` or ``failed``) reaching smsgate, both by smsgate's clock, over
  the newest :data:`LATENCY_SAMPLE` final reports of the window.
- **Queue depth**, **sending** and **unknown**: messages in those statuses now, by the
  nickname whose vendor sends them (``route``). **Relay backlog** and **dead relays**: relay
  records ``pending`` and ``dead`` now. **Unmatched reports**: delivery reports waiting for
  their message. **Circuit**: the shared breaker's state.

The windows' counts read one day of messages through the ``created_at`` index; the rest
reads only rows in those non-final states. :mod:`smsgate.host.metrics` serves the same
figures to Prometheus.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from smsgate.admin.views import CircuitView, NicknameStats, Overview, WindowStats
from smsgate.delivery.outbox import DEAD, PENDING
from smsgate.storage.database import reading
from smsgate.storage.models import (
    STATUS_RANK,
    DeliveryInbox,
    Message,
    MessageEvent,
    MessageStatus,
    ProviderState,
    RelayOutbox,
)

if TYPE_CHECKING:
    from smsgate.config import Config

__all__ = [
    "HOUR",
    "LATENCY_SAMPLE",
    "Live",
    "Windows",
    "latencies",
    "live_figures",
    "overview",
    "percentile",
    "window_counts",
]

MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
OUTBOX = RelayOutbox.__table__  # type: ignore[attr-defined]
INBOX = DeliveryInbox.__table__  # type: ignore[attr-defined]
STATES = ProviderState.__table__  # type: ignore[attr-defined]

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
#: Final reports the latency percentiles are computed from, newest first.
LATENCY_SAMPLE = 5000
_LIVE = (MessageStatus.ACCEPTED, MessageStatus.SENDING, MessageStatus.UNKNOWN)
_FINAL = (MessageStatus.DELIVERED.value, MessageStatus.FAILED.value)


@dataclass
class Live:
    """What stands now, per nickname."""

    #: route -> status -> count, for accepted, sending and unknown.
    messages: dict[str, dict[str, int]] = field(default_factory=dict)
    #: route -> when its oldest waiting message was created.
    oldest_waiting: dict[str, datetime] = field(default_factory=dict)
    #: nickname -> relay state -> count, for pending and dead.
    relays: dict[str, dict[str, int]] = field(default_factory=dict)
    #: nickname -> unmatched delivery reports.
    inbox: dict[str, int] = field(default_factory=dict)
    circuits: dict[str, CircuitView] = field(default_factory=dict)

    def nicknames(self) -> set[str]:
        """Every nickname these figures mention."""
        return {*self.messages, *self.relays, *self.inbox, *self.circuits}


@dataclass
class Windows:
    """Counts by status per nickname, and DLR latencies, for one window."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)


def live_figures(connection: Connection) -> Live:
    """Queue depth, sending, unknown, relay backlog, dead relays, inbox and circuits."""
    live = Live()
    rows = connection.execute(
        sa.select(
            MESSAGES.c.route,
            MESSAGES.c.status,
            sa.func.count(),
            sa.func.min(MESSAGES.c.created_at),
        )
        .where(MESSAGES.c.status_rank.in_([STATUS_RANK[status] for status in _LIVE]))
        .group_by(MESSAGES.c.route, MESSAGES.c.status)
    )
    for route, status, count, oldest in rows:
        live.messages.setdefault(route or "", {})[status] = int(count)
        if status == MessageStatus.ACCEPTED.value and oldest is not None:
            live.oldest_waiting[route or ""] = _utc(oldest)
    for nickname, state, count in connection.execute(
        sa.select(OUTBOX.c.nickname, OUTBOX.c.state, sa.func.count())
        .where(OUTBOX.c.state.in_([PENDING, DEAD]))
        .group_by(OUTBOX.c.nickname, OUTBOX.c.state)
    ):
        live.relays.setdefault(nickname, {})[state] = int(count)
    for nickname, count in connection.execute(
        sa.select(INBOX.c.nickname, sa.func.count()).group_by(INBOX.c.nickname)
    ):
        live.inbox[nickname] = int(count)
    for row in connection.execute(sa.select(STATES)):
        live.circuits[row.nickname] = CircuitView(
            state=row.circuit,
            failures=row.failures,
            reason=row.open_reason,
            open_since=row.open_since,
        )
    return live


def window_counts(
    connection: Connection, since: datetime, *, split: datetime | None = None
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Messages created since ``since`` by nickname and status; and since ``split`` too.

    One pass over the window: the second mapping counts the rows created at or after
    ``split`` (empty when ``split`` is ``None``).
    """
    recent = sa.case((MESSAGES.c.created_at >= (split or since), 1), else_=0)
    whole: dict[str, dict[str, int]] = defaultdict(dict)
    part: dict[str, dict[str, int]] = defaultdict(dict)
    for nickname, status, count, in_part in connection.execute(
        sa.select(MESSAGES.c.nickname, MESSAGES.c.status, sa.func.count(), sa.func.sum(recent))
        .where(MESSAGES.c.created_at >= since)
        .group_by(MESSAGES.c.nickname, MESSAGES.c.status)
    ):
        whole[nickname][status] = int(count)
        if split is not None:
            part[nickname][status] = int(in_part or 0)
    return dict(whole), dict(part)


def latencies(connection: Connection, since: datetime) -> list[tuple[str, datetime, float]]:
    """``(nickname, final report's time, seconds since submitted)``, newest first."""
    submitted = EVENTS.alias("submitted")
    final = EVENTS.alias("final")
    submitted_at = (
        sa.select(sa.func.max(submitted.c.recorded_at))
        .where(
            submitted.c.message_pk == final.c.message_pk,
            submitted.c.kind == "submitted",
            submitted.c.recorded_at <= final.c.recorded_at,
        )
        .scalar_subquery()
    )
    rows = connection.execute(
        sa.select(MESSAGES.c.nickname, final.c.recorded_at, submitted_at.label("submitted_at"))
        .select_from(final.join(MESSAGES, MESSAGES.c.id == final.c.message_pk))
        .where(
            final.c.recorded_at >= since,
            final.c.kind.in_(_FINAL),
            # Only the report that made the message final carries its status.
            final.c.status.in_(_FINAL),
        )
        .order_by(final.c.recorded_at.desc())
        .limit(LATENCY_SAMPLE)
    )
    found = []
    for nickname, final_at, sent_at in rows:
        if sent_at is None:
            continue
        final_at, sent_at = _utc(final_at), _utc(sent_at)
        found.append((nickname, final_at, max((final_at - sent_at).total_seconds(), 0.0)))
    return found


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(share * len(ordered)), 1)
    return ordered[rank - 1]


def overview(engine: Engine, config: Config, now: datetime) -> Overview:
    """Every configured nickname's figures (and any the database still has), at ``now``."""
    with reading(engine).connect() as connection:
        live = live_figures(connection)
        day_counts, hour_counts = window_counts(connection, now - DAY, split=now - HOUR)
        samples = latencies(connection, now - DAY)
    day_latency: dict[str, list[float]] = defaultdict(list)
    hour_latency: dict[str, list[float]] = defaultdict(list)
    for nickname, final_at, seconds in samples:
        day_latency[nickname].append(seconds)
        if final_at >= now - HOUR:
            hour_latency[nickname].append(seconds)
    configured = list(config.providers)
    others = sorted((live.nicknames() | set(day_counts)) - set(configured) - {""})
    stats = []
    for nickname in [*configured, *others]:
        provider = config.providers.get(nickname)
        waiting = live.messages.get(nickname, {})
        relays = live.relays.get(nickname, {})
        oldest = live.oldest_waiting.get(nickname)
        stats.append(
            NicknameStats(
                nickname=nickname,
                plugin=provider.settings.plugin if provider else None,
                configured=provider is not None,
                broken=provider.broken if provider else None,
                circuit=live.circuits.get(nickname, CircuitView(state="closed")),
                queue_depth=waiting.get(MessageStatus.ACCEPTED.value, 0),
                sending=waiting.get(MessageStatus.SENDING.value, 0),
                unknown=waiting.get(MessageStatus.UNKNOWN.value, 0),
                oldest_waiting_seconds=(
                    max((now - oldest).total_seconds(), 0.0) if oldest else None
                ),
                relay_backlog=relays.get(PENDING, 0),
                dead_relays=relays.get(DEAD, 0),
                unmatched_reports=live.inbox.get(nickname, 0),
                last_hour=window_stats(hour_counts.get(nickname, {}), hour_latency[nickname]),
                last_day=window_stats(day_counts.get(nickname, {}), day_latency[nickname]),
            )
        )
    return Overview(
        generated_at=now,
        nicknames=stats,
        all_last_hour=window_stats(
            _summed(hour_counts), [s for v in hour_latency.values() for s in v]
        ),
        all_last_day=window_stats(
            _summed(day_counts), [s for v in day_latency.values() for s in v]
        ),
    )


def _summed(counts: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for by_status in counts.values():
        for status, count in by_status.items():
            total[status] += count
    return dict(total)


def window_stats(counts: Mapping[str, int], latency: Sequence[float]) -> WindowStats:
    """One window's figures from its counts by status and its latency samples."""
    every = {status.value: counts.get(status.value, 0) for status in MessageStatus}
    delivered = every[MessageStatus.DELIVERED.value]
    final = delivered + every[MessageStatus.FAILED.value]
    return WindowStats(
        counts=every,
        total=sum(counts.values()),
        delivery_rate=delivered / final if final else None,
        dlr_p50_seconds=percentile(latency, 0.5),
        dlr_p95_seconds=percentile(latency, 0.95),
        dlr_samples=len(latency),
    )


def _utc(moment: datetime) -> datetime:
    # Aggregates over aliased tables may come back without the column's type: make sure.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
