"""The dispatch workers of one gateway process.

A :class:`Dispatcher` runs ``concurrency`` worker tasks and one reclaimer task on the
process's event loop. A worker goes round the sending nicknames; for each it claims a batch
(:func:`smsgate.dispatch.queue.claim`), builds the vendor requests with the nickname's
plugin, sends them with the shared HTTP client, and records what happened
(:func:`smsgate.dispatch.queue.record`). Database work runs in threads; the vendor calls run
on the loop. Idle workers sleep until the poll interval passes, until a rate-limit slot or a
circuit probe is due, or until :meth:`Dispatcher.notify` says an accept just committed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random as random_module
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from smsgate.dispatch import queue
from smsgate.dispatch.backoff import Clock, Random, system_clock
from smsgate.dispatch.outcomes import Claimed, decide, verdict
from smsgate.dispatch.settings import DispatchSettings
from smsgate.dispatch.throttle import Verdict
from smsgate.errors import PluginHookError
from smsgate.intake.records import parse_template_variables
from smsgate.periodic import Loops
from smsgate.plugins import VendorPlugin
from smsgate.sms.encoding import Encoding
from smsgate.storage.models import MessageStatus
from smsgate.storage.retry import retry_until
from smsgate.types import OutboundMessage, SendResult, VendorRequest

if TYPE_CHECKING:
    from smsgate.config import Config

__all__ = ["BatchReport", "DispatchObserver", "Dispatcher", "new_http_client"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What one :meth:`Dispatcher.dispatch_once` did, counted per message."""

    route: str
    claimed: int = 0
    submitted: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    rerouted: int = 0
    expired: int = 0
    moved: int = 0
    #: The claim was a half-open circuit's probe.
    probe: bool = False
    #: Seconds until this route may have more to do (see :class:`smsgate.dispatch.queue.Claim`).
    wait: float | None = None

    @property
    def did_work(self) -> bool:
        """Something changed, so more may be waiting."""
        return bool(self.claimed or self.expired or self.moved)


class DispatchObserver(Protocol):
    """Told what the workers do, for metrics; must be quick and must not raise."""

    def vendor_call(self, route: str, seconds: float) -> None:
        """A plugin's ``send_batch`` for ``route`` returned, raised or timed out."""

    def batch_done(self, report: BatchReport) -> None:
        """One :meth:`Dispatcher.dispatch_once` finished with this report."""


@dataclass(frozen=True, slots=True)
class _Sender:
    route: queue.Route
    plugin: VendorPlugin
    options: BaseModel

    @property
    def name(self) -> str:
        return self.route.nickname


def new_http_client(settings: DispatchSettings, *, share: int = 1) -> httpx.AsyncClient:
    """An HTTP client for plugins: pooled, with explicit limits and timeouts.

    ``share``: how many such clients divide ``max_connections`` between them.
    """
    connections = max(1, -(-settings.max_connections // share))
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.http_timeout, connect=min(5.0, settings.http_timeout)),
        limits=httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            # Below the 5 s idle timeout common to servers (uvicorn's, among others): reusing
            # a connection the server is closing loses the answer, and the message becomes
            # unknown.
            keepalive_expiry=4.0,
        ),
    )


