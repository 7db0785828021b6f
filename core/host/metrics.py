"""``GET /metrics``: Prometheus metrics of this process, and figures from the database.

Counted in this process (they start at zero when it starts, as Prometheus expects):

- ``smsgate_intake_records_total{nickname,outcome}``: CleverTap records ``accepted``,
  ``duplicate`` or ``rejected``;
- ``smsgate_accept_seconds{nickname}``: histogram of the send endpoint's answer time (the
  records are committed when it answers);
- ``smsgate_messages_total{nickname,status}``: status changes made by this process's intake
  and dispatch workers (``accepted``, ``submitted``, ``failed``, ``unknown``);
- ``smsgate_dispatch_results_total{nickname,outcome}``: per message of each batch:
  ``submitted``, ``retry``, ``failed``, ``unknown``, ``rerouted``, ``expired``, ``moved``;
- ``smsgate_vendor_call_seconds{nickname}``: histogram of the plugins' ``send_batch`` calls;
- ``smsgate_callback_requests_total{nickname,code}`` and ``smsgate_callback_seconds``: the
  vendors' delivery report requests and their answers;
  ``smsgate_delivery_reports_total{nickname,outcome}``: their reports ``matched`` to a
  message or left ``waiting`` in the inbox.

Read from the database at scrape time (the same figures for every process on one database):
``smsgate_queue_depth``, ``smsgate_messages_sending``, ``smsgate_messages_unknown``,
``smsgate_oldest_waiting_seconds``, ``smsgate_relay_backlog``, ``smsgate_relay_dead``,
``smsgate_unmatched_reports``, ``smsgate_circuit_state{state}`` (1 for the current state),
``smsgate_messages_last_hour{status}`` (messages CleverTap sent in the last hour, by their
status now) and ``smsgate_dlr_latency_last_hour_seconds{quantile}``; all labelled by
``nickname``. ``smsgate_database_up`` is 0 when the database did not answer (the other
database figures are then absent, and the scrape still succeeds).

``nickname`` labels take only configured nicknames (anything else is ``-``), so a stranger
calling random URLs cannot grow the number of series.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from smsgate.admin import stats
from smsgate.dispatch import BatchReport
from smsgate.dispatch.throttle import Circuit
from smsgate.errors import RequestError
from smsgate.host.answers import Answer
from smsgate.storage.database import file_gone, reading
from smsgate.storage.models import MessageStatus, utcnow

if TYPE_CHECKING:
    from smsgate.config import Config
    from smsgate.host.gateway import Gateway

__all__ = ["Metrics", "endpoint", "observe_callbacks", "observe_intake"]

logger = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]
OTHER = "-"
_FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_VENDOR = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_DISPATCH_OUTCOMES = {
    "submitted": "submitted",
    "retried": "retry",
    "failed": "failed",
    "unknown": "unknown",
    "rerouted": "rerouted",
    "expired": "expired",
    "moved": "moved",
}


class Metrics:
    """The process's registry and the instruments the host and the workers update."""

    def __init__(self, config: Config) -> None:
        # The *_created series double the output and matter only to OpenMetrics scrapers.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.nicknames = frozenset(config.providers)
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.intake = Counter(
            "smsgate_intake_records",
            "CleverTap records by outcome: accepted, duplicate or rejected.",
            ["nickname", "outcome"],
            registry=self.registry,
        )
        self.accept_seconds = Histogram(
            "smsgate_accept_seconds",
            "Time to answer CleverTap's send request, records committed.",
            ["nickname"],
            buckets=_FAST,
            registry=self.registry,
        )
        self.messages = Counter(
            "smsgate_messages",
            "Status changes made by this process's intake and dispatch workers.",
            ["nickname", "status"],
            registry=self.registry,
        )
        self.dispatch = Counter(
            "smsgate_dispatch_results",
            "Dispatch outcomes per message: submitted, retry, failed, unknown, rerouted, "
            "expired, moved.",
            ["nickname", "outcome"],
            registry=self.registry,
        )
        self.vendor_seconds = Histogram(
            "smsgate_vendor_call_seconds",
            "Duration of the plugins' send_batch calls to the vendor.",
            ["nickname"],
            buckets=_VENDOR,
            registry=self.registry,
        )
        self.callbacks = Counter(
            "smsgate_callback_requests",
            "Vendors' delivery report requests by HTTP answer.",
            ["nickname", "code"],
            registry=self.registry,
        )
        self.callback_seconds = Histogram(
            "smsgate_callback_seconds",
            "Time to answer a vendor's delivery report request, reports committed.",
            ["nickname"],
            buckets=_FAST,
            registry=self.registry,
        )
        self.reports = Counter(
            "smsgate_delivery_reports",
            "Delivery reports received: matched to a message, or waiting in the inbox.",
            ["nickname", "outcome"],
            registry=self.registry,
        )
        self.database = DatabaseCollector(config)
        self.registry.register(self.database)
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], Any] = {}

    def child(self, metric: MetricWrapperBase, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once: every request counts something."""
        key = (metric, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def label(self, nickname: str) -> str:
        """``nickname`` if it is configured, else ``-``: labels stay bounded."""
        return nickname if nickname in self.nicknames else OTHER

    # --- the dispatcher's observer (see smsgate.dispatch.DispatchObserver) ---

    def vendor_call(self, route: str, seconds: float) -> None:
        """A vendor call for ``route`` took ``seconds``."""
        self.child(self.vendor_seconds, self.label(route)).observe(seconds)

    def batch_done(self, report: BatchReport) -> None:
        """Count what one dispatch step did."""
        nickname = self.label(report.route)
        for field, outcome in _DISPATCH_OUTCOMES.items():
            count = getattr(report, field)
            if count:
                self.child(self.dispatch, nickname, outcome).inc(count)
        for status, count in (
            (MessageStatus.SUBMITTED, report.submitted),
            (MessageStatus.FAILED, report.failed + report.expired),
            (MessageStatus.UNKNOWN, report.unknown),
        ):
            if count:
                self.child(self.messages, nickname, status.value).inc(count)

    def render(self) -> bytes:
        """The text exposition of every metric, the database's included."""
        return generate_latest(self.registry)


class DatabaseCollector(Collector):
    """Gauges read from the database at each scrape; the engine is attached at start-up."""

    def __init__(self, config: Config) -> None:
        self.nicknames = frozenset(config.providers)
        self.gateway: Gateway | None = None

    def describe(self) -> list[Metric]:
        """Nothing up front: the families depend on what the database holds."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Read the figures; ``smsgate_database_up`` says whether that worked."""
        up = GaugeMetricFamily(
            "smsgate_database_up", "1 when the database answered this scrape's queries."
        )
        gateway = self.gateway
        if gateway is None:
            up.add_metric([], 0)
            yield up
            return
        now = utcnow()
        if file_gone(gateway.engine) is not None:
            up.add_metric([], 0)
            yield up
            return
        try:
            with reading(gateway.engine).connect() as connection:
                live = stats.live_figures(connection)
                hour, _ = stats.window_counts(connection, now - stats.HOUR)
                samples = stats.latencies(connection, now - stats.HOUR)
        except SQLAlchemyError as exc:
            logger.warning("metrics: the database did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from self._families(live, hour, samples, now)

    def _families(
        self,
        live: stats.Live,
        hour: dict[str, dict[str, int]],
        samples: list[tuple[str, datetime, float]],
        now: datetime,
    ) -> Iterator[Metric]:
        names = sorted(self.nicknames | live.nicknames() | set(hour) - {""})
        gauges = {
            "queue": GaugeMetricFamily(
                "smsgate_queue_depth", "Messages waiting to be sent, by route.", labels=["nickname"]
            ),
            "sending": GaugeMetricFamily(
                "smsgate_messages_sending", "Messages a worker is sending now.", labels=["nickname"]
            ),
            "unknown": GaugeMetricFamily(
                "smsgate_messages_unknown",
                "Messages whose fate at the vendor is unknown; never resent automatically.",
                labels=["nickname"],
            ),
            "oldest": GaugeMetricFamily(
                "smsgate_oldest_waiting_seconds",
                "Age of the oldest message waiting to be sent.",
                labels=["nickname"],
            ),
            "backlog": GaugeMetricFamily(
                "smsgate_relay_backlog", "Records waiting to reach CleverTap.", labels=["nickname"]
            ),
            "dead": GaugeMetricFamily(
                "smsgate_relay_dead",
                "Records CleverTap refused or that ran out of retries (dead letters).",
                labels=["nickname"],
            ),
            "inbox": GaugeMetricFamily(
                "smsgate_unmatched_reports",
                "Delivery reports waiting for their message.",
                labels=["nickname"],
            ),
        }
        circuit = GaugeMetricFamily(
            "smsgate_circuit_state",
            "The nickname's circuit breaker: 1 for its current state.",
            labels=["nickname", "state"],
        )
        recent = GaugeMetricFamily(
            "smsgate_messages_last_hour",
            "Messages CleverTap sent in the last hour, by their status now.",
            labels=["nickname", "status"],
        )
        latency = GaugeMetricFamily(
            "smsgate_dlr_latency_last_hour_seconds",
            "Seconds from the vendor's acceptance to the final delivery report, last hour.",
            labels=["nickname", "quantile"],
        )
        by_nickname: dict[str, list[float]] = {}
        for nickname, _, seconds in samples:
            by_nickname.setdefault(nickname, []).append(seconds)
        for name in names:
            waiting = live.messages.get(name, {})
            relays = live.relays.get(name, {})
            gauges["queue"].add_metric([name], waiting.get(MessageStatus.ACCEPTED.value, 0))
            gauges["sending"].add_metric([name], waiting.get(MessageStatus.SENDING.value, 0))
            gauges["unknown"].add_metric([name], waiting.get(MessageStatus.UNKNOWN.value, 0))
            oldest = live.oldest_waiting.get(name)
            age = (now - oldest).total_seconds() if oldest is not None else 0.0
            gauges["oldest"].add_metric([name], max(age, 0.0))
            gauges["backlog"].add_metric([name], relays.get("pending", 0))
            gauges["dead"].add_metric([name], relays.get("dead", 0))
            gauges["inbox"].add_metric([name], live.inbox.get(name, 0))
            state = live.circuits[name].state if name in live.circuits else Circuit.CLOSED.value
            for candidate in Circuit:
                circuit.add_metric([name, candidate.value], 1 if candidate.value == state else 0)
            counts = hour.get(name, {})
            for status in MessageStatus:
                recent.add_metric([name, status.value], counts.get(status.value, 0))
            values = by_nickname.get(name, [])
            for quantile in (0.5, 0.95):
                found = stats.percentile(values, quantile)
                if found is not None:
                    latency.add_metric([name, f"{quantile:g}"], found)
        yield from gauges.values()
        yield circuit
        yield recent
        yield latency


async def endpoint(request: Request) -> Response:
    """``GET /metrics``: the Prometheus text format."""
    metrics: Metrics = request.app.state.metrics
    body = await run_in_threadpool(metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def observe_intake(handler: Handler) -> Handler:
    """Wrap the CleverTap send endpoint: answer time and records by outcome."""

    async def observed(request: Request) -> Response:
        metrics: Metrics = request.app.state.metrics
        nickname = metrics.label(request.path_params.get("nickname", ""))
        started = time.perf_counter()
        response = await handler(request)
        if response.status_code in (202, 400):
            answer = _content(response)
            accepted = _count(answer, "accepted")
            duplicates = _count(answer, "duplicates")
            rejected = answer.get("rejected")
            rejected = rejected if isinstance(rejected, list) else []
            # Rejected records stored as failed messages (CleverTap hears of them); a resent
            # one is not stored twice.
            failed = getattr(request.state, "failed_stored", 0)
            for outcome, count in (
                ("accepted", accepted),
                ("duplicate", duplicates),
                ("rejected", len(rejected)),
            ):
                if count:
                    metrics.child(metrics.intake, nickname, outcome).inc(count)
            for status, count in (
                (MessageStatus.ACCEPTED, accepted),
                (MessageStatus.FAILED, failed),
            ):
                if count:
                    metrics.child(metrics.messages, nickname, status.value).inc(count)
        if response.status_code == 202:
            metrics.child(metrics.accept_seconds, nickname).observe(time.perf_counter() - started)
        return response

    return observed


def observe_callbacks(handler: Handler) -> Handler:
    """Wrap the delivery report endpoint: answers by code, time, reports by outcome."""

    async def observed(request: Request) -> Response:
        metrics: Metrics = request.app.state.metrics
        nickname = metrics.label(request.path_params.get("nickname", ""))
        started = time.perf_counter()
        try:
            response = await handler(request)
        except RequestError as exc:
            metrics.child(metrics.callbacks, nickname, str(exc.status_code)).inc()
            raise
        metrics.child(metrics.callbacks, nickname, str(response.status_code)).inc()
        if response.status_code == 200:
            metrics.child(metrics.callback_seconds, nickname).observe(time.perf_counter() - started)
            answer = _content(response)
            for outcome in ("matched", "waiting"):
                count = _count(answer, outcome)
                if count:
                    metrics.child(metrics.reports, nickname, outcome).inc(count)
        return response

    return observed


def _count(answer: dict[str, Any], key: str) -> int:
    value = answer.get(key)
    return value if isinstance(value, int) and value > 0 else 0


def _content(response: Response) -> dict[str, Any]:
    return response.content if isinstance(response, Answer) else {}