class Dispatcher:
    """Sends accepted messages to their vendors, from one process.

    :param config: the loaded configuration: providers, plugins and ``[gateway.dispatch]``.
    :param engine: the database.
    :param client: an HTTP client handed to plugins by every worker; the caller closes it.
        Without one, each worker makes (and closes) a client of its own: see :meth:`start`.
    :param settings: overrides ``config.settings.gateway.dispatch``.
    :param clock: "now"; tests pass a clock they move by hand.
    :param random: the jitter source, a float in [0, 1); by default a generator of its own,
        so that the workers never draw from (and move) the ``random`` module's shared one.
    :param owner: this process's name on its leases; unique per process by default.
    :param observer: told of every vendor call and batch (the metrics).
    """

    def __init__(
        self,
        config: Config,
        engine: Engine,
        client: httpx.AsyncClient | None = None,
        *,
        settings: DispatchSettings | None = None,
        clock: Clock = system_clock,
        random: Random | None = None,
        owner: str | None = None,
        observer: DispatchObserver | None = None,
    ) -> None:
        self.settings = settings or config.settings.gateway.dispatch
        self.engine = engine
        self.client = client
        self.owner = owner or _process_name()
        self._clock = clock
        self._random = random or random_module.Random().random
        self._observer = observer
        self._senders = _senders(config, self.settings)
        self._loops = Loops(logger)
        # None (the loop's default executor) until start(): enough for direct calls.
        self._executor: ThreadPoolExecutor | None = None
        self._own_clients: list[httpx.AsyncClient] = []

    @property
    def routes(self) -> tuple[str, ...]:
        """The nicknames this dispatcher sends for."""
        return tuple(self._senders)

    def notify(self) -> None:
        """New messages were committed: wake idle workers now instead of at the next poll."""
        self._loops.notify()

    async def start(self) -> None:
        """Reclaim what a previous run left behind, then start the workers.

        Without a client given, each worker gets an HTTP client of its own, with its share of
        ``max_connections``. One pool for all workers costs more than the requests: httpcore
        looks over every connection of a pool for each request, and over all of them again
        for each idle one, and a worker's connections idle while it claims and records
        (measured: 4 ms of CPU per message with one pool, 2.3 ms with one per worker).
        """
        self._loops.start()
        self._executor = ThreadPoolExecutor(
            max_workers=self.settings.concurrency + 1, thread_name_prefix="smsgate-dispatch"
        )
        await self.reclaim()
        workers = self.settings.concurrency
        if self.client is None:
            self._own_clients = [
                new_http_client(self.settings, share=workers) for _ in range(workers)
            ]
            clients = self._own_clients
        else:
            clients = [self.client] * workers
        for index, client in enumerate(clients):
            self._loops.spawn(self._work(index, client), name=f"smsgate-dispatch-{index}")
        self._loops.spawn(
            self._loops.every(
                self.settings.reclaim_interval,
                self.reclaim,
                "reclaiming expired leases",
                wait_first=True,
            ),
            name="smsgate-reclaim",
        )
        logger.info(
            "dispatching for %s with %d workers as %s",
            ", ".join(self.routes) or "no provider",
            self.settings.concurrency,
            self.owner,
        )

    async def stop(self) -> None:
        """Stop claiming and let in-flight batches finish, for up to ``shutdown_grace``.

        A batch still sending after that is cancelled; its messages are marked unknown, since
        they may have left, and nothing that may have left is put back in the queue.
        """
        await self._loops.stop(self.settings.shutdown_grace)
        if self._executor is not None:
            # Off the loop: a reclaim cancelled above may still be finishing its transaction.
            await asyncio.to_thread(self._executor.shutdown, wait=True)
            self._executor = None
        for client in self._own_clients:
            await client.aclose()
        self._own_clients = []

    async def reclaim(self) -> int:
        """Mark unknown the messages whose lease expired while they were sending."""
        reclaimed = await self._in_thread(queue.reclaim_expired_leases, self.engine, self._clock())
        if reclaimed:
            logger.warning(
                "%d message(s) were left sending by a stopped worker; marked unknown, not resent",
                len(reclaimed),
            )
        return len(reclaimed)

    async def dispatch_once(
        self, nickname: str, client: httpx.AsyncClient | None = None
    ) -> BatchReport:
        """Claim one batch for ``nickname``, send it with ``client``, and record the results.

        ``client`` defaults to the one the dispatcher was given.
        """
        client = client or self.client
        if client is None:
            raise RuntimeError("no HTTP client: pass one here or to the Dispatcher")
        sender = self._senders[nickname]
        lease_ends = time.monotonic() + self.settings.lease
        claim = await _finish_even_if_cancelled(
            self._in_thread(
                queue.claim,
                self.engine,
                sender.route,
                owner=self.owner,
                now=self._clock(),
                settings=self.settings,
            ),
            on_cancel=lambda c: self._release(c.messages),
        )
        report = BatchReport(
            nickname, expired=claim.expired, moved=claim.moved, probe=claim.probe, wait=claim.wait
        )
        if claim.messages:
            # What the plugin reports while sending, kept here so that it outlives a shutdown.
            reported: dict[int, SendResult] = {}
            try:
                results, batch_verdict, reason = await self._send(
                    sender, claim.messages, client, reported
                )
            except asyncio.CancelledError:
                # Stopped past the grace period: the answers in hand are facts all the same
                # (the rest were marked unknown on the way out).
                if reported:
                    known = [m for m in claim.messages if m.id in reported]
                    await self._record(
                        sender, known, reported, Verdict.NEUTRAL, None, report, lease_ends
                    )
                raise
            report = await self._record(
                sender, claim.messages, results, batch_verdict, reason, report, lease_ends
            )
        if self._observer is not None and report.did_work:
            self._observer.batch_done(report)
        return report

    async def _send(
        self,
        sender: _Sender,
        messages: Sequence[Claimed],
        client: httpx.AsyncClient,
        reported: dict[int, SendResult],
    ) -> tuple[dict[int, SendResult], Verdict, str | None]:
        outbound = [_outbound(message) for message in messages]
        try:
            payload = sender.plugin.build_payload(outbound, sender.options)
        except PluginHookError as exc:
            logger.error(
                "%d message(s) of %r wait for a later try: %s", len(messages), sender.name, exc
            )
            return (
                {
                    m.id: SendResult.retry(m.id, f"could not build the request: {exc}")
                    for m in messages
                },
                Verdict.NEUTRAL,
                None,
            )
        claimed = {m.id for m in messages}
        requests, carried = _checked_requests(sender, payload.requests, claimed)
        results: dict[int, SendResult] = {}
        for refused in payload.refused:
            if refused.message in claimed and refused.message not in carried:
                results.setdefault(refused.message, refused)
        batch_verdict, reason = Verdict.NEUTRAL, None
        if requests:
            sent, batch_verdict, reason = await self._perform(
                sender, requests, carried, client, reported
            )
            results.update(sent)
        for message in messages:
            results.setdefault(
                message.id,
                SendResult.retry(message.id, "the plugin built no request for it"),
            )
        return results, batch_verdict, reason

    async def _perform(
        self,
        sender: _Sender,
        requests: Sequence[VendorRequest],
        sent: set[int],
        client: httpx.AsyncClient,
        reported: dict[int, SendResult],
    ) -> tuple[dict[int, SendResult], Verdict, str | None]:
        started = time.perf_counter()

        # What the plugin reports on the way goes into ``reported``: facts that stand when the
        # batch is cut short.
        def progress(result: SendResult) -> None:
            if isinstance(result, SendResult) and result.message in sent:
                reported.setdefault(result.message, result)

        try:
            answers = await asyncio.wait_for(
                sender.plugin.send_batch(requests, client, sender.options, progress),
                timeout=self.settings.send_timeout,
            )
        except PluginHookError as exc:
            why = f"the plugin failed while sending ({exc}); the vendor may have it"
            return _unless_reported(sent, reported, why), Verdict.FAILING, why
        except TimeoutError:
            why = f"no answer within send_timeout ({self.settings.send_timeout:g} s)"
            return _unless_reported(sent, reported, why), Verdict.FAILING, why
        except asyncio.CancelledError:
            # Shutting down past the grace period: the requests may have left. Those the
            # plugin answered for are recorded by dispatch_once.
            await self._in_thread(
                queue.record_unknown,
                self.engine,
                sorted(sent - reported.keys()),
                owner=self.owner,
                now=self._clock(),
                reason="the gateway stopped while sending; the vendor may have it",
            )
            raise
        finally:
            if self._observer is not None:
                self._observer.vendor_call(sender.name, time.perf_counter() - started)
        results: dict[int, SendResult] = {}
        for answer in answers:
            if answer.message in sent:
                results.setdefault(answer.message, answer)
            else:
                logger.warning(
                    "plugin %r answered for message %s, which it was not sending",
                    sender.plugin.name,
                    answer.message,
                )
        missing = sent - set(results)
        if missing:
            logger.error(
                "plugin %r returned no result for %d of the %d messages it was sending"
                " (a plugin bug); what it reported on the way stands, the rest are unknown",
                sender.plugin.name,
                len(missing),
                len(sent),
            )
        for pk in missing:
            results[pk] = reported.get(pk) or SendResult.unknown(
                pk, "the plugin returned no result for it"
            )
        batch_verdict, reason = verdict(list(results.values()))
        return results, batch_verdict, reason

    async def _record(
        self,
        sender: _Sender,
        messages: Sequence[Claimed],
        results: dict[int, SendResult],
        batch_verdict: Verdict,
        reason: str | None,
        report: BatchReport,
        lease_ends: float,
    ) -> BatchReport:
        """Store the batch's results; ``lease_ends`` is when its lease runs out (monotonic)."""
        now = self._clock()
        decisions = [
            decide(
                results[message.id],
                message,
                now,
                settings=self.settings,
                fallback=sender.route.fallback,
                random=self._random,
            )
            for message in messages
        ]
        what = f"results for {len(decisions)} message(s) of {sender.route.nickname!r}"
        try:
            # The messages stay ours until the lease ends: a database blip before then must
            # not turn answers in hand into "unknown".
            recorded = await retry_until(
                lease_ends,
                lambda: self._in_thread(
                    queue.record,
                    self.engine,
                    sender.route,
                    decisions,
                    owner=self.owner,
                    now=now,
                    verdict=batch_verdict,
                    reason=reason,
                    settings=self.settings,
                ),
                what,
            )
        except SQLAlchemyError:
            # The leases will expire and the messages become unknown: honest, if slow.
            logger.exception("could not record %s before their lease ran out", what)
            raise
        if recorded.circuit_changed:
            logger.warning(
                "circuit of %r is now %s (%s)",
                sender.route.nickname,
                recorded.circuit.value,
                reason or batch_verdict.value,
            )
        if recorded.late:
            logger.warning(
                "%d result(s) for %r came after their lease expired; kept as events only",
                recorded.late,
                sender.route.nickname,
            )
        counts = {status: 0 for status in MessageStatus}
        rerouted = 0
        for decision in decisions:
            if decision.kind == "rerouted":
                rerouted += 1
            else:
                counts[decision.status] += 1
        return BatchReport(
            report.route,
            claimed=len(messages),
            submitted=counts[MessageStatus.SUBMITTED],
            retried=counts[MessageStatus.ACCEPTED],
            failed=counts[MessageStatus.FAILED],
            unknown=counts[MessageStatus.UNKNOWN],
            rerouted=rerouted,
            expired=report.expired,
            moved=report.moved,
            probe=report.probe,
            wait=report.wait,
        )

    def _in_thread(
        self, function: Callable[..., _T], /, *args: Any, **kwargs: Any
    ) -> Awaitable[_T]:
        # Database work runs on threads of our own, so that it neither waits behind nor holds
        # up the request handlers' threads, and scales with ``concurrency``.
        call = functools.partial(function, *args, **kwargs)
        return asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def _release(self, messages: Sequence[Claimed]) -> None:
        if messages:
            await self._in_thread(
                queue.release,
                self.engine,
                [m.id for m in messages],
                owner=self.owner,
                now=self._clock(),
            )

    async def _work(self, index: int, client: httpx.AsyncClient) -> None:
        routes = list(self._senders)
        # Workers start at different nicknames so that one busy vendor does not hold all.
        order = routes[index % len(routes) :] + routes[: index % len(routes)] if routes else []

        async def round_() -> float | None:
            progressed = False
            wait = self.settings.poll_interval
            for nickname in order:
                if self._loops.stopping:
                    break
                try:
                    report = await self.dispatch_once(nickname, client)
                except SQLAlchemyError as exc:
                    logger.warning("dispatch for %r: database error: %s", nickname, exc)
                    continue
                except Exception:
                    logger.exception("dispatch for %r failed", nickname)
                    continue
                progressed = progressed or report.did_work or report.wait == 0
                if report.wait is not None:
                    wait = min(wait, report.wait)
            # A floor, so that a rate-limit wait of microseconds does not spin the loop.
            return None if progressed else max(wait, 0.005)

        await self._loops.poll(round_)


async def _finish_even_if_cancelled(
    work: Awaitable[_T], *, on_cancel: Callable[[_T], Awaitable[None]]
) -> _T:
    # A claim runs in a thread and commits whatever happens to the task that awaits it; when
    # that task is cancelled, wait for the claim and hand its messages back untouched.
    future = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        result = await future
        await on_cancel(result)
        raise


def _checked_requests(
    sender: _Sender, requests: Sequence[VendorRequest], claimed: set[int]
) -> tuple[list[VendorRequest], set[int]]:
    """The requests that are safe to perform, and the messages they carry.

    A request naming a message this worker does not hold, or one already carried by an
    earlier request, would send something twice or send what another worker owns: it is
    left out, and its other messages wait for a later try.
    """
    kept: list[VendorRequest] = []
    carried: set[int] = set()
    for request in requests:
        ids = set(request.message_ids)
        strangers, repeats = sorted(ids - claimed), sorted(ids & carried)
        if not strangers and not repeats:
            kept.append(request)
            carried |= ids
            continue
        waiting = sorted(ids & claimed - carried)
        logger.error(
            "plugin %r (for %r) built a request naming %s; not sent%s (a plugin bug)",
            sender.plugin.name,
            sender.name,
            f"messages {strangers} not in its batch"
            if strangers
            else f"messages {repeats} that an earlier request already carries",
            f"; messages {waiting} wait for a later try" if waiting else "",
        )
    return kept, carried


def _senders(config: Config, settings: DispatchSettings) -> dict[str, _Sender]:
    senders: dict[str, _Sender] = {}
    for nickname, provider in config.providers.items():
        if provider.broken or provider.plugin is None or provider.options is None:
            continue
        rate = provider.settings.rate_limit
        fallback = provider.settings.fallback
        usable = config.providers.get(fallback) if fallback else None
        senders[nickname] = _Sender(
            route=queue.Route(
                nickname=nickname,
                rate=rate,
                burst=max(rate * settings.rate_burst, 1.0) if rate else 1.0,
                fallback=fallback if usable is not None and not usable.broken else None,
            ),
            plugin=provider.plugin,
            options=provider.options,
        )
    return senders


def _outbound(message: Claimed) -> OutboundMessage:
    try:
        encoding = Encoding(message.encoding)
    except ValueError:
        encoding = Encoding.GSM7
    return OutboundMessage(
        id=message.id,
        message_id=message.message_id,
        to=message.to,
        body=message.body,
        template_id=message.template_id,
        template_variables=parse_template_variables(message.template_variables),
        template_variables_text=message.template_variables,
        campaign_id=message.campaign_id,
        extras=dict(message.extras),
        encoding=encoding,
        segments=message.segments,
    )


def _process_name() -> str:
    host = socket.gethostname()[:32]
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _unless_reported(
    sent: set[int], reported: dict[int, SendResult], why: str
) -> dict[int, SendResult]:
    """What the plugin reported before it failed or ran out of time; unknown for the rest."""
    return {pk: reported.get(pk) or SendResult.unknown(pk, why) for pk in sent}
